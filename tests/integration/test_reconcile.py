"""Restart reconciles with the kernel in the other direction too: kernel objects that
boxnet wants but that vanished while it was down (a network's bridge, a running
container's host veths, its firewall table) are re-created, the containers keep their
addresses, and they reach each other again."""

from __future__ import annotations

import pytest

from integration.checks import veth_consistency

pytestmark = pytest.mark.kernel


def test_missing_bridge_veth_and_table_recreated_at_restart(make_host):
    h = make_host()
    h.cli("network", "create", "--subnet", "10.235.0.0/24", "rc-net")
    for n in ("rc-a", "rc-b"):
        h.cli("run", "-d", "--name", n, "--network", "rc-net", "busybox", "sleep", "3600")
    ips = {n: h.ip_of(n, "rc-net") for n in ("rc-a", "rc-b")}
    bridge = "br-" + h.network("rc-net")["Id"][:12]
    h.stop()
    # behind boxnet's back: the bridge, the containers' host veths (their container
    # ends die with them) and boxnet's nftables table vanish
    h.sh(f"ip link del {bridge}")
    veths = [link["ifname"] for link in h.links()
             if (link.get("linkinfo") or {}).get("info_kind") == "veth"]
    for name in veths:
        h.sh(f"ip link del {name}", check=False)
    h.sh("nft delete table inet boxnet", check=False)
    h.start()
    names = [link["ifname"] for link in h.links()]
    assert bridge in names, names
    assert {n: h.ip_of(n, "rc-net") for n in ips} == ips
    veth_consistency(h, ["rc-a", "rc-b"])
    assert "table inet boxnet" in h.nft_ruleset()
    for src, dst in (("rc-a", "rc-b"), ("rc-b", "rc-a")):
        r = h.exec(src, "ping", "-c1", "-W2", dst)
        assert r.returncode == 0, (src, dst, r.stdout, r.stderr)
    h.cli("rm", "-f", "rc-a", "rc-b")
    h.cli("network", "rm", "rc-net")
