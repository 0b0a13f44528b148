"""Container commands: ps, inspect, logs, exec, start, stop, kill, restart, rm, wait."""

from __future__ import annotations

import sys

import click

from ..client.errors import APIError
from ..client.streams import copy_output, response_chunks, run_exec
from .formatting import write_list
from .each import echo_each, inspect_each, quote_segment
from .options import DockerCommand, Failure, filters_query
from .pscontext import ContainerRow
from .run import attach_and_start


_each = echo_each


def register(cli: click.Group) -> None:
    """Add the container commands to the top-level group (and `container` group)."""
    from .run import run as run_cmd
    group = click.Group("container", help="Manage containers")
    for cmd in (run_cmd, ps, inspect, logs, exec_, start, stop, kill, restart, rm, wait, rename):
        cli.add_command(cmd)
        if cmd is not inspect:
            group.add_command(cmd)
    group.add_command(inspect_container)
    group.add_command(ps, "ls")
    group.add_command(ps, "list")
    cli.add_command(group)


@click.command("ps", cls=DockerCommand)
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output")
@click.option("--format", "fmt", default=None, help="Format output using a custom template")
@click.option("-n", "--last", type=int, default=-1, help="Show n last created containers")
@click.option("-l", "--latest", is_flag=True, help="Show the latest created container")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes")
@click.pass_obj
def ps(obj, all_, filters, fmt, last, latest, no_trunc, quiet, size) -> None:
    """List containers"""
    limit = 1 if latest else (last if last > 0 else None)
    q = {"all": 1 if (all_ or limit) else None, "limit": limit, "size": 1 if size else None,
         "filters": filters_query(filters)}
    items = obj.client.get("/containers/json", **q) or []
    write_list([ContainerRow(c, not no_trunc) for c in items], fmt, ContainerRow, quiet)


def _inspect_any(client, name: str, kind: str | None, size: bool = False):
    """docker inspect's lookup: a container, then an image, then a network (or `kind`)."""
    kinds = [kind] if kind else ["container", "image", "network"]
    q = quote_segment(name)
    paths = {"container": f"/containers/{q}/json", "image": f"/images/{name}/json",
             "network": f"/networks/{q}"}
    for k in kinds:
        try:
            return client.get(paths[k], size=1 if size and k == "container" else None)
        except APIError as e:
            if e.status != 404 or kind:
                raise
    raise Failure(f"Error: No such object: {name}")


@click.command("inspect", cls=DockerCommand)
@click.option("-f", "--format", "fmt", default=None, help="Format output using a template")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes")
@click.option("--type", "kind", type=click.Choice(["container", "image", "network"]),
              default=None, help="Only inspect objects of the given type")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def inspect(obj, fmt, size, kind, names) -> None:
    """Return low-level information on Docker objects"""
    inspect_each(names, lambda n: _inspect_any(obj.client, n, kind, size), fmt)


@click.command("inspect", cls=DockerCommand)
@click.option("-f", "--format", "fmt", default=None, help="Format output using a template")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def inspect_container(obj, fmt, size, names) -> None:
    """Display detailed information on one or more containers"""
    inspect_each(names, lambda n: obj.client.get(f"/containers/{quote_segment(n)}/json",
                                                 size=1 if size else None), fmt)


@click.command("logs", cls=DockerCommand)
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option("-n", "--tail", default="all", help="Number of lines to show from the end")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps")
@click.option("--since", default=None, help="Show logs since timestamp")
@click.option("--until", default=None, help="Show logs before a timestamp")
@click.option("--details", is_flag=True, help="Show extra details provided to logs")
@click.argument("container")
@click.pass_obj
def logs(obj, follow, tail, timestamps, since, until, details, container) -> None:
    """Fetch the logs of a container"""
    info = obj.client.get(f"/containers/{container}/json")
    tty = bool((info.get("Config") or {}).get("Tty"))
    q = {"follow": 1 if follow else None, "stdout": 1, "stderr": 1, "tail": tail,
         "timestamps": 1 if timestamps else None, "since": since, "until": until,
         "details": 1 if details else None}
    resp = obj.client.request("GET", f"/containers/{info.get('Id', container)}/logs", q)
    raw = "raw-stream" in (resp.getheader("Content-Type") or "")
    copy_output(response_chunks(resp), tty or raw)
    resp.close()


