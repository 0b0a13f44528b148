"""How much of what we sent on a socket its peer has not read yet (SIOCOUTQ).

Why: after the 101 of a hijacked attach or exec, docker-py reads the response
headers through a buffered file and then switches to the raw socket; bytes
that arrived together with the headers sit in that buffer and are lost to it
(`attach(logs=True, stream=False)` returned b"").  On a unix stream socket the
kernel counts sent data as queued until the peer's read() consumed it, so
waiting for SIOCOUTQ to reach 0 before the first payload byte means the
client has taken the headers alone.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import termios


def unread(sock: socket.socket) -> int:
    """Bytes sent on `sock` not yet read by its peer (unix sockets); 0 when unknown
    or when the socket is closed already (the peer hung up: its fd is -1)."""
    if sock.fileno() < 0:
        return 0
    try:
        buf = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except OSError:
        return 0
    return struct.unpack("i", buf)[0]
