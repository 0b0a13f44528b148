"""`docker top`: ps_args checks and ps output filtered to a container's pids
(sans-I/O; moby daemon/top_unix.go's rules and parsing)."""

from __future__ import annotations

import re

from ..errors import InvalidParameter

_PID_ALIAS = re.compile(r"\s+([^\s]*)=\s*(PID[^\s]*)")


def split_args(ps_args: str) -> list[str]:
    """ps_args as ps's argv ("-ef" when empty); Docker refuses renaming a column
    to PID (`-o user=PID`), which would fool the parser."""
    ps_args = ps_args or "-ef"
    for key, value in _PID_ALIAS.findall(ps_args):
        if key != "pid":
            raise InvalidParameter(f'specifying "{key}={value}" is not allowed')
    return ps_args.split()


def parse(output: bytes, pids: set[int]) -> dict:
    """{"Titles": [...], "Processes": [[...]]}: the header's columns, and the
    lines whose PID is the container's (thread lines "-" after one of them too);
    the last column keeps its spaces (the command line)."""
    lines = output.decode(errors="replace").split("\n")
    titles = lines[0].split()
    if "PID" not in titles:
        raise InvalidParameter("Couldn't find PID field in ps output")
    at = titles.index("PID")
    procs: list[list[str]] = []
    keep = False
    for line in lines[1:]:
        fields = line.split()
        if len(fields) <= at:
            continue
        if fields[at] == "-":
            if keep:
                procs.append(_row(fields, len(titles)))
            continue
        try:
            pid = int(fields[at])
        except ValueError:
            raise InvalidParameter(f"Unexpected pid '{fields[at]}' in ps output") from None
        keep = pid in pids
        if keep:
            procs.append(_row(fields, len(titles)))
    return {"Titles": titles, "Processes": procs}


def _row(fields: list[str], ncols: int) -> list[str]:
    return fields[:ncols - 1] + [" ".join(fields[ncols - 1:])]
