"""Deferred link teardown on the real kernel (kernel/linkgc.py, Netlink.retire_link,
Netlink.release_veth): inert at once, gone soon after, failures only logged."""

import asyncio
import json
import logging
import os

from boxnet.kernel import linkgc
from boxnet.kernel import netns as kns
from boxnet.kernel.netlink import Netlink


def _names(sh, path):
    return {li["ifname"] for li in json.loads(sh(path, "ip", "-j", "link", "show"))}


def test_retired_bridge_frees_name_and_subnet_at_once(host_ns, in_netns, sh):
    """After retire_link: no route of the subnet, the name is reusable at once,
    and the renamed bridge is deleted in the background (drain waits for it)."""
    seen = {}

    async def body():
        nl = await Netlink.open()
        try:
            await nl.ensure_bridge("bxtgc0", addrs=["10.201.0.1/24"])
            await nl.retire_link("bxtgc0")
            seen["routes"] = [str(r) for r in await nl.host_routes()]
            seen["links"] = [li.name for li in await nl.list_links()]
            await nl.ensure_bridge("bxtgc0", addrs=["10.201.0.1/24"])   # same name and subnet
            seen["pending"] = nl.gc.pending
            await nl.gc.drain()
            seen["after"] = [li.name for li in await nl.list_links()]
            await nl.retire_link("bxtgcnone")                        # idempotent
        finally:
            await nl.close()

    in_netns(host_ns, body)
    assert "10.201.0.0/24" not in seen["routes"], "a retired bridge must take its routes away"
    assert "bxtgc0" not in seen["links"]
    assert any(linkgc.is_garbage(n) for n in seen["links"]), seen["links"]
    assert seen["pending"] == 1
    assert "bxtgc0" in seen["after"]
    assert not any(linkgc.is_garbage(n) for n in seen["after"]), seen["after"]
    assert "10.201.0.1/24" in sh(host_ns, "ip", "-o", "addr", "show", "dev", "bxtgc0")


def test_released_veth_dies_with_its_netns(host_ns, in_netns, sh, tmp_path, caplog):
    """The host end goes down at once; unpinning the peer's netns deletes the
    pair in the kernel's cleanup, without the reaper having to delete it."""
    pin = str(tmp_path / "sandbox")
    kns.create_netns(pin)
    seen = {}

    async def body():
        nl = await Netlink.open()
        try:
            await nl.ensure_bridge("bxtgc1")
            await nl.attach_veth("vethbxtgc01", "bxtgc1", pin, "eth0", None,
                                 ["10.202.0.2/24"], None)
            await nl.release_veth("vethbxtgc01")
            seen["up"] = [li.operstate for li in await nl.list_links() if li.name == "vethbxtgc01"]
            await nl.forget_netns(pin)
            kns.delete_netns(pin)
            for _ in range(200):
                if not await nl.link_exists("vethbxtgc01"):
                    break
                await asyncio.sleep(0.01)
            seen["gone"] = not await nl.link_exists("vethbxtgc01")
            await nl.gc.drain()
        finally:
            await nl.close()

    with caplog.at_level(logging.WARNING, logger="boxnet.kernel.linkgc"):
        in_netns(host_ns, body)
    assert seen["up"] == ["DOWN"]
    assert seen["gone"], "the veth outlived its released netns for 2 s"
    assert "still there" not in caplog.text, "the reaper had to delete it: the netns did not die"
    assert not os.path.exists(pin)


def test_reaper_deletes_a_veth_whose_netns_is_held(host_ns, in_netns, sh, tmp_path, caplog):
    """A netns kept alive elsewhere (here: an open fd) keeps its pair: the reaper
    deletes the host end after its grace, with a warning."""
    pin = str(tmp_path / "held")
    kns.create_netns(pin)
    fd = os.open(pin, os.O_RDONLY)
    seen = {}

    async def body():
        nl = await Netlink.open()
        try:
            await nl.ensure_bridge("bxtgc2")
            await nl.attach_veth("vethbxtgc02", "bxtgc2", pin, "eth0", None, [], None)
            await nl.set_link_down("vethbxtgc02")
            await nl.forget_netns(pin)
            kns.delete_netns(pin)
            nl.gc.reap_when_gone(["vethbxtgc02"], nl.link_exists, grace=0.3)
            await nl.gc.drain()
            seen["gone"] = not await nl.link_exists("vethbxtgc02")
        finally:
            await nl.close()

    try:
        with caplog.at_level(logging.WARNING, logger="boxnet.kernel.linkgc"):
            in_netns(host_ns, body)
    finally:
        os.close(fd)
    assert seen["gone"]
    assert "still there" in caplog.text


