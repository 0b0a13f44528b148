"""Flag value parsing shared by the commands (key=value maps, comma lists, filters)."""

from __future__ import annotations

import sys

import click

from ..client.engine import encode_filters
from .failure import Failure, print_err  # noqa: F401  (click-free: cli/failure.py)


def parse_map(values: tuple[str, ...] | list[str], flag: str,
              allow_bare: bool = False) -> dict[str, str]:
    """Parse repeated key=value flags into a dict; a bare key needs allow_bare."""
    out: dict[str, str] = {}
    for v in values:
        if "=" not in v:
            if allow_bare:
                out[v] = ""
                continue
            raise click.BadParameter(f"invalid key/value pair format '{v}' (expected key=value)",
                                     param_hint=f"'{flag}'")
        k, val = v.split("=", 1)
        out[k] = val
    return out


def split_strings(values: tuple[str, ...] | list[str]) -> list[str]:
    """pflag "strings" flags: each value may itself be a comma-separated list."""
    out: list[str] = []
    for v in values:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def filters_query(filters: tuple[str, ...]) -> str | None:
    """Encode --filter k=v flags for the `filters` query parameter."""
    try:
        return encode_filters(list(filters))
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="'--filter'") from None


def confirm(message: str) -> bool:
    """docker's PromptForConfirmation: message + ' [y/N] ' on stdout, y/Y accepts."""
    sys.stdout.write(message + " [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip()
    return answer in ("y", "Y")


class DockerCommand(click.Command):
    """A click command that also accepts pflag's `--bool-flag=true|false` spelling."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Rewrite --flag=true/false for boolean flags, then parse as usual."""
        bools: dict[str, tuple[str, str | None]] = {}
        valued: set[str] = set()
        for p in self.params:
            if not isinstance(p, click.Option):
                continue
            for name in p.opts:
                if p.is_flag:
                    bools[name] = (name, p.secondary_opts[0] if p.secondary_opts else None)
                else:
                    valued.add(name)
        out: list[str] = []
        skip_value = False
        for i, tok in enumerate(args):
            if tok == "--" or (not tok.startswith("-") and not skip_value
                               and not ctx.allow_interspersed_args):
                out.extend(args[i:])
                break
            if skip_value:
                skip_value = False
                out.append(tok)
                continue
            name, eq, val = tok.partition("=")
            if eq and name in bools and val.lower() in ("true", "false", "1", "0"):
                on = val.lower() in ("true", "1")
                if on:
                    out.append(name)
                elif bools[name][1]:
                    out.append(bools[name][1])
                continue
            if tok in valued:
                skip_value = True
            out.append(tok)
        return super().parse_args(ctx, out)


class DockerGroup(click.Group):
    """A click group whose subcommands are DockerCommands."""

    command_class = DockerCommand
