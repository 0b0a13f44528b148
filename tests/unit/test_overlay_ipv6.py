"""IPv6 on overlay networks without a kernel or etcd: dual-stack subnet claims (the
user's or the default IPv6 pool's) serialised like IPv4 ones, IPv6 address claims
(serial, static, racing, rolled back with their IPv4 twin), the release of every
key, NDP peers and AAAA data for the DNS, on an in-memory store with etcd's
transaction semantics."""

from __future__ import annotations

import asyncio
import ipaddress
import random

import pytest

from boxnet.drivers.overlay import records as R
from boxnet.drivers.overlay.allocator import GLOBAL_POOL6, SUBNET_GEN, GlobalIpam
from boxnet.drivers.overlay.driver import OverlayDriver
from boxnet.drivers.overlay.peers import PeerTable
from boxnet.errors import Conflict, Forbidden, InvalidParameter
from boxnet.ipam.api import PoolRequest
from boxnet.ipam.default import DefaultIpam
from boxnet.model import Endpoint, EndpointSettings, Network
from boxnet.store.etcd import KV

V6 = PoolRequest(v6=True)


class Etcd:
    """etcd's KV in memory (create-if-absent and mod_revision compares, one revision);
    every call yields a random number of times so concurrent callers interleave."""

    def __init__(self, seed: int = 0):
        self.rev = 1
        self.kv: dict[str, tuple[bytes, int]] = {}   # key -> (value, mod_revision)
        self.rand = random.Random(seed)

    async def _yield(self):
        for _ in range(self.rand.randint(0, 3)):
            await asyncio.sleep(0)

    async def get(self, key):
        await self._yield()
        return KV(key=key, value=self.kv[key][0], mod_revision=self.kv[key][1]) \
            if key in self.kv else None

    async def get_prefix(self, prefix, exact=False):
        await self._yield()
        return [KV(key=k, value=v, mod_revision=m) for k, (v, m) in sorted(self.kv.items())
                if k.startswith(prefix)], self.rev

    async def create_all(self, puts, lease=0, also=None, expect=None):
        await self._yield()
        if any(k in self.kv for k in puts):
            return False
        if any((self.kv[k][1] if k in self.kv else 0) != r for k, r in (expect or {}).items()):
            return False
        self.rev += 1
        for k, v in {**puts, **(also or {})}.items():
            self.kv[k] = (v.encode() if isinstance(v, str) else v, self.rev)
        return True

    async def delete(self, key, prefix=False):
        await self._yield()
        self.rev += 1
        return int(self.kv.pop(key, None) is not None)

    async def delete_all(self, keys, prefixes=()):
        await self._yield()
        self.rev += 1
        for k in [k for k in self.kv if k in keys or any(k.startswith(p) for p in prefixes)]:
            del self.kv[k]


def _nw(i: int, name: str = "", v4: bool = True) -> Network:
    return Network(id=f"{i:064x}", name=name or f"ov{i}", driver="overlay", scope="global",
                   enable_ipv6=True, enable_ipv4=v4)


async def _create(g, ipam, nw, v4=None, v6=None):
    try:
        return await g.claim_network(nw, v4, None, None, ipam, [],
                                     v6=PoolRequest(v6=True, subnet=v6))
    except (Forbidden, Conflict) as exc:
        return exc


def test_dual_stack_pools_claimed_and_mirrored():
    async def main():
        etcd, ipam = Etcd(), DefaultIpam()
        g = GlobalIpam(etcd, "192.0.2.1")
        nw = _nw(1, "ovx")
        pools = await g.claim_network(nw, "10.20.0.0/24", None, None, ipam, [],
                                      v6=PoolRequest(v6=True, subnet="fd00:20::/64"))
        assert [(p.subnet, p.gateway) for p in pools] == [("10.20.0.0/24", "10.20.0.1"),
                                                         ("fd00:20::/64", "fd00:20::1")]
        assert {R.subnet_key("10.20.0.0/24"), R.subnet_key("fd00:20::/64")} <= set(etcd.kv)
        assert sorted(p.subnet for p in ipam.pools()) == ["10.20.0.0/24", "fd00:20::/64"]
        # --ipv6 without an IPv6 subnet: the next /64s of the default IPv6 pool
        a, b = _nw(2), _nw(3, v4=False)
        await g.claim_network(a, None, None, None, ipam, [], v6=V6)
        await g.claim_network(b, None, None, None, ipam, [], v6=V6)
        base = ipaddress.ip_network(GLOBAL_POOL6[0])
        first, second = list(base.subnets(new_prefix=64))[:2]
        assert [p.subnet for p in a.pools] == ["10.0.0.0/24", str(first)]
        assert [p.subnet for p in b.pools] == [str(second)]          # IPv6 only
    asyncio.run(main())


