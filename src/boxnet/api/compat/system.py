"""Version differences of the system endpoints (dockerd's system router):

- `GET /info` before 1.50 carried the always-false `BridgeNfIptables` and
  `BridgeNfIp6tables` (getInfo);
- `GET /events` before 1.52 still sent the pre-1.22 fields: `status` (the
  Action), `id` (the Actor's ID) and, for containers, `from` (the image),
  as dockerd's backFillLegacy does (the docker CLI before 25 and compose
  read them).
"""

from __future__ import annotations

from . import Rule


def _bridge_nf(doc: dict, facts: dict) -> None:
    doc.setdefault("BridgeNfIptables", False)
    doc.setdefault("BridgeNfIp6tables", False)


def _legacy_event(doc: dict, facts: dict) -> None:
    typ, actor = doc.get("Type"), doc.get("Actor") or {}
    if typ in ("container", "image"):
        doc["status"], doc["id"] = doc.get("Action", ""), actor.get("ID", "")
    if typ == "container":
        doc["from"] = (actor.get("Attributes") or {}).get("image", "")


RULES: tuple[Rule, ...] = (
    Rule("system.info", "1.50", "BridgeNfIptables/BridgeNfIp6tables (false) shown", _bridge_nf),
    Rule("event", "1.52", "events carry status, id (and from for containers)", _legacy_event),
)
