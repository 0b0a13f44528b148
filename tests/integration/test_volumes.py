"""Volumes through the docker CLI, seen from inside real containers: a named
volume's data read by a recreated container and after a daemon restart, copy-up of
the image's files into a new volume (not with nocopy), `:ro`, tmpfs volumes and
mounts with their size, --volumes-from, anonymous volumes (`-v /path`, the image's
VOLUME) removed by `rm -v` and kept without, in-use removal refused (409, with -f
too, as dockerd), prune's rules, `docker volume ls` filters, bad names and a
missing --mount bind source refused with nothing created, a failed create and a
failed start rolling back what they made."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from integration import imagetars

pytestmark = pytest.mark.kernel

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
if not os.access(DOCKER, os.X_OK):
    pytest.skip(f"the docker CLI is not installed ({DOCKER})", allow_module_level=True)


class Docker:
    """The docker CLI pointed at one TestHost's socket."""

    def __init__(self, host, tmp):
        self.env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CONFIG=str(tmp),
                        DOCKER_CLI_HINTS="false")

    def __call__(self, *args: str, check: bool = True,
                 timeout: float = 90) -> subprocess.CompletedProcess:
        r = subprocess.run([DOCKER, *args], env=self.env, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} -> {r.returncode}\n{r.stdout}\n"
                                 f"{r.stderr}")
        return r

    def out(self, *args: str) -> str:
        return self(*args).stdout.strip()


@pytest.fixture(scope="module")
def docker(host, tmp_path_factory):
    return Docker(host, tmp_path_factory.mktemp("dockercfg"))


def volumes(docker) -> set[str]:
    return set(docker.out("volume", "ls", "-q").split())


def data_dir(host, name: str) -> str:
    return os.path.join(str(host.data_root), "volumes", name, "_data")


