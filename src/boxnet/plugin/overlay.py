"""The ``boxnet-overlay`` Docker plugin driver and IPAM driver: boxnet's etcd
overlay (VXLAN) under stock dockerds on several hosts, without Swarm.

Served on its own socket, ``boxnet-overlay.sock`` beside ``boxnet.sock``
(dockerd names a plugin after its socket), when boxnetd runs in a cluster.
Usage, the same on every host::

    docker network create -d boxnet-overlay --ipam-driver boxnet-overlay \\
        --subnet 10.200.0.0/24 -o com.boxnet.overlay.name=web web

Scope ``local`` (why: docs/plugins.md): each dockerd keeps its own network,
boxnet maps every one of them onto the one overlay (core/external_overlay.py).
Addresses come from etcd through this socket's IPAM, so they are unique
across hosts; Docker's default IPAM is refused.  Names across hosts: the
endpoint option ``com.boxnet.dns.names`` (``docker run --network
name=web,driver-opt=com.boxnet.dns.names=a1``), answered by boxnetd's
cluster resolver (plugin/names.py) given to the container as ``--dns``.
"""

from __future__ import annotations

import logging

from ..errors import InvalidParameter
from . import protocol as p
from .app import Handlers

log = logging.getLogger(__name__)

DRIVER = "boxnet-overlay"
SOCKET = "boxnet-overlay.sock"
ADDRESS_SPACE = p.OVERLAY_ADDRESS_SPACE   # Docker's pools of this IPAM carry it: others are refused
OPT_NAME = "com.boxnet.overlay.name"
OPT_MTU = "com.docker.network.driver.mtu"
OPT_NAMES = "com.boxnet.dns.names"   # endpoint option: the names the cluster resolver answers
#: Scope given to dockerd.  "global" makes dockerd 20.10 without a cluster store refuse
#: `docker network create` (its global datastore is not initialised): docs/plugins.md.
SCOPE = "local"
# endpoint options Docker itself sends (libnetwork netlabels): not the user's
DOCKER_EP_OPTS = ("com.docker.network.", "io.docker.network.")


def _network_options(opts: dict) -> tuple[str, dict, bool]:
    """(overlay name, boxnet options, internal) from CreateNetwork's Options; IPv6
    and unknown `-o` options refused, naming them."""
    generic = opts.get(p.GENERIC) or {}
    if not isinstance(generic, dict):
        raise InvalidParameter(f"{p.GENERIC}: expected an object")
    if opts.get(p.ENABLE_IPV6) in (True, "true"):
        raise InvalidParameter("IPv6 is not supported on boxnet-overlay networks (yet)")
    name, out = "", {}
    for key, val in generic.items():
        if key == OPT_NAME:
            name = str(val)
        elif key == OPT_MTU:
            out[key] = str(val)
        elif key != p.INTERNAL:
            raise InvalidParameter(f"driver option {key} is not supported by the boxnet-overlay "
                                   f"driver (supported: {OPT_NAME}, {OPT_MTU})")
    internal = opts.get(p.INTERNAL) in (True, "true") or generic.get(p.INTERNAL) in (True, "true")
    return name, out, internal


def _names(opts: dict | None) -> list[str]:
    """The endpoint's DNS names (``com.boxnet.dns.names=a,b``); another user option
    is refused, naming it."""
    names: list[str] = []
    for key, val in (opts or {}).items():
        if key == OPT_NAMES:
            names = [n.strip().lower() for n in str(val).split(",") if n.strip()]
        elif not key.startswith(DOCKER_EP_OPTS):
            raise InvalidParameter(f"endpoint option {key} is not supported by the "
                                   f"boxnet-overlay driver (supported: {OPT_NAMES})")
    for n in names:
        if len(n) > 63 or not all(c.isalnum() or c in "-_" for c in n):
            raise InvalidParameter(f"{OPT_NAMES}: {n!r} is not a DNS label")
    return names


