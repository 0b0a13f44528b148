"""`boxnet compose` for real: the seed example's segmentation proved from inside the
containers, `compose check`, networks attributes (external, aliases, static addresses,
internal, IPv6), replicas, network_mode, merge + interpolation, idempotent up, and
malformed files that must create nothing."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "compose-seed" / "compose.yaml"


def compose(h, *args, check=True, timeout=90):
    """`boxnet compose ARGS` against the test host."""
    return h.cli("compose", *args, check=check, timeout=timeout)


def write(tmp_path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def tcp(h, src: str, addr: str, port: str) -> bool:
    """A TCP connect from inside container src; True when the server answered."""
    r = h.exec(src, "sh", "-c", f"timeout 4 nc -w2 {addr} {port} </dev/null")
    return r.returncode == 0 and "-ok" in r.stdout


def ips(h, container: str) -> list[str]:
    nets = h.inspect(container)["NetworkSettings"]["Networks"]
    return [ep["IPAddress"] for ep in nets.values() if ep["IPAddress"]]


def resolves(h, src: str, name: str) -> bool:
    r = h.exec(src, "nslookup", name)
    return r.returncode == 0 and "Address" in r.stdout.split("Name:", 1)[-1]


def names_of(h, what: str) -> set[str]:
    items = h.api_ok("GET", "/networks" if what == "networks" else "/containers/json?all=1")
    return {i["Name"] if what == "networks" else i["Names"][0].lstrip("/") for i in items}


# ---- the seed example -------------------------------------------------------------------
@pytest.fixture(scope="module")
def seed(host):
    compose(host, "-f", str(SEED), "up", "-d")
    yield host
    compose(host, "-f", str(SEED), "down", "-t", "1")


def test_seed_by_ip(seed):
    """proxy reaches app, app reaches db, proxy reaches db on none of its addresses."""
    h = seed
    app_front = h.ip_of("seed-app-1", "seed_frontend")
    assert tcp(h, "seed-proxy-1", app_front, "8000")
    assert tcp(h, "seed-app-1", h.ip_of("seed-db-1", "seed_backend"), "5432")
    for addr in ips(h, "seed-db-1"):
        assert not tcp(h, "seed-proxy-1", addr, "5432"), f"proxy reached db at {addr}"
    # the app's backend address is not reachable from the proxy either
    assert not tcp(h, "seed-proxy-1", h.ip_of("seed-app-1", "seed_backend"), "8000")


def test_seed_by_name(seed):
    """The same by service name (needs the embedded DNS of issue 4)."""
    h = seed
    assert resolves(h, "seed-app-1", "db")
    assert tcp(h, "seed-proxy-1", "app", "8000")
    assert tcp(h, "seed-app-1", "db", "5432")
    assert not resolves(h, "seed-proxy-1", "db")
    assert not tcp(h, "seed-proxy-1", "db", "5432")


def test_seed_check_reports_exactly_that(seed):
    r = compose(seed, "-f", str(SEED), "check", "--format", "json")
    res = json.loads(r.stdout)
    assert res["ok"] and not res["differences"], res
    exp, obs = res["expected"], res["observed"]
    assert exp["proxy"]["app"] == {"ip": True, "name": True}
    assert exp["app"]["db"] == {"ip": True, "name": True}
    assert exp["proxy"]["db"] == {"ip": False, "name": False}
    assert exp["db"]["proxy"] == {"ip": False, "name": False}
    assert obs["proxy"]["app"]["ip"] and obs["app"]["db"]["ip"]
    assert obs["proxy"]["db"] == {"ip": False, "name": False}
    text = compose(seed, "-f", str(SEED), "check").stdout
    assert "EXPECTED" in text and "OBSERVED" in text and "OK" in text


def test_compose_exec_output_and_exit_code(seed):
    """`compose exec` runs in the service's container, on its networks: output comes
    back and the command's exit code is boxnet compose's own."""
    r = compose(seed, "-f", str(SEED), "exec", "-T", "app", "sh", "-c",
                "nslookup db >/dev/null && echo resolved; exit 3", check=False)
    assert r.returncode == 3 and "resolved" in r.stdout, (r.returncode, r.stdout, r.stderr)
    r = compose(seed, "-f", str(SEED), "exec", "-T", "proxy", "nslookup", "db", check=False)
    assert r.returncode != 0, r.stdout


def test_lint_and_graph_from_the_cli(seed, tmp_path):
    """`compose lint` reports findings with their line; `compose graph` writes the
    picture (SVG and PNG) with every service and network of the seed example."""
    r = compose(seed, "-f", str(SEED), "lint", "--format", "json", check=False)
    findings = json.loads(r.stdout)
    assert isinstance(findings, list) and findings, r.stdout
    assert all("line" in f or "Line" in f for f in findings), findings
    svg, png = tmp_path / "seed.svg", tmp_path / "seed.png"
    compose(seed, "-f", str(SEED), "graph", "-o", str(svg))
    text = svg.read_text()
    assert all(n in text for n in ("proxy", "app", "db", "frontend", "backend")), text[:300]
    compose(seed, "-f", str(SEED), "graph", "--format", "png", "-o", str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_check_fails_on_difference(seed):
    """db connected to frontend behind compose's back: check sees proxy -> db and exits 1."""
    h = seed
    h.cli("network", "connect", "seed_frontend", "seed-db-1")
    try:
        r = compose(h, "-f", str(SEED), "check", "--format", "json", check=False)
        assert r.returncode == 1, r
        diffs = json.loads(r.stdout)["differences"]
        assert {"from": "proxy", "to": "db", "probe": "ip", "expected": False,
                "observed": True} in diffs
    finally:
        h.cli("network", "disconnect", "seed_frontend", "seed-db-1")