def mounted(path: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def test_named_volume_survives_recreate_and_restart(host, docker):
    """Data written to a named volume is read by a new container, and after the
    daemon restarted; inspect shows Docker's Mounts entry."""
    docker("run", "--name", "w1", "-v", "keep:/data", "busybox",
           "sh", "-c", "echo persisted > /data/f")
    m = docker.out("inspect", "-f", "{{json .Mounts}}", "w1")
    assert json.loads(m) == [{"Type": "volume", "Name": "keep", "Source": data_dir(host, "keep"),
                              "Destination": "/data", "Driver": "local", "Mode": "z",
                              "RW": True, "Propagation": ""}]
    docker("rm", "w1")
    assert docker.out("run", "--rm", "-v", "keep:/data", "busybox", "cat", "/data/f") == \
        "persisted"
    host.restart()
    assert "keep" in volumes(docker)
    assert docker.out("run", "--rm", "-v", "keep:/data", "busybox", "cat", "/data/f") == \
        "persisted"
    info = json.loads(docker.out("volume", "inspect", "keep"))[0]
    assert info["Name"] == "keep" and info["Driver"] == "local" and info["Scope"] == "local"
    assert info["Mountpoint"] == data_dir(host, "keep") and info["CreatedAt"]
    docker("volume", "rm", "keep")
    assert "keep" not in volumes(docker)
    assert not os.path.exists(os.path.dirname(data_dir(host, "keep")))


def test_copy_up_and_nocopy(docker):
    """A new volume at /etc gets busybox's /etc (seen by a second container mounting it
    elsewhere); with nocopy it stays empty."""
    docker("run", "--rm", "-v", "etcvol:/etc", "busybox", "true")
    listing = docker.out("run", "--rm", "-v", "etcvol:/x", "busybox", "ls", "/x").split()
    assert "passwd" in listing and "group" in listing, listing
    # the daemon's /etc/hosts is mounted over a volume at /etc, not hidden by it
    hosts = docker.out("run", "--rm", "--name", "etc-hosts", "--add-host", "probe.example:10.9.8.7",
                       "-v", "etcvol:/etc", "busybox", "cat", "/etc/hosts")
    assert "10.9.8.7" in hosts, hosts
    assert docker.out("run", "--rm", "-v", "etcnc:/mnt:nocopy", "busybox",
                      "ls", "-A", "/mnt") == ""
    docker("run", "--rm", "-v", "etcnc2:/etc:nocopy", "busybox", "true")
    # only the mount points runc made for /etc/hosts, hostname, resolv.conf (as with dockerd)
    assert docker.out("run", "--rm", "-v", "etcnc2:/x", "busybox", "ls", "-A", "/x").split() \
        == ["hostname", "hosts", "resolv.conf"]
    docker("volume", "rm", "etcvol", "etcnc", "etcnc2")


def test_read_only_volume_and_bind(host, docker, tmp_path):
    """`:ro` and --mount readonly refuse writes; the same volume rw takes them."""
    r = docker("run", "--rm", "-v", "rov:/data:ro", "busybox", "touch", "/data/x", check=False)
    assert r.returncode != 0 and "Read-only file system" in r.stderr + r.stdout
    r = docker("run", "--rm", "--mount", "type=volume,src=rov,dst=/data,readonly", "busybox",
               "touch", "/data/x", check=False)
    assert r.returncode != 0 and "Read-only file system" in r.stderr + r.stdout
    docker("run", "--rm", "-v", "rov:/data", "busybox", "touch", "/data/x")
    src = tmp_path / "bindsrc"
    src.mkdir()
    (src / "hello").write_text("from the host\n")
    assert docker.out("run", "--rm", "--mount", f"type=bind,src={src},dst=/b,readonly",
                      "busybox", "cat", "/b/hello") == "from the host"
    r = docker("run", "--rm", "-v", f"{src}:/b:ro", "busybox", "rm", "/b/hello", check=False)
    assert r.returncode != 0 and (src / "hello").exists()
    docker("volume", "rm", "rov")


def test_tmpfs_volume_mount_and_size(host, docker):
    """A tmpfs volume (driver options), --mount type=tmpfs and --tmpfs, each with its
    size as df sees it inside the container; the tmpfs volume's mount goes when its
    container stops."""
    docker("volume", "create", "-d", "local", "-o", "type=tmpfs", "-o", "device=tmpfs",
           "-o", "o=size=2m", "tv")
    out = docker.out("run", "--rm", "-v", "tv:/t", "--mount",
                     "type=tmpfs,dst=/m,tmpfs-size=3145728", "--tmpfs", "/r:size=4m",
                     "busybox", "sh", "-c", "df -k /t /m /r | tail -n 3; "
                     "grep ' /r ' /proc/mounts")
    lines = out.splitlines()
    sizes = [int(line.split()[1]) for line in lines[:3]]
    assert sizes == [2048, 3072, 4096], out
    assert "noexec" in lines[3] and "nosuid" in lines[3] and "nodev" in lines[3], out
    assert not mounted(data_dir(host, "tv"))
    docker("volume", "rm", "tv")


def test_volumes_from(docker):
    """--volumes-from sees the other container's anonymous volume; `:ro` refuses writes."""
    docker("run", "--name", "vsrc", "-v", "/shared", "busybox", "sh", "-c",
           "echo from-src > /shared/f")
    assert docker.out("run", "--rm", "--volumes-from", "vsrc", "busybox",
                      "cat", "/shared/f") == "from-src"
    r = docker("run", "--rm", "--volumes-from", "vsrc:ro", "busybox", "touch", "/shared/g",
               check=False)
    assert r.returncode != 0 and "Read-only file system" in r.stderr + r.stdout
    r = docker("run", "--rm", "--volumes-from", "no-such-ctr", "busybox", "true", check=False)
    assert r.returncode != 0 and "no such container: no-such-ctr" in r.stderr
    assert "Unable to find image" not in r.stderr   # a 404 would make the CLI pull
    docker("rm", "-v", "vsrc")


def test_anonymous_volumes_rm_v_and_in_use(docker):
    """`-v /path` makes an anonymous volume: kept by `rm`, removed by `rm -v`; a
    named one is never removed by `rm -v`; a volume in use cannot be removed, with
    -f neither (dockerd's rule), and is removable once its container is gone."""
    cid = docker.out("create", "-v", "/anon", "-v", "named1:/n", "busybox", "true")
    anon = [m["Name"] for m in json.loads(docker.out("inspect", "-f", "{{json .Mounts}}", cid))
            if m["Destination"] == "/anon"][0]
    assert len(anon) == 64 and anon in volumes(docker)
    for args in (("volume", "rm", "named1"), ("volume", "rm", "-f", "named1")):
        r = docker(*args, check=False)
        assert r.returncode != 0 and "volume is in use" in r.stderr, r.stderr
    docker("rm", "-v", cid)
    vols = volumes(docker)
    assert anon not in vols and "named1" in vols
    cid = docker.out("create", "-v", "/anon2", "busybox", "true")
    anon2 = json.loads(docker.out("inspect", "-f", "{{json .Mounts}}", cid))[0]["Name"]
    docker("rm", cid)
    assert anon2 in volumes(docker)
    docker("volume", "rm", "named1", anon2)
    docker("volume", "rm", "-f", "never-was")   # force: a missing volume is no error
    r = docker("volume", "rm", "never-was", check=False)
    assert r.returncode != 0 and "no such volume" in r.stderr


def test_run_rm_removes_its_anonymous_volumes(docker):
    """`docker run --rm -v /x` leaves no volume behind (dockerd's auto-remove)."""
    before = volumes(docker)
    docker("run", "--rm", "-v", "/scratch", "busybox", "true")
    assert volumes(docker) == before


def test_prune_and_list_filters(host, docker):
    """prune removes unused anonymous volumes only; -a the named ones too; label
    filters; ls filters name, label, dangling, driver."""
    docker("volume", "create", "--label", "team=a", "pa")
    docker("volume", "create", "--label", "team=b", "pb")
    docker("volume", "create", "used1")
    cid = docker.out("create", "-v", "used1:/u", "busybox", "true")
    anon_cid = docker.out("create", "-v", "/anon", "busybox", "true")
    anon = json.loads(docker.out("inspect", "-f", "{{json .Mounts}}", anon_cid))[0]["Name"]
    docker("rm", anon_cid)
    assert docker.out("volume", "ls", "-q", "--filter", "label=team=a") == "pa"
    assert docker.out("volume", "ls", "-q", "--filter", "name=p", "--filter",
                      "label=team") .split() == ["pa", "pb"]
    dangling = docker.out("volume", "ls", "-q", "--filter", "dangling=true").split()
    assert "used1" not in dangling and "pa" in dangling
    assert docker.out("volume", "ls", "-q", "--filter", "dangling=false") == "used1"
    assert "pa" in docker.out("volume", "ls", "-q", "--filter", "driver=local").split()
    out = docker.out("volume", "prune", "-f")
    vols = volumes(docker)
    assert anon not in vols and {"pa", "pb", "used1"} <= vols, out
    docker("volume", "prune", "-a", "-f", "--filter", "label=team=a")
    vols = volumes(docker)
    assert "pa" not in vols and "pb" in vols
    docker("volume", "create", "old-api")
    host.api_ok("POST", "/v1.41/volumes/prune")   # before 1.42 prune took named ones too
    assert "old-api" not in volumes(docker) and "pb" not in volumes(docker)
    assert volumes(docker) == {"used1"}
    docker("rm", cid)
    docker("volume", "rm", "used1")


def test_bad_input_creates_nothing(host, docker, tmp_path):
    """A bad volume name (API and -v), a missing --mount bind source: 400 and nothing
    made; -v of a missing host path creates it (Docker's rule)."""
    before = volumes(docker)
    for bad in ("a", "-x", "x/y", "x:y", ".hidden", "sp ace"):
        status, body = host.api("POST", "/volumes/create", json={"Name": bad})
        assert status == 400 and "invalid characters" in body["message"], (bad, body)
    r = docker("run", "--rm", "-v", "b@d:/x", "busybox", "true", check=False)
    assert r.returncode != 0 and "invalid characters" in r.stderr
    missing = tmp_path / "missing"
    r = docker("run", "--name", "nobind", "--mount", f"type=bind,src={missing},dst=/x",
               "busybox", "true", check=False)
    assert r.returncode != 0 and "bind source path does not exist" in r.stderr
    assert docker("inspect", "nobind", check=False).returncode != 0
    status, body = host.api("POST", "/volumes/create", json={
        "Name": "nfsv", "DriverOpts": {"type": "nfs", "device": ":/x"}})
    assert status == 400 and "type" in body["message"]
    status, body = host.api("POST", "/volumes/create", json={"Name": "drv", "Driver": "flocker"})
    assert status == 400 and "flocker" in body["message"]
    # a create that fails after it made a volume takes it back
    status, body = host.api("POST", "/containers/create?name=half", json={
        "Image": "busybox", "HostConfig": {"Binds": ["half1:/a"], "Mounts": [
            {"Type": "volume", "Source": "half2", "Target": "/b",
             "VolumeOptions": {"DriverConfig": {"Options": {"type": "ext4"}}}}]}})
    assert status == 400, body
    assert volumes(docker) == before
    assert not missing.exists()
    docker("run", "--rm", "-v", f"{missing}:/x", "busybox", "true")
    assert missing.is_dir()


def test_failed_start_releases_tmpfs_volume(host, docker):
    """A start that fails (no such command) unmounts the tmpfs volume it mounted."""
    docker("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "tf")
    r = docker("run", "--name", "badstart", "-v", "tf:/t", "busybox", "/no/such/cmd",
               check=False)
    assert r.returncode != 0
    assert not mounted(data_dir(host, "tf"))
    docker("rm", "badstart")
    docker("volume", "rm", "tf")


def test_image_volume_is_anonymous_with_copy_up(host, docker, tmp_path):
    """The image's VOLUME becomes an anonymous volume filled with the image's files
    there; rm -v removes it."""
    cfg = json.loads(imagetars._config([f"sha256:{imagetars._sha(x)}"
                                        for x in imagetars.layers()]))
    cfg["config"]["Volumes"] = {"/data/old": {}}
    cfg_bytes = json.dumps(cfg).encode()
    tar = tmp_path / "img.tar"
    imagetars.write_tar(str(tar), imagetars.docker_archive_files(
        imagetars.layers(), "volimg:1", cfg=cfg_bytes))
    docker("load", "-i", str(tar))
    cid = docker.out("run", "-d", "volimg:1", "sleep", "600")
    mounts = json.loads(docker.out("inspect", "-f", "{{json .Mounts}}", cid))
    assert [m["Destination"] for m in mounts] == ["/data/old"] and mounts[0]["Type"] == "volume"
    name = mounts[0]["Name"]
    assert os.path.exists(os.path.join(data_dir(host, name), "c"))
    assert docker.out("exec", cid, "cat", "/data/old/c") == "c from layer 2"
    docker("rm", "-f", "-v", cid)
    assert name not in volumes(docker)
    docker("rmi", "volimg:1")


def test_ps_volume_filter(docker):
    """`ps --filter volume=` matches a volume's name or a mount's destination."""
    a = docker.out("create", "--name", "pf-a", "-v", "pfv:/data", "busybox", "true")
    b = docker.out("create", "--name", "pf-b", "-v", "/other", "busybox", "true")
    assert docker.out("ps", "-aq", "--no-trunc", "--filter", "volume=pfv") == a
    assert docker.out("ps", "-aq", "--no-trunc", "--filter", "volume=/other") == b
    assert docker.out("ps", "-aq", "--filter", "volume=nothing-like-it") == ""
    docker("rm", "-v", a, b)
    docker("volume", "rm", "pfv")


def test_volume_events(docker):
    """create, mount, unmount, destroy of a volume in `docker events`, with the
    type=volume and volume= filters."""
    since = str(int(time.time()) - 1)
    docker("run", "--rm", "-v", "evvol:/e", "busybox", "true")
    docker("volume", "create", "other-ev")
    docker("volume", "rm", "evvol", "other-ev")
    until = str(int(time.time()) + 1)
    out = docker.out("events", "--since", since, "--until", until, "--filter", "type=volume",
                     "--filter", "volume=evvol", "--format", "{{.Type}} {{.Action}} {{.Actor.ID}}")
    assert out.splitlines() == ["volume create evvol", "volume mount evvol",
                                "volume unmount evvol", "volume destroy evvol"], out


def test_tmpfs_volume_released_when_its_container_ended_while_the_daemon_was_down(host,
                                                                                    docker):
    """The container of a tmpfs volume exits while boxnetd is stopped: the next
    start unmounts the volume (no running container uses it)."""
    docker("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "downv")
    cid = docker.out("run", "-d", "-v", "downv:/t", "busybox", "sleep", "600")
    assert mounted(data_dir(host, "downv"))
    pid = int(docker.out("inspect", "-f", "{{.State.Pid}}", cid))
    host.stop()
    os.kill(pid, 9)   # the container's init, started by this test's daemon
    deadline = time.monotonic() + 20
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    host.start(*host.daemon_args)
    assert docker.out("inspect", "-f", "{{.State.Status}}", cid) == "exited"
    assert not mounted(data_dir(host, "downv"))
    docker("rm", cid)
    docker("volume", "rm", "downv")


def test_tmpfs_volume_of_a_running_container_survives_a_daemon_restart(host, docker):
    """A running container keeps its tmpfs volume's data across a daemon restart,
    and a second container started after it sees the same files."""
    docker("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "livev")
    cid = docker.out("run", "-d", "-v", "livev:/t", "busybox", "sh", "-c",
                     "echo alive > /t/f; exec sleep 600")
    deadline = time.monotonic() + 20
    while docker("exec", cid, "cat", "/t/f", check=False).stdout.strip() != "alive":
        assert time.monotonic() < deadline, "the container never wrote /t/f"
        time.sleep(0.05)
    host.restart()
    assert mounted(data_dir(host, "livev"))
    assert docker.out("exec", cid, "cat", "/t/f") == "alive"
    assert docker.out("run", "--rm", "-v", "livev:/t", "busybox", "cat", "/t/f") == "alive"
    docker("rm", "-f", cid)
    assert not mounted(data_dir(host, "livev"))
    docker("volume", "rm", "livev")


def test_copy_up_follows_image_symlinks_inside_the_image(host, docker, tmp_path):
    """An image whose VOLUME path goes through an absolute symlink (/hostetc -> /etc)
    gets the image's /etc copied up (one file), never the host's /etc."""
    import tarfile
    layers = imagetars.layers()
    layers.append(imagetars.tar_bytes([
        imagetars.member("etc/only-in-image", b"image\n"),
        imagetars.member("hostetc", type=tarfile.SYMTYPE, linkname="/etc")]))
    cfg = json.loads(imagetars._config([f"sha256:{imagetars._sha(x)}" for x in layers]))
    cfg["config"]["Volumes"] = {"/hostetc": {}}
    tar = tmp_path / "img.tar"
    imagetars.write_tar(str(tar), imagetars.docker_archive_files(
        layers, "symvol:1", cfg=json.dumps(cfg).encode()))
    docker("load", "-i", str(tar))
    cid = docker.out("create", "symvol:1", "echo")
    docker("start", "-a", cid)
    name = json.loads(docker.out("inspect", "-f", "{{json .Mounts}}", cid))[0]["Name"]
    # the image's one file, and the mount points runc made there for /etc/hosts... (the
    # volume is at /etc, where the link leads): never the host's /etc (passwd...)
    assert sorted(os.listdir(data_dir(host, name))) == ["hostname", "hosts", "only-in-image",
                                                        "resolv.conf"]
    docker("rm", "-v", cid)
    docker("rmi", "symvol:1")
