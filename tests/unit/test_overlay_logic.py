"""Overlay logic without a kernel or etcd: flags, VNI option, serial address order,
the peer table's programming, and address claims racing on an in-memory store
with etcd's create-if-absent transaction semantics."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress

import pytest

from boxnet.drivers.overlay import records as R
from boxnet.drivers.overlay.allocator import GlobalIpam, _serial_hosts, requested_vni
from boxnet.drivers.overlay.options import add_cluster_flags, cluster_flags
from boxnet.drivers.overlay.peers import PeerTable
from boxnet.errors import Conflict, Forbidden, InvalidParameter
from boxnet.model import Endpoint, EndpointSettings, IpamPool, Network
from boxnet.store.etcd import KV, parse_store_url, prefix_end


def _args(*argv):
    p = argparse.ArgumentParser()
    add_cluster_flags(p)
    return p.parse_args(list(argv))


def test_store_url():
    assert parse_store_url("etcd://10.0.0.1:2379,h2:2380") == ["10.0.0.1:2379", "h2:2380"]
    for bad in ("http://x:1", "etcd://", "etcd://host", "etcd://h:p"):
        with pytest.raises(InvalidParameter):
            parse_store_url(bad)
    assert prefix_end("/boxnet/") == "/boxnet0"


def test_cluster_flags():
    cfg = cluster_flags(_args("--cluster-store", "etcd://1.2.3.4:2379", "--cluster-advertise",
                              "1.2.3.5:2376", "--cluster-store-opt", "discovery.ttl=5"))
    assert cfg["cluster_advertise"] == "1.2.3.5" and cfg["cluster_opts"] == {"discovery.ttl": "5"}
    assert cluster_flags(_args())["cluster_store"] == ""
    for argv in (["--cluster-store", "etcd://h:1"],                       # no advertise
                 ["--cluster-store", "etcd://h:1", "--cluster-advertise", "eth0"],
                 ["--cluster-store-opt", "bogus=1"],
                 ["--cluster-store-opt", "discovery.ttl=0"],
                 ["--data-path-port", "70000"]):
        with pytest.raises(InvalidParameter):
            cluster_flags(_args(*argv))


def test_requested_vni():
    assert requested_vni(Network(id="x", name="n", options={"vxlanid_list": "4100"})) == 4100
    assert requested_vni(Network(id="x", name="n")) is None
    with pytest.raises(InvalidParameter):
        requested_vni(Network(id="x", name="n", options={"vxlanid_list": "abc"}))


def test_serial_hosts_wraps_after_the_last():
    net = ipaddress.ip_network("10.0.0.0/29")
    got = [str(a) for a in _serial_hosts(net, ipaddress.ip_address("10.0.0.4"))]
    assert got == ["10.0.0.5", "10.0.0.6", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]


class FakeVxlan:
    """Records add/del of peers."""

    def __init__(self):
        self.fdb = set()

    async def add_peer(self, dev, mac, ip, vtep):
        self.fdb.add((dev, mac, ip, vtep))

    async def del_peer(self, dev, mac, ip, vtep):
        self.fdb.discard((dev, mac, ip, vtep))


def _rec(ep, vtep, mac, nid="n" * 64):
    return R.EndpointRecord(network_id=nid, endpoint_id=ep, container_id="c" + ep, host=vtep,
                            vtep=vtep, mac=mac, ipv4="10.0.0.9/24")


def test_peer_table_programs_only_plumbed_networks():
    async def main():
        vx = FakeVxlan()
        t = PeerTable(vx)
        await t.put(_rec("e1", "192.0.2.1", "02:00:00:00:00:01"))
        assert vx.fdb == set()                       # network not plumbed here yet
        await t.network_plumbed("n" * 64)
        assert len(vx.fdb) == 1
        await t.put(_rec("e2", "192.0.2.1", "02:00:00:00:00:02"))
        await t.put(_rec("e3", "192.0.2.2", "02:00:00:00:00:03"))
        assert t.vtep_counts("n" * 64) == {"192.0.2.1": 2, "192.0.2.2": 1}
        await t.replace_all([_rec("e3", "192.0.2.2", "02:00:00:00:00:03")])
        assert {f[1] for f in vx.fdb} == {"02:00:00:00:00:03"}
        await t.delete("n" * 64, "e3")
        assert vx.fdb == set() and t.vtep_counts("n" * 64) == {}
    asyncio.run(main())


class FakeEtcd:
    """In-memory KV with etcd's transaction semantics; yields between steps so
    concurrent claimers interleave as they would over the network."""

    def __init__(self):
        self.kv: dict[str, bytes] = {}

    async def get(self, key):
        await asyncio.sleep(0)
        v = self.kv.get(key)
        return KV(key=key, value=v) if v is not None else None

    async def get_prefix(self, prefix):
        await asyncio.sleep(0)
        return [KV(key=k, value=v) for k, v in sorted(self.kv.items())
                if k.startswith(prefix)], 1

    async def create_all(self, puts, lease=0, also=None, expect=None):
        await asyncio.sleep(0)
        if any(k in self.kv for k in puts):
            return False
        if any(rev == 0 and k in self.kv for k, rev in (expect or {}).items()):
            return False
        for k, v in {**puts, **(also or {})}.items():
            self.kv[k] = v.encode() if isinstance(v, str) else v
        return True


def test_concurrent_claims_never_duplicate():
    nw = Network(id="n" * 64, name="ov", driver="overlay",
                 pools=[IpamPool(subnet="10.0.9.0/28", gateway="10.0.9.1")])

    async def main():
        etcd = FakeEtcd()
        hosts = [GlobalIpam(etcd, f"192.0.2.{i}") for i in range(3)]
        eps = [Endpoint(id=f"e{i}", network_id=nw.id, container_id=f"c{i}") for i in range(12)]
        await asyncio.gather(*(hosts[i % 3].claim_address(nw, ep, EndpointSettings(
            network_id=nw.id)) for i, ep in enumerate(eps)))
        addrs = [ep.ipv4 for ep in eps]
        assert len(set(addrs)) == 12 and "10.0.9.1/28" not in addrs
        with pytest.raises(Conflict):
            await hosts[0].claim_address(nw, Endpoint(id="x", network_id=nw.id, container_id="x"),
                                         EndpointSettings(network_id=nw.id, ipv4="10.0.9.2"))
    asyncio.run(main())


def test_no_claim_once_the_network_is_marked_for_removal():
    """A connect racing a removal on another host must not leave an orphan claim."""
    nw = Network(id="n" * 64, name="ov", driver="overlay",
                 pools=[IpamPool(subnet="10.0.9.0/28", gateway="10.0.9.1")])

    async def main():
        etcd = FakeEtcd()
        etcd.kv[R.REMOVING + nw.id] = b"{}"
        with pytest.raises(Forbidden, match="being removed"):
            await GlobalIpam(etcd, "192.0.2.1").claim_address(
                nw, Endpoint(id="x", network_id=nw.id, container_id="x"),
                EndpointSettings(network_id=nw.id))
        assert not [k for k in etcd.kv if k.startswith(R.IPAM)]
    asyncio.run(main())


# ---- gateway bridge (drivers/overlay/gwbridge.py) --------------------------
class _GwCtl:
    """The few Controller fields GatewayBridge reads."""

    def __init__(self, nets, eps):
        self.networks = {n.id: n for n in nets}
        self.eps_by_container = {"c": {e.network_id: e for e in eps}}

    def container_endpoints(self, cid):
        return list(self.eps_by_container.get(cid, {}).values())


def _net(nid, driver, internal=False, labels=None):
    return Network(id=nid, name=nid, driver=driver, internal=internal, labels=labels or {})


def _ep(nid, gw=""):
    return Endpoint(id="e" + nid, network_id=nid, container_id="c", gateway4=gw)


def test_gateway_bridge_needed_only_for_overlays_without_another_gateway():
    from boxnet.drivers.overlay.gwbridge import LABEL, GatewayBridge
    from boxnet.model import Container, ContainerConfig
    c = Container(id="c", name="c", created="", config=ContainerConfig(image="busybox"))
    ov, ovi = _net("ov", "overlay"), _net("ovi", "overlay", internal=True)
    br, bri = _net("br", "bridge"), _net("bri", "bridge", internal=True)
    gw = _net("gw", "bridge", labels={LABEL: "true"})

    def need(*pairs, exclude=""):
        nets = [n for n, _ in pairs]
        eps = [_ep(n.id, g) for n, g in pairs]
        return GatewayBridge(_GwCtl(nets, eps)).needs_gateway(c, exclude)

    assert need((ov, ""))
    assert need((ov, ""), (gw, "172.18.0.1"))           # its own endpoint does not count
    assert need((ov, ""), (bri, "10.1.0.1"))            # an internal bridge gives no way out
    assert not need((ovi, ""))                          # internal overlay: none
    assert not need((ov, ""), (br, "172.19.0.1"))       # a bridge provides the gateway
    assert need((ov, ""), (br, "172.19.0.1"), exclude="ebr")   # ... until it leaves
    assert not need((ov, ""), exclude="eov")
    assert not need()


# ---- pending removal (drivers/overlay/removal.py) --------------------------
class TxnEtcd(FakeEtcd):
    """FakeEtcd plus etcd's txn with CREATE compares over a key or a range."""

    async def txn(self, compare, success):
        return (await self._post("/v3/kv/txn", {"compare": compare, "success": success}))[
            "succeeded"]

    async def _post(self, path, body):
        import base64
        assert path == "/v3/kv/txn"
        dec = lambda v: base64.b64decode(v).decode()  # noqa: E731

        def keys(d):
            if "range_end" in d:
                return [k for k in self.kv if dec(d["key"]) <= k < dec(d["range_end"])]
            return [k for k in self.kv if k == dec(d["key"])]

        def holds(cmp):
            assert cmp["target"] == "CREATE" and cmp["create_revision"] == "0"
            n = len(keys(cmp))
            return n == 0 if cmp["result"] == "EQUAL" else n > 0
        ok = all(holds(cmp) for cmp in body["compare"])
        if ok:
            for op in body["success"]:
                for k in keys(op["request_delete_range"]):
                    del self.kv[k]
        return {"succeeded": ok}


