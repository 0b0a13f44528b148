"""System commands: version and info (docker's layout, tabwriter minwidth 20, padding 1)."""

from __future__ import annotations

import json
import platform
import sys

import click

from ..client.engine import API_VERSION
from ..client.errors import APIError, ConnectError
from .formatting import tabwrite
from .gotemplate import render
from .options import DockerCommand, print_err

CLIENT_VERSION = "0.1.0"


def client_info() -> dict:
    """The Client section, shaped like docker's ClientVersion."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    api = API_VERSION   # the negotiated one replaces ApiVersion once the server answered
    return {"Platform": {"Name": ""}, "Version": CLIENT_VERSION, "ApiVersion": api,
            "DefaultAPIVersion": api, "PythonVersion": platform.python_version(),
            "GitCommit": "", "GoVersion": "", "Os": sys.platform, "Arch": arch,
            "BuildTime": "", "Context": "default"}


def _client_lines(c: dict) -> list[str]:
    return ["Client:" + (f" {c['Platform']['Name']}" if c["Platform"]["Name"] else ""),
            f" Version:\t{c['Version']}",
            f" API version:\t{c['ApiVersion']}" + (
                f" (downgraded from {c['DefaultAPIVersion']})"
                if c["ApiVersion"] != c["DefaultAPIVersion"] else ""),
            f" Python version:\t{c['PythonVersion']}", f" OS/Arch:\t{c['Os']}/{c['Arch']}",
            f" Context:\t{c['Context']}"]


def _server_lines(s: dict) -> list[str]:
    name = (s.get("Platform") or {}).get("Name", "")
    lines = ["", "Server:" + (f" {name}" if name else "")]
    engine = {"ApiVersion": s.get("ApiVersion", ""), "MinAPIVersion": s.get("MinAPIVersion", ""),
              "GoVersion": s.get("GoVersion", ""), "GitCommit": s.get("GitCommit", ""),
              "BuildTime": s.get("BuildTime", ""), "Os": s.get("Os", ""),
              "Arch": s.get("Arch", ""),
              "Experimental": str(s.get("Experimental", False)).lower()}
    comps = s.get("Components") or [{"Name": "Engine", "Version": s.get("Version", ""),
                                     "Details": engine}]
    for comp in comps:
        d = comp.get("Details") or {}
        lines.append(f" {comp.get('Name', '')}:")
        lines.append(f"  Version:\t{comp.get('Version', '')}")
        if comp.get("Name") == "Engine":
            lines += [f"  API version:\t{d.get('ApiVersion', '')} "
                      f"(minimum version {d.get('MinAPIVersion', '')})",
                      f"  Go version:\t{d.get('GoVersion', '')}",
                      f"  Git commit:\t{d.get('GitCommit', '')}",
                      f"  Built:\t{d.get('BuildTime', '')}",
                      f"  OS/Arch:\t{d.get('Os', '')}/{d.get('Arch', '')}",
                      f"  Experimental:\t{d.get('Experimental', '')}"]
        else:
            lines += [f"  {k}:\t{v}" for k, v in d.items()]
    return lines


@click.command("version", cls=DockerCommand)
@click.option("-f", "--format", "fmt", default=None, help="Format output using a template")
@click.pass_obj
def version(obj, fmt) -> None:
    """Show the boxnet version information"""
    c = client_info()
    server, error = None, None
    try:
        server = obj.client.get("/version")
        c["ApiVersion"] = obj.client.api_version   # negotiated, as docker shows it
    except (ConnectError, APIError) as e:
        error = e
    data = {"Client": c, "Server": server}
    if fmt == "json":
        click.echo(json.dumps(data, separators=(",", ":")))
    elif fmt:
        click.echo(render(fmt, data))
    else:
        lines = _client_lines(c) + (_server_lines(server) if server else [])
        sys.stdout.write(tabwrite("\n".join(lines) + "\n", minwidth=20, padding=1))
    if error is not None:
        raise error


def _info_lines(i: dict) -> list[str]:
    def g(k, default=""):
        v = i.get(k, default)
        return default if v is None else v
    lines = ["Server:",
             f" Containers: {g('Containers', 0)}",
             f"  Running: {g('ContainersRunning', 0)}",
             f"  Paused: {g('ContainersPaused', 0)}",
             f"  Stopped: {g('ContainersStopped', 0)}",
             f" Images: {g('Images', 0)}",
             f" Server Version: {g('ServerVersion')}"]
    if g("Driver"):
        lines.append(f" Storage Driver: {g('Driver')}")
    if g("CgroupDriver"):
        lines.append(f" Cgroup Driver: {g('CgroupDriver')}")
    plugins = i.get("Plugins") or {}
    if plugins:
        lines.append(" Plugins:")
        for k in ("Volume", "Network", "Log"):
            if plugins.get(k):
                lines.append(f"  {k}: {' '.join(plugins[k])}")
    runtimes = sorted((i.get("Runtimes") or {}).keys())
    if runtimes:
        lines.append(f" Runtimes: {' '.join(runtimes)}")
    if g("DefaultRuntime"):
        lines.append(f" Default Runtime: {g('DefaultRuntime')}")
    lines += [f" Kernel Version: {g('KernelVersion')}",
              f" Operating System: {g('OperatingSystem')}",
              f" OSType: {g('OSType')}",
              f" Architecture: {g('Architecture')}",
              f" CPUs: {g('NCPU', 0)}",
              f" Total Memory: {_mem(g('MemTotal', 0))}",
              f" Name: {g('Name')}",
              f" ID: {g('ID')}",
              f" Docker Root Dir: {g('DockerRootDir')}",
              f" Debug Mode: {str(bool(g('Debug', False))).lower()}",
              f" Experimental: {str(bool(g('ExperimentalBuild', False))).lower()}"]
    pools = i.get("DefaultAddressPools") or []
    if pools:
        lines.append(" Default Address Pools:")
        lines += [f"   Base: {p.get('Base')}, Size: {p.get('Size')}" for p in pools]
    return lines


def _mem(n: int) -> str:
    """go-units BytesSize: binary units with 4 significant digits (7.757GiB)."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    size, idx = float(n), 0
    while size >= 1024 and idx < len(units) - 1:
        size /= 1024
        idx += 1
    return f"{size:.4g}{units[idx]}"


@click.command("info", cls=DockerCommand)
@click.option("-f", "--format", "fmt", default=None, help="Format output using a template")
@click.pass_obj
def info(obj, fmt) -> None:
    """Display system-wide information"""
    c = client_info()
    data = obj.client.get("/info") or {}
    if fmt == "json":
        click.echo(json.dumps(dict(data, ClientInfo=c), separators=(",", ":")))
        return
    if fmt:
        click.echo(render(fmt, dict(data, ClientInfo=c)))
        return
    lines = ["Client:", f" Version:    {c['Version']}", f" Context:    {c['Context']}",
             " Debug Mode: false", ""] + _info_lines(data)
    click.echo("\n".join(lines))
    for w in data.get("Warnings") or []:
        print_err(w)


def register(cli: click.Group) -> None:
    """Add version and info (also as `system info`)."""
    cli.add_command(version)
    cli.add_command(info)
    group = click.Group("system", help="Manage boxnet")
    group.add_command(info)
    cli.add_command(group)


