"""libnftables binding: atomic scripts, errors, JSON listing, per-netns contexts."""

import pytest

from boxnet.errors import KernelError
from boxnet.kernel.nft import Nft

BASE = """add table inet bxt
add chain inet bxt fwd_c { type filter hook forward priority 0; policy accept; }
add rule inet bxt fwd_c iifname "br0" accept
"""


def _rules(nft):
    return [x["rule"] for x in nft.run_json("list table inet bxt")["nftables"] if "rule" in x]


def test_run_applies_and_lists_json(host_ns, sh):
    with Nft(netns=host_ns) as nft:
        assert nft.run(BASE) == ""
        rules = _rules(nft)
        assert len(rules) == 1 and rules[0]["chain"] == "fwd_c"
        text = nft.run("list table inet bxt")
        assert "table inet bxt" in text and 'iifname "br0" accept' in text
    assert "table inet bxt" in sh(host_ns, "nft", "list", "tables")


def test_a_failed_batch_applies_nothing(host_ns):
    with Nft(netns=host_ns) as nft:
        nft.run(BASE)
        bad = 'add rule inet bxt fwd_c iifname "x" accept\nadd rule inet bxt nosuchchain accept\n'
        with pytest.raises(KernelError, match="nftables refused"):
            nft.run(bad)
        assert len(_rules(nft)) == 1
        with pytest.raises(KernelError, match="syntax error"):
            nft.run("add rule inet bxt fwd_c this is not nft")
        # the context keeps working after errors
        nft.run('add rule inet bxt fwd_c iifname "y" accept')
        assert len(_rules(nft)) == 2


def test_contexts_are_bound_to_their_netns(make_netns, in_netns, sh):
    a, b = make_netns(), make_netns()
    with Nft(netns=a) as nft:
        nft.run(BASE)
    assert "bxt" in sh(a, "nft", "list", "tables")
    assert "bxt" not in sh(b, "nft", "list", "tables")

    def in_b():  # a plain Nft() acts on the creating thread's netns
        with Nft() as nft:
            nft.run("add table ip bxt_b")
            return nft.run_json("list tables")
    listed = in_netns(b, in_b)
    assert [t["table"]["name"] for t in listed["nftables"] if "table" in t] == ["bxt_b"]
    assert "bxt_b" not in sh(a, "nft", "list", "tables")


def test_closed_context_refuses(host_ns):
    nft = Nft(netns=host_ns)
    nft.close()
    with pytest.raises(KernelError, match="closed"):
        nft.run("list tables")
