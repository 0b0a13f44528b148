"""`boxnet compose check | lint | graph`: boxnet's own compose commands.

check  probes reachability from inside the containers against what the file declares;
       exit 1 on any difference.
lint   production-practice findings with their file:line; exit 1 when there are any
       (warnings only: --strict is not needed), 0 when clean.
graph  the topology as SVG/PNG (graphviz), or its DOT source.
"""

from __future__ import annotations

import json
import sys

import click

from .compose_state import handled
from .options import Failure


@click.command("check")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              help="Output format")
@click.pass_obj
@handled
def check(st, fmt) -> None:
    """Prove the declared segmentation: expected vs observed reachability"""
    from ..compose.check import format_text, run_check
    result = run_check(st.runner())
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(format_text(result), nl=False)
    sys.exit(0 if result["ok"] else 1)


@click.command("lint")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              help="Output format")
@click.pass_obj
@handled
def lint(st, fmt) -> None:
    """Check the file against production networking practices"""
    from ..compose.lint import lint as run_lint
    findings = run_lint(st.project)
    if fmt == "json":
        click.echo(json.dumps(findings, indent=2))
    else:
        for f in findings:
            click.echo(f"{f['file']}:{f['line'] or '?'}: {f['rule']}: {f['message']}")
        click.echo(f"{len(findings)} finding(s)")
    sys.exit(1 if findings else 0)


@click.command("graph")
@click.option("-o", "--output", default=None,
              help="Output file (.svg, .png or .dot); default: the DOT source on stdout")
@click.option("--format", "fmt", type=click.Choice(["svg", "png", "dot"]), default=None,
              help="Output format (default: from the file name)")
@click.pass_obj
@handled
def graph(st, output, fmt) -> None:
    """Draw the topology: services, networks, published ports, who reaches whom"""
    from ..compose.graph import build, write
    dot = build(st.project)
    if not output:
        if fmt in ("svg", "png"):
            raise Failure("--format svg/png needs -o FILE", 2)
        click.echo(dot.source)
        return
    path = write(dot, output, fmt)
    click.echo(path)


def register(group: click.Group) -> None:
    """Add check, lint and graph to the compose group."""
    for cmd in (check, lint, graph):
        group.add_command(cmd)
