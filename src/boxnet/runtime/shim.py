"""boxnet-shim: keeps one container's terminal (or stdin pipe) open across
daemon restarts, as containerd-shim / conmon do for Docker and Podman.

Why: a pty master, or the write end of a stdin pipe, held by the daemon dies
with the daemon: after a restart a TTY container could not be attached any
more, and a `-i` container would read EOF.  So the daemon hands these fds to
this small process right after `runc run -d` and keeps none of them.

The daemon starts it detached (own session) with inherited fds:
  --listen-fd  a listening unix socket the daemon bound (no readiness race)
  --pidfd      a pidfd of the container's init: the shim ends when it exits
  --io-fd      the pty master (--mode tty) or the stdin pipe's write end
  --log        (tty) file the terminal's output is appended to (`docker logs`)
  --sock-path  the socket's path, unlinked at exit

Protocol on each accepted connection (one per attach or resize), client to
shim: frames of 1 type byte + 4-byte big-endian length + payload:
  b"H" hello, payload b"0"; or b"1" + >q offset to receive the terminal's
       output, starting at that offset of the log (-1: from now on), so a
       client that attached before the start misses nothing
  b"D" bytes for the container's stdin
  b"C" close the container's stdin (stdin pipe only: StdinOnce semantics)
  b"R" resize the terminal, payload >HH rows, columns
Shim to client: the raw terminal output (tty mode, after H b"1"), then EOF
when the container has exited and its last output is sent.

Standard library only, and run with `python -S`: it starts in ~20 ms.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import selectors
import socket
import struct
import sys
import termios
import time

HDR = struct.Struct(">cI")
MAX_PENDING = 1 << 20      # stdin bytes buffered before clients are paused
MAX_CLIENT_BACKLOG = 1 << 20  # output held for a slow client before it reads the log instead
CHUNK = 65536


class Client:
    """One connection from the daemon."""

    def __init__(self, sock: socket.socket):
        self.sock, self.inbuf, self.outbuf = sock, b"", bytearray()
        self.output = False
        # Behind: the next byte it gets is at this offset of the log, read from
        # there as its socket takes it (None: it gets live output).
        self.log_pos: int | None = None
        self.greeted = False   # its H frame (what it wants) has been read
        self.paused = False
        self.registered = False


class Shim:
    """The event loop of one container's shim."""

    def __init__(self, a: argparse.Namespace):
        self.sel = selectors.DefaultSelector()
        self.listener = socket.socket(fileno=a.listen_fd)
        self.listener.setblocking(False)
        self.sock_path = a.sock_path
        self.tty = a.mode == "tty"
        self.io: int | None = a.io_fd
        os.set_blocking(self.io, False)
        self.log = os.open(a.log, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                           0o640) if a.log else None
        self.log_end = os.lseek(self.log, 0, os.SEEK_END) if self.log is not None else 0
        self.sock_ino = os.stat(self.sock_path).st_ino
        self.pending = bytearray()   # stdin not yet written to io
        self.close_stdin = False     # close the pipe once `pending` is written
        self.clients: dict[int, Client] = {}
        self.sel.register(self.listener, selectors.EVENT_READ, self._accept)
        self.sel.register(a.pidfd, selectors.EVENT_READ, self._exited)
        self.pidfd = a.pidfd
        self.io_reading = self.tty
        self._io_events()

    # -- the container's side ------------------------------------------------
    def _io_events(self) -> None:
        if self.io is None:
            return
        ev = (selectors.EVENT_READ if self.io_reading else 0) | \
             (selectors.EVENT_WRITE if self.pending else 0)
        try:
            self.sel.modify(self.io, ev, self._io_ready) if ev else self.sel.unregister(self.io)
        except KeyError:
            if ev:
                self.sel.register(self.io, ev, self._io_ready)

    def _io_ready(self, mask: int) -> None:
        if mask & selectors.EVENT_READ:
            self._read_output()
        if mask & selectors.EVENT_WRITE and self.io is not None:
            self._write_stdin()

    def _read_output(self) -> bool:
        """Copy what the terminal has to the log and to clients; False at EAGAIN/EIO."""
        try:
            data = os.read(self.io, 65536)
        except BlockingIOError:
            return False
        except OSError:   # EIO: no slave side open any more
            data = b""
        if not data:
            self.io_reading = False
            self._io_events()
            return False
        if self.log is not None:
            os.write(self.log, data)
            self.log_end += len(data)
        for c in list(self.clients.values()):
            if c.output and c.log_pos is not None:
                self._client_events(c)   # more for it in the log
            elif c.output:
                c.outbuf += data
                self._flush(c)
        return True

    def _write_stdin(self) -> None:
        try:
            n = os.write(self.io, self.pending)
            del self.pending[:n]
        except BlockingIOError:
            pass
        except OSError:   # EPIPE/EIO: nobody reads stdin any more
            self.pending.clear()
        if not self.pending:
            if self.close_stdin and not self.tty:
                if self.io in self.sel.get_map():
                    self.sel.unregister(self.io)
                os.close(self.io)   # the container reads EOF
                self.io = None
            for c in self.clients.values():
                if c.paused:
                    c.paused = False
                    self._client_events(c)
        self._io_events()

    # -- clients ------------------------------------------------------------------
    def _accept(self, _mask: int) -> bool:
        try:
            sock, _ = self.listener.accept()
        except BlockingIOError:
            return False
        sock.setblocking(False)
        c = Client(sock)
        self.clients[sock.fileno()] = c
        self._client_events(c)
        return True

    def _greet_late_clients(self, wait: float) -> None:
        """Serve the handshakes of clients that connected just before the end.

        Why: `docker run -t` attaches before the start, and a short-lived
        container may exit between the attach's connect and its H frame; that
        client would miss the output unless its H (with its log offset) is
        read now and the log replayed to it."""
        self.sel.unregister(self.pidfd)
        while self._accept(0):
            pass
        self.sel.unregister(self.listener)
        deadline = time.monotonic() + wait
        while any(not c.greeted for c in self.clients.values()):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for key, mask in self.sel.select(left):
                key.data(mask)

    def _client_ready(self, c: Client):
        def ready(mask: int) -> None:
            if mask & selectors.EVENT_WRITE:
                self._flush(c)
            if mask & selectors.EVENT_READ and c.sock.fileno() in self.clients:
                self._client_read(c)
        return ready

    def _client_read(self, c: Client) -> None:
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(c)
            return
        c.inbuf += data
        while len(c.inbuf) >= HDR.size:
            typ, n = HDR.unpack_from(c.inbuf)
            if len(c.inbuf) < HDR.size + n:
                break
            payload, c.inbuf = c.inbuf[HDR.size:HDR.size + n], c.inbuf[HDR.size + n:]
            self._frame(c, typ, payload)
        if len(self.pending) > MAX_PENDING and not c.paused and c.sock.fileno() in self.clients:
            c.paused = True   # back-pressure: stop reading until stdin drains
            self._client_events(c)

    def _frame(self, c: Client, typ: bytes, payload: bytes) -> None:
        if typ == b"H":
            c.greeted = True
            c.output = self.tty and payload[:1] == b"1"
            if c.output and len(payload) == 9 and self.log is not None:
                start = struct.unpack(">q", payload[1:])[0]
                if 0 <= start < self.log_end:   # replay what it missed, from the log
                    c.log_pos = start
                    self._flush(c)
        elif typ == b"D" and self.io is not None and not self.close_stdin:
            self.pending += payload
            self._io_events()
        elif typ == b"C" and not self.tty and self.io is not None:
            self.close_stdin = True
            self._write_stdin()
        elif typ == b"R" and self.tty and self.io is not None and len(payload) == 4:
            rows, cols = struct.unpack(">HH", payload)
            fcntl.ioctl(self.io, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def _client_events(self, c: Client) -> None:
        behind = c.log_pos is not None and c.log_pos < self.log_end
        ev = (0 if c.paused else selectors.EVENT_READ) | \
             (selectors.EVENT_WRITE if c.outbuf or behind else 0)
        if c.registered and ev:
            self.sel.modify(c.sock, ev, self._client_ready(c))
        elif c.registered:
            self.sel.unregister(c.sock)
        elif ev:
            self.sel.register(c.sock, ev, self._client_ready(c))
        c.registered = bool(ev)

    def _refill(self, c: Client) -> bool:
        """A behind client's next chunk from the log; False when it caught up."""
        if c.outbuf or c.log_pos is None:
            return bool(c.outbuf)
        if c.log_pos >= self.log_end:
            c.log_pos = None   # caught up: live output again
            return False
        chunk = os.pread(self.log, min(CHUNK, self.log_end - c.log_pos), c.log_pos)
        c.log_pos += len(chunk)
        c.outbuf += chunk
        return bool(chunk)

    def _flush(self, c: Client) -> None:
        """Send what the client's socket takes.  Why the log: a slow client
        must neither block the terminal nor make the shim hold the output
        without bound, and it must not lose any: beyond MAX_CLIENT_BACKLOG
        it is served from the log file, which holds everything, at its pace."""
        try:
            while self._refill(c):
                del c.outbuf[:c.sock.send(c.outbuf)]
        except BlockingIOError:
            pass
        except OSError:
            self._drop(c)
            return
        if len(c.outbuf) > MAX_CLIENT_BACKLOG:
            if self.log is None:
                self._drop(c)
                return
            # outbuf is the end of the log (output is logged before it is sent)
            c.log_pos = self.log_end - len(c.outbuf)
            c.outbuf.clear()
        self._client_events(c)

    def _drop(self, c: Client) -> None:
        if self.clients.pop(c.sock.fileno(), None) is not None:
            if c.registered:
                self.sel.unregister(c.sock)
            c.sock.close()

    # -- the end ----------------------------------------------------------------------
    def _exited(self, _mask: int) -> None:
        """The init ended: send the terminal's last output, hang up, leave."""
        deadline = time.monotonic() + 1.0
        while self.tty and self.io_reading and time.monotonic() < deadline:
            # Why loop: the other processes of the container are killed with
            # its init, but their slave fds close a moment later.
            if not self._read_output():
                if self.io_reading:
                    time.sleep(0.01)
        self._greet_late_clients(0.5)
        for c in list(self.clients.values()):
            c.sock.setblocking(True)
            c.sock.settimeout(2)
            deadline = time.monotonic() + 2   # a client that does not read is left behind
            try:
                while self._refill(c) and time.monotonic() < deadline:
                    c.sock.sendall(c.outbuf)
                    c.outbuf.clear()
            except OSError:
                pass
            c.sock.close()
        try:   # unless a new start of the container has bound a new one there
            if os.stat(self.sock_path).st_ino == self.sock_ino:
                os.unlink(self.sock_path)
        except OSError:
            pass
        sys.exit(0)

    def run(self) -> None:
        """Serve until the container's init exits."""
        while True:
            for key, mask in self.sel.select():
                key.data(mask)


def main(argv: list[str] | None = None) -> None:
    """Entry point: `python -S shim.py --listen-fd N --pidfd N --io-fd N ...`."""
    p = argparse.ArgumentParser(prog="boxnet-shim")
    p.add_argument("--listen-fd", type=int, required=True)
    p.add_argument("--pidfd", type=int, required=True)
    p.add_argument("--io-fd", type=int, required=True)
    p.add_argument("--mode", choices=("tty", "stdin"), required=True)
    p.add_argument("--log", default="")
    p.add_argument("--sock-path", required=True)
    a = p.parse_args(argv)
    os.chdir("/")
    Shim(a).run()


if __name__ == "__main__":
    main()
