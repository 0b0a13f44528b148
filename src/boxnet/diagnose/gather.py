"""`network diagnose`'s I/O: the facts about A -> B from the daemon, then the proof.

The controller gives the networks, endpoints, names and policy sets; B's
netns says whether anything listens on the port (kernel/probe.py); the
firewall lists foreign forward chains that drop.  reason.py turns that into
causes; then a real probe from a socket made in A's netns (TCP connect, a
UDP exchange, or ICMP echo without a port) decides the verdict.  B may
run on another host of the cluster (an overlay's remote endpoint): its netns
is then out of reach, and an MTU mismatch across hosts is found by DF echo
probes of every size up to A's MTU (kernel/pathmtu.py).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time

from ..errors import InvalidParameter, NotFound
from ..kernel import pathmtu, probe
from .reason import Facts, Net, findings, verdict

OPT_ICC = "com.docker.network.bridge.enable_icc"
PROTOS = ("tcp", "udp", "icmp")


def parse_target(spec: str) -> tuple[str, int, str]:
    """B[:port][/proto] -> (B, port, proto); an IPv6 address takes brackets with a port."""
    proto = ""
    if "/" in spec:
        spec, proto = spec.rsplit("/", 1)
        proto = proto.lower()
        if proto not in PROTOS:
            raise InvalidParameter(f"invalid protocol {proto!r}: tcp, udp or icmp")
    port = 0
    host = spec
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        port_s = rest[1:] if rest.startswith(":") else ""
    elif spec.count(":") == 1:
        host, port_s = spec.split(":")
    else:
        port_s = ""
    if port_s:
        if not port_s.isdigit() or not 0 < int(port_s) < 65536:
            raise InvalidParameter(f"invalid port {port_s!r}: 1 to 65535")
        port = int(port_s)
    if not host:
        raise InvalidParameter("diagnose needs a destination: B[:port][/proto]")
    if proto == "icmp":
        port = 0
    return host, port, proto or ("tcp" if port else "icmp")


def _is_ip(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
        return True
    except ValueError:
        return False


def _plain(addr: str) -> str:
    return str(ipaddress.ip_interface(addr).ip) if addr else ""


def _net(nw) -> Net:
    return Net(name=nw.name, driver=nw.driver, internal=nw.internal,
               icc=nw.options.get(OPT_ICC, "true").lower() not in ("false", "0"),
               dns=not nw.predefined)


def _eps(ctl, cid: str) -> list:
    return list(ctl.eps_by_container.get(cid, {}).values())


def _by_ip(ctl, ip: str):
    for cid, eps in ctl.eps_by_container.items():
        for ep in eps.values():
            if ip in (_plain(ep.ipv4), _plain(ep.ipv6)):
                return ctl.containers.get(cid)
    return None


def _remote(ctl, ref: str, net_ids) -> tuple | None:
    """(endpoint, name) of a container on another host of the cluster (an
    overlay endpoint), by address, name or id; one on ``net_ids`` first."""
    eps, conts = ctl.remote_endpoints()
    low = ref.lower()
    for ep in sorted(eps, key=lambda e: e.network_id not in net_ids):
        c = conts.get(ep.container_id)
        name = c.name.lstrip("/") if c is not None else ep.container_id[:12]
        if ref in (_plain(ep.ipv4), _plain(ep.ipv6)) or low == name.lower() or \
                low in (n.lower() for n in ep.dns_names) or \
                (len(ref) >= 12 and ep.container_id.startswith(low)):
            return ep, name
    return None


async def _facts_remote(ctl, f: Facts, a, a_eps, a_nets, ep, name: str) -> Facts:
    """B runs on another host: what this host knows of it (its overlay
    endpoint from the cluster); its netns is out of reach, so nothing is
    read there and the MTU check is the path probe of `diagnose`."""
    f.b_container, f.b_running, f.remote = name, True, True
    f.by_name = not _is_ip(f.b)
    f.target_ip = f.target_ip or _plain(ep.ipv4 or ep.ipv6)
    nw = ctl.networks.get(ep.network_id)
    f.b_nets = [nw.name] if nw is not None else []
    if ep.network_id not in a_nets:   # B's overlay is not one of A's
        f.name_resolves = False
        return f
    f.shared = [_net(nw)]
    if f.by_name:
        f.name_resolves = True   # the cluster's records feed A's embedded DNS
    a_ep = next(x for x in a_eps if x.network_id == ep.network_id)
    f.a_mtu = await probe.interface_mtu(a.sandbox_key, a_ep.ifname)
    return f


def _resolve_a(ctl, ref: str):
    c = _by_ip(ctl, ref) if _is_ip(ref) else None
    c = c or ctl.container(ref)
    if c.status != "running":
        raise InvalidParameter(f"container {c.name.lstrip('/')} is not running: "
                               "nothing to probe from")
    if not c.sandbox_key:
        raise InvalidParameter(f"container {c.name.lstrip('/')} has no network namespace of "
                               "its own (host network): diagnose probes from a container's")
    return c


def _name_in_scope(ctl, a, b, name: str, shared_ids: set) -> bool:
    name = name.lower()
    for ep in _eps(ctl, b.id):
        if ep.network_id in shared_ids and name in (n.lower() for n in ep.dns_names):
            return True
    for link in a.config.links:      # legacy --link name[:alias]
        target, _, alias = link.partition(":")
        if name not in (target.lstrip("/").lower(), alias.lower()):
            continue
        try:
            if ctl.container(target.lstrip("/")).id == b.id:
                return True
        except NotFound:
            continue
    return False


async def facts_for(ctl, a_ref: str, b_spec: str) -> Facts:
    """The Facts of A -> B (NotFound naming an unknown container or address)."""
    b_ref, port, proto = parse_target(b_spec)
    a = _resolve_a(ctl, a_ref)
    a_eps = _eps(ctl, a.id)
    a_nets = {ep.network_id: ctl.networks[ep.network_id] for ep in a_eps
              if ep.network_id in ctl.networks}
    f = Facts(a=a.name.lstrip("/"), b=b_ref, target_ip=b_ref if _is_ip(b_ref) else "",
              port=port, proto=proto, a_nets=[_net(n) for n in a_nets.values()])
    try:
        b = _by_ip(ctl, b_ref) if _is_ip(b_ref) else ctl.container(b_ref)
    except NotFound:
        b = None
        if not (remote := _remote(ctl, b_ref, a_nets)):
            raise
    else:
        remote = _remote(ctl, b_ref, a_nets) if b is None else None
    if remote:               # a container of another host on a shared overlay
        return await _facts_remote(ctl, f, a, a_eps, a_nets, *remote)
    if b is None:            # a bare address that is no container's
        f.foreign = await asyncio.to_thread(ctl.firewall.warnings)
        return f
    f.b_container = b.name.lstrip("/")
    f.b_running = b.status == "running" and bool(b.sandbox_key)
    f.by_name = not _is_ip(b_ref)
    b_eps = _eps(ctl, b.id)
    f.b_nets = [ctl.networks[ep.network_id].name for ep in b_eps if ep.network_id in ctl.networks]
    shared = [ep for ep in b_eps if ep.network_id in a_nets]
    f.shared = [_net(a_nets[ep.network_id]) for ep in shared]
    if not f.target_ip:
        for ep in shared or b_eps:
            if ep.ipv4 or ep.ipv6:
                f.target_ip = _plain(ep.ipv4 or ep.ipv6)
                break
    if f.by_name:
        f.name_resolves = _name_in_scope(ctl, a, b, b_ref, {ep.network_id for ep in shared})
    src = next((_plain(ep.ipv4) for ep in a_eps
                if ep.network_id in {s.network_id for s in shared} and ep.ipv4), "")
    if src and f.target_ip and ":" not in f.target_ip:
        v = ctl.policy.explain(src, f.target_ip, port, proto)
        f.policy_allowed, f.policy_reason = v.allowed, v.reason
    if f.b_running and port and proto in ("tcp", "udp"):
        f.bound = await probe.bound_addresses(b.sandbox_key, port, proto)
    if not shared:
        f.foreign = await asyncio.to_thread(ctl.firewall.warnings)
    elif f.b_running:
        a_ep = next(ep for ep in a_eps if ep.network_id == shared[0].network_id)
        f.a_mtu = await probe.interface_mtu(a.sandbox_key, a_ep.ifname)
        f.b_mtu = await probe.interface_mtu(b.sandbox_key, shared[0].ifname)
    return f


async def prove(netns: str, f: Facts, timeout: float = 1.0) -> tuple[bool, str]:
    """The real probe from A's netns to the target."""
    if not f.target_ip:
        return False, f"{f.b} has no address to probe"
    if f.proto == "tcp" and f.port:
        return await probe.tcp_connect(netns, f.target_ip, f.port, timeout)
    if f.proto == "udp":
        return await probe.udp_exchange(netns, f.target_ip, f.port, timeout)
    return await probe.ping(netns, f.target_ip, timeout)


