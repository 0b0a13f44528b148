"""The compose loader: YAML 1.2 rules, interpolation, .env, merge, schema and semantic
errors, hostile files. Every error must name the file, the path and the line."""

from __future__ import annotations

import textwrap

import pytest

from boxnet.compose import loader, netops, yaml12
from boxnet.compose.errors import ComposeError

import ipaddress


def write(tmp_path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def load(tmp_path, text: str, env=None, **kw):
    return loader.load([write(tmp_path, "compose.yaml", text)], environ=env or {}, **kw)


def error(tmp_path, text: str, env=None, name="compose.yaml") -> ComposeError:
    f = write(tmp_path, name, text)
    with pytest.raises(ComposeError) as ei:
        loader.load([f], environ=env or {})
    e = ei.value
    assert e.file == f, e
    return e


# ---- YAML 1.2 -------------------------------------------------------------------------
def test_yaml12_scalars():
    data, _ = yaml12.load("a: 22:22\nb: no\nc: on\nd: 0o17\ne: 0x1F\nf: 1.5\ng: true\n"
                          "h: ~\ni: 0755\nj: yes\nk: 1_000\n", "f")
    assert data == {"a": "22:22", "b": "no", "c": "on", "d": 15, "e": 31, "f": 1.5,
                    "g": True, "h": None, "i": 755, "j": "yes", "k": "1_000"}


def test_ports_and_environment_stay_strings(tmp_path):
    p = load(tmp_path, """
        services:
          s:
            image: busybox
            ports: [22:22]
            environment: {DEBUG: no, FLAG: on}
        """)
    s = p.services["s"]
    assert s.ports == ["22:22"]
    assert s.environment == {"DEBUG": "no", "FLAG": "on"}


def test_lines_are_recorded():
    _, lines = yaml12.load("services:\n  a:\n    image: x\n", "f")
    assert lines[("services", "a", "image")] == 3


# ---- interpolation and .env -------------------------------------------------------------
def test_interpolation_forms(tmp_path):
    (tmp_path / ".env").write_text("FROM_DOTENV=dot\nOVERRIDDEN=dotenv\n# comment\n"
                                   "export QUOTED=\"a b\"\n")
    p = load(tmp_path, """
        services:
          s:
            image: ${IMG:-busybox}
            environment:
              A: ${FROM_DOTENV}
              B: ${OVERRIDDEN}
              C: ${UNSET-dflt}
              D: ${EMPTY:-empty-default}
              E: ${EMPTY-kept-empty}
              F: $$literal
              G: ${SET:+alt}
              H: ${QUOTED}
              I: ${NOPE:-${SET}}
        """, env={"OVERRIDDEN": "shell", "EMPTY": "", "SET": "x"})
    assert p.services["s"].image == "busybox"
    assert p.services["s"].environment == {
        "A": "dot", "B": "shell", "C": "dflt", "D": "empty-default", "E": "",
        "F": "$literal", "G": "alt", "H": "a b", "I": "x"}


def test_required_variable_error(tmp_path):
    e = error(tmp_path, """
        services:
          s:
            image: busybox
            command: ${CMD:?set CMD to the command}
        """)
    assert e.path == ("services", "s", "command") and e.line == 5
    assert "set CMD to the command" in str(e)


def test_unset_variable_warns(tmp_path):
    p = load(tmp_path, "services:\n  s:\n    image: busybox${TAG}\n")
    assert p.services["s"].image == "busybox"
    assert any("TAG" in w for w in p.warnings)


def test_bad_interpolation_syntax(tmp_path):
    e = error(tmp_path, "services:\n  s:\n    image: ${oops\n")
    assert e.line == 3 and "unclosed" in e.message


# ---- merge ------------------------------------------------------------------------------
def test_merge_two_files(tmp_path):
    a = write(tmp_path, "a.yml", """
        services:
          web:
            image: busybox
            command: [sleep, "1"]
            environment: [A=1, B=2]
            ports: ["80:80"]
            networks: [front]
        networks:
          front: {}
        """)
    b = write(tmp_path, "b.yml", """
        services:
          web:
            command: [sleep, "2"]
            environment: {B: 3, C: 4}
            ports: ["81:81"]
            networks:
              back: {aliases: [w]}
        networks:
          back: {internal: true}
        """)
    p = loader.load([a, b], environ={})
    web = p.services["web"]
    assert web.get("command") == ["sleep", "2"]
    assert web.environment == {"A": "1", "B": "3", "C": "4"}
    assert web.ports == ["80:80", "81:81"]
    assert list(web.networks) == ["front", "back"] and web.networks["back"].aliases == ["w"]
    assert p.networks["back"].internal and p.networks["back"].name == f"{p.name}_back"


def test_merge_reset_and_override(tmp_path):
    a = write(tmp_path, "a.yml", "services:\n  s:\n    image: busybox\n    ports: ['1:1']\n"
                                 "    dns: [1.1.1.1]\n")
    b = write(tmp_path, "b.yml", "services:\n  s:\n    ports: !reset []\n"
                                 "    dns: !override [9.9.9.9]\n")
    s = loader.load([a, b], environ={}).services["s"]
    assert s.ports == [] and s.get("dns") == ["9.9.9.9"]


# ---- names and defaults -------------------------------------------------------------------
def test_default_network_and_names(tmp_path):
    p = load(tmp_path, "name: My_App\nservices:\n  s:\n    image: busybox\n")
    assert p.name == "my_app"
    assert p.networks["default"].name == "my_app_default"
    assert list(p.services["s"].networks) == ["default"]
    assert p.container_name(p.services["s"], 2) == "my_app-s-2"


def test_external_network_name(tmp_path):
    p = load(tmp_path, """
        services: {s: {image: busybox, networks: [ext]}}
        networks: {ext: {external: true, name: shared-net}}
        """)
    assert p.networks["ext"].external and p.networks["ext"].name == "shared-net"


# ---- schema errors ----------------------------------------------------------------------------
def test_schema_unknown_key(tmp_path):
    e = error(tmp_path, "services:\n  s:\n    image: busybox\n    netwrks: [a]\n")
    assert e.path == ("services", "s", "netwrks") and e.line == 4 and "netwrks" in e.message


def test_schema_wrong_type(tmp_path):
    e = error(tmp_path, "services:\n  s:\n    image: busybox\n    networks:\n"
                        "      front:\n        aliases: 7\nnetworks: {front: {}}\n")
    assert e.path[:4] == ("services", "s", "networks", "front") and e.line in (5, 6)


# ---- semantic errors -------------------------------------------------------------------------
@pytest.mark.parametrize("text,path,line,words", [
    ("services:\n  s:\n    image: busybox\n    networks: [nope]\n",
     ("services", "s", "networks", "nope"), 4, "undefined network"),
    ("services:\n  s:\n    image: busybox\n    network_mode: host\n    networks: [a]\n"
     "networks: {a: {}}\n", ("services", "s", "network_mode"), 4, "cannot be combined"),
    ("services:\n  s:\n    image: busybox\n    networks:\n      a:\n"
     "        ipv4_address: 10.9.9.9\nnetworks:\n  a:\n    ipam:\n"
     "      config: [{subnet: 172.30.0.0/24}]\n",
     ("services", "s", "networks", "a", "ipv4_address"), 6, "outside every subnet"),
    ("services:\n  s:\n    image: busybox\n    networks:\n      a: {ipv4_address: 172.30.0.5}\n"
     "networks: {a: {}}\n", ("services", "s", "networks", "a", "ipv4_address"), 5,
     "declares no IPv4 subnet"),
    ("services:\n  s:\n    image: busybox\n    depends_on: [t]\n",
     ("services", "s", "depends_on", "t"), 4, "undefined service"),
    ("services:\n  s:\n    build: .\n", None, None, None),
    ("services:\n  s:\n    command: x\n", ("services", "s"), 2, "neither an image"),
    ("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n",
     None, None, "cycle"),
    ("services:\n  a: {image: x, network_mode: 'service:zz'}\n",
     ("services", "a", "network_mode"), 2, "undefined service"),
])
def test_semantic_errors(tmp_path, text, path, line, words):
    if words is None:  # valid: build without image loads (up gives the clear error)
        load(tmp_path, text)
        return
    e = error(tmp_path, text)
    if path:
        assert e.path == path, e
    if line:
        assert e.line == line, e
    assert words in str(e)


# ---- hostile and malformed files ------------------------------------------------------------
def test_bad_yaml(tmp_path):
    e = error(tmp_path, "services:\n  s:\n    image: [busybox\n")
    assert e.line and "invalid YAML" in e.message


def test_billion_laughs(tmp_path):
    lol = "x-a: &a [l, l, l, l, l, l, l, l, l, l]\n"
    prev = "a"
    for n in "bcdefghi":
        lol += f"x-{n}: &{n} [{', '.join(['*' + prev] * 10)}]\n"
        prev = n
    e = error(tmp_path, lol + "services:\n  s: {image: busybox}\n")
    assert "billion laughs" in str(e)


def test_recursive_alias(tmp_path):
    e = error(tmp_path, "x-a: &a [*a]\nservices:\n  s: {image: busybox}\n")
    assert e.line


def test_unknown_tag_and_duplicates(tmp_path):
    e = error(tmp_path, "services: !!python/object:os.system {}\n")
    assert "tag" in e.message and e.line == 1
    e = error(tmp_path, "services:\n  s: {image: a}\n  s: {image: b}\n")
    assert "duplicate" in e.message and e.line == 3


def test_not_a_mapping_and_empty(tmp_path):
    assert "mapping" in error(tmp_path, "- a\n- b\n").message
    assert "empty" in error(tmp_path, "").message


# ---- static address reservation (netops) ---------------------------------------------------
def test_reserving_range_excludes_static_addresses():
    net = ipaddress.ip_network("172.28.0.0/24")
    block = netops.reserving_range(net, [ipaddress.ip_address("172.28.0.10")])
    assert str(block) == "172.28.0.128/25"
    block = netops.reserving_range(net, [ipaddress.ip_address("172.28.0.10"),
                                         ipaddress.ip_address("172.28.0.200")])
    assert str(block) == "172.28.0.64/26"


def test_network_create_body_reserves(tmp_path):
    p = load(tmp_path, """
        services:
          s: {image: busybox, networks: {a: {ipv4_address: 172.28.0.10}}}
        networks:
          a: {ipam: {config: [{subnet: 172.28.0.0/24}]}, labels: {team: x}}
        """)
    body = netops.create_body(p, p.networks["a"])
    assert body["IPAM"]["Config"] == [{"Subnet": "172.28.0.0/24",
                                       "IPRange": "172.28.0.128/25", "Gateway": "172.28.0.1"}]
    assert body["Labels"]["com.docker.compose.network"] == "a"
    assert body["Labels"]["com.docker.compose.project"] == p.name
    assert body["Labels"]["team"] == "x"
