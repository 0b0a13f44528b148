"""Resource limits, update, stats, top and pause (issue 16 items 5 and 6), from
real containers through the docker CLI and docker-py: a memory limit kills an
allocator past it (OOMKilled in inspect, exit 137), a pids limit bounds a fork
loop, --cpus and --cpuset-cpus reach the cgroup (and the container's CPU
affinity), `docker update` changes the memory limit live, stats counts the bytes
a ping sent, top lists the container's process, pause freezes a counter and
unpause resumes it, and bad limits are a 400 with nothing created."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.kernel
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
if not os.access(DOCKER, os.X_OK):
    pytest.skip(f"the docker CLI is not installed ({DOCKER})", allow_module_level=True)
MiB = 1 << 20


@pytest.fixture(scope="module")
def docker(host, tmp_path_factory):
    """Run the docker CLI against the module's boxnetd."""
    cfg = tmp_path_factory.mktemp("dockercfg")
    env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CONFIG=str(cfg),
               DOCKER_CLI_HINTS="false")

    def run(*args: str, check: bool = True, timeout: float = 90) -> subprocess.CompletedProcess:
        r = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} -> {r.returncode}\n{r.stdout}\n"
                                 f"{r.stderr}")
        return r
    return run


@pytest.fixture(scope="module")
def dockerpy(host):
    """A docker-py client on the module's boxnetd."""
    docker_py = pytest.importorskip("docker")
    cl = docker_py.DockerClient(base_url=host.host_uri, version="auto", timeout=90)
    yield cl
    cl.close()


