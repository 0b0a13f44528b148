"""Users are honoured, never silently root (issue 14 item 11), seen by `id` inside
the containers: the image's USER, --user uid[:gid] and name[:group] resolved from
the container's own /etc/passwd and /etc/group, --group-add, HOME from passwd,
`exec -u`, and Docker's error for an unknown name.  Through the boxnet CLI, the
real docker CLI, docker-py and compose.  A non-root user holds no effective
capability (it cannot read a root-only file), as with Docker."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import textwrap
import time

import pytest

from integration.imagetars import BUSYBOX, _add, _sha

pytestmark = pytest.mark.kernel
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
IMAGE = "users/app:1"
PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "app:x:1000:1000:App:/home/app:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
GROUP = "root:x:0:\nwheel:x:10:root,app\nstaff:x:50:app\napp:x:1000:\nnogroup:x:65534:\n"
ROOT_CAPS = "00000000a80425fb"   # Docker's default set, as CapEff shows it
# One line each: uid, gid, every group (id -G), HOME, effective capabilities.
IDS = "id -u; id -g; id -G; echo $HOME; grep CapEff /proc/self/status | cut -f2"


def user_image(path: str) -> None:
    """A one-layer docker-archive: busybox, its own /etc/passwd and /etc/group, a
    root-only /secret, and `USER app` in its config."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        for d in ("bin", "etc", "home", "tmp"):
            _add(t, d, kind="dir")
        with open(BUSYBOX, "rb") as f:
            _add(t, "bin/busybox", f.read(), mode=0o755)
        for app in ("sh", "id", "cat", "grep", "cut", "echo", "sleep", "env", "touch"):
            _add(t, f"bin/{app}", kind="sym", target="busybox")
        _add(t, "etc/passwd", PASSWD.encode())
        _add(t, "etc/group", GROUP.encode())
        _add(t, "secret", b"root only\n", mode=0o600)
    data = layer.getvalue()
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "config": {"Cmd": ["sh", "-c", IDS], "User": "app", "Env": ["PATH=/bin"]},
                      "rootfs": {"type": "layers", "diff_ids": [f"sha256:{_sha(data)}"]}}).encode()
    with tarfile.open(path, "w") as t:
        _add(t, "l0", kind="dir")
        _add(t, "l0/layer.tar", data)
        _add(t, f"{_sha(cfg)}.json", cfg)
        _add(t, "manifest.json", json.dumps([{"Config": f"{_sha(cfg)}.json",
                                              "RepoTags": [IMAGE], "Layers": ["l0/layer.tar"]}]).encode())


@pytest.fixture(scope="module")
def img(host, tmp_path_factory):
    """users/app:1 loaded into the module's daemon."""
    path = tmp_path_factory.mktemp("users") / "app.tar"
    user_image(str(path))
    status, reply = host.api("POST", "/images/load", body=path.read_bytes())
    assert status == 200, reply
    return IMAGE


def ids(out: str) -> tuple[int, int, set[int], str, str]:
    """(uid, gid, groups, HOME, CapEff) from the IDS lines."""
    uid, gid, groups, home, caps = out.strip().splitlines()
    return int(uid), int(gid), {int(g) for g in groups.split()}, home, caps


