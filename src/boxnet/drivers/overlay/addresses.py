"""Endpoint addresses of global networks, IPv4 and IPv6, claimed in etcd.

Each address is its own create-if-absent transaction on ``ipam/<net>/<ip>``
(on the host's lease), which also moves the network's serial pointer
``ipamnext/<net>[/v6]`` and requires that no removal mark exists.  The
address is chosen serially, as Docker's IPAM does (after the last one
handed out, then wrapping around, so a freed address is reused last); a
lost race re-reads and picks at random among the next free ones, so racing
hosts spread out.  A dual-stack endpoint claims its IPv4 address, then its
IPv6 one; if the second fails the first is withdrawn.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import random
import time

from ...errors import Conflict, Forbidden, InvalidParameter, Unavailable
from ...model import Endpoint, EndpointSettings, IpamPool, Network
from . import records as R

log = logging.getLogger(__name__)

RETRIES = 50


def pool_of(nw: Network, version: int) -> IpamPool | None:
    """The network's pool of one address family (4 or 6), or None."""
    return next((p for p in nw.pools
                 if ipaddress.ip_network(p.subnet, strict=False).version == version), None)


def _serial_hosts(rng, last):
    """Host addresses of ``rng`` after ``last``, then from the start up to it (lazy:
    an IPv6 /64 is never listed)."""
    lo, hi = int(rng.network_address) + 1, int(rng.broadcast_address) - 1
    cut = int(last) + 1 if last is not None and lo <= int(last) <= hi else lo
    for n in itertools.chain(range(cut, hi + 1), range(lo, cut)):
        yield ipaddress.ip_address(n)


class AddressClaims:
    """Mixin of GlobalIpam: ``etcd``, ``host``, ``lease`` and ``recent`` are its fields."""

    async def claim_address(self, nw: Network, ep: Endpoint, st: EndpointSettings) -> None:
        """Claim the endpoint's IPv4 address and, on an IPv6 network, its IPv6 one
        (static ``st.ipv4``/``st.ipv6`` or the next free); all or nothing."""
        p4, p6 = pool_of(nw, 4), pool_of(nw, 6)
        for want, pool, fam, flag in ((st.ipv4, p4, "IPv4", "--ipv4"), (st.ipv6, p6, "IPv6",
                                                                         "--ipv6")):
            if want and pool is None:
                raise InvalidParameter(f"invalid {fam} address {want}: network {nw.name} has "
                                       f"no {fam} subnet (create it with {flag})")
        try:
            if p4 is not None:
                ep.ipv4 = await self._claim(nw, ep, p4, st.ipv4)
                ep.gateway4 = p4.gateway or ""
            if p6 is not None:
                ep.ipv6 = await self._claim(nw, ep, p6, st.ipv6)
                ep.gateway6 = p6.gateway or ""
        except BaseException:
            if ep.ipv4:  # the IPv6 claim failed: withdraw the IPv4 one
                try:
                    await self.release_address(nw, Endpoint(
                        id=ep.id, network_id=nw.id, container_id=ep.container_id, ipv4=ep.ipv4))
                except Exception as exc:  # noqa: BLE001 - the first error is the one raised
                    log.warning("rollback of endpoint %s on %s: its IPv4 claim %s was not "
                                "withdrawn (%s); it is on this host's lease, a later resync "
                                "deletes it", ep.id[:12], nw.name, ep.ipv4,
                                getattr(exc, "message", exc))
                ep.ipv4 = ep.gateway4 = ""
            raise

    async def _claim(self, nw: Network, ep: Endpoint, pool: IpamPool, static: str) -> str:
        """One address of ``pool`` for ``ep`` in one transaction; "ip/prefix"."""
        net = ipaddress.ip_network(pool.subnet)
        v6 = net.version == 6
        fam = "IPv6" if v6 else "IPv4"
        rng = ipaddress.ip_network(pool.ip_range) if pool.ip_range else net
        value = R.ENC.encode(R.Claim(endpoint=ep.id, host=self.host))
        reserved = {net.network_address} if v6 else {net.network_address, net.broadcast_address}
        if pool.gateway:
            reserved.add(ipaddress.ip_address(pool.gateway))
        nkey = R.next_key(nw.id, v6)
        if static:
            try:
                ip = ipaddress.ip_address(static)
            except ValueError:
                raise InvalidParameter(f"invalid {fam} address {static}") from None
            if ip.version != net.version or ip not in net:
                raise InvalidParameter(f"no configured subnet contains IP address {static}")
            if ip in reserved:
                raise Conflict(f"Address already in use: {ip} is reserved on {nw.name}")
        for attempt in range(RETRIES):
            if not static:
                kvs, _ = await self.etcd.get_prefix(f"{R.IPAM}{nw.id}/")
                taken = {ipaddress.ip_address(k.key.rsplit("/", 1)[1]) for k in kvs} | reserved
                last = await self.etcd.get(nkey)
                start = ipaddress.ip_address(last.value.decode()) if last else None
                # serial, as Docker's IPAM: after the last one handed out, then wrap
                # around, so a freed address (a stale neighbour entry elsewhere) is reused last
                free = (h for h in _serial_hosts(rng, start) if h not in taken)
                if attempt:  # lost a race: spread racing hosts over the free addresses
                    pick = [h for _, h in zip(range(64), free)]
                    ip = random.choice(pick) if pick else None
                else:
                    ip = next(free, None)
                if ip is None:
                    raise Unavailable(f"no available {fam} addresses on network {nw.name}")
            self.recent[ep.id] = time.monotonic()  # a resync must not take it back yet
            if len(self.recent) > 4096:
                self.recent = {k: v for k, v in self.recent.items() if v > time.monotonic() - 60}
            # The claim also requires that no removal mark exists: a connect that
            # checked just before another host marked the network must not leave an
            # orphan claim behind once the removal completes.
            if await self.etcd.create_all({R.claim_key(nw.id, str(ip)): value}, lease=self.lease,
                                          also={nkey: str(ip)},
                                          expect={R.REMOVING + nw.id: 0}):
                return f"{ip}/{net.prefixlen}"
            if await self.etcd.get(R.REMOVING + nw.id) is not None:
                raise Forbidden(f"network {nw.name} id {nw.id} is being removed: "
                                "it accepts no new endpoints")
            if static:
                raise Conflict(f"Address already in use: {ip} on network {nw.name}")
        raise Unavailable(f"could not claim an address on {nw.name}: too much contention")

    async def release_address(self, nw: Network, ep: Endpoint) -> None:
        """Drop the endpoint's address claims (both families)."""
        for cidr in (ep.ipv4, ep.ipv6):
            if cidr:
                ip = str(ipaddress.ip_interface(cidr).ip)
                await self.etcd.delete(R.claim_key(nw.id, ip))
