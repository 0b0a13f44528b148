"""Embedded DNS: a resolver at 127.0.0.11 in every container on a user-defined
network, answering names from the networks it shares and forwarding the rest.

See service.py (wiring), resolver.py (per-container sockets), names.py (the
name table), wire.py (answers), forwarder.py (upstreams) and docs/dns.md.
"""

from .service import DEFAULT_TIMEOUT, DEFAULT_TTL, DnsService

__all__ = ["DnsService", "DEFAULT_TTL", "DEFAULT_TIMEOUT"]
