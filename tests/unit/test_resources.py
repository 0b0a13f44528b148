"""Resource limits (runtime/resources.py): Docker's validation rules and
messages, its defaults, the OCI linux.resources it becomes, `docker update`'s
merge; `docker top`'s ps parsing (core/top.py); the stats JSON shape
(core/statsview.py).  No root needed."""

from __future__ import annotations

import json

import pytest

from boxnet.api.routes.container_create import build_create
from boxnet.core import top
from boxnet.core.statsview import Sample, stats_json
from boxnet.errors import InvalidParameter
from boxnet.kernel.cgroups import HostCgroups, _ids
from boxnet.runtime import resources as r

ALL = frozenset(r.FIELDS)
HOST = HostCgroups(1, ALL, frozenset({0, 1}), frozenset({0}))
MiB = 1 << 20


@pytest.mark.parametrize("hc,message", [
    ({"Memory": 1 * MiB}, "Minimum memory limit allowed is 6MB"),
    ({"Memory": -5}, "cannot be negative"),
    ({"MemoryReservation": 2 * MiB}, "Minimum memory reservation allowed is 6MB"),
    ({"MemorySwap": 64 * MiB}, "always set the Memory limit"),
    ({"Memory": 64 * MiB, "MemorySwap": 32 * MiB}, "memoryswap limit should be larger"),
    ({"Memory": 64 * MiB, "MemorySwap": -2}, "use -1"),
    ({"Memory": 32 * MiB, "MemoryReservation": 64 * MiB}, "less than memory reservation"),
    ({"MemorySwappiness": 101}, "swappiness range is 0-100"),
    ({"NanoCpus": 10**9, "CpuPeriod": 100000}, "Nano CPUs and CPU Period"),
    ({"NanoCpus": 10**9, "CpuQuota": 50000}, "Nano CPUs and CPU Quota"),
    ({"NanoCpus": 3 * 10**9}, "Range of CPUs is from 0.01 to 2.00"),
    ({"NanoCpus": -1}, "Range of CPUs"),
    ({"CpuPeriod": 500}, "CPU cfs period"),
    ({"CpuQuota": 999}, "CPU cfs quota"),
    ({"CpuShares": -2}, "invalid CPU shares"),
    ({"BlkioWeight": 5}, "blkio weight is from 10 to 1000"),
    ({"CpusetCpus": "0-"}, "Invalid value 0- for cpuset cpus"),
    ({"CpusetCpus": "a"}, "Invalid value a for cpuset cpus"),
    ({"CpusetCpus": "3-1"}, "Invalid value"),
    ({"CpusetCpus": "0,5"}, "Requested CPUs are not available - requested 0,5, available: 0,1"),
    ({"CpusetMems": "1"}, "Requested memory nodes are not available"),
    ({"Memory": "64m"}, "Memory must be an integer"),
])
def test_bad_limits_refused_with_dockers_message(hc, message):
    with pytest.raises(InvalidParameter, match=message):
        r.validate(hc, HOST)


def test_a_limit_the_host_cannot_set_names_the_field():
    host = HOST._replace(supported=ALL - {"BlkioWeight", "MemorySwap"})
    with pytest.raises(InvalidParameter, match="HostConfig.BlkioWeight is not supported on this"):
        r.validate({"BlkioWeight": 500}, host)
    with pytest.raises(InvalidParameter, match="HostConfig.MemorySwap"):
        r.validate({"Memory": 64 * MiB, "MemorySwap": 128 * MiB}, host)
    # the values clients send for "not set" pass
    r.validate({"Memory": 64 * MiB, "MemorySwap": -1, "BlkioWeight": 0, "PidsLimit": -1}, host)


def test_the_docker_cli_zero_values_pass_and_set_nothing():
    hc = {"Memory": 0, "MemorySwap": 0, "MemoryReservation": 0, "MemorySwappiness": -1,
          "NanoCpus": 0, "CpuShares": 0, "CpuPeriod": 0, "CpuQuota": 0, "CpusetCpus": "",
          "CpusetMems": "", "PidsLimit": None, "BlkioWeight": 0}
    assert r.validate(hc, HOST) == []
    assert r.oci_resources(r.normalize(hc)) == {}


