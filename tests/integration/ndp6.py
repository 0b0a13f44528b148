"""Crafted IPv6 neighbour-discovery frames for the layer-2 tests, and a sniffer.

Both run as one short python3 process inside a netns (``nsenter --net``): the
sender writes a whole Ethernet frame on an AF_PACKET socket bound to the
interface, so the frame leaves from that interface with exactly the MAC, the
source address and the ICMPv6 message the test chose (a container's netns for
an attacker, the host's bridge for the host side).  The sniffer is an AF_PACKET
socket too: it sees every frame that reaches the interface, whether the kernel
would accept it or not, so "nothing arrived" means the frame was stopped on
the way.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from .harness import STARTED_PIDS, run

SCRIPT = r"""
import ipaddress, json, select, socket, struct, sys, time
ETH_P_IPV6 = 0x86DD

def mac_bytes(m): return bytes.fromhex(m.replace(":", ""))
def ip6(a): return ipaddress.IPv6Address(a).packed

def csum(data):
    if len(data) % 2: data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16: s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

def frame(src_mac, dst_mac, src, dst, icmp):
    pseudo = ip6(src) + ip6(dst) + struct.pack("!I3xB", len(icmp), 58)
    c = csum(pseudo + icmp)
    icmp = icmp[:2] + struct.pack("!H", c) + icmp[4:]
    ip = struct.pack("!IHBB", 6 << 28, len(icmp), 58, 255) + ip6(src) + ip6(dst)
    return mac_bytes(dst_mac) + mac_bytes(src_mac) + struct.pack("!H", ETH_P_IPV6) + ip + icmp

def lla(kind, mac): return struct.pack("!BB", kind, 1) + mac_bytes(mac)

def message(kind, a):
    if kind == "ra":        # router lifetime 1800 s, one autonomous on-link prefix
        pfx = ipaddress.IPv6Network(a["prefix"])
        pi = struct.pack("!BBBBIII", 3, 4, pfx.prefixlen, 0xC0, 600, 300, 0) + pfx.network_address.packed
        return struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0) + lla(1, a["src_mac"]) + pi
    if kind == "na":        # unsolicited, override: "target is at <tlla>"
        return struct.pack("!BBHI", 136, 0, 0, 0x20000000) + ip6(a["target"]) + lla(2, a.get("tlla") or a["src_mac"])
    if kind == "ns":        # DAD probe: no source link-layer option
        return struct.pack("!BBHI", 135, 0, 0, 0) + ip6(a["target"])
    if kind == "echo":
        return struct.pack("!BBHHH", 128, 0, 0, a.get("ident", 0x4242), 1) + b"boxnet-l2-probe"
    raise SystemExit("unknown message " + kind)

def send(a):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a["ifname"], 0))
    for _ in range(a.get("count", 3)):
        s.send(frame(a["src_mac"], a["dst_mac"], a["src"], a["dst"], message(a["kind"], a)))
        time.sleep(0.05)

def sniff(a):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IPV6))
    s.bind((a["ifname"], 0))
    print("ready", flush=True)
    end = time.monotonic() + a["seconds"]
    while (left := end - time.monotonic()) > 0:
        if not select.select([s], [], [], left)[0]: break
        data, addr = s.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING or len(data) < 58 or data[20] != 58: continue
        src = str(ipaddress.IPv6Address(data[22:38])); dst = str(ipaddress.IPv6Address(data[38:54]))
        t = data[54]; out = {"type": t, "src": src, "dst": dst, "smac": data[6:12].hex(":")}
        if t in (135, 136) and len(data) >= 78: out["target"] = str(ipaddress.IPv6Address(data[62:78]))
        if t == 128: out["ident"] = struct.unpack("!H", data[58:60])[0]
        print(json.dumps(out), flush=True)

a = json.loads(sys.argv[1])
send(a) if a["op"] == "send" else sniff(a)
"""

RA, NS, NA, ECHO = 134, 135, 136, 128


def send(netns: str, **frame) -> None:
    """Send crafted frames from inside ``netns`` (keys: ifname, src_mac, dst_mac,
    src, dst, kind = ra|na|ns|echo, and prefix / target / tlla / ident / count)."""
    run(["nsenter", f"--net={netns}", sys.executable, "-c", SCRIPT,
         json.dumps({"op": "send", **frame})], timeout=20)


class Sniffer:
    """Frames of ICMPv6 arriving on ``ifname`` in ``netns``, for ``seconds``."""

    def __init__(self, netns: str, ifname: str = "eth0", seconds: float = 3.0):
        self.proc = subprocess.Popen(
            ["nsenter", f"--net={netns}", sys.executable, "-c", SCRIPT,
             json.dumps({"op": "sniff", "ifname": ifname, "seconds": seconds})],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        STARTED_PIDS.add(self.proc.pid)
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", f"sniffer did not start: {line!r} {self.proc.stderr.read()}"

    def frames(self) -> list[dict]:
        """Wait for the sniffer's window to end; every ICMPv6 frame it saw."""
        out, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err
        return [json.loads(x) for x in out.splitlines() if x.strip()]


def wait_for(fn, secs: float = 5.0, step: float = 0.2):
    """fn()'s first truthy value within ``secs`` (or its last value)."""
    deadline = time.monotonic() + secs
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)
