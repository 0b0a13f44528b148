"""`boxnet ui [--port N]`: the live picture in a browser, at http://127.0.0.1:N/boxnet/ui/.

The page is served by the daemon on its unix socket (api/routes/ui.py); this
command opens the loopback-only proxy of client/uiproxy.py in front of it
and runs until interrupted.
"""

from __future__ import annotations

import asyncio
import sys

import click


@click.command("ui")
@click.option("--port", type=click.IntRange(0, 65535), default=7878,
              help="Loopback port to listen on (0: any free one)")
@click.pass_obj
def ui(obj, port) -> None:
    """Serve the live network picture on 127.0.0.1 (only) until interrupted"""
    from ..client.uiproxy import serve
    client = obj.client
    client.api_version               # a clear error now if the daemon is not there

    def ready(p: int) -> None:
        sys.stdout.write(f"boxnet ui: http://127.0.0.1:{p}/boxnet/ui/\n")
        sys.stdout.flush()

    try:
        asyncio.run(serve(client.path, port, ready))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}")


def register(cli: click.Group) -> None:
    """Add `ui` to the top-level group."""
    cli.add_command(ui)
