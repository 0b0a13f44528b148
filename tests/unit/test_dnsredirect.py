"""kernel/dnsredirect.py without the kernel: the scripts, and reading a listed table back.

The JSON below is what `nft -j list table ip boxnet_dns` printed (nftables 1.0.6) for
create_script("127.0.0.11", 40000, 40001); tests/integration/test_dns_port53.py
checks the same on the real kernel.
"""

from __future__ import annotations

import copy

from boxnet.kernel import dnsredirect as dr

IP = "127.0.0.11"


def _rule(chain, addr_field, proto, field, match_port, set_port):
    return {"rule": {"family": "ip", "table": "boxnet_dns", "chain": chain, "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": addr_field}},
                   "right": IP}},
        {"match": {"op": "==", "left": {"payload": {"protocol": proto, "field": field}},
                   "right": match_port}},
        {"mangle": {"key": {"payload": {"protocol": proto, "field": field}},
                    "value": set_port}}]}}


def listed(up=40000, tp=40001) -> dict:
    """The listing of an intact table for ports (up, tp)."""
    return {"nftables": [
        {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
        {"table": {"family": "ip", "name": "boxnet_dns", "handle": 2}},
        {"chain": {"family": "ip", "table": "boxnet_dns", "name": "output", "handle": 1,
                   "type": "filter", "hook": "output", "prio": -300, "policy": "accept"}},
        {"chain": {"family": "ip", "table": "boxnet_dns", "name": "postrouting", "handle": 2,
                   "type": "filter", "hook": "postrouting", "prio": 300, "policy": "accept"}},
        _rule("output", "daddr", "udp", "dport", 53, up),
        _rule("output", "daddr", "tcp", "dport", 53, tp),
        _rule("postrouting", "saddr", "udp", "sport", up, 53),
        _rule("postrouting", "saddr", "tcp", "sport", tp, 53)]}


def test_intact_table_gives_its_ports():
    assert dr.table_ports(listed(), IP) == (40000, 40001)
    assert dr.table_ports(listed(33000, 33000), IP) == (33000, 33000)


def test_anything_else_is_not_ours():
    """A table whose rules were changed, added to or cut is replaced, never reused."""
    assert dr.table_ports({"nftables": []}, IP) is None
    assert dr.table_ports(listed(), "127.0.0.12") is None
    t = listed()
    t["nftables"].pop()                      # the TCP reply rewrite is gone
    assert dr.table_ports(t, IP) is None
    t = listed()
    t["nftables"][6] = _rule("postrouting", "saddr", "udp", "sport", 40002, 53)  # ports differ
    assert dr.table_ports(t, IP) is None
    t = listed()
    t["nftables"].append({"rule": {"chain": "output", "expr": [{"accept": None}]}})
    assert dr.table_ports(t, IP) is None
    t = copy.deepcopy(listed())
    t["nftables"][2]["chain"]["prio"] = 0    # the query rewrite after conntrack
    assert dr.table_ports(t, IP) is None


def test_create_never_deletes_and_replace_is_one_transaction():
    """create fails on an existing table and deletes nothing (a deletion's deferred
    destroy work would be waited for in the start path); replace names the table
    before deleting it so it works whether or not one exists."""
    c = dr.create_script(IP, 40000, 40001)
    assert c.startswith("create table ip boxnet_dns\n") and "delete" not in c
    r = dr.replace_script(IP, 40000, 40001)
    assert r.startswith("table ip boxnet_dns {}\ndelete table ip boxnet_dns\n")
    for script in (c, r):
        assert "udp dport 53 udp dport set 40000" in script
        assert "tcp dport 53 tcp dport set 40001" in script
        assert "udp sport 40000 udp sport set 53" in script
        assert "tcp sport 40001 tcp sport set 53" in script
        assert "nat" not in script and "ct " not in script   # no conntrack
