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
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import random
import time

import msgspec

from ...errors import Conflict, Forbidden, InvalidParameter, Unavailable
from ...ipam.api import Pool
from ...model import Endpoint, EndpointSettings, IpamPool, Network
from ...store.etcd import EtcdClient
from . import records as R

GLOBAL_POOL = ("10.0.0.0/8", 24)   # Docker swarm's default address pool
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


def _serial_hosts(rng, last):
    """Host addresses of ``rng`` after ``last``, then from the start up to it."""
    lo, hi = int(rng.network_address) + 1, int(rng.broadcast_address) - 1
    cut = int(last) + 1 if last is not None and lo <= int(last) <= hi else lo
    for n in itertools.chain(range(cut, hi + 1), range(lo, cut)):
        yield ipaddress.ip_address(n)


class GlobalIpam:
    """Claims for global networks, in the cluster store."""

    def __init__(self, etcd: EtcdClient, host: str, pool: tuple[str, int] = GLOBAL_POOL):
        self.etcd = etcd
        self.host = host
        self.lease = 0          # set by the Cluster: address claims hang on it
        self.recent: dict[str, float] = {}  # endpoint id -> monotonic time of its claim
        self.pool = (ipaddress.ip_network(pool[0]), pool[1])

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

    def _candidates(self, used, local_check):
        base, size = self.pool
        for net in base.subnets(new_prefix=size):
            if any(net.overlaps(u) for u in used):
                continue
            if local_check(net):
                yield net

    async def claim_network(self, nw: Network, subnet: str | None, gateway: str | None,
                            ip_range: str | None, ipam, avoid) -> list[IpamPool]:
        """Pick (or check) subnet and VNI, claim name+VNI+subnet+record in one
        transaction; register the pool in the local IPAM so local networks keep
        off it. Returns the pools; sets the VNI option."""
        wanted_vni = requested_vni(nw)

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
            if subnet:
                net = ipaddress.ip_network(subnet, strict=False)
                if net.version != 4:
                    raise InvalidParameter("overlay networks support IPv4 subnets only")
                clash = [u for u in used if u.overlaps(net)]
                if clash:
                    name = await self._network_name(used[clash[0]])
                    when = "" if clash[0] in seen else " (created meanwhile on another host)"
                    raise Forbidden(f"invalid pool request: subnet {net} overlaps the overlay "
                                    f"network {name}'s {clash[0]}{when}")
                if not local_ok(net):
                    raise Forbidden(f"invalid pool request: subnet {net} overlaps a network "
                                    f"or route of this host")
            else:
                net = next(self._candidates(list(used), local_ok), None)
                if net is None:
                    raise Unavailable("the global address pool is fully subnetted")
            gw = gateway or str(next(net.hosts()))
            if ipaddress.ip_address(gw) not in net:
                raise InvalidParameter(f"gateway {gw} is not in subnet {net}")
            pool = Pool(pool_id=str(net), subnet=str(net), gateway=gw, ip_range=ip_range,
                        aux_addresses={}, user_subnet=bool(subnet))
            vni = await self._free_vni(wanted_vni)
            nw.options[OPT_VNI] = str(vni)
            nw.pools = [IpamPool(subnet=str(net), gateway=gw, ip_range=ip_range,
                                 user_subnet=bool(subnet))]
            ipam.restore_pool(pool)  # local networks made later keep off it
            keys = {R.NETNAMES + nw.name: nw.id, R.VNIS + str(vni): nw.id,
                    R.subnet_key(str(net)): nw.id, R.NETWORKS + nw.id: R.ENC.encode(nw)}
            try:  # one transaction: all keys new AND no other network claimed since our read
                if await self.etcd.create_all(keys, also={SUBNET_GEN: nw.id},
                                              expect={SUBNET_GEN: gen}):
                    return nw.pools
            except BaseException:
                ipam.release_pool(str(net))
                raise
            ipam.release_pool(str(net))
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
            [R.NETWORKS + nw.id, R.NETNAMES + nw.name, R.VNIS + vni, R.IPAM_NEXT + nw.id,
             *(R.subnet_key(p.subnet) for p in nw.pools)], prefixes=[f"{R.IPAM}{nw.id}/"])

    async def claim_address(self, nw: Network, ep: Endpoint, st: EndpointSettings) -> None:
        """Claim one IPv4 address of the network for ``ep`` (static or the lowest free)."""
        pool = nw.pools[0]
        net = ipaddress.ip_network(pool.subnet)
        rng = ipaddress.ip_network(pool.ip_range) if pool.ip_range else net
        value = R.ENC.encode(R.Claim(endpoint=ep.id, host=self.host))
        reserved = {net.network_address, net.broadcast_address}
        if pool.gateway:
            reserved.add(ipaddress.ip_address(pool.gateway))
        for attempt in range(RETRIES):
            if st.ipv4:
                ip = ipaddress.ip_address(st.ipv4)
                if ip in reserved:
                    raise Conflict(f"Address already in use: {ip} is reserved on {nw.name}")
            else:
                kvs, _ = await self.etcd.get_prefix(f"{R.IPAM}{nw.id}/")
                taken = {ipaddress.ip_address(k.key.rsplit("/", 1)[1]) for k in kvs} | reserved
                last = await self.etcd.get(R.IPAM_NEXT + nw.id)
                start = ipaddress.ip_address(last.value.decode()) if last else None
                # serial, as Docker's IPAM: after the last one handed out, then wrap
                # around, so a freed address (a stale ARP entry elsewhere) is reused last
                free = (h for h in _serial_hosts(rng, start) if h not in taken)
                if attempt:  # lost a race: spread racing hosts over the free addresses
                    pick = [h for _, h in zip(range(64), free)]
                    ip = random.choice(pick) if pick else None
                else:
                    ip = next(free, None)
                if ip is None:
                    raise Unavailable(f"no available IPv4 addresses on network {nw.name}")
            self.recent[ep.id] = time.monotonic()  # a resync must not take it back yet
            if len(self.recent) > 4096:
                self.recent = {k: v for k, v in self.recent.items() if v > time.monotonic() - 60}
            # The claim also requires that no removal mark exists: a connect that
            # checked just before another host marked the network must not leave an
            # orphan claim behind once the removal completes.
            if await self.etcd.create_all({R.claim_key(nw.id, str(ip)): value}, lease=self.lease,
                                          also={R.IPAM_NEXT + nw.id: str(ip)},
                                          expect={R.REMOVING + nw.id: 0}):
                ep.ipv4 = f"{ip}/{net.prefixlen}"
                ep.gateway4 = pool.gateway or ""
                return
            if await self.etcd.get(R.REMOVING + nw.id) is not None:
                raise Forbidden(f"network {nw.name} id {nw.id} is being removed: "
                                "it accepts no new endpoints")
            if st.ipv4:
                raise Conflict(f"Address already in use: {ip} on network {nw.name}")
        raise Unavailable(f"could not claim an address on {nw.name}: too much contention")

    async def release_address(self, nw: Network, ep: Endpoint) -> None:
        """Drop the endpoint's address claim."""
        if ep.ipv4:
            ip = str(ipaddress.ip_interface(ep.ipv4).ip)
            await self.etcd.delete(R.claim_key(nw.id, ip))
