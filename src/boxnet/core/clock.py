"""Timestamps in Docker's RFC 3339 form with nanoseconds."""

from __future__ import annotations

import datetime


def now_rfc3339() -> str:
    """Current UTC time like Docker prints it: 2024-01-02T03:04:05.123456789Z."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z"


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 timestamp (nanoseconds dropped)."""
    text = text.rstrip("Z")
    if "." in text:
        main, frac = text.split(".", 1)
        text = main + "." + frac[:6]
    else:
        text += ".0"
    dt = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f")
    return dt.replace(tzinfo=datetime.timezone.utc).timestamp()
