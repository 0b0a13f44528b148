"""Checks of a container's policy against the engine, at create (issue 20 section 1).

policy/model.py checks a policy on its own (syntax, overlaps, names no
container, service or network could ever have).  What needs the engine's
state is here, run by ``PolicyKeeper.check_create`` before anything is
recorded:

* a ``network`` rule must name a network that exists (compose creates its
  networks before its containers; a network removed later simply matches
  nothing);
* a published port (``-p``, or ``-P`` of the exposed ports) of a container
  with an ingress policy must be granted to some address outside by a
  ``cidr`` rule covering its port and protocol: publishing says "reachable
  from outside", an ingress policy that lets no outside address in on that
  port says the opposite, and boxnet refuses the contradiction with a 400
  rather than publish a port nobody can reach;
* a ``service`` or ``container`` rule naming nothing that exists yet is
  accepted (the peer may come later: db's ingress names app before app is
  created) but never silently: each such name is a ``Warnings`` entry of the
  create response (the docker CLI prints it as ``WARNING: ...``), and
  ``network diagnose`` says it again when the policy is what denies;
* a compose service whose file declares an ``x-boxnet`` policy that its
  client did not pass (docker compose v2 drops ``x-`` extensions) is refused
  rather than run without it.
"""

from __future__ import annotations

from ..errors import InvalidParameter
from ..policy.compile import COMPOSE_PROJECT, COMPOSE_SERVICE
from ..policy.model import DIRECTIONS, Policy, PolicyError, from_labels


def parse_labels(labels: dict[str, str]) -> Policy | None:
    """The policy of these labels (None without one); a bad one is a 400."""
    try:
        return from_labels(labels)
    except PolicyError as exc:
        raise InvalidParameter(f"invalid policy: {exc}") from None


def published(cfg) -> list[tuple[int, str]]:
    """(container port, proto) of every port the container will publish, as
    core/ports.py will: its PortBindings, plus its exposed ports with -P."""
    out = [(b.container_port, b.proto or "tcp") for b in cfg.port_bindings]
    if cfg.raw_host_config.get("PublishAllPorts"):
        for spec in cfg.exposed_ports:
            port, _, proto = spec.partition("/")
            if port.isdigit():
                out.append((int(port), proto or "tcp"))
    return sorted(set(out))


def check_published(pol: Policy, cfg) -> None:
    """Refuse a published port the container's own ingress policy closes to
    every address outside (a 400 naming the port and the fix)."""
    rules = pol.ingress
    if rules is None or cfg.network_mode in ("host", "none") or \
            cfg.network_mode.startswith("container:"):
        return
    for port, proto in published(cfg):
        if not any(r.kind == "cidr" and any(p.proto == proto and p.lo <= port <= p.hi
                                            for p in r.ports) for r in rules):
            raise InvalidParameter(
                f"invalid policy: port {port}/{proto} is published, but the container's "
                f"ingress policy lets no address outside reach it: add a cidr rule for it "
                f"(e.g. {{\"cidr\": \"0.0.0.0/0\", \"ports\": [\"{port}/{proto}\"]}}) or do "
                f"not publish it")


def check_networks(pol: Policy, network_exists) -> None:
    """Refuse a ``network`` rule naming a network that does not exist."""
    for d in DIRECTIONS:
        for r in pol.rules(d) or ():
            if r.kind == "network" and not network_exists(r.peer):
                raise InvalidParameter(f"invalid policy: {d} rule names network {r.peer!r}, "
                                       f"which does not exist (create it first)")


def _service_of(labels) -> tuple[str, str]:
    return labels.get(COMPOSE_SERVICE, ""), labels.get(COMPOSE_PROJECT, "")


def unmatched(pol: Policy, owner_name: str, owner_labels: dict, containers) -> list[tuple]:
    """(direction, kind, name) of each service/container rule that no container
    in ``containers`` (any state) matches, the owner itself counted as one."""
    own_svc, own_proj = _service_of(owner_labels)
    names = {c.name.lstrip("/") for c in containers} | {owner_name}
    services = {_service_of(c.config.labels) for c in containers} | {(own_svc, own_proj)}
    out = []
    for d in DIRECTIONS:
        for r in pol.rules(d) or ():
            if r.kind == "container" and r.peer not in names:
                out.append((d, r.kind, r.peer))
            elif r.kind == "service" and not any(
                    s == r.peer and (not own_proj or p == own_proj) for s, p in services):
                out.append((d, r.kind, r.peer))
    return out


def warning(direction: str, kind: str, name: str) -> str:
    """The create response's Warnings entry for a name that matches nothing yet."""
    what = "container of that name" if kind == "container" else "container of that service"
    return (f"com.boxnet.policy: the {direction} rule naming {kind} {name!r} matches no "
            f"container yet; it allows nothing until a {what} exists")


CONFIG_FILES = "com.docker.compose.project.config_files"


def dropped_extension(labels: dict) -> str:
    """The compose file that gives this service an ``x-boxnet`` policy its client
    did not pass ("" when none): docker compose v2 keeps ``x-`` extensions to
    itself, so a policy declared there would otherwise be silently not enforced.
    Read from the files the container's own compose labels name (unreadable
    ones are skipped: a remote client's files are not here)."""
    svc = labels.get(COMPOSE_SERVICE, "")
    files = [f for f in labels.get(CONFIG_FILES, "").split(",") if f]
    if not svc or not files:
        return ""
    import yaml
    for path in files:
        try:
            doc = yaml.safe_load(_read_small(path))
        except (OSError, ValueError, yaml.YAMLError):
            continue
        ext = ((doc or {}).get("services") or {}).get(svc) if isinstance(doc, dict) else None
        ext = ext.get("x-boxnet") if isinstance(ext, dict) else None
        if isinstance(ext, dict) and "policy" in ext:
            return path
    return ""


MAX_FILE = 4 << 20


def _read_small(path: str) -> str:
    """A regular file of at most MAX_FILE bytes (a label names it: never block the
    daemon on a FIFO or read a device without end)."""
    import os
    import stat
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE:
            raise ValueError(f"{path}: not a regular file of at most {MAX_FILE} bytes")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(MAX_FILE + 1).decode("utf-8")
    finally:
        os.close(fd)


def check_create(cfg, name: str, network_exists, containers) -> list[str]:
    """Every create-time check of ``cfg``'s policy; the warnings to return."""
    pol = parse_labels(cfg.labels)
    if pol is None:
        path = dropped_extension(cfg.labels)
        if path:
            raise InvalidParameter(
                f"invalid policy: service {cfg.labels[COMPOSE_SERVICE]!r} declares an "
                f"x-boxnet policy in {path}, but its client did not pass it (docker compose "
                f"v2 drops x- extensions): run it with `boxnet compose`, or give the service "
                f"the label com.boxnet.policy with the policy as JSON")
        return []
    check_networks(pol, network_exists)
    check_published(pol, cfg)
    return [warning(*u) for u in unmatched(pol, name or "", cfg.labels, containers)]