def test_seed_labels_and_names(seed):
    h = seed
    info = h.inspect("seed-app-1")
    lbl = info["Config"]["Labels"]
    assert lbl["com.docker.compose.project"] == "seed"
    assert lbl["com.docker.compose.service"] == "app"
    assert lbl["com.docker.compose.container-number"] == "1"
    assert lbl["com.docker.compose.oneoff"] == "False"
    assert len(lbl["com.docker.compose.config-hash"]) == 64
    nw = h.network("seed_backend")
    assert nw["Internal"] and nw["Labels"]["com.docker.compose.network"] == "backend"
    assert "app" in info["NetworkSettings"]["Networks"]["seed_frontend"]["Aliases"]


def test_idempotent_up(seed, tmp_path):
    h = seed
    before = {c: h.inspect(c)["Id"] for c in ("seed-proxy-1", "seed-app-1", "seed-db-1")}
    r = compose(h, "-f", str(SEED), "up", "-d")
    assert "Created" not in r.stderr
    assert before == {c: h.inspect(c)["Id"] for c in before}
    # a change to one service recreates that service only
    over = write(tmp_path, "over.yml", "services:\n  app:\n    environment: {EXTRA: '1'}\n"
                             "    stop_grace_period: 1s\n")
    compose(h, "-f", str(SEED), "-f", over, "up", "-d")
    after = {c: h.inspect(c)["Id"] for c in before}
    assert after["seed-app-1"] != before["seed-app-1"]
    assert after["seed-db-1"] == before["seed-db-1"]
    assert after["seed-proxy-1"] == before["seed-proxy-1"]
    compose(h, "-f", str(SEED), "-f", over, "up", "-d")  # unchanged: nothing recreated
    assert after == {c: h.inspect(c)["Id"] for c in before}


# ---- network attributes -----------------------------------------------------------------
ATTRS = """
services:
  web:
    image: busybox
    command: ["nc", "-ll", "-p", "80", "-e", "hostname"]
    expose: ["80"]
    deploy: {replicas: 2}
    networks:
      front: {aliases: [www]}
      ext: {}
  fixed:
    image: busybox
    command: ["sleep", "3600"]
    networks:
      front: {ipv4_address: 172.28.5.10}
      six: {ipv6_address: "fd00:28::10"}
  peer6:
    image: busybox
    command: ["sleep", "3600"]
    networks: [six]
  alone:
    image: busybox
    command: ["sleep", "3600"]
    network_mode: none
networks:
  front:
    ipam: {config: [{subnet: 172.28.5.0/24}]}
  six:
    enable_ipv6: true
    internal: true
    ipam: {config: [{subnet: 172.28.6.0/24}, {subnet: "fd00:28::/64"}]}
  ext: {external: true, name: bxt-shared}
"""


@pytest.fixture(scope="module")
def attrs(host, tmp_path_factory):
    d = tmp_path_factory.mktemp("attrs")
    f = write(d, "compose.yaml", ATTRS)
    before = names_of(host, "networks")
    r = compose(host, "-f", f, "-p", "attrs", "up", "-d", check=False)
    assert r.returncode == 1 and "bxt-shared" in r.stderr and "external" in r.stderr, r
    assert names_of(host, "networks") == before, "a failed up created networks"
    host.cli("network", "create", "bxt-shared")
    compose(host, "-f", f, "-p", "attrs", "up", "-d")
    yield host, f
    compose(host, "-f", f, "-p", "attrs", "down", "-t", "1")
    assert "bxt-shared" in names_of(host, "networks"), "down removed an external network"
    assert not {"attrs_front", "attrs_six"} & names_of(host, "networks")
    host.cli("network", "rm", "bxt-shared")


