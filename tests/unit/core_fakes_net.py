"""In-memory fakes of the core's network-side collaborators: the fault plan
every fake consults, and store, IPAM, firewall and a bridge-like driver.

Each fake calls `faults.hit(op)` first in every operation, so a test plans
"fail the Nth call of op" (`faults.fail("driver.join", nth=2)`).  An op may
be planned by its plain name ("store.put") or with a detail
("store.put:endpoints").  Misuse the real parts tolerate (an address
released twice, a pool released that was never granted) is noted in
`anomalies` instead of raising, so tests can assert it never happens.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import ipaddress
import os
import sqlite3

import msgspec

from boxnet.drivers.api import Driver, FastLeave, PublishesPorts
from boxnet.errors import BoxnetError, Conflict, KernelError, NotFound, Unavailable
from boxnet.firewall.api import Firewall, FirewallNetwork, endpoint_entry
from boxnet.ipam.api import Ipam, Pool
from boxnet.store.api import Store


class Faults:
    """Planned failures by operation name, and the log of every call made."""

    def __init__(self):
        self.counts: collections.Counter = collections.Counter()
        self.plan: dict[str, list] = collections.defaultdict(list)   # op -> [(first, last, exc)]
        self.calls: list[str] = []

    def fail(self, op: str, nth: int = 1, exc: BaseException | None = None,
             times: int | None = 1) -> None:
        """Make the nth call of `op` from now on raise, and the `times`-1 calls
        after it (times=None: every call from the nth on)."""
        first = self.counts[op] + nth
        last = None if times is None else first + times - 1
        self.plan[op].append((first, last, exc))

    def hit(self, op: str, detail: str = "") -> None:
        """Count one call of `op` (and of `op:detail`); raise if it is planned to fail."""
        names = [op] + ([f"{op}:{detail}"] if detail else [])
        self.calls.append(names[-1])
        for name in names:
            self.counts[name] += 1
            n = self.counts[name]
            for first, last, exc in self.plan.get(name, ()):
                if n >= first and (last is None or n <= last):
                    raise exc if exc is not None else _default_error(op, name, n)

    def count(self, op: str) -> int:
        """How many calls of `op` (or `op:detail`) were made."""
        return self.counts[op]


def _default_error(op: str, name: str, n: int) -> BaseException:
    """What the real part would raise: sqlite's error for the store, OSError
    for a tree removal, a BoxnetError for IPAM, a KernelError otherwise."""
    text = f"injected failure of {name} (call {n})"
    if op.startswith("store."):
        return sqlite3.OperationalError(text)
    if op.startswith("fstree."):
        return OSError(text)
    if op.startswith("ipam."):
        return Unavailable(text)
    return KernelError(text)


class FakeStore(Store):
    """Store: encoded copies per kind and id; a transaction is all or nothing."""

    def __init__(self, faults: Faults):
        self.faults = faults
        self.rows: dict[str, dict[str, bytes]] = {"networks": {}, "endpoints": {},
                                                  "containers": {}}

    def put(self, kind: str, obj_id: str, obj) -> None:
        """Insert or replace one object (an encoded copy, as SQLite keeps)."""
        self.faults.hit("store.put", kind)
        self.rows[kind][obj_id] = msgspec.json.encode(obj)

    def delete(self, kind: str, obj_id: str) -> None:
        """Remove one object (no error if absent)."""
        self.faults.hit("store.delete", kind)
        self.rows[kind].pop(obj_id, None)

    def load(self, kind: str, typ):
        """Every stored object of a kind, decoded."""
        return [msgspec.json.decode(v, type=typ) for v in list(self.rows[kind].values())]

    def get(self, kind: str, obj_id: str, typ):
        """One stored object decoded, or None (for assertions)."""
        raw = self.rows[kind].get(obj_id)
        return None if raw is None else msgspec.json.decode(raw, type=typ)

    @contextlib.contextmanager
    def transaction(self):
        """Writes inside are undone if the block raises."""
        saved = copy.deepcopy(self.rows)
        try:
            yield
        except BaseException:
            self.rows = saved
            raise

    def close(self) -> None:
        """Nothing to flush."""


class FakeIpam(Ipam):
    """IPAM: predefined /16 (IPv4) and /64 (IPv6) pools, addresses in order."""

    def __init__(self, faults: Faults, anomalies: list[str]):
        self.faults, self.anomalies = faults, anomalies
        self.pools: dict[str, Pool] = {}
        self.used: dict[str, set[str]] = {}

    def request_pool(self, req, avoid) -> Pool:
        """A user subnet (checked for overlap) or the next free predefined one."""
        self.faults.hit("ipam.request_pool", "v6" if req.v6 else "v4")
        if req.subnet:
            net = ipaddress.ip_network(req.subnet, strict=False)
            candidates = [net]
        elif req.v6:
            candidates = [ipaddress.ip_network(f"fd00:b0c5:{i:x}::/64") for i in range(1, 64)]
        else:
            candidates = [ipaddress.ip_network(f"172.{i}.0.0/16") for i in range(17, 32)]
        for net in candidates:
            if any(net.overlaps(ipaddress.ip_network(s)) for s in self.pools
                   if ipaddress.ip_network(s).version == net.version):
                if req.subnet:
                    raise Conflict(f"Pool overlaps with other one on this address space: {net}")
                continue
            gw = req.gateway or str(next(net.hosts()))
            pool = Pool(pool_id=str(net), subnet=str(net), gateway=gw, ip_range=req.ip_range,
                        aux_addresses=dict(req.aux_addresses), user_subnet=bool(req.subnet))
            self.pools[pool.subnet], self.used[pool.subnet] = pool, set()
            return pool
        raise Unavailable("all predefined address pools have been fully subnetted")

    def restore_pool(self, pool: Pool) -> None:
        """Re-register a stored pool."""
        self.pools[pool.subnet] = pool
        self.used.setdefault(pool.subnet, set())

    def release_pool(self, pool_id: str) -> None:
        """Forget a pool and its addresses."""
        self.faults.hit("ipam.release_pool")
        if pool_id not in self.pools:
            self.anomalies.append(f"release of unknown pool {pool_id}")
        self.pools.pop(pool_id, None)
        self.used.pop(pool_id, None)

    def request_address(self, pool_id: str, preferred: str | None = None) -> str:
        """The preferred address if free, else the lowest free one (not the gateway)."""
        self.faults.hit("ipam.request_address")
        pool = self.pools.get(pool_id)
        if pool is None:
            raise NotFound(f"no IPAM pool {pool_id}")
        used = self.used[pool_id]
        if preferred:
            if preferred in used or preferred == pool.gateway:
                raise Conflict(f"Address already in use: {preferred}")
            used.add(preferred)
            return preferred
        for i, host in enumerate(ipaddress.ip_network(pool_id).hosts()):
            addr = str(host)
            if addr != pool.gateway and addr not in used:
                used.add(addr)
                return addr
            if i > 1000:
                break
        raise Unavailable(f"no available addresses on this network: {pool_id}")

    def reserve_address(self, pool_id: str, address: str) -> None:
        """Mark a stored address as taken."""
        self.used.setdefault(pool_id, set()).add(address)

    def release_address(self, pool_id: str, address: str) -> None:
        """Return an address (a release of a free one is noted, not an error)."""
        self.faults.hit("ipam.release_address")
        if address not in self.used.get(pool_id, ()):
            self.anomalies.append(f"release of free address {address} in {pool_id}")
        self.used.get(pool_id, set()).discard(address)

    def usage(self, pool_id: str) -> dict:
        """Counts for inspect."""
        return {"allocated": len(self.used.get(pool_id, ()))}


class FakeFirewall(Firewall):
    """Firewall: which networks and endpoints have rules."""

    def __init__(self, faults: Faults):
        self.faults = faults
        self.networks: dict[str, object] = {}
        self.endpoints: dict[str, object] = {}

    async def sync(self, networks) -> None:
        """Exactly these networks."""
        self.faults.hit("firewall.sync")
        self.networks = {n.network_id: n for n in networks}

    async def add_network(self, net) -> None:
        """One network's rules."""
        self.faults.hit("firewall.add_network")
        self.networks[net.network_id] = net

    async def remove_network(self, network_id: str) -> None:
        """No error if absent."""
        self.faults.hit("firewall.remove_network")
        self.networks.pop(network_id, None)

    async def teardown(self) -> None:
        """Everything goes."""
        self.networks.clear()
        self.endpoints.clear()

    async def add_endpoint(self, ep) -> None:
        """Anti-spoofing entry of one port."""
        self.faults.hit("firewall.add_endpoint")
        self.endpoints[ep.endpoint_id] = ep

    async def remove_endpoint(self, endpoint_id: str) -> None:
        """No error if absent."""
        self.faults.hit("firewall.remove_endpoint")
        self.endpoints.pop(endpoint_id, None)


