"""Version differences of the network endpoints (dockerd's network router:
postNetworkCreate, getNetwork).

- `POST /networks/create` before 1.48 had no `EnableIPv4`: dockerd drops
  it, so such a network always has IPv4.
- `CheckDuplicate` needs no rule: since 1.44 a duplicate name fails at every
  version (the CHANGELOG calls this unversioned), and boxnet does the same.
- `GET /networks/{id}` shows the IPAM `Status` block from 1.52 on; an
  older request does not see it.
- `GET /networks` before 1.28 listed each network's `Containers` (from 1.28
  only inspect does).
"""

from __future__ import annotations

from . import Rule


def _no_enable_ipv4(doc: dict, facts: dict) -> None:
    doc.pop("EnableIPv4", None)


def _no_status(doc: dict, facts: dict) -> None:
    doc.pop("Status", None)


def _list_containers(doc: dict, facts: dict) -> None:
    containers_of = facts.get("containers_of")
    if containers_of is not None:
        doc["Containers"] = containers_of(doc["Id"])


RULES: tuple[Rule, ...] = (
    Rule("network.create", "1.48", "EnableIPv4 ignored (IPv4 always on)", _no_enable_ipv4),
    Rule("network.inspect", "1.52", "no IPAM Status block", _no_status),
    Rule("network.list", "1.28", "each network's Containers listed", _list_containers),
)
