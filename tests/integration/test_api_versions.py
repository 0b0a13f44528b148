"""Issue 18 item 7: API versions 1.24 to 1.52 with dockerd's negotiation, on the
real kernel with the real clients.

- `docker version` (the 28.x CLI, whose own maximum is 1.50) shows the server's
  API 1.52 and minimum 1.24, and the negotiated client version;
- a version out of range is refused with dockerd's status and words, by the
  CLI and on the wire, and nothing is created;
- the shapes differ by version as dockerd's: the top-level NetworkSettings
  fields and Config.MacAddress at 1.43, none of them at 1.52, the MAC read
  inside the container either way;
- the clients' core flow (network create/connect/inspect, run, a DNS answer
  and a ping from inside a container, exec, rm) with the docker CLI pinned by
  DOCKER_API_VERSION and docker-py pinned by version=, each at 1.41, 1.44,
  1.50 and 1.52.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

docker_py = pytest.importorskip("docker", reason="docker-py is not installed")
pytestmark = pytest.mark.kernel
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
VERSIONS = ["1.41", "1.44", "1.50", "1.52"]
LEGACY = ("IPAddress", "IPPrefixLen", "Gateway", "MacAddress", "EndpointID", "Bridge",
          "GlobalIPv6Address", "IPv6Gateway", "HairpinMode", "SecondaryIPAddresses")
TOO_OLD = ("client version {} is too old. Minimum supported API version is 1.24, "
           "please upgrade your client to a newer version")
TOO_NEW = "client version {} is too new. Maximum supported API version is 1.52"


def _docker(host, tmp, version: str | None, *args: str, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CONFIG=str(tmp),
               DOCKER_CLI_HINTS="false")
    env.pop("DOCKER_API_VERSION", None)
    if version:
        env["DOCKER_API_VERSION"] = version
    r = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise AssertionError(f"[{version}] docker {' '.join(args)} -> {r.returncode}\n"
                             f"{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture(scope="module")
def cfgdir(tmp_path_factory):
    return tmp_path_factory.mktemp("dockercfg")


needs_cli = pytest.mark.skipif(not os.access(DOCKER, os.X_OK),
                               reason=f"the docker CLI is not installed ({DOCKER})")


@needs_cli
def test_docker_version_negotiates(host, cfgdir):
    """Unpinned, the CLI reads the server's 1.52 and uses its own highest, 1.50."""
    out = _docker(host, cfgdir, None, "version", "--format",
                  "{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Client.APIVersion}}")
    assert out.stdout.split() == ["1.52", "1.24", "1.50"], out.stdout
    out = _docker(host, cfgdir, "1.44", "version", "--format", "{{.Client.APIVersion}}")
    assert out.stdout.strip() == "1.44"


@needs_cli
@pytest.mark.parametrize("version,words,cmd", [
    ("1.12", TOO_OLD, ["ps"]),   # the CLI itself refuses network create below 1.21
    ("1.23", TOO_OLD, ["network", "create", "toofar"]),
    ("1.53", TOO_NEW, ["network", "create", "toofar"])])
def test_out_of_range_refused_by_the_cli(host, cfgdir, version, words, cmd):
    r = _docker(host, cfgdir, version, *cmd, check=False)
    assert r.returncode != 0
    assert f"Error response from daemon: {words.format(version)}" in r.stderr, r.stderr
    assert host.api("GET", "/networks/toofar")[0] == 404   # nothing created


def test_out_of_range_on_the_wire(host):
    """dockerd's status (400, an invalid parameter) and body; headers still sent."""
    for path, words in (("/v1.23/networks/create", TOO_OLD.format("1.23")),
                        ("/v1.53/networks/create", TOO_NEW.format("1.53")),
                        ("/v1/networks/create", TOO_OLD.format("1"))):
        status, body = host.api("POST", path, json={"Name": "wire-far"})
        assert (status, body) == (400, {"message": words}), (path, status, body)
    assert host.api("GET", "/networks/wire-far")[0] == 404
    assert host.api("GET", "/v1.24/networks/bridge")[0] == 200


