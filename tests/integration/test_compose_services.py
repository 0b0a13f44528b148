"""`boxnet compose` on the real kernel: the service attributes a container needs to run and
to be found (hostname, domainname, entrypoint, working_dir, environment and env_file,
bind volumes, dns/dns_search/dns_opt, extra_hosts, links, ports, mac_address,
network_mode host), the top-level network keys (driver_opts, ipam gateway/ip_range/
aux_addresses, attachable, name:), and the everyday commands (config, ps, logs,
stop/start/restart, --env-file, the boxnet-compose spelling), checked from inside the
containers and through the API."""

from __future__ import annotations

import json
import textwrap

import pytest

from .harness import BIN_DIR, run

pytestmark = pytest.mark.kernel

BOXNET_COMPOSE = str(BIN_DIR / "boxnet-compose")

PROJECT = """
services:
  api:
    image: busybox
    hostname: apihost
    domainname: example.test
    entrypoint: ["sh", "-c"]
    command: ["echo started-$$MODE; mkdir -p /tmp/w; echo api-page > /tmp/w/index.html; exec httpd -f -p 80 -h /tmp/w"]
    working_dir: /tmp
    environment: {MODE: "${MODE:-unset}"}
    env_file: [api.env]
    volumes: ["./shared:/data:ro"]
    dns: [192.0.2.53]
    dns_search: [corp.example]
    dns_opt: ["ndots:3"]
    extra_hosts: ["gw.example:192.0.2.1"]
    ports: ["127.0.0.1:18080:80"]
    networks:
      inner:
        mac_address: "02:42:ac:1e:00:99"
  client:
    image: busybox
    command: ["sleep", "3600"]
    links: ["api:backend"]
    networks: [inner]
  hostnet:
    image: busybox
    command: ["sleep", "3600"]
    network_mode: host
networks:
  inner:
    name: svc-inner-net
    attachable: true
    driver: bridge
    driver_opts: {com.docker.network.bridge.name: bxsvc0}
    ipam:
      config:
        - subnet: 10.231.0.0/24
          ip_range: 10.231.0.64/26
          gateway: 10.231.0.254
          aux_addresses: {printer: 10.231.0.64}
"""


def compose(h, *args, check=True):
    return h.cli("compose", *args, check=check, timeout=90)


@pytest.fixture(scope="module")
def svc(host, tmp_path_factory):
    d = tmp_path_factory.mktemp("svc")
    (d / "compose.yaml").write_text(textwrap.dedent(PROJECT))
    (d / "api.env").write_text("FROM_FILE=file-value\n")
    (d / "vars.env").write_text("MODE=production\n")
    (d / "shared").mkdir()
    (d / "shared" / "hello.txt").write_text("from-the-host\n")
    f = str(d / "compose.yaml")
    args = ("-f", f, "-p", "svc", "--env-file", str(d / "vars.env"))
    compose(host, *args, "up", "-d")
    yield host, args
    compose(host, *args, "down", "-t", "1")
    nets = {n["Name"] for n in host.api_ok("GET", "/networks")}
    assert "svc-inner-net" not in nets


def test_service_attributes_inside_the_container(svc):
    h, _ = svc
    assert h.exec("svc-api-1", "hostname", check=True).stdout.strip() == "apihost"
    assert h.exec("svc-api-1", "pwd", check=True).stdout.strip() == "/tmp"
    env = h.exec("svc-api-1", "env", check=True).stdout
    assert "MODE=production" in env and "FROM_FILE=file-value" in env, env
    assert h.exec("svc-api-1", "cat", "/data/hello.txt", check=True).stdout == "from-the-host\n"
    assert h.exec("svc-api-1", "touch", "/data/x").returncode != 0, "a :ro bind was writable"
    resolv = h.exec("svc-api-1", "cat", "/etc/resolv.conf", check=True).stdout
    assert "nameserver 127.0.0.11" in resolv and "corp.example" in resolv
    assert "ndots:3" in resolv, resolv
    hosts = h.exec("svc-api-1", "cat", "/etc/hosts", check=True).stdout
    assert "192.0.2.1\tgw.example" in hosts or "192.0.2.1 gw.example" in hosts, hosts
    assert "apihost.example.test" in hosts, hosts
    info = h.inspect("svc-api-1")
    assert info["Config"]["Entrypoint"] == ["sh", "-c"]
    assert info["HostConfig"]["Dns"] == ["192.0.2.53"]
    assert info["NetworkSettings"]["Networks"]["svc-inner-net"]["MacAddress"] == \
        "02:42:ac:1e:00:99"
    link = h.exec("svc-api-1", "cat", "/sys/class/net/eth0/address", check=True).stdout
    assert link.strip() == "02:42:ac:1e:00:99"


