"""The raw kernel floor: an attach done directly with pyroute2, in one Python process.

A worker process runs inside the bench host netns (``nsenter --net``) and does exactly the
kernel work of an attach: create and pin a netns, create a veth pair whose peer is born in
that netns as eth0 (or, with move=True, the textbook way: create it in the host netns, then
move it, which costs an RCU grace period), address it, bring it and lo up, enslave the other
end to the bridge and bring it up. It times itself, so the numbers exclude our IPC. The
bench process talks to it with one JSON object per line on stdin/stdout.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.peers.host import BenchHost, unpin_netns
from bench.peers.plugin import Net

CLONE_NEWNET = 0x40000000
MS_BIND = 4096


class RawFloorPeer:
    """Client side: start the worker in its bench netns and send it operations."""

    name = "rawfloor"
    kind = "floor"

    def __init__(self):
        self.host = BenchHost(self.name)
        self.proc: subprocess.Popen | None = None
        self._sb = 0

    def available(self) -> tuple[bool, str]:
        """pyroute2 must import."""
        try:
            import pyroute2  # noqa: F401
        except ImportError as e:
            return False, f"pyroute2 missing: {e}"
        return True, ""

    def start(self) -> None:
        """Create the bench netns and start the worker inside it."""
        self.host.create()
        self.proc = self.host.popen([sys.executable, "-c",
                                     "from bench.peers.rawfloor import main; main()"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                    cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                                        os.path.abspath(__file__)))))

    def call(self, **req) -> dict:
        """Send one operation; return the worker's answer (raise on its error)."""
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        ans = json.loads(self.proc.stdout.readline() or '{"error": "worker died"}')
        if "error" in ans:
            raise RuntimeError(f"rawfloor {req.get('op')}: {ans['error']}")
        return ans

    def net_create(self, name: str, index: int) -> tuple[float, Net]:
        """Create a bridge with its gateway address, up; return (seconds, network)."""
        net = Net(name, index, f"bxbr{index}")
        t = self.call(op="bridge_create", name=net.bridge,
                      cidr=f"{net.gateway}/{net.subnet.prefixlen}")["t"]
        return t, net

    def net_remove(self, net: Net) -> float:
        """Delete the bridge; return seconds."""
        return self.call(op="bridge_delete", name=net.bridge)["t"]

    def sandbox_new(self) -> Path:
        """A path for a container netns pin: the floor creates the netns inside attach."""
        self._sb += 1
        return self.host.tmp / f"sb-{self._sb}"

    def attach(self, net: Net, pin: Path, move: bool = False) -> tuple[float, dict]:
        """netns + veth + address + bridge port, timed in the worker; (seconds, token).

        The token's t_link is the same work into an already existing netns.
        """
        addr = net.next_addr()
        ans = self.call(op="attach", bridge=net.bridge, pin=str(pin), addr=addr, move=move)
        return ans["t"], {"veth": ans["veth"], "pin": str(pin), "t_link": ans["t_link"],
                          "ip": addr.split("/")[0], "cidr": addr}

    def detach(self, net: Net, token: dict, retire: bool = False) -> float:
        """Delete the veth (timed), then unpin the netns (untimed).

        retire=True times only what must happen before a disconnect can answer when the
        deletion itself is deferred: both ends down, the container end's address gone and
        both ends renamed (the deletion that follows is untimed)."""
        return self.call(op="detach", veth=token["veth"], pin=token["pin"],
                         retire=retire, addr=token["cidr"])["t"]

    def stop(self) -> None:
        """Stop the worker and tear the bench host down."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.call(op="quit")
            except (RuntimeError, OSError, ValueError):
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        for pin in sorted(self.host.tmp.glob("sb-*")):
            unpin_netns(pin)
        self.host.teardown()

    def rss(self) -> dict:
        """The worker's RSS (there is no daemon)."""
        from bench.peers.host import rss_kib
        return {"daemon_rss_kib": rss_kib(self.proc.pid) if self.proc else 0}


