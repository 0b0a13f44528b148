"""Seccomp and no-new-privileges (issue 14 item 12), seen from inside containers:
the default profile makes the calls Docker blocks fail with EPERM (on the x86_64
table and on the i386 one, entered with `int 0x80`), sockets of AF_ALG and
AF_VSOCK too, while threads (clone3 -> ENOSYS -> clone) and chroot (the
container holds CAP_SYS_CHROOT) work; `seccomp=unconfined` makes the same calls
succeed or fail differently; a profile file blocks what it says; no-new-privileges
shows in /proc/self/status, for execs too.  Through the boxnet CLI, the real
docker CLI, docker-py and compose; what boxnet cannot honour is a 400."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap

import pytest

pytestmark = pytest.mark.kernel
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"

# Each call with arguments the kernel itself refuses with a known error (EINVAL,
# EFAULT...) when seccomp lets it through, so EPERM can only come from the filter.
PROBE = r'''
import ctypes, errno, json, mmap, socket, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def name(e):
    return errno.errorcode.get(e, str(e))
def sc(nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return "ok" if r >= 0 else name(ctypes.get_errno())
out = {"keyctl": sc(250, 9999), "add_key": sc(248, 0, 0, 0, 0, 0),
       "request_key": sc(249, 0, 0, 0, 0), "userfaultfd": sc(323, 0xfffff),
       "bpf": sc(321, 9999, 0, 0), "perf_event_open": sc(298, 0, 0, -1, -1, 0),
       "io_uring_setup": sc(425, 0, 0), "setns": sc(308, -1, 0), "getpid": sc(39),
       "personality_query": sc(135, 0xffffffff)}
for key, family, kind in (("af_alg", 38, socket.SOCK_SEQPACKET), ("af_vsock", 40, 1),
                          ("af_inet", 2, 1)):
    try:
        socket.socket(family, kind).close()
        out[key] = "ok"
    except OSError as e:
        out[key] = name(e.errno)
# The i386 table through int 0x80 from this 64-bit process (seccomp sees
# AUDIT_ARCH_I386): mov eax/ebx/ecx/edx, imm32; int 0x80; ret.
buf = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
def sc32(nr, a=0, b=0, c=0):
    code = b"".join(op + struct.pack("<I", v & 0xffffffff) for op, v in
                    ((b"\xb8", nr), (b"\xbb", a), (b"\xb9", b), (b"\xba", c))) + b"\xcd\x80\xc3"
    buf.seek(0)
    buf.write(code)
    r = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(buf)))()
    return "ok" if r >= 0 else name(-r)
out["i386_getpid"] = sc32(20)
out["i386_keyctl"] = sc32(288, 9999)
out["i386_socket_vsock"] = sc32(359, 40, 1, 0)   # socket(2) of the i386 table, AF_VSOCK
out["personality_bsd"] = sc(135, 6)
sc(135, 0)
out["unshare_user"] = sc(272, 0x10000000)   # last: it moves this process to a new user ns
print(json.dumps(out))
'''
BLOCKED = ["keyctl", "add_key", "request_key", "userfaultfd", "bpf", "perf_event_open",
           "io_uring_setup", "setns", "af_alg", "af_vsock", "i386_keyctl", "i386_socket_vsock",
           "personality_bsd", "unshare_user"]
ALLOWED = ["getpid", "personality_query", "af_inet", "i386_getpid"]
THREAD = ("import os, threading; t = threading.Thread(target=print, args=('thread ok',)); "
          "t.start(); t.join(); os.chroot('/'); print('chroot ok')")
MKDIR_DENIED = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}


def probe(host, *opts: str) -> dict:
    r = host.cli("run", "--rm", *opts, "boxnet/host", "python3", "-c", PROBE, check=False)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return json.loads(r.stdout)


def test_default_profile_blocks_with_eperm(host):
    """Docker's blocked calls, io_uring, AF_ALG/AF_VSOCK sockets and the i386
    keyctl fail with EPERM; ordinary calls (both tables) work."""
    got = probe(host)
    assert {k: got[k] for k in BLOCKED} == {k: "EPERM" for k in BLOCKED}, got
    assert {k: got[k] for k in ALLOWED} == {k: "ok" for k in ALLOWED}, got


def test_unconfined_changes_the_answers(host):
    """seccomp=unconfined: the same calls reach the kernel (it answers them itself)."""
    got = probe(host, "--security-opt", "seccomp=unconfined")
    wrong = {k: got[k] for k in BLOCKED if got[k] == "EPERM"}
    assert not wrong, f"still EPERM without seccomp: {wrong} ({got})"
    assert got["unshare_user"] == "ok" and got["keyctl"] in ("EOPNOTSUPP", "ENOTSUP"), got


def test_threads_and_chroot_work(host):
    """clone3 is ENOSYS (glibc falls back to clone, filtered by flags) so threads
    start; chroot is allowed because the container holds CAP_SYS_CHROOT."""
    r = host.cli("run", "--rm", "boxnet/host", "python3", "-c", THREAD, check=False)
    assert r.stdout.split() == ["thread", "ok", "chroot", "ok"], (r.stdout, r.stderr)
    r = host.cli("run", "--rm", "busybox", "sh", "-c",
                 "grep Seccomp: /proc/self/status; unshare -U true", check=False)
    assert "Seccomp:\t2" in r.stdout and r.returncode != 0, (r.stdout, r.stderr)
    assert "Operation not permitted" in r.stderr, r.stderr


def test_profile_file_blocks_what_it_says(host, tmp_path):
    """--security-opt seccomp=FILE (the CLI sends the file's JSON): mkdir gets
    the profile's errno (EACCES), what the profile allows works."""
    prof = tmp_path / "nomkdir.json"
    prof.write_text(json.dumps(MKDIR_DENIED))
    r = host.cli("run", "--rm", "--security-opt", f"seccomp={prof}", "busybox", "sh", "-c",
                 "touch /tmp/f && echo touched; mkdir /tmp/d", check=False)
    assert r.stdout.strip() == "touched" and "Permission denied" in r.stderr, (r.stdout, r.stderr)
    r = host.cli("run", "--rm", "busybox", "mkdir", "/tmp/d", check=False)
    assert r.returncode == 0, r.stderr


def test_no_new_privileges(host):
    """no-new-privileges sets NoNewPrivs for the container and its execs; the
    default leaves it 0; exec runs under the container's seccomp filter."""
    r = host.cli("run", "--rm", "busybox", "grep", "NoNewPrivs", "/proc/self/status")
    assert r.stdout.split() == ["NoNewPrivs:", "0"]
    for opt in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"):
        r = host.cli("run", "--rm", "--security-opt", opt, "busybox", "grep", "NoNewPrivs",
                     "/proc/self/status")
        assert r.stdout.split() == ["NoNewPrivs:", "1"], (opt, r.stdout)
    host.cli("run", "-d", "--name", "nnp", "--security-opt", "no-new-privileges",
             "busybox", "sleep", "600")
    try:
        for user in ([], ["-u", "nobody"]):
            r = host.cli("exec", *user, "nnp", "grep", "-E", "NoNewPrivs|Seccomp:",
                         "/proc/self/status")
            assert r.stdout.split() == ["NoNewPrivs:", "1", "Seccomp:", "2"], (user, r.stdout)
    finally:
        host.cli("rm", "-f", "nnp")


@pytest.mark.parametrize("opt,message", [
    ("apparmor=docker-default", "apparmor=docker-default"),
    ("label=type:svirt_t", "label=type:svirt_t"),
    ('seccomp={"defaultAction": "SCMP_ACT_ALLOW", "syscals": []}', "unknown field 'syscals'"),
    ("seccomp={not json", "not JSON"),
    ("no-new-privileges=maybe", "no-new-privileges"),
])
def test_what_cannot_be_honoured_is_refused(host, opt, message):
    """A 400 naming the entry, and no container is created."""
    before = len(host.api_ok("GET", "/containers/json?all=1"))
    status, body = host.api("POST", "/containers/create",
                            json={"Image": "busybox", "Cmd": ["true"],
                                  "HostConfig": {"SecurityOpt": [opt]}})
    assert status == 400 and message in body["message"], body
    assert len(host.api_ok("GET", "/containers/json?all=1")) == before


def docker(host, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CONFIG=str(tmp_path / "cfg"),
               DOCKER_CLI_HINTS="false")
    return subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.skipif(not os.access(DOCKER, os.X_OK), reason=f"no docker CLI at {DOCKER}")
def test_docker_cli(host, tmp_path):
    """The real docker CLI reads the profile file and sends its JSON;
    no-new-privileges and unconfined as it sends them; apparmor refused."""
    prof = tmp_path / "nomkdir.json"
    prof.write_text(json.dumps(MKDIR_DENIED, indent=2))
    r = docker(host, tmp_path, "run", "--rm", "--security-opt", f"seccomp={prof}", "busybox",
               "mkdir", "/tmp/d")
    assert r.returncode != 0 and "Permission denied" in r.stderr, (r.stdout, r.stderr)
    r = docker(host, tmp_path, "run", "--rm", "--security-opt", "no-new-privileges", "busybox",
               "grep", "-E", "NoNewPrivs|Seccomp:", "/proc/self/status")
    assert r.stdout.split() == ["NoNewPrivs:", "1", "Seccomp:", "2"], (r.stdout, r.stderr)
    r = docker(host, tmp_path, "run", "--rm", "--security-opt", "seccomp=unconfined", "busybox",
               "unshare", "-U", "true")
    assert r.returncode == 0, r.stderr
    r = docker(host, tmp_path, "run", "--rm", "busybox", "unshare", "-U", "true")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, (r.stdout, r.stderr)
    r = docker(host, tmp_path, "run", "--rm", "--security-opt", "apparmor=docker-default",
               "busybox", "true")
    assert r.returncode != 0 and "apparmor=docker-default" in r.stderr, r.stderr


def test_dockerpy(host):
    """docker-py sends security_opt as given: a JSON profile, no-new-privileges."""
    docker_py = pytest.importorskip("docker")
    cl = docker_py.DockerClient(base_url=host.host_uri, version="auto", timeout=60)
    try:
        out = cl.containers.run("busybox", ["grep", "-E", "NoNewPrivs|Seccomp:",
                                            "/proc/self/status"],
                                security_opt=["no-new-privileges:true"], remove=True)
        assert out.decode().split() == ["NoNewPrivs:", "1", "Seccomp:", "2"]
        with pytest.raises(docker_py.errors.ContainerError) as e:
            cl.containers.run("busybox", ["mkdir", "/tmp/d"], remove=True,
                              security_opt=["seccomp=" + json.dumps(MKDIR_DENIED)])
        assert b"Permission denied" in e.value.stderr
        with pytest.raises(docker_py.errors.APIError) as e:
            cl.containers.create("busybox", "true", security_opt=["seccomp=/etc/prof.json"])
        assert e.value.status_code == 400 and "JSON content" in str(e.value)
    finally:
        cl.close()


def test_compose_security_opt(host, tmp_path):
    """compose `security_opt:` (a profile path relative to the project) reaches the container."""
    (tmp_path / "nomkdir.json").write_text(json.dumps(MKDIR_DENIED))
    (tmp_path / "compose.yaml").write_text(textwrap.dedent("""
        services:
          app:
            image: busybox
            security_opt: ["seccomp:nomkdir.json", "no-new-privileges:true"]
            command: ["sleep", "600"]
    """))
    args = ("compose", "-f", str(tmp_path / "compose.yaml"), "-p", "sec")
    host.cli(*args, "up", "-d", timeout=90)
    try:
        r = host.exec("sec-app-1", "mkdir", "/tmp/d")
        assert r.returncode != 0 and "Permission denied" in r.stderr, (r.stdout, r.stderr)
        r = host.exec("sec-app-1", "grep", "NoNewPrivs", "/proc/self/status")
        assert r.stdout.split() == ["NoNewPrivs:", "1"], r.stdout
    finally:
        host.cli(*args, "down", "-t", "1", timeout=90)