def test_static_addresses_reserved(attrs):
    h, _ = attrs
    assert h.ip_of("attrs-fixed-1", "attrs_front") == "172.28.5.10"
    cfg = h.network("attrs_front")["IPAM"]["Config"][0]
    assert cfg["IPRange"] == "172.28.5.128/25" and cfg["Gateway"] == "172.28.5.1"
    # a container started by someone else never gets the static address
    h.cli("run", "-d", "--name", "intruder", "--network", "attrs_front", "busybox",
          "sleep", "60")
    try:
        assert h.ip_of("intruder", "attrs_front") != "172.28.5.10"
        assert h.ip_of("intruder", "attrs_front").startswith("172.28.5.1")
    finally:
        h.cli("rm", "-f", "intruder")


def test_ipv6_and_internal(attrs):
    h, _ = attrs
    assert h.ip_of("attrs-fixed-1", "attrs_six", v6=True) == "fd00:28::10"
    ok = any(h.exec("attrs-peer6-1", "ping", "-6", "-c1", "-W2", "fd00:28::10").returncode == 0
             for _ in range(3))
    assert ok, "IPv6 ping between services on an IPv6 network failed"
    assert h.network("attrs_six")["Internal"]
    routes = h.exec("attrs-peer6-1", "ip", "route", check=True).stdout
    assert "default" not in routes, routes


def test_aliases_and_replicas(attrs):
    h, f = attrs
    for n in (1, 2):
        aliases = h.inspect(f"attrs-web-{n}")["NetworkSettings"]["Networks"]["attrs_front"]
        assert {"web", "www"} <= set(aliases["Aliases"])
    assert "attrs-web-3" not in names_of(h, "containers")
    assert resolves(h, "attrs-fixed-1", "www")
    out = h.exec("attrs-fixed-1", "nslookup", "web", check=True).stdout
    assert all(a in out for a in (h.ip_of("attrs-web-1", "attrs_front"),
                                  h.ip_of("attrs-web-2", "attrs_front")))
    seen = {h.exec("attrs-fixed-1", "sh", "-c", "timeout 4 nc -w2 web 80 </dev/null")
            .stdout.strip() for _ in range(8)}
    ids = {h.inspect(f"attrs-web-{n}")["Config"]["Hostname"] or
           h.inspect(f"attrs-web-{n}")["Id"][:12] for n in (1, 2)}
    assert seen == ids, f"round robin over the replicas: saw {seen}"


def test_network_mode_none_and_check(attrs):
    h, f = attrs
    links = h.exec("attrs-alone-1", "ip", "-o", "link", check=True).stdout
    assert [line for line in links.splitlines() if "lo:" not in line] == []
    res = json.loads(compose(h, "-f", f, "-p", "attrs", "check", "--format", "json",
                             check=False).stdout)
    assert res["expected"]["alone"]["web"] == {"ip": False, "name": False}
    assert res["observed"]["fixed"]["web"]["ip"] and not res["observed"]["peer6"]["web"]["ip"]


def test_network_mode_service(host, tmp_path):
    """side (network_mode: service:main, listed first: the dependency orders the start)
    reaches main's loopback-only server at 127.0.0.1 and has main's address; an external
    container joins with `container:NAME`; recreating main recreates side."""
    h = host
    server = ("mkdir -p /tmp/w && echo main-ok > /tmp/w/index.html && "
              "exec httpd -f -p 127.0.0.1:7000 -h /tmp/w")
    text = f"""
        services:
          side: {{image: busybox, command: [sleep, "3600"], network_mode: "service:main"}}
          main:
            image: busybox
            command: [sh, -c, "{server}"]
            networks: [inner]
            environment: {{V: "${{V:-1}}"}}
          ext: {{image: busybox, command: [sleep, "3600"], network_mode: "container:nsx-solo"}}
        networks: {{inner: {{}}}}
        """
    f = write(tmp_path, "compose.yaml", text)
    h.cli("run", "-d", "--name", "nsx-solo", "busybox", "sleep", "3600")
    try:
        compose(h, "-f", f, "-p", "nsshare", "up", "-d")
        page = h.exec("nsshare-side-1", "sh", "-c", "timeout 5 wget -qO- http://127.0.0.1:7000/")
        assert page.stdout.strip() == "main-ok", page
        main_ip = h.ip_of("nsshare-main-1", "nsshare_inner")
        side_ips = h.exec("nsshare-side-1", "ip", "-o", "-4", "addr", check=True).stdout
        assert f"inet {main_ip}/" in side_ips, side_ips
        assert ips(h, "nsshare-side-1") == []     # no endpoints of its own
        main_id = h.inspect("nsshare-main-1")["Id"]
        assert h.inspect("nsshare-side-1")["HostConfig"]["NetworkMode"] == "container:" + main_id
        solo = h.inspect("nsx-solo")
        assert h.inspect("nsshare-ext-1")["HostConfig"]["NetworkMode"] == "container:" + solo["Id"]
        assert h.exec("nsshare-ext-1", "hostname", check=True).stdout.strip() == \
            solo["Config"]["Hostname"]
        # main changes -> recreated -> side must follow it into the new namespace
        env = dict(os.environ, V="2")
        import subprocess
        from integration import harness
        r = subprocess.run([harness.BOXNET, "-H", h.host_uri, "compose", "-f", f, "-p",
                            "nsshare", "up", "-d"], capture_output=True, text=True, env=env,
                           timeout=90)
        assert r.returncode == 0, r.stderr
        new_id = h.inspect("nsshare-main-1")["Id"]
        assert new_id != main_id
        assert h.inspect("nsshare-side-1")["HostConfig"]["NetworkMode"] == "container:" + new_id
        page = h.exec("nsshare-side-1", "sh", "-c", "timeout 5 wget -qO- http://127.0.0.1:7000/")
        assert page.stdout.strip() == "main-ok", page
    finally:
        compose(h, "-f", f, "-p", "nsshare", "down", "-t", "1")
        h.cli("rm", "-f", "nsx-solo", check=False)


