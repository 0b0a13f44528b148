"""The CNI network configuration and environment of one invocation (sans-I/O).

Checked before anything is asked of the daemon: a wrong cniVersion is error 1, an
unknown field error 2 (the message names the key and its value, as the spec asks),
a missing or bad CNI_* variable error 4, undecodable JSON error 6, a config that
makes no sense error 7.  boxnet's IPAM owns the addresses, so an ``ipam`` section is
refused (error 2); ``ips``/``mac`` come from runtimeConfig, args.cni or CNI_ARGS.
"""

from __future__ import annotations

import json
import re

SPEC_VERSION = "1.1.0"
SUPPORTED = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
COMMANDS = ("ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION")

# CNI's well-known error codes (SPEC.md "Error")
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENV = 4
IO_FAILURE = 5
DECODE_FAILURE = 6
INVALID_CONFIG = 7
TRY_AGAIN = 11
NOT_AVAILABLE = 50

# keys of a plugin's configuration: the spec's, then boxnet's own
STANDARD_KEYS = {"cniVersion", "cniVersions", "name", "type", "args", "ipMasq", "ipam", "dns",
                 "capabilities", "runtimeConfig", "prevResult", "disableCheck", "disableGC",
                 "cni.dev/valid-attachments", "cni.dev/attachments"}
BOXNET_KEYS = {"network", "socket"}
RUNTIME_KEYS = {"ips", "mac", "portMappings"}
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_IFNAME = re.compile(r"^[^\s/:]{1,15}$")


class CniError(Exception):
    """A CNI error: printed as {"cniVersion", "code", "msg", "details"}, exit status 1."""

    def __init__(self, code: int, msg: str, details: str = ""):
        super().__init__(msg)
        self.code, self.msg, self.details = code, msg, details

    def to_json(self, version: str = SPEC_VERSION) -> dict:
        """The spec's error object."""
        out = {"cniVersion": version, "code": self.code, "msg": self.msg}
        if self.details:
            out["details"] = self.details
        return out


def vtuple(v: str) -> tuple[int, ...]:
    """"1.0.0" -> (1, 0, 0)."""
    return tuple(int(p) for p in v.split("."))


def parse_conf(raw: bytes, command: str) -> dict:
    """Decode and check the network configuration from stdin; returns it."""
    try:
        conf = json.loads(raw or b"{}")
    except ValueError as e:
        raise CniError(DECODE_FAILURE, "cannot decode the network configuration", str(e)) from None
    if not isinstance(conf, dict):
        raise CniError(DECODE_FAILURE, "the network configuration is not a JSON object")
    version = conf.get("cniVersion")
    if not isinstance(version, str) or version not in SUPPORTED:
        raise CniError(INCOMPATIBLE_VERSION, f"incompatible CNI version {version!r}",
                       f"boxnet supports {', '.join(SUPPORTED)}")
    if command in ("STATUS", "GC") and vtuple(version) < (1, 1, 0):
        raise CniError(INCOMPATIBLE_VERSION,
                       f"{command} needs cniVersion 1.1.0 or later, the config says {version}")
    for key, value in conf.items():
        if key not in STANDARD_KEYS and key not in BOXNET_KEYS:
            raise CniError(UNSUPPORTED_FIELD, f"unsupported field {key}={json.dumps(value)}",
                           "boxnet knows the spec's keys and network, socket")
    if "ipam" in conf:
        raise CniError(UNSUPPORTED_FIELD, f"unsupported field ipam={json.dumps(conf['ipam'])}",
                       "boxnetd's IPAM owns the addresses: ask for one with the ips arg")
    if conf.get("ipMasq") is not None:
        raise CniError(UNSUPPORTED_FIELD, f"unsupported field ipMasq={json.dumps(conf['ipMasq'])}",
                       "masquerade is the boxnet network's (com.docker.network.bridge.enable_ip_masquerade)")
    for key in ("name", "type"):
        if not isinstance(conf.get(key), str) or not conf[key]:
            raise CniError(INVALID_CONFIG, f"the network configuration has no {key}")
    for key in ("network", "socket"):
        if key in conf and (not isinstance(conf[key], str) or not conf[key]):
            raise CniError(INVALID_CONFIG, f"{key} must be a non-empty string")
    rc = conf.get("runtimeConfig", {})
    if not isinstance(rc, dict):
        raise CniError(INVALID_CONFIG, "runtimeConfig must be an object")
    for key, value in rc.items():
        if key not in RUNTIME_KEYS:
            raise CniError(UNSUPPORTED_FIELD, f"unsupported field runtimeConfig.{key}="
                           f"{json.dumps(value)}", "boxnet honours ips, mac, portMappings")
    return conf


