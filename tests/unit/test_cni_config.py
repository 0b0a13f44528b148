"""cni/config.py: the CNI configuration and environment checks, result shaping (sans-I/O)."""

from __future__ import annotations

import json

import pytest

from boxnet.cni import config as cc


def conf(**kw) -> bytes:
    return json.dumps({"cniVersion": "1.1.0", "name": "n", "type": "boxnet", **kw}).encode()


@pytest.mark.parametrize("raw,code", [
    (b"{", cc.DECODE_FAILURE), (b"[]", cc.DECODE_FAILURE),
    (conf(cniVersion="0.2.0"), cc.INCOMPATIBLE_VERSION), (conf(cniVersion=1), cc.INCOMPATIBLE_VERSION),
    (conf(bridge="x"), cc.UNSUPPORTED_FIELD), (conf(ipam={}), cc.UNSUPPORTED_FIELD),
    (conf(ipMasq=True), cc.UNSUPPORTED_FIELD),
    (conf(runtimeConfig={"bandwidth": {}}), cc.UNSUPPORTED_FIELD),
    (conf(name=""), cc.INVALID_CONFIG), (conf(network=3), cc.INVALID_CONFIG),
])
def test_bad_configs(raw, code):
    with pytest.raises(cc.CniError) as e:
        cc.parse_conf(raw, "ADD")
    assert e.value.code == code


def test_unknown_field_message_names_key_and_value():
    with pytest.raises(cc.CniError) as e:
        cc.parse_conf(conf(bridge="br0"), "ADD")
    assert e.value.msg == 'unsupported field bridge="br0"'


def test_status_and_gc_need_1_1():
    with pytest.raises(cc.CniError) as e:
        cc.parse_conf(conf(cniVersion="1.0.0"), "GC")
    assert e.value.code == cc.INCOMPATIBLE_VERSION
    assert cc.parse_conf(conf(cniVersion="1.0.0"), "ADD")["name"] == "n"


def test_env_checks():
    with pytest.raises(cc.CniError) as e:
        cc.env_args({"CNI_CONTAINERID": "c", "CNI_IFNAME": "eth0"}, "ADD")
    assert e.value.code == cc.INVALID_ENV and "CNI_NETNS" in e.value.msg
    with pytest.raises(cc.CniError):
        cc.env_args({"CNI_CONTAINERID": "c", "CNI_NETNS": "/x", "CNI_IFNAME": "a/b"}, "ADD")
    assert cc.env_args({"CNI_CONTAINERID": "c", "CNI_IFNAME": "eth0"}, "DEL")["netns"] == ""


def test_wanted_sources_and_checks():
    c = {"runtimeConfig": {"ips": ["10.0.0.5/24"], "mac": "02:00:00:00:00:01"}}
    assert cc.wanted(c, {}) == (["10.0.0.5"], "02:00:00:00:00:01")
    assert cc.wanted({"args": {"cni": {"ips": ["fd00::5"]}}}, {}) == (["fd00::5"], "")
    assert cc.wanted({}, {"CNI_ARGS": "IgnoreUnknown=1;IP=10.0.0.7;X=1"}) == (["10.0.0.7"], "")
    for bad in ({"runtimeConfig": {"ips": ["10.0.0.1", "10.0.0.2"]}},
                {"runtimeConfig": {"ips": ["nope"]}}, {"runtimeConfig": {"mac": "zz"}}):
        with pytest.raises(cc.CniError) as e:
            cc.wanted(bad, {})
        assert e.value.code == cc.INVALID_CONFIG
    with pytest.raises(cc.CniError) as e:
        cc.wanted({}, {"CNI_ARGS": "X=1"})
    assert e.value.code == cc.INVALID_ENV


def test_result_chained_after_prev_and_old_versions():
    ours = {"interfaces": [{"name": "vethA"}, {"name": "eth0", "sandbox": "/ns"}],
            "ips": [{"address": "10.0.0.2/24", "gateway": "10.0.0.1", "interface": 1}],
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}], "dns": {}}
    prev = {"interfaces": [{"name": "lo0"}], "ips": [], "routes": [], "dns": {"nameservers": ["1.1.1.1"]}}
    out = cc.shape_result(ours, "1.1.0", prev)
    assert [i["name"] for i in out["interfaces"]] == ["lo0", "vethA", "eth0"]
    assert out["ips"][0]["interface"] == 2 and out["dns"] == {"nameservers": ["1.1.1.1"]}
    old = cc.shape_result(ours, "0.4.0", None)
    assert old["ips"][0]["version"] == "4" and old["cniVersion"] == "0.4.0"
    assert ours["ips"][0]["interface"] == 1    # the input is not changed


def test_error_json():
    assert cc.CniError(7, "m", "d").to_json("1.0.0") == {"cniVersion": "1.0.0", "code": 7,
                                                         "msg": "m", "details": "d"}
