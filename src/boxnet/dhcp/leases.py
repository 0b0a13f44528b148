"""The daemon's DHCP leases: one asyncio task per endpoint, no process per container.

`LeaseKeeper.acquire` runs DISCOVER/OFFER/REQUEST/ACK from the endpoint's own
interface inside the container's netns (kernel/dhcpsock.py), puts the address
on it and keeps the lease in the store (kind "dhcp_leases", one record per
endpoint); a task then renews it at T1 (REQUEST unicast to the server),
rebinds at T2 (broadcast), and when it runs out (or a NAK comes) discovers
again, asking for the same address, and puts the new one in its place; when the
server gives a DIFFERENT address, `on_readdress(endpoint_id, lease)` (the daemon
wires it to `Controller.readdress_endpoint`) makes inspect, DNS, the policy sets
and the store follow it. `release` sends DHCPRELEASE and forgets it. At daemon start
`restore` starts the task of every stored lease whose netns still exists: a
valid lease waits for its T1 (or renews at once past it), an expired one is
discovered again. The tasks are the keeper's own (the driver that uses it has
no controller); `close` cancels them at shutdown without releasing, so the
leases outlive the daemon as the containers do.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Awaitable, Callable

import msgspec

from ..errors import BoxnetError, Unavailable
from ..kernel import dhcpsock
from . import wire
from .client import Client, Lease

log = logging.getLogger(__name__)
KIND = "dhcp_leases"
BROADCAST = "255.255.255.255"


class LeaseRecord(msgspec.Struct, kw_only=True):
    """What the store keeps of one endpoint's lease."""

    endpoint_id: str
    network_id: str
    netns_path: str
    ifname: str
    mac: str
    lease: Lease
    client_id: bytes = b""   # option 61 when not made from the MAC (ipvlan)


