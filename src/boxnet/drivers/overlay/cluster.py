"""The cluster agent: this host's lease, registrations and etcd watch.

- ``connect`` (daemon start, before anything is restored): reach the store,
  take back the lease of the previous run if it is still alive (so a quick
  restart makes no flap on other hosts) or grant a new one, register the
  host.  An unreachable store fails the start with a clear message.
- ``start`` (after the Controller restored its state): one full resync, then
  two tasks: the lease keepalive (TTL/3; a lost lease is re-granted and
  everything re-published) and the watch on ``/boxnet/`` (on any break:
  backoff, full resync, watch again from the read revision).

A resync makes this host match the store: global networks appear and go in
``ctl.networks`` (and the kernel), remote endpoints become peers, and this
host's own claims and endpoint records are re-put or deleted to match its
endpoints (that is how a host that returns reconciles).

Pending removals (removal.py) are followed here too: the ``removing/`` marks
are mirrored into ``driver.removing``, and every deletion of an endpoint
record or address claim of a marked network (and every resync) tries to
finish the removal.  ``start`` also registers the gateway-bridge listener
(gwbridge.py) and gives running overlay containers their gateway endpoint.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec

from ...errors import BoxnetError, Forbidden, Unavailable
from ...model import Container, Endpoint, Network
from ...store.etcd import EtcdClient
from . import records as R
from . import removal
from .allocator import mirror_pools
from .gwbridge import GatewayBridge
from .republish import publish_local

log = logging.getLogger(__name__)
_net_dec = msgspec.json.Decoder(Network)


class Cluster:
    """This host's membership of the overlay cluster."""

    def __init__(self, etcd: EtcdClient, driver, ttl: int, lease_file: str):
        self.etcd = etcd
        self.driver = driver
        self.ttl = ttl
        self.lease_file = lease_file
        self.lease = 0
        self.ctl = None
        self.healthy = False
        self._tasks: list[asyncio.Task] = []
        self._sync_lock = asyncio.Lock()
        self._stopped = False

    @property
    def me(self) -> str:
        """This host's advertise address (its identity and VTEP)."""
        return self.driver.advertise

    async def connect(self) -> None:
        """Reuse or grant the lease, register the host; Unavailable if the store is down."""
        old = 0
        try:
            with open(self.lease_file) as f:
                old = int(f.read().strip() or 0)
        except (OSError, ValueError):
            pass
        if old and await self.etcd.lease_keepalive(old) > 0:
            self.lease = old
        else:
            await self._grant()
        await self._register_host()

    async def _grant(self) -> None:
        self.lease = await self.etcd.lease_grant(self.ttl)
        self.driver.gipam.lease = self.lease
        with open(self.lease_file, "w") as f:
            f.write(str(self.lease))

    async def _register_host(self) -> None:
        self.driver.gipam.lease = self.lease
        rec = R.HostRecord(name=self.driver.hostname, addr=self.me)
        await self.etcd.put(R.HOSTS + self.me, R.ENC.encode(rec), lease=self.lease)

    async def start(self, ctl) -> None:
        """First resync (errors logged), then the keepalive and watch tasks."""
        self.ctl = ctl
        self.gwbridge = GatewayBridge(ctl, self.driver.name)
        ctl.events.add(self.gwbridge, first=True)  # before ports: they DNAT to it
        try:
            await self.resync()
        except Unavailable as exc:
            log.warning("cluster store: %s", exc.message)
        for c in list(ctl.containers.values()):
            if c.status == "running":
                await self.gwbridge.repair(c)
        # Background tasks of the controller's (kept, and cancelled at its close);
        # stop() cancels them first, in the daemon's reverse order of start.
        self._tasks = [ctl.spawn(self._watch_loop(), "cluster watch"),
                       ctl.spawn(self._keepalive_loop(), "cluster keepalive")]

    async def stop(self) -> None:
        """Cancel the tasks (the lease is left to expire: containers keep
        running) and close the store client; a second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.etcd.close()

    def remote_endpoints(self) -> tuple[list[Endpoint], dict[str, Container]]:
        """Other hosts' endpoints on global networks known here, as (endpoints,
        stand-in containers by id), so the embedded DNS answers their names."""
        return self.driver.peers.dns_view(self.ctl.networks)

    def _names_changed(self) -> None:
        self.ctl.dns.changed()

    # ---- loops -------------------------------------------------------
    async def _keepalive_loop(self) -> None:
        while True:
            try:  # every TTL/3, or at once when a request found the lease gone
                await asyncio.wait_for(self.etcd.lease_lost.wait(), max(self.ttl / 3, 0.5))
            except asyncio.TimeoutError:
                pass
            self.etcd.lease_lost.clear()
            try:
                if await self.etcd.lease_keepalive(self.lease) <= 0:
                    log.warning("cluster lease %x expired: re-registering this host", self.lease)
                    await self._grant()
                    await self._register_host()
                    await self.resync()
            except Unavailable as exc:
                log.warning("cluster store: %s", exc.message)
            except Exception:  # noqa: BLE001 - the loop must survive a bug
                log.exception("cluster keepalive")

    async def _watch_loop(self) -> None:
        delay = 0.2
        while True:
            try:
                rev = await self.resync()
                if not self.healthy:
                    log.info("cluster store %s reachable: resynced at revision %d",
                             self.etcd.url, rev)
                self.healthy, delay = True, 0.2
                async for events in self.etcd.watch_prefix(R.ROOT, rev + 1):
                    for ev in events:
                        await self._apply(ev)
            except Unavailable as exc:
                (log.warning if self.healthy else log.debug)("cluster store: %s", exc.message)
                self.healthy = False
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("cluster watch")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    # ---- events ------------------------------------------------------
    async def _apply(self, ev) -> None:
        key = ev.kv.key
        if key.startswith(R.REMOVING):
            nid = key[len(R.REMOVING):]
            if ev.type == "put":
                self.driver.removing[nid] = R.removal_dec.decode(ev.kv.value)
                await self._try_finish(nid)
            else:
                self.driver.removing.pop(nid, None)
        elif key.startswith(R.IPAM) and ev.type != "put":
            await self._try_finish(key[len(R.IPAM):].partition("/")[0])
        elif key.startswith(R.NETWORKS):
            if ev.type == "put":
                await self._add_network(_net_dec.decode(ev.kv.value))
            else:
                await self._remove_network(key[len(R.NETWORKS):])
        elif key.startswith(R.ENDPOINTS):
            nid, _, epid = key[len(R.ENDPOINTS):].partition("/")
            if ev.type == "put":
                rec = R.endpoint_dec.decode(ev.kv.value)
                if rec.host != self.me:
                    await self.driver.peers.put(rec)
                    self._names_changed()
            else:
                await self.driver.peers.delete(nid, epid)
                self._names_changed()
                await self._try_finish(nid)
        elif key.startswith(R.HOSTS) and ev.type == "put":
            h = R.host_dec.decode(ev.kv.value)
            self.driver.peers.hostnames[h.addr] = h.name

    async def _add_network(self, nw: Network) -> None:
        ctl = self.ctl
        async with ctl.netlock:
            if nw.id in ctl.networks:
                return
            if nw.name in ctl.net_by_name:
                log.error("global network %s (%s) not shown here: a local network has that name",
                          nw.name, nw.id[:12])
                return
            try:
                mirror_pools(ctl.ipam, nw)  # every pool (IPv4 and IPv6)
            except Forbidden:
                log.error("global network %s (%s) overlaps a local network here; not joined",
                          nw.name, ", ".join(p.subnet for p in nw.pools))
                return
            ctl.store.put("networks", nw.id, nw)
            ctl.index_network(nw)
            try:
                await self.driver.create_network(nw, restoring=True)
            except BoxnetError as exc:
                log.error("global network %s: %s", nw.name, exc.message)
        log.info("global network %s (%s) joined", nw.name, nw.id[:12])

    async def _try_finish(self, nid: str) -> None:
        """A pending removal of ``nid`` completes if nothing uses it any more."""
        if nid not in self.driver.removing:
            return
        nw = self.ctl.networks.get(nid)
        try:
            if nw is None:
                kv = await self.etcd.get(R.NETWORKS + nid)
                if kv is None:
                    return
                nw = _net_dec.decode(kv.value)
            if await removal.try_finish(self.etcd, nw):
                log.info("global network %s (%s): last endpoint gone, removed from the store",
                         nw.name, nid[:12])
        except Unavailable as exc:
            log.warning("finishing the removal of network %s: %s", nid[:12], exc.message)

    async def _remove_network(self, nid: str) -> None:
        ctl = self.ctl
        async with ctl.netlock:
            nw = ctl.networks.get(nid)
            if nw is None or nw.driver != self.driver.name:
                return
            if ctl.eps_by_network.get(nid):
                log.warning("global network %s removed elsewhere but still used here; kept",
                            nw.name)
                return
            await self.driver.remove_local(nw)
            for p in nw.pools:
                ctl.ipam.release_pool(p.subnet)
            ctl.store.delete("networks", nid)
            ctl.unindex_network(nw)
            self.driver.removing.pop(nid, None)
        log.info("global network %s (%s) removed", nw.name, nid[:12])
        await ctl.events.network_removed(nw)

    # ---- full resync -------------------------------------------------
    async def resync(self) -> int:
        """Make this host and the store agree; return the revision read."""
        async with self._sync_lock:
            kvs, rev = await self.etcd.get_prefix(R.ROOT)
            nets, remote, mine_eps, mine_claims, marks = {}, [], {}, {}, {}
            for kv in kvs:
                k = kv.key
                if k.startswith(R.REMOVING):
                    marks[k[len(R.REMOVING):]] = R.removal_dec.decode(kv.value)
                elif k.startswith(R.NETWORKS):
                    nets[k[len(R.NETWORKS):]] = _net_dec.decode(kv.value)
                elif k.startswith(R.ENDPOINTS):
                    rec = R.endpoint_dec.decode(kv.value)
                    if rec.host == self.me:
                        mine_eps[k] = kv
                    else:
                        remote.append(rec)
                elif k.startswith(R.IPAM):
                    cl = R.claim_dec.decode(kv.value)
                    if cl.host == self.me:
                        mine_claims[k] = (cl, kv)
                elif k.startswith(R.HOSTS):
                    h = R.host_dec.decode(kv.value)
                    self.driver.peers.hostnames[h.addr] = h.name
            for nw in nets.values():
                await self._add_network(nw)
            for nid, nw in list(self.ctl.networks.items()):
                if nw.driver == self.driver.name and nid not in nets:
                    await self._remove_network(nid)
            await self.driver.peers.replace_all(remote)
            self._names_changed()
            await publish_local(self, mine_eps, mine_claims)
            self.driver.removing = marks
            for nid in marks:
                await self._try_finish(nid)
            return rev
