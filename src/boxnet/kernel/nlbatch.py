"""Netlink requests sent together, each one waited for.

Why not a bare ``asyncio.gather``: on the first failure it returns while the
other requests are still in flight, so a caller's undo (delete the link just
made) could race a request still setting that link up.  Here every request ends
first, then the first failure is raised.
"""

from __future__ import annotations

import asyncio


async def all_or_raise(*jobs) -> list:
    """Await ``jobs`` together; once all are done, raise the first failure (in the
    order given), else return their results."""
    got = await asyncio.gather(*jobs, return_exceptions=True)
    for r in got:
        if isinstance(r, BaseException):
            raise r
    return got