def test_overlapping_v6_subnet_refused():
    async def main():
        etcd = Etcd()
        g = GlobalIpam(etcd, "192.0.2.1")
        await g.claim_network(_nw(1, "web"), None, None, None, DefaultIpam(), [],
                              v6=PoolRequest(v6=True, subnet="fd00:20::/64"))
        ipam = DefaultIpam()
        with pytest.raises(Forbidden) as exc:
            await g.claim_network(_nw(2), "10.30.0.0/24", None, None, ipam, [],
                                  v6=PoolRequest(v6=True, subnet="fd00::/16"))
        assert exc.value.message == ("invalid pool request: subnet fd00::/16 overlaps the "
                                     "overlay network web's fd00:20::/64")
        assert ipam.pools() == [] and R.subnet_key("10.30.0.0/24") not in etcd.kv
        with pytest.raises(InvalidParameter):
            await g.claim_network(_nw(3), None, None, None, ipam, [],
                                  v6=PoolRequest(v6=True, subnet="10.40.0.0/24"))
    asyncio.run(main())


@pytest.mark.parametrize("seed", range(30))
def test_overlapping_v6_subnets_racing_one_wins(seed):
    """Different IPv4 subnets, overlapping IPv6 ones, created at the same instant."""
    async def main():
        etcd = Etcd(seed)
        hosts = [(GlobalIpam(etcd, f"192.0.2.{i}"), DefaultIpam()) for i in range(2)]
        a, b = _nw(1, "big"), _nw(2, "small")
        res = await asyncio.gather(_create(*hosts[0], a, "10.1.0.0/24", "fd00:20::/48"),
                                   _create(*hosts[1], b, "10.2.0.0/24", "fd00:20:0:7::/64"))
        losses = [r for r in res if isinstance(r, Exception)]
        assert len(losses) == 1 and isinstance(losses[0], Forbidden), res
        assert "overlaps the overlay network" in losses[0].message
        loser = b if res[1] is losses[0] else a
        assert not [k for k, (v, _) in etcd.kv.items() if v.decode() == loser.id]
        assert hosts[res.index(losses[0])][1].pools() == []
    asyncio.run(main())


def _dual(v6_range=None) -> Network:
    nw = _nw(9, "dual")
    from boxnet.model import IpamPool
    nw.pools = [IpamPool(subnet="10.0.9.0/28", gateway="10.0.9.1"),
                IpamPool(subnet="fd00:9::/64", gateway="fd00:9::1", ip_range=v6_range)]
    return nw


def _ep(i) -> Endpoint:
    return Endpoint(id=f"e{i}", network_id="n", container_id=f"c{i}")


def test_concurrent_v6_claims_never_duplicate_and_are_serial():
    nw = _dual()

    async def main():
        etcd = Etcd(5)
        hosts = [GlobalIpam(etcd, f"192.0.2.{i}") for i in range(3)]
        eps = [_ep(i) for i in range(12)]
        await asyncio.gather(*(hosts[i % 3].claim_address(nw, ep, EndpointSettings(
            network_id=nw.id)) for i, ep in enumerate(eps)))
        six = [ep.ipv6 for ep in eps]
        assert len(set(six)) == 12 and all(a.endswith("/64") for a in six), six
        assert "fd00:9::1/64" not in six
        assert len({ep.ipv4 for ep in eps}) == 12
        # serial, as Docker: after the last one handed out, a freed one reused last
        g = GlobalIpam(Etcd(), "192.0.2.1")
        a, b, c = _ep(20), _ep(21), _ep(22)
        for ep in (a, b):
            await g.claim_address(nw, ep, EndpointSettings(network_id=nw.id))
        await g.release_address(nw, a)
        await g.claim_address(nw, c, EndpointSettings(network_id=nw.id))
        assert (a.ipv6, b.ipv6, c.ipv6) == ("fd00:9::2/64", "fd00:9::3/64", "fd00:9::4/64")
        assert g.etcd.kv[R.next_key(nw.id, True)][0] == b"fd00:9::4"
    asyncio.run(main())