def test_mac_address_shapes_1_43_and_1_52(host):
    """Config.MacAddress on create at 1.43; inspect at 1.43 shows it and the
    top-level NetworkSettings fields, at 1.52 neither; the MAC is the interface's."""
    mac = "02:42:ac:11:00:99"
    host.api_ok("POST", "/v1.43/containers/create?name=mac43", json={
        "Image": "busybox", "Cmd": ["sleep", "600"], "MacAddress": mac})
    host.api_ok("POST", "/v1.43/containers/mac43/start")
    old = host.api_ok("GET", "/v1.43/containers/mac43/json")
    new = host.api_ok("GET", "/v1.52/containers/mac43/json")
    assert old["Config"]["MacAddress"] == mac and old["NetworkSettings"]["MacAddress"] == mac
    assert old["NetworkSettings"]["IPAddress"] == \
        old["NetworkSettings"]["Networks"]["bridge"]["IPAddress"] != ""
    assert old["NetworkSettings"]["Gateway"] == new["NetworkSettings"]["Networks"]["bridge"][
        "Gateway"] != ""
    assert "MacAddress" not in new["Config"]
    assert not set(LEGACY) & set(new["NetworkSettings"]), new["NetworkSettings"]
    assert new["NetworkSettings"]["Networks"]["bridge"]["MacAddress"] == mac
    unversioned = host.inspect("mac43")   # no prefix: the highest version
    assert "IPAddress" not in unversioned["NetworkSettings"]
    r = host.exec("mac43", "cat", "/sys/class/net/eth0/address")
    assert r.stdout.strip() == mac, r.stdout + r.stderr
    host.api_ok("DELETE", "/containers/mac43?force=1")


def test_several_networks_at_create_refused_before_1_44(host):
    host.api_ok("POST", "/networks/create", json={"Name": "mn-a"})
    host.api_ok("POST", "/networks/create", json={"Name": "mn-b"})
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "mn-a"},
            "NetworkingConfig": {"EndpointsConfig": {"mn-a": {}, "mn-b": {}}}}
    status, err = host.api("POST", "/v1.43/containers/create?name=mn43", json=body)
    assert (status, err) == (400, {"message": "Container cannot be created with multiple "
                                              "network endpoints: mn-a, mn-b"})
    assert host.api("GET", "/containers/mn43/json")[0] == 404
    host.api_ok("POST", "/v1.44/containers/create?name=mn44", json=body)
    assert set(host.inspect("mn44")["NetworkSettings"]["Networks"]) == {"mn-a", "mn-b"}
    host.api_ok("DELETE", "/containers/mn44?force=1")
    for n in ("mn-a", "mn-b"):
        host.api_ok("DELETE", f"/networks/{n}")


def test_network_list_shows_containers_before_1_28(host):
    host.api_ok("POST", "/networks/create", json={"Name": "lst"})
    cid = host.api_ok("POST", "/containers/create?name=lst1", json={
        "Image": "busybox", "Cmd": ["sleep", "600"], "HostConfig": {"NetworkMode": "lst"}})["Id"]
    host.api_ok("POST", "/containers/lst1/start")
    old = [n for n in host.api_ok("GET", "/v1.27/networks") if n["Name"] == "lst"][0]
    new = [n for n in host.api_ok("GET", "/v1.28/networks") if n["Name"] == "lst"][0]
    assert old["Containers"][cid]["Name"] == "lst1" and old["Containers"][cid]["IPv4Address"]
    assert new["Containers"] == {}
    host.api_ok("DELETE", "/containers/lst1?force=1")
    host.api_ok("DELETE", "/networks/lst")