def env_args(env: dict, command: str) -> dict:
    """The CNI_* variables the command needs, checked (error 4 names the variable)."""
    out = {"command": command}
    need = {"ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
            "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
            "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME")}.get(command, ())
    for var in need:
        if not env.get(var):
            raise CniError(INVALID_ENV, f"{var} is not set", f"{command} needs {', '.join(need)}")
    out["container_id"] = env.get("CNI_CONTAINERID", "")
    out["netns"] = env.get("CNI_NETNS", "")
    out["ifname"] = env.get("CNI_IFNAME", "")
    if out["ifname"] and not _IFNAME.match(out["ifname"]):
        raise CniError(INVALID_ENV, f"CNI_IFNAME {out['ifname']!r} is not an interface name")
    if command in ("ADD", "CHECK") and not out["netns"].startswith("/"):
        raise CniError(INVALID_ENV, f"CNI_NETNS {out['netns']!r} is not an absolute path")
    return out


def _cni_args(env: dict) -> dict:
    """CNI_ARGS "K=V;K2=V2" as a dict (IgnoreUnknown honoured as in the reference plugins)."""
    out = {}
    for part in filter(None, env.get("CNI_ARGS", "").split(";")):
        k, sep, v = part.partition("=")
        if not sep:
            raise CniError(INVALID_ENV, f"CNI_ARGS: {part!r} is not KEY=VALUE")
        out[k] = v
    return out


def wanted(conf: dict, env: dict) -> tuple[list[str], str]:
    """The addresses (plain, at most one per family) and MAC asked for, from
    runtimeConfig, then args.cni, then CNI_ARGS IP=/MAC=; bad ones are error 7."""
    import ipaddress   # ADD only: kept off the other commands' start-up
    rc = conf.get("runtimeConfig", {})
    cni = (conf.get("args") or {}).get("cni") or {}
    cargs = _cni_args(env)
    ignore = cargs.pop("IgnoreUnknown", "").lower() in ("1", "true")
    for k in list(cargs):
        if k not in ("IP", "MAC", "K8S_POD_NAME", "K8S_POD_NAMESPACE", "K8S_POD_INFRA_CONTAINER_ID",
                     "K8S_POD_UID"):
            if not ignore:
                raise CniError(INVALID_ENV, f"CNI_ARGS: unknown argument {k}",
                               "boxnet knows IP and MAC (IgnoreUnknown=1 to pass others)")
    ips = rc.get("ips") or cni.get("ips") or [a for a in cargs.get("IP", "").split(",") if a]
    mac = rc.get("mac") or cni.get("mac") or cargs.get("MAC", "")
    if not isinstance(ips, list) or not all(isinstance(a, str) for a in ips):
        raise CniError(INVALID_CONFIG, "ips must be a list of addresses")
    plain, families = [], set()
    for a in ips:
        try:
            ip = ipaddress.ip_interface(a).ip
        except ValueError:
            raise CniError(INVALID_CONFIG, f"ips: {a!r} is not an IP address") from None
        if ip.version in families:
            raise CniError(INVALID_CONFIG, f"ips: more than one IPv{ip.version} address")
        families.add(ip.version)
        plain.append(str(ip))
    if mac and (not isinstance(mac, str) or not _MAC.match(mac)):
        raise CniError(INVALID_CONFIG, f"mac: {mac!r} is not a MAC address")
    return plain, mac.lower() if mac else ""


