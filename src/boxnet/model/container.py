"""Container: the process side (image, command, state), pointing at its sandbox."""

import msgspec

from .endpoint import EndpointSettings
from .health import Health
from .mount import MountPoint


class PortBinding(msgspec.Struct, kw_only=True):
    """One published port: container port/proto to a host ip and port."""

    container_port: int
    proto: str = "tcp"
    host_ip: str = ""
    host_port: int = 0           # 0: a free port from the ephemeral range
    host_port_end: int = 0       # a host range host_port..host_port_end: first free one


class RestartPolicy(msgspec.Struct, kw_only=True, frozen=True):
    """Docker's restart policy: no, always, unless-stopped, on-failure[:N]."""

    name: str = "no"
    maximum_retry_count: int = 0


class ContainerConfig(msgspec.Struct, kw_only=True):
    """What the user asked for at create time (Config + HostConfig, flattened)."""

    image: str
    cmd: list[str] = []
    entrypoint: list[str] = []
    env: list[str] = []
    hostname: str = ""
    domainname: str = ""
    working_dir: str = ""
    labels: dict[str, str] = {}
    tty: bool = False
    open_stdin: bool = False
    exposed_ports: list[str] = []
    network_mode: str = "bridge"
    port_bindings: list[PortBinding] = []
    dns: list[str] = []
    dns_search: list[str] = []
    dns_options: list[str] = []
    extra_hosts: list[str] = []
    links: list[str] = []           # legacy --link name[:alias] (HostConfig.Links)
    binds: list[str] = []
    auto_remove: bool = False
    restart_policy: RestartPolicy = RestartPolicy()
    raw_config: dict = {}        # the Config as sent, echoed by inspect
    raw_host_config: dict = {}   # the HostConfig as sent, echoed by inspect


class Container(msgspec.Struct, kw_only=True):
    """A container as stored; state changes are committed before replies."""

    id: str
    name: str
    created: str
    config: ContainerConfig
    image_id: str = ""
    status: str = "created"      # created|running|paused|restarting|removing|exited|dead
    pid: int = 0
    # Who `pid` is (kernel/procid.py): its start time in clock ticks since boot
    # and the boot's id; a recorded pid is trusted again only when both match.
    pid_start: int = 0
    boot_id: str = ""
    exit_code: int = 0
    started_at: str = "0001-01-01T00:00:00Z"
    finished_at: str = "0001-01-01T00:00:00Z"
    restart_count: int = 0
    sandbox_key: str = ""        # path of the pinned netns ("" for host mode)
    # (st_dev, st_ino) of that netns at create: a re-pin from the living
    # process (core/recovery.py) checks it finds this very namespace
    netns_dev: int = 0
    netns_ino: int = 0
    manually_stopped: bool = False
    error: str = ""
    networks: dict[str, EndpointSettings] = {}  # network id -> settings, in join order
    paused: bool = False         # frozen by `docker pause` (status stays "running", as Docker's Running)
    oom_killed: bool = False     # the memory cgroup's OOM killer struck during the last run
    health: Health | None = None   # State.Health while a healthcheck probes it (core/healthmon.py)
    mounts: list[MountPoint] = []   # volumes, binds, tmpfs resolved at create (core/mounts.py)
