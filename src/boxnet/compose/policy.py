"""compose's `x-boxnet: {policy: {ingress: [...], egress: [...]}}` per service.

At load, every service's policy is parsed with policy/model.py and checked
against the project: a ``service`` rule must name a service of this file, a
``network`` rule a network key of it (rewritten to the engine's name), and a
service in ``network_mode: host``/``none``/``container:``/``service:`` cannot
have one (it has no endpoint of its own to hold to it), and a published port
needs a ``cidr`` ingress rule covering it (docs/policy.md).  Any problem is a
ComposeError at the key's line, before anything is created.  Each replica then
carries the policy as its ``com.boxnet.policy`` label (``labels()``).

``allows()`` is the file's own verdict for ``compose check``: may service A
open a connection to service B on port/proto, by the policies alone.
"""

from __future__ import annotations

from .errors import ComposeError
from .model import Project, Service

TYPE_CHECKING = False   # without importing typing
if TYPE_CHECKING:
    from ..policy.model import Policy, Rule

KEY = "x-boxnet"


def _raw(svc: Service):
    ext = svc.get(KEY)
    if ext is None:
        return None
    if not isinstance(ext, dict):
        raise ValueError(f"{KEY} must be a mapping")
    return ext.get("policy")


def service_policy(project: Project, svc: Service) -> Policy | None:
    """The service's policy as the engine gets it (network keys made engine names)."""
    path = ("services", svc.name, KEY, "policy")

    def err(msg: str, hint: str = "") -> ComposeError:
        file, line = project.locate(path)
        return ComposeError(msg, file, path, line, hint)

    try:
        raw = _raw(svc)
    except ValueError as exc:
        raise err(str(exc)) from None
    if raw is None:
        return None
    # policy/ only when a service has a policy (its import costs start-up otherwise)
    from ..policy.model import Policy, PolicyError, Rule, parse
    try:
        pol = parse(raw)
    except PolicyError as exc:
        raise err(f"service {svc.name!r}: {exc}") from None
    mode = svc.network_mode
    if mode in ("host", "none") or mode.startswith(("container:", "service:")):
        raise err(f"service {svc.name!r}: a policy needs networks of its own, not "
                  f"network_mode {mode}", "drop network_mode or the policy")
    out = {}
    for direction in ("ingress", "egress"):
        rules = pol.rules(direction)
        if rules is None:
            continue
        new = []
        for r in rules:
            if r.kind == "service" and r.peer not in project.services:
                raise err(f"service {svc.name!r}: {direction} rule names unknown service "
                          f"{r.peer!r}", "name a service of this file, or use container:")
            if r.kind == "network":
                if r.peer not in project.networks:
                    raise err(f"service {svc.name!r}: {direction} rule names unknown "
                              f"network {r.peer!r}", "declare it under `networks:`")
                r = Rule("network", project.network_name(r.peer), r.ports)
            new.append(r)
        out[direction] = tuple(new)
    if out.get("ingress") is not None:
        _published_granted(svc, out["ingress"], err)
    return Policy(**out)


def _published_granted(svc: Service, rules, err) -> None:
    """A published port needs a cidr rule of the ingress policy covering it (the
    engine refuses it otherwise: core/policycheck.py); said here at the file's line."""
    for p in svc.ports:   # short "[ip:][host:]container[-end][/proto]" or long syntax
        if isinstance(p, dict):
            port, proto = str(p.get("target", "")), str(p.get("protocol") or "tcp")
        else:
            text, _, proto = str(p).partition("/")
            port = text.rsplit(":", 1)[-1].split("-")[0]
        if not port.isdigit():
            continue
        n, proto = int(port), proto or "tcp"
        if not any(r.kind == "cidr" and any(p.proto == proto and p.lo <= n <= p.hi
                                            for p in r.ports) for r in rules):
            raise err(f"service {svc.name!r}: port {n}/{proto} is published, but its ingress "
                      f"policy lets no address outside reach it",
                      f"add {{cidr: 0.0.0.0/0, ports: [\"{n}/{proto}\"]}} or drop the port")


def check(project: Project) -> None:
    """Raise ComposeError for the first service whose policy is bad."""
    for svc in project.services.values():
        service_policy(project, svc)


def labels(project: Project, svc: Service) -> dict:
    """The policy label of the service's containers ({} without a policy)."""
    pol = service_policy(project, svc)
    if pol is None:
        return {}
    from ..policy.model import LABEL
    return {LABEL: pol.to_json()}


def _names(project: Project, sname: str) -> set[str]:
    svc = project.services[sname]
    return {svc.container_name} if svc.container_name else {
        project.container_name(svc, n) for n in range(1, max(svc.replicas, 1) + 1)}


def _matches(project: Project, rule: Rule, peer: str) -> bool:
    if rule.kind == "service":
        return rule.peer == peer
    if rule.kind == "container":
        return rule.peer in _names(project, peer)
    if rule.kind == "network":
        return any(project.network_name(k) == rule.peer for k in project.services[peer].networks)
    return False   # a CIDR: the file does not know the addresses


def _side(project: Project, pol: Policy | None, direction: str, peer: str, proto: str,
          port: int) -> bool:
    rules = None if pol is None else pol.rules(direction)
    if rules is None:
        return True
    for r in rules:
        if _matches(project, r, peer) and any(
                p.proto == proto and (proto == "icmp" or p.lo <= port <= p.hi) for p in r.ports):
            return True
    return False


def allows(project: Project, a: str, b: str, proto: str = "tcp", port: int = 0) -> bool:
    """True when neither a's egress nor b's ingress policy forbids a -> b port/proto."""
    pa = service_policy(project, project.services[a])
    pb = service_policy(project, project.services[b])
    return _side(project, pa, "egress", b, proto, port) and \
        _side(project, pb, "ingress", a, proto, port)


def policy_ports(project: Project, a: str, b: str) -> list[int]:
    """The TCP ports the policies of a (egress) and b (ingress) name for the pair:
    compose check probes each of them (single ports and the ends of a range)."""
    out = set()
    for sname, direction, peer in ((a, "egress", b), (b, "ingress", a)):
        pol = service_policy(project, project.services[sname])
        for r in (pol.rules(direction) or ()) if pol else ():
            if _matches(project, r, peer):
                for p in r.ports:
                    if p.proto == "tcp" and (p.lo, p.hi) != (0, 65535):
                        out.update({p.lo, p.hi})
    return sorted(out)
