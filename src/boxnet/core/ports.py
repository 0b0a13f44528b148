"""Published ports follow the container's life (a lifecycle listener, core/events.py).

On ``sandbox_ready`` the container's PortBindings get host ports (random
ones from the ephemeral range when left empty) and DNAT elements towards the
endpoint that carries its default route (non-internal, highest gateway
priority, on a network whose driver has the PublishesPorts ability).  Connect/disconnect re-target them; stop releases them.  The
allocations are written under the exec root so that a daemon restart keeps
the same host ports for containers still running.

It also has the driver re-add the anti-spoofing elements of restored
endpoints (the firewall collects them at daemon start and renders everything
at once).

In a network whose gateway mode for the family is `routed` the entry is
marked so: the firewall opens the container port itself and DNATs nothing.
"""

from __future__ import annotations

import ipaddress
import logging
import os

import msgspec

from ..drivers.api import PublishesPorts
from ..errors import BoxnetError, Conflict, Forbidden, InvalidParameter
from ..firewall.api import PublishedPort
from .events import LifecycleListener
from .portalloc import HostBinding, PortAllocator, families_for, normalize_ip

log = logging.getLogger(__name__)


class PortMapper(LifecycleListener):
    """Listener owning host-port allocations and their firewall elements."""

    def __init__(self, ctl, allocator: PortAllocator | None = None):
        """Attach to a Controller (register with ``ctl.events.add``)."""
        self.ctl = ctl
        self.alloc = allocator or PortAllocator()
        self._bindings: dict[str, list[HostBinding]] = {}
        self._programmed: dict[str, list[PublishedPort]] = {}
        self._dir = os.path.join(ctl.config.exec_root, "ports")

    # ---- queries ----------------------------------------------------------
    def bindings(self, container_id: str) -> list[HostBinding]:
        """The host ports held for a running container."""
        return list(self._bindings.get(container_id, []))

    # ---- events -----------------------------------------------------------
    async def sandbox_ready(self, c) -> None:
        """Allocate and publish; any failure fails the start (nothing kept)."""
        if self._host_mode(c):
            if self.ctl.config.no_host_network:
                raise Forbidden("host networking is disabled on this daemon (--no-host-network)")
            if c.config.port_bindings:
                log.warning("%s uses host networking: published ports are ignored", c.name)
            return
        try:
            self._bindings[c.id] = [self._allocate(c, pb) for pb in self._wanted(c)]
            await self._program(c)
            self._save(c.id)
        except BaseException:
            await self._release(c.id)
            raise

    async def sandbox_restored(self, c) -> None:
        """Re-add endpoint elements; re-hold the same host ports and DNAT them."""
        for ep in self.ctl.container_endpoints(c.id):
            nw = self.ctl.networks.get(ep.network_id)
            drv = self._publisher(nw)
            if drv is not None:
                await drv.restore_endpoint(nw, ep)
        if self._host_mode(c):
            return
        saved = self._load(c.id)
        out = []
        for b in saved if saved is not None else []:
            if not b.host_port:     # routed: nothing held on the host
                out.append(b)
                continue
            try:
                out.append(self.alloc.reserve(c.id, b))
            except BoxnetError as exc:
                log.error("container %s: port %s lost at restart: %s", c.name, b.host_port,
                          exc.message)
        if saved is None:
            out = [self._allocate(c, pb) for pb in self._wanted(c)]
        self._bindings[c.id] = out
        await self._program(c)
        self._save(c.id)

    async def endpoint_joined(self, c, nw, ep) -> None:
        """The gateway endpoint may have changed: re-target the DNAT."""
        if c.id in self._bindings:
            await self._program(c)

    async def endpoint_left(self, c, nw, ep) -> None:
        """Re-target away from the leaving endpoint."""
        if c.id in self._bindings:
            await self._program(c, exclude=ep.id)

    async def sandbox_removed(self, c) -> None:
        """Unpublish and free the host ports."""
        await self._release(c.id)

    async def container_removed(self, c) -> None:
        """Forget the saved allocation."""
        self._forget(c.id)

    # ---- internals --------------------------------------------------------
    def _host_mode(self, c) -> bool:
        return self.ctl.uses_host_stack(c)

    def _publisher(self, nw) -> PublishesPorts | None:
        """The network's driver if its endpoints take published ports."""
        return self.ctl.drivers.ability(nw.driver, PublishesPorts) if nw is not None else None

    def _wanted(self, c) -> list:
        """The PortBindings, plus exposed ports when PublishAllPorts (-P) is set."""
        out = list(c.config.port_bindings)
        if c.config.raw_host_config.get("PublishAllPorts"):
            from ..model import PortBinding
            have = {(b.container_port, b.proto) for b in out}
            for spec in c.config.exposed_ports:
                port, _, proto = spec.partition("/")
                if port.isdigit() and (int(port), proto or "tcp") not in have:
                    out.append(PortBinding(container_port=int(port), proto=proto or "tcp"))
        return out

    def _default_ip(self, c) -> str:
        """Empty HostIp: the network's host_binding_ipv4, else the daemon's --ip."""
        nw = self.ctl.networks.get(next(iter(c.networks), ""))
        opt = nw.options.get("com.docker.network.bridge.host_binding_ipv4", "") if nw else ""
        if opt and opt != "0.0.0.0":
            return opt
        ip = self.ctl.config.default_bind_ip
        return "" if ip in ("0.0.0.0",) else ip

    def _routed_families(self, c, host_ip: str) -> tuple[int, ...] | None:
        """The families of a binding when every one of them goes to a `routed`
        gateway mode on the container's first network (Docker then uses no
        host port: the container port itself is opened); None otherwise."""
        nw = self.ctl.networks.get(next(iter(c.networks), ""))
        drv = self._publisher(nw)
        if drv is None or nw.internal:
            return None
        fams = families_for(normalize_ip(host_ip))[0]
        fams = tuple(f for f in fams if (nw.enable_ipv6 if f == 6 else nw.enable_ipv4))
        if fams and all(drv.gateway_mode(nw, f) == "routed" for f in fams):
            return fams
        return None

    def _allocate(self, c, pb) -> HostBinding:
        host_ip = pb.host_ip or self._default_ip(c)
        routed = self._routed_families(c, host_ip)
        if routed:
            if pb.host_port or pb.host_ip:
                log.warning("container %s: %s/%s is on a routed network: host address and "
                            "port of the mapping are not used", c.name, pb.container_port,
                            pb.proto)
            return HostBinding(proto=pb.proto, host_ip=normalize_ip(host_ip), host_port=0,
                               container_port=pb.container_port, families=routed)
        if host_ip and ipaddress.ip_address(host_ip) == ipaddress.IPv6Address("::1"):
            # Linux never routes a ::1 source off `lo` (no route_localnet for IPv6),
            # so a kernel DNAT of [::1]:PORT can never work; Docker needs its
            # userland proxy for it, which boxnet does not have.  Refuse, not ignore.
            raise InvalidParameter(
                f"cannot publish {pb.container_port}/{pb.proto} on [::1]: ports on the "
                "IPv6 loopback need a userland proxy, which boxnet does not have; use "
                "127.0.0.1 (the IPv4 loopback) instead")
        hi = pb.host_port_end or pb.host_port
        b = self.alloc.allocate(c.id, pb.proto, host_ip, pb.host_port, hi, pb.container_port)
        log.info("container %s: %s/%s published on %s:%d", c.name, pb.container_port, pb.proto,
                 b.host_ip or "*", b.host_port)
        return b

    def _target(self, c, v6: bool, exclude: str | None):
        best = None
        for ep in self.ctl.container_endpoints(c.id):
            nw = self.ctl.networks.get(ep.network_id)
            if ep.id == exclude or nw is None or nw.internal or self._publisher(nw) is None:
                continue
            if not (ep.ipv6 if v6 else ep.ipv4):
                continue
            if best is None or ep.gw_priority > best.gw_priority:
                best = ep
        return best

    def _entries(self, c, exclude: str | None) -> list[PublishedPort]:
        out = []
        for fam in (4, 6):
            ep = self._target(c, fam == 6, exclude)
            if ep is None:
                continue
            cip = (ep.ipv6 if fam == 6 else ep.ipv4).split("/")[0]
            nw = self.ctl.networks[ep.network_id]
            mode = self._publisher(nw).gateway_mode(nw, fam)
            for b in self._bindings.get(c.id, []):
                if not b.host_port and mode != "routed":
                    continue  # made for a routed network; this family's target is not
                if fam in b.families:
                    out.append(PublishedPort(container_id=c.id, family=fam, proto=b.proto,
                                             host_ip=b.host_ip, host_port=b.host_port,
                                             container_ip=cip, container_port=b.container_port,
                                             mode=mode))
        return out

    async def _program(self, c, exclude: str | None = None) -> None:
        new = self._entries(c, exclude)
        old = self._programmed.get(c.id, [])
        gone = [p for p in old if p not in new]
        if gone:
            await self.ctl.firewall.remove_ports(gone)
        await self.ctl.firewall.add_ports([p for p in new if p not in old])
        self._programmed[c.id] = new

    async def _release(self, cid: str) -> None:
        old = self._programmed.pop(cid, [])
        self._bindings.pop(cid, None)
        self.alloc.release(cid)
        self._forget(cid)
        if old:
            try:
                await self.ctl.firewall.remove_ports(old)
            except BoxnetError as exc:
                log.warning("unpublishing ports of %s: %s", cid[:12], exc.message)

    def _path(self, cid: str) -> str:
        return os.path.join(self._dir, cid + ".json")

    def _save(self, cid: str) -> None:
        os.makedirs(self._dir, exist_ok=True)
        tmp = self._path(cid) + ".tmp"
        with open(tmp, "wb") as f:
            f.write(msgspec.json.encode(self._bindings.get(cid, [])))
        os.replace(tmp, self._path(cid))

    def _load(self, cid: str) -> list[HostBinding] | None:
        try:
            with open(self._path(cid), "rb") as f:
                return msgspec.json.decode(f.read(), type=list[HostBinding])
        except (OSError, msgspec.DecodeError):
            return None

    def _forget(self, cid: str) -> None:
        try:
            os.unlink(self._path(cid))
        except OSError:
            pass


__all__ = ["PortMapper", "HostBinding", "Conflict"]
