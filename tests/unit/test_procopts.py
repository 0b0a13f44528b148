"""runtime/procopts.py and runtime/procbundle.py: Docker's rules for capabilities,
ulimits, devices, namespace modes and stop signals, and what they put in config.json."""

from __future__ import annotations

import signal

import pytest

from boxnet.errors import InvalidParameter
from boxnet.kernel.procfacts import UNLIMITED, HostFacts
from boxnet.runtime import procopts
from boxnet.runtime.api import ProcessSpec
from boxnet.runtime.bundle import build_config
from boxnet.runtime.procopts import ALL_CAPS, DEFAULT_CAPS

NO_RESOURCE = (1 << 41) - 1 & ~(1 << 24)   # this VM: boxnetd lacks CAP_SYS_RESOURCE
FACTS = HostFacts(can_raise=False, hard={**{n: UNLIMITED for n in procopts.RLIMITS},
                                          "nofile": 20000, "nice": 0},
                  oom_score_adj=0, init_path="/usr/bin/tini-static", cap_bounding=NO_RESOURCE)


def caps(add=(), drop=(), privileged=False, bounding=(1 << 41) - 1):
    return procopts.capability_set(procopts.normalize_caps(list(add), "CapAdd"),
                                   procopts.normalize_caps(list(drop), "CapDrop"),
                                   privileged, bounding)


def test_capability_names_and_all():
    """Any case, with or without CAP_; ALL adds every held one; drop ALL keeps the added."""
    assert caps() == DEFAULT_CAPS
    assert caps(["net_admin", "CAP_NET_ADMIN", "Sys_Ptrace"]) == \
        DEFAULT_CAPS + ["CAP_NET_ADMIN", "CAP_SYS_PTRACE"]
    assert caps(drop=["chown", "KILL"]) == [c for c in DEFAULT_CAPS
                                             if c not in ("CAP_CHOWN", "CAP_KILL")]
    assert caps(["ALL"], ["NET_RAW"]) == [c for c in ALL_CAPS if c != "CAP_NET_RAW"]
    assert caps(["CHOWN"], ["ALL"]) == ["CAP_CHOWN"]
    assert caps(privileged=True, bounding=NO_RESOURCE) == \
        [c for c in ALL_CAPS if c != "CAP_SYS_RESOURCE"]
    assert len(ALL_CAPS) == 41 and ALL_CAPS[24] == "CAP_SYS_RESOURCE"


@pytest.mark.parametrize("hc,message", [
    ({"CapAdd": ["NOPE"]}, "unknown capability: 'NOPE'"),
    ({"CapAdd": "NET_ADMIN"}, "list of capability names"),
    ({"CapAdd": ["SYS_RESOURCE"]}, "bounding set"),
    ({"Ulimits": [{"Name": "files", "Soft": 1, "Hard": 1}]}, "invalid ulimit type"),
    ({"Ulimits": [{"Name": "nofile", "Soft": 3, "Hard": 2}]}, "soft limit 3"),
    ({"Ulimits": [{"Name": "nofile", "Soft": 1, "Hard": 20001}]}, "above this host's 20000"),
    ({"Ulimits": [{"Name": "nice", "Soft": 1, "Hard": 1}]}, "ulimit nice"),
    ({"Ulimits": [{"Name": "core", "Soft": "1", "Hard": 1}]}, "Ulimits core Soft"),
    ({"OomScoreAdj": 1001}, "OomScoreAdj"),
    ({"OomScoreAdj": -5}, "cannot lower"),
    ({"ShmSize": -1}, "ShmSize"),
    ({"Privileged": "yes"}, "Privileged"),
    ({"DeviceCgroupRules": ["c 1:3"]}, "DeviceCgroupRules"),
    ({"DeviceCgroupRules": ["c 1:3 rrw"]}, "DeviceCgroupRules"),
    ({"Devices": [{"PathOnHost": "dev/null"}]}, "PathOnHost"),
    ({"Devices": [{"PathOnHost": "/dev/null", "CgroupPermissions": "x"}]}, "device mode"),
    ({"PidMode": "container:"}, "PidMode"),
    ({"UTSMode": "container:x"}, "UTSMode"),
    ({"IpcMode": "container:"}, "IpcMode"),
    ({"IpcMode": "bogus"}, "IpcMode"),
    ({"CgroupnsMode": "shared"}, "CgroupnsMode"),
])
def test_bad_values_are_refused_naming_the_field(hc, message):
    with pytest.raises(InvalidParameter) as e:
        procopts.validate({}, hc, FACTS)
    assert message in e.value.message and e.value.status == 400


