"""`boxnet port` (docker port) and `boxnet system firewall-reload`."""

from __future__ import annotations

import click

from .options import DockerCommand, Failure, print_err


def _fmt(binding: dict) -> str:
    ip = binding.get("HostIp") or "0.0.0.0"
    return f"[{ip}]:{binding.get('HostPort')}" if ":" in ip else f"{ip}:{binding.get('HostPort')}"


def port_lines(ports: dict, private: str | None) -> list[str]:
    """docker port's output from NetworkSettings.Ports (sorted, like docker)."""
    if private:
        key = private if "/" in private else private + "/tcp"
        return [_fmt(b) for b in (ports.get(key) or [])]
    out = []
    for key in sorted(ports, key=lambda k: (int(k.split("/")[0]), k)):
        out += [f"{key} -> {_fmt(b)}" for b in (ports.get(key) or [])]
    return out


@click.command("port", cls=DockerCommand)
@click.argument("container")
@click.argument("private_port", required=False)
@click.pass_obj
def port(obj, container: str, private_port: str | None) -> None:
    """List port mappings or a specific mapping for the container"""
    data = obj.client.get(f"/containers/{container}/json")
    ports = (data.get("NetworkSettings") or {}).get("Ports") or {}
    lines = port_lines(ports, private_port)
    if private_port and not lines:
        key = private_port if "/" in private_port else private_port + "/tcp"
        raise Failure(f"Error: No public port '{key}' published for {container}", 1)
    for line in lines:
        click.echo(line)


@click.command("firewall-reload", cls=DockerCommand)
@click.pass_obj
def firewall_reload(obj) -> None:
    """Rebuild boxnet's nftables tables from its state (keeps the admin chain)"""
    data = obj.client.post("/boxnet/firewall/reload") or {}
    for w in data.get("Warnings") or []:
        print_err("WARNING: " + w)
    click.echo("firewall reloaded")


def register(cli: click.Group) -> None:
    """Add `port` and `system firewall-reload` (after the system module)."""
    cli.add_command(port)
    system = cli.commands.get("system")
    if system is not None:
        system.add_command(firewall_reload)
