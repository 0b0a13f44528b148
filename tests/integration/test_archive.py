"""`docker cp` both ways (HEAD/GET/PUT /containers/{id}/archive) through the real
docker CLI and docker-py, checked from inside the container and on the host;
crafted archives never write outside the container's root (issue 16 item 6,
"Bad input and safety")."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile

import pytest

from integration.harness import UnixHTTPConnection

pytestmark = pytest.mark.kernel
docker = pytest.importorskip("docker", reason="docker-py is not installed")
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


def cli(host, tmp, *args, check=True, input=None):
    env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CONFIG=str(tmp),
               DOCKER_CLI_HINTS="false")
    r = subprocess.run([DOCKER, *args], env=env, capture_output=True, input=input,
                       timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture(scope="module")
def client(host):
    cl = docker.DockerClient(base_url=host.host_uri, version="auto", timeout=120)
    yield cl
    cl.close()


def _tree(base):
    """A local tree with a file, an executable, a nested dir and two symlinks."""
    (base / "sub").mkdir(parents=True)
    (base / "hello.txt").write_text("hello from the host\n")
    (base / "run.sh").write_text("#!/bin/sh\necho ran\n")
    os.chmod(base / "run.sh", 0o750)
    (base / "sub" / "deep.txt").write_bytes(os.urandom(70_000))
    os.symlink("hello.txt", base / "rel-link")
    os.symlink("/etc/passwd", base / "abs-link")


def _exec(c, *cmd):
    code, out = c.exec_run(list(cmd))
    assert code == 0, (cmd, out)
    return out.decode()


def test_docker_cp_round_trips_a_tree_with_symlinks(host, client, tmp_path):
    src = tmp_path / "src"
    _tree(src)
    c = client.containers.run("busybox", ["sleep", "600"], name="cp-rt", detach=True)
    try:
        cli(host, tmp_path, "cp", str(src), "cp-rt:/tmp/tree")
        # seen from inside the container: content, mode, the links as links
        assert _exec(c, "cat", "/tmp/tree/hello.txt") == "hello from the host\n"
        assert _exec(c, "/tmp/tree/run.sh") == "ran\n"
        assert _exec(c, "stat", "-c", "%a", "/tmp/tree/run.sh").strip() == "750"
        assert _exec(c, "readlink", "/tmp/tree/rel-link").strip() == "hello.txt"
        assert _exec(c, "readlink", "/tmp/tree/abs-link").strip() == "/etc/passwd"
        assert _exec(c, "cat", "/tmp/tree/rel-link") == "hello from the host\n"
        # the container changes it, then it comes back out
        _exec(c, "sh", "-c", "echo changed > /tmp/tree/new.txt")
        out = tmp_path / "out"
        cli(host, tmp_path, "cp", "cp-rt:/tmp/tree", str(out))
        assert (out / "hello.txt").read_text() == "hello from the host\n"
        assert (out / "new.txt").read_text() == "changed\n"
        assert (out / "sub" / "deep.txt").read_bytes() == (src / "sub" / "deep.txt").read_bytes()
        assert os.stat(out / "run.sh").st_mode & 0o777 == 0o750
        assert os.readlink(out / "rel-link") == "hello.txt"
        assert os.readlink(out / "abs-link") == "/etc/passwd"
        # "/." copies the contents; a single file; to stdout as a tar
        cont = tmp_path / "contents"
        cont.mkdir()
        cli(host, tmp_path, "cp", "cp-rt:/tmp/tree/.", str(cont))
        assert (cont / "hello.txt").exists() and not (cont / "tree").exists()
        cli(host, tmp_path, "cp", "cp-rt:/tmp/tree/hello.txt", str(tmp_path / "one.txt"))
        assert (tmp_path / "one.txt").read_text() == "hello from the host\n"
        r = cli(host, tmp_path, "cp", "cp-rt:/tmp/tree/sub", "-")
        with tarfile.open(fileobj=io.BytesIO(r.stdout)) as t:
            assert sorted(t.getnames()) == ["sub", "sub/deep.txt"]
        # -L: the CLI follows the link with the stat's linkTarget, then copies the file
        cli(host, tmp_path, "cp", "-L", "cp-rt:/tmp/tree/rel-link", str(tmp_path / "followed"))
        assert not os.path.islink(tmp_path / "followed")
        assert (tmp_path / "followed").read_text() == "hello from the host\n"
        # a missing path is the CLI's "No such container:path"
        r = cli(host, tmp_path, "cp", "cp-rt:/nonexistent", str(tmp_path / "x"), check=False)
        assert r.returncode != 0 and b"Could not find the file /nonexistent" in r.stderr
    finally:
        c.remove(force=True)


def test_dockerpy_put_get_archive_and_stat(host, client, tmp_path):
    c = client.containers.run("busybox", ["sleep", "600"], name="cp-py", detach=True)
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            ti = tarfile.TarInfo("data/a.txt")
            ti.size, ti.mode, ti.uid, ti.gid = 5, 0o640, 1234, 99
            t.addfile(ti, io.BytesIO(b"abcde"))
            ti = tarfile.TarInfo("data/link")
            ti.type, ti.linkname = tarfile.SYMTYPE, "a.txt"
            t.addfile(ti)
        assert c.put_archive("/tmp", buf.getvalue()) is True
        assert _exec(c, "stat", "-c", "%a %u %g", "/tmp/data/a.txt").strip() == "640 1234 99"
        assert _exec(c, "cat", "/tmp/data/link") == "abcde"
        stream, st = c.get_archive("/tmp/data/a.txt")
        assert st["name"] == "a.txt" and st["size"] == 5 and st["mode"] == 0o640
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as t:
            assert t.extractfile("a.txt").read() == b"abcde"
        _, st = c.get_archive("/tmp/data/link")
        assert st["mode"] & (1 << 27) and st["linkTarget"] == "/tmp/data/a.txt"
        _, st = c.get_archive("/tmp/data")
        assert st["mode"] & (1 << 31)
        # HEAD: the stat header alone
        conn = UnixHTTPConnection(str(host.sock), timeout=30)
        try:
            conn.request("HEAD", f"/containers/{c.id}/archive?path=/tmp/data/a.txt")
            r = conn.getresponse()
            r.read()
        finally:
            conn.close()
        assert r.status == 200
        doc = json.loads(base64.b64decode(r.getheader("X-Docker-Container-Path-Stat")))
        assert doc["size"] == 5 and doc["name"] == "a.txt"
        with pytest.raises(docker.errors.NotFound):
            c.get_archive("/no/such")
        with pytest.raises(docker.errors.NotFound):
            c.put_archive("/no/such", buf.getvalue())
        with pytest.raises(docker.errors.APIError) as e:
            c.put_archive("/tmp/data/a.txt", buf.getvalue())
        assert e.value.response.status_code == 400
    finally:
        c.remove(force=True)


def _crafted() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        def add(name, data=b"x", kind=None, link=""):
            ti = tarfile.TarInfo(name)
            if kind:
                ti.type, ti.linkname = kind, link
            else:
                ti.size = len(data)
            t.addfile(ti, io.BytesIO(data) if not kind else None)
        add("/abs-member", b"abs")
        add("toroot", kind=tarfile.SYMTYPE, link="/")
        add("toroot/tmp/via-root-link", b"inside")
        add("chain1", kind=tarfile.SYMTYPE, link="/tmp/chain2")
        add("chain2", kind=tarfile.SYMTYPE, link="/tmp/../../../..")
        add("chain1/tmp/via-chain", b"inside too")
        add("../escaped-dotdot", b"never")
    return buf.getvalue()


def test_crafted_archive_stays_inside_the_root(host, client, tmp_path):
    """../x, /abs and a symlink to / then a member under it: nothing outside."""
    marker_dirs = ["/tmp", "/", "/var/tmp", str(tmp_path)]
    before = {d: set(os.listdir(d)) for d in marker_dirs}
    for state in ("running", "stopped"):
        c = client.containers.run("busybox", ["sleep", "600"], name=f"cp-evil-{state}",
                                  detach=True)
        try:
            if state == "stopped":
                c.stop(timeout=1)
            status, body = host.api("PUT", f"/containers/{c.id}/archive?path=/tmp",
                                    body=_crafted(), headers={"Content-Type": "application/x-tar"})
            assert status == 400, (status, body)
            assert "escaped-dotdot" in str(body) and "outside" in str(body), body
            if state == "stopped":
                c.start()
            assert _exec(c, "cat", "/tmp/abs-member") == "abs"
            assert _exec(c, "cat", "/tmp/via-root-link") == "inside"
            assert _exec(c, "cat", "/tmp/via-chain") == "inside too"
            assert _exec(c, "readlink", "/tmp/toroot").strip() == "/"
            code, _ = c.exec_run(["ls", "/escaped-dotdot"])
            assert code != 0
        finally:
            c.remove(force=True)
    for d in marker_dirs:
        assert not {"via-root-link", "via-chain", "escaped-dotdot", "abs-member"} & \
            (set(os.listdir(d)) - before[d]), d


def test_cp_into_created_and_stopped_containers(host, client, tmp_path):
    """`docker create`, `docker cp` in, `docker start`: the process sees the file;
    a stopped container's files come out too."""
    (tmp_path / "conf").write_text("setting=1\n")
    c = client.containers.create("busybox", ["cat", "/etc/app.conf"], name="cp-created")
    try:
        cli(host, tmp_path, "cp", str(tmp_path / "conf"), "cp-created:/etc/app.conf")
        c.start()
        assert c.wait(timeout=60)["StatusCode"] == 0
        assert c.logs() == b"setting=1\n"
        cli(host, tmp_path, "cp", "cp-created:/etc/app.conf", str(tmp_path / "back"))
        assert (tmp_path / "back").read_text() == "setting=1\n"
    finally:
        c.remove(force=True)


