"""The console scripts `boxnet` and `boxnet-compose` (pyproject.toml's entry points).

A plain `compose up`/`down` command line runs through cli/compose_fast.py without
importing click (start-up time: issue 15); every other command line goes to the click
CLI of cli/main.py unchanged.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """`boxnet ...`: the fast path when it knows the command line, else the click CLI."""
    _main(sys.argv[1:] if argv is None else list(argv), console=argv is None)


def compose_main(argv: list[str] | None = None) -> None:
    """`boxnet-compose ...`: `boxnet compose ...`, docker-compose style."""
    _main(["compose", *(sys.argv[1:] if argv is None else argv)], console=argv is None)


def _main(args: list[str], console: bool) -> None:
    from . import compose_fast
    call = compose_fast.parse(args)
    if call is None:
        from .main import main as click_main
        click_main(args)
        return
    code = compose_fast.run(call)
    if console:   # the console script: this process ends here
        _exit_now(code)
    sys.exit(code)


def _exit_now(code: int) -> None:
    """End the process with `code` once stdout and stderr are flushed, skipping the
    interpreter's teardown of every module (~10 ms of a loaded `compose down`, with
    nothing left to do: the fast path's threads are joined, its files closed). When a
    flush fails (a closed pipe), the normal exit reports it as Python does."""
    import os
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code)
