"""Upgrade in place (issue 21 item 3): boxnetd is stopped, replaced by another
build (a copy of the source tree run with BOXNET_BUILD=2, which /version
shows) and started; no running container, address, published port or DNS
name is lost, and TCP keeps flowing the whole time: a continuous probe from
the outside namespace (through the published port) and one from another
container (to the server's address) see not one failed request.  The
firewall never fails open meanwhile: a UDP flood from a container on another
network delivers nothing, while the same flood from the server's own network
(the control) arrives.  A container
that exits during the swap is reaped by boxnet-supervisor, which both builds
share: the new build reports its real exit code."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

from integration.fwprobe import Counter, flood, sent
from integration.netprobe import netns_of

pytestmark = pytest.mark.kernel
SRC = Path(__file__).resolve().parents[2] / "src" / "boxnet"

# One HTTP GET every 20 ms to ip:port until `secs` have passed, a new TCP
# connection each; prints "ok" or "fail <error>" per request, then "end".
PROBE = r"""
import socket, sys, time
ip, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
end = time.monotonic() + secs
while time.monotonic() < end:
    try:
        with socket.create_connection((ip, port), timeout=1) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while True:
                d = s.recv(4096)
                if not d:
                    break
                data += d
        print("ok" if b"served-by-web" in data else "fail short answer", flush=True)
    except OSError as e:
        print("fail", e, flush=True)
    time.sleep(0.02)
print("end", flush=True)
"""


def _build2(h) -> Path:
    """'A newer build': a copy of the source tree (its own supervisor client,
    routes and all) that /version tells apart by BOXNET_BUILD=2."""
    dst = h.dir / "build2"
    shutil.copytree(SRC, dst / "boxnet", ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def _lines(h, name: str) -> list[str]:
    return h.cli("logs", name).stdout.splitlines()


def test_upgrade_in_place_loses_nothing(make_host, outside):
    h = make_host(start=False)
    h.launcher = ["env", "BOXNET_BUILD=1"]
    h.start()
    out = outside(h)
    assert h.api_ok("GET", "/version")["GitCommit"] == "1"
    h.cli("network", "create", "--subnet", "10.233.0.0/24", "up")
    h.cli("run", "-d", "--name", "web", "--network", "up", "-p", "8080:80", "busybox", "sh",
          "-c", "mkdir -p /srv && echo served-by-web > /srv/index.html && "
          "exec httpd -f -p 80 -h /srv")
    web_ip = h.ip_of("web", "up")
    h.cli("run", "-d", "--name", "cli", "--network", "up", "busybox", "sh", "-c",
          f"while :; do if timeout 2 wget -q -O- http://{web_ip}/ | grep -q served-by-web; "
          "then echo ok; else echo fail; fi; sleep 0.05; done")
    h.cli("run", "-d", "--name", "leaver", "--network", "up", "busybox", "sh", "-c",
          "sleep 3; exit 9")
    h.cli("network", "create", "--subnet", "10.234.0.0/24", "apart")
    h.cli("run", "-d", "--name", "intruder", "--network", "apart", "busybox", "sleep", "600")
    before = {n: h.inspect(n) for n in ("web", "cli", "leaver")}
    links = sorted(h.link_names())
    secs = 12.0
    probe_log = h.dir / "probe-out.log"
    probe = out.popen([sys.executable, "-c", PROBE, out.host_ip, "8080", str(secs)], probe_log)
    counter = Counter(netns_of(h, "web"), 7200, h.dir / "cnt-web.log")
    floods = {"xnet": flood(netns_of(h, "intruder"), web_ip, 7200, secs, "xnet"),
              "same": flood(netns_of(h, "cli"), web_ip, 7200, secs, "same")}
    time.sleep(2)
    cli_ok_before = _lines(h, "cli").count("ok")

    h.stop()                       # the old build leaves; containers stay
    build2 = _build2(h)
    h.launcher = ["env", f"PYTHONPATH={build2}", "BOXNET_BUILD=2"]
    h.start()                      # the new build takes over
    assert h.api_ok("GET", "/version")["GitCommit"] == "2"
    probe.wait(secs + 10)
    counts = {tag: sent(p) for tag, p in floods.items()}
    time.sleep(0.3)
    counter.stop()
    got = {tag: len(counter.lines(tag)) for tag in floods}
    assert counts["xnet"] > 500 and counts["same"] > 500, counts
    assert got["xnet"] == 0, f"isolation failed open: {got['xnet']} of {counts['xnet']} arrived"
    assert got["same"] > counts["same"] * 0.5, f"the control flood was cut: {got}, {counts}"

    got = probe_log.read_text().splitlines()
    fails = [ln for ln in got if ln.startswith("fail")]
    assert got and got[-1] == "end", got[-5:]
    assert not fails and got.count("ok") > 200, \
        f"outside probe: {got.count('ok')} ok, {len(fails)} failed: {fails[:5]}"
    cli_lines = _lines(h, "cli")
    assert "fail" not in cli_lines, f"container probe failed {cli_lines.count('fail')} times"
    assert cli_lines.count("ok") > cli_ok_before + 20, "the container probe stalled"

    for n in ("web", "cli"):
        now = h.inspect(n)
        assert now["State"]["Running"] and now["State"]["Pid"] == before[n]["State"]["Pid"], n
        assert now["NetworkSettings"]["Networks"]["up"]["IPAddress"] == \
            before[n]["NetworkSettings"]["Networks"]["up"]["IPAddress"], n
    assert h.inspect("web")["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"] == "8080"
    now_links = sorted(h.link_names())   # the same links; only the leaver's veth may go
    assert set(now_links) <= set(links) and len(links) - len(now_links) <= 1, (links, now_links)
    # the DNS name is served by the new build
    r = h.exec("cli", "nslookup", "web")
    assert r.returncode == 0 and web_ip in r.stdout, r.stdout + r.stderr
    # exited meanwhile (or just after): the real code, through the shared supervisor
    end = time.monotonic() + 10
    while h.inspect("leaver")["State"]["Running"] and time.monotonic() < end:
        time.sleep(0.1)
    assert h.inspect("leaver")["State"]["ExitCode"] == 9, h.inspect("leaver")["State"]
    h.cli("rm", "-f", "web", "cli", "leaver", "intruder")
    h.cli("network", "rm", "up", "apart")
