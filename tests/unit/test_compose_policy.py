"""compose's x-boxnet policy: load-time checks, the label, check's expected matrix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from boxnet.compose import check, loader
from boxnet.compose.errors import ComposeError
from boxnet.compose.labels import container_labels

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "compose-policy" / "compose.yaml"


def test_example_expected_matrix_and_label():
    p = loader.load([str(EXAMPLE)], environ={})
    exp = check.expected(p)
    assert exp["app"]["db"] == {"ip": True, "name": True, "ports": {"5433": False}}
    assert exp["tool"]["db"] == {"ip": False, "name": False}
    assert exp["app"]["tool"] == {"ip": False, "name": False}
    assert exp["db"]["tool"] == {"ip": True, "name": True}
    lab = json.loads(container_labels(p, p.services["db"], 1)["com.boxnet.policy"])
    assert lab == {"ingress": [{"service": "app", "ports": ["5432/tcp", "5433/tcp"]}]}


@pytest.mark.parametrize("rule,words", [
    ("{service: nosuch}", "unknown service 'nosuch'"),
    ("{network: nonet}", "unknown network 'nonet'"),
    ("{service: app, ports: ['80', '80-90']}", "overlapping ports"),
    ("{service: app, cidr: 10.0.0.0/8}", "exactly one peer"),
])
def test_bad_policies_point_at_the_file(tmp_path, rule, words):
    f = tmp_path / "compose.yaml"
    f.write_text("services:\n  app:\n    image: busybox\n  db:\n    image: busybox\n"
                 f"    x-boxnet:\n      policy:\n        ingress:\n          - {rule}\n")
    with pytest.raises(ComposeError, match=words) as ei:
        loader.load([str(f)], environ={})
    assert "x-boxnet" in str(ei.value)


def test_network_rule_uses_the_engine_name(tmp_path):
    f = tmp_path / "compose.yaml"
    f.write_text("name: pj\nservices:\n  app:\n    image: busybox\n    networks: [back]\n"
                 "    x-boxnet:\n      policy:\n        egress:\n          - {network: back}\n"
                 "networks:\n  back: {}\n")
    p = loader.load([str(f)], environ={})
    lab = json.loads(container_labels(p, p.services["app"], 1)["com.boxnet.policy"])
    assert lab["egress"][0]["network"] == "pj_back"


def test_graph_draws_policies():
    pytest.importorskip("graphviz")
    from boxnet.compose import graph
    src = graph.build(loader.load([str(EXAMPLE)], environ={})).source
    assert "egress of app: 5432/tcp" in src and "ingress of db: 5432/tcp,5433/tcp" in src
    assert "policy of db: ingress default-deny" in src


@pytest.mark.parametrize("ports,rule,ok", [
    ("['15432:5432']", "{service: app, ports: ['5432/tcp']}", False),
    ("['15432:5432']", "{cidr: 0.0.0.0/0, ports: ['5432/tcp']}", True),
    ("[{target: 53, published: 1053, protocol: udp}]", "{cidr: 10.0.0.0/8, ports: ['53']}",
     False),
])
def test_published_port_needs_a_cidr_grant(tmp_path, ports, rule, ok):
    f = tmp_path / "compose.yaml"
    f.write_text("services:\n  app:\n    image: busybox\n  db:\n    image: busybox\n"
                 f"    ports: {ports}\n"
                 f"    x-boxnet:\n      policy:\n        ingress:\n          - {rule}\n")
    if ok:
        loader.load([str(f)], environ={})
        return
    with pytest.raises(ComposeError, match="is published, but its ingress") as ei:
        loader.load([str(f)], environ={})
    assert "x-boxnet" in str(ei.value) and "cidr" in str(ei.value)
