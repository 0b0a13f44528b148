"""`boxnet network ...`: create, ls, inspect, rm, connect, disconnect, prune."""

from __future__ import annotations

import ipaddress

import click

from .each import echo_each, inspect_each, quote_segment
from .formatting import natural_key, trunc_id, write_list
from .options import (DockerGroup, Failure, confirm, filters_query, parse_map, print_err,
                      split_strings)


_q = quote_segment


def _matches(subnet: str, data: str) -> bool:
    """docker's subnetMatches: is the address (or CIDR's address) inside subnet?"""
    try:
        net = ipaddress.ip_network(subnet, strict=False)
        addr = ipaddress.ip_interface(data).ip if "/" in data else ipaddress.ip_address(data)
    except ValueError as e:
        raise Failure(f"invalid CIDR address: {e}") from None
    return addr.version == net.version and addr in net


def build_ipam_config(subnets: list[str], ranges: list[str], gateways: list[str],
                      aux: dict[str, str]) -> list[dict]:
    """Pair --subnet/--ip-range/--gateway/--aux-address like docker's createIPAMConfig."""
    if len(subnets) < len(ranges) or len(subnets) < len(gateways):
        raise Failure("every ip-range or gateway must have a corresponding subnet")
    data: dict[str, dict] = {}
    for s in subnets:
        for k in data:
            if _matches(s, k) or _matches(k, s):
                raise Failure("multiple overlapping subnet configuration is not supported")
        data[s] = {"Subnet": s}
    for kind, key, values in (("range", "IPRange", ranges), ("gateway", "Gateway", gateways)):
        for v in values:
            match = False
            for s in subnets:
                if not _matches(s, v):
                    continue
                if data[s].get(key):
                    what = "ranges" if kind == "range" else "gateways"
                    prep = "on" if kind == "range" else "for"
                    raise Failure(f"cannot configure multiple {what} ({v}, {data[s][key]}) "
                                  f"{prep} the same subnet ({s})")
                data[s][key] = v
                match = True
            if not match:
                raise Failure(f"no matching subnet for {kind} {v}")
    for k, a in aux.items():
        match = False
        for s in subnets:
            if _matches(s, a):
                data[s].setdefault("AuxiliaryAddresses", {})[k] = a
                match = True
        if not match:
            raise Failure(f"no matching subnet for aux-address {a}")
    order = ("Subnet", "IPRange", "Gateway", "AuxiliaryAddresses")
    return [{k: d[k] for k in order if k in d} for d in data.values()]


@click.group("network", cls=DockerGroup)
def network() -> None:
    """Manage networks"""


@network.command("create")
@click.option("-d", "--driver", default="bridge", help="Driver to manage the Network")
@click.option("--subnet", multiple=True, help="Subnet in CIDR format")
@click.option("--gateway", multiple=True, help="IPv4 or IPv6 Gateway for the master subnet")
@click.option("--ip-range", multiple=True, help="Allocate container ip from a sub-range")
@click.option("--aux-address", multiple=True, help="Auxiliary IPv4 or IPv6 addresses")
@click.option("--ipv4/--no-ipv4", "ipv4", default=None, help="Enable IPv4 (default true)")
@click.option("--ipv6/--no-ipv6", "ipv6", default=None, help="Enable IPv6")
@click.option("--internal", is_flag=True, help="Restrict external access to the network")
@click.option("--attachable", is_flag=True, help="Enable manual container attachment")
@click.option("--ingress", is_flag=True, help="Create swarm routing-mesh network")
@click.option("--config-only", is_flag=True, help="Create a configuration only network")
@click.option("--config-from", default="", help="The network to copy the configuration from")
@click.option("--scope", default="", help="Control the network's scope")
@click.option("-o", "--opt", multiple=True, help="Set driver specific options")
@click.option("--label", multiple=True, help="Set metadata on a network")
@click.option("--ipam-driver", default="default", help="IP Address Management Driver")
@click.option("--ipam-opt", multiple=True, help="Set IPAM driver specific options")
@click.argument("name")
@click.pass_obj
def create(obj, name, driver, subnet, gateway, ip_range, aux_address, ipv4, ipv6, internal,
           attachable, ingress, config_only, config_from, scope, opt, label, ipam_driver,
           ipam_opt) -> None:
    """Create a network"""
    # docker's map flags (-o, --ipam-opt, --aux-address) take a bare KEY as KEY="".
    body = network_create_body(
        name, driver=driver, subnets=split_strings(subnet), gateways=split_strings(gateway),
        ranges=split_strings(ip_range), aux=parse_map(aux_address, "", allow_bare=True),
        ipv4=ipv4, ipv6=ipv6, internal=internal, attachable=attachable, ingress=ingress,
        config_only=config_only, config_from=config_from, scope=scope,
        options=parse_map(opt, "", allow_bare=True),
        labels=parse_map(label, "", allow_bare=True),
        ipam_driver=ipam_driver, ipam_opts=parse_map(ipam_opt, "", allow_bare=True))
    resp = obj.client.post("/networks/create", body)
    if resp.get("Warning"):
        print_err(f"WARNING: {resp['Warning']}")
    click.echo(resp["Id"])


