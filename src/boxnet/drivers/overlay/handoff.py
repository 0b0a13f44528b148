"""The overlay's side of the Docker plugin's ``boxnet-overlay`` driver (plugin/overlay.py).

A stock dockerd owns the container's sandbox; boxnet owns the overlay.  Two
abilities of drivers/api.py, mixed into OverlayDriver:

- ``HandsOffLinks``: the Join's veth has its host end on the overlay bridge
  ``ov-<id12>`` and its peer left in boxnetd's netns for Docker to move; the
  endpoint record (MAC, addresses, names) is published in etcd on this
  host's lease, so the other hosts program their FDB/neighbour entries as
  for boxnet's own containers.  Leave withdraws the record, then the pair.
- ``DockerIpam``: Docker's IPAM calls come before Docker's endpoint exists
  (RequestAddress has no endpoint id), so an address is claimed in etcd for a
  placeholder owner ``docker-pending-<random>``, exactly as boxnet's own
  claims (serial, create-if-absent, refused while a removal is pending), and
  re-bound to the endpoint's id when Docker creates the endpoint (CreateEndpoint).  A claim
  that is never bound (Docker failed in between and did not release it) hangs
  on this host's lease; the resync after the grace of ``gipam.recent`` drops it.
  Docker's networks using an overlay are counted per host in
  ``/boxnet/dockerusers/<net>/<host>`` (no lease: Docker's network outlives a
  boxnetd restart), so the overlay goes from the cluster when the last
  dockerd anywhere removes its network.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets

from ...errors import InvalidParameter, Unavailable
from ...model import Endpoint, Network
from . import records as R
from .addresses import pool_of

log = logging.getLogger(__name__)

PENDING = "docker-pending-"
DOCKER_USERS = R.ROOT + "dockerusers/"


def _users_key(network_id: str, host: str) -> str:
    return f"{DOCKER_USERS}{network_id}/{host}"


class OverlayHandoff:
    """Mixin of OverlayDriver (``_nl``, ``gipam``, ``advertise``, ``_mtu``, ``publish``)."""

    # ---- HandsOffLinks -------------------------------------------------------
    async def join_handoff(self, nw: Network, ep: Endpoint, peer_name: str) -> None:
        """The pair on the overlay bridge (MTU of the overlay), peer ``peer_name``
        left here for Docker; then its record published (on this host's lease)."""
        ep.host_ifname = "veth" + ep.id[:11]
        bridge = "ov-" + nw.id[:12]   # driver.bridge_name (not imported: driver imports us)
        ep.mac = await self._nl.make_handoff_veth(ep.host_ifname, bridge, peer_name,
                                                  ep.mac or None, self._mtu(nw))
        try:
            await self.publish(nw, ep)
        except BaseException:
            await self._nl.detach_veth(ep.host_ifname)
            raise

    async def leave_handoff(self, nw: Network, ep: Endpoint) -> None:
        """The record first (other hosts stop sending here), then the pair
        (no error if gone).  The address claims are Docker's to release.  With the
        store down the record stays until the next resync (the endpoint is gone
        here by then, so the resync deletes it) or the lease's end, as for
        boxnet's own overlay endpoints: Docker's Leave still succeeds."""
        try:
            await self.gipam.etcd.delete(R.endpoint_key(nw.id, ep.id))
        except Unavailable as exc:
            log.warning("endpoint %s left while the store is down: %s", ep.id[:12], exc.message)
        if ep.host_ifname:   # gone when this returns, the kernel's slow end of the
            # deletion off the request path (kernel/linkops.py), as the bridge's leave_handoff
            await self._nl.retire_veth(ep.host_ifname, "", "")

    # ---- DockerIpam ----------------------------------------------------------
    async def docker_pool(self, subnet: str, local_nets) -> str:
        """The subnet Docker's RequestPool gets: ``subnet`` when it is exactly a
        global network's, or clear of every global one and of ``local_nets``
        (this host's pools and routes); with none given, the first free /24
        of the global pool.  Nothing is claimed yet (CreateNetwork claims it)."""
        kvs, _ = await self.gipam.etcd.get_prefix(R.SUBNETS)
        used = {ipaddress.ip_network(kv.key[len(R.SUBNETS):].replace("_", "/")): kv.value.decode()
                for kv in kvs}
        if subnet:
            try:
                net = ipaddress.ip_network(subnet)
            except ValueError:
                raise InvalidParameter(f"invalid pool {subnet}: not a CIDR") from None
            if net in used:
                return str(net)
            clash = [u for u in used if u.version == net.version and u.overlaps(net)]
            if clash:
                raise InvalidParameter(f"pool {net} overlaps the overlay subnet {clash[0]}")
            if any(net.overlaps(a) for a in local_nets if a.version == net.version):
                raise InvalidParameter(f"pool {net} overlaps a network or route of this host")
            return str(net)
        net = next(self.gipam._candidates(4, list(used), lambda n: not any(
            n.overlaps(a) for a in local_nets if a.version == 4)), None)
        if net is None:
            raise InvalidParameter("the global IPv4 address pool is fully subnetted")
        return str(net)

    async def docker_claim(self, nw: Network, address: str) -> str:
        """One address of the overlay for Docker ("ip/prefix"), ``address`` if given,
        claimed in etcd for a placeholder owner (bound at Join)."""
        v6 = bool(address) and ":" in address
        pool = pool_of(nw, 6 if v6 else 4)
        if pool is None:
            raise InvalidParameter(f"network {nw.name} has no IPv{6 if v6 else 4} subnet")
        holder = Endpoint(id=PENDING + secrets.token_hex(8), network_id=nw.id, container_id="")
        # the same transaction as boxnet's own claims (addresses.py): serial, unique
        # cluster-wide, refused while a removal of the network is pending
        return await self.gipam._claim(nw, holder, pool, address.partition("/")[0])

    async def bind_claims(self, nw: Network, ep: Endpoint) -> None:
        """Re-bind this host's claims of ``ep``'s addresses to ``ep.id``; an address
        claimed by no one or by another host is refused (Docker's IPAM was not ours)."""
        for cidr in (ep.ipv4, ep.ipv6):
            if not cidr:
                continue
            key = R.claim_key(nw.id, str(ipaddress.ip_interface(cidr).ip))
            kv = await self.gipam.etcd.get(key)
            claim = R.claim_dec.decode(kv.value) if kv else None
            if claim is None or claim.host != self.advertise:
                raise InvalidParameter(f"address {cidr} was not claimed by this host on {nw.name}"
                                       f" (use --ipam-driver boxnet-overlay)")
            if claim.endpoint != ep.id:
                await self.gipam.etcd.put(key, R.ENC.encode(R.Claim(endpoint=ep.id,
                                                                    host=self.advertise)),
                                          lease=self.gipam.lease)

    async def docker_release(self, nw: Network, address: str) -> None:
        """Give back an address this host claimed (no error if it is gone)."""
        key = R.claim_key(nw.id, address.partition("/")[0])
        kv = await self.gipam.etcd.get(key)
        if kv is not None and R.claim_dec.decode(kv.value).host == self.advertise:
            await self.gipam.etcd.delete(key)

    async def docker_users(self, nw: Network, docker_id: str, add: bool) -> int:
        """Count this host's Docker network on (``add``) or off the overlay;
        returns how many hosts' Docker networks still use it."""
        key = _users_key(nw.id, self.advertise)
        if add:
            await self.gipam.etcd.put(key, docker_id)
        else:
            await self.gipam.etcd.delete(key)
        kvs, _ = await self.gipam.etcd.get_prefix(f"{DOCKER_USERS}{nw.id}/")
        return len(kvs)

