"""The addresses taken in one subnet, without materialising the free ones.

Addresses are ints. Only taken addresses are stored, so a /64 costs as much as
a /24. Two ways to pick the next address, as in Docker's addrset:

- lowest free (default; what Docker does for local networks): a "frontier"
  below which every free address sits in a min-heap of released addresses;
  above it everything not in the taken set is free. Fresh allocations are
  O(1) amortised, reuse after a release O(log n).
- serial (Docker's swarm option): continue after the last address handed
  out and wrap around, so a just-released address is not reused at once.

Unusable addresses are never handed out: the IPv4 network and broadcast
addresses (except in a /31 or /32, RFC 3021) and the IPv6 subnet-router
anycast address (the first one, RFC 4291 2.6.1). They sit at the two ends of
the subnet, so they are excluded by bounds rather than stored.
"""

from __future__ import annotations

import heapq

from boxnet.ipam.pools import Network


class AddrSet:
    """Taken addresses of one subnet, optionally allocating inside a sub-range."""

    def __init__(self, subnet: Network, ip_range: Network | None = None,
                 serial: bool = False):
        first, last = int(subnet.network_address), int(subnet.broadcast_address)
        host_bits = subnet.max_prefixlen - subnet.prefixlen
        if subnet.version == 6 or host_bits > 1:
            first += 1          # IPv4 network address / IPv6 subnet-router anycast
        if subnet.version == 4 and host_bits > 1:
            last -= 1           # IPv4 broadcast
        self.first, self.last = first, last          # usable bounds of the subnet
        rng = ip_range or subnet
        self.lo = max(first, int(rng.network_address))   # allocation bounds
        self.hi = min(last, int(rng.broadcast_address))
        self.serial = serial
        self._taken: set[int] = set()
        self._permanent: set[int] = set()     # gateway and aux: release is a no-op
        self._in_range = 0                    # taken addresses inside [lo, hi]
        self._frontier = self.lo              # lowest-free mode
        self._freed: list[int] = []           # heap of free addresses < frontier
        self._freed_set: set[int] = set()
        self._cursor = self.lo                # serial mode

    @property
    def size(self) -> int:
        """Usable addresses in the whole subnet."""
        return max(0, self.last - self.first + 1)

    @property
    def range_size(self) -> int:
        """Usable addresses that automatic allocation may hand out."""
        return max(0, self.hi - self.lo + 1)

    @property
    def in_range(self) -> int:
        """Taken addresses inside the range automatic allocation uses."""
        return self._in_range

    def __len__(self) -> int:
        return len(self._taken)

    def usable(self, addr: int) -> bool:
        """Whether addr may ever be taken (not network/broadcast/anycast)."""
        return self.first <= addr <= self.last

    def taken(self, addr: int) -> bool:
        """Whether addr is allocated or reserved."""
        return addr in self._taken

    def add(self, addr: int, permanent: bool = False) -> bool:
        """Take addr; False if it was already taken. Caller checks usable()."""
        if permanent:
            self._permanent.add(addr)
        if addr in self._taken:
            return False
        self._taken.add(addr)
        if self.lo <= addr <= self.hi:
            self._in_range += 1
        return True

    def add_any(self) -> int | None:
        """Take and return a free address of the range, or None when full."""
        addr = self._next_serial() if self.serial else self._next_lowest()
        if addr is not None:
            self.add(addr)
        return addr

    def remove(self, addr: int) -> None:
        """Free addr; a no-op if it is free or permanent (gateway, aux)."""
        if addr in self._permanent or addr not in self._taken:
            return
        self._taken.discard(addr)
        if self.lo <= addr <= self.hi:
            self._in_range -= 1
            if addr < self._frontier and addr not in self._freed_set:
                heapq.heappush(self._freed, addr)
                self._freed_set.add(addr)

    def _next_lowest(self) -> int | None:
        # Invariant: every free address of [lo, frontier) is in _freed; stale
        # entries (re-taken by add() since) are dropped as they surface.
        while self._freed:
            addr = heapq.heappop(self._freed)
            self._freed_set.discard(addr)
            if addr not in self._taken:
                return addr
        while self._frontier <= self.hi:
            addr = self._frontier
            self._frontier += 1
            if addr not in self._taken:
                return addr
        return None

    def _next_serial(self) -> int | None:
        if self._in_range >= self.range_size:
            return None
        addr = self._cursor
        while addr in self._taken:      # ends: a free address exists in range
            addr = self.lo if addr >= self.hi else addr + 1
        self._cursor = self.lo if addr >= self.hi else addr + 1
        return addr