@click.command("exec", cls=DockerCommand, context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run command in background")
@click.option("-e", "--env", multiple=True, help="Set environment variables")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY")
@click.option("-u", "--user", default="", help="Username or UID")
@click.option("-w", "--workdir", default="", help="Working directory inside the container")
@click.option("--privileged", is_flag=True, help="Give extended privileges to the command")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
def exec_(obj, detach, env, interactive, tty, user, workdir, privileged, container,
          command) -> None:
    """Execute a command in a running container"""
    from .runopts import parse_env
    attach = not detach
    body = {"User": user, "Privileged": privileged, "Tty": tty,
            "AttachStdin": interactive and attach, "AttachStderr": attach,
            "AttachStdout": attach, "Detach": detach, "DetachKeys": "",
            "Env": parse_env(env), "WorkingDir": workdir, "Cmd": list(command)}
    sys.exit(run_exec(obj.client, container, body))


exec_.name = "exec"


@click.command("start", cls=DockerCommand)
@click.option("-a", "--attach", is_flag=True, help="Attach STDOUT/STDERR and forward signals")
@click.option("-i", "--interactive", is_flag=True, help="Attach container's STDIN")
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def start(obj, attach, interactive, containers) -> None:
    """Start one or more stopped containers"""
    if not (attach or interactive):
        _each(containers, lambda c: obj.client.post(f"/containers/{c}/start"))
        return
    if len(containers) > 1:
        raise Failure("you cannot start and attach multiple containers at once")
    info = obj.client.get(f"/containers/{quote_segment(containers[0])}/json")
    tty = bool((info.get("Config") or {}).get("Tty"))
    sys.exit(attach_and_start(obj.client, info["Id"], interactive, tty, "next-exit"))


@click.command("stop", cls=DockerCommand)
@click.option("-s", "--signal", default=None, help="Signal to send to the container")
@click.option("-t", "--timeout", "--time", "timeout", type=int, default=None,
              help="Seconds to wait before killing the container")
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def stop(obj, signal, timeout, containers) -> None:
    """Stop one or more running containers"""
    _each(containers, lambda c: obj.client.post(f"/containers/{c}/stop", t=timeout,
                                                signal=signal))


@click.command("kill", cls=DockerCommand)
@click.option("-s", "--signal", default=None, help="Signal to send to the container")
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def kill(obj, signal, containers) -> None:
    """Kill one or more running containers"""
    _each(containers, lambda c: obj.client.post(f"/containers/{c}/kill", signal=signal))


@click.command("restart", cls=DockerCommand)
@click.option("-s", "--signal", default=None, help="Signal to send to the container")
@click.option("-t", "--timeout", "--time", "timeout", type=int, default=None,
              help="Seconds to wait before killing the container")
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def restart(obj, signal, timeout, containers) -> None:
    """Restart one or more containers"""
    _each(containers, lambda c: obj.client.post(f"/containers/{c}/restart", t=timeout,
                                                signal=signal))


@click.command("rm", cls=DockerCommand)
@click.option("-f", "--force", is_flag=True, help="Force the removal of a running container")
@click.option("-l", "--link", is_flag=True, help="Remove the specified link")
@click.option("-v", "--volumes", is_flag=True, help="Remove anonymous volumes")
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def rm(obj, force, link, volumes, containers) -> None:
    """Remove one or more containers"""
    _each(containers, lambda c: obj.client.delete(
        f"/containers/{c}", force=1 if force else None, v=1 if volumes else None,
        link=1 if link else None))


@click.command("wait", cls=DockerCommand)
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def wait(obj, containers) -> None:
    """Block until one or more containers stop, then print their exit codes"""
    _each(containers,
          lambda c: str((obj.client.post(f"/containers/{c}/wait") or {}).get("StatusCode", 0)))


@click.command("rename", cls=DockerCommand)
@click.argument("container")
@click.argument("new_name")
@click.pass_obj
def rename(obj, container, new_name) -> None:
    """Rename a container"""
    try:
        obj.client.post(f"/containers/{container}/rename", name=new_name)
    except APIError as e:
        raise Failure(f"Error response from daemon: {e.message}") from None