def test_oci_resources_as_docker_converts_them():
    hc = r.normalize({"Memory": 32 * MiB, "MemoryReservation": 16 * MiB, "NanoCpus": 1_500_000_000,
                      "CpuShares": 512, "CpusetCpus": "0", "CpusetMems": "0", "PidsLimit": 20,
                      "BlkioWeight": 300, "MemorySwappiness": 0})
    assert hc["MemorySwap"] == 64 * MiB   # Docker: swap twice the memory by default
    assert r.oci_resources(hc) == {
        "memory": {"limit": 32 * MiB, "swap": 64 * MiB, "reservation": 16 * MiB, "swappiness": 0},
        "cpu": {"shares": 512, "period": 100000, "quota": 150000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 20}, "blockIO": {"weight": 300}}
    assert r.oci_resources({"CpuPeriod": 50000, "CpuQuota": 25000}) == {
        "cpu": {"period": 50000, "quota": 25000}}
    assert r.normalize({"Memory": 32 * MiB, "MemorySwap": -1})["MemorySwap"] == -1
    assert r.normalize({"PidsLimit": 0})["PidsLimit"] is None
    assert r.oci_resources({"MemorySwap": -1}) == {}   # unlimited swap of unlimited memory
    assert r.oci_resources({"Memory": 32 * MiB, "MemorySwap": -1}) == {
        "memory": {"limit": 32 * MiB, "swap": -1}}
    no_swap = HOST._replace(supported=ALL - {"MemorySwap"})   # no swap accounting: no default
    assert "MemorySwap" not in r.normalize({"Memory": 32 * MiB}, no_swap)
    assert r.oci_resources({"PidsLimit": None}, for_update=True) == {"pids": {"limit": -1}}
    assert r.oci_resources({"Memory": 32 * MiB, "OomKillDisable": True}) == {
        "memory": {"limit": 32 * MiB, "disableOOMKiller": True}}
    assert r.oci_resources({"OomKillDisable": False}) == {}
    v2 = HOST._replace(version=2, supported=ALL - {"OomKillDisable"})
    with pytest.raises(InvalidParameter, match="HostConfig.OomKillDisable is not supported"):
        r.validate({"OomKillDisable": True}, v2)
    r.validate({"OomKillDisable": False}, v2)


def test_update_merges_and_keeps_dockers_rules():
    cur = r.normalize({"Memory": 32 * MiB, "CpuPeriod": 100000, "CpuQuota": 50000})
    new = r.merge_update(cur, {"Memory": 48 * MiB, "MemorySwap": 0, "CpuShares": 0})
    assert new["Memory"] == 48 * MiB and new["MemorySwap"] == 64 * MiB
    with pytest.raises(InvalidParameter, match="smaller than already set memoryswap"):
        r.merge_update(cur, {"Memory": 128 * MiB})
    assert r.merge_update(cur, {"Memory": 128 * MiB, "MemorySwap": -1})["MemorySwap"] == -1
    nano = r.merge_update(cur, {"NanoCpus": 10**9})
    assert "CpuPeriod" not in nano and "CpuQuota" not in nano and nano["NanoCpus"] == 10**9
    assert r.merge_update({"PidsLimit": 10}, {"PidsLimit": -1})["PidsLimit"] is None
    assert r.merge_update({"PidsLimit": 10}, {"PidsLimit": None})["PidsLimit"] == 10


def test_create_refuses_memory_below_the_minimum_and_records_the_swap_default():
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Memory": MiB}}
    with pytest.raises(InvalidParameter, match="Minimum memory limit allowed is 6MB"):
        build_create(json.dumps(body).encode(), "x")
    body["HostConfig"] = {"Memory": 32 * MiB, "PidsLimit": 0}
    _, cfg, _ = build_create(json.dumps(body).encode(), "x")
    assert cfg.raw_host_config["MemorySwap"] == 64 * MiB
    assert cfg.raw_host_config["PidsLimit"] is None


def test_cpuset_lists():
    assert r.parse_cpuset("0-2,4", "cpuset cpus") == {0, 1, 2, 4}
    assert _ids("0-1\n") == {0, 1}


PS = b"""UID          PID    PPID  C STIME TTY          TIME CMD
root        4242    4200  0 18:00 ?        00:00:00 sleep 600
root        4300    4242  0 18:00 ?        00:00:00 sh -c echo hi there
root        1000       1  0 18:00 ?        00:00:00 /usr/sbin/other
"""