def test_good_values_pass_and_become_spec_fields():
    hc = {"CapAdd": ["NET_ADMIN"], "Init": True, "ReadonlyRootfs": True, "ShmSize": 1 << 27,
          "OomScoreAdj": 300, "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048},
                                          {"Name": "core", "Soft": -1, "Hard": -1}],
          "DeviceCgroupRules": ["c 1:3 rwm", "a *:* r"], "UTSMode": "host",
          "CgroupnsMode": "private", "PidMode": "host", "IpcMode": "shareable"}
    procopts.validate({"StopSignal": "usr1", "StopTimeout": 3}, hc, FACTS)
    f = procopts.spec_fields({}, hc, FACTS)
    assert f["caps"] == DEFAULT_CAPS + ["CAP_NET_ADMIN"] and f["init"] == FACTS.init_path
    assert f["read_only"] and f["shm_size"] == 1 << 27 and f["oom_score_adj"] == 300
    assert f["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1024},
                            {"type": "RLIMIT_CORE", "hard": UNLIMITED, "soft": UNLIMITED}]
    assert f["device_rules"] == [{"allow": True, "type": "c", "major": 1, "minor": 3,
                                  "access": "rwm"}, {"allow": True, "type": "a", "access": "r"}]
    assert f["uts_host"] and f["cgroup_ns"]


def test_hostname_conflicts_with_uts_host():
    with pytest.raises(InvalidParameter, match="hostname and the UTS mode"):
        procopts.validate({"Hostname": "h"}, {"UTSMode": "host"}, FACTS)


@pytest.mark.parametrize("value,num", [("SIGUSR1", 10), ("usr1", 10), ("10", 10),
                                       ("SIGRTMIN+3", int(signal.SIGRTMIN) + 3), (9, 9)])
def test_stop_signal(value, num):
    assert procopts.stop_signal({"StopSignal": value}) == num
    assert procopts.stop_signal({}, "SIGQUIT") == signal.SIGQUIT
    assert procopts.stop_signal({}) == signal.SIGTERM


@pytest.mark.parametrize("value", ["SIGNOPE", "0", "32", "65", "", "१०", True])
def test_bad_stop_signal(value):
    with pytest.raises(InvalidParameter, match="StopSignal"):
        procopts.parse_signal(value, "StopSignal")


def config(**kw) -> dict:
    spec = ProcessSpec(container_id="c1", rootfs="/r", args=["sh", "-c", "x"],
                       netns_path="/run/netns/c1", hostname="h", **kw)
    return build_config(spec, "rootfs", False)


def test_config_of_defaults_is_dockers():
    c = config()
    assert c["process"]["capabilities"]["bounding"] == DEFAULT_CAPS
    assert [n["type"] for n in c["linux"]["namespaces"]] == ["pid", "ipc", "mount",
                                                             "network", "uts"]
    assert c["hostname"] == "h" and not c["root"]["readonly"] and "rlimits" not in c["process"]
    assert "seccomp" in c["linux"] and c["linux"]["maskedPaths"]
    shm = next(m for m in c["mounts"] if m["destination"] == "/dev/shm")
    assert "size=65536k" in shm["options"]


