"""compose's `x-boxnet: {bandwidth: {egress: 10mbit, ingress: 5mbit}}` per
service: the rate limits of every endpoint of each replica.

At load the mapping is checked for its shape (only `egress` and `ingress`,
each a rate written as tc does: a number and a unit such as `10mbit`) and a
service in `network_mode: host`/`none`/`container:`/`service:` cannot have
one (it has no endpoint of its own); a problem is a ComposeError at the
key's line, before anything is created. The engine checks the rate itself
(0, beyond the link: a 400 naming the option, core/bandwidth.py). At create
each endpoint gets the options `com.boxnet.endpoint.egress_rate` and
`com.boxnet.endpoint.ingress_rate` (`driver_opts()`).
"""

from __future__ import annotations

import re

from .errors import ComposeError
from .model import Project, Service

KEY = "x-boxnet"
OPTS = {"egress": "com.boxnet.endpoint.egress_rate",
        "ingress": "com.boxnet.endpoint.ingress_rate"}
_RATE = re.compile(r"^\s*[0-9]+(\.[0-9]+)?\s*[A-Za-z]+\s*$")


def _raw(svc: Service):
    ext = svc.get(KEY)
    return ext.get("bandwidth") if isinstance(ext, dict) else None


def driver_opts(project: Project, svc: Service) -> dict[str, str]:
    """The endpoint options of the service's bandwidth block ({} for none),
    or ComposeError for a malformed block."""
    raw = _raw(svc)
    if raw is None:
        return {}
    path = ("services", svc.name, KEY, "bandwidth")

    def err(msg: str, hint: str = "") -> ComposeError:
        file, line = project.locate(path)
        return ComposeError(msg, file, path, line, hint)

    if not isinstance(raw, dict):
        raise err(f"service {svc.name!r}: bandwidth must be a mapping of egress/ingress")
    unknown = sorted(set(raw) - set(OPTS))
    if unknown:
        raise err(f"service {svc.name!r}: unknown bandwidth key {unknown[0]!r}",
                  "use egress and ingress")
    mode = svc.network_mode
    if mode in ("host", "none") or mode.startswith(("container:", "service:")):
        raise err(f"service {svc.name!r}: bandwidth limits need networks of its own, not "
                  f"network_mode {mode}", "drop network_mode or the limits")
    out = {}
    for key, value in raw.items():
        if not isinstance(value, str) or not _RATE.match(value):
            raise err(f"service {svc.name!r}: bandwidth {key} {value!r} is not a rate",
                      "write a number and a unit, e.g. 10mbit")
        out[OPTS[key]] = value.strip()
    return out


def check(project: Project) -> None:
    """Raise ComposeError for the first service whose bandwidth block is bad."""
    for svc in project.services.values():
        driver_opts(project, svc)
