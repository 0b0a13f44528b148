"""Chaos: boxnetd in a private mount namespace, SIGKILLed five times in the middle
of bursts of run / connect / rm from several clients (issue 21).

Each client is a thread with its own API connection that keeps a ledger of
what the daemon acknowledged.  After every restart:
- every acknowledged container is there, and an acknowledged removal is gone;
- a container whose start was acknowledged runs on with the same PID, unless
  its process really exited (the short-lived ones), which then shows exited
  with its real exit code, also when it exited while the daemon was down
  (boxnet-supervisor recorded it);
- no address is held twice on a network, the store's endpoints are those the
  API reports, no veth is orphaned, and every sandbox is pinned again to the
  namespace its process is in (the pins vanished with the mount namespace);
- DNS and a published port work from and to surviving containers.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import threading
import time
from dataclasses import dataclass, field

import pytest

from integration import cleanup, harness
from integration.checks import clean_state_check, store_ids, veth_consistency
from integration.netprobe import probe, server_cmd, wait_ready
from integration.outside import Outside
from integration.privmount import PrivateMountHost, netns_inode

pytestmark = pytest.mark.kernel
ROUNDS = 5
CLIENTS = 3
PORT = 7000
EXIT_CODE = 3                      # what the short-lived containers exit with
SHORT = ["sh", "-c", f"sleep 1; exit {EXIT_CODE}"]
LONG = ["sleep", "3600"]
KILL_DURING = ("start", "connect", "rm", "create", "start")   # one kind of request per round


@dataclass
class Entry:
    """What the daemon acknowledged about one container (None: no answer yet)."""

    short: bool                    # exits by itself soon after its start
    # each: None not asked, False asked without an answer (in flight at the kill), True done
    created: bool | None = None
    started: bool | None = None
    pid: int = 0                   # from inspect right after the start (0: unknown)
    connected: bool | None = None  # to chaos-b
    removed: bool | None = None


@dataclass
class Ledger:
    """Every client's entries, by container name."""

    entries: dict[str, Entry] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    acks: int = 0
    want: str = ""       # the kind of request the next kill should cut short
    hit: threading.Event = field(default_factory=threading.Event)

    def ack(self) -> None:
        """One more acknowledged request."""
        with self.lock:
            self.acks += 1

    def sending(self, kind: str) -> None:
        """A client is about to send a request of `kind`."""
        if kind == self.want:
            self.hit.set()


class Client(threading.Thread):
    """One API client on its own (kept-alive) connection, creating, starting,
    connecting and removing containers until told to stop or the daemon dies."""

    def __init__(self, h, idx: int, rnd: int, ledger: Ledger, stop: threading.Event):
        super().__init__(daemon=True)
        self.h, self.idx, self.rnd, self.ledger, self.stop = h, idx, rnd, ledger, stop
        self.conn: harness.UnixHTTPConnection | None = None
        self.mine: list[str] = []
        self.error: BaseException | None = None   # anything but the daemon's death

    def req(self, method: str, path: str, body=None) -> tuple[int, object]:
        """One request on this client's connection (OSError/HTTPException if the daemon died)."""
        if self.conn is None:
            self.conn = harness.UnixHTTPConnection(str(self.h.sock), timeout=20)
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        try:
            self.conn.request(method, path, body=None if body is None else json.dumps(body),
                              headers=hdrs)
            resp = self.conn.getresponse()
            raw = resp.read()
        except BaseException:
            self.conn.close()
            self.conn = None
            raise
        return resp.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw)

    def run(self) -> None:
        """Bursts until stopped; any connection error ends the thread (the kill)."""
        n = 0
        try:
            while not self.stop.is_set():
                self.one(f"k{self.rnd}-{self.idx}-{n}", short=n % 3 == 1)
                n += 1
        except (OSError, http.client.HTTPException):
            pass
        except BaseException as exc:   # noqa: BLE001 - reported by burst_then_kill
            self.error = exc
        finally:
            if self.conn is not None:
                self.conn.close()

    def one(self, name: str, short: bool) -> None:
        """create, start, (connect), and sometimes rm -f an older one."""
        e = Entry(short=short, created=False)
        with self.ledger.lock:
            self.ledger.entries[name] = e
        self.ledger.sending("create")
        status, body = self.req("POST", f"/containers/create?name={name}", {
            "Image": "busybox", "Cmd": SHORT if short else LONG,
            "HostConfig": {"NetworkMode": "chaos-a"}})
        assert status == 201, (status, body)
        e.created = True
        self.ledger.ack()
        e.started = False
        self.ledger.sending("start")
        status, body = self.req("POST", f"/containers/{name}/start")
        assert status == 204, (status, body)
        e.started = True
        self.ledger.ack()
        self.mine.append(name)
        status, body = self.req("GET", f"/containers/{name}/json")
        assert status == 200, (status, body)
        e.pid = body["State"]["Pid"]
        if not short and random.random() < 0.5:
            e.connected = False
            self.ledger.sending("connect")
            status, body = self.req("POST", "/networks/chaos-b/connect", {"Container": name})
            assert status == 200, (status, body)
            e.connected = True
            self.ledger.ack()
        if len(self.mine) > 2 and random.random() < 0.4:
            old = self.mine.pop(0)
            victim = self.ledger.entries[old]
            victim.removed = False
            self.ledger.sending("rm")
            status, body = self.req("DELETE", f"/containers/{old}?force=1")
            assert status == 204, (status, body)
            victim.removed = True
            self.ledger.ack()


