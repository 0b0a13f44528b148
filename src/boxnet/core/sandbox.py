"""Sandbox files and netns pins: a container's network stack outside the kernel.

The files (/etc/hosts, /etc/resolv.conf, /etc/hostname) live in the
container's directory and are bind-mounted by the runtime; they are rewritten
in place (same inode) so a running container sees updates through its mount.
"""

from __future__ import annotations

import ipaddress
import os

from ..model import Container, Endpoint

HOSTS_HEADER = """127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
"""


def netns_path(netns_dir: str, container_id: str) -> str:
    """Where a container's netns is pinned."""
    return os.path.join(netns_dir, container_id[:12])


def container_dir(containers_dir: str, container_id: str) -> str:
    """The per-container directory under the data root."""
    return os.path.join(containers_dir, container_id)


def etc_paths(cdir: str) -> dict[str, str]:
    """Container path -> host file, for the runtime's bind mounts."""
    return {"/etc/hosts": os.path.join(cdir, "hosts"),
            "/etc/resolv.conf": os.path.join(cdir, "resolv.conf"),
            "/etc/hostname": os.path.join(cdir, "hostname")}


def _write_in_place(path: str, text: str) -> None:
    """Rewrite a file keeping its inode, so bind mounts see the new content.

    Written over from offset 0, then cut to the new length.  Why not truncate
    to 0 first: ext4 (auto_da_alloc) starts the writeback of a file truncated
    to 0 when it is closed, 2-3 ms here, paid by every connect, disconnect and
    start (three files); this way costs 0.05 ms."""
    data = text.encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def host_gateway_ip(networks: dict, configured=()) -> str:
    """Docker's `host-gateway`, as Docker 28: the daemon's --host-gateway-ip
    addresses (one per family), else the default bridge's gateways (IPv4, and
    IPv6 when it has IPv6); comma-separated, IPv4 first."""
    if configured:
        return ",".join(sorted(configured, key=lambda a: ":" in a))
    for nw in networks.values():
        if nw.name == "bridge" and nw.predefined:
            gws = [p.gateway for p in nw.pools if p.gateway]
            return ",".join(sorted(gws, key=lambda a: ":" in a))
    return ""


def hosts_text(c: Container, endpoints: list[Endpoint], host_gateway: str = "",
               links: list[str] = ()) -> str:
    """Docker's /etc/hosts: localhost lines, --add-host entries, legacy --link
    entries (ready "ip<TAB>names" lines), own addresses."""
    lines = [HOSTS_HEADER]
    # an IPv6 host-gateway line only for a container with IPv6 (as Docker drops it)
    v6 = any(ep.ipv6 for ep in endpoints) or not any(ep.ipv4 for ep in endpoints)
    gateways = [a for a in host_gateway.split(",") if a and (v6 or ":" not in a)]
    for host in c.config.extra_hosts:
        name, _, addr = host.partition(":")
        for one in (gateways if addr == "host-gateway" else [addr] if addr else []):
            lines.append(f"{one}\t{name}\n")
    lines += [f"{line}\n" for line in links]
    hostname = c.config.hostname or c.id[:12]
    fqdn = f"{hostname}.{c.config.domainname}" if c.config.domainname else hostname
    names = fqdn if fqdn == hostname else f"{fqdn} {hostname}"
    for ep in endpoints:
        for cidr in (ep.ipv4, ep.ipv6):
            if cidr:
                lines.append(f"{cidr.split('/')[0]}\t{names}\n")
    return "".join(lines)


def host_nameservers(path: str = "/etc/resolv.conf") -> tuple[list[str], list[str], list[str]]:
    """Nameservers, search domains and options of the host, without loopback ones.

    Loopback resolvers of the host are unreachable from a container's own
    netns, so Docker drops them; so do we."""
    ns, search, opts = [], [], []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if not parts or parts[0].startswith(("#", ";")):
                    continue
                if parts[0] == "nameserver" and len(parts) > 1:
                    try:
                        if not ipaddress.ip_address(parts[1].split("%")[0]).is_loopback:
                            ns.append(parts[1])
                    except ValueError:
                        continue
                elif parts[0] in ("search", "domain"):
                    search = parts[1:]
                elif parts[0] == "options":
                    opts += parts[1:]
    except OSError:
        pass
    return ns, search, opts


EMBEDDED_DNS = "127.0.0.11"


def resolv_text(c: Container, embedded: bool = False, default_dns=(), ipv6: bool = True) -> str:
    """resolv.conf from --dns/--dns-search/--dns-option, else the host's
    (its IPv6 nameservers only for a container with IPv6, as Docker's
    TransformForLegacyNw: it could not reach them).

    embedded (the container is on a user-defined network): Docker's form,
    `nameserver 127.0.0.11` (boxnet's resolver, which forwards to the
    --dns servers) plus search and options, and ndots:0 unless set."""
    ns, search, opts = host_nameservers()
    if embedded:
        search = list(c.config.dns_search or search)
        opts = list(c.config.dns_options or opts)
        if not any(o.startswith("ndots:") for o in opts):
            opts.append("ndots:0")
        ext = list(c.config.dns or default_dns) or ["host"]
        out = [f"nameserver {EMBEDDED_DNS}\n"]
        if search:
            out.append("search " + " ".join(search) + "\n")
        out.append("options " + " ".join(opts) + "\n")
        out.append(f"\n# boxnet embedded DNS; upstream: {' '.join(ext)}\n")
        return "".join(out)
    if not ipv6:
        ns = [n for n in ns if ":" not in n]
    if c.config.dns or default_dns:
        ns = list(c.config.dns or default_dns)
    if c.config.dns_search:
        search = list(c.config.dns_search)
    if c.config.dns_options:
        opts = list(c.config.dns_options)
    out = [f"nameserver {n}\n" for n in ns]
    if search:
        out.append("search " + " ".join(search) + "\n")
    if opts:
        out.append("options " + " ".join(opts) + "\n")
    return "".join(out)


def write_files(cdir: str, c: Container, endpoints: list[Endpoint], host_gateway: str = "",
                default_dns=(), links: list[str] = ()) -> dict[str, str]:
    """Write the three files; return the bind-mount map for the runtime.

    Endpoints with DNS names (user-defined networks) mean the embedded resolver."""
    os.makedirs(cdir, exist_ok=True)
    paths = etc_paths(cdir)
    embedded = any(ep.dns_names for ep in endpoints)
    _write_in_place(paths["/etc/hosts"], hosts_text(c, endpoints, host_gateway, links))
    ipv6 = any(ep.ipv6 for ep in endpoints) or not any(ep.ipv4 for ep in endpoints)  # host mode
    _write_in_place(paths["/etc/resolv.conf"], resolv_text(c, embedded, default_dns, ipv6))
    _write_in_place(paths["/etc/hostname"], (c.config.hostname or c.id[:12]) + "\n")
    return paths


def touch_files(etc: dict[str, str]) -> None:
    """Make the files of a bind-mount map exist (empty when new), so the
    runtime can bind them before write_files gives them their content: it
    rewrites them in place, and the container sees it through its mounts."""
    for path in etc.values():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))


def update_hosts(cdir: str, c: Container, endpoints: list[Endpoint],
                 host_gateway: str = "", links: list[str] = ()) -> None:
    """Refresh /etc/hosts after a connect or disconnect on a running container."""
    path = etc_paths(cdir)["/etc/hosts"]
    if os.path.exists(path):
        _write_in_place(path, hosts_text(c, endpoints, host_gateway, links))
