"""The firewall interface: the core tells it which bridge networks, endpoints
and published ports exist.

Implementations keep the whole ruleset derived from these inputs, so a
restart, a reload or a repair after someone flushed the tables re-renders
it from the same state.  Each `add_*`/`remove_*` call changes only the
elements of its own object, in one atomic transaction.
"""

from __future__ import annotations

import abc
import ipaddress

import msgspec


class FirewallNetwork(msgspec.Struct, frozen=True, kw_only=True):
    """What the firewall needs to know about one bridge network."""

    network_id: str
    bridge: str
    subnets: tuple[str, ...] = ()
    internal: bool = False
    icc: bool = True
    masquerade: bool = True
    # Docker's gateway modes per family: nat | nat-unprotected | routed | isolated
    mode4: str = "nat"
    mode6: str = "nat"
    trusted: tuple[str, ...] = ()   # host interfaces allowed direct routing to published ports
    # com.docker.network.host_ipv4/_ipv6: SNAT to this host address instead of masquerade
    snat4: str = ""
    snat6: str = ""
    # isolate=strict: no path to other networks' containers, published ports included
    strict: bool = False


class FirewallEndpoint(msgspec.Struct, frozen=True, kw_only=True):
    """One bridge port: the anti-spoofing identity of a container's interface."""

    endpoint_id: str
    network_id: str
    host_ifname: str
    mac: str
    ipv4: str = ""            # plain address, no prefix
    ipv6: str = ""
    link_local: tuple[str, ...] = ()   # IPAMConfig.LinkLocalIPs, plain: sources it may use too


class PublishedPort(msgspec.Struct, frozen=True, kw_only=True):
    """One DNAT entry: (host address, proto, host port) -> (container address, port).

    host_ip "" means every local address of its family (Docker's 0.0.0.0 / ::).
    """

    container_id: str
    family: int               # 4 or 6
    proto: str                # tcp | udp | sctp
    host_ip: str
    host_port: int
    container_ip: str
    container_port: int
    # the gateway mode of the target network for this family: "routed" opens
    # the container port itself and has no DNAT (the host port is not used)
    mode: str = "nat"

    def key(self) -> tuple:
        """Identity of the host side (what may conflict); in routed mode, where
        no host port is used, the container side."""
        if self.mode == "routed":
            return (self.family, self.proto, "routed", self.container_ip, self.container_port)
        return (self.family, self.proto, self.host_ip, self.host_port)


def endpoint_entry(ep) -> FirewallEndpoint | None:
    """The firewall's view of a model Endpoint (None when it has no host veth)."""
    if not ep.host_ifname or not ep.mac:
        return None
    ip4 = str(ipaddress.ip_interface(ep.ipv4).ip) if ep.ipv4 else ""
    ip6 = str(ipaddress.ip_interface(ep.ipv6).ip) if ep.ipv6 else ""
    return FirewallEndpoint(endpoint_id=ep.id, network_id=ep.network_id,
                            host_ifname=ep.host_ifname, mac=ep.mac.lower(), ipv4=ip4, ipv6=ip6,
                            link_local=tuple(ep.link_local_ips))


class Firewall(abc.ABC):
    """Programs packet filtering and NAT for bridge networks."""

    @abc.abstractmethod
    async def sync(self, networks: list[FirewallNetwork]) -> None:
        """Make the kernel ruleset match exactly these networks (atomic);
        endpoints and ports of networks no longer listed are forgotten."""

    @abc.abstractmethod
    async def add_network(self, net: FirewallNetwork) -> None:
        """Add one network's rules (atomic)."""

    @abc.abstractmethod
    async def remove_network(self, network_id: str) -> None:
        """Remove one network's rules (atomic; no error if absent)."""

    @abc.abstractmethod
    async def teardown(self) -> None:
        """Remove everything this firewall installed."""

    async def add_endpoint(self, ep: FirewallEndpoint) -> None:
        """Allow this port's own source MAC/IP (anti-spoofing); idempotent."""

    async def remove_endpoint(self, endpoint_id: str) -> None:
        """Forget one endpoint (no error if absent)."""

    async def add_ports(self, ports: list[PublishedPort]) -> None:
        """Publish ports (one atomic transaction; idempotent)."""

    async def remove_ports(self, ports: list[PublishedPort]) -> None:
        """Unpublish ports (no error if absent)."""

    async def update_policy(self, change: dict) -> None:
        """Apply one least-privilege policy change atomically (policy/plan.py
        ``Planner.update``: group set members, policy chains, the endpoints'
        verdict map elements; plain tuples): the change alone."""

    def filters(self, network_id: str) -> bool:
        """True when this network's forwarded traffic passes boxnet's tables (a policy
        on an endpoint of another network could not be enforced)."""
        return False

    async def begin_restore(self) -> None:
        """Daemon start: keep the kernel's current tables in force and only
        collect state until `end_restore` (so protections never lapse)."""

    async def end_restore(self) -> None:
        """Render everything collected since `begin_restore` in one transaction."""

    async def reload(self) -> None:
        """Re-render every table from state (keeps the admin chain's rules)."""

    async def check(self) -> bool:
        """Restore the tables if they were changed behind our back; True if repaired."""
        return False

    def warnings(self) -> list[str]:
        """Plain-text problems found on the host (e.g. a foreign drop policy)."""
        return []
