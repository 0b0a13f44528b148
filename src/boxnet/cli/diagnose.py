"""`boxnet network diagnose A B[:port][/proto]`: can A reach B, and if not, why.

Asks GET /boxnet/v1/diagnose (the daemon reasons and probes from A's netns),
prints the verdict, each cause with its fix, and the probe's result.  Exit
status 0 when A reaches B, 1 when it does not.
"""

from __future__ import annotations

import json
import sys

import click

from .network import network


def _split(spec: str) -> tuple[str, str, str]:
    """B[:port][/proto] -> (B, port, proto) as strings (the daemon checks them)."""
    proto = ""
    if "/" in spec:
        spec, proto = spec.rsplit("/", 1)
    port = ""
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif spec.count(":") == 1:
        host, port = spec.split(":")
    else:
        host = spec
    return host, port, proto


@click.command("diagnose")
@click.option("--format", "fmt", default="", help="'json' for the daemon's answer as is")
@click.option("--timeout", default="0.5", help="Seconds the probe waits for an answer")
@click.argument("a")
@click.argument("b")
@click.pass_obj
def diagnose(obj, fmt, timeout, a, b) -> None:
    """Tell whether container A reaches B[:port][/proto], and if not, why"""
    host, port, proto = _split(b)
    query = {"from": a, "to": host, "timeout": timeout}
    if port:
        query["port"] = port
    if proto:
        query["proto"] = proto
    ans = obj.client.get("/boxnet/v1/diagnose", **query)
    if fmt == "json":
        sys.stdout.write(json.dumps(ans, indent=2) + "\n")
    else:
        out = [ans["Verdict"]]
        for c in ans["Causes"]:
            out.append(f"  cause {c['Cause']}: {c['Detail']}")
        out.append(f"  probe: {ans['Probe']['Result']}")
        if ans["Fix"]:
            out.append(f"Fix: {ans['Fix']}")
        sys.stdout.write("\n".join(out) + "\n")
    if not ans["Reachable"]:
        raise SystemExit(1)


def register(cli: click.Group) -> None:
    """Add `network diagnose` to the network group."""
    network.add_command(diagnose)
