"""The Docker plugin's HTTP app: libnetwork's remote driver and remote IPAM calls
(JSON over POST on a unix socket) turned into controller calls (core/external.py).

dockerd discovers the plugin by its socket in /run/docker/plugins (docs/plugins.md).
Drivers offered: ``boxnet`` (boxnet's bridge: its firewall, isolation, ICC, internal,
anti-spoofing) and, on its own socket, ``boxnet-overlay`` (plugin/overlay.py).  Every failure is answered ``{"Err": message}`` with status 500 (as
moby's go-plugins-helpers do), and has changed nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time

import msgspec
from aiohttp import web

from ..drivers.api import HANDOFF_PEER_OPT
from ..drivers.bridge import options as bridge_options
from ..errors import BoxnetError, InvalidParameter
from ..model import IpamPool
from . import protocol as p

log = logging.getLogger(__name__)

CONTROLLER = web.AppKey("controller", object)
LOCK = web.AppKey("lock", asyncio.Lock)
DRIVER = web.AppKey("driver", str)
DEFAULT_SOCKET = "/run/docker/plugins/boxnet.sock"
PEER_PREFIX = "vbx"     # the container end until Docker renames it DstPrefix+N
# driver options (`docker network create -o`) the plugin's bridge honours
HONOURED = bridge_options.KNOWN - {bridge_options.OPT_DEFAULT}


def _answer(data: dict | None = None) -> web.Response:
    return web.Response(body=msgspec.json.encode(data or {}), content_type="application/json")


def _err(message: str) -> web.Response:
    return web.Response(status=500, body=msgspec.json.encode({"Err": message}),
                        content_type="application/json")


def _mac() -> str:
    """A random locally administered unicast MAC (as Docker's bridge gives one)."""
    b = bytearray(secrets.token_bytes(6))
    b[0] = (b[0] & 0xFE) | 0x02
    return ":".join(f"{x:02x}" for x in b)


def _driver_options(opts: dict) -> tuple[dict, bool, bool]:
    """(bridge options, IPv6, internal) from CreateNetwork's Options; an unknown
    `-o` option is refused, naming it."""
    generic = opts.get(p.GENERIC) or {}
    if not isinstance(generic, dict):
        raise InvalidParameter(f"{p.GENERIC}: expected an object")
    out = {}
    for key, val in generic.items():
        if key not in HONOURED:
            raise InvalidParameter(f"driver option {key} is not supported by the boxnet driver "
                                   f"(supported: {', '.join(sorted(HONOURED))})")
        out[key] = str(val)
    ipv6 = opts.get(p.ENABLE_IPV6) in (True, "true")
    internal = opts.get(p.INTERNAL) in (True, "true") or generic.get(p.INTERNAL) in (True, "true")
    return out, ipv6, internal


def _pools(data: list[p.IPAMData] | None) -> list[IpamPool]:
    out = []
    for d in data or []:
        if not d.Pool:
            continue
        out.append(IpamPool(subnet=d.Pool, gateway=d.Gateway.partition("/")[0] or None,
                            ip_range=None, aux_addresses={
                                k: v.partition("/")[0] for k, v in (d.AuxAddresses or {}).items()},
                            user_subnet=True))
    return out


class Handlers:
    """One method per protocol call; each gets the decoded request and the controller."""

    def __init__(self, ctl, driver: str):
        self.ctl = ctl
        self.driver = driver

    # ---- plugin and driver -----------------------------------------------
    async def activate(self, body: bytes) -> dict:
        return {"Implements": p.IMPLEMENTS}

    async def capabilities(self, body: bytes) -> dict:
        return {"Scope": "local", "ConnectivityScope": "local"}

    async def create_network(self, body: bytes) -> dict:
        req = p.decode(body, p.CreateNetworkRequest)
        opts, ipv6, internal = _driver_options(req.Options or {})
        if any(d.AddressSpace == p.OVERLAY_ADDRESS_SPACE
               for d in (req.IPv4Data or []) + (req.IPv6Data or [])):
            raise InvalidParameter(f"the {self.driver} driver cannot use the addresses of the "
                                   f"boxnet-overlay IPAM driver (they are claimed across hosts "
                                   f"for boxnet-overlay networks): use --ipam-driver boxnet or "
                                   f"Docker's default")
        pools = _pools(req.IPv4Data) + _pools(req.IPv6Data)
        if not pools:
            raise InvalidParameter("the network has no address pool")
        await self.ctl.create_external_network(req.NetworkID, self.driver, pools,
                                               enable_ipv6=ipv6, internal=internal,
                                               options=opts)
        return {}

    async def delete_network(self, body: bytes) -> dict:
        await self.ctl.remove_external_network(p.decode(body, p.NetworkRequest).NetworkID)
        return {}

    async def create_endpoint(self, body: bytes) -> dict:
        req = p.decode(body, p.CreateEndpointRequest)
        iface = req.Interface or p.EndpointInterface()
        mac = iface.MacAddress or _mac()
        self.ctl.create_external_endpoint(req.NetworkID, req.EndpointID, iface.Address,
                                          iface.AddressIPv6, mac)
        self.ctl.prepare_external_join(req.EndpointID, PEER_PREFIX + req.EndpointID[:11])
        # only what Docker did not give (it refuses a second MAC)
        return {"Interface": {"MacAddress": mac}} if not iface.MacAddress else {}

    async def endpoint_info(self, body: bytes) -> dict:
        req = p.decode(body, p.EndpointRequest)
        ep = self.ctl.external_endpoint(req.EndpointID)
        return {"Value": {"HostInterface": ep.host_ifname, "MacAddress": ep.mac,
                          "Address": ep.ipv4, "AddressIPv6": ep.ipv6}}

    async def delete_endpoint(self, body: bytes) -> dict:
        await self.ctl.delete_external_endpoint(p.decode(body, p.EndpointRequest).EndpointID)
        return {}

    async def join(self, body: bytes) -> dict:
        req = p.decode(body, p.JoinRequest)
        peer = PEER_PREFIX + req.EndpointID[:11]
        ep = await self.ctl.join_external(req.EndpointID, peer)
        # the pair may be a spare made ahead (core/spares.py): its peer is the one to move
        out = {"InterfaceName": {"SrcName": ep.driver_opts.get(HANDOFF_PEER_OPT) or peer,
                                 "DstPrefix": "eth"}}
        if ep.gateway4:
            out["Gateway"] = ep.gateway4
        if ep.gateway6:
            out["GatewayIPv6"] = ep.gateway6
        return out

    async def leave(self, body: bytes) -> dict:
        await self.ctl.leave_external(p.decode(body, p.EndpointRequest).EndpointID)
        return {}

    async def discover(self, body: bytes) -> dict:
        p.decode(body, p.DiscoveryRequest)   # node discovery: nothing to do for a local scope
        return {}

    async def program_external(self, body: bytes) -> dict:
        req = p.decode(body, p.ConnectivityRequest)
        ports = p.convert((req.Options or {}).get(p.PORTMAP) or [], list[p.PortBinding])
        await self.ctl.program_external_ports(req.EndpointID, ports)
        return {}

    async def revoke_external(self, body: bytes) -> dict:
        await self.ctl.revoke_external_ports(p.decode(body, p.EndpointRequest).EndpointID)
        return {}

    # ---- IPAM ----------------------------------------------------------------
    async def ipam_capabilities(self, body: bytes) -> dict:
        return {"RequiresMACAddress": False, "RequiresRequestReplay": False}

    async def address_spaces(self, body: bytes) -> dict:
        return {"LocalDefaultAddressSpace": "local", "GlobalDefaultAddressSpace": "global"}

    async def request_pool(self, body: bytes) -> dict:
        req = p.decode(body, p.RequestPoolRequest)
        if req.Options:
            raise InvalidParameter(f"IPAM option {sorted(req.Options)[0]} is not supported by "
                                   f"the boxnet IPAM driver")
        pool = await self.ctl.plugin_request_pool(req.Pool, req.SubPool, req.V6)
        data = {}
        if pool.gateway:   # Docker then asks no gateway of RequestAddress (unless --gateway)
            data[p.GATEWAY_TYPE] = f"{pool.gateway}/{pool.subnet.rpartition('/')[2]}"
        return {"PoolID": pool.pool_id, "Pool": pool.subnet, "Data": data}

    async def release_pool(self, body: bytes) -> dict:
        self.ctl.plugin_release_pool(p.decode(body, p.ReleasePoolRequest).PoolID)
        return {}

    async def request_address(self, body: bytes) -> dict:
        req = p.decode(body, p.RequestAddressRequest)
        prefix = req.PoolID.rpartition("/")[2]
        gateway = (req.Options or {}).get(p.ADDRESS_TYPE) == p.GATEWAY_TYPE
        addr = self.ctl.plugin_request_gateway(req.PoolID, req.Address) if gateway else \
            self.ctl.plugin_request_address(req.PoolID, req.Address)
        return {"Address": f"{addr}/{prefix}", "Data": {}}

    async def release_address(self, body: bytes) -> dict:
        req = p.decode(body, p.ReleaseAddressRequest)
        self.ctl.plugin_release_address(req.PoolID, req.Address)
        return {}


ROUTES = {
    "Plugin.Activate": "activate",
    "NetworkDriver.GetCapabilities": "capabilities",
    "NetworkDriver.CreateNetwork": "create_network",
    "NetworkDriver.DeleteNetwork": "delete_network",
    "NetworkDriver.CreateEndpoint": "create_endpoint",
    "NetworkDriver.EndpointOperInfo": "endpoint_info",
    "NetworkDriver.DeleteEndpoint": "delete_endpoint",
    "NetworkDriver.Join": "join",
    "NetworkDriver.Leave": "leave",
    "NetworkDriver.DiscoverNew": "discover",
    "NetworkDriver.DiscoverDelete": "discover",
    "NetworkDriver.ProgramExternalConnectivity": "program_external",
    "NetworkDriver.RevokeExternalConnectivity": "revoke_external",
    "IpamDriver.GetCapabilities": "ipam_capabilities",
    "IpamDriver.GetDefaultAddressSpaces": "address_spaces",
    "IpamDriver.RequestPool": "request_pool",
    "IpamDriver.ReleasePool": "release_pool",
    "IpamDriver.RequestAddress": "request_address",
    "IpamDriver.ReleaseAddress": "release_address",
}


def make_plugin_app(ctl, driver: str = "bridge", handlers: Handlers | None = None,
                    ) -> web.Application:
    """The plugin's app: POST /<Call> for every call of ROUTES, one at a time
    (``handlers``: another driver's, e.g. plugin/overlay.py's)."""
    app = web.Application()
    handlers = handlers or Handlers(ctl, driver)
    lock = asyncio.Lock()

    def route(call: str, method: str):
        fn = getattr(handlers, method)

        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            t0 = time.perf_counter()
            async with lock:
                try:
                    out = await fn(body)
                except BoxnetError as exc:
                    log.info("plugin %s refused: %s", call, exc.message)
                    return _err(exc.message)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    return _err(f"{call}: bad request: {exc}")
            log.debug("plugin %s done in %.1f ms", call, (time.perf_counter() - t0) * 1000)
            return _answer(out)
        return handle

    for call, method in ROUTES.items():
        app.router.add_post("/" + call, route(call, method))
    return app


async def serve_plugin(app: web.Application, path: str) -> web.AppRunner:
    """Listen on the plugin's unix socket (replacing a stale one), mode 0660."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if os.path.exists(path):
        os.unlink(path)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    old = os.umask(0o117)
    try:
        await web.UnixSite(runner, path).start()
    finally:
        os.umask(old)
    return runner