def test_top_keeps_the_containers_pids_and_the_whole_command():
    out = top.parse(PS, {4242, 4300})
    assert out["Titles"] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert out["Processes"] == [
        ["root", "4242", "4200", "0", "18:00", "?", "00:00:00", "sleep 600"],
        ["root", "4300", "4242", "0", "18:00", "?", "00:00:00", "sh -c echo hi there"]]
    with pytest.raises(InvalidParameter, match="Couldn't find PID"):
        top.parse(b"USER CMD\nroot x\n", {1})
    assert top.split_args("") == ["-ef"]
    assert top.split_args("aux") == ["aux"]
    with pytest.raises(InvalidParameter, match='specifying "pid,user=PID" is not allowed'):
        top.split_args("-o pid,user=PID")


def test_stats_json_shape():
    usage = {"memory": {"usage": 10, "stats": {"cache": 0}, "limit": 1 << 62},
             "cpu": {"total_usage": 5, "percpu_usage": None},
             "throttling": {"periods": 1}, "pids": {"current": 2, "limit": 0}, "blkio": {}}
    cur = Sample(read="2026-01-01T00:00:01.000000000Z", usage=usage, system_cpu=100,
                 online_cpus=2, networks={"eth0": {"rx_bytes": 1, "tx_bytes": 2}})
    out = stats_json("web", "abc", cur, None, 8 << 30)
    assert out["name"] == "/web" and out["id"] == "abc"
    assert out["memory_stats"]["limit"] == 8 << 30     # unlimited: the host's memory
    assert out["cpu_stats"]["cpu_usage"]["total_usage"] == 5
    assert "percpu_usage" not in out["cpu_stats"]["cpu_usage"]
    assert out["cpu_stats"]["online_cpus"] == 2 and out["cpu_stats"]["system_cpu_usage"] == 100
    assert out["precpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert out["preread"] == "0001-01-01T00:00:00Z"
    assert out["pids_stats"] == {"current": 2}
    assert out["networks"]["eth0"]["tx_bytes"] == 2
    stopped = stats_json("web", "abc", None, None, 8 << 30)
    assert stopped["memory_stats"] == {} and "networks" not in stopped


def _files(root, files: dict) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_cgroup_v1_readings(tmp_path):
    """usage(), oom_kills() and procs() on a v1 layout (one directory per controller)."""
    from boxnet.kernel import cgroups
    _files(tmp_path, {
        "memory/memory.usage_in_bytes": "4096\n", "memory/memory.max_usage_in_bytes": "8192\n",
        "memory/memory.limit_in_bytes": "33554432\n", "memory/memory.failcnt": "3\n",
        "memory/memory.stat": "cache 10\ntotal_inactive_file 20\n",
        "memory/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        "cpuacct/cpuacct.usage": "123456\n", "cpuacct/cpuacct.usage_percpu": "100000 23456 \n",
        "cpuacct/cpuacct.stat": "user 2\nsystem 1\n",
        "cpu/cpu.stat": "nr_periods 7\nnr_throttled 2\nthrottled_time 99\n",
        "pids/pids.current": "3\n", "pids/pids.max": "max\n", "pids/cgroup.procs": "10\n11\n",
        "pids/child/cgroup.procs": "12\n",
        "blkio/blkio.throttle.io_service_bytes_recursive": "8:0 Read 512\n8:0 Write 0\nTotal 512\n"})
    paths = {c: str(tmp_path / c) for c in ("memory", "cpuacct", "cpu", "pids", "blkio")}
    u = cgroups.usage(paths)
    assert u["memory"] == {"usage": 4096, "max_usage": 8192, "limit": 32 * MiB, "failcnt": 3,
                           "stats": {"cache": 10, "total_inactive_file": 20}}
    hz = 10**9 // __import__("os").sysconf("SC_CLK_TCK")
    assert u["cpu"] == {"total_usage": 123456, "percpu_usage": [100000, 23456],
                        "usage_in_kernelmode": hz, "usage_in_usermode": 2 * hz}
    assert u["throttling"] == {"periods": 7, "throttled_periods": 2, "throttled_time": 99}
    assert u["pids"] == {"current": 3, "limit": 0}
    assert u["blkio"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 512},
        {"major": 8, "minor": 0, "op": "Write", "value": 0}]
    assert cgroups.oom_kills(paths) == 1
    assert sorted(cgroups.procs(paths)) == [10, 11, 12]


