"""Network mode `container:<name|id>`: a container that joins the network
namespace (the sandbox) of another running container.

What Docker does, and so boxnet:
- at create, options that only make sense for an own network stack are refused
  (400 "conflicting options: ..."); the target need not exist yet (dockerd does
  not look it up at create either), but when it does, NetworkMode is stored as
  "container:<full id>", so a later rename or a new container with the old name
  does not change which namespace is meant;
- at start the target must exist and run; the sharer gets no endpoints of its
  own, joins the namespace of the target's process (/proc/<pid>/ns/net, as
  dockerd), takes its hostname and bind-mounts the target's /etc/hosts,
  /etc/resolv.conf and /etc/hostname (so the embedded DNS of the target, at
  127.0.0.11 in that namespace, answers the sharer too);
- the target may be stopped or removed while sharers run: they keep the
  namespace (the kernel keeps it while a process is in it) with whatever is
  left in it, and fail to start again until the target runs.

Functions take the Controller (`ctl`) so the core's mixins stay small.
"""

from __future__ import annotations

import os

from ..errors import BoxnetError, Conflict, InvalidParameter, NotFound
from ..model import Container, ContainerConfig, EndpointSettings
from . import sandbox

PREFIX = "container:"


def is_container_mode(mode: str) -> bool:
    """Whether a NetworkMode is `container:<name|id>` (or the bare, invalid `container`)."""
    return mode == "container" or mode.startswith(PREFIX)


def target_ref(mode: str) -> str:
    """The <name|id> part of `container:<name|id>`."""
    return mode[len(PREFIX):] if mode.startswith(PREFIX) else ""


def _conflict(what: str) -> InvalidParameter:
    return InvalidParameter(f"conflicting options: {what}")


def validate_create(cfg: ContainerConfig, endpoints: dict[str, EndpointSettings]) -> None:
    """dockerd's checks of a `container:` mode create request, in its order.

    Empty EndpointsConfig entries (old clients key one by the mode) are
    dropped from `endpoints`; any real setting is refused, as is --mac-address."""
    if not target_ref(cfg.network_mode):
        raise InvalidParameter("Invalid network mode: invalid container format "
                               "container:<name|id>")
    if cfg.hostname:
        raise _conflict("hostname and the network mode")
    if cfg.links:
        raise _conflict("container type network can't be used with links. This would "
                        "result in undefined behavior")
    if cfg.dns:
        raise _conflict("dns and the network mode")
    if cfg.dns_search or cfg.dns_options:
        # dockerd ignores these silently; its documentation calls them invalid here.
        raise _conflict("dns search/options and the network mode")
    if cfg.extra_hosts:
        raise _conflict("custom host-to-IP mapping and the network mode")
    if cfg.raw_config.get("MacAddress") or any(st.mac for st in endpoints.values()):
        raise _conflict("mac-address and the network mode")
    if cfg.port_bindings or cfg.raw_host_config.get("PublishAllPorts"):
        raise _conflict("port publishing and the container type network mode")
    if cfg.exposed_ports:
        raise _conflict("port exposing and the container type network mode")
    for ref, st in list(endpoints.items()):
        if st.aliases or st.ipv4 or st.ipv6 or st.links or st.driver_opts or st.gw_priority:
            raise _conflict(f"endpoint settings for network {ref!r} (NetworkingConfig) and "
                            f"the container type network mode: a container sharing another "
                            f"container's network namespace has no endpoints of its own")
        del endpoints[ref]


def resolve_at_create(ctl, cfg: ContainerConfig) -> None:
    """Store the target's full id when it already exists (else resolved at start)."""
    try:
        target = ctl.container(target_ref(cfg.network_mode))
    except NotFound:
        return
    cfg.network_mode = PREFIX + target.id


def network_container(ctl, c: Container) -> Container:
    """The running container whose namespace `c` joins (dockerd's errors otherwise)."""
    ref = target_ref(c.config.network_mode)
    try:
        target = ctl.container(ref)
    except NotFound as exc:
        # dockerd reports this as a system error (500): the mode was accepted at create.
        raise BoxnetError(f"joining network namespace of container: {exc.message}") from None
    if target.id == c.id:
        raise BoxnetError("cannot join own network namespace")
    if target.status != "running" or not target.pid or \
            not os.path.exists(f"/proc/{target.pid}/ns/net"):
        raise Conflict(f"cannot join network namespace of a non running container: "
                       f"container {target.name} is {target.status}")
    return target


def has_running_sharers(ctl, c: Container) -> bool:
    """Whether a running container has joined `c`'s namespace.

    Its netns then outlives `c`'s sandbox, so the endpoints must be deleted
    now (the sharers see lo only, as with Docker) rather than left to die
    with the namespace."""
    mode = PREFIX + c.id
    return any(o.status == "running" and o.config.network_mode == mode
               for o in ctl.containers.values() if o.id != c.id)


def _same_netns(path: str) -> bool:
    """Whether `path` is the daemon's own network namespace (a host-mode target)."""
    try:
        a, b = os.stat(path), os.stat("/proc/self/ns/net")
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def sandbox_owner(ctl, target: Container) -> Container:
    """The container that owns the namespace and /etc files (follows chains of sharers)."""
    seen = {target.id}
    c = target
    while is_container_mode(c.config.network_mode):
        try:
            nxt = ctl.container(target_ref(c.config.network_mode))
        except NotFound:
            break
        if nxt.id in seen:
            break
        seen.add(nxt.id)
        c = nxt
    return c


def join_target(ctl, c: Container) -> tuple[str | None, dict[str, str]]:
    """Prepare `c` to join its target's namespace at start.

    Returns (netns path for the runtime, None when the target runs in the host's
    namespace; bind-mount map of /etc files).  Records the target's full id and
    hostname in `c`'s config, as dockerd does."""
    target = network_container(ctl, c)
    c.config.network_mode = PREFIX + target.id
    c.config.hostname = target.config.hostname or target.id[:12]
    c.config.domainname = target.config.domainname
    c.sandbox_key = ""
    netns: str | None = f"/proc/{target.pid}/ns/net"
    if _same_netns(netns):
        netns = None
    owner = sandbox_owner(ctl, target)
    etc = sandbox.etc_paths(sandbox.container_dir(ctl.config.containers_dir, owner.id))
    if netns is None:
        etc.pop("/etc/hosts", None)   # host mode keeps the image's /etc/hosts
    if not all(os.path.exists(p) for p in etc.values()):
        # The owner is gone (a broken chain): the sharer gets files of its own.
        cdir = sandbox.container_dir(ctl.config.containers_dir, c.id)
        etc = sandbox.write_files(cdir, c, [], default_dns=ctl.config.dns)
    return netns, etc

