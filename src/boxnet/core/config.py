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
    firewall: str = "nftables"

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