def test_failed_background_deletion_only_logs(host_ns, in_netns, caplog):
    """A deletion that fails is logged, never raised; the link keeps its
    garbage name, which the daemon's start-up reconciliation removes."""
    seen = {}

    async def body():
        nl = await Netlink.open()
        real = linkgc.delete_link_blocking
        try:
            await nl.ensure_bridge("bxtgc3")

            def failing(sock, name):
                raise OSError(1, "injected failure")
            linkgc.delete_link_blocking = failing
            await nl.retire_link("bxtgc3")
            await nl.gc.drain()
            seen["left"] = [li.name for li in await nl.list_links() if linkgc.is_garbage(li.name)]
        finally:
            linkgc.delete_link_blocking = real
            for name in seen.get("left", []):
                await nl.delete_link(name)
            await nl.close()

    with caplog.at_level(logging.WARNING, logger="boxnet.kernel.linkgc"):
        in_netns(host_ns, body)
    assert len(seen["left"]) == 1
    assert "injected failure" in caplog.text


def test_links_a_daemon_creates_carry_its_mark(host_ns, in_netns, sh, tmp_path):
    """Ownership marks (kernel/linkmark.py): a bridge it creates and the host end of
    a veth it plumbs carry ``boxnet:<owner>:<kind>``; a bridge that existed before
    is adopted unmarked; the sandbox netns gets accept_ra=0 / EUI-64 before its link."""
    from boxnet.firewall.nft.bridgeset import link_local
    from boxnet.kernel import sysctl
    pin = str(tmp_path / "sandbox")
    kns.create_netns(pin)
    sysctl.sandbox_defaults(pin)
    sh(host_ns, "ip", "link", "add", "bxtusr0", "type", "bridge")
    seen = {}

    async def body():
        nl = await Netlink.open("0123456789ab")
        try:
            seen["created"] = await nl.ensure_bridge("bxtown0", addrs=["10.203.0.1/24"],
                                                     alias=nl.mark("bridge"))
            seen["adopted"] = await nl.ensure_bridge("bxtusr0", alias=nl.mark("bridge"))
            mac = await nl.attach_veth("vethbxtmark0", "bxtown0", pin, "eth0", None,
                                       ["10.203.0.2/24"], None)
            seen["mac"] = mac
            seen["aliases"] = {li.name: li.alias for li in await nl.list_links()}
            seen["mine"] = [nl.is_mine(seen["aliases"]["bxtown0"], "bridge"),
                            nl.is_mine(seen["aliases"]["vethbxtmark0"], "veth"),
                            nl.is_mine("boxnet:ffffffffffff:veth", "veth")]
        finally:
            await nl.close()

    try:
        in_netns(host_ns, body)
        assert seen["created"] is True and seen["adopted"] is False
        assert seen["aliases"]["bxtown0"] == "boxnet:0123456789ab:bridge"
        assert seen["aliases"]["vethbxtmark0"] == "boxnet:0123456789ab:veth"
        assert seen["aliases"]["bxtusr0"] == "", "an adopted bridge must stay unmarked"
        assert seen["mine"] == [True, True, False]
        assert sh(pin, "cat", "/proc/sys/net/ipv6/conf/eth0/accept_ra").strip() == "0"
        assert link_local(seen["mac"]) in sh(pin, "ip", "-6", "addr", "show", "dev", "eth0")
    finally:
        kns.delete_netns(pin)


def test_sandbox_defaults_warn_when_a_stable_secret_overrides_eui64(tmp_path, caplog, sh):
    """A stable_secret in a new netns's default conf (what
    net.core.devconf_inherit_init_net=1 hands down from the host) beats
    addr_gen_mode=0: the link-local is then not the EUI-64 one the bridge table
    trusts, and boxnet says so instead of silently dropping it."""
    from boxnet.firewall.nft.bridgeset import link_local
    from boxnet.kernel import sysctl
    pin = str(tmp_path / "sandbox")
    kns.create_netns(pin)
    try:
        sysctl.write_sysctl("net/ipv6/conf/default/stable_secret", "2001:db8::1234", pin)
        sysctl._warned_secret = False
        with caplog.at_level(logging.WARNING, logger="boxnet.kernel.sysctl"):
            sysctl.sandbox_defaults(pin)
        assert "stable_secret" in caplog.text
        mac = "02:42:ac:11:00:09"
        sh(pin, "ip", "link", "add", "eth0", "address", mac, "type", "veth", "peer", "name", "p0")
        sh(pin, "ip", "link", "set", "p0", "up")
        sh(pin, "ip", "link", "set", "eth0", "up")
        addrs = sh(pin, "ip", "-6", "addr", "show", "dev", "eth0")
        assert "fe80::" in addrs and link_local(mac) not in addrs, addrs
    finally:
        sysctl._warned_secret = False
        kns.delete_netns(pin)
