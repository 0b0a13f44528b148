"""Global IPAM for overlay networks: subnets, VNIs, names and addresses claimed
in etcd (the local IPAM is never the authority for a global network).

Each claim is one etcd transaction that creates its keys only if none of
them exists; on a lost race the allocator reads again and retries, starting
from a random free candidate so racing hosts spread out.

Subnets need more than create-if-absent (10.9.0.0/16 and 10.9.1.0/24 are
different keys but overlap), so network creation is serializable over the
subnet set: the ``subnetgen`` key is rewritten by every network claim, and
the claim's transaction also compares its mod_revision with the one read
together with the subnets (one range read covers both).  If any network was
claimed in between, the transaction fails, the loser reads again and sees
the overlap (403) or picks another free subnet.

A network with ``--ipv6`` also claims an IPv6 subnet in the same
transaction: the user's, or a /64 of the default IPv6 pool (Docker 27+
allocates one for an overlay given ``--ipv6`` without an IPv6 subnet).
Endpoint addresses: addresses.py.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random

import msgspec

from ...errors import Conflict, Forbidden, InvalidParameter, SubnetTaken, Unavailable
from ...ipam.api import Pool, PoolRequest
from ...model import IpamPool, Network
from ...store.etcd import EtcdClient
from . import records as R
from .addresses import AddressClaims, _serial_hosts, pool_of  # noqa: F401 - re-exported

GLOBAL_POOL = ("10.0.0.0/8", 24)   # Docker swarm's default address pool
# The default IPv6 pool of overlays: a ULA /48 (RFC 4193, global ID drawn at random
# once) cut into /64s.  Docker 27 derives its local ULA /48 from the engine's host id;
# an overlay's subnet must be one for the whole cluster, so this one is fixed.
GLOBAL_POOL6 = ("fd8b:9e4c:7a10::/48", 64)
VNI_FIRST = 4097                    # Docker's first overlay VNI
VNI_MAX = (1 << 24) - 1
OPT_VNI = "com.docker.network.driver.overlay.vxlanid_list"
OPT_MTU = "com.docker.network.driver.mtu"
RETRIES = 50
SUBNET_GEN = R.ROOT + "subnetgen"   # the "subnets generation": rewritten by every network claim
SUBNET_RANGE = R.ROOT + "subnet"    # one range read = subnets/* and subnetgen, one snapshot


def requested_vni(nw: Network) -> int | None:
    """The VNI the user asked for (``vxlanid_list``), validated, or None."""
    val = nw.options.get(OPT_VNI) or nw.options.get("vxlanid_list")
    if not val:
        return None
    first = val.split(",")[0].strip()
    if not first.isdigit() or not 1 <= int(first) <= VNI_MAX:
        raise InvalidParameter(f"invalid vxlanid_list {val!r}: expected a VNI 1..{VNI_MAX}")
    return int(first)


def _pool(p: IpamPool) -> Pool:
    return Pool(pool_id=p.subnet, subnet=p.subnet, gateway=p.gateway, ip_range=p.ip_range,
                aux_addresses=dict(p.aux_addresses), user_subnet=p.user_subnet)


def mirror_pools(ipam, nw: Network) -> None:
    """Register every pool of a global network in the local IPAM (so local networks
    keep off them); all or none (Forbidden if one overlaps a local network)."""
    done = []
    try:
        for p in nw.pools:
            ipam.restore_pool(_pool(p))
            done.append(p.subnet)
    except BaseException:
        for sub in done:
            ipam.release_pool(sub)
        raise


class GlobalIpam(AddressClaims):
    """Claims for global networks, in the cluster store."""

    def __init__(self, etcd: EtcdClient, host: str, pool: tuple[str, int] = GLOBAL_POOL,
                 pool6: tuple[str, int] = GLOBAL_POOL6):
        self.etcd = etcd
        self.host = host
        self.lease = 0          # set by the Cluster: address claims hang on it
        self.recent: dict[str, float] = {}  # endpoint id -> monotonic time of its claim
        self.pool = (ipaddress.ip_network(pool[0]), pool[1])
        self.pool6 = (ipaddress.ip_network(pool6[0]), pool6[1])

    async def _subnet_snapshot(self) -> tuple[dict, int]:
        """Claimed subnets (-> network id) and the generation's mod_revision (0: none yet),
        read in one request so they belong to one store revision."""
        kvs, _ = await self.etcd.get_prefix(SUBNET_RANGE)
        used, gen = {}, 0
        for kv in kvs:
            if kv.key == SUBNET_GEN:
                gen = kv.mod_revision
            elif kv.key.startswith(R.SUBNETS):
                net = ipaddress.ip_network(kv.key[len(R.SUBNETS):].replace("_", "/"))
                used[net] = kv.value.decode()
        return used, gen

    async def _network_name(self, network_id: str) -> str:
        """The name of a global network (its id's start if its record is unreadable)."""
        kv = await self.etcd.get(R.NETWORKS + network_id)
        try:
            return msgspec.json.decode(kv.value, type=Network).name if kv else network_id[:12]
        except Exception:  # noqa: BLE001 - only for a message
            return network_id[:12]

    async def _free_vni(self, wanted: int | None) -> int:
        kvs, _ = await self.etcd.get_prefix(R.VNIS)
        used = {int(k.key[len(R.VNIS):]) for k in kvs}
        if wanted is not None:
            if wanted in used:
                raise Conflict(f"VNI {wanted} is already in use by another overlay network")
            return wanted
        n = VNI_FIRST
        while n in used:
            n += 1
        return n

    def _candidates(self, version: int, used, local_check):
        base, size = self.pool6 if version == 6 else self.pool
        used = [u for u in used if u.version == version]
        for net in base.subnets(new_prefix=size):
            if any(net.overlaps(u) for u in used):
                continue
            if local_check(net):
                yield net

    async def _subnet(self, version: int, subnet: str | None, used: dict, seen: set,
                      local_ok) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        """The user's subnet of one family, checked against the claimed ones and this
        host's, or the first free one of the default pool."""
        fam = "IPv6" if version == 6 else "IPv4"
        if not subnet:
            net = next(self._candidates(version, list(used), local_ok), None)
            if net is None:
                raise Unavailable(f"the global {fam} address pool is fully subnetted")
            return net
        try:
            net = ipaddress.ip_network(subnet, strict=False)
        except ValueError:
            raise InvalidParameter(f"invalid subnet {subnet}: not a CIDR") from None
        if net.version != version:
            raise InvalidParameter(f"invalid subnet {subnet}: not an {fam} subnet")
        if net.num_addresses < 4:
            raise InvalidParameter(f"invalid subnet {subnet}: too small for a network")
        clash = [u for u in used if u.version == version and u.overlaps(net)]
        if clash:
            name = await self._network_name(used[clash[0]])
            when = "" if clash[0] in seen else " (created meanwhile on another host)"
            raise SubnetTaken(f"invalid pool request: subnet {net} overlaps the overlay "
                              f"network {name}'s {clash[0]}{when}", holder=name)
        if not local_ok(net):
            raise Forbidden(f"invalid pool request: subnet {net} overlaps a network "
                            f"or route of this host")
        return net

    async def claim_network(self, nw: Network, subnet: str | None, gateway: str | None,
                            ip_range: str | None, ipam, avoid,
                            v6: PoolRequest | None = None) -> list[IpamPool]:
        """Pick (or check) the subnets and the VNI, claim name+VNI+subnets+record in one
        transaction; register the pools in the local IPAM so local networks keep off
        them.  ``subnet/gateway/ip_range``: the IPv4 pool (none if ``nw.enable_ipv4``
        is off); ``v6``: the IPv6 pool request of a ``--ipv6`` network (its subnet
        None: one of the default IPv6 pool).  Returns the pools; sets the VNI option."""
        wanted_vni = requested_vni(nw)
        wants = [(4, subnet, gateway, ip_range)] if nw.enable_ipv4 else []
        if v6 is not None:
            wants.append((6, v6.subnet, v6.gateway, v6.ip_range))
        if not wants:
            raise InvalidParameter("a network must have IPv4 or IPv6 (or both) enabled")

        # this host's own networks (and routes) must not overlap a global subnet
        local = [ipaddress.ip_network(p.subnet) for p in ipam.pools()] + list(avoid)

        def local_ok(net) -> bool:
            """Clear of this host's networks and routes."""
            return not any(net.overlaps(a) for a in local if a.version == net.version)

        seen: set | None = None   # subnets of the first read: later ones came meanwhile
        for attempt in range(RETRIES):
            if attempt:  # lost a race: let the winner's watch settle, spread the retries
                await asyncio.sleep(random.uniform(0, 0.005 * min(attempt, 10)))
            used, gen = await self._subnet_snapshot()
            seen = set(used) if seen is None else seen
            pools = []
            for version, sub, gw, rng in wants:
                net = await self._subnet(version, sub, used, seen, local_ok)
                gw = gw or str(next(net.hosts()))
                if ipaddress.ip_address(gw) not in net:
                    raise InvalidParameter(f"gateway {gw} is not in subnet {net}")
                if rng:
                    r = ipaddress.ip_network(rng, strict=False)
                    if r.version != net.version or not r.subnet_of(net):
                        raise InvalidParameter(f"ip-range {rng} is not in subnet {net}")
                pools.append(IpamPool(subnet=str(net), gateway=gw, ip_range=rng,
                                      user_subnet=bool(sub)))
            vni = await self._free_vni(wanted_vni)
            nw.options[OPT_VNI] = str(vni)
            nw.pools = pools
            mirror_pools(ipam, nw)  # local networks made later keep off them
            keys = {R.NETNAMES + nw.name: nw.id, R.VNIS + str(vni): nw.id,
                    R.NETWORKS + nw.id: R.ENC.encode(nw),
                    **{R.subnet_key(p.subnet): nw.id for p in pools}}
            ok = False
            try:  # one transaction: all keys new AND no other network claimed since our read
                ok = await self.etcd.create_all(keys, also={SUBNET_GEN: nw.id},
                                                expect={SUBNET_GEN: gen})
            finally:
                if not ok:
                    for p in pools:
                        ipam.release_pool(p.subnet)
            if ok:
                return nw.pools
            if await self.etcd.get(R.NETNAMES + nw.name):
                raise Conflict(f"network with name {nw.name} already exists")
            if wanted_vni is not None and await self.etcd.get(R.VNIS + str(vni)):
                raise Conflict(f"VNI {vni} is already in use by another overlay network")
        raise Unavailable("could not claim a subnet and VNI: too much contention, try again")

    async def release_network(self, nw: Network) -> None:
        """Delete the network's record, claims and address claims in one transaction
        (its last endpoint is gone)."""
        vni = nw.options.get(OPT_VNI, "")
        await self.etcd.delete_all(
            [R.NETWORKS + nw.id, R.NETNAMES + nw.name, R.VNIS + vni, R.next_key(nw.id),
             R.next_key(nw.id, True), *(R.subnet_key(p.subnet) for p in nw.pools)],
            prefixes=[f"{R.IPAM}{nw.id}/"])
