"""api/unsupported.py: the create bodies real clients send pass; a field set to
a value boxnet does not implement is refused with 400 naming the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from boxnet.api.routes.container_create import build_create
from boxnet.api.unsupported import check_container_create, check_network_create
from boxnet.errors import InvalidParameter

# Recorded on the wire (a tee proxy): `docker create --name x busybox sleep 1`
# from the docker CLI 28.2.2, and a compose v2 service with ports, a bind
# volume and a healthcheck.
BODIES = json.loads((Path(__file__).parent / "data" / "create_bodies.json").read_text())
DOCKER_PY = {"Tty": False, "OpenStdin": False, "StdinOnce": False, "AttachStdin": False,
             "AttachStdout": False, "AttachStderr": False, "Cmd": ["true"], "Image": "busybox",
             "NetworkDisabled": False, "HostConfig": {"NetworkMode": "default"}}


@pytest.mark.parametrize("client", [*BODIES, "docker-py"])
def test_real_client_bodies_pass(client):
    """What the docker CLI, compose v2 and docker-py send by default is accepted."""
    body = BODIES.get(client, DOCKER_PY)
    check_container_create(body)
    _, cfg, _ = build_create(json.dumps(body).encode(), "x")
    assert cfg.image == "busybox"


def test_namespaced_sysctls_accepted_except_without_own_netns():
    """--sysctl net.* / IPC sysctls are set per container (as Docker), net.* not in host mode."""
    body = copy.deepcopy(BODIES["docker-cli-28.2.2"])
    body["HostConfig"]["Sysctls"] = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1048576"}
    check_container_create(body)
    for mode in ("host", "container:abc"):
        body["HostConfig"]["NetworkMode"] = mode
        with pytest.raises(InvalidParameter, match="net.ipv4.ip_forward.*own network namespace"):
            check_container_create(body)


@pytest.mark.parametrize("section,field,value", [
    ("HostConfig", "UsernsMode", "private"), ("HostConfig", "CgroupParent", "mine"),
    ("HostConfig", "StorageOpt", {"size": "1G"}), ("HostConfig", "KernelMemoryTCP", 1 << 28),
    ("HostConfig", "CpuRealtimeRuntime", 950000), ("HostConfig", "Runtime", "kata"),
    ("HostConfig", "Sysctls", {"kernel.panic": "1"}),
    ("HostConfig", "Sysctls", {"net/../../kernel/x": "1"}),
    ("HostConfig", "DeviceRequests", [
        {"Driver": "nvidia", "Count": -1, "Capabilities": [["gpu"]]}]),
    ("HostConfig", "LogConfig", {"Type": "syslog", "Config": {}}),
    ("HostConfig", "BlkioWeightDevice", [{"Path": "/dev/sda", "Weight": 100}]),
    ("", "NetworkDisabled", True),
])
def test_refused_field_named(section, field, value):
    """A non-default value of an unsupported field: InvalidParameter naming it."""
    body = copy.deepcopy(BODIES["docker-cli-28.2.2"])
    (body[section] if section else body)[field] = value
    with pytest.raises(InvalidParameter) as e:
        check_container_create(body)
    name = f"{section}.{field}" if section else field
    assert e.value.message.startswith(f"{name} is not supported by boxnet: ")
    assert e.value.status == 400


@pytest.mark.parametrize("section,field,value", [
    ("HostConfig", "CapAdd", ["NET_RAW", "CAP_KILL"]), ("HostConfig", "Runtime", "runc"),
    ("HostConfig", "SecurityOpt", ["seccomp=unconfined"]), ("HostConfig", "IpcMode", "private"),
    ("HostConfig", "LogConfig", {"Type": "json-file", "Config": {"max-size": "10m"}}),
    ("HostConfig", "PidsLimit", -1), ("", "User", "root"), ("", "StopSignal", "SIGTERM"),
])
def test_values_that_change_nothing_pass(section, field, value):
    """Values equal to what boxnet does anyway are accepted."""
    body = copy.deepcopy(BODIES["docker-cli-28.2.2"])
    (body[section] if section else body)[field] = value
    check_container_create(body)


@pytest.mark.parametrize("mount,words", [
    ({"Type": "npipe", "Source": "x", "Target": "/x"}, 'mount type "npipe" is not supported'),
    ({"Type": "bind", "Source": "rel", "Target": "/x"}, "must be absolute"),
    ({"Type": "bind", "Source": "/srv", "Target": "/x", "BindOptions": {"NonRecursive": True}},
     "NonRecursive is not supported"),
    ({"Type": "volume", "Source": "v", "Target": "/x", "VolumeOptions": {"Subpath": "a"}},
     "Subpath is not supported"),
    ({"Type": "volume", "Source": "-bad", "Target": "/x"}, "invalid characters"),
    ({"Type": "tmpfs", "Target": "/x", "TmpfsOptions": {"SizeBytes": -1}}, "SizeBytes"),
])
def test_mounts_boxnet_cannot_honour_are_refused(mount, words):
    """HostConfig.Mounts (volumes/spec.py): what boxnet cannot honour is a 400 naming it."""
    body = copy.deepcopy(BODIES["docker-cli-28.2.2"])
    body["HostConfig"]["Mounts"] = [mount]
    with pytest.raises(InvalidParameter, match=words):
        build_create(json.dumps(body).encode(), "x")


@pytest.mark.parametrize("field,value,ok", [
    ("Scope", "local", True), ("Scope", "swarm", False), ("Ingress", True, False),
    ("ConfigFrom", {"Network": "x"}, False), ("ConfigOnly", False, True)])
def test_network_create(field, value, ok):
    """Network create: swarm-only fields are refused, their defaults pass."""
    body = {"Name": "n", "Driver": "bridge", field: value}
    if ok:
        check_network_create(body)
    else:
        with pytest.raises(InvalidParameter, match=f"^{field} is not supported"):
            check_network_create(body)


@pytest.mark.parametrize("section,field,value", [
    ("", "User", "1000:1000"), ("", "User", "nobody"), ("", "User", "app:staff"),
    ("HostConfig", "GroupAdd", ["audio", "4242"]),
    ("HostConfig", "SecurityOpt", ["no-new-privileges"]),
    ("HostConfig", "SecurityOpt", ["no-new-privileges:true", "seccomp=unconfined"]),
    ("HostConfig", "SecurityOpt", ['seccomp={"defaultAction": "SCMP_ACT_ALLOW", '
                                   '"syscalls": []}']),
    ("HostConfig", "SecurityOpt", ["apparmor=unconfined", "label=disable", "seccomp=builtin"]),
])
def test_users_and_security_options_accepted(section, field, value):
    """User, GroupAdd and SecurityOpt are honoured (runtime/users.py, secopts.py): accepted."""
    body = copy.deepcopy(BODIES["docker-cli-28.2.2"])
    (body[section] if section else body)[field] = value
    _, cfg, _ = build_create(json.dumps(body).encode(), "x")
    assert (cfg.raw_host_config if section else cfg.raw_config)[field] == value


@pytest.mark.parametrize("section,field,value,message", [
    ("HostConfig", "SecurityOpt", ["apparmor=docker-default"], "apparmor=docker-default"),
    ("HostConfig", "SecurityOpt", ["label=type:svirt_t"], "label=type:svirt_t"),
    ("HostConfig", "SecurityOpt", ["seccomp=/x.json"], "JSON content"),
    ("HostConfig", "SecurityOpt", ["seccomp={\"defaultAction\": \"SCMP_ACT_NOTIFY\", "
                                   "\"syscalls\": []}"], "defaultAction"),
    ("HostConfig", "SecurityOpt", ["no-new-privileges=maybe"], "no-new-privileges"),
    ("HostConfig", "SecurityOpt", ["writable-cgroups=true"], "writable-cgroups"),
    ("HostConfig", "SecurityOpt", ["bogus"], "bogus"),
    ("HostConfig", "GroupAdd", ["a:b"], "GroupAdd"),
    ("", "User", "a:b:c", "a:b:c"), ("", "User", 1000, "User must be a string"),
])
def test_bad_security_fields_named(section, field, value, message):
    """What boxnet cannot honour, or cannot parse, is a 400 naming it."""
    body = copy.deepcopy(BODIES["docker-cli-28.2.2"])
    (body[section] if section else body)[field] = value
    with pytest.raises(InvalidParameter) as e:
        build_create(json.dumps(body).encode(), "x")
    assert message in e.value.message and e.value.status == 400