def test_config_of_process_options():
    c = config(caps=["CAP_CHOWN"], init="/usr/bin/tini-static", read_only=True,
               shm_size=1 << 27, oom_score_adj=5, uts_host=True, pid_ns="host",
               cgroup_ns=True, rlimits=[{"type": "RLIMIT_NOFILE", "hard": 2, "soft": 1}],
               devices=[{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
                         "fileMode": 0o666, "uid": 0, "gid": 0, "access": "rw"}],
               device_rules=[{"allow": True, "type": "b", "major": 7, "minor": 0,
                              "access": "r"}])
    assert c["process"]["args"] == ["/sbin/docker-init", "-s", "--", "sh", "-c", "x"]
    init = next(m for m in c["mounts"] if m["destination"] == "/sbin/docker-init")
    assert init["source"] == "/usr/bin/tini-static" and "ro" in init["options"]
    assert c["process"]["capabilities"]["effective"] == ["CAP_CHOWN"]
    assert c["root"]["readonly"] and c["process"]["oomScoreAdj"] == 5
    assert c["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 2, "soft": 1}]
    assert [n["type"] for n in c["linux"]["namespaces"]] == ["ipc", "mount", "network",
                                                             "cgroup"]
    assert "hostname" not in c
    shm = next(m for m in c["mounts"] if m["destination"] == "/dev/shm")
    assert f"size={1 << 27}" in shm["options"] and "size=65536k" not in shm["options"]
    assert c["linux"]["devices"] == [{"path": "/dev/mynull", "type": "c", "major": 1,
                                      "minor": 3, "fileMode": 0o666, "uid": 0, "gid": 0}]
    rules = c["linux"]["resources"]["devices"]
    assert rules[0] == {"allow": False, "access": "rwm"}
    assert rules[-2:] == [{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                          {"allow": True, "type": "b", "major": 7, "minor": 0, "access": "r"}]


def test_config_of_privileged_and_joined_namespaces():
    c = config(privileged=True, caps=list(ALL_CAPS), pid_ns="/proc/42/ns/pid",
               ipc_ns="host", shm="/dev/shm")
    linux = c["linux"]
    assert "seccomp" not in linux and linux["maskedPaths"] == [] == linux["readonlyPaths"]
    assert linux["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    sysfs = next(m for m in c["mounts"] if m["destination"] == "/sys")
    assert "ro" not in sysfs["options"] and "rw" in sysfs["options"]
    assert {"type": "pid", "path": "/proc/42/ns/pid"} in linux["namespaces"]
    assert "ipc" not in [n["type"] for n in linux["namespaces"]]
    shm = next(m for m in c["mounts"] if m["destination"] == "/dev/shm")
    assert shm["type"] == "bind" and shm["source"] == "/dev/shm"
    none = config(shm="none")
    assert not any(m["destination"] == "/dev/shm" for m in none["mounts"])


def test_cli_spellings():
    """boxnet run's --ulimit, --shm-size and --device, parsed as the docker CLI does."""
    from boxnet.client.errors import OptionError
    from boxnet.client.procspecs import device, ram_bytes, ulimit
    assert ulimit("nofile=1024:2048") == {"Name": "nofile", "Soft": 1024, "Hard": 2048}
    assert ulimit("core=0") == {"Name": "core", "Soft": 0, "Hard": 0}
    assert ulimit("memlock=-1:unlimited") == {"Name": "memlock", "Soft": -1, "Hard": -1}
    assert ram_bytes("64m", "--shm-size") == 64 << 20 and ram_bytes("1.5GB", "x") == 3 << 29
    assert ram_bytes("512", "x") == 512 and ram_bytes("2KiB", "x") == 2048
    assert device("/dev/null") == {"PathOnHost": "/dev/null", "PathInContainer": "/dev/null",
                                   "CgroupPermissions": "rwm"}
    assert device("/dev/null:/dev/mynull:r") == {"PathOnHost": "/dev/null",
                                                 "PathInContainer": "/dev/mynull",
                                                 "CgroupPermissions": "r"}
    assert device("/dev/fuse:rw")["CgroupPermissions"] == "rw"
    for bad, parse in (("nofile", ulimit), ("nofile=x", ulimit), ("1q", lambda v: ram_bytes(
            v, "--shm-size")), ("/a:/b:/c", device), (":/b", device)):
        with pytest.raises(OptionError):
            parse(bad)


def test_init_is_a_subreaper_outside_its_own_pid_namespace():
    assert config(init="/t", pid_ns="host")["process"]["args"][:3] == \
        ["/sbin/docker-init", "-s", "--"]
