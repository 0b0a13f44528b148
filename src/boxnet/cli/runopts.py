"""Turn `boxnet run` flags into the POST /containers/create body docker 28 sends.

Also parses --network's advanced `name=...,alias=...` syntax, --add-host and -e
values; -p, --restart and --security-opt values are parsed by client/specs.py (shared
with compose), whose OptionError becomes docker's usage message here.
"""

from __future__ import annotations

import os

from ..client.errors import OptionError
from ..client.specs import parse_publish, parse_restart, security_opts
from .options import Failure, parse_map
from .procflags import host_config


def usage_failure(msg: str) -> Failure:
    """An invalid flag value for run: docker's 'docker: <msg>' + help hint, exit 125."""
    return Failure(f"boxnet: {msg}\n\nRun 'boxnet run --help' for more information", 125)


def check_add_host(value: str) -> str:
    """--add-host host:ip or host=ip (docker's ValidateExtraHost)."""
    host, sep, ip = value.replace("=", ":", 1).partition(":")
    if not sep or not host or not ip:
        raise usage_failure(f'invalid argument "{value}" for "--add-host" flag: '
                            f'bad format for add-host: "{value}"')
    return value


def parse_env(values) -> list[str] | None:
    """-e KEY=VAL as is; a bare -e KEY takes KEY's value from our environment if set."""
    out = []
    for v in values:
        if "=" not in v and v in os.environ:
            v = f"{v}={os.environ[v]}"
        out.append(v)
    return out or None


def parse_network(value: str) -> dict:
    """--network NAME or the advanced form name=NAME,alias=A,ip=I,ip6=J,driver-opt=k=v."""
    if "=" not in value:
        return {"name": value}
    out: dict = {"aliases": [], "driver_opts": {}}
    for field in value.split(","):
        k, _, v = field.partition("=")
        if k == "name":
            out["name"] = v
        elif k == "alias":
            out["aliases"].append(v)
        elif k in ("ip", "ip6", "mac-address", "gw-priority"):
            out[k] = v
        elif k == "driver-opt":
            out["driver_opts"].update(parse_map([v], "--network driver-opt"))
        else:
            raise usage_failure(f"invalid field key {k}")
    if "name" not in out:
        raise usage_failure("network name/id is not specified")
    return out


def _endpoint(aliases, ip, ip6, driver_opts=None, gw_priority=0) -> dict:
    ipam = {}
    if ip:
        ipam["IPv4Address"] = ip
    if ip6:
        ipam["IPv6Address"] = ip6
    return {"IPAMConfig": ipam or None, "Links": None, "Aliases": list(aliases) or None,
            "DriverOpts": driver_opts or None, "GwPriority": gw_priority}


def networking(networks, aliases, ip, ip6) -> tuple[str, dict]:
    """NetworkMode and EndpointsConfig; --ip/--ip6/--network-alias go to the first network."""
    nets = [parse_network(n) for n in networks] or [{"name": "default"}]
    mode = nets[0]["name"]
    endpoints: dict = {}
    for i, n in enumerate(nets):
        name = n["name"]
        if name in ("host", "none") or name.startswith("container:"):
            if len(nets) > 1:
                raise usage_failure("conflicting options: cannot attach both user-defined "
                                    "and non-user-defined network-modes")
            continue
        first = i == 0
        endpoints[name] = _endpoint(
            list(n.get("aliases", [])) + (list(aliases) if first else []),
            n.get("ip") or (ip if first else ""), n.get("ip6") or (ip6 if first else ""),
            n.get("driver_opts"), int(n.get("gw-priority") or 0))
    return mode, endpoints


def create_body(o: dict) -> dict:
    """Build the create body from run's parsed flags `o` (a dict of flag values);
    an invalid value is docker's usage failure (exit 125)."""
    try:
        return _create_body(o)
    except OptionError as e:
        raise usage_failure(str(e)) from None


def _create_body(o: dict) -> dict:
    exposed: dict = {}
    bindings: dict = {}
    for spec in o["publish"]:
        for port, binding in parse_publish(spec):
            exposed[port] = {}
            bindings.setdefault(port, []).append(binding)
    for spec in o.get("expose", ()):
        port = spec if "/" in spec else f"{spec}/tcp"
        exposed[port] = {}
    restart = parse_restart(o["restart"])
    if o["rm"] and restart["Name"] not in ("no", ""):
        raise usage_failure("conflicting options: cannot specify both --restart and --rm")
    mode, endpoints = networking(o["network"], o["network_alias"], o["ip"], o["ip6"])
    attach = not o["detach"]
    entrypoint = None
    if o["entrypoint"] is not None:
        entrypoint = [o["entrypoint"]]
    body: dict = {
        "Hostname": o["hostname"], "Domainname": o.get("domainname", ""), "User": o["user"],
        "AttachStdin": attach and o["interactive"], "AttachStdout": attach,
        "AttachStderr": attach}
    if exposed:
        body["ExposedPorts"] = dict(sorted(exposed.items()))
    body.update({
        "Tty": o["tty"], "OpenStdin": o["interactive"],
        "StdinOnce": attach and o["interactive"], "Env": parse_env(o["env"]),
        "Cmd": list(o["command"]) or None, "Image": o["image"], "Volumes": {},
        "WorkingDir": o["workdir"], "Entrypoint": entrypoint,
        "Labels": parse_map(o["label"], "--label", allow_bare=True)})
    if o.get("stop_signal"):
        body["StopSignal"] = o["stop_signal"]
    if o.get("stop_timeout") is not None:
        body["StopTimeout"] = o["stop_timeout"]
    body["HostConfig"] = {
        "Binds": list(o["volume"]) or None, "NetworkMode": mode,
        "PortBindings": dict(sorted(bindings.items())), "RestartPolicy": restart,
        "AutoRemove": o["rm"], "Dns": list(o["dns"]), "DnsOptions": list(o["dns_option"]),
        "DnsSearch": list(o["dns_search"]),
        "ExtraHosts": [check_add_host(h) for h in o["add_host"]] or None,
        "Links": list(o.get("link", ())) or None,
        "Privileged": o.get("privileged", False), "PublishAllPorts": o.get("publish_all", False),
        "CapAdd": list(o.get("cap_add", ())) or None,
        "CapDrop": list(o.get("cap_drop", ())) or None,
        "Sysctls": parse_map(o.get("sysctl", ()), "--sysctl") or None,
        "GroupAdd": list(o.get("group_add", ())) or None,
        "SecurityOpt": security_opts(o.get("security_opt", ())) or None,
        **host_config(o),
    }
    body["NetworkingConfig"] = {"EndpointsConfig": endpoints}
    return body
