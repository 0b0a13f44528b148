"""The console scripts `boxnet` and `boxnet-compose` (pyproject.toml's entry points).

A plain `compose up`/`down` command line runs through cli/compose_fast.py without
importing click (start-up time: issue 15); every other command line goes to the click
CLI of cli/main.py unchanged.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """`boxnet ...`: the fast path when it knows the command line, else the click CLI."""
    from . import compose_fast
    call = compose_fast.parse(sys.argv[1:] if argv is None else list(argv))
    if call is not None:
        sys.exit(compose_fast.run(call))
    from .main import main as click_main
    click_main(argv)


def compose_main(argv: list[str] | None = None) -> None:
    """`boxnet-compose ...`: `boxnet compose ...`, docker-compose style."""
    main(["compose", *(sys.argv[1:] if argv is None else argv)])
