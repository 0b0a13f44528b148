"""Does the policy allow A -> B port/proto, and why (sans-I/O, for diagnose and the UI).

``explain`` reads the very elements the firewall installs (compile.Elements),
so its answer is the kernel's for a new connection (established traffic is
always accepted).  It says nothing about isolation, ICC or published ports:
those are the firewall's other rules.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .compile import Elements, l4proto


@dataclass(frozen=True)
class Verdict:
    """``allowed`` and a one-line ``reason`` naming the direction that decides."""

    allowed: bool
    reason: str


def _covers(elements, fam: int, src: str, dst: str, proto: str, port: int) -> bool:
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    for f, es, ed, p, lo, hi in elements:
        if f != fam or p != proto or not lo <= port <= hi:
            continue
        if s in ipaddress.ip_network(es, strict=False) and \
                d in ipaddress.ip_network(ed, strict=False):
            return True
    return False


def explain(el: Elements, src: str, dst: str, port: int = 0, proto: str = "tcp") -> Verdict:
    """Whether a new connection src -> dst:port/proto passes the policy sets."""
    fam = ipaddress.ip_address(src).version
    p = l4proto(proto, fam)
    port = 0 if proto == "icmp" else port
    if (fam, src) in el.gate_eg and not any(_covers(a, fam, src, dst, p, port)
                                            for a in el.allowed("eg")):
        return Verdict(False, f"denied by {src}'s egress policy: no rule allows "
                              f"{dst} {port}/{proto}")
    if (fam, dst) in el.gate_in and not any(_covers(a, fam, src, dst, p, port)
                                            for a in el.allowed("in")):
        return Verdict(False, f"denied by {dst}'s ingress policy: no rule allows "
                              f"{src} on {port}/{proto}")
    gated = [w for w, ok in (("egress", (fam, src) in el.gate_eg),
                             ("ingress", (fam, dst) in el.gate_in)) if ok]
    if not gated:
        return Verdict(True, "no policy applies (Docker's behaviour)")
    return Verdict(True, "allowed by the " + " and ".join(gated) + " policy")
