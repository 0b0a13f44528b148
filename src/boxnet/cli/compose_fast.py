"""`boxnet compose up` / `down` without click: the command lines a script types most.

Importing click costs ~15 ms of a `compose down` that the daemon answers in ~60 ms
(issue 15: compose at most a quarter of docker compose v2's time). So cli/entry.py
first offers the arguments to `parse`, which understands only a narrow, plain
spelling of `[-H X] compose [-f F]... [-p P] [--env-file E] [--project-directory D]
[-H X] up|down ...` and gives up (None) on anything else: `--help`, `-D`/`-l`, an
unknown or abbreviated option, an option glued to its value (`-fX`), a value that
looks like an option, `--`, a bad `-t`, an extra argument... The click CLI then runs
as before, with its own messages for all of those. What `parse` accepts, it reads
exactly as click would (tests/unit/test_compose_fast.py compares the two), and `run`
calls the same bodies as the click commands (cli/compose_cmds.py) and maps errors to
the same messages and exit codes as cli/main.py.
"""

from __future__ import annotations

import os
import sys

# value-taking options: spelling -> parameter name
_TOP = {"-H": "host", "--host": "host"}
_GROUP = {"-f": "files", "--file": "files", "-p": "project_name",
          "--project-name": "project_name", "--env-file": "env_file",
          "--project-directory": "project_directory", "-H": "host", "--host": "host"}
_UP_FLAGS = {"-d": "detach", "--detach": "detach", "--remove-orphans": "remove_orphans",
             "--wait": "wait"}
_DOWN_FLAGS = {"-v": "volumes", "--volumes": "volumes", "--remove-orphans": "remove_orphans"}
_DOWN_VALUED = {"-t": "timeout", "--timeout": "timeout"}


class _GiveUp(Exception):
    """Not a spelling the fast path knows: leave it to click."""


def _options(argv: list[str], i: int, table: dict[str, str], out: dict) -> int:
    """Read value-taking options of `table` from argv[i:]; return the index of the first
    other token. `files` accumulates (click's multiple=True), the others keep the last."""
    while i < len(argv):
        tok = argv[i]
        name, eq, value = tok.partition("=")
        if eq and name.startswith("--") and name in table:
            i += 1
        elif tok in table:
            if i + 1 >= len(argv):
                raise _GiveUp()
            name, value = tok, argv[i + 1]
            i += 2
        else:
            return i
        if value.startswith("-"):
            raise _GiveUp()
        key = table[name]
        if key == "files":
            out["files"].append(value)
        else:
            out[key] = value
    return i


def _timeout(value: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise _GiveUp()
    return int(value)


def parse(argv: list[str]) -> dict | None:
    """The parameters of a plain `compose up`/`down` command line, or None when the fast
    path does not know the spelling (click then parses it)."""
    if os.environ.get("_BOXNET_COMPLETE"):   # click's shell completion
        return None
    try:
        top: dict = {"host": None}
        i = _options(argv, 0, _TOP, top)
        if i >= len(argv) or argv[i] != "compose":
            return None
        grp: dict = {"files": [], "project_name": None, "env_file": None,
                     "project_directory": None, "host": None}
        i = _options(argv, i + 1, _GROUP, grp)
        if i >= len(argv) or argv[i] not in ("up", "down"):
            return None
        command, rest = argv[i], argv[i + 1:]
        if command == "up":
            params: dict = {"detach": False, "remove_orphans": False, "wait": False,
                            "services": []}
            for tok in rest:
                if tok in _UP_FLAGS:
                    params[_UP_FLAGS[tok]] = True
                elif tok.startswith("-") or not tok:
                    return None
                else:
                    params["services"].append(tok)
        else:
            params = {"volumes": False, "remove_orphans": False, "timeout": None}
            j = 0
            while j < len(rest):
                tok = rest[j]
                name, eq, value = tok.partition("=")
                if tok in _DOWN_FLAGS:
                    params[_DOWN_FLAGS[tok]] = True
                elif tok in _DOWN_VALUED and j + 1 < len(rest):
                    params["timeout"] = _timeout(rest[j + 1])
                    j += 1
                elif eq and name == "--timeout":
                    params["timeout"] = _timeout(value)
                else:
                    return None   # an argument down does not take, or an unknown option
                j += 1
    except _GiveUp:
        return None
    return {"top_host": top["host"], "group": grp, "command": command, "params": params}


class _Parent:
    """What the compose group takes from the top-level CLI state: the -H client."""

    def __init__(self, host: str | None):
        self.host = host
        self._client = None

    @property
    def client(self):
        """The API client for the top-level -H (or $BOXNET_HOST, or the default)."""
        if self._client is None:
            from ..client.engine import Client
            self._client = Client(self.host)
        return self._client


def run(call: dict) -> int:
    """Run a parsed command; return the exit code (messages as cli/main.py words them)."""
    from ..client.errors import APIError, ConnectError
    from .failure import Failure, print_err
    try:
        from . import compose_cmds
        from .compose_state import ComposeState
        g = call["group"]
        st = ComposeState(_Parent(call["top_host"]), g["host"], g["files"],
                          g["project_name"], g["env_file"], g["project_directory"])
        p = call["params"]
        if call["command"] == "up":
            compose_cmds.up(st, p["detach"], p["remove_orphans"], p["wait"], p["services"])
        else:
            compose_cmds.down(st, p["volumes"], p["remove_orphans"], p["timeout"])
    except APIError as e:
        print_err(f"Error response from daemon: {e.message}")
        return 1
    except ConnectError as e:
        print_err(str(e))
        return 1
    except Failure as e:
        print_err(e.message)
        return e.code
    except (EOFError, KeyboardInterrupt):   # click: a newline, then Abort (exit 1)
        sys.stderr.write("\n")
        return 1
    except BrokenPipeError:
        _quiet_stdout()
        return 1   # click's main: EPIPE exits 1
    return 0


def _quiet_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush is silent
    (click wraps the streams in PacifyFlushWrapper for the same reason)."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError):
        pass