class OverlayHandlers(Handlers):
    """The calls of the ``boxnet-overlay`` socket (the others are app.py's)."""

    def __init__(self, ctl):
        super().__init__(ctl, "overlay")

    async def capabilities(self, body: bytes) -> dict:
        return {"Scope": SCOPE, "ConnectivityScope": "global"}

    async def create_network(self, body: bytes) -> dict:
        req = p.decode(body, p.CreateNetworkRequest)
        name, opts, internal = _network_options(req.Options or {})
        pools = [d for d in req.IPv4Data or [] if d.Pool]
        if req.IPv6Data and any(d.Pool for d in req.IPv6Data):
            raise InvalidParameter("IPv6 is not supported on boxnet-overlay networks (yet)")
        if len(pools) != 1:
            raise InvalidParameter("a boxnet-overlay network takes exactly one IPv4 subnet")
        if pools[0].AddressSpace != ADDRESS_SPACE:
            raise InvalidParameter("boxnet-overlay networks need --ipam-driver boxnet-overlay "
                                   "(addresses unique across hosts are claimed in etcd)")
        await self.ctl.create_external_overlay(
            req.NetworkID, pools[0].Pool, pools[0].Gateway.partition("/")[0], name,
            internal=internal, options=opts)
        return {}

    async def delete_network(self, body: bytes) -> dict:
        await self.ctl.remove_external_overlay(p.decode(body, p.NetworkRequest).NetworkID)
        return {}

    async def create_endpoint(self, body: bytes) -> dict:
        req = p.decode(body, p.CreateEndpointRequest)
        iface = req.Interface or p.EndpointInterface()
        names = _names(req.Options)
        mac = iface.MacAddress or self._mac()
        await self.ctl.create_external_overlay_endpoint(req.NetworkID, req.EndpointID,
                                                        iface.Address, iface.AddressIPv6, mac,
                                                        names)
        return {"Interface": {"MacAddress": mac}} if not iface.MacAddress else {}

    @staticmethod
    def _mac() -> str:
        from .app import _mac
        return _mac()

    async def program_external(self, body: bytes) -> dict:
        req = p.decode(body, p.ConnectivityRequest)
        if (req.Options or {}).get(p.PORTMAP):
            raise InvalidParameter("published ports are not supported on boxnet-overlay "
                                   "networks (publish them on a boxnet network)")
        return {}

    async def revoke_external(self, body: bytes) -> dict:
        p.decode(body, p.EndpointRequest)
        return {}

    # ---- IPAM ----------------------------------------------------------------
    async def address_spaces(self, body: bytes) -> dict:
        return {"LocalDefaultAddressSpace": ADDRESS_SPACE,
                "GlobalDefaultAddressSpace": ADDRESS_SPACE}

    async def request_pool(self, body: bytes) -> dict:
        req = p.decode(body, p.RequestPoolRequest)
        if req.Options:
            raise InvalidParameter(f"IPAM option {sorted(req.Options)[0]} is not supported by "
                                   f"the boxnet-overlay IPAM driver")
        subnet, gateway = await self.ctl.overlay_request_pool(req.Pool, req.SubPool, req.V6)
        data = {p.GATEWAY_TYPE: f"{gateway}/{subnet.rpartition('/')[2]}"} if gateway else {}
        return {"PoolID": subnet, "Pool": subnet, "Data": data}

    async def release_pool(self, body: bytes) -> dict:
        p.decode(body, p.ReleasePoolRequest)   # the pool is the overlay's: nothing held here
        return {}

    async def request_address(self, body: bytes) -> dict:
        req = p.decode(body, p.RequestAddressRequest)
        gateway = (req.Options or {}).get(p.ADDRESS_TYPE) == p.GATEWAY_TYPE
        addr = await self.ctl.overlay_request_address(req.PoolID, req.Address, gateway)
        return {"Address": f"{addr}/{req.PoolID.rpartition('/')[2]}", "Data": {}}

    async def release_address(self, body: bytes) -> dict:
        req = p.decode(body, p.ReleaseAddressRequest)
        await self.ctl.overlay_release_address(req.PoolID, req.Address)
        return {}



async def serve_overlay(ctl, beside: str):
    """Serve ``boxnet-overlay`` on its socket in the directory of ``beside`` (the
    ``boxnet`` socket), and the cluster names resolver (names.py) on the host's
    advertise address; returns (an async close, the socket's path)."""
    import os
    from .app import make_plugin_app, serve_plugin
    from .names import serve_names
    path = os.path.join(os.path.dirname(beside) or ".", SOCKET)
    runner = await serve_plugin(make_plugin_app(ctl, handlers=OverlayHandlers(ctl)), path)
    log.info("Docker plugin %s listening on %s", DRIVER, path)
    names = await serve_names(ctl, ctl.config.cluster_advertise)

    async def close() -> None:
        if names is not None:
            await names.close()
        await runner.cleanup()
    return close, path