def gone(check, timeout: float = 5.0) -> bool:
    """Poll `check` until true: a veth whose peer's netns was deleted vanishes a
    little later (the kernel cleans namespaces up asynchronously)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def run_ids(host, *args: str) -> tuple[int, int, set[int], str, str]:
    r = host.cli("run", "--rm", *args, "sh", "-c", IDS, check=False)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return ids(r.stdout)


def test_image_user_is_honoured(host, img):
    """USER app of the image: uid/gid and supplementary groups from its files,
    HOME from passwd, no effective capability, a root-only file unreadable."""
    r = host.cli("run", "--name", "img-user", img, check=False)   # the image's own Cmd
    assert ids(r.stdout) == (1000, 1000, {1000, 10, 50}, "/home/app", "0000000000000000"), r
    assert host.inspect("img-user")["Config"]["User"] == "app"   # merged at create, as dockerd
    host.cli("rm", "img-user")
    r = host.cli("run", "--rm", img, "cat", "/secret", check=False)
    assert r.returncode != 0 and "Permission denied" in r.stderr, (r.stdout, r.stderr)
    assert run_ids(host, "--user", "root", img) == (0, 0, {0, 10}, "/root", ROOT_CAPS)
    r = host.cli("run", "--rm", "--user", "root", img, "cat", "/secret", check=False)
    assert r.stdout == "root only\n", r


def test_numeric_user_and_group(host):
    """--user 1000:1000 without a passwd entry: those ids, no other group, HOME /."""
    assert run_ids(host, "--user", "1000:1000", "busybox") == \
        (1000, 1000, {1000}, "/", "0000000000000000")
    assert run_ids(host, "--user", "4242", "busybox")[:3] == (4242, 0, {0})


def test_named_user_and_group(host, img):
    """--user nobody (busybox's passwd) and --user app:staff (an explicit group:
    no supplementary groups, as Docker)."""
    assert run_ids(host, "--user", "nobody", "busybox")[:4] == \
        (65534, 65534, {65534}, "/nonexistent")
    assert run_ids(host, "--user", "app:staff", img)[:3] == (1000, 50, {50})
    assert run_ids(host, "--user", "1000:wheel", img)[:3] == (1000, 10, {10})


def test_group_add(host, img):
    """--group-add by name (from the container's /etc/group) and by number."""
    assert run_ids(host, "--group-add", "nogroup", "--group-add", "4242", img)[:3] == \
        (1000, 1000, {1000, 10, 50, 65534, 4242})
    assert run_ids(host, "--user", "7:7", "--group-add", "staff", img)[:3] == (7, 7, {7, 50})


def test_unknown_user_is_a_clear_error(host, img):
    """A name not in passwd (or a group not in group) fails at start with Docker's
    message; the container does not run and keeps no network state."""
    for args, msg in ((["--user", "xyz", "busybox"],
                       "unable to find user xyz: no matching entries in passwd file"),
                      (["--user", "app:nogrp", img], "unable to find group nogrp"),
                      (["--group-add", "nogrp", img], "unable to find group nogrp")):
        r = host.cli("run", "--name", "bad-user", *args, "id", check=False)
        assert r.returncode == 125 and msg in r.stderr, (r.stdout, r.stderr)
        info = host.inspect("bad-user")
        assert not info["State"]["Running"] and msg in info["State"]["Error"], info["State"]
        assert gone(lambda: "veth" not in host.sh(["ip", "-o", "link"]).stdout), \
            "the failed start left its veth behind"
        host.cli("rm", "-f", "bad-user")
    r = host.cli("run", "--rm", "--user", "a:b:c", "busybox", "id", check=False)
    assert r.returncode == 125 and "invalid user 'a:b:c'" in r.stderr, r.stderr


def test_exec_user(host, img):
    """exec -u runs as that user (and exec without -u as the container's user),
    with no effective capability unless root; an unknown name is Docker's error."""
    host.cli("run", "-d", "--name", "ex-root", "busybox", "sleep", "600")
    host.cli("run", "-d", "--name", "ex-app", img, "sleep", "600")
    try:
        r = host.cli("exec", "-u", "nobody", "ex-root", "sh", "-c", IDS, check=False)
        assert ids(r.stdout) == (65534, 65534, {65534}, "/nonexistent", "0000000000000000"), r
        r = host.cli("exec", "-u", "1000:1000", "ex-root", "sh", "-c", IDS, check=False)
        assert ids(r.stdout)[:3] == (1000, 1000, {1000}), r
        r = host.cli("exec", "ex-root", "sh", "-c", IDS, check=False)
        assert ids(r.stdout)[:2] == (0, 0) and ids(r.stdout)[4] == ROOT_CAPS, r
        r = host.cli("exec", "ex-app", "sh", "-c", IDS, check=False)
        assert ids(r.stdout)[:4] == (1000, 1000, {1000, 10, 50}, "/home/app"), r
        r = host.cli("exec", "-u", "0", "ex-app", "cat", "/secret", check=False)
        assert r.stdout == "root only\n", r
        r = host.cli("exec", "-u", "xyz", "ex-root", "id", check=False)
        assert r.returncode != 0 and \
            "unable to find user xyz: no matching entries in passwd file" in r.stderr, r
        status, body = host.api("POST", "/containers/ex-root/exec",
                                json={"Cmd": ["id"], "User": "x:y:z"})
        assert status == 400 and "invalid user" in body["message"], body
        with open("/proc/self/status") as f:   # exec --privileged: every capability boxnetd has
            held = next(line.split()[1] for line in f if line.startswith("CapBnd:"))
        r = host.cli("exec", "--privileged", "ex-root", "sh", "-c", IDS, check=False)
        assert ids(r.stdout)[4] == held != ROOT_CAPS, r
        r = host.cli("exec", "--privileged", "ex-app", "grep", "-E", "CapEff|CapBnd",
                     "/proc/self/status", check=False)   # a non-root user: bounding only
        assert r.stdout.split() == ["CapEff:", "0000000000000000", "CapBnd:", held], r
    finally:
        host.cli("rm", "-f", "ex-root", "ex-app")


def docker(host, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CONFIG=str(tmp_path),
               DOCKER_CLI_HINTS="false")
    return subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.skipif(not os.access(DOCKER, os.X_OK), reason=f"no docker CLI at {DOCKER}")
def test_docker_cli_users(host, img, tmp_path):
    """The real docker CLI: --user, --group-add, exec -u and the unknown-user error."""
    r = docker(host, tmp_path, "run", "--rm", "--user", "1000:1000", "--group-add", "4242",
               "busybox", "sh", "-c", IDS)
    assert ids(r.stdout)[:3] == (1000, 1000, {1000, 4242}), (r.stdout, r.stderr)
    r = docker(host, tmp_path, "run", "--rm", "--user", "app:staff", img, "sh", "-c", IDS)
    assert ids(r.stdout)[:3] == (1000, 50, {50}), (r.stdout, r.stderr)
    r = docker(host, tmp_path, "run", "--rm", "--user", "xyz", "busybox", "id")
    assert r.returncode != 0 and "unable to find user xyz" in r.stderr, r.stderr
    assert docker(host, tmp_path, "run", "-d", "--name", "dk-ex", "busybox", "sleep",
                  "600").returncode == 0
    try:
        r = docker(host, tmp_path, "exec", "-u", "nobody", "dk-ex", "sh", "-c", IDS)
        assert ids(r.stdout)[:4] == (65534, 65534, {65534}, "/nonexistent"), (r.stdout, r.stderr)
        r = docker(host, tmp_path, "exec", "-u", "nobody", "dk-ex", "touch", "/root/x")
        assert r.returncode != 0 and "Permission denied" in r.stderr, (r.stdout, r.stderr)
        r = docker(host, tmp_path, "exec", "dk-ex", "touch", "/root/x")
        assert r.returncode == 0, r.stderr
        env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CONFIG=str(tmp_path),
                   DOCKER_CLI_HINTS="false")
        r = subprocess.run(["script", "-qec", f"{DOCKER} exec -it -u nobody dk-ex sh",
                            "/dev/null"], env=env, input="tty; id -u; exit 3\n",
                           capture_output=True, text=True, timeout=30)
        assert "/dev/pts/" in r.stdout and "65534" in r.stdout.split(), r.stdout
        assert r.returncode == 3, r
        r = docker(host, tmp_path, "exec", "-u", "xyz", "dk-ex", "id")
        assert r.returncode != 0 and "unable to find user xyz" in r.stderr, r.stderr
        r = docker(host, tmp_path, "info", "--format", "{{json .SecurityOptions}}")
        assert json.loads(r.stdout) == ["name=seccomp,profile=builtin"], r.stdout
    finally:
        docker(host, tmp_path, "rm", "-f", "dk-ex")


