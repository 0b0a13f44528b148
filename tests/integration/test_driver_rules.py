"""Docker's rules for the host and none networks (the HostStack and NoNetwork driver
abilities, drivers/api.py): a container on either may be on no other network, is
refused with Docker's status and words, and its interfaces stay as they were."""

from __future__ import annotations

import pytest

from integration.test_drivers import names_from_ip_o_link

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def world(host):
    """Containers on none, host and a user bridge network."""
    host.cli("network", "create", "--subnet", "10.140.0.0/24", "rules")
    host.cli("run", "-d", "--name", "rn", "--network", "none", "busybox", "sleep", "3600")
    host.cli("run", "-d", "--name", "rh", "--network", "host", "busybox", "sleep", "3600")
    host.cli("run", "-d", "--name", "rb", "--network", "rules", "busybox", "sleep", "3600")
    return host


def _links(world, name):
    return names_from_ip_o_link(world.exec(name, "ip", "-o", "link", check=True).stdout)


def _connect(world, net, container):
    return world.api("POST", f"/networks/{net}/connect", json={"Container": container})


def test_none_container_cannot_join_another_network(world):
    status, body = _connect(world, "rules", "rn")
    assert status == 403, body
    assert "private (none) mode" in body["message"]
    assert _links(world, "rn") == {"lo"}
    assert list(world.inspect("rn")["NetworkSettings"]["Networks"]) == ["none"]


def test_a_container_on_a_network_cannot_join_none(world):
    status, body = _connect(world, "none", "rb")
    assert status == 403, body
    assert "private (none) mode" in body["message"]
    assert _links(world, "rb") == {"lo", "eth0"}


def test_host_network_cannot_be_joined_or_left(world):
    before = _links(world, "rh")
    status, body = _connect(world, "rules", "rh")
    assert status == 403, body                  # a host-mode container joins nothing
    status, body = _connect(world, "host", "rb")
    assert status == 403, body                  # and nothing joins the host network
    assert "host network" in body["message"]
    status, body = world.api("POST", "/networks/host/disconnect", json={"Container": "rh"})
    assert status == 403, body                  # a running container stays on it
    assert "host network" in body["message"]
    assert _links(world, "rh") == before
    assert _links(world, "rb") == {"lo", "eth0"}


@pytest.mark.parametrize("special", ["host", "none"])
def test_create_on_host_or_none_and_another_network_is_refused(world, special):
    status, body = world.api("POST", "/containers/create?name=rx-" + special, json={
        "Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": special},
        "NetworkingConfig": {"EndpointsConfig": {special: {}, "rules": {}}}})
    assert status == 400, body
    assert "host or private (none) mode" in body["message"]
    status, _ = world.api("GET", f"/containers/rx-{special}/json")
    assert status == 404                        # nothing was created
