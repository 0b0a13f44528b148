"""Start-up garbage collection: remove what this daemon created and no longer wants.

Only links carrying this daemon's own ownership mark are ever deleted
(kernel/linkmark.py): another boxnetd's veths and bridges in the same netns
(another data root), a user's bridge adopted with
``com.docker.network.bridge.name``, a user's ``veth...`` all look alike by
name and are left alone.

* host veths marked ``veth`` that no endpoint in the store uses (a crash
  between creation and the store write, or a removal cut short);
* links retired as ``bxgc-<hex>`` (kernel/linkgc.py) whose deletion was cut
  short, marked by this daemon (any kind);
* bridges marked ``bridge`` that no network in the store names (a crash
  between the store delete and the bridge's retirement);
* the Docker plugin's spare pairs (``vbs<hex>`` marked ``spare``, core/spares.py):
  none is wanted across a restart, new ones are made after this runs;
* netns pins under this daemon's own exec root that no container uses, and
  the plain files of pins whose mount vanished (a private mount namespace).

A wanted veth found without a mark (made before marks existed) is marked
now: its endpoint is in this daemon's store, so it is this daemon's.  An
unwanted unmarked ``veth<11 hex>`` is this daemon's only if its peer lives in
a container netns this daemon pinned (a kill between the veth's creation and
its mark, one netlink round trip: the kernel takes no IFLA_IFALIAS at
creation); otherwise it is logged and kept: it may be another daemon's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re

from ..errors import BoxnetError
from ..kernel import netns as kns
from ..kernel.linkgc import is_garbage
from ..kernel.spareveth import SPARE_KIND, SPARE_NAME

log = logging.getLogger(__name__)
OWN_VETH = re.compile(r"^veth[0-9a-f]{11}$")


def _wanted_links(ctl) -> set[str]:
    names = set()
    for nw in ctl.networks.values():
        try:
            names |= set(ctl.drivers.get(nw.driver).owned_link_names(nw))
        except BoxnetError:
            continue  # a driver this daemon lacks (e.g. overlay without a cluster store)
    return names


async def _pairs_into_own_netns(ctl) -> set[tuple[int, int]]:
    """(host ifindex, container ifindex) of every veth pair with an end in one of
    this daemon's pinned container netns."""
    out = set()
    for path in await asyncio.to_thread(kns.list_pinned, ctl.config.netns_dir):
        try:
            for li in await ctl.nl.list_links(path):
                if li.kind == "veth" and li.peer:
                    out.add((li.peer, li.index))
        except BoxnetError as exc:
            log.warning("cannot list the links of %s: %s", path, exc.message)
    return out


async def remove_orphans(ctl) -> None:
    """Delete this daemon's unwanted links and netns pins (see the module docstring)."""
    nl = ctl.nl
    veths = {ep.host_ifname for ep in ctl.endpoints.values() if ep.host_ifname}
    links = _wanted_links(ctl)
    pairs = None       # (host ifindex, peer ifindex) of veths into this daemon's netns
    for link in await nl.list_links():
        if OWN_VETH.match(link.name):
            if link.name in veths:
                if not link.alias:
                    await nl.set_alias(link.name, nl.mark("veth"))
                continue
            if not link.alias and pairs is None:
                pairs = await _pairs_into_own_netns(ctl)
            if nl.is_mine(link.alias, "veth") or (not link.alias
                                                   and (link.index, link.peer) in pairs):
                log.info("removing orphan veth %s", link.name)
                await nl.delete_link(link.name)
            else:
                log.info("veth %s is not in the store and carries no mark of this daemon "
                         "(%r): left alone", link.name, link.alias)
        elif SPARE_NAME.match(link.name) and nl.is_mine(link.alias, SPARE_KIND):
            log.info("removing spare veth %s of the previous run", link.name)
            await nl.delete_link(link.name)   # its peer goes with it
        elif is_garbage(link.name) and nl.is_mine(link.alias):
            log.info("removing retired link %s", link.name)   # a deletion cut short
            await nl.delete_link(link.name)
        elif link.kind == "bridge" and nl.is_mine(link.alias, "bridge") \
                and link.name not in links:
            log.info("removing orphan bridge %s", link.name)
            await nl.retire_link(link.name)
    pins = {c.sandbox_key for c in ctl.containers.values() if c.sandbox_key}
    if os.path.isdir(ctl.config.netns_dir):
        for path in await asyncio.to_thread(kns.list_pinned, ctl.config.netns_dir):
            if path not in pins:
                log.info("removing orphan netns %s", path)
                await asyncio.to_thread(kns.delete_netns, path)
        # the file of a pin whose mount vanished with a private mount namespace
        # (killed between the pin and the store write): nothing else uses it
        for path in await asyncio.to_thread(kns.list_unpinned, ctl.config.netns_dir):
            if path not in pins:
                log.info("removing the file of a vanished netns pin %s", path)
                await asyncio.to_thread(kns.delete_netns, path)
