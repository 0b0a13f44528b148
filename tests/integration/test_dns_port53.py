"""A container may serve DNS itself (issue 16 item 7), seen from inside real containers.

The embedded resolver sits at ports the kernel picks and 127.0.0.11:53 is rewritten
to them in the container's netns (kernel/dnsredirect.py), so a program in the
container binds 0.0.0.0:53 or [::]:53 (UDP and TCP) as dnsmasq or CoreDNS do, and
still 127.0.0.11:53 is boxnet's resolver (local names, forwarding). The user's
server here is a few lines of python3 in a boxnet/host container answering every
A question with 10.53.53.53, so an answer says who gave it. Upstream DNS is a stub
in an Outside netns (dns_stub.py); no query leaves the test namespaces.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from integration import harness
from integration.outside import Outside

pytestmark = pytest.mark.kernel

HERE = Path(__file__).parent
GOOD = "198.18.0.2"
USERS = "10.53.53.53"          # what the container's own DNS server answers
SLEEP = ["busybox", "sleep", "3600"]

# The container's own DNS server: UDP and TCP on port 53 of every address
# ("v4": 0.0.0.0, "dual": [::] with IPV6_V6ONLY off, as Go's ":53" of CoreDNS).
SERVER = r"""
import socket, struct, sys, threading
def reply(q):
    i = 12
    while q[i]:
        i += q[i] + 1
    qtype = struct.unpack("!H", q[i + 1:i + 3])[0]
    an = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([10, 53, 53, 53])
    ok = qtype == 1
    return (q[:2] + struct.pack("!HHHHH", 0x8180, 1, 1 if ok else 0, 0, 0)
            + q[12:i + 5] + (an if ok else b""))