def port_mappings(conf: dict) -> list[dict]:
    """runtimeConfig.portMappings checked: [{hostPort, containerPort, protocol, hostIP}]."""
    out = []
    for pm in conf.get("runtimeConfig", {}).get("portMappings") or []:
        if not isinstance(pm, dict):
            raise CniError(INVALID_CONFIG, "portMappings: an entry is not an object")
        extra = set(pm) - {"hostPort", "containerPort", "protocol", "hostIP"}
        if extra:
            raise CniError(UNSUPPORTED_FIELD, f"unsupported field portMappings.{sorted(extra)[0]}")
        hp, cp = pm.get("hostPort"), pm.get("containerPort")
        proto = (pm.get("protocol") or "tcp").lower()
        if not all(isinstance(p, int) and 0 < p < 65536 for p in (hp, cp)):
            raise CniError(INVALID_CONFIG, f"portMappings: bad port in {json.dumps(pm)}")
        if proto not in ("tcp", "udp", "sctp"):
            raise CniError(INVALID_CONFIG, f"portMappings: bad protocol {proto!r}")
        out.append({"hostPort": hp, "containerPort": cp, "protocol": proto,
                    "hostIP": pm.get("hostIP") or ""})
    return out


def valid_attachments(conf: dict) -> list[tuple[str, str]]:
    """GC's cni.dev/valid-attachments as (containerID, ifname) pairs."""
    raw = conf.get("cni.dev/valid-attachments", [])
    if not isinstance(raw, list):
        raise CniError(INVALID_CONFIG, "cni.dev/valid-attachments must be a list")
    out = []
    for a in raw:
        if not isinstance(a, dict) or not isinstance(a.get("containerID"), str):
            raise CniError(INVALID_CONFIG, "cni.dev/valid-attachments: bad entry")
        out.append((a["containerID"], str(a.get("ifname", ""))))
    return out


def shape_result(result: dict, version: str, prev: dict | None) -> dict:
    """The daemon's 1.x result in the config's version, chained after ``prev``
    (a prevResult: its interfaces first, ours appended, our ips' indices moved)."""
    interfaces, ips = list(result["interfaces"]), [dict(i) for i in result["ips"]]
    routes, dns = list(result.get("routes", [])), dict(result.get("dns", {}))
    if prev:
        base = len(prev.get("interfaces") or [])
        for ip in ips:
            ip["interface"] += base
        interfaces = (prev.get("interfaces") or []) + interfaces
        ips = (prev.get("ips") or []) + ips
        routes = (prev.get("routes") or []) + routes
        dns = prev.get("dns") or dns
    if vtuple(version) < (1, 0, 0):   # 0.3.x/0.4.0 name each address's family
        for ip in ips:
            ip.setdefault("version", "6" if ":" in ip["address"] else "4")
    out = {"cniVersion": version, "interfaces": interfaces, "ips": ips, "routes": routes}
    out["dns"] = dns
    return out


def prepare(command: str, raw: bytes, env: dict) -> tuple[dict, dict]:
    """Check an invocation (not VERSION); returns (conf, the daemon's request body)."""
    conf = parse_conf(raw, command)
    args = env_args(env, command)
    body = {**args, "network": conf.get("network") or conf["name"], "name": conf["name"]}
    if command == "ADD":
        body["ips"], body["mac"] = wanted(conf, env)
        body["port_mappings"] = port_mappings(conf)
    elif command == "CHECK":
        body["prev_result"] = conf.get("prevResult") or {}
    elif command == "GC":
        body["valid"] = valid_attachments(conf)
    return conf, body


def finish(command: str, conf: dict, out: dict) -> dict | None:
    """What the plugin prints for the daemon's answer ``out`` (ADD: the chained result)."""
    if command != "ADD":
        return None
    if conf.get("dns"):
        out = {**out, "dns": conf["dns"]}
    return shape_result(out, conf["cniVersion"], conf.get("prevResult"))


def version_answer() -> dict:
    """VERSION's answer."""
    return {"cniVersion": SPEC_VERSION, "supportedVersions": SUPPORTED}