def network_create_body(name: str, *, driver: str = "bridge", subnets=(), gateways=(),
                        ranges=(), aux=None, ipv4=None, ipv6=None, internal=False,
                        attachable=False, ingress=False, config_only=False, config_from="",
                        scope="", options=None, labels=None, ipam_driver="default",
                        ipam_opts=None) -> dict:
    """The POST /networks/create body docker 28 sends for these flags."""
    body: dict = {"Driver": driver, "Scope": scope}
    if ipv4 is not None:
        body["EnableIPv4"] = ipv4
    if ipv6 is not None:
        body["EnableIPv6"] = ipv6
    body["IPAM"] = {"Driver": ipam_driver, "Options": ipam_opts or {},
                    "Config": build_ipam_config(list(subnets), list(ranges), list(gateways),
                                                aux or {})}
    body.update({"Internal": internal, "Attachable": attachable, "Ingress": ingress,
                 "ConfigOnly": config_only,
                 "ConfigFrom": {"Network": config_from} if config_from else None,
                 "Options": options or {}, "Labels": labels or {}, "Name": name})
    return body


class NetworkRow:
    """Template fields of one `network ls` row (docker's networkContext)."""

    DEFAULT_TABLE = "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
    HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
               "IPv4": "IPV4", "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS",
               "Label": "LABEL", "CreatedAt": "CREATED AT"}
    JSON_FIELDS = ("CreatedAt", "Driver", "ID", "IPv4", "IPv6", "Internal", "Labels", "Name",
                   "Scope")

    def __init__(self, n: dict, trunc: bool = True):
        self._n = n
        self.ID = trunc_id(n.get("Id", "")) if trunc else n.get("Id", "")
        self.Name = n.get("Name", "")
        self.Driver = n.get("Driver", "")
        self.Scope = n.get("Scope", "")
        self.IPv4 = "true" if n.get("EnableIPv4", True) else "false"
        self.IPv6 = "true" if n.get("EnableIPv6") else "false"
        self.Internal = "true" if n.get("Internal") else "false"
        labels = n.get("Labels") or {}
        self.Labels = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        self.CreatedAt = go_time(n.get("Created", ""))

    def Label(self, name: str) -> str:
        """The value of one label."""
        return (self._n.get("Labels") or {}).get(name, "")


def go_time(iso: str) -> str:
    """RFC 3339 text -> Go's time.String() layout ("2006-01-02 15:04:05.999 +0000 UTC")."""
    if not iso or "T" not in iso:
        return iso
    date, _, rest = iso.partition("T")
    if rest.endswith("Z"):
        return f"{date} {rest[:-1]} +0000 UTC"
    for sep in ("+", "-"):
        if sep in rest:
            t, _, off = rest.rpartition(sep)
            return f"{date} {t} {sep}{off.replace(':', '')} {sep}{off.replace(':', '')}"
    return f"{date} {rest}"


