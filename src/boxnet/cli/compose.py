"""`boxnet compose` (and `boxnet-compose`, main.compose_main): compose files on boxnet,
over the Engine API.

Commands: up, down, ps, logs, exec, config, start, stop, restart, and boxnet's own
check (segmentation proof), lint (production practices) and graph (topology picture).
File and project errors print as `FILE:LINE: PATH: message (hint)` and exit 1 (check
and lint exit 1 on findings too; usage errors exit 2 as click does).
"""

from __future__ import annotations

import json
import sys

import click

from . import compose_cmds, compose_extra
from .compose_state import ComposeState, handled
from .options import Failure, print_err


@click.group("compose", context_settings={"help_option_names": ["--help", "-h"]})
@click.option("-f", "--file", "files", multiple=True, help="Compose configuration files")
@click.option("-p", "--project-name", default=None, help="Project name")
@click.option("--env-file", default=None, help="An alternate environment file")
@click.option("--project-directory", default=None, help="An alternate working directory")
@click.option("-H", "--host", default=None, help="Daemon socket to connect to")
@click.pass_context
def compose(ctx, files, project_name, env_file, project_directory, host) -> None:
    """Define and run multi-container applications on boxnet"""
    parent = ctx.obj if ctx.obj is not None and hasattr(ctx.obj, "client") else None
    ctx.obj = ComposeState(parent, host, files, project_name, env_file, project_directory)


@compose.command("up")
@click.option("-d", "--detach", is_flag=True, help="Run containers in the background")
@click.option("--remove-orphans", is_flag=True, help="Remove containers of services not "
              "in the file")
@click.option("--wait", is_flag=True, help="Wait for services to be running|healthy "
              "(implies detached mode)")
@click.argument("services", nargs=-1)
@click.pass_obj
def up(st, detach, remove_orphans, wait, services) -> None:
    """Create and start containers"""
    compose_cmds.up(st, detach, remove_orphans, wait, list(services))


@compose.command("pull")
@click.argument("services", nargs=-1)
@click.pass_obj
@handled
def pull(st, services) -> None:
    """Pull service images"""
    for line in st.runner().pull(list(services) or None):
        click.echo(line)


@compose.command("down")
@click.option("-v", "--volumes", is_flag=True, help="Remove named volumes declared in the "
              "`volumes` section and anonymous volumes attached to containers")
@click.option("--remove-orphans", is_flag=True, help="Remove containers of services not "
              "in the file")
@click.option("-t", "--timeout", type=int, default=None, help="Shutdown timeout in seconds")
@click.pass_obj
def down(st, volumes, remove_orphans, timeout) -> None:
    """Stop and remove containers and networks"""
    compose_cmds.down(st, volumes, remove_orphans, timeout)


@compose.command("ps")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all stopped containers")
@click.option("-q", "--quiet", is_flag=True, help="Only display IDs")
@click.option("--services", "only_services", is_flag=True, help="Display services")
@click.option("--format", "fmt", default="table", help="table or json")
@click.argument("services", nargs=-1)
@click.pass_obj
@handled
def ps(st, all_, quiet, only_services, fmt, services) -> None:
    """List containers"""
    from ..compose import labels as L
    from ..compose.logs import ps_rows
    cs = [c for c in st.runner().containers(all_=all_)
          if not services or c["Labels"].get(L.SERVICE) in services]
    if quiet:
        for c in cs:
            click.echo(c["Id"])
        return
    if only_services:
        for s in dict.fromkeys(c["Labels"].get(L.SERVICE) for c in cs):
            click.echo(s)
        return
    rows = ps_rows(cs)
    if fmt == "json":
        click.echo(json.dumps(rows))
        return
    cols = ["Name", "Image", "Command", "Service", "Status", "Ports"]
    widths = [max([len(c)] + [len(str(r[c])) for r in rows]) for c in cols]
    click.echo("   ".join(c.upper().ljust(w) for c, w in zip(cols, widths)).rstrip())
    for r in rows:
        click.echo("   ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths)).rstrip())


@compose.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option("--no-log-prefix", is_flag=True, help="Don't print the prefix")
@click.option("-n", "--tail", default="all", help="Lines to show from the end")
@click.argument("services", nargs=-1)
@click.pass_obj
@handled
def logs(st, follow, no_log_prefix, tail, services) -> None:
    """View output from containers"""
    from ..compose import labels as L
    from ..compose.logs import follow as follow_logs
    cs = [c for c in st.runner().containers()
          if not services or c["Labels"].get(L.SERVICE) in services]
    follow_logs(st.client, cs, follow_=follow, prefix=not no_log_prefix, tail=tail)


@compose.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Run in the background")
@click.option("-T", "--no-TTY", "no_tty", is_flag=True, help="Disable pseudo-TTY allocation")
@click.option("-e", "--env", multiple=True, help="Set environment variables")
@click.option("-u", "--user", default="", help="Run as this user")
@click.option("-w", "--workdir", default="", help="Working directory")
@click.option("--index", type=int, default=1, help="Index of the container (replicas)")
@click.argument("service")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
@handled
def exec_(st, detach, no_tty, env, user, workdir, index, service, command) -> None:
    """Execute a command in a running container"""
    from ..compose import labels as L
    from ..compose.logs import exec_interactive
    if service not in st.project.services:
        raise Failure(f"service {service!r} is not defined in the project", 1)
    cs = [c for c in st.runner().containers(service, all_=False)
          if c["Labels"].get(L.NUMBER) == str(index)]
    if not cs:
        raise Failure(f"service {service!r} is not running (index {index})", 1)
    tty = not no_tty and sys.stdin.isatty()
    sys.exit(exec_interactive(st.client, cs[0]["Id"], list(command), tty=tty, detach=detach,
                              env=list(env), user=user, workdir=workdir))


@compose.command("config")
@click.option("-q", "--quiet", is_flag=True, help="Only validate the configuration")
@click.option("--services", is_flag=True, help="Print the service names")
@click.option("--networks", is_flag=True, help="Print the network names")
@click.option("--format", "fmt", default="yaml", help="yaml or json")
@click.pass_obj
@handled
def config(st, quiet, services, networks, fmt) -> None:
    """Parse, resolve and render the compose file in canonical format"""
    p = st.project
    if quiet:
        return
    if services or networks:
        for n in (p.services if services else p.networks):
            click.echo(n)
        return
    from ..compose.render import render
    click.echo(render(p, fmt), nl=False)


def _lifecycle(action: str):
    @click.option("-t", "--timeout", type=int, default=None, help="Timeout in seconds")
    @click.argument("services", nargs=-1)
    @click.pass_obj
    @handled
    def cmd(st, timeout, services) -> None:
        st.runner().each(action, list(services) or None, timeout)
    cmd.__doc__ = f"{action.capitalize()} service containers"
    return compose.command(action)(cmd)


for _action in ("start", "stop", "restart"):
    _lifecycle(_action)


def register(cli: click.Group) -> None:
    """Add `compose` (with check, lint and graph) to the top-level group."""
    compose_extra.register(compose)
    cli.add_command(compose)
