"""Ownership marks on the links a daemon creates: "never delete what boxnet did
not create".

A name pattern is not ownership: ``veth<11 hex>`` or ``br-<12 hex>`` may be
another boxnetd's (two daemons with different data roots in one netns), and
a bridge named with ``com.docker.network.bridge.name`` may be the user's.  So
every host link a daemon creates carries an IFLA_IFALIAS mark naming the
daemon's owner id and the link's kind::

    boxnet:<owner>:<kind>        e.g. boxnet:3f2a9c0d11e4:veth

and reconciliation, link GC and network removal delete a link only if it
carries this daemon's own mark.  The owner id is derived from the data root
(its real path), so it is the same across restarts and differs between
daemons (the data-root lock keeps two daemons off one root).  The kernel does
not take IFLA_IFALIAS in RTM_NEWLINK (measured on 6.18: the alias stays
empty), so the mark is a separate RTM_SETLINK right after the creation.
"""

from __future__ import annotations

import hashlib
import os

PREFIX = "boxnet:"


def owner_id(data_root: str) -> str:
    """The owner id of the daemon using ``data_root``: 12 hex of its real path's sha256."""
    return hashlib.sha256(os.path.realpath(data_root).encode()).hexdigest()[:12]


def mark(owner: str, kind: str) -> str:
    """The alias a daemon puts on a link of ``kind`` it creates.

    Without an owner (a Netlink opened by a tool or a test) the mark is the
    unowned ``boxnet:<kind>`` form older boxnet versions wrote."""
    return f"{PREFIX}{owner}:{kind}" if owner else f"{PREFIX}{kind}"


def is_mine(alias: str | None, owner: str, kind: str | None = None) -> bool:
    """Whether ``alias`` is this owner's mark (of ``kind``, or of any kind)."""
    if not alias or not owner:
        return False
    head = f"{PREFIX}{owner}:"
    if kind is None:
        return alias.startswith(head)
    return alias == head + kind
