"""Tests of the `boxnet` CLI against a fake Docker Engine API on a unix socket.

They check what a user and the daemon observe: request bodies built from flags,
table and template output, exit codes and error messages.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from boxnet.cli.formatting import human_duration, human_size, tabwrite
from boxnet.cli.gotemplate import render
from boxnet.cli.main import main
from fake_docker_api import FakeDocker, frame, stream_handler

V = "/v1.52"
NET_ID = "f" * 64
CID = "c0ffee" + "0" * 58


@pytest.fixture
def api(tmp_path, monkeypatch):
    sock = str(tmp_path / "d.sock")
    fake = FakeDocker(sock).start()
    monkeypatch.setenv("BOXNET_HOST", f"unix://{sock}")
    yield fake
    fake.stop()


def cli(capfd, *args, stdin=None, monkeypatch=None):
    """Run boxnet in-process; return (exit code, stdout, stderr)."""
    code = 0
    try:
        main(list(args))
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out, err = capfd.readouterr()
    return code, out, err


def net(name, **kw):
    d = {"Name": name, "Id": kw.pop("Id", NET_ID), "Created": "2025-01-02T03:04:05.123Z",
         "Scope": "local", "Driver": "bridge", "EnableIPv4": True, "EnableIPv6": False,
         "IPAM": {"Driver": "default", "Options": None,
                  "Config": [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]},
         "Internal": False, "Attachable": False, "Ingress": False, "Containers": {},
         "Options": {}, "Labels": {}}
    d.update(kw)
    return d


# ---- network -----------------------------------------------------------------

def test_network_create_body_pairs_subnets_and_prints_id(api, capfd):
    api.routes[("POST", V + "/networks/create")] = (201, {"Id": NET_ID, "Warning": ""})
    code, out, _ = cli(capfd, "network", "create", "--subnet", "10.1.0.0/24",
                       "--subnet", "10.2.0.0/24", "--gateway", "10.2.0.1",
                       "--gateway", "10.1.0.1", "--ip-range", "10.1.0.128/25",
                       "--aux-address", "a=10.1.0.5", "-o", "com.docker.network.bridge.name=br9",
                       "--label", "team=net", "--internal", "--attachable",
                       "--ipam-opt", "q=1", "--ipv6", "n1")
    assert code == 0 and out == NET_ID + "\n"
    body = api.find("POST", V + "/networks/create")[0][3]
    assert body["Name"] == "n1" and body["Driver"] == "bridge"
    assert body["IPAM"] == {"Driver": "default", "Options": {"q": "1"}, "Config": [
        {"Subnet": "10.1.0.0/24", "IPRange": "10.1.0.128/25", "Gateway": "10.1.0.1",
         "AuxiliaryAddresses": {"a": "10.1.0.5"}},
        {"Subnet": "10.2.0.0/24", "Gateway": "10.2.0.1"}]}
    assert body["Options"] == {"com.docker.network.bridge.name": "br9"}
    assert body["Labels"] == {"team": "net"}
    assert body["Internal"] is True and body["Attachable"] is True
    assert body["EnableIPv6"] is True and "EnableIPv4" not in body


def test_network_create_defaults_and_ipv4_false(api, capfd):
    api.routes[("POST", V + "/networks/create")] = (201, {"Id": NET_ID})
    assert cli(capfd, "network", "create", "--ipv4=false", "n2")[0] == 0
    body = api.find("POST", V + "/networks/create")[0][3]
    assert body["EnableIPv4"] is False and "EnableIPv6" not in body
    assert body["IPAM"] == {"Driver": "default", "Options": {}, "Config": []}


def test_network_create_gateway_without_subnet_fails_client_side(api, capfd):
    code, _, err = cli(capfd, "network", "create", "--gateway", "10.0.0.1", "n")
    assert code == 1 and "every ip-range or gateway must have a corresponding subnet" in err
    code, _, err = cli(capfd, "network", "create", "--subnet", "10.0.0.0/24",
                       "--gateway", "10.9.0.1", "n")
    assert code == 1 and "no matching subnet for gateway 10.9.0.1" in err
    assert api.requests == []


def test_network_create_bare_opt_is_empty_value_like_docker(api, capfd):
    api.routes[("POST", V + "/networks/create")] = (201, {"Id": NET_ID})
    assert cli(capfd, "network", "create", "-o", "novalue", "n")[0] == 0
    assert api.find("POST", V + "/networks/create")[0][3]["Options"] == {"novalue": ""}


def test_network_create_bad_ipam_value_fails(api, capfd):
    code, _, err = cli(capfd, "network", "create", "--subnet", "10.0.0.0/24", "--subnet",
                       "notacidr", "n")
    assert code == 1 and "invalid CIDR address" in err


def test_network_create_daemon_error(api, capfd):
    api.routes[("POST", V + "/networks/create")] = (409, {"message": "network with name n1 already exists"})
    code, out, err = cli(capfd, "network", "create", "n1")
    assert code == 1 and out == ""
    assert err == "Error response from daemon: network with name n1 already exists\n"


def test_network_ls_table_sorted_naturally(api, capfd):
    api.routes[("GET", V + "/networks")] = (200, [
        net("net10", Id="b" * 64), net("bridge", Id="a" * 64), net("net2", Id="c" * 64,
                                                                     Driver="macvlan")])
    code, out, _ = cli(capfd, "network", "ls")
    assert code == 0
    assert out.splitlines() == [
        "NETWORK ID     NAME      DRIVER    SCOPE",
        "aaaaaaaaaaaa   bridge    bridge    local",
        "cccccccccccc   net2      macvlan   local",
        "bbbbbbbbbbbb   net10     bridge    local"]


def test_network_ls_filters_quiet_format_json(api, capfd):
    api.routes[("GET", V + "/networks")] = (200, [net("n1", Labels={"a": "1"})])
    code, out, _ = cli(capfd, "network", "ls", "-f", "driver=bridge", "--filter", "name=n",
                       "-q", "--no-trunc")
    assert out == NET_ID + "\n"
    assert json.loads(api.requests[0][2]["filters"]) == {"driver": {"bridge": True},
                                                         "name": {"n": True}}
    _, out, _ = cli(capfd, "network", "ls", "--format", "{{.Name}}: {{.Driver}} {{.Label \"a\"}}")
    assert out == "n1: bridge 1\n"
    _, out, _ = cli(capfd, "network", "ls", "--format", "table {{.Name}}\\t{{.IPv6}}")
    assert out.splitlines() == ["NAME      IPV6", "n1        false"]
    _, out, _ = cli(capfd, "network", "ls", "--format", "json")
    row = json.loads(out)
    assert row["Name"] == "n1" and row["ID"] == NET_ID[:12] and row["Labels"] == "a=1"
    assert list(row) == sorted(row)


def test_network_inspect_json_layout_and_errors(api, capfd):
    api.routes[("GET", V + "/networks/n1")] = (200, net("n1"))
    api.routes[("GET", V + "/networks/nope")] = (404, {"message": "network nope not found"})
    code, out, err = cli(capfd, "network", "inspect", "n1", "nope")
    assert code == 1
    assert out.startswith('[\n    {\n        "Name": "n1",\n        "Id": "')
    assert json.loads(out)[0]["Name"] == "n1"
    assert err == "Error response from daemon: network nope not found\n"
    code, out, _ = cli(capfd, "network", "inspect", "-f", "{{.IPAM.Config}} {{json .Labels}}",
                       "n1")
    assert out == "[{172.18.0.0/16  172.18.0.1 map[]}] {}\n"
    code, out, _ = cli(capfd, "network", "inspect", "nope")
    assert code == 1 and out == "[]\n"


def test_network_rm_partial_failure(api, capfd):
    api.routes[("DELETE", V + "/networks/a")] = (204, None)
    api.routes[("DELETE", V + "/networks/b")] = (403, {"message": "error while removing network: network b has active endpoints"})
    code, out, err = cli(capfd, "network", "rm", "a", "b")
    assert code == 1 and out == "a\n"
    assert "Error response from daemon: error while removing network: network b has active endpoints" in err
    code, out, err = cli(capfd, "network", "rm", "-f", "gone")
    assert code == 0 and err == ""


def test_network_connect_disconnect_bodies(api, capfd):
    api.routes[("POST", V + "/networks/n1/connect")] = (200, None)
    api.routes[("POST", V + "/networks/n1/disconnect")] = (200, None)
    assert cli(capfd, "network", "connect", "--alias", "a1", "--alias", "a2,a3", "--ip",
               "10.1.0.9", "--driver-opt", "k=v", "n1", "web")[0] == 0
    body = api.find("POST", V + "/networks/n1/connect")[0][3]
    assert body["Container"] == "web"
    ep = body["EndpointConfig"]
    assert ep["Aliases"] == ["a1", "a2", "a3"] and ep["IPAMConfig"] == {"IPv4Address": "10.1.0.9"}
    assert ep["DriverOpts"] == {"k": "v"}
    assert cli(capfd, "network", "disconnect", "-f", "n1", "web")[0] == 0
    assert api.find("POST", V + "/networks/n1/disconnect")[0][3] == {"Container": "web",
                                                                      "Force": True}


def test_network_prune_prompt_and_output(api, capfd, monkeypatch):
    import io
    api.routes[("POST", V + "/networks/prune")] = (200, {"NetworksDeleted": ["n1", "n2"]})
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, out, _ = cli(capfd, "network", "prune")
    assert code == 0 and out.startswith("WARNING! This will remove all custom networks not "
                                        "used by at least one container.\nAre you sure you "
                                        "want to continue? [y/N] ")
    assert api.requests == []
    code, out, _ = cli(capfd, "network", "prune", "-f", "--filter", "label=x")
    assert out == "Deleted Networks:\nn1\nn2\n\n"
    assert json.loads(api.requests[0][2]["filters"]) == {"label": {"x": True}}


# ---- run -----------------------------------------------------------------------

def test_run_detached_body(api, capfd):
    api.routes[("POST", V + "/containers/create")] = (201, {"Id": CID, "Warnings": []})
    api.routes[("POST", V + f"/containers/{CID}/start")] = (204, None)
    code, out, err = cli(capfd, "run", "-d", "--name", "web", "--network", "n1",
                         "--network", "n2", "--network-alias", "w1", "--ip", "10.1.0.7",
                         "-p", "8080:80", "-p", "127.0.0.1:53:53/udp", "-p", "9000",
                         "-p", "[::1]:7000-7001:70-71", "--dns", "1.1.1.1",
                         "--dns-search", "ex.com", "--dns-option", "ndots:2",
                         "--add-host", "h1:1.2.3.4", "-h", "hn", "-e", "A=1",
                         "-v", "/tmp:/data:ro", "--restart", "on-failure:3",
                         "--entrypoint", "/bin/sh", "-w", "/w", "-l", "k=v",
                         "busybox", "-c", "echo hi")
    assert (code, out, err) == (0, CID + "\n", "")
    (_, _, query, body), = api.find("POST", V + "/containers/create")
    assert query == {"name": "web"}
    assert body["Image"] == "busybox" and body["Cmd"] == ["-c", "echo hi"]
    assert body["Entrypoint"] == ["/bin/sh"] and body["WorkingDir"] == "/w"
    assert body["Hostname"] == "hn" and body["Env"] == ["A=1"] and body["Labels"] == {"k": "v"}
    assert body["ExposedPorts"] == {"53/udp": {}, "70/tcp": {}, "71/tcp": {}, "80/tcp": {},
                                    "9000/tcp": {}}
    hc = body["HostConfig"]
    assert hc["PortBindings"] == {
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "53"}],
        "70/tcp": [{"HostIp": "::1", "HostPort": "7000"}],
        "71/tcp": [{"HostIp": "::1", "HostPort": "7001"}],
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
        "9000/tcp": [{"HostIp": "", "HostPort": ""}]}
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert hc["Dns"] == ["1.1.1.1"] and hc["DnsSearch"] == ["ex.com"]
    assert hc["DnsOptions"] == ["ndots:2"] and hc["ExtraHosts"] == ["h1:1.2.3.4"]
    assert hc["Binds"] == ["/tmp:/data:ro"] and hc["NetworkMode"] == "n1"
    assert hc["AutoRemove"] is False
    eps = body["NetworkingConfig"]["EndpointsConfig"]
    assert list(eps) == ["n1", "n2"]
    assert eps["n1"]["Aliases"] == ["w1"] and eps["n1"]["IPAMConfig"] == {"IPv4Address": "10.1.0.7"}
    assert eps["n2"]["Aliases"] is None and eps["n2"]["IPAMConfig"] is None
    assert body["AttachStdout"] is False
    assert [r[1] for r in api.requests] == [V + "/containers/create",
                                           V + f"/containers/{CID}/start"]


def test_run_default_network_and_host_mode(api, capfd):
    api.routes[("POST", V + "/containers/create")] = (201, {"Id": CID})
    api.routes[("POST", V + f"/containers/{CID}/start")] = (204, None)
    cli(capfd, "run", "-d", "busybox")
    cli(capfd, "run", "-d", "--net", "host", "busybox", "true")
    b1, b2 = [r[3] for r in api.find("POST", V + "/containers/create")]
    assert b1["HostConfig"]["NetworkMode"] == "default" and b1["Cmd"] is None
    assert list(b1["NetworkingConfig"]["EndpointsConfig"]) == ["default"]
    assert b2["HostConfig"]["NetworkMode"] == "host"
    assert b2["NetworkingConfig"]["EndpointsConfig"] == {}


@pytest.mark.parametrize("args,msg", [
    (["-p", "garbage"], "invalid containerPort: garbage"),
    (["-p", "80/xyz"], "invalid proto: xyz"),
    (["--restart", "on-failure:x"], "maximum retry count must be an integer"),
    (["--add-host", "bad"], 'bad format for add-host: "bad"'),
    (["--rm", "--restart", "always"], "conflicting options"),
])
def test_run_bad_flags_exit_125(api, capfd, args, msg):
    code, _, err = cli(capfd, "run", "-d", *args, "busybox")
    assert code == 125 and msg in err
    assert api.requests == []


def test_run_unknown_flag_is_usage_error_125(api, capfd):
    code, _, err = cli(capfd, "run", "--bogus", "busybox")
    assert code == 125 and "--bogus" in err


def test_run_missing_image(api, capfd):
    api.routes[("POST", V + "/containers/create")] = (404, {"message": "No such image: nope:latest"})
    code, out, err = cli(capfd, "run", "nope")
    assert code == 125 and out == ""
    assert err.startswith("Unable to find image 'nope:latest' locally\n")
    assert "Error response from daemon: No such image: nope:latest" in err


def test_run_foreground_streams_and_exits_with_status(api, capfd):
    """Without attach support the CLI follows the logs, then waits (--rm: removed)."""
    api.routes[("POST", V + "/containers/create")] = (201, {"Id": CID})
    api.routes[("POST", V + f"/containers/{CID}/start")] = (204, None)
    api.routes[("GET", V + f"/containers/{CID}/logs")] = stream_handler(
        frame(1, b"out line\n") + frame(2, b"err line\n"))
    api.routes[("POST", V + f"/containers/{CID}/wait")] = (200, {"StatusCode": 3})
    code, out, err = cli(capfd, "run", "--rm", "-e", "X=1", "busybox", "sh", "-c", "exit 3")
    assert (code, out, err) == (3, "out line\n", "err line\n")
    body = api.find("POST", V + "/containers/create")[0][3]
    assert body["AttachStdout"] and body["AttachStderr"] and body["HostConfig"]["AutoRemove"]
    assert api.find("POST", V + f"/containers/{CID}/wait")[0][2] == {"condition": "removed"}
    assert api.find("GET", V + f"/containers/{CID}/logs")[0][2]["follow"] == "1"


def test_run_foreground_uses_attach_stream(api, capfd):
    api.routes[("POST", V + "/containers/create")] = (201, {"Id": CID})
    api.routes[("POST", V + f"/containers/{CID}/start")] = (204, None)
    api.routes[("POST", V + f"/containers/{CID}/attach")] = stream_handler(frame(1, b"hi\n"))
    api.routes[("POST", V + f"/containers/{CID}/wait")] = (200, {"StatusCode": 0})
    code, out, _ = cli(capfd, "run", "busybox", "echo", "hi")
    assert (code, out) == (0, "hi\n")
    assert api.find("POST", V + f"/containers/{CID}/wait")[0][2] == {"condition": "next-exit"}
    assert not api.find("GET", V + f"/containers/{CID}/logs")


def test_run_start_failure_exit_127(api, capfd):
    api.routes[("POST", V + "/containers/create")] = (201, {"Id": CID})
    api.routes[("POST", V + f"/containers/{CID}/start")] = (
        400, {"message": 'exec: "nope": executable file not found in $PATH'})
    code, _, err = cli(capfd, "run", "-d", "busybox", "nope")
    assert code == 127 and "executable file not found" in err


# ---- exec / logs / lifecycle -------------------------------------------------

def test_exec_demuxes_and_exits_with_exit_code(api, capfd):
    api.routes[("POST", V + "/containers/web/exec")] = (201, {"Id": "e1"})
    api.routes[("POST", V + "/exec/e1/start")] = stream_handler(
        frame(1, b"hello ") + frame(2, b"oops\n") + frame(1, b"world\n"))
    api.routes[("GET", V + "/exec/e1/json")] = (200, {"ExitCode": 7, "Running": False})
    code, out, err = cli(capfd, "exec", "-e", "A=1", "-w", "/tmp", "web", "sh", "-c", "x")
    assert (code, out, err) == (7, "hello world\n", "oops\n")
    body = api.find("POST", V + "/containers/web/exec")[0][3]
    assert body["Cmd"] == ["sh", "-c", "x"] and body["Env"] == ["A=1"]
    assert body["WorkingDir"] == "/tmp" and body["AttachStdout"] and not body["Tty"]
    assert api.find("POST", V + "/exec/e1/start")[0][3] == {"Detach": False, "Tty": False}


def test_exec_missing_container(api, capfd):
    api.routes[("POST", V + "/containers/nope/exec")] = (404, {"message": "No such container: nope"})
    code, _, err = cli(capfd, "exec", "nope", "true")
    assert code == 1 and err == "Error response from daemon: No such container: nope\n"


def test_logs_tail_timestamps(api, capfd):
    api.routes[("GET", V + "/containers/web/json")] = (200, {"Id": CID, "Config": {"Tty": False}})
    api.routes[("GET", V + f"/containers/{CID}/logs")] = stream_handler(frame(1, b"a\n"))
    code, out, _ = cli(capfd, "logs", "--tail", "5", "-t", "web")
    assert (code, out) == (0, "a\n")
    q = api.find("GET", V + f"/containers/{CID}/logs")[0][2]
    assert q["tail"] == "5" and q["timestamps"] == "1" and "follow" not in q


def test_stop_kill_rm_wait(api, capfd):
    api.routes[("POST", V + "/containers/a/stop")] = (204, None)
    api.routes[("POST", V + "/containers/b/stop")] = (404, {"message": "No such container: b"})
    code, out, err = cli(capfd, "stop", "-t", "3", "a", "b")
    assert code == 1 and out == "a\n" and "No such container: b" in err
    assert api.find("POST", V + "/containers/a/stop")[0][2] == {"t": "3"}
    api.routes[("POST", V + "/containers/a/kill")] = (204, None)
    assert cli(capfd, "kill", "-s", "HUP", "a")[:2] == (0, "a\n")
    assert api.find("POST", V + "/containers/a/kill")[0][2] == {"signal": "HUP"}
    api.routes[("DELETE", V + "/containers/a")] = (204, None)
    assert cli(capfd, "rm", "-f", "a")[:2] == (0, "a\n")
    assert api.find("DELETE", V + "/containers/a")[0][2] == {"force": "1"}
    api.routes[("POST", V + "/containers/a/wait")] = (200, {"StatusCode": 42})
    assert cli(capfd, "wait", "a")[:2] == (0, "42\n")


def test_ps_table(api, capfd):
    now = int(time.time())
    api.routes[("GET", V + "/containers/json")] = (200, [{
        "Id": CID, "Names": ["/web"], "Image": "busybox", "Command": "sh -c 'sleep 1000; echo'",
        "Created": now - 130, "State": "running", "Status": "Up 2 minutes",
        "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                  {"PrivatePort": 53, "Type": "udp"}], "Labels": {}}])
    code, out, _ = cli(capfd, "ps", "-a")
    lines = out.splitlines()
    assert lines == [
        "CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS         "
        "PORTS                          NAMES",
        "c0ffee000000   busybox   \"sh -c 'sleep 1000; …\"   2 minutes ago   Up 2 minutes   "
        "53/udp, 0.0.0.0:8080->80/tcp   web"]
    assert api.requests[0][2] == {"all": "1"}
    _, out, _ = cli(capfd, "ps", "--format", "{{.Names}} {{.State}}")
    assert out == "web running\n"


def test_inspect_falls_back_from_container_to_network(api, capfd):
    api.routes[("GET", V + "/containers/n1/json")] = (404, {"message": "No such container: n1"})
    api.routes[("GET", V + "/images/n1/json")] = (404, {"message": "No such image: n1"})
    api.routes[("GET", V + "/networks/n1")] = (200, net("n1"))
    code, out, _ = cli(capfd, "inspect", "-f", "{{.Name}} {{.Driver}}", "n1")
    assert (code, out) == (0, "n1 bridge\n")
    code, out, err = cli(capfd, "inspect", "zz")
    assert code == 1 and out == "[]\n" and "No such object: zz" in err


# ---- images / system / errors ----------------------------------------------------

def test_images_table_and_import(api, capfd, tmp_path):
    api.routes[("GET", V + "/images/json")] = (200, [
        {"Id": "sha256:" + "ab" * 32, "RepoTags": ["busybox:latest", "bb:1"],
         "Created": int(time.time()) - 7200, "Size": 4260000}])
    code, out, _ = cli(capfd, "images")
    assert out.splitlines() == [
        "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE",
        "busybox      latest    abababababab   2 hours ago   4.26MB",
        "bb           1         abababababab   2 hours ago   4.26MB"]
    tar = tmp_path / "root.tar"
    tar.write_bytes(b"x" * 5000)
    api.routes[("POST", V + "/images/create")] = (200, {"status": "sha256:" + "cd" * 32})
    code, out, _ = cli(capfd, "image", "import", str(tar), "mine:v1")
    assert (code, out) == (0, "sha256:" + "cd" * 32 + "\n")
    _, _, q, body = api.find("POST", V + "/images/create")[0]
    assert q == {"fromSrc": "-", "repo": "mine:v1"} and body == b"x" * 5000


def test_version_and_info(api, capfd):
    api.routes[("GET", V + "/version")] = (200, {
        "Platform": {"Name": "boxnet"}, "Version": "0.1.0", "ApiVersion": "1.50",
        "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64",
        "Components": [{"Name": "Engine", "Version": "0.1.0",
                        "Details": {"ApiVersion": "1.50", "MinAPIVersion": "1.24",
                                    "Os": "linux", "Arch": "amd64"}}]})
    code, out, _ = cli(capfd, "version")
    assert code == 0 and out.startswith("Client:\n Version:           0.1.0\n")
    assert "\nServer: boxnet\n Engine:\n  Version:          0.1.0\n" in out
    assert "  API version:      1.50 (minimum version 1.24)\n" in out
    _, out, _ = cli(capfd, "version", "-f", "{{.Server.Version}}")
    assert out == "0.1.0\n"
    api.routes[("GET", V + "/info")] = (200, {"Containers": 2, "ContainersRunning": 1,
                                             "Name": "host1", "NCPU": 2})
    code, out, _ = cli(capfd, "info")
    assert code == 0 and " Containers: 2\n  Running: 1\n" in out and " Name: host1\n" in out
    _, out, _ = cli(capfd, "info", "--format", "{{.NCPU}}")
    assert out == "2\n"


def test_cannot_connect(tmp_path, capfd, monkeypatch):
    monkeypatch.delenv("BOXNET_HOST", raising=False)
    sock = tmp_path / "none.sock"
    code, _, err = cli(capfd, "-H", f"unix://{sock}", "network", "ls")
    assert code == 1
    assert err == (f"Cannot connect to the boxnet daemon at unix://{sock}. "
                   "Is the boxnet daemon running?\n")


# ---- formatting units ------------------------------------------------------------

def test_template_subset():
    data = {"Name": "n", "Labels": {"b": "2", "a": "1"}, "List": ["x", "y"], "Empty": [],
            "IPAM": {"Config": [{"Subnet": "10.0.0.0/24"}]}}
    assert render("{{.Name}}", data) == "n"
    assert render("{{json .}}", {"a": "<b>"}) == '{"a":"<b>"}'
    assert render("{{json .Labels}}", data) == '{"b":"2","a":"1"}'
    assert render("{{.Labels}}", data) == "map[a:1 b:2]"
    assert render("{{range .List}}[{{.}}]{{end}}", data) == "[x][y]"
    assert render("{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}", data) == "a=1;b=2;"
    assert render("{{range .Empty}}x{{else}}none{{end}}", data) == "none"
    assert render("{{if .Empty}}y{{else}}n{{end}}", data) == "n"
    assert render("{{range .IPAM.Config}}{{.Subnet}}{{end}}", data) == "10.0.0.0/24"
    assert render('{{index .Labels "a"}} {{join .List ","}} {{upper .Name}}', data) == "1 x,y N"
    assert render("{{.Name | printf \"%s!\"}}", data) == "n!"
    assert render("{{len .List}}", data) == "2"


def test_tabwriter_and_units():
    assert tabwrite("A\tBB\tC\nlonger-cell\tx\ty\n") == "A             BB        C\nlonger-cell   x         y\n"
    assert human_duration(0.5) == "Less than a second"
    assert human_duration(59) == "59 seconds"
    assert human_duration(61) == "About a minute"
    assert human_duration(3 * 3600) == "3 hours"
    assert human_size(4260000) == "4.26MB" and human_size(512) == "512B"


# ---- hijacked streams with a real 101 upgrade and stdin ---------------------------

class _RawDaemon:
    """A tiny raw-socket HTTP server: exec create/json as JSON, exec start upgraded
    with 101 like dockerd; the started exec echoes stdin back as stdout frames."""

    def __init__(self, path):
        import socketserver
        import threading
        outer = self
        self.seen = []

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                line = self.rfile.readline().decode()
                headers = {}
                while True:
                    h = self.rfile.readline().decode().strip()
                    if not h:
                        break
                    k, _, v = h.partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = self.rfile.read(int(headers.get("content-length", 0)))
                method, target, _ = line.split(" ", 2)
                outer.seen.append((method, target, headers, body))
                if target.endswith("/start"):
                    self.wfile.write(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/"
                                     b"vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\n"
                                     b"Upgrade: tcp\r\n\r\n")
                    data = b""
                    while True:
                        chunk = self.request.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    self.wfile.write(frame(1, data.upper()) + frame(2, b"done\n"))
                    return
                payload = b'{"Id": "e9"}' if target.endswith("/exec") else b'{"ExitCode": 5}'
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload))

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self.server = Server(path, Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_exec_interactive_over_101_upgrade(tmp_path, capfd, monkeypatch):
    import io
    sock = str(tmp_path / "raw.sock")
    d = _RawDaemon(sock)
    try:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"abc\n")))
        code, out, err = cli(capfd, "-H", f"unix://{sock}", "exec", "-i", "web", "cat")
    finally:
        d.stop()
    assert (code, out, err) == (5, "ABC\n", "done\n")
    start = [s for s in d.seen if s[1].endswith("/start")][0]
    assert start[2]["upgrade"] == "tcp" and start[2]["connection"] == "Upgrade"
    assert json.loads(start[3]) == {"Detach": False, "Tty": False}
    create = [s for s in d.seen if s[1].endswith("/exec")][0]
    assert json.loads(create[3])["AttachStdin"] is True