async def exchange(sock, client: Client, first: wire.Message, dest: str, timeout: float,
                   clock=time.time, port: int = dhcpsock.SERVER_PORT,
                   first_wait: float = 4.0) -> Lease | str | None:
    """Send `first` and retransmit (after `first_wait` s, then doubling up to 16 s, as
    RFC 2131 4.1) until the client has a Lease or a "nak", or `timeout` seconds pass
    (None). An OFFER's REQUEST is sent at once, broadcast."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    pending, wait = first, first_wait
    while loop.time() < end:
        await loop.sock_sendto(sock, wire.encode(pending), (dest, port))
        round_end = min(loop.time() + wait, end)
        wait = min(wait * 2, 16.0)
        while (left := round_end - loop.time()) > 0:
            try:
                data = await asyncio.wait_for(loop.sock_recv(sock, 4096), left)
            except TimeoutError:
                break
            try:
                msg = wire.decode(data)
            except wire.WireError as e:
                log.debug("dhcp: ignored a malformed packet: %s", e)
                continue
            out = client.receive(msg, clock())
            if isinstance(out, wire.Message):     # an OFFER taken: REQUEST it now,
                pending, wait = out, first_wait      # to where the DISCOVER went
                break
            if out is not None:
                return out
    return None


class LeaseKeeper:
    """Every DHCP lease of this daemon's endpoints; `nl` is the daemon's Netlink."""

    def __init__(self, store, nl, clock=time.time,
                 on_readdress: Callable[[str, Lease], Awaitable[None]] | None = None):
        self._store = store
        self._nl = nl
        self._clock = clock
        self._on_readdress = on_readdress
        self._records: dict[str, LeaseRecord] = {}
        self._tasks: dict[str, asyncio.Task] = {}

    async def acquire(self, network_id: str, endpoint_id: str, netns_path: str, ifname: str,
                      mac: str, timeout: float = 30.0, client_id: bytes | None = None) -> Lease:
        """Lease an address for the endpoint's interface, put it on the interface and
        keep it (renewed by a task); Unavailable (503) naming the interface if no
        server answers within `timeout` seconds."""
        client = Client(mac, client_id=client_id)
        began = time.monotonic()
        lease = await self._discover(client, netns_path, ifname, timeout)
        await dhcpsock.set_address(self._nl, netns_path, ifname, lease.address)
        rec = LeaseRecord(endpoint_id=endpoint_id, network_id=network_id,
                          netns_path=netns_path, ifname=ifname, mac=mac, lease=lease,
                          client_id=client_id or b"")
        self._keep(rec)
        log.info("dhcp: %s leased %s from %s for %ss in %.3f s", ifname, lease.address,
                 lease.server, lease.lease_time, time.monotonic() - began)
        return lease

    async def _discover(self, client: Client, netns_path: str, ifname: str,
                        timeout: float) -> Lease:
        sock = await dhcpsock.open_client_socket(netns_path, ifname)
        try:
            loop = asyncio.get_running_loop()
            end = loop.time() + timeout
            while (left := end - loop.time()) > 0:
                out = await exchange(sock, client, client.discover(), BROADCAST, left,
                                     self._clock)
                if isinstance(out, Lease):
                    return out
                # "nak" (the offer was taken meanwhile) or nothing yet: start over
        finally:
            sock.close()
        raise Unavailable(f"no DHCP server answered on {ifname} within {timeout:.0f} s "
                          f"(DISCOVER from MAC {client.mac})")

    def _keep(self, rec: LeaseRecord) -> None:
        """Store the record and (re)start its renewal task."""
        self._records[rec.endpoint_id] = rec
        self._store.put(KIND, rec.endpoint_id, rec)
        old = self._tasks.pop(rec.endpoint_id, None)
        if old is not None and old is not asyncio.current_task():
            old.cancel()
        task = asyncio.get_running_loop().create_task(self._run(rec),
                                                      name=f"dhcp lease {rec.ifname}")
        self._tasks[rec.endpoint_id] = task

    async def _run(self, rec: LeaseRecord) -> None:
        """The lease's task: each step of _step, forever until cancelled; a step that
        fails (no server, the interface or the route gone for a while) is logged and
        tried again 10 s later."""
        while os.path.exists(rec.netns_path):
            try:
                await self._step(rec)
            except asyncio.CancelledError:
                raise
            except (OSError, BoxnetError) as e:
                log.warning("dhcp: lease of %s (%s): %s; again in 10 s", rec.ifname,
                            rec.endpoint_id[:12], getattr(e, "message", None) or e)
                await asyncio.sleep(10)
        log.info("dhcp: netns of %s is gone, lease task ends", rec.endpoint_id[:12])

    async def _step(self, rec: LeaseRecord) -> None:
        """One step: wait for T1; renew (unicast) until T2; rebind (broadcast) until
        expiry; past it, take the address off and discover again."""
        lease, now = rec.lease, self._clock()
        if now < lease.renew_at():
            await asyncio.sleep(lease.renew_at() - now)
            return
        client = Client(rec.mac, lease=lease, client_id=rec.client_id or None)
        out = None
        if now < lease.expires_at():
            rebinding = now >= lease.rebind_at()
            until = lease.expires_at() if rebinding else lease.rebind_at()
            sock = await dhcpsock.open_client_socket(rec.netns_path, rec.ifname)
            try:
                out = await exchange(sock, client, client.renew(rebinding),
                                     BROADCAST if rebinding else lease.server,
                                     max(until - now, 1.0), self._clock)
            finally:
                sock.close()
        if isinstance(out, Lease):
            if out.address != lease.address:
                await dhcpsock.set_address(self._nl, rec.netns_path, rec.ifname,
                                           out.address, old=lease.address)
            rec.lease = out
            self._store.put(KIND, rec.endpoint_id, rec)
            if out.address != lease.address:
                await self._readdressed(rec)
            log.info("dhcp: %s renewed %s (renewal %d), next at T1 %ss", rec.ifname,
                     out.address, out.renewals, out.t1)
            return
        if out is None and self._clock() < lease.expires_at():
            return   # not answered in this phase: the next one (rebinding) follows
        # NAK or expired: a new lease is discovered (asking for the same address),
        # then put in place of the old one. The old address stays until a server
        # answers (RFC 2131 would drop it at expiry): without it the endpoint's
        # default route, which the core keeps, could not be set (at a daemon start
        # that reconciles the sandbox, a fatal error).
        again = Client(rec.mac, lease=lease, client_id=rec.client_id or None)
        try:
            new = await self._discover(again, rec.netns_path, rec.ifname, 60.0)
        except Unavailable as e:
            raise Unavailable(f"lease of {lease.address} ran out and {e.message}; the "
                              f"address is kept until a server answers") from e
        await dhcpsock.set_address(self._nl, rec.netns_path, rec.ifname, new.address,
                                   old=lease.address)
        if new.address != lease.address:
            log.warning("dhcp: %s got a new address %s (was %s)", rec.ifname,
                        new.address, lease.address)
        rec.lease = new
        self._store.put(KIND, rec.endpoint_id, rec)
        if new.address != lease.address:
            await self._readdressed(rec)

    async def _readdressed(self, rec: LeaseRecord) -> None:
        """Tell the core the endpoint's address changed; a failure is logged (the
        lease and the interface hold the new address whatever the core did)."""
        if self._on_readdress is None:
            return
        try:
            await self._on_readdress(rec.endpoint_id, rec.lease)
        except (OSError, BoxnetError) as e:
            log.error("dhcp: the new address %s of %s is not everywhere yet: %s",
                      rec.lease.address, rec.endpoint_id[:12], getattr(e, "message", None) or e)

    def lease(self, endpoint_id: str) -> Lease | None:
        """The current lease of an endpoint, if it has one."""
        rec = self._records.get(endpoint_id)
        return rec.lease if rec else None

    def leases_of(self, network_id: str) -> dict[str, Lease]:
        """Endpoint id -> lease, for one network."""
        return {k: r.lease for k, r in self._records.items() if r.network_id == network_id}

    async def release(self, endpoint_id: str) -> None:
        """Stop renewing, send DHCPRELEASE (when the interface still exists) and forget
        the lease; no error if there is none. A failed send is logged: the server
        frees the address at expiry anyway."""
        task = self._tasks.pop(endpoint_id, None)
        if task is not None:
            task.cancel()
        rec = self._records.pop(endpoint_id, None)
        self._store.delete(KIND, endpoint_id)
        if rec is None or not os.path.exists(rec.netns_path):
            return
        client = Client(rec.mac, lease=rec.lease, client_id=rec.client_id or None)
        try:
            sock = await dhcpsock.open_client_socket(rec.netns_path, rec.ifname)
        except BoxnetError as e:
            log.warning("dhcp: no DHCPRELEASE of %s: %s", rec.lease.address, e.message)
            return
        try:
            await asyncio.get_running_loop().sock_sendto(
                sock, wire.encode(client.release()), (rec.lease.server, dhcpsock.SERVER_PORT))
        except OSError as e:
            log.warning("dhcp: DHCPRELEASE of %s to %s failed: %s", rec.lease.address,
                        rec.lease.server, e)
        finally:
            sock.close()

    def restore(self) -> int:
        """At daemon start: restart the task of every stored lease whose netns still
        exists (renewal at its T1, or discovery if it ran out); drop the others.
        Returns how many were restored."""
        n = 0
        for rec in list(self._store.load(KIND, LeaseRecord)):
            if not os.path.exists(rec.netns_path):
                self._store.delete(KIND, rec.endpoint_id)
                continue
            self._keep(rec)
            n += 1
        return n

    async def close(self) -> None:
        """Cancel every task (shutdown); the leases stay in the store, not released."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
