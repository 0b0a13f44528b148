"""Two dockerds create the same ``boxnet-overlay`` network at once (core/external_overlay.py):
the host that loses in etcd joins the winner's overlay, whether it lost on the name
(Conflict) or on the subnet (SubnetTaken, when etcd's subnet claim is seen before the
network record arrives by the watch).  A subnet held by an overlay of another name is
the user's clash and is reported at once.  The real race: tests/integration/
test_docker_plugin_overlay.py::test_both_hosts_create_at_once_and_meet.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from boxnet.core.external_overlay import ExternalOverlayOps
from boxnet.drivers.api import DockerIpam
from boxnet.errors import Conflict, SubnetTaken
from boxnet.model import IpamPool, Network

SUBNET = "10.206.0.0/24"


class Ipam(DockerIpam):
    """Counts the Docker users; the rest is not reached in these tests."""

    def __init__(self):
        self.users: list[str] = []

    async def docker_pool(self, subnet, local_nets):
        return subnet

    async def docker_claim(self, nw, address):
        raise AssertionError("not reached")

    async def bind_claims(self, nw, ep):
        raise AssertionError("not reached")

    async def docker_release(self, nw, address):
        raise AssertionError("not reached")

    async def docker_users(self, nw, docker_id, add):
        self.users.append(docker_id)
        return len(self.users)


class Drivers:
    def __init__(self, ipam):
        self.ipam = ipam

    def names(self):
        return ["overlay"]

    def ability(self, name, kind):
        return self.ipam if kind is DockerIpam else None


class Store:
    def __init__(self):
        self.rows = {}

    def load(self, kind, typ):
        return [v for (k, _), v in self.rows.items() if k == kind]

    def put(self, kind, key, value):
        self.rows[(kind, key)] = value


class Ctl(ExternalOverlayOps):
    """The controller's parts the overlay calls use; ``create_network`` loses the race
    with ``error`` and the winner's network arrives ``arrive`` seconds later."""

    def __init__(self, error, holder_name, arrive=0.1):
        self.drivers, self.store = Drivers(Ipam()), Store()
        self.networks, self.net_by_name = {}, {}
        self.error, self.holder_name, self.arrive = error, holder_name, arrive

    async def create_network(self, name, driver, **kw):
        winner = Network(id="w" * 64, name=self.holder_name, driver="overlay",
                         pools=[IpamPool(subnet=SUBNET, gateway="10.206.0.1")])

        async def watch():
            await asyncio.sleep(self.arrive)
            self.networks[winner.id] = winner
            self.net_by_name[winner.name] = winner
        self._watch = asyncio.ensure_future(watch())
        raise self.error


@pytest.mark.parametrize("error", [
    Conflict("network dov-10.206.0.0-24 exists"),
    SubnetTaken("invalid pool request: subnet 10.206.0.0/24 overlaps the overlay network "
                "dov-10.206.0.0-24's 10.206.0.0/24", holder="dov-10.206.0.0-24"),
], ids=["name", "subnet"])
async def test_the_loser_joins_the_winners_overlay(error):
    ctl = Ctl(error, "dov-10.206.0.0-24")
    nw = await ctl.create_external_overlay("d" * 64, SUBNET, "", "", internal=False,
                                           options={})
    assert nw.id == "w" * 64
    assert ctl.drivers.ipam.users == ["d" * 64]
    assert [m.network_id for m in ctl.store.load("plugin_overlays", None)] == ["w" * 64]


async def test_a_subnet_held_by_another_name_is_refused_at_once():
    err = SubnetTaken("invalid pool request: subnet 10.206.0.0/24 overlaps the overlay "
                      "network other's 10.206.0.0/24", holder="other")
    ctl = Ctl(err, "other")
    t0 = time.monotonic()
    with pytest.raises(SubnetTaken, match="other"):
        await ctl.create_external_overlay("d" * 64, SUBNET, "", "web", internal=False,
                                          options={})
    assert time.monotonic() - t0 < 1.0, "waited for a network that is not coming"
    assert not ctl.drivers.ipam.users and not ctl.store.rows
    await ctl._watch