async def diagnose(ctl, a_ref: str, b_spec: str, timeout: float = 1.0) -> dict:
    """The whole answer: verdict, causes with fixes, the probe and its time."""
    t0 = time.monotonic()
    f = await facts_for(ctl, a_ref, b_spec)
    found = findings(f)
    a = _resolve_a(ctl, a_ref)
    reached, how = await prove(a.sandbox_key, f, timeout)
    if reached and f.remote and f.a_mtu and ":" not in f.target_ip:
        # across hosts B's side cannot be read: the DF probes find what the path carries
        f.b_mtu = await pathmtu.largest_echo(a.sandbox_key, f.target_ip, f.a_mtu,
                                             min(timeout, 0.5))
        how += (f"; ping of {f.a_mtu} bytes (DF) answered" if f.b_mtu == f.a_mtu else
                f"; pings with DF: {f.b_mtu or 'no'} bytes answered, "
                f"{f.b_mtu + 1 if f.b_mtu else 576} to {f.a_mtu} lost")
        found = findings(f)
    mtu = next((x for x in found if x.cause == "mtu-mismatch"), None)
    if reached and mtu and not f.remote and f.a_mtu > f.b_mtu and ":" not in f.target_ip:
        # the proof of a mismatch: A's largest packet, with DF, is lost on B's side
        big, big_how = await probe.ping(a.sandbox_key, f.target_ip, timeout, f.a_mtu)
        how += "; " + big_how
        if big:
            found.remove(mtu)
    elif mtu and not f.remote:
        how += f"; {f.a}'s packets are the smaller: the loss is on {f.b}'s large ones"
    ok, line = verdict(reached, f, found)
    return {"Reachable": ok, "Verdict": line, "From": f.a, "To": f.b,
            "Address": f.target_ip, "Port": f.port, "Proto": f.proto,
            "Causes": [{"Cause": x.cause, "Detail": x.detail, "Fix": x.fix} for x in found],
            "Fix": found[0].fix if found and not ok else "",
            "Probe": {"Reached": reached, "Result": how},
            "Seconds": round(time.monotonic() - t0, 4)}


__all__ = ["diagnose", "facts_for", "parse_target", "prove"]
