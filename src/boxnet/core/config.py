"""Daemon configuration as the core sees it (parsed from boxnetd's flags)."""

from __future__ import annotations

import os

import msgspec


class DaemonConfig(msgspec.Struct, kw_only=True):
    """Paths and defaults of one daemon."""

    data_root: str = "/var/lib/boxnet"
    exec_root: str = "/run/boxnet"
    host: str = "unix:///run/boxnet/boxnet.sock"
    default_pools: list[tuple[str, int]] = []
    bip: str = ""
    ipv6: bool = False           # --ipv6: the default bridge has IPv6 too
    fixed_cidr_v6: str = ""      # --fixed-cidr-v6: its IPv6 subnet (else a ULA /64)
    host_gateway_ips: list[str] = []  # --host-gateway-ip, one per family: `host-gateway`
    bridge: str = "boxnet0"      # -b/--bridge: the default bridge's device; "none": no such network
    firewall: str = "nftables"
    default_bind_ip: str = ""    # --ip: host address of ports published without one
    no_host_network: bool = False  # --no-host-network: refuse host-mode containers
    firewall_check_interval: float = 2.0  # seconds between checks of boxnet's nft tables
    allow_host_image: bool = False  # --allow-host-image: offer boxnet/host (the host's "/")
    init: bool = False           # --init: an init (tini) for containers whose HostConfig.Init is unset
    allow_direct_routing: bool = False  # --allow-direct-routing: published container ports routable
    flows: bool = True           # --flows=on|off: conntrack events and drop logs (flows/)
    dns: list[str] = []          # default upstreams (--dns); [] means the host's
    dns_ttl: int = 5             # TTL of local DNS answers, seconds (--dns-ttl)
    dns_timeout: float = 4.0     # per forwarded query, seconds (--dns-timeout)
    cluster_store: str = ""      # etcd://H:P[,H:P] (--cluster-store); "" = single host
    cluster_advertise: str = ""  # this host's underlay IPv4 (--cluster-advertise)
    cluster_opts: dict[str, str] = {}  # --cluster-store-opt KEY=VALUE
    data_path_port: int = 4789   # VXLAN UDP port (--data-path-port)
    insecure_registries: list[str] = []   # --insecure-registry (registry/options.py)
    registry_mirrors: list[str] = []      # --registry-mirror: docker.io mirrors
    registry_certs_dir: str = "/etc/boxnet/certs.d"  # --registry-certs-dir

    @property
    def netns_dir(self) -> str:
        """Where sandbox netns are pinned."""
        return os.path.join(self.exec_root, "netns")

    @property
    def containers_dir(self) -> str:
        """Per-container files (hosts, resolv.conf, hostname)."""
        return os.path.join(self.data_root, "containers")

    @property
    def db_path(self) -> str:
        """The SQLite store."""
        return os.path.join(self.data_root, "boxnet.db")
