"""`boxnet volume ...`: create, ls, inspect, rm, prune, as docker 28's."""

from __future__ import annotations

import click

from .each import echo_each, inspect_each, quote_segment
from .formatting import human_size, write_list
from .options import DockerGroup, Failure, confirm, filters_query, parse_map


@click.group("volume", cls=DockerGroup)
def volume() -> None:
    """Manage volumes"""


@volume.command("create")
@click.option("-d", "--driver", default="local", help="Specify volume driver name")
@click.option("--label", multiple=True, help="Set metadata for a volume")
@click.option("-o", "--opt", multiple=True, help="Set driver specific options")
@click.option("--name", "name_opt", default="", help="Specify volume name")
@click.argument("name", required=False, default="")
@click.pass_obj
def create(obj, driver, label, opt, name_opt, name) -> None:
    """Create a volume"""
    if name and name_opt and name != name_opt:
        raise Failure(f"conflicting options: cannot specify a volume-name through both "
                      f"--name and as a positional arg")
    v = obj.client.post("/volumes/create", {
        "Name": name or name_opt, "Driver": driver,
        "DriverOpts": parse_map(opt, "--opt"), "Labels": parse_map(label, "--label", True)})
    click.echo(v["Name"])


class VolumeRow:
    """Template fields of one `volume ls` row (docker's volumeContext)."""

    DEFAULT_TABLE = "{{.Driver}}\t{{.Name}}"
    HEADERS = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE",
               "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "Label": "LABEL",
               "Links": "LINKS", "Size": "SIZE"}
    JSON_FIELDS = ("Driver", "Labels", "Links", "Mountpoint", "Name", "Scope", "Size")

    def __init__(self, v: dict):
        self._v = v
        self.ID = self.Name = v.get("Name", "")
        self.Driver = v.get("Driver", "")
        self.Scope = v.get("Scope", "")
        self.Mountpoint = v.get("Mountpoint", "")
        labels = v.get("Labels") or {}
        self.Labels = ",".join(f"{k}={val}" for k, val in sorted(labels.items()))
        usage = v.get("UsageData") or {}
        self.Links = str(usage.get("RefCount", "N/A")) if usage else "N/A"
        self.Size = human_size(usage["Size"]) if usage.get("Size", -1) >= 0 else "N/A"

    def Label(self, name: str) -> str:
        """The value of one label."""
        return (self._v.get("Labels") or {}).get(name, "")


@volume.command("ls")
@click.option("-f", "--filter", "filters", multiple=True, help="Provide filter values")
@click.option("--format", "fmt", default=None, help="Format output using a custom template")
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names")
@click.pass_obj
def ls(obj, filters, fmt, quiet) -> None:
    """List volumes"""
    vols = (obj.client.get("/volumes", filters=filters_query(filters)) or {}).get("Volumes") \
        or []
    vols.sort(key=lambda v: v.get("Name", ""))
    write_list([VolumeRow(v) for v in vols], fmt, VolumeRow, quiet)


@volume.command("inspect")
@click.option("-f", "--format", "fmt", default=None, help="Format output using a template")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def inspect(obj, fmt, names) -> None:
    """Display detailed information on one or more volumes"""
    inspect_each(names, lambda n: obj.client.get(f"/volumes/{quote_segment(n)}"), fmt)


@volume.command("rm")
@click.option("-f", "--force", is_flag=True, help="Force the removal of one or more volumes")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def rm(obj, force, names) -> None:
    """Remove one or more volumes"""
    echo_each(names, lambda n: obj.client.delete(f"/volumes/{quote_segment(n)}",
                                                 force=force or None), inline=True)


@volume.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused volumes, not just "
              "anonymous ones")
@click.option("--filter", "filters", multiple=True, help="Provide filter values")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.pass_obj
def prune(obj, all_, filters, force) -> None:
    """Remove unused local volumes"""
    which = "all local volumes" if all_ else "anonymous local volumes"
    warning = (f"WARNING! This will remove {which} not used by at least one container.\n"
               f"Are you sure you want to continue?")
    if not force and not confirm(warning):
        return
    filters = (*filters, "all=true") if all_ else filters
    report = obj.client.post("/volumes/prune", filters=filters_query(filters)) or {}
    deleted = report.get("VolumesDeleted") or []
    if deleted:
        click.echo("Deleted Volumes:\n" + "".join(f"{n}\n" for n in deleted))
    click.echo(f"Total reclaimed space: {human_size(report.get('SpaceReclaimed') or 0)}")


def register(cli: click.Group) -> None:
    """Add the volume commands to the top-level group."""
    volume.add_command(ls, "list")
    volume.add_command(rm, "remove")
    cli.add_command(volume)
