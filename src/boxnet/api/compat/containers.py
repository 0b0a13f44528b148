"""Version differences of the container endpoints (dockerd's container
router: postContainersCreate, getContainersByName, getContainersJSON,
postContainerUpdate).

Requests (`container.create`, `container.update`) are brought up to 1.52:
a field an older version did not have is dropped, as dockerd drops it, and
what an older version refused is refused with dockerd's words. Answers
(`container.inspect`, `container.list`) are brought down from 1.52: the
fields 1.52 removed come back, the ones it added go.

Where dockerd 29 and the dockerd that first served a version disagree, the
older client is given the superset: before 1.52 inspect's NetworkSettings
carries every deprecated top-level field (`Bridge`, `HairpinMode`, the
link-local and secondary addresses, and the default bridge's `EndpointID`,
`Gateway`, `IPAddress`, `IPPrefixLen`, `IPv6Gateway`, `GlobalIPv6Address`,
`GlobalIPv6PrefixLen`, `MacAddress`, empty when the container is not on
`bridge`), as dockerd did up to 28; dockerd 29 sends only the eight bridge
fields, and only for a container on `bridge`.
"""

from __future__ import annotations

from ..versions import older
from . import Rule, refuse

NOT_USER_DEFINED = ("bridge", "host", "none", "default")


def _hc(doc: dict) -> dict:
    hc = doc.get("HostConfig")
    return hc if isinstance(hc, dict) else {}


def _endpoints(doc: dict) -> dict:
    nc = doc.get("NetworkingConfig")
    eps = nc.get("EndpointsConfig") if isinstance(nc, dict) else None
    return eps if isinstance(eps, dict) else {}


def _mounts(doc: dict) -> list:
    return [m for m in (_hc(doc).get("Mounts") or []) if isinstance(m, dict)]


# ---- POST /containers/create ---------------------------------------------------

def _no_auto_remove(doc: dict, facts: dict) -> None:
    if "AutoRemove" in _hc(doc):
        _hc(doc)["AutoRemove"] = False   # 1.24: the client removes the container itself


def _no_annotations(doc: dict, facts: dict) -> None:
    _hc(doc).pop("Annotations", None)


def _one_network_only(doc: dict, facts: dict) -> None:
    eps = _endpoints(doc)
    if len(eps) > 1:
        refuse("Container cannot be created with multiple network endpoints: "
               + ", ".join(eps))


def _no_start_interval(doc: dict, facts: dict) -> None:
    hc = doc.get("Healthcheck")
    if isinstance(hc, dict):
        hc.pop("StartInterval", None)


def _no_force_recursive(doc: dict, facts: dict) -> None:
    for m in _mounts(doc):
        bo = m.get("BindOptions")
        if m.get("Type") == "bind" and isinstance(bo, dict) and bo.get("ReadOnlyForceRecursive"):
            refuse("BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer")


def _no_subpath(doc: dict, facts: dict) -> None:
    for m in _mounts(doc):
        vo = m.get("VolumeOptions")
        if isinstance(vo, dict) and vo.get("Subpath"):
            refuse("VolumeOptions.Subpath needs API v1.45 or newer")


def _no_gw_priority(doc: dict, facts: dict) -> None:
    for ep in _endpoints(doc).values():
        if isinstance(ep, dict):
            ep.pop("GwPriority", None)   # all endpoints had the same priority


def _no_image_mounts(doc: dict, facts: dict) -> None:
    for m in _mounts(doc):
        if m.get("Type") == "image":
            refuse('Mount type "Image" needs API v1.48 or newer')


def _lenient_mount_options(doc: dict, facts: dict) -> None:
    # Options of another mount type were not validated before 1.42: dropped.
    for m in _mounts(doc):
        if m.get("Type") != "volume":
            m.pop("VolumeOptions", None)
        if m.get("Type") != "tmpfs":
            m.pop("TmpfsOptions", None)
        if isinstance(m.get("BindOptions"), dict):
            m["BindOptions"].pop("CreateMountpoint", None)
    _hc(doc).pop("ConsoleSize", None)   # not honoured on Linux before 1.42


