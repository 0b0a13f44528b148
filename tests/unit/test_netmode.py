"""Network mode `container:X`: dockerd's create-time refusals (pure logic) and the OCI
bundle of a container joining another one's namespace."""

from __future__ import annotations

import pytest

from boxnet.core import netmode
from boxnet.errors import InvalidParameter
from boxnet.model import ContainerConfig, EndpointSettings, PortBinding
from boxnet.runtime.api import ProcessSpec
from boxnet.runtime.bundle import build_config


def cfg(**kw) -> ContainerConfig:
    return ContainerConfig(image="busybox", network_mode="container:main", **kw)


@pytest.mark.parametrize("kw,words", [
    ({"hostname": "h"}, "hostname and the network mode"),
    ({"links": ["a:b"]}, "links"),
    ({"dns": ["10.0.0.1"]}, "dns and the network mode"),
    ({"dns_search": ["example"]}, "dns search/options"),
    ({"extra_hosts": ["a:10.0.0.1"]}, "custom host-to-IP mapping"),
    ({"raw_config": {"MacAddress": "02:00:00:00:00:01"}}, "mac-address"),
    ({"port_bindings": [PortBinding(container_port=80)], "exposed_ports": ["80/tcp"]},
     "port publishing"),
    ({"raw_host_config": {"PublishAllPorts": True}}, "port publishing"),
    ({"exposed_ports": ["80/tcp"]}, "port exposing"),
])
def test_conflicting_options(kw, words):
    with pytest.raises(InvalidParameter) as e:
        netmode.validate_create(cfg(**kw), {})
    assert e.value.message.startswith("conflicting options: ") and words in e.value.message


def test_hostname_is_checked_first_as_dockerd_does():
    with pytest.raises(InvalidParameter, match="hostname"):
        netmode.validate_create(cfg(hostname="h", dns=["10.0.0.1"]), {})


def test_endpoint_settings():
    eps = {"container:main": EndpointSettings(network_id="")}
    netmode.validate_create(cfg(), eps)
    assert eps == {}  # empty entries (older clients) are dropped
    with pytest.raises(InvalidParameter, match="mac-address"):
        netmode.validate_create(cfg(), {"n": EndpointSettings(network_id="", mac="02:00:00:00:00:01")})
    with pytest.raises(InvalidParameter, match="NetworkingConfig"):
        netmode.validate_create(cfg(), {"n": EndpointSettings(network_id="", aliases=["a"])})


def test_format():
    for mode in ("container:", "container"):
        with pytest.raises(InvalidParameter, match="invalid container format"):
            netmode.validate_create(ContainerConfig(image="b", network_mode=mode), {})
    assert netmode.is_container_mode("container:x") and not netmode.is_container_mode("bridge")
    assert netmode.target_ref("container:abc") == "abc"


def test_bundle_joins_without_sysctls():
    spec = ProcessSpec(container_id="c1", rootfs="/r", args=["sh"], hostname="h",
                       netns_path="/proc/42/ns/net")
    conf = build_config(spec, "/r", False)
    ns = conf["linux"]["namespaces"]
    assert {"type": "network", "path": "/proc/42/ns/net"} in ns and {"type": "uts"} in ns
    assert "sysctl" not in conf["linux"] and conf["hostname"] == "h"
    own = build_config(ProcessSpec(container_id="c2", rootfs="/r", args=["sh"],
                                   netns_path="/run/boxnet/netns/c2"), "/r", False)
    assert own["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"] == "0"
