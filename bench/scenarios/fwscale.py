"""Scenario: firewall rules at scale (boxnet's nftables tables).

boxnet's NftFirewall, in a bench netns, is given 100 networks, 1000 endpoints
(containers) and 1000 published ports, as the daemon would give them.  We
record the ruleset size (lines of `nft list ruleset`, and the number of rules,
which must not grow), the time to add and remove one published port at an
empty table and at that size, and the time of a full reload at that size.
Interfaces need not exist for nftables' ifname sets, so no container runs:
this isolates the firewall's own cost.
"""

from __future__ import annotations

import logging
import time

from bench.context import Context
from bench.peers.host import BenchHost
from bench.stats import ratio

NAME = "fwscale"
TITLE = "Firewall rules at scale (boxnet nftables)"


def _port(i: int, cip: str):
    from boxnet.firewall.api import PublishedPort
    return PublishedPort(container_id=f"c{i}", family=4, proto="tcp", host_ip="",
                         host_port=20000 + i, container_ip=cip, container_port=80)


def _rule_count(host: BenchHost) -> int:
    """Rules in the netns's whole ruleset, as the kernel lists them."""
    import json
    out = host.run(["nft", "-j", "list", "ruleset"]).stdout or '{"nftables": []}'
    return sum(1 for x in json.loads(out)["nftables"] if "rule" in x)


def _time_one_port(fw, port, reps: int) -> list[float]:
    """ms to add one port, then (untimed) remove it, `reps` times."""
    import asyncio
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        asyncio.run(fw.add_ports([port]))
        out.append((time.perf_counter() - t0) * 1000)
        asyncio.run(fw.remove_ports([port]))
    return out


def _populate(fw, nets: int, eps: int, ports: int) -> None:
    import asyncio

    from boxnet.firewall.api import FirewallEndpoint, FirewallNetwork

    async def go():
        for n in range(nets):
            await fw.add_network(FirewallNetwork(
                network_id=f"{n:064x}", bridge=f"br-{n:012x}",
                subnets=(f"10.{100 + n // 250}.{n % 250}.0/24",)))
        for e in range(eps):
            n = e % nets
            await fw.add_endpoint(FirewallEndpoint(
                endpoint_id=f"e{e}", network_id=f"{n:064x}", host_ifname=f"veth{e:011x}",
                mac=f"02:42:00:00:{e // 256:02x}:{e % 256:02x}",
                ipv4=f"10.{100 + n // 250}.{n % 250}.{2 + e // nets}"))
        for p in range(ports):
            n = p % nets
            await fw.add_ports([_port(p, f"10.{100 + n // 250}.{n % 250}.{2 + p // nets}")])
    asyncio.run(go())


def run(ctx: Context) -> dict:
    """Measure the firewall at empty and at 100 networks / 1000 containers / 1000 ports."""
    res = ctx.begin(NAME, TITLE)
    if ctx.only_peers is not None and "boxnet" not in ctx.only_peers:
        ctx.skip("boxnet", "not selected")
        return res
    try:
        from boxnet.firewall.nft.manager import NftFirewall
    except ImportError as e:
        ctx.skip("boxnet", f"boxnet not importable: {e}")
        return res
    logging.getLogger("boxnet.firewall").setLevel(logging.ERROR)
    reps = ctx.repetitions(20, 50)
    nets, eps, ports = 100, 1000, 1000
    host = BenchHost("fwscale")
    host.create()
    try:
        fw = NftFirewall(netns=host.netns_path)
        import asyncio
        asyncio.run(fw.sync([]))
        empty_size = host.ruleset_size().get("nft_lines", 0)
        empty_rules = _rule_count(host)
        probe_port = _port(-1, "10.99.0.2")  # host port 19999
        empty = _time_one_port(fw, probe_port, reps)
        ctx.metric("add_port_empty", "add one published port, empty table", "ms", "boxnet",
                   empty)
        t0 = time.perf_counter()
        _populate(fw, nets, eps, ports)
        fill = time.perf_counter() - t0
        at_scale = _time_one_port(fw, probe_port, reps)
        ctx.metric("add_port_scale", f"add one published port, {nets} networks / {eps} "
                   f"containers / {ports} ports", "ms", "boxnet", at_scale)
        reload_ms = []
        for _ in range(max(3, reps // 5)):
            t0 = time.perf_counter()
            asyncio.run(fw.reload())
            reload_ms.append((time.perf_counter() - t0) * 1000)
        ctx.metric("reload_scale", "full reload (atomic re-render) at that size", "ms", "boxnet",
                   reload_ms)
        size = host.ruleset_size().get("nft_lines", 0)
        nrules = _rule_count(host)
        ctx.value("ruleset_lines", "nft list ruleset lines", "lines", "boxnet", 0, empty_size)
        ctx.value("ruleset_lines", "nft list ruleset lines", "lines", "boxnet", ports, size)
        ctx.note(f"ruleset: {empty_size} lines empty, {size} lines at {nets} networks / {eps} "
                 f"containers / {ports} ports; rules: {nrules} at both sizes (only set/map "
                 f"elements grow); populating took {fill:.1f} s "
                 f"({(fill / (nets + eps + ports)) * 1000:.2f} ms per object, one transaction "
                 f"each).")
        ctx.goal("rules do not grow with networks, containers, ports (rules at scale / empty)",
                 ratio(nrules, empty_rules), 1.0,
                 detail=f"{empty_rules} rules empty, {nrules} at scale")
        ctx.goal("adding one port at scale costs at most 2x adding it at an empty table",
                 ratio(ctx.median_of("add_port_scale", "boxnet"),
                       ctx.median_of("add_port_empty", "boxnet")), 2.0)
        asyncio.run(fw.teardown())
    except Exception as e:  # noqa: BLE001 - reported as a skip, like a failing peer
        ctx.skip("boxnet", f"failed: {type(e).__name__}: {e}"[:400])
    finally:
        host.teardown()
    return res
