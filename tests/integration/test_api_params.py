"""Every integer query parameter is strictly parsed by the real daemon (issue 14 item 15).

Python's int() takes '٣' and '1_0' and ' 1', str.isdigit() is True for '³'
(which int() then refuses: a 500 where it escaped). Docker takes ASCII digits
only. Each parameter below gets such values, negative ones where a negative
is meaningless, and huge ones: a 400 whose message names the parameter, and
nothing changes (the container is still running). Valid values still work.
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.kernel

SLEEP = ["busybox", "sleep", "3600"]
# Accepted by Python's int() or isdigit(), refused by Docker's strconv.Atoi.
NOT_INTEGERS = ["³", "٣", "1_0", " 1", "1 ", "+", "0x1", "1e3", "1.5", "nan"]
HUGE = ["99999999999999999999999", "9" * 5000]
# PID 1 ignores signals it has no handler for: these shells trap them, then say so.
SIG_TRAP = ["busybox", "sh", "-c", "trap 'exit 10' 10; trap 'exit 36' 36; echo up >> /ready; "
            "while :; do sleep 0.1; done"]
TERM_TRAP = ["busybox", "sh", "-c", "trap 'exit 0' TERM; echo up >> /ready; "
             "while :; do sleep 0.1; done"]


@pytest.fixture(scope="module")
def ph(host):
    """The module's daemon with a running container `pr1` and an exec of it."""
    host.cli("run", "-d", "--name", "pr1", *SLEEP)
    host.exec_id = host.api_ok("POST", "/containers/pr1/exec", json={"Cmd": ["true"]})["Id"]
    return host


def q(value: str) -> str:
    return quote(value, safe="")


def wait_ready(h, container: str, starts: int = 1) -> None:
    """Until the container's shell has set its traps for the `starts`-th time (each
    start adds a line to /ready)."""
    end = time.monotonic() + 10
    check = f"test $(grep -c up /ready 2>/dev/null || echo 0) -ge {starts}"
    while h.exec(container, "sh", "-c", check).returncode != 0:
        assert time.monotonic() < end, f"{container} never set its traps"
        time.sleep(0.1)


# (method, path, parameter, invalid values besides NOT_INTEGERS and HUGE)
PARAMS = [
    ("POST", "/containers/pr1/kill", "signal", ["-1", "0", "65", "32", "SIG_DFL", "ſigkill"]),
    ("POST", "/containers/pr1/stop", "t", ["-2"]),
    ("POST", "/containers/pr1/restart", "t", ["-2"]),
    ("POST", "/containers/pr1/stop", "signal", ["-1", "0", "NOPE"]),
    ("POST", "/containers/pr1/restart", "signal", ["-1", "0"]),
    ("POST", "/containers/pr1/resize", "h", ["-1", "65536"]),
    ("POST", "/containers/pr1/resize", "w", ["-1", "65536"]),
    ("POST", "/exec/{exec}/resize", "h", ["-1", "65536"]),
    ("POST", "/exec/{exec}/resize", "w", ["-1", "65536"]),
    ("GET", "/containers/json", "limit", ["-2"]),
    ("GET", "/containers/pr1/logs?stdout=1", "tail", ["-"]),
    ("GET", "/containers/pr1/logs?stdout=1", "since", ["-1"]),
    ("GET", "/containers/pr1/logs?stdout=1", "until", ["-1"]),
    ("GET", "/events", "since", ["-1", "10 m", "1.1234567890"]),
    ("GET", "/events", "until", ["-1", "2023-13-01T00:00:00Z", "٢٠٢٣-11-14T22:13:20Z"]),
]


IDS = [f"{p[1].split('?')[0].strip('/').replace('/', '.')}-{p[2]}" for p in PARAMS]


@pytest.mark.parametrize("method,path,param,extra", PARAMS, ids=IDS)
def test_bad_integer_parameters_are_400_naming_them(ph, method, path, param, extra):
    """Unicode digits, underscores, spaces, signs alone, floats, negatives and huge
    numbers: a 400 that names the parameter, never a 500 and never accepted."""
    path = path.replace("{exec}", ph.exec_id)
    sep = "&" if "?" in path else "?"
    for value in NOT_INTEGERS + HUGE + extra:
        if param == "signal" and value in ("1e3", "nan", "+"):
            continue   # names: refused too, with the name message (checked below)
        if param in ("since", "until") and value == "1.5":
            continue   # a valid time: 1.5 s after the epoch
        status, body = ph.api(method, f"{path}{sep}{param}={q(value)}", timeout=20)
        assert status == 400, (param, value, status, body)
        assert param in body["message"], (param, value, body)
    assert ph.inspect("pr1")["State"]["Running"], "a refused request changed the container"