def burst_then_kill(h, rnd: int, ledger: Ledger, min_acks: int = 12) -> None:
    """CLIENTS threads burst; SIGKILL the daemon once `min_acks` more requests were
    acknowledged and a request of the round's kind (create, start, connect, rm) is
    being sent (plus a random instant), then let the threads run out."""
    ledger.want, ledger.hit = "", threading.Event()
    stop = threading.Event()
    start_acks = ledger.acks
    clients = [Client(h, i, rnd, ledger, stop) for i in range(CLIENTS)]
    for c in clients:
        c.start()
    deadline = time.monotonic() + 90
    while ledger.acks - start_acks < min_acks and time.monotonic() < deadline:
        if not all(c.is_alive() for c in clients):
            break
        time.sleep(0.01)
    ledger.want = KILL_DURING[rnd % len(KILL_DURING)]
    ledger.hit.wait(30)
    time.sleep(random.uniform(0, 0.005))   # a connect or rm takes ~10-20 ms
    h.kill9()
    stop.set()
    for c in clients:
        c.join(30)
        assert not c.is_alive(), "a client hung after the kill"
        assert c.error is None, f"client {c.idx}: {c.error!r}"
    assert ledger.acks - start_acks >= min_acks, "the burst never got going"


def wait_short_ones_exited(h, timeout: float = 30) -> None:
    """The short-lived containers end a second after their start, maybe during the
    checks: wait until none runs (the restarted daemon has handled their exit)."""
    deadline = time.monotonic() + timeout
    while True:
        busy = [c["Names"][0] for c in h.api_ok("GET", "/containers/json")
                if c["Command"].startswith("sh -c sleep")]
        if not busy:
            return
        assert time.monotonic() < deadline, f"short-lived containers still running: {busy}"
        time.sleep(0.1)


def check_round(h, out, ledger: Ledger, stable_pids: dict[str, int]) -> None:
    """Everything the module docstring promises, after one restart."""
    log = h.log_tail(2000)
    assert "lost its netns" not in log, "a container was stopped for its vanished pin"
    wait_short_ones_exited(h)
    listed = {c["Names"][0].lstrip("/"): c for c in h.api_ok("GET", "/containers/json?all=1")}
    infos = {n: h.inspect(n) for n in listed}
    for name, e in ledger.entries.items():
        if e.removed:
            assert name not in listed, f"{name}: its removal was acknowledged, it is back"
            continue
        if e.created and e.removed is None:
            assert name in listed, f"{name}: its create was acknowledged, it is gone"
        if not (e.started and e.removed is None):
            continue
        st = infos[name]["State"]
        if e.short:
            if not cleanup.pid_alive(e.pid):
                assert not st["Running"] and st["Status"] == "exited", f"{name}: {st}"
            if st["Status"] == "exited":   # also when it exited while the daemon was down
                assert st["ExitCode"] == EXIT_CODE, f"{name}: {st}"
        else:
            assert st["Running"] and st["Pid"] == (e.pid or st["Pid"]), \
                f"{name}: started (pid {e.pid}) and never removed, now {st}"
        if e.connected and st["Running"]:
            assert "chaos-b" in infos[name]["NetworkSettings"]["Networks"], \
                f"{name}: its connect was acknowledged, the endpoint is gone"
    for n, pid in stable_pids.items():
        assert infos[n]["State"]["Pid"] == pid, f"{n} was restarted"
    # addresses, endpoints, veths, pins
    seen: dict[tuple[str, str], str] = {}
    reported = set()
    running = [n for n, i in infos.items() if i["State"]["Running"]]
    for n, info in infos.items():
        for net, ep in info["NetworkSettings"]["Networks"].items():
            if not ep.get("EndpointID"):
                continue
            reported.add(ep["EndpointID"])
            if ep["IPAddress"]:
                other = seen.setdefault((net, ep["IPAddress"]), n)
                assert other == n, f"{ep['IPAddress']} on {net} held by {other} and {n}"
    for net in ("chaos-a", "chaos-b"):
        addrs = [e["IPv4Address"] for e in h.network(net)["Containers"].values()]
        assert len(addrs) == len(set(addrs)), f"{net}: duplicate addresses {sorted(addrs)}"
    assert store_ids(h)["endpoints"] == reported, "store endpoints != endpoints the API reports"
    for n, info in infos.items():
        if n not in running:
            assert not any(ep.get("EndpointID") for ep in
                           info["NetworkSettings"]["Networks"].values()), \
                f"{n} does not run and still has endpoints"
    veth_consistency(h, running)
    pins = h.pins()
    for n in running:
        key = infos[n]["NetworkSettings"]["SandboxKey"]
        assert pins.get(key) == netns_inode(infos[n]["State"]["Pid"]), \
            f"{n}: {key} does not pin the netns of its process"
    assert set(pins) == {infos[n]["NetworkSettings"]["SandboxKey"] for n in running}, \
        "pins of containers that do not run"
    # DNS and the published port, from and to surviving containers
    survivor = random.choice([n for n in running if n.startswith("k")] or ["peer"])
    for client, target in (("peer", "anchor"), ("peer", survivor), (survivor, "anchor")):
        r = h.exec(client, "nslookup", target, timeout=20)
        assert r.returncode == 0 and h.ip_of(target, "chaos-a") in r.stdout, \
            f"{client} cannot resolve {target}: {r.stdout} {r.stderr}"
    assert h.exec(survivor, "ping", "-c1", "-W2", h.ip_of("anchor", "chaos-a")).returncode == 0
    assert probe(out.netns, "tcp", out.host_ip, 8080) == out.ip, "published port to anchor"


