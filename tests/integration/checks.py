"""What a user (or an operator) can observe about a test host's state.

`snapshot` captures the API view, the host netns kernel view and the store,
to prove a refused request changed nothing.  `clean_state_check` proves that
removed networks and containers left no bridge, veth, netns pin, nft rule or
store row.  `veth_consistency` proves every host veth belongs to an endpoint
the daemon reports.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import sqlite3
from contextlib import closing, contextmanager

from . import cleanup
from .harness import TestHost, run

PREDEFINED = ("bridge", "host", "none")
STORE_TABLES = ("networks", "endpoints", "containers")


def store_ids(host: TestHost) -> dict[str, set[str]]:
    """ids per table of the SQLite store, opened read-only."""
    path = host.data_root / "boxnet.db"
    assert path.exists(), f"no store at {path}"
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        return {t: {row[0] for row in db.execute(f"SELECT id FROM {t}")} for t in STORE_TABLES}


def container_links(host: TestHost, container: str) -> list[dict]:
    """`ip -j addr` inside a running container's netns, seen through its pid."""
    pid = host.inspect(container)["State"]["Pid"]
    assert pid, f"{container} has no pid"
    out = run(["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-j", "-d", "addr", "show"]).stdout
    return json.loads(out or "[]")


def snapshot(host: TestHost) -> dict:
    """API, kernel and store view of the host, comparable with ==."""
    cleanup.wait_dying_gone(host.links)   # links of earlier removals die in the background
    nets = []
    for n in host.api_ok("GET", "/networks"):
        full = host.network(n["Id"])
        nets.append((full["Id"], full["Name"], json.dumps(full["IPAM"], sort_keys=True),
                     json.dumps(full.get("Containers") or {}, sort_keys=True)))
    ctrs = []
    for c in host.api_ok("GET", "/containers/json?all=1"):
        full = host.inspect(c["Id"])
        ctrs.append((full["Id"], full["Name"], full["State"]["Status"],
                     json.dumps(full["NetworkSettings"]["Networks"], sort_keys=True)))
    # operstate is left out: a bridge turns UP by itself once a port's carrier settles.
    links = sorted((link["ifname"], link.get("master", "")) for link in host.links())
    nft = re.sub(r"counter packets \d+ bytes \d+", "counter", host.nft_ruleset())
    store = {t: sorted(ids) for t, ids in store_ids(host).items()}
    pins = sorted(cleanup.nsfs_mounts_under(host.exec_root))
    return {"networks": sorted(nets), "containers": sorted(ctrs), "links": links,
            "nft": nft, "store": store, "pins": pins}


@contextmanager
def unchanged(host: TestHost):
    """Assert the block changes nothing observable on the host."""
    before = snapshot(host)
    yield
    after = snapshot(host)
    for key in before:
        assert before[key] == after[key], f"{key} changed:\nbefore {before[key]}\nafter  {after[key]}"


def _strings(obj) -> list[str]:
    """Every string and prefix ('a.b.c.d/n') in a JSON tree."""
    if isinstance(obj, dict):
        if set(obj) == {"prefix"} and isinstance(obj["prefix"], dict):
            p = obj["prefix"]
            return [f"{p.get('addr')}/{p.get('len')}"]
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return [str(obj)] if isinstance(obj, (str, int)) and not isinstance(obj, bool) else []


def boxnet_nft_strings(host: TestHost) -> list[str]:
    """All strings in rules, sets, maps and elements of boxnet's own tables."""
    objs = host.nft_json()
    tables = {(o["table"]["family"], o["table"]["name"]) for o in objs
              if "table" in o and o["table"]["name"].startswith("boxnet")}
    found = []
    for o in objs:
        for kind, body in o.items():
            if kind != "table" and isinstance(body, dict) and \
                    (body.get("family"), body.get("table")) in tables:
                found += _strings(body)
    return found


def removed_markers(networks: list[dict], containers: list[dict]) -> set[str]:
    """Names and addresses that no kernel object should mention once these are gone."""
    marks = set()
    for n in networks:
        marks.add("br-" + n["Id"][:12])
        marks.add((n.get("Options") or {}).get("com.docker.network.bridge.name", "br-" + n["Id"][:12]))
        for cfg in (n.get("IPAM") or {}).get("Config") or []:
            net = ipaddress.ip_network(cfg["Subnet"], strict=False)
            marks |= {str(net), str(net.network_address) + "/" + str(net.prefixlen)}
    for c in containers:
        for ep in c["NetworkSettings"]["Networks"].values():
            marks |= {a for a in (ep.get("IPAddress"), ep.get("GlobalIPv6Address")) if a}
    return marks


