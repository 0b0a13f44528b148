"""boxnet's default IPAM, behaving like Docker's built-in "default" driver.

- A user subnet must be in canonical form (Docker 25+: "invalid subnet
  172.20.1.0/16: it should be 172.20.0.0/16") and must not overlap a pool
  already granted (403, "Pool overlaps with other one on this address
  space"); it may overlap host routes.
- Without a subnet, the first free /size piece of the predefined pools that
  overlaps neither a granted pool nor a host route (`avoid`) is used.
- Without a gateway, the gateway is the first free address of the ip-range
  (or of the subnet), as Docker requests it like any other address.
- Addresses are handed out lowest-free first, as Docker does on local
  networks; `serial=True` gives swarm's "after the last one, wrapping" order.
- The gateway and aux addresses stay reserved while the pool lives.

Pools are keyed by pool_id, the canonical subnet string.
"""

from __future__ import annotations

import ipaddress

from boxnet.errors import Conflict, Forbidden, InvalidParameter, NotFound, Unavailable
from boxnet.ipam.addrset import AddrSet
from boxnet.ipam.api import Ipam, Pool, PoolRequest
from boxnet.ipam.pools import DEFAULT_LOCAL_POOLS, Network, find_free_subnet, normalise_pools

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _family(version: int) -> str:
    return "IPv6" if version == 6 else "IPv4"


def _parse_prefix(value: str, what: str) -> Network:
    """Parse a CIDR the way Docker's ValidateIPAM does (no host bits)."""
    if "/" not in value:
        raise InvalidParameter(f"invalid {what} {value}: invalid CIDR block notation")
    try:
        return ipaddress.ip_network(value)
    except ValueError:
        pass
    try:
        masked = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise InvalidParameter(f"invalid {what} {value}: invalid CIDR block notation") from None
    raise InvalidParameter(f"invalid {what} {value}: it should be {masked}")


def _parse_addr(value: str, label: str, subnet: Network) -> Address:
    """Parse an address that must belong to `subnet`; `label` names it in errors."""
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        raise InvalidParameter(f"invalid {label}: invalid address") from None
    if addr.version != subnet.version:
        raise InvalidParameter(
            f"invalid {label}: parent subnet is an {_family(subnet.version)} block")
    if addr not in subnet:
        raise InvalidParameter(f"invalid {label}: not in subnet {subnet}")
    return addr


def _unusable_reason(addr: Address, subnet: Network) -> str:
    """Why addr can never be handed out (it is one of the ends of subnet)."""
    if subnet.version == 6:
        return f"it is the subnet-router anycast address of {subnet}"
    if int(addr) == int(subnet.network_address):
        return f"it is the network address of {subnet}"
    return f"it is the broadcast address of {subnet}"


class _Entry:
    """A granted pool and its address bookkeeping."""

    __slots__ = ("pool", "net", "addrs")

    def __init__(self, pool: Pool, net: Network, addrs: AddrSet):
        self.pool, self.net, self.addrs = pool, net, addrs


