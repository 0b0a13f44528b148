"""Errors of the compose front end: every one names the file, the path and the line.

A ComposeError prints as `FILE:LINE: PATH: what is wrong. what to do.` so a user can
jump to the spot; `path` is the dotted path in the document (services.app.networks).
"""

from __future__ import annotations


def dotted(path) -> str:
    """('services', 'app', 'ports', 0) -> services.app.ports[0]."""
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or "(top level)"


class ComposeError(Exception):
    """A problem with a compose file (or project) a user can fix."""

    def __init__(self, message: str, file: str | None = None, path=(), line: int | None = None,
                 hint: str = ""):
        self.message = message
        self.file = file
        self.path = tuple(path)
        self.line = line
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        loc = dotted(self.path) + ": " if self.path else ""
        text = f"{where}{loc}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class ProjectError(Exception):
    """A problem met while running a project against the daemon (not a file error)."""
