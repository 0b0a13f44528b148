"""The stdio a container's init gets from `runc run -d` or `runc create`: stdin a pipe
when the container keeps it open (its write end goes to the shim, which closes it on
request, StdinOnce, never because the daemon restarts) else /dev/null, stdout and stderr
appended to the container's log files."""

from __future__ import annotations

import os

_LOG_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


class InitStdio:
    """The three fds for runc, the stdin pipe's write end, and where stderr stood before
    runc ran (so its failure message is read from there). Close it once runc has them."""

    def __init__(self, keep_stdin: bool, out_path: str, err_path: str):
        self.fds: list[int] = []
        self.stdin_w: int | None = None
        try:
            if keep_stdin:
                r, self.stdin_w = os.pipe2(os.O_CLOEXEC)
                self.fds.append(r)
            else:
                self.fds.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
            self.fds.append(os.open(out_path, _LOG_FLAGS, 0o640))
            self.fds.append(os.open(err_path, _LOG_FLAGS, 0o640))
            self.err_offset = os.fstat(self.fds[2]).st_size
        except BaseException:
            self.close()
            raise

    @property
    def triple(self) -> tuple[int, int, int]:
        """(stdin, stdout, stderr) for runc."""
        return self.fds[0], self.fds[1], self.fds[2]

    def take_stdin_w(self) -> int | None:
        """The stdin pipe's write end, no longer closed by close() (its new owner's)."""
        w, self.stdin_w = self.stdin_w, None
        return w

    def close(self) -> None:
        """Close every fd still held."""
        for fd in self.fds if self.stdin_w is None else [*self.fds, self.stdin_w]:
            os.close(fd)
        self.fds, self.stdin_w = [], None
