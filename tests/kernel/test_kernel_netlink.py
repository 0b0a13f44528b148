"""Netlink against the real kernel: bridges, veth endpoints, routes, real pings.

Every test runs "the daemon's" code in a thread inside a throwaway host netns.
"""

import ipaddress
import json

import pytest

from boxnet.errors import KernelError
from boxnet.kernel.netlink import Netlink


def _addrs(sh, path, ifname):
    data = json.loads(sh(path, "ip", "-j", "addr", "show", "dev", ifname))
    return {f"{a['local']}/{a['prefixlen']}" for a in data[0]["addr_info"]}


def _link(sh, path, ifname):
    return json.loads(sh(path, "ip", "-j", "-d", "link", "show", "dev", ifname))[0]


def test_ensure_bridge_is_idempotent(host_ns, in_netns, sh):
    async def body():
        nl = await Netlink.open()
        try:
            for _ in range(2):
                await nl.ensure_bridge("bxtbr0", mtu=1450, addrs=["172.30.0.1/16", "fd30::1/64"])
            links = {li.name: li for li in await nl.list_links()}
            assert links["bxtbr0"].kind == "bridge"
            assert links["bxtbr0"].mtu == 1450
            assert await nl.link_exists("bxtbr0")
            routes = await nl.host_routes()
            assert ipaddress.ip_network("172.30.0.0/16") in routes
            assert ipaddress.ip_network("fd30::/64") in routes
        finally:
            await nl.close()

    in_netns(host_ns, body)
    assert {"172.30.0.1/16", "fd30::1/64"} <= _addrs(sh, host_ns, "bxtbr0")
    link = _link(sh, host_ns, "bxtbr0")
    assert "UP" in link["flags"]
    v6 = json.loads(sh(host_ns, "ip", "-j", "-6", "addr", "show", "dev", "bxtbr0"))[0]
    fd30 = [a for a in v6["addr_info"] if a["local"] == "fd30::1"][0]
    assert not fd30.get("tentative"), "bridge v6 address must be usable at once (nodad)"


def test_ensure_bridge_refuses_a_non_bridge(host_ns, in_netns, sh):
    sh(host_ns, "ip", "link", "add", "bxtv0", "type", "veth", "peer", "name", "bxtv1")

    async def body():
        nl = await Netlink.open()
        try:
            with pytest.raises(KernelError, match="not a bridge"):
                await nl.ensure_bridge("bxtv0")
        finally:
            await nl.close()

    in_netns(host_ns, body)


def test_two_containers_on_one_bridge_ping_each_other(host_ns, make_netns, in_netns, sh, ping):
    c1, c2 = make_netns(), make_netns()

    async def body():
        nl = await Netlink.open()
        try:
            await nl.ensure_bridge("bxtbr1", addrs=["10.123.0.1/24", "fd12::1/64"])
            mac1 = await nl.attach_veth("vbxt1", "bxtbr1", c1, "eth0", "02:42:0a:7b:00:02",
                                        ["10.123.0.2/24", "fd12::2/64"], 1400)
            mac2 = await nl.attach_veth("vbxt2", "bxtbr1", c2, "eth0", None,
                                        ["10.123.0.3/24", "fd12::3/64"], None)
            await nl.set_default_route(c1, "10.123.0.1", "eth0")
            await nl.set_default_route(c1, "fd12::1", "eth0")
            await nl.set_default_route(c1, "10.123.0.1", "eth0")  # replace: idempotent
            host_links = {li.name: li for li in await nl.list_links()}
            in_c1 = {li.name: li for li in await nl.list_links(c1)}
            return mac1, mac2, host_links, in_c1
        finally:
            await nl.close()

    mac1, mac2, host_links, in_c1 = in_netns(host_ns, body)
    assert mac1 == "02:42:0a:7b:00:02"
    assert host_links["vbxt1"].master == "bxtbr1" and host_links["vbxt2"].master == "bxtbr1"
    assert in_c1["eth0"].mac == mac1 and in_c1["eth0"].mtu == 1400
    assert in_c1["lo"].operstate in ("UNKNOWN", "UP")
    assert _link(sh, c2, "eth0")["address"] == mac2
    assert {"10.123.0.2/24", "fd12::2/64"} <= _addrs(sh, c1, "eth0")
    assert ping(c1, "10.123.0.3") and ping(c2, "10.123.0.2")
    assert ping(c2, "fd12::2") and ping(c1, "10.123.0.1") and ping(c1, "127.0.0.1")
    assert ping(c2, "fd12::1")  # the bridge's v6 address works at once (nodad)
    assert "default via 10.123.0.1 dev eth0" in sh(c1, "ip", "route")
    assert "default via fd12::1 dev eth0" in sh(c1, "ip", "-6", "route")
    assert not ping(c1, "10.123.0.99")  # a test that can fail: nobody there


