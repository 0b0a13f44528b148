"""`depends_on` conditions: service_started, service_healthy,
service_completed_successfully; compose durations.

boxnetd runs the healthchecks (core/healthmon.py), as dockerd: compose sends the
service's `healthcheck` as Config.Healthcheck (hostopts.py) and `service_healthy`
waits on the daemon's State.Health, as docker compose v2 does.
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


def wait_condition(runner, dep: str, condition: str, timeout: float = 120) -> None:
    """Block until dependency `dep` satisfies its depends_on condition."""
    if condition in ("", "service_started"):
        return
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
        if health is None:
            raise ProjectError(f"dependency failed to start: container "
                               f"{c['Names'][0].lstrip('/')} has no healthcheck configured")
        deadline = time.monotonic() + timeout
        while health.get("Status") != "healthy":
            if health.get("Status") == "unhealthy" or time.monotonic() > deadline:
                raise ProjectError(f"dependency failed to start: container "
                                   f"{c['Names'][0].lstrip('/')} is unhealthy")
            time.sleep(0.2)
            health = (engine.inspect(runner.client, c["Id"]).get("State") or {}).get(
                "Health") or {}
        runner.log(f"Container {c['Names'][0].lstrip('/')}  Healthy")