def test_cp_into_a_bind_of_a_stopped_container(host, client, tmp_path):
    vol = tmp_path / "bind"
    vol.mkdir()
    c = client.containers.create("busybox", ["cat", "/data/f"], name="cp-bind",
                                 volumes={str(vol): {"bind": "/data", "mode": "rw"}})
    try:
        (tmp_path / "f").write_text("via bind\n")
        cli(host, tmp_path, "cp", str(tmp_path / "f"), "cp-bind:/data/f")
        assert (vol / "f").read_text() == "via bind\n"
        c.start()
        assert c.wait(timeout=60)["StatusCode"] == 0 and c.logs() == b"via bind\n"
    finally:
        c.remove(force=True)


def test_get_archive_of_large_files_is_exact_on_one_keepalive_connection(client):
    """GET /archive writes large files with sendfile straight onto the client's
    socket (runtime/cpsend.py): files made inside the container, checksummed
    there, come out exact, three times over docker-py's kept-alive connection,
    and the connection still serves ordinary requests after."""
    c = client.containers.run("busybox", ["sleep", "600"], name="cp-big", detach=True)
    try:
        _exec(c, "sh", "-c", "mkdir /tmp/big && dd if=/dev/urandom of=/tmp/big/a bs=1024 "
              "count=1500 2>/dev/null && dd if=/dev/urandom of=/tmp/big/b bs=1 count=70001 "
              "2>/dev/null && echo small > /tmp/big/c")
        want = {line.split()[1].rsplit("/", 1)[1]: line.split()[0] for line in
                _exec(c, "md5sum", "/tmp/big/a", "/tmp/big/b", "/tmp/big/c").splitlines()}
        for _ in range(3):
            stream, st = c.get_archive("/tmp/big")
            assert st["name"] == "big"
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as t:
                got = {m.name.rsplit("/", 1)[1]: hashlib.md5(t.extractfile(m).read()).hexdigest()
                       for m in t if m.isreg()}
            assert got == want
            assert c.reload() is None and c.status == "running"
    finally:
        c.remove(force=True)
