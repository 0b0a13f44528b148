"""Healthchecks, sans I/O: Docker's rules for Config.Healthcheck and State.Health.

What dockerd does (moby daemon/health.go, daemon/container.go, daemon/commit.go),
kept apart from the loop that runs the probes (core/healthmon.py):

- validate(): durations are nanoseconds; a non-zero one below 1 ms (a negative
  one included) and negative Retries are a 400 with dockerd's message.  An
  unknown Test type (dockerd warns and runs nothing) is refused too: never
  accepted and ignored.
- merge(): the container's fields override the image's, one by one; `["NONE"]`
  disables the image's probe.
- probe_of(): the merged config as a Probe (argv, seconds, retries), None when
  nothing is probed (no healthcheck, an empty Test, NONE).
- next_delay() and record(): when the next probe runs (the first one after one
  interval; StartInterval while starting within StartPeriod) and how a result
  changes the state (failures inside StartPeriod do not count; a success ends
  it; Retries failures in a row make it unhealthy; the last 5 results kept).
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import InvalidParameter
from ..model.health import Health, HealthcheckResult

SECOND = 1_000_000_000          # nanoseconds
MIN_DURATION = 1_000_000        # dockerd's MinimumDuration: 1 ms
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_START_PERIOD = 0
DEFAULT_START_INTERVAL = 5 * SECOND
DEFAULT_RETRIES = 3
MAX_LOG = 5
MAX_OUTPUT = 4096
DURATIONS = ("Interval", "Timeout", "StartPeriod", "StartInterval")
FIELDS = ("Test",) + DURATIONS + ("Retries",)
TEST_TYPES = ("CMD", "CMD-SHELL", "NONE")
STATUSES = ("starting", "healthy", "unhealthy")
NO_HEALTHCHECK = "none"          # the `health` filter's value for a container without one


class Probe(NamedTuple):
    """A healthcheck that runs: what to exec and when (seconds)."""

    argv: list[str]
    interval: float
    timeout: float
    start_period: float
    start_interval: float
    retries: int
    timeout_ns: int              # for Docker's "exceeded timeout (30s)" message


def validate(raw) -> dict | None:
    """Config.Healthcheck as sent (None when absent), checked as dockerd checks
    it: InvalidParameter naming the field otherwise.  Returns a copy holding
    only Docker's fields."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidParameter(f"Healthcheck must be an object (got {raw!r})")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise InvalidParameter(f"Healthcheck: unknown field {unknown[0]!r} (known: "
                               f"{', '.join(FIELDS)})")
    out: dict = {}
    test = raw.get("Test")
    if test is not None:
        if not isinstance(test, list) or not all(isinstance(t, str) for t in test):
            raise InvalidParameter(f"Healthcheck.Test must be a list of strings (got {test!r})")
        if test:
            if test[0] not in TEST_TYPES:
                raise InvalidParameter(f"Healthcheck.Test: unknown type {test[0]!r} (expected "
                                       f"CMD, CMD-SHELL or NONE as its first element)")
            if test[0] != "NONE" and len(test) < 2:
                raise InvalidParameter(f"Healthcheck.Test: {test[0]} needs a command after it")
        out["Test"] = list(test)
    for name in DURATIONS:
        v = raw.get(name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int):
            raise InvalidParameter(f"Healthcheck.{name} must be an integer of nanoseconds "
                                   f"(got {v!r})")
        if v != 0 and v < MIN_DURATION:
            raise InvalidParameter(f"{name} in Healthcheck cannot be less than 1ms")
        out[name] = v
    retries = raw.get("Retries")
    if retries is not None:
        if isinstance(retries, bool) or not isinstance(retries, int):
            raise InvalidParameter(f"Healthcheck.Retries must be an integer (got {retries!r})")
        if retries < 0:
            raise InvalidParameter("Retries in Healthcheck cannot be negative")
        out["Retries"] = retries
    return out


def merge(user: dict | None, image: dict | None) -> dict | None:
    """dockerd's merge of the container's healthcheck over the image's: no
    healthcheck takes the image's whole; else each zero field (an empty Test,
    a 0 duration or Retries) takes the image's value (checked as the user's:
    a bad one in a loaded image is a 400 naming it)."""
    try:
        image = validate(image)
    except InvalidParameter as exc:
        raise InvalidParameter(f"the image's {exc.message}") from None
    if not image:
        return user
    if user is None:
        return dict(image)
    out = dict(user)
    if not out.get("Test"):
        if image.get("Test"):
            out["Test"] = list(image["Test"])
    for name in DURATIONS + ("Retries",):
        if not out.get(name) and image.get(name):
            out[name] = image[name]
    return out


def _or(value, default: int) -> int:
    return value if value else default


