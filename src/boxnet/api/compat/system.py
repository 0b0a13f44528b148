"""Version differences of `GET /info` that concern networking (dockerd's
system router, getInfo): before 1.50 the always-false `BridgeNfIptables`
and `BridgeNfIp6tables` were part of the answer."""

from __future__ import annotations

from . import Rule


def _bridge_nf(doc: dict, facts: dict) -> None:
    doc.setdefault("BridgeNfIptables", False)
    doc.setdefault("BridgeNfIp6tables", False)


RULES: tuple[Rule, ...] = (
    Rule("system.info", "1.50", "BridgeNfIptables/BridgeNfIp6tables (false) shown", _bridge_nf),
)