def test_merge_and_interpolation(host, tmp_path):
    a = write(tmp_path, "a.yml", """
        services:
          s:
            image: busybox
            command: ["sleep", "3600"]
            networks: [one]
        networks: {one: {}}
        """)
    b = write(tmp_path, "b.yml", """
        services:
          s:
            environment: {GREETING: "${GREETING:-unset}", PORTS: 22:22}
            networks:
              two: {aliases: ["${ALIAS:?ALIAS must be set}"]}
        networks: {two: {internal: true}}
        """)
    (tmp_path / ".env").write_text("ALIAS=from-dotenv\nGREETING=dotenv\n")
    env = dict(os.environ, GREETING="shell")
    import subprocess
    from integration import harness
    r = subprocess.run([harness.BOXNET, "-H", host.host_uri, "compose", "-f", a, "-f", b,
                        "-p", "merged", "up", "-d"], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        info = host.inspect("merged-s-1")
        assert "GREETING=shell" in info["Config"]["Env"]
        assert "PORTS=22:22" in info["Config"]["Env"]
        assert set(info["NetworkSettings"]["Networks"]) == {"merged_one", "merged_two"}
        assert "from-dotenv" in info["NetworkSettings"]["Networks"]["merged_two"]["Aliases"]
    finally:
        compose(host, "-f", a, "-f", b, "-p", "merged", "down", "-t", "1")


# ---- malformed and hostile files create nothing ------------------------------------------
LOL = "".join(f"x-{n}: &{n} [{', '.join(['*' + p] * 10)}]\n"
              for p, n in zip("abcdefgh", "bcdefghi"))
BAD = {
    "bad_yaml.yml": ("services:\n  s: {image: busybox\n", "invalid YAML"),
    "schema.yml": ("services:\n  s:\n    image: busybox\n    ports: {a: 1}\n", "ports"),
    "undefined_net.yml": ("services:\n  s:\n    image: busybox\n    networks: [ghost]\n"
                          "networks: {real: {}}\n", "undefined network"),
    "impossible_ip.yml": ("services:\n  s:\n    image: busybox\n    networks:\n      n:\n"
                          "        ipv4_address: 10.1.2.3\nnetworks:\n  n:\n    ipam:\n"
                          "      config: [{subnet: 172.28.9.0/24}]\n", "outside every subnet"),
    "lol.yml": ("x-a: &a [l, l, l, l, l, l, l, l, l, l]\n" + LOL +
                "services:\n  s: {image: busybox}\n", "billion laughs"),
    "missing_image.yml": ("services:\n  s:\n    image: no-such-image\n    networks: [n]\n"
                          "networks: {n: {}}\n", "pulling 'no-such-image'"),
    "build_only.yml": ("services:\n  s:\n    build: .\n    image: not-built\n", "build"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_malformed_files_create_nothing(host, tmp_path, name):
    text, words = BAD[name]
    f = write(tmp_path, name, text)
    nets, conts = names_of(host, "networks"), names_of(host, "containers")
    r = compose(host, "-f", f, "-p", "bad", "up", "-d", check=False)
    assert r.returncode == 1, r
    assert words in r.stderr and f in r.stderr, r.stderr
    assert names_of(host, "networks") == nets and names_of(host, "containers") == conts
