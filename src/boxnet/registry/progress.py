"""Docker's JSON progress messages (the jsonmessage stream `docker pull` and
`docker push` draw their bars from).  Pure."""

from __future__ import annotations

import time


def short(digest: str) -> str:
    """The 12-hex id Docker shows for a layer."""
    return digest.split(":", 1)[-1][:12]


def status(text: str, id: str = "", detail: dict | None = None, bar: str = "") -> dict:
    """One status message."""
    msg: dict = {"status": text}
    if detail is not None:
        msg["progressDetail"] = detail
    if bar:
        msg["progress"] = bar
    if id:
        msg["id"] = id
    return msg


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.4g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    return str(n)


def bar(current: int, total: int, width: int = 50) -> str:
    """Docker's "[====>   ]  1.2MB/3MB" text."""
    if total <= 0:
        return f"{_human(current)}"
    filled = min(width, current * width // total)
    arrow = ("=" * (filled - 1) + ">") if 0 < filled < width else "=" * filled
    return f"[{arrow}{' ' * (width - len(arrow))}] {_human(current):>8}/{_human(total)}"


def moving(text: str, id: str, current: int, total: int) -> dict:
    """A "Downloading"/"Extracting"/"Pushing" message with its progress."""
    return status(text, id, {"current": current, "total": total}, bar(current, total))


def error(message: str) -> dict:
    """An error in the stream, as dockerd writes it."""
    return {"errorDetail": {"message": message}, "error": message}


class Throttle:
    """True at most every `interval` seconds (and on the last call)."""

    def __init__(self, interval: float = 0.1):
        """Start closed for `interval`."""
        self.interval, self.next = interval, 0.0

    def __call__(self, final: bool = False) -> bool:
        """Whether to emit now."""
        now = time.monotonic()
        if final or now >= self.next:
            self.next = now + self.interval
            return True
        return False
