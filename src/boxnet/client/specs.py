"""Option values both front ends send: -p/--publish specs (the docker CLI's
nat.ParsePortSpec), --restart NAME[:N] and --security-opt seccomp=FILE.

Errors are plain OptionError with the docker CLI's wording: `boxnet run` turns them
into docker's usage message (exit 125), compose into a project error naming the service.
"""

from __future__ import annotations

import json

from .errors import OptionError


def _port_range(s: str, what: str) -> tuple[int, int]:
    lo, sep, hi = s.partition("-")
    try:
        a = int(lo)
        b = int(hi) if sep else a
    except ValueError:
        raise OptionError(f"invalid {what}: {s}") from None
    if not (0 < a <= 65535 and 0 < b <= 65535) or b < a:
        raise OptionError(f"invalid {what}: {s}")
    return a, b


def parse_publish(spec: str) -> list[tuple[str, dict]]:
    """Parse one -p value into [("80/tcp", {"HostIp": ..., "HostPort": ...}), ...]."""
    raw, proto = spec, "tcp"
    last = raw.rsplit(":", 1)[-1]
    if "/" in last:
        raw, proto = raw.rsplit("/", 1)
    proto = proto.lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise OptionError(f"invalid proto: {proto}")
    parts = raw.split(":")
    n = len(parts)
    if n == 1:
        ip, host, ctr = "", "", parts[0]
    elif n == 2:
        ip, host, ctr = "", parts[0], parts[1]
    elif n == 3:
        ip, host, ctr = parts
    else:
        ip, host, ctr = ":".join(parts[:-2]), parts[-2], parts[-1]
    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    if ip:
        import ipaddress  # only a spec naming an address pays for the import
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise OptionError(f"invalid IP address: {ip}") from None
    if not ctr:
        raise OptionError(f"no port specified: {spec}<empty>")
    c_lo, c_hi = _port_range(ctr, "containerPort")
    if not host:
        return [(f"{p}/{proto}", {"HostIp": ip, "HostPort": ""}) for p in range(c_lo, c_hi + 1)]
    h_lo, h_hi = _port_range(host, "hostPort")
    if c_lo == c_hi and h_hi > h_lo:
        return [(f"{c_lo}/{proto}", {"HostIp": ip, "HostPort": f"{h_lo}-{h_hi}"})]
    if h_hi - h_lo != c_hi - c_lo:
        raise OptionError(f"invalid ranges specified for container and host Ports: "
                          f"{ctr} and {host}")
    return [(f"{c_lo + i}/{proto}", {"HostIp": ip, "HostPort": str(h_lo + i)})
            for i in range(c_hi - c_lo + 1)]


def parse_restart(policy: str) -> dict:
    """--restart NAME[:N] -> RestartPolicy (the daemon validates NAME, as with docker)."""
    name, sep, count = policy.partition(":")
    if sep and not count:
        raise OptionError(f"invalid restart policy format: {policy}")
    try:
        retries = int(count) if count else 0
    except ValueError:
        raise OptionError("invalid restart policy format: maximum retry count must be "
                          "an integer") from None
    return {"Name": name, "MaximumRetryCount": retries}


def security_opts(values) -> list[str]:
    """--security-opt as the docker CLI sends it: `seccomp=FILE` becomes
    `seccomp=<the file's JSON>` (the daemon never reads client paths); other
    entries (unconfined, builtin, no-new-privileges...) are sent as given and
    checked by the daemon."""
    out = []
    for v in values:
        value = v[len("seccomp="):]
        if v.startswith(("seccomp=", "seccomp:")) and value not in ("unconfined", "builtin"):
            try:
                with open(value, encoding="utf-8") as f:
                    text = f.read()
            except OSError as e:
                raise OptionError(f"opening seccomp profile ({value}) failed: "
                                  f"{e.strerror}") from None
            try:
                text = json.dumps(json.loads(text), separators=(",", ":"))
            except ValueError as e:
                raise OptionError(f"compacting json for seccomp profile ({value}) "
                                  f"failed: {e}") from None
            v = f"seccomp={text}"
        out.append(v)
    return out