def _no_non_recursive(doc: dict, facts: dict) -> None:
    for m in _mounts(doc):
        if isinstance(m.get("BindOptions"), dict):
            m["BindOptions"].pop("NonRecursive", None)
    _hc(doc).pop("KernelMemoryTCP", None)


ENDPOINT_SYSCTLS = "com.docker.network.endpoint.sysctls"


def _migrate_eth_sysctls(doc: dict, facts: dict) -> None:
    # dockerd's handleSysctlBC: up to 1.47 a top-level net.*.*.eth0.* sysctl moves to
    # the main network's endpoint (eth0 was the only name that was reliable there).
    hc = _hc(doc)
    sysctls = hc.get("Sysctls")
    mode = hc.get("NetworkMode") or "default"
    if not isinstance(sysctls, dict) or mode in ("host", "none") or mode.startswith("container:"):
        return
    moved = []
    for k, v in sysctls.items():
        spl = k.split(".", 4)
        if len(spl) == 5 and spl[0] == "net" and spl[3].startswith("eth"):
            if spl[3] != "eth0":
                refuse(f"unable to determine network endpoint for sysctl {k}, use driver "
                       f"option '{ENDPOINT_SYSCTLS}' to set per-interface sysctls")
            moved.append((k, f"net.{spl[1]}.{spl[2]}.IFNAME.{spl[4]}={v}"))
    if not moved:
        return
    nc = doc.get("NetworkingConfig") if isinstance(doc.get("NetworkingConfig"), dict) else {}
    doc["NetworkingConfig"] = nc
    eps = nc.get("EndpointsConfig") if isinstance(nc.get("EndpointsConfig"), dict) else {}
    nc["EndpointsConfig"] = eps
    main = "bridge" if mode == "default" else mode
    ep = eps.get(main) if isinstance(eps.get(main), dict) else None
    if ep is None:
        ep = eps[main] = {}
    opts = ep.get("DriverOpts") if isinstance(ep.get("DriverOpts"), dict) else {}
    ep["DriverOpts"] = opts
    value = ",".join(x for _, x in moved)
    if opts.get(ENDPOINT_SYSCTLS):   # the endpoint's own settings win (they come last)
        value += "," + opts[ENDPOINT_SYSCTLS]
    opts[ENDPOINT_SYSCTLS] = value
    for k, _ in moved:
        del sysctls[k]


# ---- POST /containers/{id}/update -----------------------------------------------

def _no_pids_limit(doc: dict, facts: dict) -> None:
    doc.pop("PidsLimit", None)


# ---- GET /containers/{id}/json ---------------------------------------------------

LEGACY_BRIDGE_FIELDS = ("EndpointID", "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen",
                        "IPAddress", "IPPrefixLen", "IPv6Gateway", "MacAddress")
_EMPTY = {"EndpointID": "", "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
          "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": ""}


