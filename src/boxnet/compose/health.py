"""`depends_on` conditions: service_started, service_healthy, service_completed_successfully.

boxnetd runs no healthchecks itself (its inspect has no State.Health), so compose runs
the service's `healthcheck.test` through exec, with the file's interval, timeout,
retries and start_period, the way the daemon would. When the daemon does report
State.Health, that status is used instead.
"""

from __future__ import annotations

import re
import time

from . import engine
from .errors import ProjectError

_DUR = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)")
_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(value, default: float = 0.0) -> float:
    """A compose duration (`1m30s`, `500ms`, or a number of seconds) in seconds."""
    if value is None or value == "":
        return default
    if isinstance(value, (int, float)):
        return float(value)
    total, pos = 0.0, 0
    for m in _DUR.finditer(str(value)):
        if m.start() != pos:
            raise ValueError(f"invalid duration {value!r}")
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(str(value)) or pos == 0:
        raise ValueError(f"invalid duration {value!r}")
    return total


def test_argv(test) -> list[str] | None:
    """healthcheck.test as an exec argv (None for NONE / disabled)."""
    if isinstance(test, str):
        return ["/bin/sh", "-c", test]
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    return list(test[1:]) if test[0] == "CMD" else list(test)


def probe_healthy(runner, cid: str, hc: dict) -> bool:
    """Run the healthcheck until it passes or retries are exhausted."""
    argv = test_argv(hc.get("test"))
    if argv is None or hc.get("disable"):
        return True
    interval = seconds(hc.get("interval"), 30.0)
    # start_interval is the probe rate during start_period (compose-spec); use it when given
    fast = seconds(hc.get("start_interval"), min(interval, 1.0))
    timeout = seconds(hc.get("timeout"), 30.0)
    retries = int(hc.get("retries", 3))
    start_period = seconds(hc.get("start_period"), 0.0)
    t0 = time.monotonic()
    failures = 0
    while True:
        code, _, _ = engine.exec_run(runner.client, cid, argv, timeout=timeout)
        if code == 0:
            return True
        in_start = time.monotonic() - t0 < start_period
        if not in_start:
            failures += 1
            if failures >= retries:
                return False
        time.sleep(fast if in_start else min(interval, 5.0))


def wait_condition(runner, dep: str, condition: str, timeout: float = 120) -> None:
    """Block until dependency `dep` satisfies its depends_on condition."""
    if condition in ("", "service_started"):
        return
    svc = runner.project.services[dep]
    cs = runner.containers(dep)
    if not cs:
        raise ProjectError(f"dependency {dep!r} has no container")
    for c in cs:
        if condition == "service_completed_successfully":
            code = runner.client.post(f"/containers/{c['Id']}/wait").get("StatusCode")
            if code != 0:
                raise ProjectError(f"service {dep!r} didn't complete successfully: "
                                   f"exit {code}")
            continue
        info = engine.inspect(runner.client, c["Id"])
        health = (info.get("State") or {}).get("Health")
        if health is not None:
            deadline = time.monotonic() + timeout
            while health.get("Status") != "healthy":
                if health.get("Status") == "unhealthy" or time.monotonic() > deadline:
                    raise ProjectError(f"container for service {dep!r} is unhealthy")
                time.sleep(0.5)
                health = engine.inspect(runner.client, c["Id"])["State"].get("Health") or {}
            continue
        hc = svc.get("healthcheck")
        if not hc:
            raise ProjectError(f"service {dep!r} is depended on with condition "
                               "service_healthy but has no healthcheck",
                               )
        if not probe_healthy(runner, c["Id"], hc):
            raise ProjectError(f"container for service {dep!r} is unhealthy: its "
                               f"healthcheck kept failing")
        runner.log(f"Container {c['Names'][0].lstrip('/')}  Healthy")
