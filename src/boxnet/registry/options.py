"""boxnetd's registry flags (--insecure-registry, --registry-mirror,
--registry-certs-dir) and the TLS settings they give each registry host.

Docker's rules: a registry is insecure (plain HTTP allowed, certificates not
verified) when named by --insecure-registry (host[:port] or a CIDR its
address falls in) or when it is on loopback (127.0.0.0/8, ::1); otherwise
HTTPS with the system CA store plus `<certs-dir>/<host:port>/*.crt`, and a
client certificate from each `*.cert` / `*.key` pair there.  Mirrors are
tried first for docker.io only.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import ssl
from dataclasses import dataclass, field

from boxnet.errors import InvalidParameter

DEFAULT_CERTS_DIR = "/etc/boxnet/certs.d"
_LOCAL = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]


def add_registry_flags(p: argparse.ArgumentParser) -> None:
    """Register the registry flags on boxnetd's parser."""
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST[:PORT]|CIDR",
                   help="registry reached over plain HTTP or unverified TLS (repeatable)")
    p.add_argument("--registry-mirror", action="append", default=[], metavar="URL",
                   help="mirror of docker.io tried first on pulls (repeatable)")
    p.add_argument("--registry-certs-dir", default=DEFAULT_CERTS_DIR, metavar="DIR",
                   help="per-registry CA and client certificates, as Docker's "
                        "/etc/docker/certs.d/<host:port>/{ca.crt,client.cert,client.key}")


@dataclass
class RegistryOptions:
    """The registry settings of one daemon."""

    insecure: list[str] = field(default_factory=list)
    mirrors: list[str] = field(default_factory=list)
    certs_dir: str = DEFAULT_CERTS_DIR

    def is_insecure(self, host: str) -> bool:
        """Whether host[:port] is an insecure registry (see the module docstring)."""
        if host in self.insecure:
            return True
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
        name = name.strip("[]")
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            return name in self.insecure or name == "localhost"
        nets = list(_LOCAL)
        for s in self.insecure:
            try:
                nets.append(ipaddress.ip_network(s, strict=False))
            except ValueError:
                continue
        return any(ip in n for n in nets)

    def ssl_context(self, host: str) -> ssl.SSLContext:
        """TLS for host[:port]: system CAs + certs.d CAs and client certificate;
        no verification for an insecure registry."""
        ctx = ssl.create_default_context()
        if self.is_insecure(host):
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        d = os.path.join(self.certs_dir, host.replace(":", ":"))
        if os.path.isdir(d):
            for name in sorted(os.listdir(d)):
                path = os.path.join(d, name)
                if name.endswith(".crt"):
                    ctx.load_verify_locations(cafile=path)
                elif name.endswith(".cert"):
                    key = path[:-len(".cert")] + ".key"
                    if not os.path.exists(key):
                        raise InvalidParameter(f"missing key {key} for client certificate "
                                               f"{path}")
                    ctx.load_cert_chain(path, key)
        return ctx


def registry_flags(args: argparse.Namespace) -> dict:
    """Validate the flags into DaemonConfig's registry fields."""
    for m in args.registry_mirror:
        if not m.startswith(("http://", "https://")):
            raise InvalidParameter(f"--registry-mirror {m}: expected an http:// or "
                                   f"https:// URL")
    return {"insecure_registries": list(args.insecure_registry),
            "registry_mirrors": [m.rstrip("/") for m in args.registry_mirror],
            "registry_certs_dir": args.registry_certs_dir}


def registry_config(config) -> dict:
    """Docker's RegistryConfig for GET /info (`docker info`: Insecure Registries,
    Registry Mirrors)."""
    cidrs, names = ["::1/128", "127.0.0.0/8"], []
    for s in config.insecure_registries:
        try:
            cidrs.append(str(ipaddress.ip_network(s, strict=False)))
        except ValueError:
            names.append(s)
    mirrors = [m + "/" for m in config.registry_mirrors]
    index = {n: {"Name": n, "Mirrors": [], "Secure": False, "Official": False} for n in names}
    index["docker.io"] = {"Name": "docker.io", "Mirrors": mirrors, "Secure": True,
                          "Official": True}
    return {"AllowNondistributableArtifactsCIDRs": [],
            "AllowNondistributableArtifactsHostnames": [], "InsecureRegistryCIDRs": cidrs,
            "IndexConfigs": index, "Mirrors": mirrors}


def options_of(config) -> RegistryOptions:
    """RegistryOptions from a DaemonConfig."""
    return RegistryOptions(list(config.insecure_registries), list(config.registry_mirrors),
                           config.registry_certs_dir)