def test_sigkill_five_times_during_bursts():
    """Five rounds of burst + SIGKILL + restart in a private mount namespace."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and util-linux unshare")
    h = PrivateMountHost()
    try:
        _chaos(h)
    finally:
        problems = h.teardown()
        assert not problems, problems


def _chaos(h) -> None:
    h.start()
    out = Outside(h)
    h.cli("network", "create", "--subnet", "10.240.0.0/24", "chaos-a")
    h.cli("network", "create", "--subnet", "10.241.0.0/24", "chaos-b")
    h.cli("run", "-d", "--name", "anchor", "--network", "chaos-a", "-p", f"8080:{PORT}",
          "boxnet/host", *server_cmd(PORT))
    h.cli("run", "-d", "--name", "peer", "--network", "chaos-a", "busybox", "sleep", "3600")
    wait_ready(h, "anchor", PORT)
    stable = {n: h.inspect(n)["State"]["Pid"] for n in ("anchor", "peer")}
    ledger = Ledger()
    for rnd in range(ROUNDS):
        # one container per round that ends exactly while the daemon is down
        dier = f"dier{rnd}"
        h.cli("run", "-d", "--name", dier, "--network", "chaos-a", "busybox", "sh", "-c",
              f"while [ ! -e /tmp/go ]; do sleep 0.1; done; exit {EXIT_CODE}")
        dier_pid = h.inspect(dier)["State"]["Pid"]
        burst_then_kill(h, rnd, ledger)
        open(f"/proc/{dier_pid}/root/tmp/go", "w").close()
        while cleanup.pid_alive(dier_pid):
            time.sleep(0.05)
        h.start(*h.daemon_args)
        st = h.inspect(dier)["State"]
        assert st["Status"] == "exited" and not st["Running"], f"{dier}: {st}"
        # its real code, recorded by boxnet-supervisor while no daemon watched
        assert st["ExitCode"] == EXIT_CODE, f"{dier} exited while the daemon was down: {st}"
        check_round(h, out, ledger, stable)
    entries = ledger.entries.values()
    print(f"chaos: {ROUNDS} kills, {ledger.acks} acknowledged requests, "
          f"{len(ledger.entries)} containers ({sum(e.short for e in entries)} short-lived), "
          f"in flight at a kill: {sum(e.created is False for e in entries)} creates, "
          f"{sum(e.started is False for e in entries)} starts, "
          f"{sum(e.connected is False for e in entries)} connects, "
          f"{sum(e.removed is False for e in entries)} removals")
    # everything goes, and leaves nothing behind
    infos = [h.inspect(c["Id"]) for c in h.api_ok("GET", "/containers/json?all=1")]
    nets = [h.network(n) for n in ("chaos-a", "chaos-b")]
    for info in infos:
        h.api_ok("DELETE", f"/containers/{info['Id']}?force=1")
    for n in nets:
        h.api_ok("DELETE", f"/networks/{n['Id']}")
    assert not h.pins(), "pins left after every container was removed"
    clean_state_check(h, nets, infos)