def test_dockerpy_users(host, img):
    """docker-py: containers.run(user=, group_add=) and exec_run(user=)."""
    docker_py = pytest.importorskip("docker")
    cl = docker_py.DockerClient(base_url=host.host_uri, version="auto", timeout=60)
    try:
        out = cl.containers.run("busybox", ["sh", "-c", IDS], user="nobody",
                                group_add=["4242"], remove=True)
        assert ids(out.decode())[:3] == (65534, 65534, {65534, 4242})
        c = cl.containers.run(img, ["sleep", "600"], detach=True, name="py-ex")
        try:
            code, out = c.exec_run(["sh", "-c", IDS], user="nobody")
            assert code == 0 and ids(out.decode())[:2] == (65534, 65534)
            code, out = c.exec_run(["sh", "-c", IDS])
            assert ids(out.decode())[:3] == (1000, 1000, {1000, 10, 50})
            assert cl.api.exec_inspect(cl.api.exec_create(c.id, "id", user="app:staff")["Id"])[
                "ProcessConfig"]["user"] == "app:staff"
        finally:
            c.remove(force=True)
    finally:
        cl.close()


def test_compose_user_and_group_add(host, img, tmp_path):
    """compose `user:` and `group_add:` reach the container (they used to be dropped)."""
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(f"""
        services:
          app:
            image: {img}
            user: "app:staff"
            group_add: [nogroup, 4242]
            command: ["sleep", "600"]
    """))
    args = ("compose", "-f", str(tmp_path / "compose.yaml"), "-p", "usr")
    host.cli(*args, "up", "-d", timeout=90)
    try:
        r = host.exec("usr-app-1", "sh", "-c", IDS)
        assert ids(r.stdout)[:3] == (1000, 50, {50, 65534, 4242}), (r.stdout, r.stderr)
    finally:
        host.cli(*args, "down", "-t", "1", timeout=90)
