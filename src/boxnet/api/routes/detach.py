"""Detach keys of `docker attach` / `docker run -it` (default ctrl-p,ctrl-q).

The daemon scans what the client types, as dockerd does: the full sequence
ends the attach (the container keeps running) and is not forwarded; a
partial match is held back until the next byte tells whether it was one.
"""

from __future__ import annotations

from ...errors import InvalidParameter

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
_CTRL_PUNCT = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_detach_keys(spec: str) -> bytes:
    """Docker's syntax ("ctrl-p,ctrl-q", "a", "ctrl-@"...) to the byte sequence."""
    out = bytearray()
    for part in spec.split(","):
        part = part.strip()
        if len(part) == 1:
            out.append(ord(part))
        elif part.startswith("ctrl-") and len(part) == 6 and "a" <= part[5] <= "z":
            out.append(ord(part[5]) - ord("a") + 1)
        elif part.startswith("ctrl-") and len(part) == 6 and part[5] in _CTRL_PUNCT:
            out.append(_CTRL_PUNCT[part[5]])
        else:
            raise InvalidParameter(f"Invalid detach keys ({spec}) provided")
    return bytes(out)


class DetachScanner:
    """Filters one client's input stream for the detach sequence."""

    def __init__(self, keys: bytes):
        """`keys`: the sequence (empty: never detach)."""
        self.keys = keys
        self.held = 0   # how many bytes of `keys` the input has matched so far

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to forward, detach?) for the next chunk of input."""
        if not self.keys:
            return data, False
        out = bytearray()
        for b in data:
            if b == self.keys[self.held]:
                self.held += 1
                if self.held == len(self.keys):
                    self.held = 0
                    return bytes(out), True
                continue
            if self.held:   # not the sequence after all: give back what was held
                out += self.keys[:self.held]
                self.held = 0
                if b == self.keys[0]:
                    self.held = 1
                    if len(self.keys) == 1:
                        self.held = 0
                        return bytes(out), True
                    continue
            out.append(b)
        return bytes(out), False
