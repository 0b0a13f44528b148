"""`boxnet flows [--follow] [--network N] [--container C] [--format json]`:
the connections of containers (issue 20 section 3), from
GET /boxnet/v1/flows (JSON lines).

The table is docker-style (upper-case headers, columns padded by three
spaces): PROTO, SOURCE and DESTINATION (`name@ip:port`, the bare address
for the outside), STATE, VERDICT, BYTES and PACKETS (out/in, from the
source's side), STARTED. `--format json` prints each record as the daemon
sent it, one a line; `--follow` goes on printing flows as they open and
close until interrupted. Records the daemon lost before reading them (a
full socket buffer or queue) are announced with a warning on stderr.
"""

from __future__ import annotations

import json
import sys
import time

import click

from .formatting import human_size

LOST_HEADER = "X-Boxnet-Flows-Lost"   # api/routes/flows.py
HEADERS = ("PROTO", "SOURCE", "DESTINATION", "STATE", "VERDICT", "BYTES", "PACKETS", "STARTED")


def _end(p: dict) -> str:
    addr = f"[{p['ip']}]" if ":" in p["ip"] else p["ip"]
    where = f"{addr}:{p['port']}" if p.get("port") else addr
    return f"{p['container']}@{where}" if p.get("container") else where


def _row(f: dict) -> list[str]:
    return [f["proto"], _end(f["src"]), _end(f["dst"]), f["state"],
            f["verdict"].replace(" ", "-"),
            f"{human_size(f['bytes_out'])}/{human_size(f['bytes_in'])}",
            f"{f['packets_out']}/{f['packets_in']}",
            time.strftime("%H:%M:%S", time.localtime(f["start"]))]


def _warn_lost(header: str) -> None:
    """A warning on stderr when the daemon lost records before reading them
    (the X-Boxnet-Flows-Lost header: "conntrack=N, drops=M")."""
    counts = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if value.isdigit() and int(value):
            counts[key] = int(value)
    if counts:
        what = " and ".join(f"{n} {'conntrack event' if k == 'conntrack' else 'logged drop'}"
                            f"{'s' if n > 1 else ''}" for k, n in counts.items())
        sys.stderr.write(f"WARNING: the daemon lost {what} under load: some flows are "
                         "missing or incomplete\n")


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                     for r in rows) + "\n"


@click.command("flows")
@click.option("-f", "--follow", is_flag=True, help="Follow flows as they open and close")
@click.option("--network", default="", help="Only flows with an end on this network")
@click.option("--container", default="", help="Only flows with this container at an end")
@click.option("--format", "fmt", default="", help="'json': one record a line")
@click.pass_obj
def flows(obj, follow, network, container, fmt) -> None:
    """Show the connections of containers"""
    query = {k: v for k, v in (("network", network), ("container", container)) if v}
    if follow:
        query["follow"] = "1"
    resp = obj.client.request("GET", "/boxnet/v1/flows", query)
    _warn_lost(resp.getheader(LOST_HEADER) or "")
    rows = [list(HEADERS)]
    try:
        for line in resp:
            if not line.strip():
                continue
            if fmt == "json":
                sys.stdout.write(line.decode())
                sys.stdout.flush()
                continue
            rec = json.loads(line)
            if follow:   # a live line each, aligned on the headers' widths
                if len(rows) == 1:
                    sys.stdout.write(_table(rows))
                    rows.append([])
                sys.stdout.write("   ".join(_row(rec)) + "\n")
                sys.stdout.flush()
            else:
                rows.append(_row(rec))
    finally:
        resp.close()
    if not follow and fmt != "json":
        sys.stdout.write(_table(rows))


def register(cli: click.Group) -> None:
    """Add `flows` to the top-level group."""
    cli.add_command(flows)