def test_static_v6_and_rollback_of_the_v4_twin():
    nw = _dual()

    async def main():
        etcd = Etcd()
        g = GlobalIpam(etcd, "192.0.2.1")
        ep = _ep(1)
        await g.claim_address(nw, ep, EndpointSettings(network_id=nw.id, ipv6="fd00:9::99"))
        assert ep.ipv6 == "fd00:9::99/64" and ep.ipv4 == "10.0.9.2/28"
        claims = lambda: sorted(k.rsplit("/", 1)[1] for k in etcd.kv if k.startswith(R.IPAM))  # noqa: E731
        assert claims() == ["10.0.9.2", "fd00:9::99"]
        for bad, err in (("fd00:9::99", Conflict), ("fd00:9::1", Conflict),
                         ("fd00:10::5", InvalidParameter), ("10.0.9.5", InvalidParameter)):
            with pytest.raises(err):
                await g.claim_address(nw, _ep(2), EndpointSettings(network_id=nw.id, ipv6=bad))
            assert claims() == ["10.0.9.2", "fd00:9::99"]      # the IPv4 claim went back
        v4only = Network(id="m" * 64, name="v4", pools=[nw.pools[0]])
        with pytest.raises(InvalidParameter, match="no IPv6 subnet"):
            await g.claim_address(v4only, _ep(3), EndpointSettings(network_id="m",
                                                                    ipv6="fd00:9::5"))
        await g.release_address(nw, ep)
        assert claims() == []
    asyncio.run(main())


def test_release_network_leaves_no_key():
    async def main():
        etcd, ipam = Etcd(), DefaultIpam()
        g = GlobalIpam(etcd, "192.0.2.1")
        nw = _nw(1)
        await g.claim_network(nw, None, None, None, ipam, [], v6=V6)
        await g.claim_address(nw, _ep(1), EndpointSettings(network_id=nw.id))
        assert R.next_key(nw.id, True) in etcd.kv
        await g.release_network(nw)
        assert set(etcd.kv) == {SUBNET_GEN}
    asyncio.run(main())


def test_driver_pool_requests():
    drv = OverlayDriver(None, None, None, GlobalIpam(Etcd(), "192.0.2.1"), "192.0.2.1",
                        4789, 1500)

    async def req(nw, *cfgs):
        return await drv.request_pools(nw, list(cfgs), DefaultIpam(), [])

    async def main():
        v4only = Network(id="a" * 64, name="a", driver="overlay")
        with pytest.raises(InvalidParameter, match="add --ipv6"):
            await req(v4only, PoolRequest(subnet="fd00:1::/64"))
        with pytest.raises(InvalidParameter, match="one subnet per address family"):
            await req(_nw(2), PoolRequest(subnet="fd00:1::/64"), PoolRequest(subnet="fd00:2::/64"))
        pools = await req(_nw(3), PoolRequest(subnet="fd00:3::/64"), PoolRequest(subnet="10.3.0.0/24"))
        assert [p.subnet for p in pools] == ["10.3.0.0/24", "fd00:3::/64"]
        drv.validate_options(_nw(4))                 # IPv6 is accepted now
    asyncio.run(main())


class FakeVxlan:
    def __init__(self):
        self.neigh: set = set()

    async def add_peer(self, dev, mac, ips, vtep):
        self.neigh |= {(mac, ip, vtep) for ip in ips}

    async def del_peer(self, dev, mac, ips, vtep):
        self.neigh -= {(mac, ip, vtep) for ip in ips}


def test_peers_program_ndp_entries_and_feed_aaaa():
    nid = "n" * 64

    def rec(v6):
        return R.EndpointRecord(network_id=nid, endpoint_id="e1", container_id="c1", host="h",
                                vtep="192.0.2.7", mac="02:00:00:00:00:01", ipv4="10.0.0.2/24",
                                ipv6=v6, names=["web"])

    async def main():
        vx = FakeVxlan()
        t = PeerTable(vx)
        await t.network_plumbed(nid)
        await t.put(rec("fd00::2/64"))
        assert {ip for _, ip, _ in vx.neigh} == {"10.0.0.2", "fd00::2"}
        await t.put(rec("fd00::3/64"))                  # changed address: reprogrammed
        assert {ip for _, ip, _ in vx.neigh} == {"10.0.0.2", "fd00::3"}
        eps, conts = t.dns_view({nid: None})
        assert [(e.ipv4, e.ipv6) for e in eps] == [("10.0.0.2/24", "fd00::3/64")]
        assert conts["c1"].name == "web" and t.dns_view({}) == ([], {})
        await t.delete(nid, "e1")
        assert vx.neigh == set()
    asyncio.run(main())
