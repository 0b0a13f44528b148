"""Which daemon owns boxnet's nftables tables in this netns.

Two boxnetds in one netns would both render ``inet boxnet`` and ``bridge
boxnet`` and each wipe the other's isolation.  So the daemon that starts the
nftables firewall records itself in a small table of its own,
``inet boxnet_owner`` (a comment only: no chain, no set, no packet ever looks
at it), which the full renders of the two real tables never touch::

    boxnetd pid=1234 id=3f2a9c0d11e4 root=/var/lib/boxnet

At start, a daemon whose owner id (kernel/linkmark.py, from its data root)
differs from the recorded one is refused while the recorded pid is a live
boxnetd, with an error naming that daemon's data root and pid; a dead
owner's tables are taken over (and re-rendered whole by the new owner).
The same data root (this daemon's previous run) always takes over: the data
root lock already keeps two daemons off one root.
"""

from __future__ import annotations

import logging
import os
import re

from ...errors import Conflict, KernelError

log = logging.getLogger(__name__)
TABLE = "inet boxnet_owner"
MAX_COMMENT = 128          # nftables' limit on a comment (NFTNL_UDATA_COMMENT_MAXLEN)
_RECORD = re.compile(r'comment "boxnetd pid=(?P<pid>\d+) id=(?P<id>[0-9a-f]+) root=(?P<root>[^"]*)"')


def record(pid: int, owner: str, data_root: str) -> str:
    """The owner comment (the data root shortened from the left to fit)."""
    head = f"boxnetd pid={pid} id={owner} root="
    root = data_root.replace('"', "?")
    room = MAX_COMMENT - len(head)
    if len(root) > room:
        root = "..." + root[-(room - 3):]
    return head + root


def parse(listing: str) -> dict | None:
    """{pid, id, root} from ``list table inet boxnet_owner`` output, or None."""
    m = _RECORD.search(listing)
    if m is None:
        return None
    return {"pid": int(m["pid"]), "id": m["id"], "root": m["root"]}


def _is_live_boxnetd(pid: int) -> bool:
    """The pid is alive and is a boxnetd (a reused pid of another program is not)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"boxnetd" in f.read()
    except OSError:
        return False


def claim(nft, owner: str, data_root: str, pid: int | None = None) -> dict | None:
    """Record this daemon as the owner of the tables; return the previous owner.

    Raises Conflict while another live boxnetd (another data root) owns them.
    """
    pid = os.getpid() if pid is None else pid
    try:
        prev = parse(nft.run(f"list table {TABLE}"))
    except KernelError:
        prev = None        # no owner table: nobody claimed this netns
    if prev and prev["id"] != owner and prev["pid"] != pid and _is_live_boxnetd(prev["pid"]):
        raise Conflict(
            f"boxnet's nftables tables in this network namespace belong to another boxnetd "
            f"(pid {prev['pid']}, data root {prev['root']}): two daemons would overwrite "
            "each other's isolation rules. Run this daemon in another network namespace, "
            "or start it with --firewall none")
    comment = record(pid, owner, data_root)
    nft.run(f'add table {TABLE}\ndelete table {TABLE}\n'
            f'add table {TABLE} {{ comment "{comment}"; }}\n')
    if prev and prev["id"] != owner:
        log.warning("taking over boxnet's nftables tables from boxnetd pid %d (data root %s), "
                    "which is gone", prev["pid"], prev["root"])
    return prev


def claim_tables(owner: str, data_root: str) -> dict | None:
    """claim() through a libnftables context of its own, in the caller's netns."""
    from ...kernel.nft import Nft
    with Nft() as nft:
        return claim(nft, owner, data_root)