# ---------------------------------------------------------------------------- worker side
class _Worker:
    """Runs inside the bench netns; one IPRoute socket there, one per container netns."""

    def __init__(self):
        from pyroute2 import IPRoute
        self.IPRoute = IPRoute
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.host_fd = os.open("/proc/self/ns/net", os.O_RDONLY)
        self.ipr = IPRoute()
        self.seq = 0

    def _check(self, rc: int, what: str) -> None:
        if rc != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    def _new_netns(self, pin: str):
        """unshare a netns in this thread, bind-mount it on pin, open an IPRoute there, return."""
        open(pin, "w").close()
        self._check(self.libc.unshare(CLONE_NEWNET), "unshare")
        try:
            src = f"/proc/self/task/{threading.get_native_id()}/ns/net".encode()
            self._check(self.libc.mount(src, pin.encode(), b"none", MS_BIND, None), "mount")
            inner = self.IPRoute()  # a netlink socket stays bound to the netns it was made in
        finally:
            self._check(self.libc.setns(self.host_fd, CLONE_NEWNET), "setns back")
        return inner

    def _open_netns(self, pin: str):
        fd = os.open(pin, os.O_RDONLY)
        try:
            self._check(self.libc.setns(fd, CLONE_NEWNET), "setns")
            try:
                return self.IPRoute()
            finally:
                self._check(self.libc.setns(self.host_fd, CLONE_NEWNET), "setns back")
        finally:
            os.close(fd)

    def bridge_create(self, name: str, cidr: str) -> dict:
        t0 = time.perf_counter()
        self.ipr.link("add", ifname=name, kind="bridge")
        idx = self.ipr.link_lookup(ifname=name)[0]
        addr, plen = cidr.split("/")
        self.ipr.addr("add", index=idx, address=addr, prefixlen=int(plen))
        self.ipr.link("set", index=idx, state="up")
        return {"t": time.perf_counter() - t0}

    def bridge_delete(self, name: str) -> dict:
        t0 = time.perf_counter()
        self.ipr.link("del", index=self.ipr.link_lookup(ifname=name)[0])
        return {"t": time.perf_counter() - t0}

    def attach(self, bridge: str, pin: str, addr: str, new_netns: bool = True,
               move: bool = False) -> dict:
        t0 = time.perf_counter()
        inner = self._new_netns(pin) if new_netns else self._open_netns(pin)
        t1 = time.perf_counter()
        try:
            self.seq += 1
            host_if = f"rf{os.getpid() % 10000}x{self.seq}"
            fd = os.open(pin, os.O_RDONLY)
            try:
                if move:
                    # The textbook way: veth in the host netns, then move one end. The move
                    # waits for an RCU grace period in the kernel (15-40 ms here).
                    tmp_if = f"rp{self.seq}"
                    self.ipr.link("add", ifname=host_if, kind="veth", peer=tmp_if)
                    peer_idx = self.ipr.link_lookup(ifname=tmp_if)[0]
                    self.ipr.link("set", index=peer_idx, net_ns_fd=fd, ifname="eth0")
                else:
                    # The cheapest way: the kernel creates the peer directly in the netns.
                    self.ipr.link("add", ifname=host_if, kind="veth",
                                  peer={"ifname": "eth0", "net_ns_fd": fd})
            finally:
                os.close(fd)
            eth0 = inner.link_lookup(ifname="eth0")[0]
            ip, plen = addr.split("/")
            inner.addr("add", index=eth0, address=ip, prefixlen=int(plen))
            inner.link("set", index=eth0, state="up")
            if new_netns:
                inner.link("set", index=inner.link_lookup(ifname="lo")[0], state="up")
            br = self.ipr.link_lookup(ifname=bridge)[0]
            hidx = self.ipr.link_lookup(ifname=host_if)[0]
            self.ipr.link("set", index=hidx, master=br, state="up")
        finally:
            inner.close()
        t2 = time.perf_counter()
        return {"t": t2 - t0, "t_netns": t1 - t0, "t_link": t2 - t1, "veth": host_if}

    def detach(self, veth: str, pin: str | None = None, retire: bool = False,
               addr: str = "") -> dict:
        inner = self._open_netns(pin) if retire else None  # a daemon has it open already
        t0 = time.perf_counter()
        hidx = self.ipr.link_lookup(ifname=veth)[0]
        if inner is not None:
            try:
                idx = inner.link_lookup(ifname="eth0")[0]
                inner.link("set", index=idx, state="down")
                ip, plen = addr.split("/")
                inner.addr("del", index=idx, address=ip, prefixlen=int(plen))
                inner.link("set", index=idx, ifname=f"gc{self.seq}")
                self.ipr.link("set", index=hidx, state="down")
                self.ipr.link("set", index=hidx, ifname=f"gh{self.seq}")
                t = time.perf_counter() - t0
            finally:
                inner.close()
            self.ipr.link("del", index=hidx)
        else:
            self.ipr.link("del", index=hidx)
            t = time.perf_counter() - t0
        if pin:  # untimed: drop the netns pin too
            self.libc.umount2(pin.encode(), 0)
            os.unlink(pin)
        return {"t": t}


def main() -> None:
    """Worker loop: one JSON request per stdin line, one JSON answer per stdout line."""
    worker = _Worker()
    for line in sys.stdin:
        req = json.loads(line)
        op = req.pop("op")
        if op == "quit":
            print(json.dumps({"ok": True}), flush=True)
            return
        try:
            ans = getattr(worker, op)(**req)
        except Exception as e:  # report any failure to the bench process, keep serving
            ans = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(ans), flush=True)


if __name__ == "__main__":
    main()