def test_logs_content_type_by_version(host):
    """Without a TTY: raw-stream before 1.42, multiplexed-stream from 1.42 (dockerd);
    the frames are the same."""
    from integration.harness import UnixHTTPConnection
    host.api_ok("POST", "/containers/create?name=lg1",
                json={"Image": "busybox", "Cmd": ["echo", "hello"]})
    host.api_ok("POST", "/containers/lg1/start")
    host.api_ok("POST", "/containers/lg1/wait", ok=(200,))
    for v, ctype in (("1.41", "application/vnd.docker.raw-stream"),
                     ("1.42", "application/vnd.docker.multiplexed-stream"),
                     ("1.52", "application/vnd.docker.multiplexed-stream")):
        conn = UnixHTTPConnection(str(host.sock), timeout=30)
        conn.request("GET", f"/v{v}/containers/lg1/logs?stdout=1")
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        assert resp.status == 200 and resp.getheader("Content-Type") == ctype, (v, resp.getheaders())
        assert body == b"\x01\x00\x00\x00\x00\x00\x00\x06hello\n", body
    host.api_ok("DELETE", "/containers/lg1")


def test_enable_ipv4_ignored_before_1_48(host):
    """dockerd drops EnableIPv4 before 1.48: such a network still has IPv4."""
    body = {"Name": "v4off", "EnableIPv6": True, "EnableIPv4": False,
            "IPAM": {"Config": [{"Subnet": "fd00:47::/64"}]}}
    host.api_ok("POST", "/v1.47/networks/create", json=body)
    nw = host.api_ok("GET", "/v1.47/networks/v4off")
    assert nw["EnableIPv4"] is True and "Status" not in nw
    assert "Status" in host.api_ok("GET", "/v1.52/networks/v4off")
    host.api_ok("DELETE", "/networks/v4off")


def test_eth0_sysctl_migrated_before_1_48(host):
    """At 1.47 a top-level net.ipv4.conf.eth0.* sysctl becomes the endpoint's
    com.docker.network.endpoint.sysctls (dockerd's handleSysctlBC): it is set on the
    container's interface, and inspect shows where it went."""
    host.api_ok("POST", "/networks/create", json={"Name": "sysnet"})
    host.api_ok("POST", "/v1.47/containers/create?name=sys47", json={
        "Image": "busybox", "Cmd": ["sleep", "600"],
        "HostConfig": {"NetworkMode": "sysnet",
                       "Sysctls": {"net.ipv4.conf.eth0.log_martians": "1"}}})
    host.api_ok("POST", "/containers/sys47/start")
    r = host.exec("sys47", "cat", "/proc/sys/net/ipv4/conf/eth0/log_martians")
    assert r.stdout.strip() == "1", r.stdout + r.stderr
    info = host.inspect("sys47")
    assert "net.ipv4.conf.eth0.log_martians" not in (info["HostConfig"].get("Sysctls") or {})
    assert info["NetworkSettings"]["Networks"]["sysnet"]["DriverOpts"] == {
        "com.docker.network.endpoint.sysctls": "net.ipv4.conf.IFNAME.log_martians=1"}
    status, body = host.api("POST", "/v1.47/containers/create?name=sys47b", json={
        "Image": "busybox", "HostConfig": {"NetworkMode": "sysnet",
                                           "Sysctls": {"net.ipv4.conf.eth1.log_martians": "1"}}})
    assert status == 400 and "unable to determine network endpoint" in body["message"]
    assert host.api("GET", "/containers/sys47b/json")[0] == 404
    host.api_ok("DELETE", "/containers/sys47?force=1")
    host.api_ok("DELETE", "/networks/sysnet")


def test_event_shapes_by_version(host):
    """Before 1.52 container events carry status/id/from, at 1.52 not (dockerd)."""
    cid = host.api_ok("POST", "/containers/create?name=ev1",
                      json={"Image": "busybox", "Cmd": ["true"]})["Id"]
    until = int(time.time()) + 1
    for v, legacy in (("1.51", True), ("1.41", True), ("1.52", False)):
        status, text = host.api("GET", f"/v{v}/events?since=0&until={until}")
        assert status == 200, text
        msgs = [json.loads(line) for line in str(text).splitlines() if line.strip()]
        created = [m for m in msgs if m["Type"] == "container" and m["Actor"]["ID"] == cid]
        assert created, msgs
        for m in created:
            assert ("status" in m and "id" in m and "from" in m) == legacy, (v, m)
            if legacy:
                assert (m["status"], m["id"], m["from"]) == (m["Action"], cid, "busybox")
    host.api_ok("DELETE", "/containers/ev1")