dual = sys.argv[1] == "dual"
fam = socket.AF_INET6 if dual else socket.AF_INET
addr = "::" if dual else "0.0.0.0"
u, t = socket.socket(fam, socket.SOCK_DGRAM), socket.socket(fam, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    if dual:
        for s in (u, t):
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    u.bind((addr, 53)); t.bind((addr, 53)); t.listen(16)
except OSError as e:
    print("bind failed:", e, flush=True); sys.exit(3)
print("ready", flush=True)
def exactly(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            raise EOFError
        b += d
    return b
def tcp():
    while True:
        c, _ = t.accept()
        try:
            q = exactly(c, struct.unpack("!H", exactly(c, 2))[0])
            r = reply(q); c.sendall(struct.pack("!H", len(r)) + r)
        except (OSError, EOFError, IndexError, struct.error):
            pass
        c.close()
threading.Thread(target=tcp, daemon=True).start()
while True:
    q, a = u.recvfrom(4096)
    try:
        u.sendto(reply(q), a)
    except (IndexError, struct.error):
        pass
"""


@pytest.fixture(scope="module")
def d53():
    """Daemon (--dns GOOD), network n53, a server container on 0.0.0.0:53 (srv), one
    on [::]:53 (srv6), a client (cli) and a busybox sharing srv's netns (join)."""
    if os.geteuid() != 0:
        pytest.skip("integration tests need root")
    h = harness.TestHost()
    try:
        o = Outside(h)
        h.good_log = h.dir / "good.log"
        o.popen([sys.executable, str(HERE / "dns_stub.py"), "--log", str(h.good_log),
                 "--addr", GOOD])
        h.start("--dns", GOOD, "--dns-timeout", "2")
        h.cli("network", "create", "n53")
        h.cli("run", "-d", "--name", "srv", "--network", "n53", "boxnet/host",
              "python3", "-c", SERVER, "v4")
        h.cli("run", "-d", "--name", "srv6", "--network", "n53", "boxnet/host",
              "python3", "-c", SERVER, "dual")
        h.cli("run", "-d", "--name", "cli", "--network", "n53", *SLEEP)
        h.cli("run", "-d", "--name", "join", "--network", "container:srv", *SLEEP)
        for name in ("srv", "srv6"):
            wait_ready(h, name)
        yield h
    finally:
        problems = h.teardown()
        assert not problems, problems


def wait_ready(h, container: str, timeout: float = 30) -> None:
    """Until the server container printed "ready" (its binds of port 53 succeeded)."""
    end = time.monotonic() + timeout
    out = ""
    while time.monotonic() < end:
        out = h.cli("logs", container, check=False).stdout
        if "ready" in out:
            return
        assert "bind failed" not in out, f"{container}: {out}"
        time.sleep(0.1)
    raise AssertionError(f"{container} never became ready: {out!r}")


def netns_of(h, container: str) -> str:
    """The container's netns path (SandboxKey)."""
    return h.inspect(container)["NetworkSettings"]["SandboxKey"]


def dq(h, container: str, *args: str) -> dict:
    """dns_query.py run in the container's netns (nsenter --net)."""
    r = harness.run(["nsenter", f"--net={netns_of(h, container)}", sys.executable,
                     str(HERE / "dns_query.py"), *args], timeout=60)
    return json.loads(r.stdout)


def nslookup(h, container: str, name: str, server: str) -> list[str]:
    """busybox nslookup in the container; the addresses after 'Name:'."""
    r = h.exec(container, "nslookup", name, server, timeout=20)
    addrs, seen = [], False
    for line in r.stdout.splitlines():
        if line.startswith("Name:"):
            seen = True
        elif seen and line.startswith("Address"):
            addrs.append(line.split()[-1])
    return addrs


def tables(netns: str) -> str:
    """`nft list tables` inside a netns."""
    return harness.run(["nsenter", f"--net={netns}", "nft", "list", "tables"]).stdout


def check_everything(h) -> None:
    """The user's servers answer on port 53, boxnet's resolver on 127.0.0.11:53."""
    srv, srv6, cli = (h.ip_of(n, "n53") for n in ("srv", "srv6", "cli"))
    # another container asks the user's servers at their addresses, UDP and TCP
    for ip in (srv, srv6):
        assert dq(h, "cli", "query", "any.name", "A", "--server", ip)["answers"] == [USERS]
        r = dq(h, "cli", "query", "any.name", "A", "--server", ip, "--tcp")
        assert r["answers"] == [USERS], r
    # inside the servers' own netns: 127.0.0.11:53 is boxnet's, UDP and TCP
    for name in ("srv", "srv6"):
        assert dq(h, name, "query", "cli", "A")["answers"] == [cli]
        assert dq(h, name, "query", "cli", "A", "--tcp")["answers"] == [cli]
        r = dq(h, name, "query", "www.outside.test", "A")   # forwarded to the upstream
        assert r["answers"] == ["203.0.113.7"], r
    # ... while its own eth0 address and 127.0.0.1, port 53, are the user's server
    assert dq(h, "srv", "query", "x.y", "A", "--server", srv)["answers"] == [USERS]
    assert dq(h, "srv", "query", "x.y", "A", "--server", "127.0.0.1")["answers"] == [USERS]
    r = dq(h, "srv", "query", "x.y", "A", "--server", srv, "--tcp")
    assert r["answers"] == [USERS], r
    # from inside a container that shares srv's netns, with busybox's nslookup
    assert cli in nslookup(h, "join", "cli", "127.0.0.11")
    assert USERS in nslookup(h, "join", "any.name", srv)
    assert cli in nslookup(h, "cli", "cli", "127.0.0.11")


def test_own_dns_server_binds_port_53_and_127_0_0_11_stays_boxnets(d53):
    """0.0.0.0:53 and [::]:53, UDP and TCP, bind in the container; both resolvers answer."""
    check_everything(d53)
    netns = netns_of(d53, "srv")
    assert tables(netns).split().count("boxnet_dns") == 1


def test_redirect_has_no_conntrack_and_no_nat(d53):
    """The redirect is two port rewrites, no nat chain: the container's own traffic is
    not tracked (a nat chain would switch conntrack on for the whole netns)."""
    netns = netns_of(d53, "srv")
    ruleset = harness.run(["nsenter", f"--net={netns}", "nft", "list", "ruleset"]).stdout
    assert "type nat" not in ruleset and "dnat" not in ruleset, ruleset
    assert "udp dport 53 udp dport set" in ruleset and "tcp sport" in ruleset, ruleset
    assert dq(d53, "srv", "query", "cli", "A")["answers"] == [d53.ip_of("cli", "n53")]
    ct = harness.run(["nsenter", f"--net={netns}", "cat", "/proc/net/nf_conntrack"],
                     check=False).stdout
    assert "dport=53" not in ct, ct


def test_no_redirect_in_host_mode_or_without_user_network(d53):
    """Host mode gets no table in the daemon's netns; the default bridge (no embedded
    DNS, as Docker) none in its own."""
    h = d53
    h.cli("run", "-d", "--name", "hostm", "--network", "host", *SLEEP)
    h.cli("run", "-d", "--name", "plain", *SLEEP)
    try:
        assert "boxnet_dns" not in tables(h.netns)
        assert "boxnet_dns" not in tables(netns_of(h, "plain"))
    finally:
        h.cli("rm", "-f", "hostm", "plain")


def redirect_table(netns: str) -> str:
    """`nft list table ip boxnet_dns` inside a netns."""
    return harness.run(["nsenter", f"--net={netns}", "nft", "list", "table", "ip",
                        "boxnet_dns"]).stdout


def test_after_daemon_restart_the_table_is_kept(d53):
    """A restarted daemon binds the resolver's ports again and keeps the table as it is
    (nothing changes in the kernel); everything answers as before."""
    h = d53
    netns = netns_of(h, "srv")
    before = redirect_table(netns)
    h.restart()
    assert redirect_table(netns) == before
    assert tables(netns).split().count("boxnet_dns") == 1
    check_everything(h)


# Holds 127.0.0.11:PORT (UDP) in a netns while the daemon is down, as any program
# of the container could.
_SQUAT = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.11", int(sys.argv[1])))
print("bound", flush=True); time.sleep(120)
"""


_REFUSED = """
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3)
u.connect(("127.0.0.11", 53)); u.send(b"\\x12\\x34" + bytes(10))
try:
    u.recv(512); print("udp answered")
except ConnectionRefusedError:
    print("udp refused")
except socket.timeout:
    print("udp timeout")
try:
    socket.create_connection(("127.0.0.11", 53), timeout=3); print("tcp connected")
except ConnectionRefusedError:
    print("tcp refused")
except socket.timeout:
    print("tcp timeout")
"""


def test_after_daemon_restart_with_a_port_taken_the_table_is_replaced(d53):
    """While the daemon was down a program took the resolver's UDP port: the new daemon
    picks new ports and replaces the table in one transaction; still one table, and
    127.0.0.11:53 is boxnet's again, UDP and TCP."""
    h = d53
    netns = netns_of(h, "srv")
    before = redirect_table(netns)
    port = before.split("udp dport set ")[1].split()[0]
    h.stop()
    # while nothing serves the ports, a query is refused at once (ICMP port unreachable
    # with the quoted port set back to 53), UDP and TCP, as when 53 itself was bound
    r = harness.run(["nsenter", f"--net={netns}", sys.executable, "-c", _REFUSED], timeout=30)
    assert r.stdout.split() == ["udp", "refused", "tcp", "refused"], r.stdout
    squat = harness.subprocess.Popen(["nsenter", f"--net={netns}", sys.executable, "-c",
                                      _SQUAT, port], stdout=harness.subprocess.PIPE, text=True)
    harness.STARTED_PIDS.add(squat.pid)
    try:
        assert squat.stdout.readline().strip() == "bound"
        h.start(*h.daemon_args)
        after = redirect_table(netns)
        assert after != before and f"udp dport set {port}" not in after, after
        assert tables(netns).split().count("boxnet_dns") == 1
        check_everything(h)
    finally:
        squat.kill()
        squat.wait(10)


def test_sharers_keep_the_netns_without_the_redirect(d53):
    """The owner stops while a `container:` sharer keeps its netns: the redirect goes
    with the resolver; removing everything leaves nothing (the harness checks)."""
    h = d53
    h.cli("run", "-d", "--name", "own", "--network", "n53", *SLEEP)
    h.cli("run", "-d", "--name", "sh1", "--network", "container:own", *SLEEP)
    try:
        netns = netns_of(h, "own")
        assert "boxnet_dns" in tables(netns)
        pid = h.inspect("sh1")["State"]["Pid"]
        h.cli("stop", "-t", "1", "own")
        assert "boxnet_dns" not in tables(f"/proc/{pid}/ns/net")
    finally:
        h.cli("rm", "-f", "sh1", "own")


COMPOSE = str(Path(sys.executable).parent / "docker-compose")

# A Pi-hole-like project: `dns` serves port 53 itself; `app` uses it as its upstream
# (`dns:`), through the embedded resolver, which still answers the project's names.
PROJECT = """
name: bxdns
services:
  dns:
    image: boxnet/host
    command: ["python3", "-c", %s, "v4"]
    networks:
      lan: {ipv4_address: 10.95.0.53}
  app:
    image: busybox
    command: ["sleep", "600"]
    dns: [10.95.0.53]
    depends_on: [dns]
    networks: [lan]
networks:
  lan:
    ipam: {config: [{subnet: 10.95.0.0/24}]}
"""

# A DNS query with the standard library, run inside a boxnet/host container:
# prints the first A record of NAME from SERVER (port 53), over UDP or TCP.
CLIENT = r"""
import socket, struct, sys
name, server, proto = sys.argv[1], sys.argv[2], sys.argv[3]
q = struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0\0\1\0\1"
if proto == "tcp":
    s = socket.create_connection((server, 53), timeout=5)
    s.sendall(struct.pack("!H", len(q)) + q)
    n = struct.unpack("!H", s.recv(2))[0]; r = b""
    while len(r) < n:
        r += s.recv(n - len(r))
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
    s.sendto(q, (server, 53)); r, src = s.recvfrom(4096)
    assert src == (server, 53), src
assert r[:2] == b"\x42\x42" and struct.unpack("!H", r[6:8])[0] > 0, r
print(socket.inet_ntoa(r[-4:]))
"""


def test_compose_project_with_its_own_dns_server(d53, tmp_path):
    """docker compose v2: a service serving DNS on port 53 and a service using it as its
    `dns:`; from inside: the app gets the server's answer for outside names and boxnet's
    for the project's; inside the server, 127.0.0.11 is boxnet's (UDP and TCP) and its
    own address is its own server."""
    if not os.access(COMPOSE, os.X_OK):
        pytest.skip(f"docker compose v2 binary missing ({COMPOSE})")
    h = d53
    (tmp_path / "compose.yaml").write_text(PROJECT % json.dumps(SERVER))
    env = dict(os.environ, DOCKER_HOST=h.host_uri, DOCKER_CONFIG=str(tmp_path))

    def compose(*args: str) -> str:
        r = harness.subprocess.run([COMPOSE, *args], cwd=tmp_path, env=env, text=True,
                                   capture_output=True, timeout=120,
                                   stdin=harness.subprocess.DEVNULL)
        assert r.returncode == 0, f"compose {args}: {r.stdout}\n{r.stderr}"
        return r.stdout

    compose("up", "-d")
    try:
        wait_ready(h, "bxdns-dns-1")
        app_ip = h.ip_of("bxdns-app-1", "bxdns_lan")
        assert USERS in nslookup(h, "bxdns-app-1", "some.where.example", "127.0.0.11")
        assert "10.95.0.53" in nslookup(h, "bxdns-app-1", "dns", "127.0.0.11")
        for proto in ("udp", "tcp"):
            ask = ["exec", "dns", "python3", "-c", CLIENT]
            assert compose(*ask, "app", "127.0.0.11", proto).strip() == app_ip
            assert compose(*ask, "x.y", "10.95.0.53", proto).strip() == USERS
    finally:
        compose("down")
