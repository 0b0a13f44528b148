"""Why A cannot reach B: the reasoning of `boxnet network diagnose`, sans-I/O.

``Facts`` is what the daemon knows about the pair (gathered by gather.py from
the controller, the firewall and B's netns); ``findings`` turns them into the
causes that block A -> B, most fundamental first, each with the one-line fix.
The probe made afterwards (gather.py) confirms or contradicts them; the
verdict is the probe's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ANY = ("0.0.0.0", "::")


@dataclass(frozen=True)
class Net:
    """One network of A's or of the pair's."""

    name: str
    driver: str = "bridge"
    internal: bool = False
    icc: bool = True
    dns: bool = True          # user-defined: names resolve on it (not the default bridge)


@dataclass(frozen=True)
class Finding:
    """One cause: a short ``cause`` key, what was seen, and the fix in one line."""

    cause: str
    detail: str
    fix: str


@dataclass
class Facts:
    """What the daemon knows about A -> B (B a container, or a bare address)."""

    a: str                          # A's name
    b: str                          # B as the user wrote it
    target_ip: str                  # the address probed
    port: int = 0                   # 0: ICMP echo
    proto: str = "tcp"
    b_container: str = ""           # B's name when B is a container
    b_running: bool = True
    by_name: bool = False           # B was given as a name (A would look it up in DNS)
    name_resolves: bool = True      # A's resolver view holds that name
    a_nets: list[Net] = field(default_factory=list)
    shared: list[Net] = field(default_factory=list)
    policy_allowed: bool = True
    policy_reason: str = ""
    bound: list[str] | None = None  # where B listens on port/proto (None: not checked)
    foreign: list[str] = field(default_factory=list)   # foreign forward drop chains
    b_nets: list[str] = field(default_factory=list)
    a_mtu: int = 0                  # MTU of A's and B's interfaces on the shared network
    b_mtu: int = 0                  # (B on another host: the largest packet the path carries)
    remote: bool = False            # B runs on another host of the cluster (an overlay)


def findings(f: Facts) -> list[Finding]:
    """The causes that stop A reaching B, most fundamental first (empty: none seen)."""
    out: list[Finding] = []
    target = f.b_container or f.target_ip
    if f.b_container and not f.b_running:
        out.append(Finding("not-running", f"{f.b_container} is not running",
                           f"boxnet start {f.b_container}"))
        return out
    if f.b_container and not f.shared:
        on = ", ".join(f.b_nets) or "no network"
        out.append(Finding(
            "no-shared-network",
            f"{f.a} and {f.b_container} share no network ({f.b_container} is on {on}; "
            f"{f.a} on {', '.join(n.name for n in f.a_nets) or 'no network'}): "
            "boxnet isolates networks from each other",
            f"boxnet network connect {f.b_nets[0] if f.b_nets else 'NETWORK'} {f.a}"))
    if f.by_name and f.b_container and not f.name_resolves:
        if f.shared and not any(n.dns for n in f.shared):
            why = (f"{f.b} is not a name {f.a} can resolve: they share only the default "
                   "bridge network, which has no embedded DNS")
            fix = (f"boxnet network create NET && boxnet network connect NET {f.a} && "
                   f"boxnet network connect NET {f.b_container} (or use --link)")
        else:
            why = f"{f.b} is not a name in scope for {f.a} (no shared user-defined network)"
            fix = f"boxnet network connect {f.b_nets[0] if f.b_nets else 'NETWORK'} {f.a}"
        out.append(Finding("name-not-in-scope", why, fix))
    if not f.b_container and f.a_nets and all(n.internal for n in f.a_nets):
        out.append(Finding(
            "internal",
            f"{f.a}'s networks ({', '.join(n.name for n in f.a_nets)}) are internal: "
            f"no traffic leaves them, so {f.target_ip} is out of reach",
            f"boxnet network connect NET {f.a} with NET a network that is not --internal"))
    if f.shared and all(not n.icc for n in f.shared):
        names = ", ".join(n.name for n in f.shared)
        out.append(Finding(
            "icc-off",
            f"{names} has com.docker.network.bridge.enable_icc=false: containers on it "
            "cannot talk to each other",
            f"connect {f.a} and {target} to a network without enable_icc=false "
            f"(boxnet network create NET; boxnet network connect NET {f.a}; ...)"))
    if not f.policy_allowed:
        out.append(Finding("policy", f.policy_reason,
                           f"allow {f.a} -> {target} {f.port}/{f.proto} in the "
                           "com.boxnet.policy label (see docs/policy.md)"))
    if f.bound is not None and f.port:
        local = [a for a in f.bound if a not in ANY]
        if not f.bound:
            out.append(Finding(
                "not-listening",
                f"nothing in {target} {'listens' if f.proto == 'tcp' else 'is bound'} "
                f"on port {f.port}/{f.proto}",
                f"start the service in {target} on 0.0.0.0:{f.port}/{f.proto} "
                "(or probe the port it uses)"))
        elif f.target_ip not in local and not any(a in ANY for a in f.bound):
            out.append(Finding(
                "bound-elsewhere",
                f"{target} listens on {', '.join(local)}:{f.port} only, not on {f.target_ip}",
                f"make the service in {target} listen on 0.0.0.0:{f.port}"))
    if f.remote and f.a_mtu and f.b_mtu and f.a_mtu > f.b_mtu:
        nw = f.shared[0]
        out.append(Finding(
            "mtu-mismatch",
            f"MTU mismatch on {nw.name} across hosts: {f.a}'s interface has {f.a_mtu}, "
            f"but the path to {f.b_container} on its host carries at most {f.b_mtu} bytes "
            f"(DF probes): {f.a}'s packets above {f.b_mtu} bytes are lost",
            f"boxnet network create -d {nw.driver} -o com.docker.network.driver.mtu="
            f"{f.b_mtu} NET (the network's MTU on every host; or raise the narrow underlay "
            f"link to {f.a_mtu + 50})"))
    elif f.a_mtu and f.b_mtu and f.a_mtu != f.b_mtu:
        big, small = (f.a, f.b_container) if f.a_mtu > f.b_mtu else (f.b_container, f.a)
        out.append(Finding(
            "mtu-mismatch",
            f"MTU mismatch on {f.shared[0].name}: {f.a}'s interface has {f.a_mtu}, "
            f"{f.b_container}'s {f.b_mtu}: packets {big} sends above "
            f"{min(f.a_mtu, f.b_mtu)} bytes never reach {small}",
            f"give both the network's MTU (boxnet network create -o "
            f"com.docker.network.driver.mtu={min(f.a_mtu, f.b_mtu)} ...), or set "
            f"{small}'s interface back to {max(f.a_mtu, f.b_mtu)}"))
    routed = not f.shared
    if routed and f.foreign and not any(x.cause == "internal" for x in out):
        out.append(Finding("foreign-table", f.foreign[0],
                           f.foreign[0].split("Fix: ", 1)[-1]))
    return out


def verdict(reached: bool, f: Facts, found: list[Finding]) -> tuple[bool, str]:
    """(A reaches B, one-line verdict) from the probe and the findings.

    A name A cannot resolve fails the verdict even when the address answers."""
    named = [x for x in found if x.cause in ("name-not-in-scope", "mtu-mismatch")]
    if reached and named:
        if named[0].cause == "mtu-mismatch":
            return False, (f"{f.a} reaches {f.b} only with packets up to "
                           f"{min(f.a_mtu, f.b_mtu)} bytes: mtu-mismatch")
        return False, f"{f.target_ip} answers, but {f.a} cannot reach it by the name {f.b}"
    if reached:
        return True, f"{f.a} reaches {f.b}"
    if found:
        return False, f"{f.a} cannot reach {f.b}: {found[0].cause}"
    return False, (f"{f.a} cannot reach {f.b} and no known cause explains it "
                   "(see `nft list ruleset` in the daemon's netns and routes in both)")
