"""boxnet's own firewall routes (not in Docker's API): reload and status."""

from __future__ import annotations

from aiohttp import web

from .common import ctl, reply


def firewall_warnings(c) -> list[str]:
    """Problems that break isolation or forwarding, for /info and the reload reply."""
    out = list(c.firewall.warnings())
    host = [x.name for x in c.containers.values()
            if x.status == "running" and c.uses_host_stack(x)]
    if host:
        out.append("containers using host networking are not isolated from the host or each "
                   "other: " + ", ".join(sorted(host)))
    return out


async def reload(request: web.Request) -> web.Response:
    """POST /boxnet/firewall/reload: re-render boxnet's tables from its state.

    The admin chain's rules are kept.  A failed transaction leaves the old
    tables in force and answers with the nft error (500).
    """
    c = ctl(request)
    await c.firewall.reload()
    return reply({"Warnings": firewall_warnings(c)})


def add_routes(add) -> None:
    """Register this module's routes."""
    add("POST", "/boxnet/firewall/reload", reload)
