"""Packet-level probes for the firewall tests: a UDP/TCP counter that records
every source it hears from, a UDP flood that keeps sending (a fresh socket,
so a fresh conntrack entry, per datagram), and hand-crafted Ethernet frames
sent on a raw socket (a LAN neighbour that puts the host's MAC on a packet
for 127.0.0.1, the CVE-2020-8558 class).

Every helper runs as a short process of ours, entered into a netns with
`nsenter --net` (a container's `/proc/PID/ns/net`, the outside, the host);
its PID is registered with the harness so teardown kills it by PID.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from .harness import STARTED_PIDS, run

# Listens on TCP and UDP `port` (IPv4 and IPv6); one line per datagram or
# connection: "<proto> <source address> <payload>".
COUNTER = r"""
import socket, sys, threading
port = int(sys.argv[1])
def out(line):
    sys.stdout.write(line + "\n"); sys.stdout.flush()
def udp(fam, addr):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, port))
    while True:
        d, a = s.recvfrom(2048)
        out("udp %s %s" % (a[0], d.decode(errors="replace")))
def tcp(fam, addr):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, port)); s.listen(128)
    while True:
        c, a = s.accept()
        out("tcp %s" % a[0]); c.close()
ts = [threading.Thread(target=udp, args=(socket.AF_INET, "0.0.0.0")),
      threading.Thread(target=tcp, args=(socket.AF_INET, "0.0.0.0"))]
try:
    socket.socket(socket.AF_INET6).close()
    ts += [threading.Thread(target=udp, args=(socket.AF_INET6, "::")),
           threading.Thread(target=tcp, args=(socket.AF_INET6, "::"))]
except OSError:
    pass
for t in ts: t.daemon = True; t.start()
out("ready")
for t in ts: t.join()
"""

# Sends one UDP datagram (payload: the tag) every `gap` seconds to ip:port
# until `secs` have passed, each from a new socket (new source port), bound
# to `src` when given; prints how many it sent.
FLOOD = r"""
import socket, sys, time
ip, port, secs, gap, tag = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
src = sys.argv[6] if len(sys.argv) > 6 else ""
fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
end, n = time.monotonic() + secs, 0
while time.monotonic() < end:
    try:
        s = socket.socket(fam, socket.SOCK_DGRAM)
        if src:
            s.bind((src, 0))
        s.sendto(tag.encode(), (ip, port)); n += 1
        s.close()
    except OSError:
        pass
    time.sleep(gap)
print(n, flush=True)
"""

# Builds and sends Ethernet/IPv4/{TCP SYN, UDP} frames on a raw socket:
# argv: ifname dst_mac src_ip dst_ip proto dport count
CRAFT = r"""
import socket, struct, sys, random
ifname, dmac, sip, dip, proto, dport, count = sys.argv[1:8]
dport, count = int(dport), int(count)
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
smac = s.getsockname()[4]
src, dst = socket.inet_aton(sip), socket.inet_aton(dip)
for i in range(count):
    sport = random.randint(20000, 60000)
    if proto == "tcp":
        hdr = struct.pack("!HHIIBBHHH", sport, dport, random.getrandbits(32), 0, 5 << 4, 0x02, 64240, 0, 0)
        pnum, l4 = 6, hdr
    else:
        data = b"crafted"
        hdr = struct.pack("!HHHH", sport, dport, 8 + len(data), 0)
        pnum, l4 = 17, hdr + data
    pseudo = src + dst + struct.pack("!BBH", 0, pnum, len(l4))
    c = csum(pseudo + l4)
    l4 = l4[:16] + struct.pack("!H", c) + l4[18:] if pnum == 6 else l4[:6] + struct.pack("!H", c or 0xffff) + l4[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), random.getrandbits(16), 0, 64, pnum, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    eth = bytes.fromhex(dmac.replace(":", "")) + smac + b"\x08\x00"
    s.send(eth + ip + l4)
print("sent", count, flush=True)
"""

# Prints "<proto> <src> <dst> <dport> <tcp flags>" for every IPv4/IPv6 TCP or
# UDP packet with destination port `port` seen on `ifname` for `secs`.
SNIFF = r"""
import socket, struct, sys, time
ifname, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((ifname, 0)); s.settimeout(0.2)
print("ready", flush=True)
end = time.monotonic() + secs
while time.monotonic() < end:
    try:
        f = s.recv(65535)
    except socket.timeout:
        continue
    et = struct.unpack("!H", f[12:14])[0]
    if et == 0x0800:
        ihl = (f[14] & 15) * 4; proto = f[23]
        src, dst = socket.inet_ntoa(f[26:30]), socket.inet_ntoa(f[30:34]); l4 = 14 + ihl
    elif et == 0x86dd:
        proto = f[20]
        src, dst = socket.inet_ntop(socket.AF_INET6, f[22:38]), socket.inet_ntop(socket.AF_INET6, f[38:54]); l4 = 54
    else:
        continue
    if proto not in (6, 17):
        continue
    dport = struct.unpack("!H", f[l4 + 2:l4 + 4])[0]
    if dport == port:
        flags = "0x%02x" % f[l4 + 13] if proto == 6 else "-"
        print("%s %s %s %d %s" % ("tcp" if proto == 6 else "udp", src, dst, dport, flags), flush=True)
