"""Probes for firewall tests: a server that tells each client the source
address it saw, and bounded TCP/UDP/ICMP clients run in any netns.

The server runs inside a container (image boxnet/host, python3); clients run
with `nsenter --net=<netns>` in the host, the outside world or a container's
netns, so every probe is one short process with a hard timeout.
"""

from __future__ import annotations

import subprocess
import sys

from .harness import run

# TCP and UDP on one port, IPv4 and IPv6; the reply is the peer's address.
SERVER = r"""
import socket, sys, threading
port = int(sys.argv[1])
def tcp(fam, addr):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, port)); s.listen(64)
    while True:
        c, a = s.accept()
        try: c.sendall((a[0] + "\n").encode())
        except OSError: pass
        c.close()
def udp(fam, addr):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, port))
    while True:
        d, a = s.recvfrom(2048)
        s.sendto((a[0] + "\n").encode(), a)
ts = [threading.Thread(target=tcp, args=(socket.AF_INET, "0.0.0.0")),
      threading.Thread(target=udp, args=(socket.AF_INET, "0.0.0.0"))]
try:
    socket.socket(socket.AF_INET6).close()
    ts += [threading.Thread(target=tcp, args=(socket.AF_INET6, "::")),
           threading.Thread(target=udp, args=(socket.AF_INET6, "::"))]
except OSError:
    pass
for t in ts: t.daemon = True; t.start()
print("ready", flush=True)
for t in ts: t.join()
"""

CLIENT = r"""
import socket, sys
proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
src = sys.argv[4] if len(sys.argv) > 4 else ""
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
try:
    s = socket.socket(fam, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    s.settimeout(2)
    if src:
        s.bind((src, 0))
    if proto == "tcp":
        s.connect((host, port))
        print(s.recv(200).decode().strip())
    else:
        s.sendto(b"hi", (host, port))
        print(s.recv(200).decode().strip())
except OSError as e:
    print("FAIL", e); sys.exit(1)
"""


def server_cmd(port: int) -> list[str]:
    """The `run` arguments of a peer-address server container (after the image)."""
    return ["python3", "-c", SERVER, str(port)]


def probe(netns: str, proto: str, ip: str, port: int, src: str = "",
          timeout: float = 5) -> str | None:
    """Connect from `netns` (a path), optionally from address `src`; the source
    address the server saw, or None."""
    argv = [sys.executable, "-c", CLIENT, proto, ip, str(port)] + ([src] if src else [])
    r = run(["nsenter", f"--net={netns}", *argv], check=False, timeout=timeout)
    out = r.stdout.strip()
    return out if r.returncode == 0 and out else None


def ping(netns: str, ip: str, tries: int = 1) -> bool:
    """One ICMP echo from `netns` (busybox ping), retried `tries` times."""
    args = ["busybox", "ping", "-6" if ":" in ip else "-4", "-c1", "-W1", ip]
    for _ in range(tries):
        try:
            r = subprocess.run(["nsenter", f"--net={netns}", *args], capture_output=True,
                               timeout=5, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            continue
        if r.returncode == 0:
            return True
    return False


def netns_of(host, container: str) -> str:
    """The netns path of a running container (through its pid)."""
    pid = host.inspect(container)["State"]["Pid"]
    assert pid, f"{container} is not running"
    return f"/proc/{pid}/ns/net"


def wait_ready(host, container: str, port: int, tries: int = 50) -> None:
    """Wait until the server in `container` answers on 127.0.0.1 from inside it."""
    ns = netns_of(host, container)
    for _ in range(tries):
        if probe(ns, "tcp", "127.0.0.1", port):
            return
    raise AssertionError(f"server in {container} never answered\n{host.log_tail(40)}")
