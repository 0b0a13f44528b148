"""One container's embedded resolver: UDP and TCP at 127.0.0.11:53 in its netns.

The sockets are made by a worker thread that setns'd into the container's
netns (kernel.netns.arun_in_netns): a socket belongs to the netns it was
created in for its whole life, so the daemon's event loop serves every
container's resolver with no process or thread per container, and no packet
from outside that netns can ever reach it (127.0.0.11 lives on the
container's own loopback). They sit at ports the kernel picks, and port 53
of 127.0.0.11 is rewritten to them inside the netns (kernel/dnsredirect.py,
in the same hop), so the container's own programs may bind port 53.

Hot path (UDP): recvfrom, look the query minus its id up in the view's ready
answers, send id + answer. Everything else (parsing, deciding, forwarding)
happens only on a miss. Each wakeup drains at most BATCH datagrams, so a
flooding container gets its turn like the others and cannot starve them; a
container has at most MAX_PENDING forwarded queries in flight.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time

from ..errors import KernelError
from ..kernel import dnsredirect
from . import wire

log = logging.getLogger(__name__)

RESOLVER_IP = "127.0.0.11"
BATCH = 32            # datagrams per wakeup per container (fair share)
MISS_BATCH = 4        # of which at most this many take the slow path
FWD_HOLD = 1.0        # seconds a forwarded answer is reused as is (TTL not counted down)
FWD_MAX = 1024        # reused forwarded answers per container
MAX_PENDING = 64      # forwarded queries in flight per container
ANSWERS_MAX = 4096    # ready answers per view
RECV_SIZE = 4096      # larger datagrams are cut and then fail to parse (FORMERR)
TCP_CONNS_MAX = 16
TCP_IDLE = 10.0


class Resolver:
    """The embedded resolver of one sandbox, served from the daemon's loop."""

    def __init__(self, service, container_id: str, upstreams: tuple[str, ...]):
        """service: the DnsService (table, gen, ttl, forwarder)."""
        self.svc = service
        self.cid = container_id
        self.upstreams = upstreams
        self.udp: socket.socket | None = None
        self.ports: tuple[int, int] = (0, 0)   # (udp, tcp) where the sockets really are
        self.redirected = False                # 127.0.0.11:53 rewritten to them
        self.netns = ""
        self.server: asyncio.base_events.Server | None = None
        self.gen = -1
        self.view = None
        self.answers: dict = {}
        self.fwd: dict[bytes, tuple[float, bytes]] = {}   # query minus id -> (until, answer)
        self.pending = 0
        self.tcp_conns = 0
        self.tasks: set[asyncio.Task] = set()

    async def open(self, netns_path: str) -> None:
        """Bind the sockets and redirect 127.0.0.11:53 to them inside the netns
        (one hop, one nft transaction), and start serving."""
        socks = await dnsredirect.aopen(netns_path, RESOLVER_IP)
        self.netns = netns_path
        self.udp, tcp = socks.udp, socks.tcp
        self.ports, self.redirected = (socks.udp_port, socks.tcp_port), socks.redirected
        loop = asyncio.get_running_loop()
        loop.add_reader(self.udp.fileno(), self._on_udp)
        try:
            self.server = await asyncio.start_server(self._on_tcp, sock=tcp)
        except BaseException:
            tcp.close()
            await self.close(remove_redirect=True)
            raise

    async def close(self, remove_redirect: bool = False) -> None:
        """Stop serving and close the sockets (the netns can then go away).

        remove_redirect: also delete the redirect table, for a netns that lives
        on (others joined it); a daemon shutdown keeps it, the next daemon
        replaces it. A failure there is logged: the sockets are closed anyway."""
        netns = self.netns
        if self.udp is not None:
            asyncio.get_running_loop().remove_reader(self.udp.fileno())
            self.udp.close()
            self.udp = None
        if self.server is not None:
            self.server.close()
            self.server = None
        for t in list(self.tasks):
            t.cancel()
        if remove_redirect and self.redirected and netns:
            self.redirected = False
            try:
                await dnsredirect.aremove(netns)
            except (OSError, KernelError) as e:
                log.warning("dns: cannot remove the redirect of %s in %s: %s",
                            RESOLVER_IP, netns, e)

    def _refresh(self) -> None:
        """Take the current snapshot's view (an atomic swap of two references)."""
        self.gen = self.svc.gen
        self.view = self.svc.table().view_for(self.cid)
        self.answers = self.view.answers
        self.fwd = {}   # a name may have become local

    # ---- UDP ---------------------------------------------------------------
    def _on_udp(self) -> None:
        if self.gen != self.svc.gen:
            self._refresh()
        sock = self.udp
        if sock is None:
            return
        recv, send, answers = sock.recvfrom, sock.sendto, self.answers
        misses = 0
        for _ in range(BATCH):
            try:
                data, addr = recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            ans = answers.get(data[2:])
            if ans is None:
                ans = self._recent_forward(data[2:])
                if ans is None:
                    misses += 1
                    ans = self._miss(data, addr)
            elif ans.__class__ is list:   # round robin over the precomputed orders
                ans.append(ans.pop(0))
                ans = ans[0]
            if ans is not None:
                try:
                    send(data[:2] + ans, addr)
                except OSError:
                    pass
            if misses >= MISS_BATCH:
                return   # slow work is rationed: the rest waits for the next turn

    def _recent_forward(self, key: bytes) -> bytes | None:
        """A forwarded answer to the same query from less than FWD_HOLD s ago."""
        hit = self.fwd.get(key)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            del self.fwd[key]
            return None
        return hit[1]

    def _miss(self, data: bytes, addr) -> bytes | None:
        """Slow path: parse, decide, cache; start forwarding. Returns the answer to send."""
        q = wire.parse(data)
        if q is None:
            return wire.error_reply(data, 1)   # FORMERR (None: not worth answering)
        try:
            res = wire.decide(data, q, self.view, self.svc.ttl, wire.max_udp_size(q))
        except Exception:  # never let one packet hurt the loop
            log.debug("dns: cannot answer a query", exc_info=True)
            return wire.error_reply(data, 2)
        if res is None:
            return None
        if res is wire.FORWARD:
            if self.pending < MAX_PENDING:
                self._spawn(self._forward_udp(q, data, addr))
            return None   # over the limit: dropped, the client retries
        out = res.wire
        if res.cacheable and len(data) <= 512 and len(self.answers) < ANSWERS_MAX:
            self.answers[data[2:]] = out
        if out.__class__ is list:
            out.append(out.pop(0))
            out = out[0]
        return out

    def _spawn(self, coro) -> None:
        t = asyncio.ensure_future(coro)
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    async def _forward_udp(self, q, data: bytes, addr) -> None:
        resp, ttl = await self._forward(q, data)
        if len(resp) > wire.max_udp_size(q):
            resp = data[:2] + wire.truncated(q)
        if ttl >= FWD_HOLD and len(data) <= 512 and len(self.fwd) < FWD_MAX:
            self.fwd[data[2:]] = (time.monotonic() + FWD_HOLD, resp[2:])
        if self.udp is not None:
            try:
                self.udp.sendto(resp, addr)
            except OSError:
                pass

    async def _forward(self, q, data: bytes) -> tuple[bytes, float]:
        """(answer with the client's id, seconds it may be reused)."""
        self.pending += 1
        try:
            resp, ttl = await self.svc.forwarder.resolve_ttl(q, data, self.upstreams)
        except Exception:
            log.debug("dns: forwarding failed", exc_info=True)
            resp, ttl = None, 0
        finally:
            self.pending -= 1
        if resp is None:
            resp, ttl = data[:2] + wire.rcode_reply(q, 2), 0   # SERVFAIL
        return resp, ttl

    # ---- TCP ---------------------------------------------------------------
    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.tcp_conns >= TCP_CONNS_MAX:
            writer.close()
            return
        self.tcp_conns += 1
        try:
            while True:
                n = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2),
                                                               TCP_IDLE))[0]
                data = await asyncio.wait_for(reader.readexactly(n), TCP_IDLE)
                resp = await self._answer_tcp(data)
                if resp is None:
                    if len(data) < 12:
                        return
                    continue
                writer.write(struct.pack("!H", len(resp)) + resp)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            self.tcp_conns -= 1
            writer.close()

    async def _answer_tcp(self, data: bytes) -> bytes | None:
        """A full answer (no truncation, not cached) for a query that came over TCP."""
        if self.gen != self.svc.gen:
            self._refresh()
        q = wire.parse(data)
        if q is None:
            err = wire.error_reply(data, 1)
            return None if err is None else data[:2] + err
        try:
            res = wire.decide(data, q, self.view, self.svc.ttl, 65535)
        except Exception:
            log.debug("dns: cannot answer a TCP query", exc_info=True)
            return data[:2] + wire.rcode_reply(q, 2)
        if res is None:
            return None
        if res is wire.FORWARD:
            if self.pending >= MAX_PENDING:
                return data[:2] + wire.rcode_reply(q, 5)   # REFUSED
            return (await self._forward(q, data))[0]
        out = res.wire
        return data[:2] + (out[0] if out.__class__ is list else out)
