"""Remote endpoints of overlay networks and their kernel entries on this host.

The table keeps every remote EndpointRecord seen in the store (even for a
network not plumbed here yet) and what was programmed into each VXLAN
device, so a network created later gets all its peers at once, and a
removed record takes exactly its FDB and neighbour entries away (one FDB
entry per MAC; one permanent neighbour per address, ARP for IPv4 and NDP for
IPv6).  Endpoints are counted per VTEP: that count is what ``network
inspect`` shows as Peers.  ``dns_view`` hands the records to the embedded
DNS as endpoints (A and AAAA answers for other hosts' containers).
"""

from __future__ import annotations

import collections
import logging

from ...errors import BoxnetError
from ...model import Container, ContainerConfig, Endpoint
from .records import EndpointRecord

log = logging.getLogger(__name__)


def vxlan_name(network_id: str) -> str:
    """The VXLAN device of a network on every host."""
    return "vx-" + network_id[:12]


def _ips(rec: EndpointRecord) -> tuple[str, ...]:
    """The record's plain addresses (IPv4, IPv6), those it has."""
    return tuple(a.split("/")[0] for a in (rec.ipv4, rec.ipv6) if a)


class PeerTable:
    """Remote endpoint records, per network, and the kernel entries made from them."""

    def __init__(self, vxlan):
        self._vx = vxlan
        self.records: dict[str, dict[str, EndpointRecord]] = collections.defaultdict(dict)
        self.programmed: dict[str, set[str]] = collections.defaultdict(set)
        self.plumbed: set[str] = set()      # networks whose VXLAN device exists here
        self.hostnames: dict[str, str] = {}  # vtep -> host name

    def vtep_counts(self, network_id: str) -> dict[str, int]:
        """Remote endpoints of a network, counted per VTEP."""
        out: dict[str, int] = collections.Counter()
        for rec in self.records.get(network_id, {}).values():
            out[rec.vtep] += 1
        return dict(out)

    async def _program(self, rec: EndpointRecord) -> None:
        try:
            await self._vx.add_peer(vxlan_name(rec.network_id), rec.mac, _ips(rec), rec.vtep)
            self.programmed[rec.network_id].add(rec.endpoint_id)
        except BoxnetError as exc:
            log.error("peer %s on %s: %s", rec.endpoint_id[:12], rec.network_id[:12], exc.message)

    async def _unprogram(self, rec: EndpointRecord) -> None:
        self.programmed[rec.network_id].discard(rec.endpoint_id)
        try:
            await self._vx.del_peer(vxlan_name(rec.network_id), rec.mac, _ips(rec), rec.vtep)
        except BoxnetError as exc:
            log.warning("removing peer %s: %s", rec.endpoint_id[:12], exc.message)

    async def put(self, rec: EndpointRecord) -> None:
        """A remote endpoint appeared or changed."""
        old = self.records[rec.network_id].get(rec.endpoint_id)
        if old == rec and rec.endpoint_id in self.programmed[rec.network_id]:
            return
        if old is not None and (old.mac, old.vtep, _ips(old)) != (rec.mac, rec.vtep, _ips(rec)):
            await self._unprogram(old)
        self.records[rec.network_id][rec.endpoint_id] = rec
        if rec.network_id in self.plumbed:
            await self._program(rec)

    async def delete(self, network_id: str, endpoint_id: str) -> None:
        """A remote endpoint went away."""
        rec = self.records.get(network_id, {}).pop(endpoint_id, None)
        if rec is not None:
            await self._unprogram(rec)

    async def replace_all(self, recs: list[EndpointRecord]) -> None:
        """Make the table (and the kernel) match exactly ``recs`` (after a resync)."""
        want = {(r.network_id, r.endpoint_id): r for r in recs}
        for nid, eps in list(self.records.items()):
            for epid in list(eps):
                if (nid, epid) not in want:
                    await self.delete(nid, epid)
        for rec in want.values():
            await self.put(rec)

    async def network_plumbed(self, network_id: str) -> None:
        """The network's VXLAN device exists now: program all its known peers."""
        self.plumbed.add(network_id)
        for rec in list(self.records.get(network_id, {}).values()):
            await self._program(rec)

    def network_unplumbed(self, network_id: str) -> None:
        """The network's devices are gone (their entries went with them)."""
        self.plumbed.discard(network_id)
        self.programmed.pop(network_id, None)

    def dns_view(self, networks) -> tuple[list[Endpoint], dict[str, Container]]:
        """Remote endpoints of the networks known here (``networks``: ids), as
        (endpoints, stand-in containers by id) for the embedded DNS name table."""
        eps, conts = [], {}
        for nid, recs in self.records.items():
            if nid not in networks:
                continue
            for r in recs.values():
                eps.append(Endpoint(id=r.endpoint_id, network_id=nid, container_id=r.container_id,
                                    mac=r.mac, ipv4=r.ipv4, ipv6=r.ipv6, dns_names=list(r.names)))
                name = r.names[0] if r.names else r.container_id[:12]
                conts[r.container_id] = Container(id=r.container_id, name=name, created="",
                                                  config=ContainerConfig(image=""),
                                                  status="running")
        return eps, conts