def _legacy_network_settings(doc: dict, facts: dict) -> None:
    ns = doc.get("NetworkSettings")
    if not isinstance(ns, dict):
        return
    bridge = (ns.get("Networks") or {}).get("bridge") or {}
    out = {"Bridge": ""}
    out.update({k: v for k, v in ns.items() if k != "Networks"})
    out.update({"HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
                "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None})
    out.update({k: bridge.get(k, _EMPTY[k]) for k in LEGACY_BRIDGE_FIELDS})
    out["Networks"] = ns.get("Networks")
    doc["NetworkSettings"] = out


def desired_mac(cont, networks: dict) -> str:
    """The MAC the container asked for on its main network (HostConfig.NetworkMode's),
    or ""."""
    mode = cont.config.network_mode or "default"
    main = "bridge" if mode == "default" else mode
    hexid = all(ch in "0123456789abcdef" for ch in main)
    for nid, st in cont.networks.items():
        nw = networks.get(nid)
        if (nw is not None and main == nw.name) or (hexid and nid.startswith(main)):
            return st.mac or ""
    return ""


def _config_mac(doc: dict, facts: dict) -> None:
    cont, networks = facts.get("container"), facts.get("networks") or {}
    mac = desired_mac(cont, networks) if cont is not None else ""
    if mac and isinstance(doc.get("Config"), dict):
        doc["Config"]["MacAddress"] = mac


def _kernel_memory_tcp(doc: dict, facts: dict) -> None:
    hc = doc.get("HostConfig")
    if isinstance(hc, dict):
        hc.setdefault("KernelMemoryTCP", 0)


def _aliases_with_short_id(doc: dict, facts: dict) -> None:
    short = str(doc.get("Id", ""))[:12]
    hostname = (doc.get("Config") or {}).get("Hostname", "")
    for name, ep in ((doc.get("NetworkSettings") or {}).get("Networks") or {}).items():
        if name in NOT_USER_DEFINED or not isinstance(ep, dict):
            continue
        seen: list[str] = []
        for a in list(ep.get("Aliases") or []) + [short, hostname]:
            if a and a not in seen:
                seen.append(a)
        ep["Aliases"] = seen


# ---- GET /containers/{id}/logs ---------------------------------------------------

def logs_content_type(request, tty: bool) -> str:
    """The logs stream's Content-Type: the multiplexed type (frames with 8-byte
    headers) for a container without a TTY from 1.42 on; before 1.42 dockerd named
    every logs stream raw-stream (the frames are the same)."""
    if tty or older(request, "1.42"):
        return "application/vnd.docker.raw-stream"
    return "application/vnd.docker.multiplexed-stream"


# ---- GET /containers/json -------------------------------------------------------

def _no_summary_health(doc: dict, facts: dict) -> None:
    doc.pop("Health", None)


RULES: tuple[Rule, ...] = (
    Rule("container.create", "1.25", "HostConfig.AutoRemove ignored (the client removed)",
         _no_auto_remove),
    Rule("container.create", "1.40", "BindOptions.NonRecursive and KernelMemoryTCP ignored",
         _no_non_recursive),
    Rule("container.create", "1.42", "VolumeOptions/TmpfsOptions of another mount type, "
         "BindOptions.CreateMountpoint and ConsoleSize ignored", _lenient_mount_options),
    Rule("container.create", "1.43", "HostConfig.Annotations ignored", _no_annotations),
    Rule("container.create", "1.44", "several EndpointsConfig refused (dockerd's words)",
         _one_network_only),
    Rule("container.create", "1.44", "Healthcheck.StartInterval ignored", _no_start_interval),
    Rule("container.create", "1.44", "BindOptions.ReadOnlyForceRecursive refused",
         _no_force_recursive),
    Rule("container.create", "1.45", "VolumeOptions.Subpath refused", _no_subpath),
    Rule("container.create", "1.48", "EndpointsConfig.*.GwPriority ignored (all 0)",
         _no_gw_priority),
    Rule("container.create", "1.48", "Mounts of type image refused", _no_image_mounts),
    Rule("container.create", "1.48", "HostConfig.Sysctls net.*.*.eth0.* moved to the main "
         "network's endpoint DriverOpts com.docker.network.endpoint.sysctls (IFNAME)",
         _migrate_eth_sysctls),
    Rule("container.update", "1.40", "PidsLimit ignored", _no_pids_limit),
    Rule("container.inspect", "1.52", "NetworkSettings' deprecated top-level fields "
         "(Bridge, the default bridge's IPAddress, Gateway, MacAddress...) shown",
         _legacy_network_settings),
    Rule("container.inspect", "1.52", "Config.MacAddress: the MAC asked for on the main "
         "network", _config_mac),
    Rule("container.inspect", "1.52", "HostConfig.KernelMemoryTCP shown", _kernel_memory_tcp),
    Rule("container.inspect", "1.45", "Aliases on user-defined networks include the short "
         "id and the hostname", _aliases_with_short_id),
    Rule("container.list", "1.52", "no Health summary", _no_summary_health),
)