def test_removal_finishes_once_and_only_when_unused():
    from boxnet.drivers.overlay import removal
    nw = Network(id="n" * 64, name="ovr", driver="overlay",
                 options={"com.docker.network.driver.overlay.vxlanid_list": "5555"},
                 pools=[IpamPool(subnet="10.9.9.0/24", gateway="10.9.9.1")])

    async def main():
        etcd = TxnEtcd()
        mine = {R.NETWORKS + nw.id: b"{}", R.NETNAMES + "ovr": nw.id.encode(),
                R.VNIS + "5555": nw.id.encode(), R.subnet_key("10.9.9.0/24"): nw.id.encode(),
                R.IPAM_NEXT + nw.id: b"10.9.9.2"}
        other = {R.NETNAMES + "ovr2": b"x", R.VNIS + "55555": b"x", R.ENDPOINTS + "m/e": b"x"}
        etcd.kv.update(mine | other)
        assert not await removal.try_finish(etcd, nw)           # not marked: nothing happens
        etcd.kv[R.claim_key(nw.id, "10.9.9.2")] = R.ENC.encode(R.Claim(endpoint="e", host="h"))
        rm = await removal.mark(etcd, nw, "192.0.2.1")
        assert (await removal.mark(etcd, nw, "192.0.2.2")).host == rm.host == "192.0.2.1"
        assert await removal.users(etcd, nw.id) == {"h": 1}
        assert not await removal.try_finish(etcd, nw)           # a claim remains
        del etcd.kv[R.claim_key(nw.id, "10.9.9.2")]
        assert await removal.try_finish(etcd, nw)
        assert set(etcd.kv) == set(other)                       # all its keys, nothing else
        assert not await removal.try_finish(etcd, nw)           # once only
    asyncio.run(main())