def test_bad_signal_names_and_path_fields(ph):
    """Signal names outside Docker's table, on kill and on stop/restart (whose
    `signal` is honoured); a port spec with a non-ASCII digit in a create body and a
    prune `until` filter with one are a 400 naming them, not a 500."""
    for value in ("nan", "+", "1e3", "SIG", "KİLL", "SIGKILL "):
        status, body = ph.api("POST", f"/containers/pr1/kill?signal={q(value)}")
        assert status == 400 and "signal" in body["message"], (value, status, body)
    for port in ("８0/tcp", "8³/tcp", "80_0/tcp", " 80/tcp"):
        status, body = ph.api("POST", "/containers/create",
                              json={"Image": "busybox", "Cmd": ["true"],
                                    "ExposedPorts": {port: {}}})
        assert status == 400 and "port" in body["message"], (port, status, body)
    for path in ("stop?signal=NOPE", "restart?signal=99&t=0", "stop?signal=32"):
        status, body = ph.api("POST", f"/containers/pr1/{path}")
        assert status == 400 and "signal" in body["message"], (path, status, body)
    status, body = ph.api("POST", "/containers/prune?filters=" +
                          q(json.dumps({"until": ["١٧٠٠٠٠٠٠٠٠"]})))
    assert status == 400 and "until" in body["message"], body
    assert ph.inspect("pr1")["State"]["Running"]


def test_valid_values_still_work(ph):
    """Signals by name (any case, with or without SIG) and number, stop/restart t
    (including -1: wait for the exit), resize sizes, limit, tail, since/until."""
    h = ph
    for n, (sig, code) in enumerate((("SIGKILL", 137), ("KILL", 137), ("kill", 137),
                                     ("9", 137), ("+9", 137), ("usr1", 10), ("10", 10),
                                     ("RTMIN+2", 36), ("SIGRTMIN+2", 36))):
        # The shell exits with the number of the signal it trapped: the right one came.
        h.cli("run", "-d", "--name", f"pk{n}", *SIG_TRAP)
        wait_ready(h, f"pk{n}")
        status, body = h.api("POST", f"/containers/pk{n}/kill?signal={q(sig)}")
        assert status == 204, (sig, status, body)
        end = time.monotonic() + 10
        while h.inspect(f"pk{n}")["State"]["Running"]:
            assert time.monotonic() < end, f"signal={sig} did not end the container"
            time.sleep(0.05)
        assert h.inspect(f"pk{n}")["State"]["ExitCode"] == code, sig
        h.cli("rm", "-f", f"pk{n}")
    h.cli("run", "-d", "--name", "pt", *TERM_TRAP)
    try:
        wait_ready(h, "pt")
        assert h.api("POST", "/containers/pt/restart?t=0&signal=SIGTERM")[0] == 204
        assert h.inspect("pt")["State"]["Running"]
        wait_ready(h, "pt", starts=2)
        t0 = time.monotonic()
        assert h.api("POST", "/containers/pt/stop?t=-1", timeout=30)[0] == 204   # waits
        assert not h.inspect("pt")["State"]["Running"] and time.monotonic() - t0 < 20
        assert h.inspect("pt")["State"]["ExitCode"] == 0     # it exited on its TERM trap
    finally:
        h.cli("rm", "-f", "pt")
    h.cli("run", "-d", "--name", "pr2", *SLEEP)
    try:
        assert h.api("POST", "/containers/pr1/resize?h=24&w=80")[0] == 200
        assert h.api("POST", f"/exec/{h.exec_id}/resize?h={q('+10')}&w=0020")[0] == 200
        assert len(h.api_ok("GET", "/containers/json?limit=1")) == 1
        assert len(h.api_ok("GET", "/containers/json?limit=-1")) >= 2
        assert len(h.api_ok("GET", "/containers/json?limit=0")) >= 2
    finally:
        h.cli("rm", "-f", "pr2")
    for tail in ("1", "0", "all", "-1", "00"):
        assert h.api("GET", f"/containers/pr1/logs?stdout=1&tail={tail}&since=0")[0] == 200, tail
    now = time.time()
    for since, until in ((str(int(now - 60)), f"{now:.9f}"), ("10m", "0s"),
                         (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60)),
                          str(int(now)))):
        status, _ = h.api("GET", f"/events?since={q(since)}&until={q(until)}", timeout=20)
        assert status == 200, (since, until)