class DefaultIpam(Ipam):
    """Docker's default IPAM: predefined local pools and per-subnet address sets."""

    def __init__(self, pools: list[tuple[str, int]] | None = None, serial: bool = False):
        """`pools`: (base CIDR, size) pairs replacing Docker's defaults."""
        self._predefined = normalise_pools(DEFAULT_LOCAL_POOLS if pools is None else pools)
        self._serial = serial
        self._pools: dict[str, _Entry] = {}

    # -- pools -------------------------------------------------------------

    def request_pool(self, req: PoolRequest, avoid: list[Network]) -> Pool:
        """Validate and reserve a subnet; `avoid` are host routes to skip."""
        family = _family(6 if req.v6 else 4)
        if req.subnet:
            net = _parse_prefix(req.subnet, "subnet")
            if (net.version == 6) != req.v6:
                raise InvalidParameter(f"invalid subnet {req.subnet}: not an {family} subnet")
            self._check_overlap(net)
        else:
            if req.ip_range or req.gateway or req.aux_addresses:
                raise InvalidParameter("an ip-range, gateway or auxiliary address needs a subnet")
            net = self._predefined_subnet(6 if req.v6 else 4, avoid)
        ip_range = self._check_range(req.ip_range, net)
        addrs = AddrSet(net, ip_range, self._serial)
        aux: dict[str, str] = {}
        for name, value in req.aux_addresses.items():
            addr = _parse_addr(value, f"auxiliary address {name}={value}", net)
            aux[name] = str(addr)
            if addrs.usable(int(addr)):
                addrs.add(int(addr), permanent=True)
        if req.gateway:
            gw = _parse_addr(req.gateway, f"gateway {req.gateway}", net)
            if not addrs.usable(int(gw)):
                raise InvalidParameter(
                    f"invalid gateway {req.gateway}: {_unusable_reason(gw, net)}")
            if str(gw) in aux.values():
                raise InvalidParameter(
                    f"invalid gateway {req.gateway}: it is also an auxiliary address")
            addrs.add(int(gw), permanent=True)
            gateway = str(gw)
        else:
            got = addrs.add_any()
            if got is None:
                raise InvalidParameter(f"invalid subnet {net}: no address left for a gateway")
            addrs.add(got, permanent=True)
            gateway = str(self._to_addr(net, got))
        pool = Pool(pool_id=str(net), subnet=str(net), gateway=gateway,
                    ip_range=str(ip_range) if ip_range else None,
                    aux_addresses=aux, user_subnet=bool(req.subnet))
        self._pools[pool.pool_id] = _Entry(pool, net, addrs)
        return pool

    def restore_pool(self, pool: Pool) -> None:
        """Re-register a pool read back from the store (daemon start).

        Idempotent for the same pool_id; Forbidden if it overlaps another.
        """
        if pool.pool_id in self._pools:
            return
        net = ipaddress.ip_network(pool.subnet, strict=False)
        self._check_overlap(net)
        ip_range = ipaddress.ip_network(pool.ip_range, strict=False) if pool.ip_range else None
        addrs = AddrSet(net, ip_range, self._serial)
        for value in [*pool.aux_addresses.values(), *([pool.gateway] if pool.gateway else [])]:
            addr = int(ipaddress.ip_address(value))
            if addrs.usable(addr):
                addrs.add(addr, permanent=True)
        self._pools[pool.pool_id] = _Entry(pool, net, addrs)

    def release_pool(self, pool_id: str) -> None:
        """Forget a pool and every address in it (no error if unknown)."""
        self._pools.pop(pool_id, None)

    def pools(self) -> list[Pool]:
        """Every granted pool (for inspection and tests)."""
        return [e.pool for e in self._pools.values()]

    # -- addresses ---------------------------------------------------------

    def request_address(self, pool_id: str, preferred: str | None = None) -> str:
        """Allocate one address (plain, no prefix) from the pool.

        A preferred address must be in the subnet (it may lie outside the
        ip-range, as in Docker) and free; otherwise the lowest free address
        of the ip-range (or subnet) is taken.
        """
        e = self._entry(pool_id)
        if preferred:
            addr = _parse_addr(preferred, f"address {preferred}", e.net)
            if not e.addrs.usable(int(addr)):
                raise InvalidParameter(
                    f"invalid address {preferred}: {_unusable_reason(addr, e.net)}")
            if not e.addrs.add(int(addr)):
                raise Conflict(f"Address already in use: {addr}")
            return str(addr)
        got = e.addrs.add_any()
        if got is None:
            where = f"{e.net} (ip-range {e.pool.ip_range})" if e.pool.ip_range else str(e.net)
            raise Unavailable(f"no available {_family(e.net.version)} addresses on this "
                              f"network's address pools: {where}")
        return str(self._to_addr(e.net, got))

    def reserve_address(self, pool_id: str, address: str) -> None:
        """Mark an address read back from the store as taken (idempotent)."""
        e = self._entry(pool_id)
        addr = _parse_addr(address, f"address {address}", e.net)
        if not e.addrs.usable(int(addr)):
            raise InvalidParameter(
                f"invalid address {address}: {_unusable_reason(addr, e.net)}")
        e.addrs.add(int(addr))

    def release_address(self, pool_id: str, address: str) -> None:
        """Return an address to the pool (no error if it was free or the pool is gone).

        The gateway and aux addresses stay reserved until the pool is released.
        """
        e = self._pools.get(pool_id)
        if e is None:
            return
        addr = _parse_addr(address, f"address {address}", e.net)
        e.addrs.remove(int(addr))

    def usage(self, pool_id: str) -> dict:
        """{"Subnet", "Size": usable addresses, "Allocated" (gateway and aux included), "Free"},
        and Docker's SubnetStatus counts (API 1.52): "IPsInUse", the addresses of the
        subnet that cannot be allocated (taken, reserved, and the network/broadcast/
        anycast ones, as libnetwork's bitmask counts them), and "DynamicIPsAvailable",
        the free addresses of the ip-range (the subnet without one)."""
        e = self._entry(pool_id)
        size, taken = e.addrs.size, len(e.addrs)
        free = size - taken
        return {"Subnet": str(e.net), "Size": size, "Allocated": taken, "Free": free,
                "IPsInUse": e.net.num_addresses - free,
                "DynamicIPsAvailable": e.addrs.range_size - e.addrs.in_range}

    # -- helpers -----------------------------------------------------------

    def _entry(self, pool_id: str) -> _Entry:
        e = self._pools.get(pool_id)
        if e is None:
            raise NotFound(f"no IPAM pool {pool_id}")
        return e

    @staticmethod
    def _to_addr(net: Network, value: int) -> Address:
        return ipaddress.IPv4Address(value) if net.version == 4 else ipaddress.IPv6Address(value)

    def _check_overlap(self, net: Network) -> None:
        for e in self._pools.values():
            if e.net.version == net.version and e.net.overlaps(net):
                raise Forbidden("invalid pool request: Pool overlaps with other one on this "
                                f"address space: {net} overlaps {e.net}")

    def _predefined_subnet(self, version: int, avoid: list[Network]) -> Network:
        pools = [p for p in self._predefined if p.base.version == version]
        if not pools:
            if version == 6:
                raise InvalidParameter(
                    "no IPv6 default address pool is configured: IPv6 needs a --subnet "
                    "(or a daemon --default-address-pool base=fd00::/8,size=64)")
            raise Unavailable("no IPv4 default address pool is configured")
        blockers = [e.net for e in self._pools.values()] + list(avoid)
        net = find_free_subnet(pools, blockers)
        if net is None:
            raise Unavailable("all predefined address pools have been fully subnetted")
        return net

    @staticmethod
    def _check_range(value: str | None, net: Network) -> Network | None:
        if not value:
            return None
        rng = _parse_prefix(value, "ip-range")
        if rng.version != net.version:
            raise InvalidParameter(
                f"invalid ip-range {value}: parent subnet is an {_family(net.version)} block")
        if rng.prefixlen < net.prefixlen:
            raise InvalidParameter(
                f"invalid ip-range {value}: CIDR block is bigger than its parent subnet {net}")
        if not rng.subnet_of(net):
            raise InvalidParameter(
                f"invalid ip-range {value}: parent subnet {net} doesn't contain ip-range")
        return rng
