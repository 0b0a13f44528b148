"""Names across hosts for Docker's containers on ``boxnet-overlay`` networks.

Docker's embedded DNS (127.0.0.11 in the container) knows only the containers
of its own dockerd, and a remote driver is never told a container's name.  So
the recommended way (docs/plugins.md):

- give the endpoint its names: ``docker run --network
  name=web,driver-opt=com.boxnet.dns.names=api`` (the option reaches the
  plugin's CreateEndpoint; boxnet publishes the names in the endpoint's etcd
  record, which every host follows);
- give the container boxnetd's cluster resolver as its DNS server: ``--dns
  <the host's --cluster-advertise address>``.  Docker's embedded DNS still
  answers its own host's containers first, and forwards the other names here.

This resolver listens on UDP port 53 of the host's advertise address (in
boxnetd's netns, reached from the container through Docker's gateway bridge)
and answers A/AAAA for ``NAME`` and ``NAME.<overlay>`` from the endpoints of
every overlay known here: this host's (Docker's and boxnet's containers) and
the other hosts' (the cluster's records).  Any other name is forwarded to
boxnetd's upstreams (``--dns``, else the host's), as the embedded DNS does.
UDP only: Docker's embedded DNS asks its forwarders over UDP.
"""

from __future__ import annotations

import asyncio
import logging

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from ..dns.forwarder import Forwarder
from ..dns.upstreams import host_upstreams
from ..drivers.api import DockerIpam

log = logging.getLogger(__name__)

PORT = 53
TTL = 5


class ClusterNames(asyncio.DatagramProtocol):
    """The UDP resolver of overlay names (one per boxnetd in a cluster)."""

    def __init__(self, ctl):
        self.ctl = ctl
        self.upstreams = tuple(ctl.config.dns or host_upstreams())
        self.forwarder = Forwarder(timeout=ctl.config.dns_timeout)
        self.transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task] = set()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def lookup(self, qname: str) -> list[str] | None:
        """The addresses of ``qname`` (``NAME`` or ``NAME.<overlay>``, case folded),
        or None when no overlay endpoint has that name."""
        ctl = self.ctl
        remote, _ = ctl.remote_endpoints()
        found = None
        for ep in [*ctl.endpoints.values(), *remote]:
            nw = ctl.networks.get(ep.network_id)
            if nw is None or not ep.dns_names or not ctl.network_has(nw, DockerIpam):
                continue
            names = {n.lower() for n in ep.dns_names}
            suffix = "." + nw.name.lower()
            if qname in names or (qname.endswith(suffix) and qname[:-len(suffix)] in names):
                found = found if found is not None else []
                found += [a.partition("/")[0] for a in (ep.ipv4, ep.ipv6) if a]
        return found

    def answer(self, q: dns.message.Message) -> dns.message.Message | None:
        """Our answer to ``q``, or None when the name is not ours (forwarded)."""
        if len(q.question) != 1:
            r = dns.message.make_response(q)
            r.set_rcode(dns.rcode.FORMERR)
            return r
        question = q.question[0]
        addrs = self.lookup(question.name.to_text(omit_final_dot=True).lower())
        if addrs is None:
            return None
        r = dns.message.make_response(q)
        r.flags |= dns.flags.AA
        want = {dns.rdatatype.A: False, dns.rdatatype.AAAA: True}.get(question.rdtype)
        mine = [a for a in addrs if (":" in a) == want] if want is not None else []
        if mine:
            r.answer.append(dns.rrset.from_text_list(question.name, TTL, dns.rdataclass.IN,
                                                     question.rdtype, mine))
        return r   # a name of ours without that type: NOERROR, no answer

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            q = dns.message.from_wire(data)
        except Exception:   # noqa: BLE001 - malformed datagrams are dropped, as a resolver does
            log.debug("cluster names: malformed query from %s", addr)
            return
        if q.flags & dns.flags.QR:
            return
        r = self.answer(q)
        if r is not None:
            self._send(r.to_wire(max_size=512), addr)
            return
        task = asyncio.get_running_loop().create_task(self._forward(q, data, addr))
        self._tasks.add(task)   # kept until done (an unkept task can be collected mid-flight)
        task.add_done_callback(self._tasks.discard)

    async def _forward(self, q, data: bytes, addr) -> None:
        resp = await self.forwarder.resolve(q, data, self.upstreams)
        if resp is None:
            r = dns.message.make_response(q)
            r.set_rcode(dns.rcode.SERVFAIL)
            resp = r.to_wire()
        self._send(resp, addr)

    def _send(self, wire: bytes, addr) -> None:
        if self.transport is not None:
            self.transport.sendto(wire, addr)

    async def close(self) -> None:
        """Stop answering; pending forwards are cancelled."""
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.transport is not None:
            self.transport.close()


async def serve_names(ctl, address: str) -> ClusterNames | None:
    """The resolver on ``address``:53/udp, or None (logged) when it cannot bind there."""
    loop = asyncio.get_running_loop()
    try:
        _, proto = await loop.create_datagram_endpoint(lambda: ClusterNames(ctl),
                                                       local_addr=(address, PORT))
    except OSError as exc:
        log.warning("cluster names resolver: cannot listen on %s:%d/udp (%s): names across "
                    "hosts are not served", address, PORT, exc.strerror or exc)
        return None
    log.info("cluster names resolver listening on %s:%d/udp", address, PORT)
    return proto
