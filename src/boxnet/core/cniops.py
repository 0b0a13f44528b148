"""CNI attachments: a network namespace another runtime owns (CNI_NETNS) on a boxnet network.

The CNI plugin (cni/) is a thin client; these are the controller operations behind
/boxnet/v1/cni/... (api/routes/cni.py).  An attachment is a boxnet Endpoint with no
boxnet container, keyed by (containerID, ifname): its id is derived from the pair, so
DEL and CHECK find it without a lookup table.  It gets its addresses from the
daemon's IPAM and is plumbed by the network's driver into CNI_NETNS as any
container's endpoint (veth on the bridge, anti-spoofing elements, default route).

Errors are CniError (cni/config.py) with CNI's codes; a failed ADD leaves nothing
(core/undo.py), DEL goes on past failures (core/teardown.py) and is success when
the attachment, its netns or its network are already gone.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os

from ..cni.config import (INVALID_CONFIG, INVALID_ENV, UNKNOWN_CONTAINER, UNSUPPORTED_FIELD,
                          CniError)
from ..errors import BoxnetError, NotFound
from ..model import Endpoint, EndpointSettings, Network
from .teardown import Teardown
from .undo import rollback

log = logging.getLogger(__name__)

OWNER_OPT = "com.boxnet.plugin.owner"     # same key as core/external.py: reconcile keeps it
CID_OPT = "com.boxnet.cni.container_id"
NETNS_OPT = "com.boxnet.cni.netns"


def attachment_id(container_id: str, ifname: str) -> str:
    """The endpoint id of the attachment (containerID, ifname)."""
    return hashlib.sha256(f"cni\0{container_id}\0{ifname}".encode()).hexdigest()


def is_cni(ep: Endpoint) -> bool:
    """Whether the endpoint is a CNI attachment."""
    return ep.driver_opts.get(OWNER_OPT) == "cni"


def _prefix(subnet: str) -> int:
    return ipaddress.ip_network(subnet).prefixlen


class CniOps:
    """Mixin of the Controller: the CNI plugin's ADD, DEL, CHECK, STATUS, GC."""

    def _cni_network(self, ref: str) -> Network:
        try:
            nw = self.network(ref)
        except NotFound:
            raise CniError(INVALID_CONFIG, f"network {ref} not found in boxnetd",
                           "create it first (boxnet network create / docker network create)") from None
        drv = self.drivers.get(nw.driver)
        if not drv.needs_sandbox or not drv.uses_ipam or nw.ipam_driver not in ("", "default"):
            raise CniError(INVALID_CONFIG, f"network {nw.name} (driver {nw.driver}) cannot take "
                           "CNI attachments", "a bridge network can")
        return nw

    async def cni_add(self, network: str, container_id: str, netns: str, ifname: str,
                      ips: list[str], mac: str, port_mappings: list[dict]) -> dict:
        """Attach ``netns`` to the network as ``ifname``; the CNI result (1.x shape)."""
        if port_mappings:
            raise CniError(UNSUPPORTED_FIELD, "unsupported field runtimeConfig.portMappings",
                           "put the portmap plugin after boxnet in the conflist "
                           "with capabilities {\"portMappings\": true}")
        nw = self._cni_network(network)
        if not os.path.exists(netns):
            raise CniError(INVALID_ENV, f"CNI_NETNS {netns} does not exist")
        epid = attachment_id(container_id, ifname)
        if epid in self.endpoints:
            raise CniError(INVALID_CONFIG, f"container {container_id} already has {ifname}",
                           "DEL it first")
        drv = self.drivers.get(nw.driver)
        st = EndpointSettings(network_id=nw.id, mac=mac)
        for a in ips:
            v6 = ipaddress.ip_address(a).version == 6
            if not any(ipaddress.ip_address(a) in ipaddress.ip_network(p.subnet) for p in nw.pools):
                raise CniError(INVALID_CONFIG, f"ips: {a} is outside network {nw.name}'s subnets",
                               ", ".join(p.subnet for p in nw.pools))
            if v6:
                st.ipv6 = a
            else:
                st.ipv4 = a
        ep = Endpoint(id=epid, network_id=nw.id, container_id="", ifname=ifname, mac=mac,
                      static_ipv4=st.ipv4, static_ipv6=st.ipv6,
                      driver_opts={OWNER_OPT: "cni", CID_OPT: container_id, NETNS_OPT: netns})
        try:
            async with self.netlock, rollback(f"CNI attachment {container_id[:12]}/{ifname}") as undo:
                undo.push("release of its addresses", self._release, nw, ep)
                self._allocate(nw, ep, st)
                self.store.put("endpoints", ep.id, ep)
                undo.push("its removal from the store", self.store.delete, "endpoints", ep.id)
                self._index_endpoint(ep)
                undo.push("unindexing", self._unindex_endpoint, ep)
                undo.push("netns handle", self.nl.forget_netns, netns)
                await drv.join(nw, ep, netns)
                undo.push("leave", drv.leave, nw, ep, netns)
                for gw in (ep.gateway4, ep.gateway6):
                    if gw and not nw.internal:
                        await self.nl.set_default_route(netns, gw, ep.ifname)
                self.store.put("endpoints", ep.id, ep)
        except BoxnetError as e:
            raise CniError(INVALID_CONFIG if 400 <= e.status < 500 else 5, e.message) from None
        return self.cni_result(nw, ep)

    def cni_result(self, nw: Network, ep: Endpoint) -> dict:
        """The attachment as CNI's Result: host end, container end, ips, routes."""
        netns = ep.driver_opts.get(NETNS_OPT, "")
        out = {"interfaces": [{"name": ep.host_ifname},
                              {"name": ep.ifname, "mac": ep.mac, "sandbox": netns}],
               "ips": [], "routes": [], "dns": {}}
        for cidr, gw in ((ep.ipv4, ep.gateway4), (ep.ipv6, ep.gateway6)):
            if not cidr:
                continue
            ip = {"address": cidr, "interface": 1}
            if gw and not nw.internal:
                ip["gateway"] = gw
                out["routes"].append({"dst": "::/0" if ":" in cidr else "0.0.0.0/0", "gw": gw})
            out["ips"].append(ip)
        return out

    async def cni_del(self, container_id: str, ifname: str, netns: str) -> None:
        """Detach (container_id, ifname); success when it is already gone."""
        ep = self.endpoints.get(attachment_id(container_id, ifname))
        if ep is None or not is_cni(ep):
            return
        nw = self.networks.get(ep.network_id)
        path = ep.driver_opts.get(NETNS_OPT, netns)
        steps = Teardown(f"CNI attachment {container_id[:12]}/{ifname}")
        async with self.netlock:
            if nw is not None:
                drv = self.drivers.get(nw.driver)
                await steps.run("driver leave", drv.leave, nw, ep, path)
            await steps.run("netns handle", self.nl.forget_netns, path)
            self._unindex_endpoint(ep)
            await steps.run("removal from the store", self.store.delete, "endpoints", ep.id)
            if nw is not None:
                await steps.run("addresses", self._release, nw, ep)
        try:
            steps.done()
        except BoxnetError as e:
            raise CniError(5, e.message) from None

    async def cni_check(self, container_id: str, ifname: str, netns: str, prev: dict) -> None:
        """The attachment is there, plumbed, with the addresses of prevResult."""
        ep = self.endpoints.get(attachment_id(container_id, ifname))
        if ep is None or not is_cni(ep):
            raise CniError(UNKNOWN_CONTAINER, f"container {container_id} has no boxnet {ifname}")
        nw = self.networks.get(ep.network_id)
        if nw is None:
            raise CniError(INVALID_CONFIG, f"the network of {container_id}/{ifname} is gone")
        drv = self.drivers.get(nw.driver)
        if not await drv.endpoint_present(nw, ep, netns):
            raise CniError(5, f"{ifname} of {container_id} is not plumbed in {netns}")
        have = {a for a in (ep.ipv4, ep.ipv6) if a}
        ifaces = prev.get("interfaces") or []
        mine = {i for i, itf in enumerate(ifaces)
                if isinstance(itf, dict) and itf.get("name") == ifname and itf.get("sandbox")}
        want = {ip.get("address") for ip in prev.get("ips") or []
                if isinstance(ip, dict) and ip.get("interface") in mine}
        if want - have:
            raise CniError(INVALID_CONFIG, f"prevResult's {', '.join(sorted(want - have))} "
                           f"is not {ifname}'s address ({', '.join(sorted(have))})")

    def cni_status(self, network: str) -> None:
        """Ready when the network exists (boxnetd answering is the rest)."""
        self._cni_network(network)

    async def cni_gc(self, network: str, valid: list[tuple[str, str]]) -> int:
        """Remove the network's attachments not in ``valid``; returns how many."""
        nw = self._cni_network(network)
        keep = {attachment_id(cid, ifn) for cid, ifn in valid}
        gone = [ep for ep in list(self.eps_by_network.get(nw.id, {}).values())
                if is_cni(ep) and ep.id not in keep]
        for ep in gone:
            await self.cni_del(ep.driver_opts[CID_OPT], ep.ifname, ep.driver_opts.get(NETNS_OPT, ""))
        return len(gone)
