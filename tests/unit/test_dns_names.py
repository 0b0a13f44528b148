"""The name table: scoping to shared networks, and legacy links answered only to
the container that made them."""

from __future__ import annotations

from types import SimpleNamespace as NS

from boxnet.dns.names import build_table


def _net(nid, name):
    return NS(id=nid, name=name, internal=False)


def _ep(eid, cid, nid, ip, names, links=()):
    return NS(id=eid, container_id=cid, network_id=nid, ipv4=ip + "/24", ipv6="",
              dns_names=list(names), links=list(links))


def _c(cid, name, links=()):
    return NS(id=cid, name=name, config=NS(links=list(links)))


def _setup(links_on_ep=("db:database",), links_on_c=()):
    nets = {"n1": _net("n1", "front"), "n2": _net("n2", "back")}
    conts = {"a": _c("a", "app", links_on_c), "b": _c("b", "db"), "o": _c("o", "other")}
    eps = [_ep("e1", "a", "n1", "10.0.1.2", ["app"], links_on_ep),
           _ep("e2", "b", "n1", "10.0.1.3", ["db"]),
           _ep("e3", "o", "n1", "10.0.1.4", ["other"]),
           _ep("e4", "b", "n2", "10.0.2.3", ["db"])]
    return nets, eps, conts


def test_link_alias_only_for_the_linker():
    t = build_table(*_setup())
    assert t.view_for("a").names["database"] == (("10.0.1.3",), ())
    assert "database" not in t.view_for("o").names
    assert "database" not in t.view_for("b").names
    # the linker still sees its networks' names
    assert t.view_for("a").names["other"] == (("10.0.1.4",), ())


def test_link_to_container_not_on_that_network_is_skipped():
    nets, eps, conts = _setup(links_on_ep=("other:o2",))
    eps = [e for e in eps if e.id != "e3"]          # "other" not running / not on n1
    t = build_table(nets, eps, conts)
    assert "o2" not in t.view_for("a").names


def test_hostconfig_links_and_leaving_target():
    nets, eps, conts = _setup(links_on_ep=(), links_on_c=("/db:/app/dbx",))
    t = build_table(nets, eps, conts)
    assert t.view_for("a").names["dbx"] == (("10.0.1.3",), ())
    t2 = build_table(nets, eps, conts, exclude={"e2"})   # db leaving n1 right now
    assert "dbx" not in t2.view_for("a").names


def test_no_links_share_views():
    nets, eps, conts = _setup(links_on_ep=())
    t = build_table(nets, eps, conts)
    assert t.view_for("a") is t.view_for("o")
