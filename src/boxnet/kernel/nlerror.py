"""Netlink errors turned into boxnet's KernelError, with the errno's words."""

from __future__ import annotations

import os

from pyroute2.netlink.exceptions import NetlinkError

from boxnet.errors import KernelError


def nl_error(what: str, e: BaseException) -> KernelError:
    """KernelError "what: <strerror> (errno N)" for a NetlinkError, "what: e" otherwise."""
    if isinstance(e, NetlinkError):
        return KernelError(f"{what}: {os.strerror(e.code)} (errno {e.code})")
    return KernelError(f"{what}: {e}")
