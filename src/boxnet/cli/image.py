"""Image commands: images / image ls, image import, image inspect."""

from __future__ import annotations

import json
import os
import sys

import click

from .each import inspect_each
from .formatting import human_size, since, trunc_id, write_list
from .options import DockerCommand, DockerGroup, Failure, filters_query


class ImageRow:
    """Template fields of one `images` row (docker's imageContext)."""

    DEFAULT_TABLE = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    DIGESTS_TABLE = ("{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}"
                     "\t{{.Size}}")
    HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID",
               "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
               "Digest": "DIGEST", "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE",
               "UniqueSize": "UNIQUE SIZE", "VirtualSize": "SIZE"}
    JSON_FIELDS = ("Containers", "CreatedAt", "CreatedSince", "Digest", "ID", "Repository",
                   "SharedSize", "Size", "Tag", "UniqueSize", "VirtualSize")

    def __init__(self, img: dict, repo: str, tag: str, trunc: bool = True):
        import time
        self._i = img
        self.Repository, self.Tag = repo, tag
        iid = img.get("Id", "")
        self.ID = trunc_id(iid) if trunc else iid
        created = img.get("Created", 0)
        self.CreatedSince = since(created)
        self.CreatedAt = time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(created))
        self.Size = human_size(img.get("Size", 0))
        self.Digest = next((d.partition("@")[2] for d in img.get("RepoDigests") or []
                            if d.partition("@")[0] == repo), "<none>")
        n = img.get("Containers", -1)
        self.Containers = "N/A" if n is None or n < 0 else str(n)
        size, shared = img.get("Size", 0), img.get("SharedSize", 0)
        self.VirtualSize = human_size(size, 4)
        self.SharedSize = "N/A" if shared == -1 else human_size(shared, 4)
        self.UniqueSize = "N/A" if shared == -1 else human_size(size - shared, 4)


def image_rows(images: list[dict], trunc: bool) -> list[ImageRow]:
    """One row per repo:tag, or a <none>:<none> row for an untagged image."""
    rows = []
    for img in images:
        tags = [t for t in (img.get("RepoTags") or []) if t != "<none>:<none>"]
        if not tags:
            rows.append(ImageRow(img, "<none>", "<none>", trunc))
        tagged = []
        for t in tags:
            repo, _, tag = t.rpartition(":")
            if repo and "/" not in tag:  # "host:5000/name" has a port, not a tag: skip
                tagged.append((repo, tag))
        if tags and not tagged:
            rows.append(ImageRow(img, "<none>", "<none>", trunc))
        rows += [ImageRow(img, repo, tag, trunc) for repo, tag in tagged]
    return rows


@click.command("images", cls=DockerCommand)
@click.option("-a", "--all", "all_", is_flag=True, help="Show all images")
@click.option("--digests", is_flag=True, help="Show digests")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output")
@click.option("--format", "fmt", default=None, help="Format output using a custom template")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@click.argument("reference", required=False)
@click.pass_obj
def images(obj, all_, digests, filters, fmt, no_trunc, quiet, reference) -> None:
    """List images"""
    filters = list(filters) + ([f"reference={reference}"] if reference else [])
    items = obj.client.get("/images/json", all=1 if all_ else None,
                           filters=filters_query(tuple(filters))) or []
    rows = image_rows(items, not no_trunc)
    if quiet and not fmt:
        seen, uniq = set(), []
        for r in rows:
            if r.ID not in seen:
                seen.add(r.ID)
                uniq.append(r)
        rows = uniq
    if digests and not fmt and not quiet:
        fmt = "table " + ImageRow.DIGESTS_TABLE
    write_list(rows, fmt, ImageRow, quiet)


def _print_messages(resp) -> None:
    """Show a JSON message stream (status/stream/error lines) like jsonmessage."""
    buf = b""
    for line in iter(lambda: resp.readline(), b""):
        buf = line.strip()
        if not buf:
            continue
        try:
            msg = json.loads(buf)
        except ValueError:
            click.echo(buf.decode("utf-8", "replace"))
            continue
        if msg.get("error") or msg.get("errorDetail"):
            err = msg.get("error") or (msg.get("errorDetail") or {}).get("message")
            raise Failure(str(err))
        if "stream" in msg:
            sys.stdout.write(msg["stream"])
        elif "status" in msg:
            click.echo(msg["status"])


@click.command("import", cls=DockerCommand)
@click.option("-c", "--change", multiple=True, help="Apply Dockerfile instruction")
@click.option("-m", "--message", default="", help="Set commit message for imported image")
@click.option("--platform", default="", help="Set platform")
@click.argument("source")
@click.argument("reference", required=False)
@click.pass_obj
def import_(obj, change, message, platform, source, reference) -> None:
    """Import the contents from a tarball to create a filesystem image"""
    q = [("fromSrc", "-")]
    if reference:
        q.append(("repo", reference))
    if message:
        q.append(("message", message))
    if platform:
        q.append(("platform", platform))
    q += [("changes", c) for c in change]
    from urllib.parse import urlencode
    path = "/images/create?" + urlencode(q)
    headers = {"Content-Type": "application/x-tar"}
    if source.startswith(("http://", "https://")):
        path = path.replace("fromSrc=-", "fromSrc=" + source.replace(":", "%3A"))
        resp = obj.client.request("POST", path, headers=headers)
    elif source == "-":
        resp = obj.client.request("POST", path, body=sys.stdin.buffer, headers=headers)
    else:
        try:
            f = open(source, "rb")
        except OSError as e:
            raise Failure(f"open {source}: {e.strerror.lower()}") from None
        with f:
            headers["Content-Length"] = str(os.fstat(f.fileno()).st_size)
            resp = obj.client.request("POST", path, body=f, headers=headers)
    _print_messages(resp)
    resp.close()


@click.command("inspect", cls=DockerCommand)
@click.option("-f", "--format", "fmt", default=None, help="Format output using a template")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def inspect(obj, fmt, names) -> None:
    """Display detailed information on one or more images"""
    inspect_each(names, lambda n: obj.client.get(f"/images/{n}/json"), fmt)


@click.group("image", cls=DockerGroup)
def image() -> None:
    """Manage images"""


def register(cli: click.Group) -> None:
    """Add `images`, `import` and the `image` group."""
    image.add_command(images, "ls")
    image.add_command(images, "list")
    image.add_command(import_, "import")
    image.add_command(inspect, "inspect")
    cli.add_command(images)
    cli.add_command(import_, "import")
    cli.add_command(image)
