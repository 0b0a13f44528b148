"""core/policycheck.py: the create-time checks of a policy against the engine (no kernel)."""

from __future__ import annotations

import json
from types import SimpleNamespace as NS

import pytest

from boxnet.core import policycheck
from boxnet.errors import InvalidParameter
from boxnet.model import PortBinding


def _cfg(pol, ports=(), exposed=(), publish_all=False, labels=None, mode=""):
    lab = dict(labels or {})
    if pol is not None:
        lab["com.boxnet.policy"] = json.dumps(pol)
    return NS(labels=lab, port_bindings=[PortBinding(container_port=p, proto=pr)
                                         for p, pr in ports],
              exposed_ports=list(exposed), network_mode=mode,
              raw_host_config={"PublishAllPorts": publish_all})


def _check(cfg, name="me", nets=("back",), containers=()):
    return policycheck.check_create(cfg, name, lambda n: n in nets, list(containers))


def _c(name, service="", project=""):
    labels = {"com.docker.compose.service": service, "com.docker.compose.project": project}
    return NS(name="/" + name, config=NS(labels=labels))


def test_published_port_needs_a_cidr_rule_covering_it():
    grant = {"ingress": [{"cidr": "0.0.0.0/0", "ports": ["5432/tcp", "8000-8100/tcp"]}]}
    assert _check(_cfg(grant, ports=[(5432, "tcp"), (8050, "tcp")])) == []
    for ports, exposed, pa in (([(5432, "udp")], (), False), ([(9000, "tcp")], (), False),
                               ([], ("9000/tcp",), True)):
        with pytest.raises(InvalidParameter, match="is published"):
            _check(_cfg(grant, ports=ports, exposed=exposed, publish_all=pa))
    assert _check(_cfg(grant, exposed=("9000/tcp",))) == []        # exposed, not published
    assert _check(_cfg({"egress": []}, ports=[(80, "tcp")])) == []  # no ingress policy
    assert _check(_cfg({"ingress": []}, ports=[(80, "tcp")], mode="host")) == []


def test_networks_must_exist_and_unmatched_names_are_warnings():
    with pytest.raises(InvalidParameter, match="network 'nope', which does not exist"):
        _check(_cfg({"egress": [{"network": "nope"}]}))
    pol = {"ingress": [{"container": "app"}, {"service": "web"}, {"container": "me"},
                       {"service": "self"}]}
    w = _check(_cfg(pol, labels={"com.docker.compose.service": "self",
                                 "com.docker.compose.project": "p"}),
               containers=[_c("other", "web", "q")])
    assert len(w) == 2 and "container 'app'" in w[0] and "service 'web'" in w[1], w
    assert _check(_cfg(pol, labels={"com.docker.compose.service": "self",
                                    "com.docker.compose.project": "p"}),
                  containers=[_c("app"), _c("w1", "web", "p")]) == []
    assert _check(_cfg({"ingress": [{"service": "web"}]}), containers=[_c("w1", "web", "q")]) == []


def test_a_dropped_x_boxnet_policy_is_refused(tmp_path):
    f = tmp_path / "compose.yaml"
    f.write_text("services:\n  db:\n    image: busybox\n    x-boxnet:\n      policy:\n"
                 "        ingress: []\n  app:\n    image: busybox\n")
    import os
    os.mkfifo(tmp_path / "fifo")           # a label naming a FIFO never blocks the daemon
    lab = {"com.docker.compose.project.config_files":
           f"{tmp_path}/missing.yaml,{tmp_path}/fifo,/dev/zero,{f}"}
    with pytest.raises(InvalidParameter, match="x-boxnet policy in .*compose.yaml"):
        _check(_cfg(None, labels={**lab, "com.docker.compose.service": "db"}))
    assert _check(_cfg(None, labels={**lab, "com.docker.compose.service": "app"})) == []
    assert _check(_cfg({"ingress": []}, labels={**lab, "com.docker.compose.service": "db"})) == []