SPECS = os.path.join(os.path.dirname(__file__), "..", "specs")


def _schema_errors(version: str, name: str, instance, array: bool = False) -> list[str]:
    """jsonschema errors of `instance` against the spec of `version`'s definition
    `name` (Swagger's x-nullable, and Go's null slices and maps, allowed)."""
    jsonschema = pytest.importorskip("jsonschema")
    yaml = pytest.importorskip("yaml")

    def nullable(node):
        if isinstance(node, dict):
            node = {k: nullable(v) for k, v in node.items()}
            if (node.get("x-nullable") or node.get("type") in ("array", "object")) \
                    and "type" in node and not isinstance(node["type"], list):
                node["type"] = [node["type"], "null"]
            return node
        return [nullable(x) for x in node] if isinstance(node, list) else node
    with open(os.path.join(SPECS, f"docker-engine-api-v{version}.yaml")) as f:
        defs = nullable(yaml.safe_load(f)["definitions"])
    ref = {"$ref": f"#/definitions/{name}"}
    schema = {"definitions": defs, **({"type": "array", "items": ref} if array else ref)}
    return [f"{'/'.join(map(str, e.path))}: {e.message[:160]}"
            for e in jsonschema.Draft7Validator(schema).iter_errors(instance)]


@pytest.mark.parametrize("version", ["1.50", "1.52"])
def test_shapes_match_each_versions_spec(host, version):
    """Inspect, list and network inspect at 1.50 and 1.52 against that version's spec."""
    tag = version.replace(".", "")
    host.api_ok("POST", "/networks/create", json={
        "Name": f"sch{tag}", "IPAM": {"Config": [{"Subnet": f"10.184.{tag[-1]}.0/24"}]}})
    host.api_ok("POST", f"/v{version}/containers/create?name=sch{tag}", json={
        "Image": "busybox", "Cmd": ["sleep", "600"], "HostConfig": {"NetworkMode": f"sch{tag}"},
        "NetworkingConfig": {"EndpointsConfig": {f"sch{tag}": {"Aliases": ["s"]}}}})
    host.api_ok("POST", f"/v{version}/containers/sch{tag}/start")
    checks = [("ContainerInspectResponse", f"/v{version}/containers/sch{tag}/json", False),
              ("ContainerSummary", f"/v{version}/containers/json", True),
              ("Network", f"/v{version}/networks/sch{tag}", False)]
    for name, path, array in checks:
        doc = host.api_ok("GET", path)
        assert not _schema_errors(version, name, doc, array), (path, _schema_errors(
            version, name, doc, array)[:5])
    summary = [c for c in host.api_ok("GET", f"/v{version}/containers/json")
               if c["Names"] == [f"/sch{tag}"]][0]
    assert ("Health" in summary) == (version == "1.52")
    if version == "1.52":
        assert summary["Health"] == {"Status": "none", "FailingStreak": 0}
    host.api_ok("DELETE", f"/containers/sch{tag}?force=1")
    host.api_ok("DELETE", f"/networks/sch{tag}")


def _sub(version: str) -> int:
    return VERSIONS.index(version)