def clean_state_check(host: TestHost, networks: list[dict], containers: list[dict]) -> None:
    """Assert removed networks/containers (their inspect dicts) left nothing behind."""
    problems = []
    cleanup.wait_dying_gone(host.links)   # a removal's links die in the background
    links = host.links()
    for link in links:
        kind = (link.get("linkinfo") or {}).get("info_kind")
        if link["ifname"].startswith(("br-", "bxgc-")):
            problems.append(f"bridge {link['ifname']} still in the host netns")
        if kind == "veth" and not any(link["ifname"] == o.host_ifname for o in host.outsides):
            problems.append(f"veth {link['ifname']} still in the host netns")
    names = {link["ifname"] for link in links}
    for n in networks:
        bridge = (n.get("Options") or {}).get("com.docker.network.bridge.name")
        if bridge and bridge in names:
            problems.append(f"bridge {bridge} of removed network {n['Name']} still there")
    pins = cleanup.nsfs_mounts_under(host.dir)
    problems += [f"netns pin {p} still mounted" for p in pins]
    for root, _dirs, files in os.walk(host.exec_root):
        if os.path.basename(root) == "netns":
            problems += [f"netns pin file {root}/{f} still there" for f in files]
    marks = removed_markers(networks, containers)
    for s in boxnet_nft_strings(host):
        hit = [m for m in marks if m == s or (m.startswith("br-") and m in s)]
        if hit:
            problems.append(f"nft object still mentions {hit[0]!r} ({s!r})")
    ids = store_ids(host)
    for n in networks:
        if n["Id"] in ids["networks"]:
            problems.append(f"store row for removed network {n['Name']}")
    for c in containers:
        if c["Id"] in ids["containers"]:
            problems.append(f"store row for removed container {c['Name']}")
        for ep in c["NetworkSettings"]["Networks"].values():
            if ep.get("EndpointID") in ids["endpoints"]:
                problems.append(f"store row for endpoint {ep['EndpointID'][:12]} of {c['Name']}")
    live_eps = {ep["EndpointID"] for c in host.api_ok("GET", "/containers/json?all=1")
                for ep in ((c.get("NetworkSettings") or {}).get("Networks") or {}).values()}
    stale = ids["endpoints"] - live_eps
    problems += [f"store holds endpoint {e[:12]} no container reports" for e in sorted(stale)]
    assert not problems, "state left behind:\n  " + "\n  ".join(problems)


def veth_consistency(host: TestHost, containers: list[str]) -> None:
    """Every host veth is the peer of an interface of one of `containers`, and every
    container interface is an endpoint inspect reports, with the address it reports.
    Links a removal left to die in the background (kernel/linkgc.py) are waited for
    first: right after an `rm` or a disconnect they are on their way out, not orphans."""
    cleanup.wait_dying_gone(host.links, timeout=15.0)
    host_veths = {link["ifindex"]: link["ifname"] for link in host.links()
                  if (link.get("linkinfo") or {}).get("info_kind") == "veth"
                  and not any(link["ifname"] == o.host_ifname for o in host.outsides)}
    peers: dict[int, str] = {}
    for name in containers:
        info = host.inspect(name)
        eps = info["NetworkSettings"]["Networks"]
        if info["HostConfig"]["NetworkMode"] in ("host", "none"):
            continue
        reported = {ep["IPAddress"] for ep in eps.values() if ep.get("IPAddress")}
        seen = set()
        ifaces = [i for i in container_links(host, name) if i["ifname"] != "lo"]
        for iface in ifaces:
            assert "link_index" in iface, f"{name}: {iface['ifname']} is not a veth end"
            peers[iface["link_index"]] = f"{name}/{iface['ifname']}"
            seen |= {a["local"] for a in iface.get("addr_info", []) if a["family"] == "inet"}
        assert seen == reported, f"{name}: kernel addresses {seen} != inspect {reported}"
        assert len(ifaces) == len(eps), f"{name}: {len(ifaces)} interfaces for {len(eps)} endpoints"
    orphans = {n for i, n in host_veths.items() if i not in peers}
    assert not orphans, f"orphan veths in the host netns: {sorted(orphans)}"
    missing = {p for i, p in peers.items() if i not in host_veths}
    assert not missing, f"container interfaces without a host veth: {sorted(missing)}"

