"""compose check's expected matrix, lint findings (with lines), graph rendering, config
output and start order — on the seed example and small files, without a daemon."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from boxnet.compose import check, graph, lint, loader, project, render
from boxnet.compose.yaml12 import load as load12

SEED = Path(__file__).resolve().parents[2] / "examples" / "compose-seed" / "compose.yaml"


def load(tmp_path, text: str):
    p = tmp_path / "compose.yaml"
    p.write_text(textwrap.dedent(text))
    return loader.load([str(p)], environ={})


def test_seed_expected_matrix():
    exp = check.expected(loader.load([str(SEED)], environ={}))
    assert exp["proxy"]["app"] == {"ip": True, "name": True}
    assert exp["app"]["db"] == {"ip": True, "name": True}
    assert exp["proxy"]["db"] == {"ip": False, "name": False}
    assert exp["db"]["proxy"] == {"ip": False, "name": False}


def test_expected_modes(tmp_path):
    p = load(tmp_path, """
        services:
          a: {image: x}
          b: {image: x, network_mode: none}
          c: {image: x, network_mode: host}
          d: {image: x, network_mode: "service:a"}
        """)
    exp = check.expected(p)
    assert exp["a"]["b"] == {"ip": False, "name": False}
    assert exp["a"]["c"] is None                          # host-mode target: not probed
    assert exp["c"]["a"] == {"ip": True, "name": False}   # host reaches by IP only
    assert exp["d"]["a"] == {"ip": True, "name": True}    # shares a's networks


def test_start_order_and_static_first(tmp_path):
    p = load(tmp_path, """
        services:
          web: {image: x, depends_on: [db]}
          db: {image: x}
          fixed: {image: x, networks: {n: {ipv4_address: 10.5.0.9}}}
        networks:
          n: {ipam: {config: [{subnet: 10.5.0.0/24}]}}
        """)
    order = project.start_order(p)
    assert order.index("db") < order.index("web") and order[0] == "fixed"
    assert project.start_order(p, ["web"]) == ["db", "web"]


def test_lint_seed_and_bad_practices(tmp_path):
    seed = lint.lint(loader.load([str(SEED)], environ={}))
    assert [f["rule"] for f in seed] == ["port-all-interfaces"]
    assert seed[0]["line"] == 9 and seed[0]["file"].endswith("compose.yaml")
    p = load(tmp_path, """
        services:
          web:
            image: busybox
            ports: ["80:80"]
            environment:
              DB_URL: postgres://10.1.0.5:5432/app
          postgres:
            image: postgres
          tool:
            image: busybox
            network_mode: host
          cron:
            image: busybox
            command: [sleep, "3600"]
        """)
    rules = {(f["rule"], f["service"]): f for f in lint.lint(p)}
    assert ("port-all-interfaces", "web") in rules
    assert ("hardcoded-ip", "web") in rules and rules[("hardcoded-ip", "web")]["line"] == 7
    assert ("db-reachable-from-public", "postgres") in rules
    assert ("host-network", "tool") in rules
    assert ("needless-network", "cron") in rules
    assert ("needless-network", "postgres") not in rules   # web names it in DB_URL
    assert "no-segmentation" in {r for r, _ in rules}


def test_graph_source_and_render(tmp_path):
    g = graph.build(loader.load([str(SEED)], environ={}))
    src = g.source
    assert "seed_frontend" in src and "seed_backend" in src and "publish 8080:80" in src
    assert "cannot reach" in src
    if shutil.which("dot") is None:
        pytest.skip("graphviz `dot` not installed (scripts/install.sh installs it)")
    out = graph.write(g, str(tmp_path / "seed.svg"))
    assert Path(out).read_text().lstrip().startswith(("<?xml", "<svg"))
    png = graph.write(g, str(tmp_path / "seed.png"))
    assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_config_round_trip(tmp_path):
    p = load(tmp_path, """
        services:
          s:
            image: busybox
            ports: ["22:22"]
            environment: {A: "no"}
        """)
    text = render.render(p)
    assert yaml.safe_load(text)["services"]["s"]["ports"] == ["22:22"]    # YAML 1.1 reader
    again, _ = load12(text, "out")
    assert again["services"]["s"]["environment"] == {"A": "no"}
    assert again["networks"]["default"]["name"] == p.networks["default"].name
