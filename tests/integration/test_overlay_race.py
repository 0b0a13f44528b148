"""Overlay network creation racing across hosts (issue 9): subnet claims are
serializable etcd transactions.

Two hosts on one etcd; each round both hosts' Engine APIs are asked at the
same instant (a thread barrier) for an overlay with overlapping but
different subnets.  Exactly one create wins (201), the other is refused
(403, naming the winner), and etcd holds exactly the winner's keys.
Auto-allocated subnets created concurrently are all distinct.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import threading

import pytest

from integration.multihost import Cluster
from integration.test_overlay import _need_etcd

pytestmark = pytest.mark.kernel
ROUNDS = 15


@pytest.fixture(scope="module")
def cl():
    """Two hosts, one etcd node."""
    _need_etcd()
    c = Cluster(hosts=2, etcd_nodes=1, ttl=4)
    yield c
    problems = c.teardown()
    assert not problems, problems


def _together(calls):
    """Run the callables at the same instant (one thread each); their results."""
    barrier = threading.Barrier(len(calls))

    def go(fn):
        barrier.wait()
        return fn()
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(go, calls))


def _create(h, name: str, subnet: str | None = None):
    body = {"Name": name, "Driver": "overlay", "Attachable": True}
    if subnet:
        body["IPAM"] = {"Config": [{"Subnet": subnet}]}
    return lambda: h.api("POST", "/networks/create", json=body)


def _store(cl) -> dict[str, dict[str, str]]:
    """The network-claim keys in etcd: {kind: {rest-of-key: value}}."""
    out = cl.etcdctl("get", "--prefix", "/boxnet/").stdout.splitlines()
    kinds: dict[str, dict[str, str]] = {"networks": {}, "netnames": {}, "vni": {}, "subnets": {}}
    for key, val in zip(out[::2], out[1::2]):
        kind, _, rest = key[len("/boxnet/"):].partition("/")
        if kind in kinds:
            kinds[kind][rest] = val
    return kinds


def _consistent(cl) -> dict[str, dict[str, str]]:
    """Every claim key belongs to a network record and every record has all its claims."""
    s = _store(cl)
    ids = set(s["networks"])
    for kind in ("netnames", "vni", "subnets"):
        owners = list(s[kind].values())
        assert sorted(owners) == sorted(ids), (kind, s)
    return s


def test_overlapping_subnets_created_at_once_one_wins(cl):
    a, b = cl.hosts
    outcomes = []
    for i in range(ROUNDS):
        big, small = f"10.{100 + i}.0.0/16", f"10.{100 + i}.1.0/24"
        first, second = (a, b) if i % 2 == 0 else (b, a)   # swap sides each round
        ra, rb = _together([_create(first, f"big{i}", big), _create(second, f"small{i}", small)])
        statuses = sorted([ra[0], rb[0]])
        assert statuses == [201, 403], (i, ra, rb)
        lost = ra if ra[0] == 403 else rb
        won_name = f"big{i}" if ra[0] == 201 else f"small{i}"
        assert "overlaps the overlay network" in lost[1]["message"], lost
        assert won_name in lost[1]["message"], lost
        outcomes.append(won_name[:3] + ("*" if "meanwhile" in lost[1]["message"] else ""))
        s = _consistent(cl)
        names = set(s["netnames"])
        assert won_name in names and ({f"big{i}", f"small{i}"} - {won_name}).isdisjoint(names)
    # neither host's local view keeps a loser
    for h in (a, b):
        listed = h.cli("network", "ls", "--format", "{{.Name}}").stdout.split()
        assert not [n for n in listed if n.startswith(("big", "small")) and
                    n not in _store(cl)["netnames"]], listed
    print("winners per round:", outcomes)


def test_auto_subnets_created_at_once_are_distinct(cl):
    a, b = cl.hosts
    calls = [_create(h, f"auto{h is a}{j}") for j in range(4) for h in (a, b)]
    res = _together(calls)
    assert [r[0] for r in res] == [201] * len(calls), res
    s = _consistent(cl)
    subnets = [ipaddress.ip_network(k.replace("_", "/")) for k in s["subnets"]]
    assert not any(x.overlaps(y) for i, x in enumerate(subnets) for y in subnets[i + 1:]), subnets
    assert len(set(s["vni"])) == len(s["networks"])


def test_removals_leave_nothing(cl):
    a, b = cl.hosts
    for h in (a, b):
        for n in h.cli("network", "ls", "--filter", "driver=overlay",
                       "--format", "{{.Name}}").stdout.split():
            h.cli("network", "rm", n, check=False)
    s = _store(cl)
    assert all(not v for v in s.values()), s
    keys = cl.etcdctl("get", "--prefix", "/boxnet/ipam", "--keys-only").stdout.split()
    assert keys == [], keys
