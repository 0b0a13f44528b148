"""`boxnet` command line (and `boxnet-compose`): a Docker Engine API client (1.24-1.52).

It mirrors docker 28's commands, flags, output and exit codes. It never imports
daemon code: everything goes over HTTP on the daemon's unix socket.
"""

from __future__ import annotations

import sys

import click

from ..client.engine import Client
from ..client.errors import APIError, ConnectError
from .gotemplate import TemplateError
from .options import DockerGroup, Failure


class CLIState:
    """Global options, and the API client made on first use."""

    def __init__(self, host: str | None):
        self.host = host
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        """The API client for -H/--host (or $BOXNET_HOST, or the default socket)."""
        if self._client is None:
            self._client = Client(self.host)
        return self._client


@click.group(cls=DockerGroup, context_settings={"help_option_names": ["--help"]})
@click.option("-H", "--host", envvar=None, help="Daemon socket to connect to")
@click.option("-l", "--log-level", default="info",
              help='Set the logging level ("debug", "info", "warn", "error", "fatal")')
@click.option("-D", "--debug", is_flag=True, help="Enable debug mode")
@click.pass_context
def cli(ctx: click.Context, host: str | None, log_level: str, debug: bool) -> None:
    """A self-sufficient runtime for container networks."""
    level = log_level.lower()
    if level not in _LEVELS:   # logrus.ParseLevel's names, as the docker CLI
        raise Failure(f"Unable to parse logging level: {log_level}")
    if debug or level in ("debug", "trace"):
        _trace_requests()
    ctx.obj = CLIState(host)


_LEVELS = ("panic", "fatal", "error", "warn", "warning", "info", "debug", "trace")


def _trace_requests() -> None:
    """-D: one `DEBU[0000] METHOD /path -> status` line on stderr per API request, with
    the seconds since start, as the docker CLI's logrus lines."""
    import time

    from ..client import engine
    t0 = time.monotonic()
    engine.TRACE = lambda msg: _err(f"DEBU[{int(time.monotonic() - t0):04d}] {msg}")


_VALUED = {"-H", "--host", "-l", "--log-level"}


def _command_word(argv: list[str]) -> str | None:
    """The first argument after the global options (None if there is none)."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in _VALUED:
            i += 2
        elif a.startswith("-"):
            i += 1
        else:
            return a
    return None


def _register(argv: list[str] | None = None) -> None:
    """Add the commands; `compose ...` loads only compose (start-up time of `compose down`)."""
    if argv is not None and _command_word(argv) == "compose":
        from . import compose
        compose.register(cli)
        return
    from . import compose, container, diagnose, image, network, ports, system, volume
    for mod in (network, container, image, system, compose, ports, volume):
        mod.register(cli)
    diagnose.register(cli)
    from . import flows   # boxnet flows (issue 20)
    flows.register(cli)
    from . import ui
    ui.register(cli)


def _err(msg: str) -> None:
    sys.stderr.write(msg.rstrip("\n") + "\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and map errors to docker's messages and exit codes."""
    _register(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=argv, prog_name="boxnet", standalone_mode=False)
    except click.UsageError as e:
        e.show()
        # A bare group (`boxnet network`) shows its help and succeeds, as docker does.
        no_args_help = type(e).__name__ == "NoArgsIsHelpError"
        sys.exit(0 if no_args_help else 125)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except APIError as e:
        _err(f"Error response from daemon: {e.message}")
        sys.exit(1)
    except ConnectError as e:
        _err(str(e))
        sys.exit(1)
    except Failure as e:
        _err(e.message)
        sys.exit(e.code)
    except TemplateError as e:
        _err(f"template parsing error: {e}")
        sys.exit(1)
    except BrokenPipeError:
        sys.exit(0)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(0)


def compose_main(argv: list[str] | None = None) -> None:
    """`boxnet-compose` entry point: `boxnet compose ...`, docker-compose style."""
    main(["compose", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
