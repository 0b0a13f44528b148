"""Never delete what boxnet did not create (issue 14 item 8), on the real kernel.

* a bridge that existed before, adopted with com.docker.network.bridge.name,
  survives daemon restarts (reconcile, GC) and `network rm`, with the user's
  address; a bridge boxnet itself created under a chosen name is removed
  with its network (control);
* unmarked look-alikes (``veth<11 hex>``, ``bxgc-...``) are left alone at start;
* two boxnetds with different data roots in one netns: the second one is
  refused while it would take the first one's nftables tables, and runs with
  ``--firewall none``; each one's stops, SIGKILLs, restarts (reconcile, GC)
  and removals leave the other's bridges, veths, macvlan containers and nft
  state in place and working (ping); a dead owner's tables are taken over.
"""

from __future__ import annotations

import copy
import json
import secrets
import shutil
import time

import pytest

from boxnet.kernel.linkmark import owner_id
from integration import cleanup, harness
from integration.lan import Lan

pytestmark = pytest.mark.kernel
SLEEP = ("busybox", "sleep", "3600")


class Twin(harness.TestHost):
    """A second daemon in the SAME netns as ``host``, with its own roots and socket."""

    __test__ = False

    def __init__(self, host: harness.TestHost) -> None:   # noqa: D107 - no new netns
        self.name, self.netns = host.name, host.netns
        self.dir = harness.TMP_BASE / f"{host.name}-twin{secrets.token_hex(2)}"
        self.dir.mkdir(mode=0o700)
        harness.CREATED_DIRS.add(self.dir)
        self.data_root, self.exec_root = self.dir / "data", self.dir / "exec"
        self.data_root.mkdir()
        self.exec_root.mkdir()
        self.sock = self.dir / "sock"
        self.host_uri = f"unix://{self.sock}"
        self.log_path = self.dir / "boxnetd.log"
        self.proc = None
        self.daemon_args = []
        self.outsides = []
        for key, value in vars(host).items():   # the harness's other settings, as host's
            if not hasattr(self, key):
                setattr(self, key, copy.copy(value))
        harness.LIVE_HOSTS.append(self)

    def teardown(self) -> list[str]:
        """Stop this daemon and remove its containers and dir; never the shared netns."""
        problems = []
        try:
            self.stop()
        except AssertionError as e:
            problems.append(str(e).splitlines()[0])
        problems += cleanup.delete_runc_containers(self.dir)
        cleanup.kill_netns_processes(cleanup.nsfs_mounts_under(self.dir))
        problems += cleanup.umount_under(self.dir)
        if not cleanup.mounts_under(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
        if self in harness.LIVE_HOSTS:
            harness.LIVE_HOSTS.remove(self)
        return problems


def _links(h) -> dict[str, dict]:
    return {link["ifname"]: link for link in h.links()}


def _alias(h, name: str) -> str:
    return _links(h).get(name, {}).get("ifalias", "")


def _ping(h, container: str, ip: str) -> bool:
    return h.exec(container, "ping", "-c1", "-W2", ip).returncode == 0


def _until(fn, secs: float = 10.0) -> bool:
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if fn():
            return True
        time.sleep(0.2)
    return False


def _bridge(h, net: str) -> str:
    nw = h.network(net)
    return nw["Options"].get("com.docker.network.bridge.name") or "br-" + nw["Id"][:12]


def test_pre_existing_bridge_is_adopted_never_deleted(host):
    host.sh("ip link add usrbr0 type bridge && ip addr add 10.77.0.254/24 dev usrbr0 "
            "&& ip link set usrbr0 up")
    try:
        host.cli("network", "create", "-o", "com.docker.network.bridge.name=usrbr0",
                 "--subnet", "10.77.0.0/24", "--gateway", "10.77.0.1", "own-adopt")
        host.cli("run", "-d", "--name", "ad1", "--network", "own-adopt", *SLEEP)
        assert _ping(host, "ad1", "10.77.0.254")          # the user's address, through it
        assert _alias(host, "usrbr0") == "", "boxnet must not mark a bridge it adopted"
        host.restart()                                     # reconcile + GC
        assert "usrbr0" in _links(host) and _ping(host, "ad1", "10.77.0.1")
        host.cli("rm", "-f", "ad1")
        host.cli("network", "rm", "own-adopt")
        time.sleep(0.5)                                    # background deletions, if any
        link = _links(host).get("usrbr0")
        assert link is not None, "network rm deleted a bridge boxnet did not create"
        addrs = json.loads(host.sh(["ip", "-j", "addr", "show", "dev", "usrbr0"]).stdout)
        assert "10.77.0.254" in {a["local"] for a in addrs[0]["addr_info"]}
        assert '"usrbr0"' not in host.sh("nft list set inet boxnet bridges").stdout
        host.restart()
        assert "usrbr0" in _links(host)
    finally:
        host.sh("ip link del usrbr0", check=False)
    # control: a bridge boxnet creates under a chosen name carries its mark and goes
    host.cli("network", "create", "-o", "com.docker.network.bridge.name=bxown1",
             "--subnet", "10.78.0.0/24", "own-made")
    assert _alias(host, "bxown1") == f"boxnet:{owner_id(str(host.data_root))}:bridge"
    host.cli("network", "rm", "own-made")
    assert _until(lambda: "bxown1" not in _links(host)), "boxnet's own bridge was kept"


def test_unmarked_look_alikes_are_left_alone_at_start(host):
    veth, garbage = "veth" + secrets.token_hex(6)[:11], "bxgc-" + secrets.token_hex(5)
    host.sh(f"ip link add {garbage} type bridge && ip link add {veth} type veth peer "
            f"name own-peer0 && ip link set {veth} alias boxnet:0123456789ab:veth")
    try:
        host.restart()
        names = set(_links(host))
        assert {veth, garbage, "own-peer0"} <= names, "start-up removed links it did not make"
    finally:
        host.sh(f"ip link del {veth}; ip link del {garbage}", check=False)


@pytest.fixture
def twin(host):
    """A second boxnetd in host's netns (not started)."""
    t = Twin(host)
    yield t
    problems = t.teardown()
    assert not problems, problems


def _state(h, net: str) -> set[str]:
    """The host links a daemon's network uses: its bridge and the veths on it."""
    br = _bridge(h, net)
    return {br} | {n for n, li in _links(h).items() if li.get("master") == br}


def test_two_daemons_in_one_netns_never_remove_each_others_objects(host, twin):
    with pytest.raises(AssertionError) as refused:
        twin.start()
    msg = str(refused.value)
    assert str(host.data_root) in msg and "--firewall none" in msg, msg
    # as with two dockerds: its own default bridge (-b), no firewall of its own
    twin.start("--firewall", "none", "--bridge", "bxtwin0", "--bip", "10.83.0.1/24")
    lan = Lan(host.name, router_addrs=("198.19.130.1/24", "198.19.131.1/24"))
    try:
        _two_daemons(host, twin, lan)
    finally:
        for h, names, nets in ((twin, ("tb0", "tb1", "tb2", "mb1"), ("tb-net", "mb-lan")),
                               (host, ("ta1", "ta2", "ma1"), ("ta-net", "ma-lan"))):
            if h.running():
                h.cli("rm", "-f", *names, check=False)
                for n in nets:
                    h.cli("network", "rm", n, check=False)
        lan.teardown()


def _two_daemons(a, b, lan) -> None:
    a.cli("network", "create", "--subnet", "10.81.0.0/24", "ta-net")
    b.cli("network", "create", "--subnet", "10.82.0.0/24", "tb-net")
    a.cli("network", "create", "-d", "macvlan", "--subnet", "198.19.130.0/24",
          "--gateway", "198.19.130.1", "-o", "parent=eth1", "ma-lan")
    b.cli("network", "create", "-d", "macvlan", "--subnet", "198.19.131.0/24",
          "--gateway", "198.19.131.1", "-o", "parent=eth1", "mb-lan")
    for h, side in ((a, "a"), (b, "b")):
        for i in (1, 2):
            h.cli("run", "-d", "--name", f"t{side}{i}", "--network", f"t{side}-net", *SLEEP)
        h.cli("run", "-d", "--name", f"m{side}1", "--network", f"m{side}-lan", *SLEEP)
    b.cli("run", "-d", "--name", "tb0", *SLEEP)             # on B's default bridge
    a_links, b_links = _state(a, "ta-net"), _state(b, "tb-net")
    assert len(a_links) == 3 and len(b_links) == 3, (a_links, b_links)
    assert _bridge(b, "bridge") == "bxtwin0" and _bridge(a, "bridge") == "boxnet0"
    a_links.add("boxnet0")
    b_links |= _state(b, "bridge")
    a_ip, b_ip = a.ip_of("ta2", "ta-net"), b.ip_of("tb2", "tb-net")
    ma, mb = a.ip_of("ma1", "ma-lan"), b.ip_of("mb1", "mb-lan")
    def owner() -> str:
        return a.sh("nft list table inet boxnet_owner").stdout
    a_owner = owner()
    assert f"pid={a.proc.pid}" in a_owner and str(a.data_root) in a_owner, a_owner

    def a_intact(why: str) -> None:
        names = set(_links(a))
        assert a_links <= names, f"{why}: A lost {sorted(a_links - names)}"
        assert _ping(a, "ta1", a_ip), f"{why}: A's containers cannot reach each other"
        assert lan.ping(ma), f"{why}: A's macvlan container is unreachable"
        assert f'"{_bridge(a, "ta-net")}"' in a.sh("nft list set inet boxnet bridges").stdout
        assert f"pid={a.proc.pid}" in owner(), f"{why}: {owner()}"

    def b_intact(why: str) -> None:
        names = set(_links(b))
        assert b_links <= names, f"{why}: B lost {sorted(b_links - names)}"
        assert _ping(b, "tb1", b_ip), f"{why}: B's containers cannot reach each other"
        assert _ping(b, "tb0", "10.83.0.1"), f"{why}: B's default bridge is broken"
        assert lan.ping(mb), f"{why}: B's macvlan container is unreachable"

    a_intact("control")
    b_intact("control")
    b.restart()
    a_intact("B restarted")
    assert "left alone" in b.log_tail(400), "B's start-up never even looked at A's veths"
    b.kill9()
    b.start(*b.daemon_args)
    a_intact("B killed and restarted")
    a.restart()
    b_intact("A restarted")
    a.kill9()
    a.start(*a.daemon_args)
    b_intact("A killed and restarted")
    a_intact("A killed and restarted (its own)")
    b.cli("rm", "-f", "tb0", "tb1", "tb2", "mb1")
    b.cli("network", "rm", "tb-net", "mb-lan")
    gone = b_links - {"bxtwin0"}           # a default bridge stays, as Docker's docker0
    assert _until(lambda: not (gone & set(_links(b)))), "B's own links were not removed"
    assert "eth1" in _links(a), "a macvlan network removal deleted the user's parent"
    a_intact("B removed its containers and networks")


def test_a_dead_owners_tables_are_taken_over(host, twin):
    host.kill9()
    try:
        twin.start()                    # nftables: the recorded owner is gone
        owner = host.sh("nft list table inet boxnet_owner").stdout
        assert f"pid={twin.proc.pid}" in owner, owner
        assert "taking over" in twin.log_tail()
        twin.stop()
    finally:
        host.start(*host.daemon_args)   # and back: its previous owner is gone too
    assert f"id={owner_id(str(host.data_root))}" in host.sh(
        "nft list table inet boxnet_owner").stdout


def test_bridge_none_makes_no_default_bridge_network(host, twin):
    twin.start("--firewall", "none", "--bridge", "none")
    names = {n["Name"] for n in twin.api_ok("GET", "/networks")}
    assert "bridge" not in names and {"host", "none"} <= names, names
    r = twin.cli("run", "-d", "--name", "nob", *SLEEP, check=False)
    assert r.returncode != 0 and "bridge" in r.stderr, r.stdout + r.stderr