def test_links_and_names(svc):
    h, _ = svc
    r = h.exec("svc-client-1", "sh", "-c", "timeout 4 wget -qO- http://backend/")
    assert r.stdout.strip() == "api-page", (r.stdout, r.stderr)
    r = h.exec("svc-client-1", "sh", "-c", "timeout 4 wget -qO- http://api/")
    assert r.stdout.strip() == "api-page", (r.stdout, r.stderr)


def test_published_port_and_host_mode(svc):
    h, _ = svc
    r = h.sh("python3 -c \"import urllib.request as u; "
             "print(u.urlopen('http://127.0.0.1:18080/', timeout=5).read().decode())\"")
    assert r.stdout.strip() == "api-page", r
    assert h.inspect("svc-hostnet-1")["HostConfig"]["NetworkMode"] == "host"
    links = h.exec("svc-hostnet-1", "ip", "-o", "link", check=True).stdout
    assert "bxsvc0" in links, links   # it sees the host's interfaces, our bridge among them


def test_network_keys(svc):
    h, _ = svc
    nw = h.network("svc-inner-net")
    assert nw["Attachable"] and nw["Options"]["com.docker.network.bridge.name"] == "bxsvc0"
    cfg = nw["IPAM"]["Config"][0]
    assert (cfg["Subnet"], cfg["IPRange"], cfg["Gateway"]) == \
        ("10.231.0.0/24", "10.231.0.64/26", "10.231.0.254")
    assert cfg["AuxiliaryAddresses"] == {"printer": "10.231.0.64"}
    for c in ("svc-api-1", "svc-client-1"):
        ip = h.ip_of(c, "svc-inner-net")
        assert ip != "10.231.0.64" and 64 < int(ip.rsplit(".", 1)[1]) < 128, ip
    assert "10.231.0.254/24" in h.sh("ip -o addr show bxsvc0").stdout


def test_config_ps_logs(svc):
    h, args = svc
    cfg = compose(h, *args, "config").stdout
    assert "MODE: production" in cfg and "svc-inner-net" in cfg, cfg
    ps = compose(h, *args, "ps").stdout
    assert all(n in ps for n in ("svc-api-1", "svc-client-1", "svc-hostnet-1")), ps
    logs = compose(h, *args, "logs", "api").stdout
    assert "started-production" in logs, logs


def test_stop_start_restart(svc):
    h, args = svc
    ip = h.ip_of("svc-api-1", "svc-inner-net")
    compose(h, *args, "stop", "-t", "1", "api")
    assert not h.inspect("svc-api-1")["State"]["Running"]
    compose(h, *args, "start", "api")
    assert h.inspect("svc-api-1")["State"]["Running"]
    compose(h, *args, "restart", "-t", "1", "api")
    assert h.inspect("svc-api-1")["State"]["Running"]
    assert h.ip_of("svc-api-1", "svc-inner-net") == ip
    r = h.exec("svc-client-1", "sh", "-c", "timeout 4 wget -qO- http://api/")
    assert r.stdout.strip() == "api-page", (r.stdout, r.stderr)


def test_boxnet_compose_spelling(svc):
    h, args = svc
    r = run([BOXNET_COMPOSE, "-H", h.host_uri, *args, "ps", "--format", "json"])
    rows = json.loads(r.stdout) if r.stdout.lstrip().startswith("[") else \
        [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert {row["Service"] for row in rows} >= {"api", "client", "hostnet"}, rows


ORPHANS = """
services:
  a: {image: busybox, command: ["sleep", "3600"], networks: [n]}
  b: {image: busybox, command: ["sleep", "3600"], networks: [n]}
networks:
  n: {name: orph-net}
"""


def test_orphans_kept_or_removed(host, tmp_path):
    """A service dropped from the file leaves an orphan: `down` warns and keeps it and
    its network; `up --remove-orphans` removes it (its name no longer resolves)."""
    f = tmp_path / "compose.yaml"
    f.write_text(textwrap.dedent(ORPHANS))
    args = ("-f", str(f), "-p", "orph")
    compose(host, *args, "up", "-d")
    try:
        assert host.exec("orph-a-1", "nslookup", "b").returncode == 0
        f.write_text(textwrap.dedent(ORPHANS).replace(
            '  b: {image: busybox, command: ["sleep", "3600"], networks: [n]}\n', ""))
        r = compose(host, *args, "down", "-t", "1")
        assert "Found orphan containers (b)" in r.stderr, r.stderr
        assert host.api("GET", "/containers/orph-a-1/json")[0] == 404
        assert host.inspect("orph-b-1")["State"]["Running"]
        assert host.network("orph-net")["Name"] == "orph-net"
        compose(host, *args, "up", "-d", "--remove-orphans")
        assert host.api("GET", "/containers/orph-b-1/json")[0] == 404
        assert host.inspect("orph-a-1")["State"]["Running"]
        r = host.exec("orph-a-1", "nslookup", "b")
        assert r.returncode != 0, (r.stdout, r.stderr)
    finally:
        compose(host, *args, "down", "-t", "1", "--remove-orphans")
    assert host.api("GET", "/networks/orph-net")[0] == 404