@network.command("ls")
@click.option("-f", "--filter", "filters", multiple=True, help="Provide filter values")
@click.option("--format", "fmt", default=None, help="Format output using a custom template")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output")
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs")
@click.pass_obj
def ls(obj, filters, fmt, no_trunc, quiet) -> None:
    """List networks"""
    nets = obj.client.get("/networks", filters=filters_query(filters)) or []
    nets.sort(key=lambda n: natural_key(n.get("Name", "")))
    write_list([NetworkRow(n, not no_trunc) for n in nets], fmt, NetworkRow, quiet)


@network.command("inspect")
@click.option("-f", "--format", "fmt", default=None, help="Format output using a template")
@click.option("-v", "--verbose", is_flag=True, help="Verbose output for diagnostics")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def inspect(obj, fmt, verbose, names) -> None:
    """Display detailed information on one or more networks"""
    inspect_each(names, lambda n: obj.client.get(f"/networks/{_q(n)}",
                                                 verbose=verbose or None), fmt)


@network.command("rm")
@click.option("-f", "--force", is_flag=True, help="Do not error if the network does not exist")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def rm(obj, force, names) -> None:
    """Remove one or more networks"""
    echo_each(names, lambda n: obj.client.delete(f"/networks/{_q(n)}"), missing_ok=force,
              inline=True)


@network.command("connect")
@click.option("--alias", multiple=True, help="Add network-scoped alias for the container")
@click.option("--driver-opt", multiple=True, help="driver options for the network")
@click.option("--gw-priority", type=int, default=0, help="Highest gw-priority is the gateway")
@click.option("--ip", default="", help="IPv4 address")
@click.option("--ip6", default="", help="IPv6 address")
@click.option("--link", multiple=True, help="Add link to another container")
@click.option("--link-local-ip", multiple=True, help="Add a link-local address")
@click.argument("net")
@click.argument("container")
@click.pass_obj
def connect(obj, alias, driver_opt, gw_priority, ip, ip6, link, link_local_ip, net,
            container) -> None:
    """Connect a container to a network"""
    ipam = {}
    if ip:
        ipam["IPv4Address"] = ip
    if ip6:
        ipam["IPv6Address"] = ip6
    if link_local_ip:
        ipam["LinkLocalIPs"] = split_strings(link_local_ip)
    epc = {"IPAMConfig": ipam or None, "Links": list(link) or None,
           "Aliases": split_strings(alias) or None,
           "DriverOpts": parse_map(split_strings(driver_opt), "--driver-opt") or None,
           "GwPriority": gw_priority}
    obj.client.post(f"/networks/{_q(net)}/connect", {"Container": container, "EndpointConfig": epc})


@network.command("disconnect")
@click.option("-f", "--force", is_flag=True, help="Force the container to disconnect")
@click.argument("net")
@click.argument("container")
@click.pass_obj
def disconnect(obj, force, net, container) -> None:
    """Disconnect a container from a network"""
    obj.client.post(f"/networks/{_q(net)}/disconnect", {"Container": container, "Force": force})


@network.command("prune")
@click.option("--filter", "filters", multiple=True, help="Provide filter values")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.pass_obj
def prune(obj, filters, force) -> None:
    """Remove all unused networks"""
    warning = ("WARNING! This will remove all custom networks not used by at least one "
               "container.\nAre you sure you want to continue?")
    if not force and not confirm(warning):
        return
    report = obj.client.post("/networks/prune", filters=filters_query(filters)) or {}
    deleted = report.get("NetworksDeleted") or []
    if deleted:
        click.echo("Deleted Networks:\n" + "".join(f"{n}\n" for n in deleted))


def register(cli: click.Group) -> None:
    """Add the network commands to the top-level group."""
    network.add_command(ls, "list")
    network.add_command(rm, "remove")
    cli.add_command(network)
