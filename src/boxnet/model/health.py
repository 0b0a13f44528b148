"""A container's health (Docker's State.Health): pure data, kept with the container."""

import msgspec


class HealthcheckResult(msgspec.Struct, kw_only=True):
    """One probe run: when it started and ended (RFC 3339), its exit code
    (-1: it timed out or could not run) and its output (at most 4096 bytes)."""

    start: str
    end: str
    exit_code: int
    output: str = ""


class Health(msgspec.Struct, kw_only=True):
    """starting|healthy|unhealthy, the consecutive failures, the last 5 probes
    (oldest first).  Present only on a container whose healthcheck runs a probe."""

    status: str = "starting"
    failing_streak: int = 0
    log: list[HealthcheckResult] = []
