"""Docker 27/28 IPv6 daemon flags (--ipv6, --fixed-cidr-v6, --host-gateway-ip)
and `host-gateway` per family in /etc/hosts (core/sandbox.py)."""

from __future__ import annotations

import pytest

from boxnet.core import sandbox
from boxnet.daemon.flags import parser, to_config
from boxnet.errors import InvalidParameter
from boxnet.model import Endpoint, IpamPool, Network
from boxnet.model.container import Container, ContainerConfig


def cfg(*argv):
    return to_config(parser().parse_args(list(argv)))


def test_default_bridge_ipv6_flags():
    c = cfg("--ipv6", "--fixed-cidr-v6", "fd00:db8:1::/64")
    assert (c.ipv6, c.fixed_cidr_v6) == (True, "fd00:db8:1::/64")
    assert (cfg().ipv6, cfg().fixed_cidr_v6) == (False, "")
    assert cfg("--ipv6").fixed_cidr_v6 == ""          # a ULA /64 is taken


@pytest.mark.parametrize("argv,words", [
    (["--fixed-cidr-v6", "fd00:db8:1::/64"], "needs --ipv6"),
    (["--ipv6", "--fixed-cidr-v6", "10.0.0.0/24"], "not an IPv6 subnet"),
    (["--ipv6", "--fixed-cidr-v6", "fd00:db8:1::1/64"], "canonical"),
    (["--ipv6", "--fixed-cidr-v6", "fd00::/64", "--bridge", "none"], "mutually exclusive"),
    (["--host-gateway-ip", "nope"], "not an IP address"),
    (["--host-gateway-ip", "10.0.0.1", "--host-gateway-ip", "10.0.0.2"], "only one IPv4"),
    (["--host-gateway-ip", "fd00::1", "--host-gateway-ip", "fd00::2"], "only one IPv6"),
])
def test_bad_flags_are_refused(argv, words):
    with pytest.raises(InvalidParameter, match=words):
        cfg(*argv)


def test_host_gateway_ips_one_per_family_v4_first():
    assert cfg("--host-gateway-ip", "fd00::5", "--host-gateway-ip",
               "10.0.0.5").host_gateway_ips == ["10.0.0.5", "fd00::5"]


def _bridge(v6: bool) -> dict:
    pools = [IpamPool(subnet="172.17.0.0/16", gateway="172.17.0.1")]
    if v6:
        pools.append(IpamPool(subnet="fd00:b1::/64", gateway="fd00:b1::1"))
    return {"b": Network(id="b", name="bridge", driver="bridge", predefined=True,
                         enable_ipv6=v6, pools=pools)}


def test_host_gateway_default_and_configured():
    assert sandbox.host_gateway_ip(_bridge(False)) == "172.17.0.1"
    assert sandbox.host_gateway_ip(_bridge(True)) == "172.17.0.1,fd00:b1::1"
    assert sandbox.host_gateway_ip(_bridge(True), ["fd00::9", "10.0.0.9"]) == "10.0.0.9,fd00::9"
    assert sandbox.host_gateway_ip({}, ["fd00::9"]) == "fd00::9"


def _hosts(endpoints, gw):
    c = Container(id="c" * 64, name="c", created="",
                  config=ContainerConfig(image="busybox", extra_hosts=["hg:host-gateway",
                                                                        "x:10.1.1.1"]))
    return sandbox.hosts_text(c, endpoints, gw)


def test_hosts_file_has_one_line_per_family():
    dual = [Endpoint(id="e", network_id="n", container_id="c", ipv4="172.17.0.2/16",
                     ipv6="fd00:b1::2/64")]
    text = _hosts(dual, "172.17.0.1,fd00:b1::1")
    assert "172.17.0.1\thg\n" in text and "fd00:b1::1\thg\n" in text
    assert "10.1.1.1\tx\n" in text
    v4only = [Endpoint(id="e", network_id="n", container_id="c", ipv4="172.17.0.2/16")]
    text = _hosts(v4only, "172.17.0.1,fd00:b1::1")
    assert "172.17.0.1\thg\n" in text and "fd00:b1::1" not in text
    v6only = [Endpoint(id="e", network_id="n", container_id="c", ipv6="fd00:b1::2/64")]
    assert "fd00:b1::1\thg\n" in _hosts(v6only, "172.17.0.1,fd00:b1::1")


def test_host_ipv6_nameservers_only_for_containers_with_ipv6(tmp_path, monkeypatch):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.53\nnameserver fd00:53::1\n")
    real = sandbox.host_nameservers
    monkeypatch.setattr(sandbox, "host_nameservers", lambda: real(str(resolv)))
    c = Container(id="c" * 64, name="c", created="", config=ContainerConfig(image="busybox"))
    assert "nameserver fd00:53::1" in sandbox.resolv_text(c, ipv6=True)
    text = sandbox.resolv_text(c, ipv6=False)
    assert "nameserver 192.0.2.53" in text and "fd00:53::1" not in text
    c6 = Container(id="c" * 64, name="c", created="",
                   config=ContainerConfig(image="busybox", dns=["fd00:99::1"]))
    assert "nameserver fd00:99::1" in sandbox.resolv_text(c6, ipv6=False)   # --dns kept