def test_routes_and_detach(host_ns, make_netns, in_netns, sh):
    c1 = make_netns()

    async def body():
        nl = await Netlink.open()
        try:
            await nl.ensure_bridge("bxtbr2", addrs=["10.124.0.1/24"])
            await nl.attach_veth("vbxt3", "bxtbr2", c1, "eth1", None, ["10.124.0.2/24"], None)
            await nl.set_default_route(c1, "10.124.0.1", "eth1")
            await nl.del_default_route(c1, v6=False)
            await nl.del_default_route(c1, v6=False)  # idempotent
            await nl.del_default_route(c1, v6=True)
            gone_route = "default" not in sh(c1, "ip", "route")
            await nl.detach_veth("vbxt3")
            await nl.detach_veth("vbxt3")  # idempotent
            await nl.delete_link("nosuchlink", netns=c1)
            return gone_route, await nl.link_exists("vbxt3"), await nl.link_exists("eth1", c1)
        finally:
            await nl.forget_netns(c1)
            await nl.close()

    gone_route, host_end, peer = in_netns(host_ns, body)
    assert gone_route and not host_end and not peer


def test_attach_veth_rolls_back_on_failure(host_ns, make_netns, in_netns, sh):
    c1 = make_netns()

    async def body():
        nl = await Netlink.open()
        try:
            await nl.ensure_bridge("bxtbr3")
            await nl.attach_veth("vbxt4", "bxtbr3", c1, "eth0", None, ["10.125.0.2/24"], None)
            # The name eth0 is taken inside the container: nothing is created.
            with pytest.raises(KernelError, match="cannot create veth pair"):
                await nl.attach_veth("vbxt5", "bxtbr3", c1, "eth0", None, [], None)
            # Fails after the pair exists (bad address): the pair is removed again.
            with pytest.raises(KernelError, match="eth1"):
                await nl.attach_veth("vbxt6", "bxtbr3", c1, "eth1", None, ["10.125.0.3/99"], None)
            with pytest.raises(KernelError, match="no network interface nobridge"):
                await nl.attach_veth("vbxt7", "nobridge", c1, "eth2", None, [], None)
            return [li.name for li in await nl.list_links()], [li.name for li in await nl.list_links(c1)]
        finally:
            await nl.close()

    host_names, c1_names = in_netns(host_ns, body)
    assert "vbxt4" in host_names
    assert not {"vbxt5", "vbxt6", "vbxt7"} & set(host_names)
    assert sorted(c1_names) == ["eth0", "lo"]


def test_concurrent_attaches(host_ns, make_netns, in_netns, ping):
    import asyncio

    ctrs = [make_netns() for _ in range(12)]

    async def body():
        nl = await Netlink.open()
        try:
            await nl.ensure_bridge("bxtbr4", addrs=["10.126.0.1/24"])
            jobs = [nl.attach_veth(f"vbxc{i}", "bxtbr4", c, "eth0", None, [f"10.126.0.{10 + i}/24"], None)
                    for i, c in enumerate(ctrs)]
            jobs += [nl.link_lo_up(c) for c in ctrs]  # same netns, concurrently
            macs = await asyncio.gather(*jobs)
            return macs[:len(ctrs)]
        finally:
            for c in ctrs:
                await nl.forget_netns(c)
            await nl.close()

    macs = in_netns(host_ns, body)
    assert len(set(macs)) == len(ctrs)
    assert ping(ctrs[0], f"10.126.0.{10 + len(ctrs) - 1}")


def test_first_use_of_a_netns_from_many_tasks_shares_one_handle(host_ns, make_netns, in_netns):
    """Concurrent first requests on a netns: one handle, one endpoint, a socket that lives.

    pyroute2's setup_endpoint is not re-entrant; before the single-flight open, two tasks
    each made a transport on the shared socket, and the GC of the dropped one closed the
    socket (EBADF on the next request).
    """
    import asyncio
    import gc

    ctrs = [make_netns() for _ in range(6)]

    async def body():
        nl = await Netlink.open()
        try:
            await asyncio.gather(*[nl.link_lo_up(c) for c in ctrs[:4] for _ in range(4)])
            handles = await asyncio.gather(*[nl.handle(c) for c in ctrs[4:] for _ in range(4)])
            assert all(h is handles[0] for h in handles[:4]) and handles[4] is not handles[0]
            gc.collect()   # a dropped transport's __del__ would close the shared socket
            for c in ctrs:
                ipr = await nl.handle(c)
                msgs = await asyncio.wait_for(ipr.link("get", ifname="lo"), 5)
                assert msgs[0].get("state") == ("up" if c in ctrs[:4] else "down")
        finally:
            for c in ctrs:
                await nl.forget_netns(c)
            await nl.close()

    in_netns(host_ns, body)
