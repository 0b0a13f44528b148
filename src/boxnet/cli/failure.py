"""The CLI's own error (a message printed as-is, with an exit code) and the stderr line
writer, without click: `boxnet compose`'s click-free fast path (cli/compose_fast.py)
uses them too. cli/options.py re-exports both for the click commands."""

from __future__ import annotations

import sys


class Failure(Exception):
    """A client-side error printed as-is to stderr, with an exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.message = message
        self.code = code


def print_err(msg: str) -> None:
    """Write one line to stderr."""
    sys.stderr.write(msg.rstrip("\n") + "\n")
    sys.stderr.flush()