def test_cgroup_v2_readings(tmp_path):
    """The same on a v2 directory (the "" key of runc's cgroup_paths)."""
    from boxnet.kernel import cgroups
    _files(tmp_path, {
        "memory.current": "4096\n", "memory.max": "max\n", "memory.stat": "anon 5\nfile 6\n",
        "memory.events": "low 0\nhigh 0\nmax 4\noom 1\noom_kill 2\n",
        "cpu.stat": "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 1\n"
                    "nr_throttled 0\nthrottled_usec 0\n",
        "pids.current": "2\n", "pids.max": "50\n", "cgroup.procs": "7\n",
        "io.stat": "8:0 rbytes=100 wbytes=200 rios=1 wios=2\n"})
    paths = {"": str(tmp_path)}
    u = cgroups.usage(paths)
    assert u["memory"] == {"usage": 4096, "limit": 0, "stats": {"anon": 5, "file": 6}}
    assert u["cpu"] == {"total_usage": 10000, "usage_in_kernelmode": 4000,
                        "usage_in_usermode": 6000}
    assert u["pids"] == {"current": 2, "limit": 50}
    assert u["blkio"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "read", "value": 100},
        {"major": 8, "minor": 0, "op": "write", "value": 200}]
    assert cgroups.oom_kills(paths) == 2
    assert cgroups.procs(paths) == [7]


def test_the_v1_mounts_of_a_hybrid_host(tmp_path):
    from boxnet.kernel import cgroups
    mi = tmp_path / "mountinfo"
    mi.write_text(
        "30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
        "31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        "32 25 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "33 25 0:29 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n")
    assert cgroups.v1_mounts(str(mi)) == {"cpu": "/sys/fs/cgroup/cpu,cpuacct",
                                          "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
                                          "memory": "/sys/fs/cgroup/memory",
                                          "systemd": "/sys/fs/cgroup/systemd"}


def test_blkio_throttles_resolve_their_devices():
    hc = {"BlkioDeviceReadBps": [{"Path": "/dev/vdz", "Rate": 1 << 20}],
          "BlkioDeviceWriteIOps": [{"Path": "/dev/vdz", "Rate": 100}]}
    nums = lambda path: (254, 7)
    r.validate(hc, HOST, nums)
    assert r.oci_resources(hc, devnums=nums) == {"blockIO": {
        "throttleReadBpsDevice": [{"major": 254, "minor": 7, "rate": 1 << 20}],
        "throttleWriteIOPSDevice": [{"major": 254, "minor": 7, "rate": 100}]}}
    for bad in ([{"Path": "/dev/vdz", "Rate": -1}], [{"Rate": 1}], "x"):
        with pytest.raises(InvalidParameter, match="BlkioDeviceReadBps"):
            r.validate({"BlkioDeviceReadBps": bad}, HOST, nums)
    r.validate({"BlkioDeviceReadBps": []}, HOST._replace(supported=frozenset()))


def test_block_device_lookup(tmp_path):
    from boxnet.kernel import cgroups
    with pytest.raises(InvalidParameter, match="not a block device"):
        cgroups.block_device(str(tmp_path))
    with pytest.raises(InvalidParameter, match="No such file"):
        cgroups.block_device(str(tmp_path / "missing"))


def test_probe_of_a_cgroup_v2_host(tmp_path, monkeypatch):
    """A v2-only host: controllers from cgroup.controllers, swap and io weight
    from the root's children, CPUs and nodes from the effective cpusets."""
    from boxnet.kernel import cgroups
    _files(tmp_path, {"cgroup.controllers": "cpuset cpu io memory pids\n",
                      "cpuset.cpus.effective": "0-3\n", "cpuset.mems.effective": "0\n",
                      "init.scope/memory.swap.max": "max\n"})
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", str(tmp_path))
    h = cgroups.probe()
    assert h.version == 2 and h.cpus == {0, 1, 2, 3} and h.mems == {0}
    assert {"Memory", "MemorySwap", "NanoCpus", "CpusetCpus", "PidsLimit",
            "BlkioDeviceReadBps"} <= h.supported
    assert "BlkioWeight" not in h.supported        # no io.weight file: no weighted scheduler
    assert "OomKillDisable" not in h.supported and "MemorySwappiness" not in h.supported
    (tmp_path / "init.scope" / "memory.swap.max").unlink()
    assert "MemorySwap" not in cgroups.probe().supported   # no swap accounting