@needs_cli
@pytest.mark.parametrize("version", VERSIONS)
def test_docker_cli_core_flow(host, cfgdir, version):
    """network create/connect/inspect, run, DNS + ping, exec, inspect shape, rm."""
    tag, n = version.replace(".", ""), _sub(version)

    def d(*args, **kw):
        return _docker(host, cfgdir, version, *args, **kw)
    front, back = f"cf{tag}", f"cb{tag}"
    d("network", "create", "--subnet", f"10.181.{n}.0/24", front)
    d("network", "create", "--subnet", f"10.182.{n}.0/24", back)
    d("run", "-d", "--name", f"web{tag}", "--network", front, "--network-alias", "www",
      "--ip", f"10.181.{n}.50", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
    d("run", "-d", "--name", f"cli{tag}", "--network", back, "busybox", "sleep", "600")
    d("network", "connect", "--alias", "api", front, f"cli{tag}")
    nw = json.loads(d("network", "inspect", front).stdout)[0]
    names = sorted(c["Name"] for c in nw["Containers"].values())
    assert names == [f"cli{tag}", f"web{tag}"], nw["Containers"]
    # the embedded DNS answers the alias, and the address answers a ping
    r = d("exec", f"cli{tag}", "nslookup", "www", check=False)
    assert f"10.181.{n}.50" in r.stdout, r.stdout + r.stderr
    r = d("exec", f"cli{tag}", "ping", "-c1", "-W3", "www", check=False)
    assert r.returncode == 0 and f"10.181.{n}.50" in r.stdout, r.stdout + r.stderr
    r = d("exec", f"cli{tag}", "wget", "-q", "-O-", "http://www/hostname", check=False)
    assert r.returncode == 0, r.stderr
    info = json.loads(d("inspect", f"cli{tag}").stdout)[0]
    assert set(info["NetworkSettings"]["Networks"]) == {front, back}
    assert info["NetworkSettings"]["Networks"][front]["IPAddress"].startswith(f"10.181.{n}.")
    assert ("IPAddress" in info["NetworkSettings"]) == (version != "1.52"), version
    # before 1.45 a user-defined network's Aliases carry the short id (and hostname)
    aliases = info["NetworkSettings"]["Networks"][front]["Aliases"]
    short = info["Id"][:12]
    assert aliases == (["api", short] if version < "1.45" else ["api"]), aliases
    listed = d("ps", "--format", "{{.Names}}").stdout.split()
    assert {f"cli{tag}", f"web{tag}"} <= set(listed)
    d("network", "disconnect", front, f"cli{tag}")
    assert d("exec", f"cli{tag}", "ping", "-c1", "-W1", f"10.181.{n}.50",
             check=False).returncode != 0
    d("rm", "-f", f"web{tag}", f"cli{tag}")
    d("network", "rm", front, back)
    assert host.api("GET", f"/networks/{front}")[0] == 404



@pytest.mark.parametrize("version", VERSIONS)
def test_dockerpy_core_flow(host, version):
    """The same flow through docker-py pinned to `version`."""
    tag, n = version.replace(".", ""), _sub(version)
    client = docker_py.DockerClient(base_url=host.host_uri, version=version, timeout=60)
    try:
        assert client.api.api_version == version
        ipam = docker_py.types.IPAMConfig(pool_configs=[docker_py.types.IPAMPool(
            subnet=f"10.183.{n}.0/24", gateway=f"10.183.{n}.1")])
        net = client.networks.create(f"pf{tag}", driver="bridge", ipam=ipam)
        other = client.networks.create(f"pb{tag}")
        web = client.containers.run("busybox", ["httpd", "-f", "-p", "80", "-h", "/etc"],
                                    name=f"pweb{tag}", network=net.name, detach=True)
        cli = client.containers.run("busybox", ["sleep", "600"], name=f"pcli{tag}",
                                    network=other.name, detach=True)
        net.connect(cli, aliases=["pyapi"])
        net.reload()
        assert {c.name for c in net.containers} == {f"pweb{tag}", f"pcli{tag}"}
        web.reload()
        ip = web.attrs["NetworkSettings"]["Networks"][net.name]["IPAddress"]
        assert ip.startswith(f"10.183.{n}.")
        code, out = cli.exec_run(["nslookup", f"pweb{tag}"])
        assert ip in out.decode(), out
        code, out = cli.exec_run(["ping", "-c1", "-W3", f"pweb{tag}"])
        assert code == 0 and ip in out.decode(), out
        code, out = web.exec_run(["ping", "-c1", "-W3", "pyapi"])
        assert code == 0, out
        cli.reload()
        assert ("IPAddress" in cli.attrs["NetworkSettings"]) == (version != "1.52")
        listed = client.containers.list(filters={"name": f"p{'cli'}{tag}"})
        assert [c.name for c in listed] == [f"pcli{tag}"]
        assert ("Health" in client.api.containers(filters={"name": f"pcli{tag}"})[0]) == \
            (version == "1.52")
        for c in (web, cli):
            c.remove(force=True)
        net.remove()
        other.remove()
        assert host.api("GET", f"/networks/pf{tag}")[0] == 404
    finally:
        client.close()