class FakeBridgeDriver(Driver, FastLeave, PublishesPorts):
    """A bridge-like driver keeping its "kernel objects" in dicts, with the
    firewall entries the real bridge driver adds; it keeps the driver
    contract (drivers/api.py): a failing method undoes its own partial work,
    deletes go on past a failed step, and a missing object is success."""

    name = "bridge"

    def __init__(self, faults: Faults, firewall: FakeFirewall, netns: dict | None = None):
        self.faults, self.fw = faults, firewall
        self.netns = {} if netns is None else netns   # FakeKernel.netns: its routes
        self.bridges: set[str] = set()
        self.ports: dict[str, str] = {}     # endpoint id -> sandbox netns path

    async def create_network(self, nw, restoring: bool = False) -> None:
        """The bridge, then the firewall entry (bridge removed if that fails)."""
        self.faults.hit("driver.create_network")
        existed = nw.id in self.bridges
        self.bridges.add(nw.id)
        try:
            await self.fw.add_network(_fw_network(nw))
        except BaseException:
            if not existed:
                self.bridges.discard(nw.id)
            raise

    async def delete_network(self, nw) -> None:
        """Firewall entry, then the bridge; both tried, every failure reported."""
        errors = []
        for step in (lambda: self.fw.remove_network(nw.id), lambda: self._drop_bridge(nw)):
            try:
                await step()
            except BoxnetError as exc:
                errors.append(exc.message)
        if errors:
            raise BoxnetError("; ".join(errors))

    async def _drop_bridge(self, nw) -> None:
        self.faults.hit("driver.delete_network")
        self.bridges.discard(nw.id)

    async def join(self, nw, ep, netns_path: str) -> None:
        """A port into the sandbox, then its anti-spoofing entry (port removed if that fails)."""
        self.faults.hit("driver.join")
        if not os.path.exists(netns_path):
            raise KernelError(f"no netns {netns_path}")
        ep.host_ifname = "veth" + ep.id[:11]
        ep.mac = ep.mac or "02:42:ac:%02x:%02x:%02x" % tuple(bytes.fromhex(ep.id[:6]))
        self.ports[ep.id] = netns_path
        entry = endpoint_entry(ep)
        try:
            await self.fw.add_endpoint(entry)
        except BaseException:
            self.ports.pop(ep.id, None)
            raise

    async def leave(self, nw, ep, netns_path: str) -> None:
        """Firewall entry and port; both tried; a missing port is success.
        The sandbox's routes through the deleted interface go with it."""
        await self._leave(ep, "driver.leave", deleted=True)

    async def leave_released(self, nw, ep) -> None:
        """The fast leave of a sandbox about to be released: the port is made
        inert (its routes stay until the netns goes)."""
        await self._leave(ep, "driver.leave_released", deleted=False)

    async def _leave(self, ep, op: str, deleted: bool) -> None:
        errors = []
        try:
            await self.fw.remove_endpoint(ep.id)
        except BoxnetError as exc:
            errors.append(exc.message)
        try:
            self.faults.hit(op)
            netns = self.ports.pop(ep.id, None)
            routes = self.netns.get(netns, {}).get("routes", {})
            for v6 in [v6 for v6, (_, ifname) in routes.items() if deleted and ifname == ep.ifname]:
                del routes[v6]
        except BoxnetError as exc:
            errors.append(exc.message)
        if errors:
            raise BoxnetError("; ".join(errors))

    async def endpoint_present(self, nw, ep, netns_path: str) -> bool:
        """The port exists."""
        return ep.id in self.ports

    def gateway_mode(self, nw, family: int) -> str:
        """Docker's default gateway mode."""
        return "nat"

    async def restore_endpoint(self, nw, ep) -> None:
        """Re-add a re-adopted endpoint's anti-spoofing entry."""
        entry = endpoint_entry(ep)
        if entry is not None:
            await self.fw.add_endpoint(entry)


def _fw_network(nw) -> FirewallNetwork:
    return FirewallNetwork(network_id=nw.id, bridge="br-" + nw.id[:12],
                           subnets=tuple(p.subnet for p in nw.pools), internal=nw.internal)
