"""client/uiproxy.py's gate: only the page's GETs, only for the proxy's own Host and Origin."""

from __future__ import annotations

import pytest

from boxnet.client.uiproxy import allowed

H = {"host": "127.0.0.1:7878"}


@pytest.mark.parametrize("method,target", [
    ("GET", "/boxnet/ui/"), ("GET", "/boxnet/ui/app.js"), ("GET", "/networks"),
    ("GET", "/v1.50/containers/json?all=1"), ("GET", "/events?filters=x"),
    ("GET", "/boxnet/v1/diagnose?from=a&to=b"), ("HEAD", "/boxnet/v1/flows")])
def test_passes(method, target):
    assert allowed(method, target, H, 7878) == ""


@pytest.mark.parametrize("method,target", [
    ("POST", "/networks"), ("DELETE", "/containers/x"), ("GET", "/info"),
    ("GET", "/containers/x/json"), ("GET", "/networks/x"), ("GET", "/boxnet/ui/../x"),
    ("GET", "/containers/json/../../info"), ("GET", "/_ping")])
def test_refuses_other_requests(method, target):
    assert allowed(method, target, H, 7878)


def test_refuses_foreign_host_and_origin():
    assert "Host" in allowed("GET", "/networks", {"host": "evil.example"}, 7878)
    assert "Host" in allowed("GET", "/networks", {"host": "127.0.0.1:9999"}, 7878)
    assert allowed("GET", "/networks", {"host": "localhost:7878"}, 7878) == ""
    assert "Origin" in allowed("GET", "/networks", {**H, "origin": "http://evil.example"}, 7878)
    assert allowed("GET", "/networks", {**H, "origin": "http://127.0.0.1:7878"}, 7878) == ""
