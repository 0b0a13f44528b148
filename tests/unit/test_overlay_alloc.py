"""Overlay network claims racing on an in-memory store with etcd's transaction
semantics (create-if-absent AND mod_revision compares, one global revision):
overlapping subnets created at the same instant on several hosts never both
win, auto-allocated subnets are never handed out twice, and a loser leaves
nothing behind."""

from __future__ import annotations

import asyncio
import ipaddress
import random

import pytest

from boxnet.drivers.overlay import records as R
from boxnet.drivers.overlay.allocator import SUBNET_GEN, GlobalIpam
from boxnet.errors import Conflict, Forbidden
from boxnet.ipam.default import DefaultIpam
from boxnet.model import Network
from boxnet.store.etcd import KV


class TxnEtcd:
    """etcd's KV model in memory: every write bumps one revision; every step yields
    (a random number of times) so concurrent callers interleave like remote clients."""

    def __init__(self, seed: int = 0):
        self.rev = 1
        self.kv: dict[str, tuple[bytes, int, int]] = {}   # key -> (value, create, mod)
        self.rand = random.Random(seed)
        self.txns = 0

    async def _yield(self):
        for _ in range(self.rand.randint(0, 3)):
            await asyncio.sleep(0)

    def _kv(self, k: str) -> KV:
        v, _, mod = self.kv[k]
        return KV(key=k, value=v, mod_revision=mod)

    async def get(self, key):
        await self._yield()
        return self._kv(key) if key in self.kv else None

    async def get_prefix(self, prefix, exact=False):
        await self._yield()
        keys = [prefix] if exact else sorted(k for k in self.kv if k.startswith(prefix))
        return [self._kv(k) for k in keys if k in self.kv], self.rev

    async def create_all(self, puts, lease=0, also=None, expect=None):
        await self._yield()
        self.txns += 1
        if any(k in self.kv for k in puts):
            return False
        if any((self.kv[k][2] if k in self.kv else 0) != rev for k, rev in (expect or {}).items()):
            return False
        self.rev += 1
        for k, v in {**puts, **(also or {})}.items():
            create = self.kv[k][1] if k in self.kv else self.rev
            self.kv[k] = (v.encode() if isinstance(v, str) else v, create, self.rev)
        return True

    async def delete_all(self, keys, prefixes=()):
        await self._yield()
        self.rev += 1
        for k in list(self.kv):
            if k in keys or any(k.startswith(p) for p in prefixes):
                del self.kv[k]


def _nw(i: int, name: str | None = None) -> Network:
    return Network(id=f"{i:064x}", name=name or f"ov{i}", driver="overlay", scope="global")


async def _create(gipam: GlobalIpam, ipam: DefaultIpam, nw: Network, subnet: str | None):
    try:
        return await gipam.claim_network(nw, subnet, None, None, ipam, [])
    except (Forbidden, Conflict) as exc:
        return exc


def _networks(etcd: TxnEtcd) -> list[str]:
    return sorted(k for k in etcd.kv if k.startswith(R.NETWORKS))


@pytest.mark.parametrize("seed", range(40))
def test_overlapping_user_subnets_racing_one_wins(seed):
    """10.9.0.0/16 on host A and 10.9.1.0/24 on host B at the same instant."""
    async def main():
        etcd = TxnEtcd(seed)
        hosts = [(GlobalIpam(etcd, f"192.0.2.{i}"), DefaultIpam()) for i in range(2)]
        a, b = _nw(1, "big"), _nw(2, "small")
        ra, rb = await asyncio.gather(_create(*hosts[0], a, "10.9.0.0/16"),
                                      _create(*hosts[1], b, "10.9.1.0/24"))
        results = [ra, rb]
        wins = [r for r in results if not isinstance(r, Exception)]
        losses = [r for r in results if isinstance(r, Exception)]
        assert len(wins) == 1 and len(losses) == 1, results
        assert isinstance(losses[0], Forbidden) and "overlaps the overlay network" in str(losses[0])
        winner = a if ra is wins[0] else b
        loser = b if winner is a else a
        assert winner.name in losses[0].message
        # nothing of the loser in the store; its local IPAM mirror released
        assert _networks(etcd) == [R.NETWORKS + winner.id]
        assert not any(v[0].decode() == loser.id for k, v in etcd.kv.items()
                       if k != R.NETWORKS + winner.id and k != SUBNET_GEN)
        loser_ipam = hosts[1][1] if loser is b else hosts[0][1]
        assert loser_ipam.pools() == []
    asyncio.run(main())


def test_auto_subnets_racing_are_all_distinct():
    async def main():
        etcd = TxnEtcd(7)
        hosts = [(GlobalIpam(etcd, f"192.0.2.{i}"), DefaultIpam()) for i in range(4)]
        nets = [_nw(i) for i in range(16)]
        res = await asyncio.gather(*(_create(*hosts[i % 4], nw, None)
                                     for i, nw in enumerate(nets)))
        assert not [r for r in res if isinstance(r, Exception)], res
        subnets = [nw.pools[0].subnet for nw in nets]
        assert len(set(subnets)) == 16, subnets
        assert len({nw.options["com.docker.network.driver.overlay.vxlanid_list"]
                    for nw in nets}) == 16
        nets_ = [ipaddress.ip_network(s) for s in subnets]
        assert not any(x.overlaps(y) for i, x in enumerate(nets_) for y in nets_[i + 1:])
    asyncio.run(main())


def test_identical_names_racing_one_conflict():
    async def main():
        etcd = TxnEtcd(3)
        hosts = [(GlobalIpam(etcd, f"192.0.2.{i}"), DefaultIpam()) for i in range(2)]
        res = await asyncio.gather(_create(*hosts[0], _nw(1, "same"), None),
                                   _create(*hosts[1], _nw(2, "same"), None))
        assert sorted(type(r).__name__ for r in res) == ["Conflict", "list"]
        assert len(_networks(etcd)) == 1
    asyncio.run(main())


def test_overlap_message_and_release_is_whole():
    async def main():
        etcd = TxnEtcd()
        g, ipam = GlobalIpam(etcd, "192.0.2.1"), DefaultIpam()
        a = _nw(1, "web")
        await g.claim_network(a, "10.9.1.0/24", None, None, ipam, [])
        with pytest.raises(Forbidden) as exc:
            await g.claim_network(_nw(2), "10.9.0.0/16", None, None, DefaultIpam(), [])
        assert exc.value.message == ("invalid pool request: subnet 10.9.0.0/16 overlaps the "
                                     "overlay network web's 10.9.1.0/24")
        etcd.kv[R.claim_key(a.id, "10.9.1.2")] = (b"{}", 9, 9)
        await g.release_network(a)
        assert set(etcd.kv) == {SUBNET_GEN}
    asyncio.run(main())