def cgroup_dir(host, name: str, controller: str) -> str:
    """The host directory of the container's cgroup for `controller` (v1), from
    its init's /proc/<pid>/cgroup."""
    pid = host.inspect(name)["State"]["Pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                return f"/sys/fs/cgroup/{controller}{path}"
    raise AssertionError(f"no {controller} cgroup for {name}")


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def poll(check, timeout: float = 20.0, what: str = "condition"):
    """Poll `check` until it returns a true value (returned), or fail."""
    deadline = time.monotonic() + timeout
    while True:
        v = check()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def count(host) -> int:
    return len(host.api_ok("GET", "/containers/json?all=1"))


def test_memory_limit_kills_an_allocator_oomkilled(docker, host):
    """-m 32m: python allocating 200 MiB is killed by the memory cgroup (exit 137,
    OOMKilled true); the limit and Docker's swap default are in the cgroup."""
    r = docker("run", "--name", "oom", "-m", "32m", "boxnet/host", "python3", "-c",
               "b = bytearray(200 << 20); print('survived')", check=False)
    try:
        assert r.returncode == 137, (r.returncode, r.stdout, r.stderr)
        assert "survived" not in r.stdout
        st = host.inspect("oom")
        assert st["State"]["OOMKilled"] is True and st["State"]["ExitCode"] == 137, st["State"]
        assert st["HostConfig"]["Memory"] == 32 * MiB
        assert st["HostConfig"]["MemorySwap"] == 64 * MiB
        # the same program under no limit survives: the limit, not the program, killed it
        ok = docker("run", "--rm", "boxnet/host", "python3", "-c",
                    "b = bytearray(200 << 20); print('survived')")
        assert "survived" in ok.stdout
    finally:
        docker("rm", "-f", "oom", check=False)
    docker("run", "-d", "--name", "lim", "-m", "32m", "--memory-reservation", "16m",
           "busybox", "sleep", "600")
    try:
        d = cgroup_dir(host, "lim", "memory")
        assert int(read(f"{d}/memory.limit_in_bytes")) == 32 * MiB
        assert int(read(f"{d}/memory.memsw.limit_in_bytes")) == 64 * MiB
        assert int(read(f"{d}/memory.soft_limit_in_bytes")) == 16 * MiB
        assert host.inspect("lim")["State"]["OOMKilled"] is False
        # docker update: a new limit, live, and in inspect
        docker("update", "-m", "48m", "lim")
        assert int(read(f"{d}/memory.limit_in_bytes")) == 48 * MiB
        assert host.inspect("lim")["HostConfig"]["Memory"] == 48 * MiB
        r = docker("update", "-m", "128m", "lim", check=False)
        assert r.returncode != 0 and "memoryswap" in r.stderr, r.stderr
        assert int(read(f"{d}/memory.limit_in_bytes")) == 48 * MiB   # nothing changed
        docker("update", "--restart", "on-failure:3", "--pids-limit", "30", "lim")
        hc = host.inspect("lim")["HostConfig"]
        assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
        assert read(cgroup_dir(host, "lim", "pids") + "/pids.max") == "30"
    finally:
        docker("rm", "-f", "lim", check=False)


def test_pids_limit_bounds_a_fork_loop(docker, host):
    """--pids-limit 20: a loop starting 60 sleeps gets at most 20 processes (the
    fork that would pass the limit fails in the container)."""
    docker("run", "-d", "--name", "forks", "--pids-limit", "20", "busybox", "sh", "-c",
           # a subshell: busybox sh exits when a fork fails; `exec` needs no fork
           "(i=0; while [ $i -lt 60 ]; do sleep 300 & i=$((i+1)); done); echo done; "
           "exec sleep 300")
    try:
        d = cgroup_dir(host, "forks", "pids")
        assert read(f"{d}/pids.max") == "20"
        poll(lambda: "done" in docker("logs", "forks").stdout, what="the loop's end")
        logs = docker("logs", "forks")
        assert "can't fork" in logs.stderr or "Resource temporarily" in logs.stderr, logs.stderr
        assert int(read(f"{d}/pids.current")) <= 20
        top = docker("top", "forks", "-o", "pid,comm").stdout.strip().splitlines()
        assert top[0].split() == ["PID", "COMMAND"] and 2 <= len(top) - 1 <= 20, top
    finally:
        docker("rm", "-f", "forks", check=False)


def test_cpus_and_cpuset_reach_the_cgroup_and_the_container(docker, dockerpy, host):
    """--cpus 1.5 is a 150 ms quota per 100 ms period; --cpuset-cpus 0 pins the
    container's processes to CPU 0 (seen from inside); --cpu-shares."""
    docker("run", "-d", "--name", "cpu", "--cpus", "1.5", "--cpuset-cpus", "0",
           "--cpu-shares", "512", "busybox", "sleep", "600")
    try:
        d = cgroup_dir(host, "cpu", "cpu")
        assert read(f"{d}/cpu.cfs_quota_us") == "150000"
        assert read(f"{d}/cpu.cfs_period_us") == "100000"
        assert read(f"{d}/cpu.shares") == "512"
        assert read(cgroup_dir(host, "cpu", "cpuset") + "/cpuset.cpus") == "0"
        r = docker("exec", "cpu", "grep", "Cpus_allowed_list", "/proc/self/status")
        assert r.stdout.split()[-1] == "0", r.stdout
        assert host.inspect("cpu")["HostConfig"]["NanoCpus"] == 1_500_000_000
        docker("update", "--cpus", "0.5", "cpu")
        assert read(f"{d}/cpu.cfs_quota_us") == "50000"
        # docker-py's update sends only what it is given
        c = dockerpy.containers.get("cpu")
        assert c.update(cpu_shares=700, restart_policy={"Name": "always"}) == {"Warnings": []}
        assert read(f"{d}/cpu.shares") == "700"
        assert read(f"{d}/cpu.cfs_quota_us") == "50000"    # unchanged
        c.reload()
        assert c.attrs["HostConfig"]["RestartPolicy"]["Name"] == "always"
        assert c.attrs["HostConfig"]["CpuShares"] == 700
    finally:
        docker("rm", "-f", "cpu", check=False)


def test_bad_limits_are_400_and_create_nothing(docker, host):
    """memory below 6 MiB, a cpuset outside the host, negative values: Docker's
    message, and no container."""
    before = count(host)
    r = docker("run", "-m", "1m", "busybox", "true", check=False)
    assert r.returncode != 0 and "Minimum memory limit allowed is 6MB" in r.stderr, r.stderr
    r = docker("create", "--cpuset-cpus", "0-63", "busybox", "true", check=False)
    assert r.returncode != 0 and "Requested CPUs are not available" in r.stderr, r.stderr
    r = docker("create", "--cpuset-cpus", "x", "busybox", "true", check=False)
    assert r.returncode != 0 and "Invalid value x for cpuset cpus" in r.stderr, r.stderr
    for hc, msg in (({"NanoCpus": -1}, "Range of CPUs"), ({"CpuShares": -2}, "CPU shares"),
                    ({"Memory": -1 * MiB}, "negative"),
                    ({"Memory": 64 * MiB, "MemorySwap": 32 * MiB}, "memoryswap"),
                    ({"BlkioWeight": 500}, "BlkioWeight"),
                    ({"NanoCpus": 10**9, "CpuQuota": 50000}, "Conflicting options")):
        status, body = host.api("POST", "/containers/create",
                                json={"Image": "busybox", "Cmd": ["true"], "HostConfig": hc})
        assert status == 400 and msg in body["message"], (hc, status, body)
    assert count(host) == before


def test_stats_count_the_bytes_a_ping_sent(docker, dockerpy, host):
    """stats (docker-py one-shot and stream=False, `docker stats --no-stream`):
    networks.eth0 counts at least the bytes of 5 pings of 1000 bytes; memory and
    pids are the container's."""
    docker("run", "-d", "--name", "st", "-m", "64m", "busybox", "sleep", "600")
    try:
        gw = host.inspect("st")["NetworkSettings"]["Networks"]["bridge"]["Gateway"]
        c = dockerpy.containers.get("st")
        before = c.stats(stream=False, one_shot=True)["networks"]["eth0"]["tx_bytes"]
        r = docker("exec", "st", "ping", "-c", "5", "-s", "1000", "-W", "2", gw, check=False)
        assert "5 packets received" in r.stdout, r.stdout
        s = c.stats(stream=False)
        eth0 = s["networks"]["eth0"]
        assert eth0["tx_bytes"] - before >= 5 * 1000 and eth0["tx_packets"] >= 5, eth0
        assert eth0["rx_bytes"] >= 5 * 1000, eth0
        assert s["name"] == "/st" and s["id"] == c.id
        assert s["memory_stats"]["limit"] == 64 * MiB and s["memory_stats"]["usage"] > 0
        assert s["pids_stats"]["current"] >= 1
        assert s["precpu_stats"]["system_cpu_usage"] > 0 and s["preread"] != s["read"]
        line = docker("stats", "--no-stream", "--format", "{{json .}}", "st").stdout
        row = json.loads(line)
        assert row["Name"] == "st" and "64MiB" in row["MemUsage"], row
        assert row["PIDs"] != "0" and row["NetIO"] != "0B / 0B", row
        # the stream: several readings, each with the previous as precpu
        stream = c.stats(stream=True, decode=True)
        first, second = next(stream), next(stream)
        assert second["preread"] == first["read"]
        docker("rm", "-f", "st")          # the stream ends with the container
        rest = list(stream)
        assert rest and rest[-1]["memory_stats"] == {} and len(rest) <= 3, rest
    finally:
        docker("rm", "-f", "st", check=False)


def test_top_and_pause(docker, dockerpy, host, tmp_path):
    """top lists the container's processes (ps_args too); pause freezes a
    counter (inspect "paused", ps "(Paused)", exec refused), unpause resumes it;
    stop of a paused container ends it."""
    out = tmp_path / "out"
    out.mkdir()
    docker("run", "-d", "--name", "tick", "-v", f"{out}:/out", "busybox", "sh", "-c",
           "i=0; while true; do i=$((i+1)); echo $i > /out/n; sleep 0.05; done")
    try:
        top = docker("top", "tick").stdout
        assert "while true" in top and "PID" in top.splitlines()[0], top
        t = dockerpy.containers.get("tick").top(ps_args="aux")
        assert "USER" in t["Titles"] and any("while true" in p[-1] for p in t["Processes"]), [p[-1] for p in t["Processes"]]
        assert len(t["Processes"]) <= 3, t    # the host's other processes are not listed
        n = lambda: int(read(str(out / "n")) or 0)
        poll(lambda: n() > 2, what="the counter")
        docker("pause", "tick")
        st = host.inspect("tick")["State"]
        assert st["Status"] == "paused" and st["Paused"] is True and st["Running"] is True
        assert "(Paused)" in docker("ps", "--filter", "name=tick", "--format",
                                    "{{.Status}}").stdout
        assert "tick" in docker("ps", "--filter", "status=paused", "--format",
                                "{{.Names}}").stdout
        info = docker("info", "--format", "{{.ContainersPaused}} {{.MemoryLimit}} "
                      "{{.SwapLimit}} {{.CPUCfsQuota}} {{.PidsLimit}}").stdout.split()
        assert info == ["1", "true", "true", "true", "true"], info
        frozen = n()
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:      # a second of no progress
            assert n() == frozen
            time.sleep(0.1)
        r = docker("exec", "tick", "true", check=False)
        assert r.returncode != 0 and "is paused" in r.stderr, r.stderr
        r = docker("pause", "tick", check=False)
        assert r.returncode != 0 and "already paused" in r.stderr, r.stderr
        docker("unpause", "tick")
        poll(lambda: n() > frozen + 2, what="the counter after unpause")
        assert host.inspect("tick")["State"]["Status"] == "running"
        r = docker("unpause", "tick", check=False)
        assert r.returncode != 0 and "not paused" in r.stderr, r.stderr
        docker("pause", "tick")
        docker("stop", "-t", "2", "tick", timeout=60)
        st = host.inspect("tick")["State"]
        assert st["Status"] == "exited" and st["Paused"] is False, st
    finally:
        docker("rm", "-f", "tick", check=False)


def test_update_of_a_stopped_container_applies_at_start(docker, host):
    """`docker update` of a created container is kept and applied when it
    starts; stats of a container that is not running is Docker's empty one."""
    docker("create", "--name", "later", "--network", "none", "busybox", "sleep", "600")
    try:
        docker("update", "-m", "40m", "--memory-swap", "80m", "--cpu-shares", "256", "later")
        st = host.api_ok("GET", "/containers/later/stats?stream=false")
        assert st["name"] == "/later" and st["memory_stats"] == {} and "networks" not in st
        docker("start", "later")
        d = cgroup_dir(host, "later", "memory")
        assert int(read(f"{d}/memory.limit_in_bytes")) == 40 * MiB
        assert int(read(f"{d}/memory.memsw.limit_in_bytes")) == 80 * MiB
        assert read(cgroup_dir(host, "later", "cpu") + "/cpu.shares") == "256"
        st = host.api_ok("GET", "/containers/later/stats?stream=false&one-shot=true")
        assert "networks" not in st    # --network none: no interfaces but lo
        assert st["memory_stats"]["limit"] == 40 * MiB
        status, body = host.api("POST", "/containers/later/update", json={"Ulimits": [
            {"Name": "nofile", "Soft": 10, "Hard": 10}]})
        assert status == 400 and "Ulimits" in body["message"], body
        status, body = host.api("POST", "/containers/later/update", json={"Memory": MiB})
        assert status == 400 and "Minimum memory limit allowed is 6MB" in body["message"]
        assert int(read(f"{d}/memory.limit_in_bytes")) == 40 * MiB
    finally:
        docker("rm", "-f", "later", check=False)


def test_paused_container_removed_with_force_and_events(docker, host):
    """rm -f of a paused container ends it (the SIGKILL lands once thawed); the
    pause, unpause, update and oom events are Docker's."""
    since = int(time.time()) - 1
    docker("run", "-d", "--name", "frozen", "busybox", "sleep", "600")
    docker("update", "--cpu-shares", "300", "frozen")
    docker("pause", "frozen")
    pid = host.inspect("frozen")["State"]["Pid"]
    docker("rm", "-f", "frozen", timeout=60)
    assert not os.path.exists(f"/proc/{pid}/cmdline") or \
        poll(lambda: not os.path.exists(f"/proc/{pid}/cmdline"), what="the init's end")
    r = docker("run", "--name", "oom2", "-m", "16m", "boxnet/host", "python3", "-c",
               "b = bytearray(100 << 20)", check=False)
    docker("rm", "-f", "oom2", check=False)
    assert r.returncode == 137, r
    events = docker("events", "--since", str(since), "--until", str(int(time.time()) + 1),
                    "--filter", "type=container", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
    lines = events.stdout.splitlines()
    for want in ("update frozen", "pause frozen", "unpause frozen", "oom oom2"):
        assert want in lines, lines


COMPOSE_LIMITS = """
services:
  app:
    image: busybox
    command: ["sleep", "600"]
    mem_reservation: 24m
    deploy:
      resources:
        limits: {cpus: "0.5", memory: 48M, pids: 40}
"""


def test_compose_deploy_resources_limits(host, tmp_path):
    """deploy.resources.limits of a compose file reach the cgroup, through docker
    compose v2 and through boxnet compose."""
    compose_bin = os.environ.get("DOCKER_COMPOSE") or os.path.join(
        os.path.dirname(sys.executable), "docker-compose")   # the venv's, as test_compose_v2
    (tmp_path / "compose.yaml").write_text(COMPOSE_LIMITS)
    env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CONFIG=str(tmp_path))
    runners = [("boxnet", lambda *a: host.cli("compose", "-f", str(tmp_path / "compose.yaml"),
                                              "-p", "lim-bx", *a, timeout=120))]
    assert os.access(compose_bin, os.X_OK), f"no docker compose v2 at {compose_bin}"
    runners.append(("v2", lambda *a: subprocess.run(
        [compose_bin, "-p", "lim-v2", *a], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=120, stdin=subprocess.DEVNULL, check=True)))
    for label, compose in runners:
        compose("up", "-d")
        try:
            name = f"lim-{'bx' if label == 'boxnet' else 'v2'}-app-1"
            assert int(read(cgroup_dir(host, name, "memory") + "/memory.limit_in_bytes")) == \
                48 * MiB, label
            assert int(read(cgroup_dir(host, name, "memory") + "/memory.soft_limit_in_bytes")) \
                == 24 * MiB, label
            assert read(cgroup_dir(host, name, "cpu") + "/cpu.cfs_quota_us") == "50000", label
            assert read(cgroup_dir(host, name, "pids") + "/pids.max") == "40", label
            if label == "v2":   # compose's own top, pause and unpause use the same routes
                assert "sleep 600" in compose("top").stdout
                compose("pause")
                assert host.inspect(name)["State"]["Status"] == "paused"
                compose("unpause")
                assert host.inspect(name)["State"]["Status"] == "running"
        finally:
            compose("down", "-t", "1")


def test_pause_and_limits_survive_a_daemon_restart(docker, host, tmp_path):
    """A paused container stays paused across a daemon restart (and unpauses
    after it); its limits and OOMKilled are kept in the record."""
    out = tmp_path / "out"
    out.mkdir()
    docker("run", "-d", "--name", "keep", "-m", "24m", "-v", f"{out}:/out", "busybox", "sh",
           "-c", "i=0; while true; do i=$((i+1)); echo $i > /out/n; sleep 0.05; done")
    r = docker("run", "--name", "oom3", "-m", "16m", "boxnet/host", "python3", "-c",
               "b = bytearray(100 << 20)", check=False)
    assert r.returncode == 137
    try:
        n = lambda: int(read(str(out / "n")) or 0)
        poll(lambda: n() > 2, what="the counter")
        docker("pause", "keep")
        frozen = n()
        host.restart()
        st = host.inspect("keep")
        assert st["State"]["Status"] == "paused" and st["HostConfig"]["Memory"] == 24 * MiB
        assert n() == frozen
        assert host.inspect("oom3")["State"]["OOMKilled"] is True
        docker("unpause", "keep")
        poll(lambda: n() > frozen + 2, what="the counter after unpause")
        # a new run clears OOMKilled
        docker("update", "-m", "256m", "--memory-swap", "512m", "oom3")
        docker("start", "oom3")
        poll(lambda: host.inspect("oom3")["State"]["Status"] == "exited", what="oom3's end")
        st = host.inspect("oom3")["State"]
        assert st["ExitCode"] == 0 and st["OOMKilled"] is False, st
    finally:
        docker("rm", "-f", "keep", "oom3", check=False)


def test_cpus_limit_caps_a_busy_loop_seen_by_stats(docker, dockerpy):
    """--cpus 0.5: a busy loop gets at most half a CPU, as stats' CPU time over a
    second of its stream shows (docker stats' formula)."""
    docker("run", "-d", "--name", "busy", "--cpus", "0.5", "busybox", "sh", "-c",
           "while :; do :; done")
    try:
        stream = dockerpy.containers.get("busy").stats(stream=True, decode=True)
        next(stream)
        s = next(stream)   # one second after the first: precpu is that one
        stream.close()
        cpu, pre = s["cpu_stats"], s["precpu_stats"]
        used = cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
        system = cpu["system_cpu_usage"] - pre["system_cpu_usage"]
        pct = used / system * cpu["online_cpus"] * 100
        assert 1 < pct <= 65, (pct, cpu, pre)
        assert cpu["throttling_data"]["periods"] > 0, cpu["throttling_data"]
        if pct > 45:   # it got its whole quota (not starved by a loaded machine): throttled
            assert cpu["throttling_data"]["throttled_periods"] > 0, cpu["throttling_data"]
    finally:
        docker("rm", "-f", "busy", check=False)


def test_oom_kill_disable_makes_the_allocator_wait(docker, host):
    """--oom-kill-disable (cgroup v1): past the limit the allocator is not killed
    but waits (under_oom), as with Docker; rm -f still ends it."""
    docker("run", "-d", "--name", "nooom", "-m", "16m", "--memory-swap", "16m",
           "--oom-kill-disable", "boxnet/host", "python3", "-c", "b = bytearray(100 << 20)")
    try:
        d = cgroup_dir(host, "nooom", "memory")
        oc = lambda: dict(line.split() for line in read(f"{d}/memory.oom_control").splitlines())
        assert oc()["oom_kill_disable"] == "1"
        poll(lambda: oc()["under_oom"] == "1", what="the allocator reaching the limit")
        st = host.inspect("nooom")["State"]
        assert st["Status"] == "running" and st["OOMKilled"] is False, st
        assert host.inspect("nooom")["HostConfig"]["OomKillDisable"] is True
    finally:
        docker("rm", "-f", "nooom", check=False, timeout=60)
    assert "nooom" not in docker("ps", "-a", "--format", "{{.Names}}").stdout


def test_blkio_device_throttles_reach_the_cgroup(docker, host):
    """--device-read-bps / --device-write-iops of a host block device are in the
    container's blkio cgroup; a path that is no block device is a 400."""
    dev = next((p for p in ("/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/loop0")
                if os.path.exists(p)), None)
    if dev is None:
        pytest.skip("no block device on this host")
    st = os.stat(dev)
    num = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    docker("run", "-d", "--name", "thr", "--device-read-bps", f"{dev}:1mb",
           "--device-write-iops", f"{dev}:50", "busybox", "sleep", "600")
    try:
        d = cgroup_dir(host, "thr", "blkio")
        assert f"{num} {1 << 20}" in read(f"{d}/blkio.throttle.read_bps_device")
        assert f"{num} 50" in read(f"{d}/blkio.throttle.write_iops_device")
    finally:
        docker("rm", "-f", "thr", check=False)
    before = count(host)
    r = docker("create", "--device-read-bps", "/dev/null:1mb", "busybox", "true",
               check=False)
    assert r.returncode != 0 and "not a block device" in r.stderr, r.stderr
    assert count(host) == before
