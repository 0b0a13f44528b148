"""Fake controller state for DNS unit and fuzz tests (no kernel)."""

from __future__ import annotations

from boxnet.dns.names import build_table
from boxnet.model import Container, ContainerConfig, Endpoint, Network


class FakeService:
    """What a Resolver needs from the DnsService."""

    def __init__(self, table, ttl: int = 5):
        self._t, self.gen, self.ttl, self.forwarder = table, 1, ttl, None

    def table(self):
        """The fixed table."""
        return self._t


def world():
    """Two user networks (n1, internal n3) and a predefined bridge; returns (networks, eps, conts)."""
    nets = {"N1": Network(id="N1", name="n1"), "N2": Network(id="N2", name="n2"),
            "N3": Network(id="N3", name="n3", internal=True),
            "BR": Network(id="BR", name="bridge", predefined=True)}
    conts, eps = {}, []

    def add(cid, name, nid, v4, v6="", aliases=()):
        conts.setdefault(cid, Container(id=cid, name=name, created="",
                                        config=ContainerConfig(image="busybox")))
        names = [] if nets[nid].predefined else [name, *aliases, cid[:12]]
        eps.append(Endpoint(id=f"{cid}-{nid}", network_id=nid, container_id=cid,
                            ipv4=f"{v4}/24", ipv6=f"{v6}/64" if v6 else "", dns_names=names))

    add("a" * 64, "c1", "N1", "10.1.0.2", "fd00::2", aliases=("web", "pool"))
    add("b" * 64, "c2", "N1", "10.1.0.3", aliases=("pool",))
    add("c" * 64, "other", "N2", "10.2.0.2")
    add("d" * 64, "inner", "N3", "10.3.0.2")
    add("e" * 64, "legacy", "BR", "172.17.0.2")
    return nets, eps, conts


def table(exclude=()):
    """The name table of world()."""
    nets, eps, conts = world()
    return build_table(nets, eps, conts, set(exclude))