"""


class Sniffer:
    """A SNIFF process on `ifname` in a netns, for `secs` seconds."""

    def __init__(self, netns: str, ifname: str, port: int, secs: float = 8) -> None:
        """Start it and wait until its socket is bound."""
        self.proc = subprocess.Popen(["nsenter", f"--net={netns}", sys.executable, "-u", "-c",
                                      SNIFF, ifname, str(port), str(secs)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        STARTED_PIDS.add(self.proc.pid)
        assert self.proc.stdout.readline().strip() == "ready"

    def seen(self, timeout: float = 30) -> list[str]:
        """Wait for it to end; the packets it saw."""
        out, _ = self.proc.communicate(timeout=timeout)
        return [x for x in out.splitlines() if x.startswith(("tcp ", "udp "))]


def serve(host, container: str, port: int) -> subprocess.Popen:
    """netprobe's peer-address server (TCP and UDP on `port`) run by the host's
    Python inside a container's netns: the container itself can be busybox."""
    from .netprobe import SERVER, netns_of
    p = subprocess.Popen(["nsenter", f"--net={netns_of(host, container)}", sys.executable,
                          "-c", SERVER, str(port)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    STARTED_PIDS.add(p.pid)
    return p


def stop_all(procs) -> None:
    """Kill helper processes of ours (by PID) and reap them."""
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(10)


class Counter:
    """A COUNTER process in a netns; `lines()` are what it heard so far."""

    def __init__(self, netns: str, port: int, log: Path) -> None:
        """Start it and wait for its "ready" line."""
        self.log = log
        f = open(log, "wb")
        self.proc = subprocess.Popen(["nsenter", f"--net={netns}", sys.executable, "-u", "-c",
                                      COUNTER, str(port)], stdout=f, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        f.close()
        STARTED_PIDS.add(self.proc.pid)
        for _ in range(100):
            if "ready" in self.text():
                return
            time.sleep(0.05)
        raise AssertionError(f"counter in {netns} not ready: {self.text()}")

    def text(self) -> str:
        """Everything it printed."""
        return self.log.read_text(errors="replace")

    def lines(self, tag: str = "") -> list[str]:
        """Datagram/connection lines, optionally only those carrying `tag`."""
        return [x for x in self.text().splitlines()
                if x.startswith(("udp ", "tcp ")) and (not tag or x.endswith(" " + tag))]

    def stop(self) -> None:
        """Kill it (by PID)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def flood(netns: str, ip: str, port: int, secs: float, tag: str, gap: float = 0.002,
          src: str = "") -> subprocess.Popen:
    """Start a FLOOD in `netns` (returns the process; its stdout is the count sent)."""
    argv = ["nsenter", f"--net={netns}", sys.executable, "-c", FLOOD, ip, str(port),
            str(secs), str(gap), tag] + ([src] if src else [])
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    STARTED_PIDS.add(p.pid)
    return p


def sent(p: subprocess.Popen, timeout: float = 60) -> int:
    """Wait for a flood; how many datagrams it sent."""
    out, _ = p.communicate(timeout=timeout)
    return int(out.strip().splitlines()[-1])


def craft(netns: str, ifname: str, dst_mac: str, src_ip: str, dst_ip: str, proto: str,
          dport: int, count: int = 3) -> None:
    """Send `count` crafted IPv4 frames (TCP SYN or UDP) out of `ifname` in `netns`."""
    run(["nsenter", f"--net={netns}", sys.executable, "-c", CRAFT, ifname, dst_mac, src_ip,
         dst_ip, proto, str(dport), str(count)])


def mac_of(run_in, ifname: str) -> str:
    """The MAC of `ifname` (run_in: a TestHost/Outside-like object with .sh)."""
    import json  # /sys under `nsenter --net` is still the root netns's: ask ip
    return json.loads(run_in.sh(["ip", "-j", "link", "show", "dev", ifname]).stdout)[0]["address"]
