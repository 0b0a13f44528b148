"""The rest of the container API the clients call (issue 16 item 6), through the
docker CLI and docker-py, each proved from inside a container: diff, export,
commit then run, history, MacAddress, system df, 501 for what is not served."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile

import pytest

pytestmark = pytest.mark.kernel
docker = pytest.importorskip("docker", reason="docker-py is not installed")
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


def cli(host, tmp, *args, check=True, input=None, env=None):
    e = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CONFIG=str(tmp),
             DOCKER_CLI_HINTS="false", **(env or {}))
    r = subprocess.run([DOCKER, *args], env=e, capture_output=True, input=input, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture(scope="module")
def client(host):
    cl = docker.DockerClient(base_url=host.host_uri, version="auto", timeout=120)
    yield cl
    cl.close()


def _ok(c, *cmd) -> str:
    code, out = c.exec_run(list(cmd))
    assert code == 0, (cmd, out)
    return out.decode()


def test_diff_shows_added_changed_deleted(host, client, tmp_path):
    c = client.containers.run("busybox", ["sleep", "600"], name="diff-1", detach=True)
    try:
        _ok(c, "sh", "-c", "mkdir -p /srv/new && echo x > /srv/new/f && echo y >> /etc/passwd"
                           " && rm /bin/vi")
        r = cli(host, tmp_path, "diff", "diff-1")
        lines = r.stdout.decode().splitlines()
        assert "A /srv" in lines and "A /srv/new" in lines and "A /srv/new/f" in lines, lines
        assert "C /etc" in lines and "C /etc/passwd" in lines, lines
        assert "D /bin/vi" in lines, lines
        assert not [x for x in lines if x.endswith(("/etc/hosts", "/etc/resolv.conf"))], lines
        got = {(d["Path"], d["Kind"]) for d in c.diff()}
        assert ("/bin/vi", 2) in got and ("/srv/new/f", 1) in got and ("/etc/passwd", 0) in got
        c.stop(timeout=1)   # a stopped container keeps its layer
        assert ("/bin/vi", 2) in {(d["Path"], d["Kind"]) for d in c.diff()}
    finally:
        c.remove(force=True)


def test_export_lists_the_rootfs(host, client, tmp_path):
    c = client.containers.run("busybox", ["sh", "-c", "echo exported > /marker; sleep 600"],
                              name="export-1", detach=True)
    try:
        _wait_file(c, "/marker")
        r = cli(host, tmp_path, "export", "export-1")
        with tarfile.open(fileobj=io.BytesIO(r.stdout)) as t:
            names = set(t.getnames())
            assert {"bin/sh", "etc/passwd", "marker"} <= names, sorted(names)[:20]
            assert t.extractfile("marker").read() == b"exported\n"
            assert t.getmember("bin/sh").isreg() or t.getmember("bin/sh").issym() or \
                t.getmember("bin/sh").islnk()
        out = tmp_path / "e.tar"
        cli(host, tmp_path, "export", "-o", str(out), "export-1")
        assert out.stat().st_size == len(r.stdout)
    finally:
        c.remove(force=True)


def _wait_file(c, path, tries=100):
    import time
    for _ in range(tries):
        if c.exec_run(["test", "-e", path])[0] == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} never appeared")


def test_commit_then_run_sees_the_file_and_history(host, client, tmp_path):
    c = client.containers.run("busybox", ["sleep", "600"], name="commit-1", detach=True,
                              environment={"FROM_CONTAINER": "1"})
    try:
        _ok(c, "sh", "-c", "echo committed > /root-file && rm /bin/vi")
        r = cli(host, tmp_path, "commit", "-m", "my message", "-a", "me <me@x>",
                "-c", "ENV COMMITTED=yes", "-c", 'CMD ["cat", "/root-file"]',
                "commit-1", "committed/img:v1")
        image_id = r.stdout.decode().strip()
        assert image_id.startswith("sha256:")
        out = cli(host, tmp_path, "run", "--rm", "committed/img:v1").stdout.decode()
        assert out == "committed\n"
        out = cli(host, tmp_path, "run", "--rm", "committed/img:v1", "sh", "-c",
                  "echo $COMMITTED $FROM_CONTAINER; test -e /bin/vi || echo no-vi").stdout
        assert out.decode().split() == ["yes", "1", "no-vi"]
        hist = client.api.history("committed/img:v1")
        base = client.api.history("busybox")
        assert len(hist) == len(base) + 1
        assert hist[0]["Id"] == image_id and hist[0]["Comment"] == "my message"
        assert hist[0]["Tags"] == ["committed/img:v1"]
        assert "sleep 600" in hist[0]["CreatedBy"]
        r = cli(host, tmp_path, "history", "--no-trunc", "--format", "{{.Comment}}",
                "committed/img:v1")
        assert r.stdout.decode().splitlines()[0] == "my message"
        # docker-py: commit with a config body and pause=False
        img = c.commit(repository="committed/py", tag="t", conf={"Cmd": ["cat", "/root-file"]},
                       pause=False)
        assert client.containers.run(img.id, remove=True) == b"committed\n"
        with pytest.raises(docker.errors.APIError) as e:
            client.api.commit("commit-1", repository="x", changes=["FROM busybox"])
        assert e.value.response.status_code == 400
    finally:
        c.remove(force=True)
        for ref in ("committed/img:v1", "committed/py:t"):
            try:
                client.images.remove(ref, force=True)
            except docker.errors.APIError:
                pass


def test_unimplemented_endpoints_are_501(host):
    for method, path in (("POST", "/build"), ("GET", "/plugins"), ("POST", "/session")):
        status, body = host.api(method, "/v1.50" + path)
        assert status == 501, (method, path, status, body)
        assert f"{method} {path} is not implemented by boxnet" in body["message"]
    status, _ = host.api("GET", "/v1.50/definitely/not/an/endpoint")
    assert status == 404


def test_system_df_and_container_sizes(host, client, tmp_path):
    vol = client.volumes.create("df-vol")
    c = client.containers.run("busybox", ["sleep", "600"], name="df-1", detach=True,
                              volumes={"df-vol": {"bind": "/data", "mode": "rw"}})
    try:
        _ok(c, "sh", "-c", "head -c 300000 /dev/zero > /big && head -c 5000 /dev/zero > /data/v")
        status, info = host.api("GET", "/v1.50/containers/df-1/json?size=1")
        assert status == 200, info
        assert 300000 <= info["SizeRw"] < 400000, info["SizeRw"]
        busybox = client.images.get("busybox")
        assert info["SizeRootFs"] == info["SizeRw"] + busybox.attrs["Size"]
        assert "SizeRw" not in client.api.inspect_container("df-1")
        ps = client.api.containers(filters={"name": "df-1"}, size=True)
        assert ps[0]["SizeRw"] == info["SizeRw"]
        df = client.df()
        mine = [x for x in df["Containers"] if x["Id"] == c.id][0]
        assert mine["SizeRw"] == info["SizeRw"] and mine["SizeRootFs"] == info["SizeRootFs"]
        bb = [i for i in df["Images"] if i["Id"] == busybox.id][0]
        assert bb["Containers"] >= 1
        v = [x for x in df["Volumes"] if x["Name"] == "df-vol"][0]
        assert v["UsageData"]["Size"] >= 5000 and v["UsageData"]["RefCount"] == 1
        assert df["BuildCache"] == [] and df["LayersSize"] >= busybox.attrs["Size"]
        out = cli(host, tmp_path, "system", "df", "--format", "{{json .}}").stdout.decode()
        rows = [json.loads(line) for line in out.splitlines()]
        assert {r["Type"] for r in rows} >= {"Images", "Containers", "Local Volumes"}, rows
        out = cli(host, tmp_path, "system", "df", "-v").stdout.decode()
        assert "df-1" in out and "df-vol" in out
        out = cli(host, tmp_path, "ps", "-s", "--filter", "name=df-1", "--format",
                  "{{.Size}}").stdout.decode()
        assert "kB" in out and "virtual" in out, out
    finally:
        c.remove(force=True)
        vol.remove()


def _mac_in(client, cid) -> str:
    c = client.containers.get(cid)
    return _ok(c, "cat", "/sys/class/net/eth0/address").strip()


def test_mac_address_by_api_version(host, tmp_path):
    """API 1.43: Config.MacAddress; 1.44+: EndpointSettings.MacAddress (the old one
    still migrated); the MAC seen inside the container."""
    old = docker.APIClient(base_url=host.host_uri, version="1.43", timeout=60)
    new = docker.APIClient(base_url=host.host_uri, version="1.44", timeout=60)
    hl = docker.DockerClient(base_url=host.host_uri, version="auto", timeout=60)
    net = hl.networks.create("mac-net")
    made = []
    try:
        c = old.create_container("busybox", ["sleep", "600"], mac_address="02:42:ac:11:00:aa")
        made.append(c["Id"])
        old.start(c["Id"])
        assert _mac_in(hl, c["Id"]) == "02:42:ac:11:00:aa"
        c = new.create_container(
            "busybox", ["sleep", "600"], host_config=new.create_host_config(network_mode="mac-net"),
            networking_config=new.create_networking_config({"mac-net": new.create_endpoint_config(
                mac_address="02:42:AC:11:00:BB")}))
        made.append(c["Id"])
        new.start(c["Id"])
        assert _mac_in(hl, c["Id"]) == "02:42:ac:11:00:bb"
        insp = new.inspect_container(c["Id"])
        assert insp["NetworkSettings"]["Networks"]["mac-net"]["MacAddress"] == "02:42:ac:11:00:bb"
        # 1.43 ignored the endpoint's field (it did not exist): a random MAC
        c = old.create_container(
            "busybox", ["sleep", "600"], host_config=old.create_host_config(network_mode="mac-net"),
            networking_config=old.create_networking_config({"mac-net": {
                "MacAddress": "02:42:ac:11:00:cc"}}))
        made.append(c["Id"])
        old.start(c["Id"])
        assert _mac_in(hl, c["Id"]) != "02:42:ac:11:00:cc"
        # the docker CLI (28 refuses --mac-address below API 1.44 itself), on a user
        # network and on the default bridge
        for netopt, mac in ((["--network", "mac-net"], "02:42:ac:11:00:dd"),
                            ([], "02:42:ac:11:00:ee")):
            r = cli(host, tmp_path, "run", "-d", *netopt, "--mac-address", mac,
                    "busybox", "sleep", "600")
            cid = r.stdout.decode().strip()
            made.append(cid)
            assert _mac_in(hl, cid) == mac, netopt
        for bad, client in (("02:42:ac:11:00", new), ("03:00:00:00:00:01", new)):
            with pytest.raises(docker.errors.APIError) as e:
                client.create_container("busybox", ["true"], mac_address=bad)
            assert e.value.response.status_code == 400 and "MAC" in str(e.value)
        with pytest.raises(docker.errors.APIError) as e:
            old.create_container("busybox", ["true"], mac_address="02:42:ac:11:00:01",
                                 host_config=old.create_host_config(network_mode="host"))
        assert "conflicting options: mac-address and the network mode" in str(e.value)
    finally:
        for cid in made:
            hl.api.remove_container(cid, force=True)
        net.remove()
        for cl in (old, new, hl):
            cl.close()


def test_commit_of_a_paused_container_keeps_it_paused(host, client, tmp_path):
    c = client.containers.run("busybox", ["sh", "-c", "echo p > /paused-file; sleep 600"],
                              name="commit-paused", detach=True)
    try:
        for _ in range(100):
            if c.exec_run(["test", "-e", "/paused-file"])[0] == 0:
                break
        c.pause()
        img = c.commit(repository="committed/paused")
        assert client.containers.get(c.id).attrs["State"]["Paused"] is True
        c.unpause()
        assert client.containers.run(img.id, ["cat", "/paused-file"], remove=True) == b"p\n"
        client.images.remove(img.id, force=True)
    finally:
        c.remove(force=True)
