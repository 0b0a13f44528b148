"""The client's errors: plain exceptions, no click, so the CLI and compose each turn
them into their own message and exit code."""

from __future__ import annotations


class APIError(Exception):
    """The daemon answered with an error status; `message` is its message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class ConnectError(Exception):
    """The daemon's socket could not be reached."""


class OptionError(ValueError):
    """An option value refused before anything is sent (a bad -p spec, restart policy
    or seccomp profile); its text is the docker CLI's wording without any prefix."""
