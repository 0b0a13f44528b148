"""client/specs.py: -p, --restart and seccomp values raise a plain OptionError (no click),
which compose words as a project error naming the service (the CLI's exit-125 wording is
tested in test_cli.py); and the compose front end runs without click loaded."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from boxnet.client.errors import OptionError
from boxnet.client.specs import parse_publish, parse_restart, security_opts
from boxnet.compose import loader, project
from boxnet.compose.errors import ProjectError


def test_publish_specs():
    assert parse_publish("127.0.0.1:8080-8081:80-81/udp") == [
        ("80/udp", {"HostIp": "127.0.0.1", "HostPort": "8080"}),
        ("81/udp", {"HostIp": "127.0.0.1", "HostPort": "8081"})]
    assert parse_publish("[::1]:53:53") == [("53/tcp", {"HostIp": "::1", "HostPort": "53"})]
    assert parse_publish("80") == [("80/tcp", {"HostIp": "", "HostPort": ""})]


@pytest.mark.parametrize("call,msg", [
    (lambda: parse_publish("80/xyz"), "invalid proto: xyz"),
    (lambda: parse_publish("garbage"), "invalid containerPort: garbage"),
    (lambda: parse_publish("1.2.3:80:80"), "invalid IP address: 1.2.3"),
    (lambda: parse_publish("8080-8082:80-81"), "invalid ranges specified for container and "
                                               "host Ports: 80-81 and 8080-8082"),
    (lambda: parse_restart("on-failure:"), "invalid restart policy format: on-failure:"),
    (lambda: security_opts(["seccomp=/nonexistent/p.json"]),
     "opening seccomp profile (/nonexistent/p.json) failed: No such file or directory"),
])
def test_bad_values_raise_a_plain_error(call, msg):
    with pytest.raises(OptionError) as e:
        call()
    assert str(e.value) == msg and isinstance(e.value, ValueError)


def test_compose_names_the_service(tmp_path):
    path = tmp_path / "compose.yaml"
    path.write_text(textwrap.dedent("""
        services:
          web:
            image: busybox
            ports: ["80/xyz"]
    """))
    p = loader.load([str(path)], environ={})
    # The body is refused before any request: no client is needed to see the error.
    with pytest.raises(ProjectError) as e:
        project.Runner(None, p)._create(p.services["web"], 1, "x-web-1")
    assert str(e.value) == "service 'web': boxnet: invalid proto: xyz"


def test_compose_and_client_run_without_click():
    """Every compose and client module imported in a fresh interpreter: neither click
    nor any module of the CLI is loaded."""
    code = textwrap.dedent("""
        import importlib, pkgutil, sys
        import boxnet.client, boxnet.compose
        for pkg in (boxnet.compose, boxnet.client):
            for m in pkgutil.iter_modules(pkg.__path__):
                importlib.import_module(pkg.__name__ + "." + m.name)
        print(sorted(n for n in sys.modules
                     if n.split(".")[0] == "click" or n.split(".")[:2] == ["boxnet", "cli"]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "[]"
