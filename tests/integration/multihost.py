"""Several test hosts on one test underlay, with etcd: the world of overlay tests.

- ``Underlay``: a netns holding bridge ``ul0``; every host (and every etcd
  node) is plugged into it with a veth pair whose far end is ``ul0`` inside
  that netns, addressed in 192.168.250.0/24.
- ``EtcdNode``: Debian's etcd in its own netns on the underlay (single node
  or one member of a cluster); stop()/start() keep its data dir.
- ``Cluster``: an underlay, N etcd nodes, M TestHosts each running boxnetd
  with --cluster-store/--cluster-advertise.  ``teardown()`` undoes it all
  (PIDs we started, netns we made, temp dirs).

Plain module (no pytest import) so bench/ can reuse it.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time

from .harness import (CREATED_DIRS, STARTED_PIDS, TMP_BASE, TestHost, delete_netns, new_netns,
                      run)

SUBNET = "192.168.250"
ETCD_PORT = 2379
PEER_PORT = 2380


class Underlay:
    """The test underlay: one bridge in its own netns."""

    def __init__(self) -> None:
        """Create the netns and its bridge."""
        self.name = new_netns()
        run(["ip", "-n", self.name, "link", "add", "ul0", "type", "bridge"])
        run(["ip", "-n", self.name, "link", "set", "ul0", "up"])
        self._n = 0

    def plug(self, netns_name: str, addr: str) -> None:
        """A veth from the bridge into ``netns_name`` (named ul0 there) with ``addr``/24."""
        self._n += 1
        port = f"p{self._n}"
        run(["ip", "-n", self.name, "link", "add", port, "type", "veth", "peer", "name", "ul0",
             "netns", netns_name])
        run(["ip", "-n", self.name, "link", "set", port, "master", "ul0", "up"])
        run(["ip", "-n", netns_name, "addr", "add", f"{addr}/24", "dev", "ul0"])
        run(["ip", "-n", netns_name, "link", "set", "ul0", "up"])

    def teardown(self) -> None:
        """Delete the netns (its veths go with it)."""
        delete_netns(self.name)


class EtcdNode:
    """One etcd member in its own netns on the underlay."""

    def __init__(self, underlay: Underlay, index: int, cluster: dict[str, str]):
        """Netns + underlay address; ``cluster`` maps member names to their IPs."""
        self.name = f"n{index}"
        self.ip = cluster[self.name]
        self.cluster = cluster
        self.netns_name = new_netns()
        self.netns = f"/run/netns/{self.netns_name}"
        underlay.plug(self.netns_name, self.ip)
        self.dir = TMP_BASE / f"{self.netns_name}-etcd"
        self.dir.mkdir()
        CREATED_DIRS.add(self.dir)
        self.proc: subprocess.Popen | None = None
        self.started_once = False

    @property
    def endpoint(self) -> str:
        """HOST:PORT of its client API."""
        return f"{self.ip}:{ETCD_PORT}"

    def start(self) -> None:
        """Start (or restart, same data) etcd."""
        initial = ",".join(f"{n}=http://{ip}:{PEER_PORT}" for n, ip in self.cluster.items())
        argv = ["nsenter", f"--net={self.netns}", "etcd", "--name", self.name,
                "--data-dir", str(self.dir / "data"),
                "--listen-client-urls", f"http://{self.ip}:{ETCD_PORT}",
                "--advertise-client-urls", f"http://{self.ip}:{ETCD_PORT}",
                "--listen-peer-urls", f"http://{self.ip}:{PEER_PORT}",
                "--initial-advertise-peer-urls", f"http://{self.ip}:{PEER_PORT}",
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--heartbeat-interval", "100", "--election-timeout", "1000"]
        log = open(self.dir / "etcd.log", "ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        STARTED_PIDS.add(self.proc.pid)
        self.started_once = True

    def wait_ready(self, timeout: float = 20) -> None:
        """Until the member answers a read (a cluster needs a quorum for that)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = run(["nsenter", f"--net={self.netns}", "etcdctl", "--endpoints", self.endpoint,
                     "--command-timeout=1s", "get", "x"], check=False)
            if r.returncode == 0:
                return
            time.sleep(0.2)
        raise AssertionError(f"etcd {self.name} not ready\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the process (our PID), keep the data."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log_tail(self, n: int = 30) -> str:
        """The end of etcd's log."""
        try:
            return "\n".join((self.dir / "etcd.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def teardown(self) -> None:
        """Stop, delete netns and dir."""
        self.stop(signal.SIGKILL)
        delete_netns(self.netns_name)
        shutil.rmtree(self.dir, ignore_errors=True)


class Cluster:
    """An underlay, etcd node(s) and hosts running boxnetd in cluster mode."""

    def __init__(self, hosts: int = 3, etcd_nodes: int = 1, ttl: int = 5,
                 extra_flags: tuple[str, ...] = ()) -> None:
        """Build and start everything (torn down again on failure)."""
        self.underlay = Underlay()
        self.etcd: list[EtcdNode] = []
        self.hosts: list[TestHost] = []
        self.ttl = ttl
        try:
            members = {f"n{i}": f"{SUBNET}.{2 + i}" for i in range(etcd_nodes)}
            for i in range(etcd_nodes):
                self.etcd.append(EtcdNode(self.underlay, i, members))
            for node in self.etcd:
                node.start()
            for node in self.etcd:
                node.wait_ready()
            for i in range(hosts):
                h = TestHost()
                h.underlay_ip = f"{SUBNET}.{10 + i}"
                self.underlay.plug(h.name, h.underlay_ip)
                self.hosts.append(h)
                h.start(*self.flags(h), *extra_flags)
        except BaseException:
            self.teardown()
            raise

    @property
    def store_url(self) -> str:
        """--cluster-store value naming every etcd member."""
        return "etcd://" + ",".join(n.endpoint for n in self.etcd)

    def flags(self, h: TestHost) -> list[str]:
        """boxnetd flags joining ``h`` to this cluster."""
        return ["--cluster-store", self.store_url, "--cluster-advertise", h.underlay_ip,
                "--cluster-store-opt", f"discovery.ttl={self.ttl}"]

    def etcdctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """etcdctl against the cluster (from the first etcd node's netns)."""
        eps = ",".join(n.endpoint for n in self.etcd)
        return run(["nsenter", f"--net={self.etcd[0].netns}", "etcdctl", "--endpoints", eps,
                    "--command-timeout=3s", *args], check=check)

    def teardown(self) -> list[str]:
        """Tear down hosts, etcd, underlay; return problems."""
        problems: list[str] = []
        for h in self.hosts:
            problems += h.teardown()
        for node in self.etcd:
            node.teardown()
        self.underlay.teardown()
        return problems


def wait_for(pred, timeout: float = 15, interval: float = 0.1, what: str = "condition"):
    """Poll ``pred`` until it returns a truthy value; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")

