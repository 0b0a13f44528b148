"""Commands that act on each of several names, as the docker CLI does: inspect prints every
object found then every error (exit 1 on any), start/stop/rm print each name done."""

from __future__ import annotations

import sys
import urllib.parse
from typing import Any, Callable, Iterable

import click

from ..client.errors import APIError
from .formatting import write_inspect
from .options import Failure, print_err


def quote_segment(name: str) -> str:
    """A name or id as one URL path segment: network names may hold spaces and other
    characters (Docker's rule) and any name may hold '?' or '#', which must not end the path."""
    return urllib.parse.quote(name, safe="")


def inspect_output(items: list, errors: list[str], fmt: str | None) -> None:
    """Print inspect results then the errors, like docker (exit 1 on any error)."""
    if items or not fmt:
        write_inspect(items, fmt)
    if errors:
        raise Failure("\n".join(errors))


def inspect_each(names: Iterable[str], fetch: Callable[[str], Any], fmt: str | None) -> None:
    """Inspect each name with fetch(name); the daemon's errors are kept for the end."""
    items, errors = [], []
    for n in names:
        try:
            items.append(fetch(n))
        except APIError as e:
            errors.append(f"Error response from daemon: {e.message}")
        except Failure as e:
            errors.append(e.message)
    inspect_output(items, errors, fmt)


def echo_each(names: Iterable[str], action: Callable[[str], Any], missing_ok: bool = False,
              inline: bool = False) -> None:
    """Run action(name) for each; print the name (or what action returned) on success and
    every error at the end (inline: as it happens, as docker's `network rm` and `volume rm`
    do). missing_ok: a 404 is no error (`network rm -f`). Exit status 1 on any error."""
    errors = []
    for n in names:
        try:
            out = action(n)
        except APIError as e:
            if not (missing_ok and e.status == 404):
                errors.append(f"Error response from daemon: {e.message}")
                if inline:
                    print_err(errors[-1])
            continue
        click.echo(n if out is None else out)
    if errors and inline:
        sys.exit(1)
    if errors:
        raise Failure("\n".join(errors))