def probe_of(cfg: dict | None, shell: list[str] | None = None) -> Probe | None:
    """The merged healthcheck as a Probe; None when nothing is probed (none,
    an empty Test, NONE).  CMD-SHELL runs the container's Shell, else
    `/bin/sh -c`, as dockerd."""
    test = (cfg or {}).get("Test") or []
    if not test or test[0] not in ("CMD", "CMD-SHELL") or len(test) < 2:
        return None
    argv = list(test[1:])
    if test[0] == "CMD-SHELL":
        argv = list(shell or ["/bin/sh", "-c"]) + argv
    timeout = _or(cfg.get("Timeout"), DEFAULT_TIMEOUT)
    retries = cfg.get("Retries") or 0
    return Probe(argv=argv,
                 interval=_or(cfg.get("Interval"), DEFAULT_INTERVAL) / SECOND,
                 timeout=timeout / SECOND,
                 start_period=_or(cfg.get("StartPeriod"), DEFAULT_START_PERIOD) / SECOND,
                 start_interval=_or(cfg.get("StartInterval"), DEFAULT_START_INTERVAL) / SECOND,
                 retries=retries if retries > 0 else DEFAULT_RETRIES, timeout_ns=timeout)


def begin(health: Health | None) -> Health:
    """The state at a (re)start: starting, no failures; the log is kept, as dockerd."""
    h = health or Health()
    h.status, h.failing_streak = "starting", 0
    return h


def stop(health: Health | None) -> None:
    """The monitor stopped (exit, stop, pause): dockerd then shows unhealthy
    "for compatibility reasons" (moby container/health.go)."""
    if health is not None:
        health.status = "unhealthy"


def next_delay(probe: Probe, health: Health, since_start: float) -> float:
    """Seconds until the next probe: StartInterval while still starting inside
    StartPeriod, else Interval (dockerd's monitor: also the delay before the
    first probe)."""
    if since_start < probe.start_period and health.status == "starting":
        return probe.start_interval
    return probe.interval


def record(health: Health, probe: Probe, result: HealthcheckResult,
           since_start: float) -> bool:
    """Apply one probe result (`since_start`: seconds from the container's start
    to the probe's start); True when the status changed (a health_status event)."""
    old = health.status
    health.log = (list(health.log) + [result])[-MAX_LOG:]
    if result.exit_code == 0:
        health.failing_streak = 0
        health.status = "healthy"
    elif not (health.status == "starting" and since_start < probe.start_period):
        health.failing_streak += 1
        if health.failing_streak >= probe.retries:
            health.status = "unhealthy"
    return health.status != old


def output_text(data: bytes) -> str:
    """A probe's output as Docker keeps it: the first 4096 bytes, "..." after
    them when there was more."""
    text = data[:MAX_OUTPUT].decode("utf-8", "replace")
    return text + "..." if len(data) > MAX_OUTPUT else text


def go_duration(ns: int) -> str:
    """A duration as Go prints it (time.Duration.String): 30s, 1.5s, 500ms, 1m30s."""
    if ns == 0:
        return "0s"
    if ns < SECOND:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return _frac(ns, size) + unit
    h, rest = divmod(ns, 3600 * SECOND)
    m, rest = divmod(rest, 60 * SECOND)
    s = _frac(rest, SECOND) + "s"
    if h:
        return f"{h}h{m}m{s}"
    return f"{m}m{s}" if m else s


def _frac(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{frac:0{digits}d}".rstrip("0")


def timeout_output(probe: Probe, partial: str) -> str:
    """Docker's Output of a probe killed at its timeout."""
    msg = f"Health check exceeded timeout ({go_duration(probe.timeout_ns)})"
    return f"{msg}: {partial}" if partial else msg


def status_suffix(health: Health | None) -> str:
    """What `docker ps` adds to "Up 3 seconds": " (health: starting)", " (healthy)"."""
    if health is None:
        return ""
    return " (health: starting)" if health.status == "starting" else f" ({health.status})"


def filter_value(health: Health | None) -> str:
    """The container's value for the `health` filter of GET /containers/json."""
    return health.status if health is not None else NO_HEALTHCHECK


def check_filter(values: list[str]) -> None:
    """400 for a `health=` filter value dockerd does not know."""
    for v in values:
        if v not in STATUSES + (NO_HEALTHCHECK,):
            raise InvalidParameter(f"Unrecognised filter value for health: {v}")


def health_json(health: Health | None) -> dict | None:
    """State.Health as Docker shows it in inspect (None without one)."""
    if health is None:
        return None
    return {"Status": health.status, "FailingStreak": health.failing_streak,
            "Log": [{"Start": r.start, "End": r.end, "ExitCode": r.exit_code,
                     "Output": r.output} for r in health.log]}
