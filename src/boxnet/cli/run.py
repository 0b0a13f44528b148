"""`boxnet run`: create, attach, start and wait for a container, like docker 28.

Flow without -d (docker's): create -> attach (hijacked stream) -> wait
(condition next-exit, or removed with --rm) in a thread -> start -> copy output
-> exit with the container's status code. A daemon without the attach endpoint
gets a `logs?follow=1` stream after start instead.
"""

from __future__ import annotations

import sys
import threading

import click

from ..client.errors import APIError
from ..client.streams import copy_output, pump_stdin, response_chunks
from .options import DockerCommand, Failure, print_err
from .procflags import process_options
from .runopts import create_body


def _image_ref(image: str) -> str:
    """Normalise a reference for messages: busybox -> busybox:latest."""
    last = image.rsplit("/", 1)[-1]
    if "@" in image or ":" in last:
        return image
    return image + ":latest"


def _start_error(err: APIError) -> Failure:
    """docker's runStartContainerErr: exit 127 not found, 126 not executable, else 125."""
    msg = err.message
    code = 125
    if any(s in msg for s in ("executable file not found", "no such file or directory")):
        code = 127
    elif "permission denied" in msg or "is a directory" in msg:
        code = 126
    return Failure(f"boxnet: Error response from daemon: {msg}\n\n"
                   "Run 'boxnet run --help' for more information", code)


def create_container(client, name: str | None, body: dict, image: str) -> str:
    """POST /containers/create; a missing image gives docker's message and exit 125."""
    try:
        resp = client.post("/containers/create", body, name=name)
    except APIError as e:
        if e.status == 404 and "image" in e.message.lower():
            print_err(f"Unable to find image '{_image_ref(image)}' locally")
        raise Failure(f"boxnet: Error response from daemon: {e.message}\n\n"
                      "Run 'boxnet run --help' for more information", 125) from None
    for w in resp.get("Warnings") or []:
        print_err(f"WARNING: {w}")
    return resp["Id"]


class _Waiter(threading.Thread):
    """POST /containers/{id}/wait in the background; result in .status / .error."""

    def __init__(self, client, cid: str, condition: str):
        super().__init__(daemon=True)
        self.client, self.cid, self.condition = client, cid, condition
        self.status: int | None = None
        self.error: str | None = None

    def run(self) -> None:
        try:
            resp = self.client.post(f"/containers/{self.cid}/wait", condition=self.condition)
            self.status = int((resp or {}).get("StatusCode", 0))
            err = (resp or {}).get("Error") or {}
            self.error = err.get("Message") if isinstance(err, dict) else None
        except APIError as e:
            self.error = e.message
        except Exception as e:  # connection dropped: report, don't hang
            self.error = str(e)


def run_container(client, o: dict) -> int:
    """Create and start a container from parsed flags; return the exit code."""
    body = create_body(o)
    cid = create_container(client, o["name"], body, o["image"])
    if o["detach"]:
        try:
            client.post(f"/containers/{cid}/start")
        except APIError as e:
            raise _start_error(e) from None
        click.echo(cid)
        return 0
    return attach_and_start(client, cid, o["interactive"], o["tty"],
                            "removed" if o["rm"] else "next-exit")


def attach_and_start(client, cid: str, interactive: bool, tty: bool, condition: str) -> int:
    """Attach to cid's output (and stdin), start it, copy its output until it ends and
    return its exit status: `run` without -d and `start -a`, as docker's."""
    stream = None
    try:
        stream = client.hijack("POST", f"/containers/{cid}/attach",
                               {"stream": 1, "stdin": 1 if interactive else None,
                                "stdout": 1, "stderr": 1})
    except APIError as e:
        if e.status not in (404, 405, 501):
            raise
    waiter = _Waiter(client, cid, condition)
    waiter.start()
    try:
        client.post(f"/containers/{cid}/start")
    except APIError as e:
        if stream:
            stream.close()
        raise _start_error(e) from None
    if stream is not None:
        if interactive:
            pump_stdin(stream)
        copy_output(stream, tty)
        stream.close()
    else:
        _follow_logs(client, cid, tty)
    waiter.join()
    if waiter.status is None:
        if waiter.error:
            print_err(f"Error waiting for container: {waiter.error}")
        return 125
    if waiter.error:
        print_err(f"Error waiting for container: {waiter.error}")
    return waiter.status


def _follow_logs(client, cid: str, tty: bool) -> None:
    """Fallback output path: follow the container's logs until it exits."""
    try:
        resp = client.request("GET", f"/containers/{cid}/logs",
                              {"follow": 1, "stdout": 1, "stderr": 1})
    except APIError:
        return  # already gone (--rm): nothing more to show
    raw = "raw-stream" in (resp.getheader("Content-Type") or "")
    copy_output(response_chunks(resp), tty or raw)
    resp.close()


@click.command("run", cls=DockerCommand, context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Run container in background")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY")
@click.option("--name", default=None, help="Assign a name to the container")
@click.option("--network", "--net", "network", multiple=True, help="Connect to a network")
@click.option("--network-alias", "--net-alias", multiple=True, help="Network-scoped alias")
@click.option("--ip", default="", help="IPv4 address (e.g., 172.30.100.104)")
@click.option("--ip6", default="", help="IPv6 address (e.g., 2001:db8::33)")
@click.option("-p", "--publish", multiple=True, help="Publish a container's port(s)")
@click.option("-P", "--publish-all", is_flag=True, help="Publish all exposed ports")
@click.option("--expose", multiple=True, help="Expose a port or a range of ports")
@click.option("--dns", multiple=True, help="Set custom DNS servers")
@click.option("--dns-search", multiple=True, help="Set custom DNS search domains")
@click.option("--dns-option", "--dns-opt", multiple=True, help="Set DNS options")
@click.option("--add-host", multiple=True, help="Add a custom host-to-IP mapping (host:ip)")
@click.option("--link", multiple=True, help="Add link to another container (name[:alias])")
@click.option("-h", "--hostname", default="", help="Container host name")
@click.option("--domainname", default="", help="Container NIS domain name")
@click.option("-e", "--env", multiple=True, help="Set environment variables")
@click.option("-v", "--volume", multiple=True, help="Bind mount a volume")
@click.option("--rm", is_flag=True, help="Automatically remove the container when it exits")
@click.option("--restart", default="no", help="Restart policy to apply when a container exits")
@click.option("--entrypoint", default=None, help="Overwrite the default ENTRYPOINT")
@click.option("-w", "--workdir", default="", help="Working directory inside the container")
@click.option("-l", "--label", multiple=True, help="Set meta data on a container")
@click.option("-u", "--user", default="", help="Username or UID")
@click.option("--privileged", is_flag=True, help="Give extended privileges")
@click.option("--cap-add", multiple=True, help="Add Linux capabilities")
@click.option("--cap-drop", multiple=True, help="Drop Linux capabilities")
@click.option("--sysctl", multiple=True, help="Sysctl options")
@click.option("--group-add", multiple=True, help="Add additional groups to join")
@click.option("--security-opt", multiple=True,
              help="Security options (seccomp=unconfined|PROFILE.json, no-new-privileges)")
@click.option("--stop-signal", default=None, help="Signal to stop the container")
@click.option("--stop-timeout", type=int, default=None, help="Timeout to stop a container")
@process_options
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def run(obj, **o) -> None:
    """Create and run a new container from an image"""
    sys.exit(run_container(obj.client, o))
