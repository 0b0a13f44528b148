"""`compose graph`: the project's topology drawn with Graphviz (python `graphviz` + `dot`).

Services are boxes, networks are ellipses (dashed: internal, double: external), an edge
joins a service to each network it is on (labelled with its static address and aliases);
a dashed edge joins a service to each service it `links:` to (labelled with the alias).
Published ports hang off a "host" node; x-boxnet policies are green arrows between services
(and a note per policied service). A side table lists who can reach whom, derived
like `compose check`'s expected matrix, so a reviewer sees the segmentation at a glance.
"""

from __future__ import annotations

import html
import os

from . import policy as cpolicy
from .check import expected
from .create import port_specs
from .model import Project


def _reach_table(project: Project) -> str:
    exp = expected(project)
    rows = []
    for a, row in exp.items():
        for b, e in row.items():
            if e is None:
                continue
            ok = e["ip"]
            color = "#1b7f3b" if ok else "#b00020"
            mark = "reaches" if ok else "cannot reach"
            rows.append(f'<TR><TD ALIGN="LEFT">{html.escape(a)}</TD>'
                        f'<TD><FONT COLOR="{color}">{mark}</FONT></TD>'
                        f'<TD ALIGN="LEFT">{html.escape(b)}</TD></TR>')
    return ('<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">'
            '<TR><TD COLSPAN="3"><B>who reaches whom</B></TD></TR>' + "".join(rows)
            + "</TABLE>>")


def _policy_edges(project: Project, g) -> None:
    """x-boxnet policies (compose/policy.py): a green arrow per service rule, from the
    side that opens the connection, labelled with the ports and whose rule it is; a
    rule for a container, network or CIDR is written under its service's node."""
    for name, svc in project.services.items():
        pol = cpolicy.service_policy(project, svc)
        if pol is None:
            continue
        notes = []
        for direction in ("ingress", "egress"):
            rules = pol.rules(direction)
            if rules is None:
                continue
            if not rules:
                notes.append(f"{direction}: deny all")
            for r in rules:
                ports = ",".join(p.text() for p in r.ports)
                if r.kind != "service":
                    notes.append(f"{direction}: {r.kind} {r.peer} {ports}")
                    continue
                a, b = (r.peer, name) if direction == "ingress" else (name, r.peer)
                g.edge(f"svc_{a}", f"svc_{b}", label=f"{direction} of {name}: {ports}",
                       dir="forward", color="#1b7f3b", fontcolor="#1b7f3b", penwidth="1.5")
        label = f"policy of {name}: " + ", ".join(
            f"{d} default-deny" for d in ("ingress", "egress") if pol.rules(d) is not None)
        g.node(f"pol_{name}", "\n".join([label] + notes), shape="note", fontsize="9",
               style="filled", fillcolor="#e6f4ea")
        g.edge(f"pol_{name}", f"svc_{name}", style="dotted", arrowhead="none")


def build(project: Project):
    """The graphviz.Graph of the project (render it with write())."""
    import graphviz
    g = graphviz.Graph(name=project.name, graph_attr={
        "label": f"compose project {project.name}", "labelloc": "t", "fontsize": "16",
        "rankdir": "LR", "fontname": "Helvetica", "nodesep": "0.4"},
        node_attr={"fontname": "Helvetica", "fontsize": "11"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9"})
    for key, nw in project.networks.items():
        style = "dashed" if nw.internal else "solid"
        subnets = ", ".join(str(c.get("subnet")) for c in nw.ipam_config if c.get("subnet"))
        label = f"{nw.name}\n({'internal' if nw.internal else nw.driver or 'bridge'}" \
                f"{', external' if nw.external else ''}{', ' + subnets if subnets else ''})"
        g.node(f"net_{key}", label, shape="ellipse", style=f"{style},filled",
               fillcolor="#e8f0fe" if not nw.internal else "#fdecea",
               peripheries="2" if nw.external else "1")
    host_needed = False
    for name, svc in project.services.items():
        extra = f"\nx{svc.replicas}" if svc.replicas != 1 else ""
        mode = f"\nnetwork_mode: {svc.network_mode}" if svc.network_mode else ""
        g.node(f"svc_{name}", f"{name}\n{svc.image}{extra}{mode}", shape="box",
               style="rounded,filled", fillcolor="#fff8e1")
        for key, sn in svc.networks.items():
            if svc.network_mode:
                continue
            bits = [a for a in (sn.ipv4_address, sn.ipv6_address) if a]
            bits += [f"alias {a}" for a in sn.aliases]
            g.edge(f"svc_{name}", f"net_{key}", label="\n".join(bits))
        if svc.network_mode.startswith("service:"):
            g.edge(f"svc_{name}", f"svc_{svc.network_mode.split(':', 1)[1]}",
                   label="shares netns", style="dotted")
        for link in svc.links:
            target, _, alias = link.partition(":")
            if target in project.services:
                g.edge(f"svc_{name}", f"svc_{target}", label=f"link {alias or target}",
                       style="dashed", color="#5f6368", fontcolor="#5f6368")
        if svc.network_mode == "host":
            host_needed = True
            g.edge(f"svc_{name}", "host", label="host network", style="bold")
        for spec in port_specs(svc):
            if ":" in spec.split("/")[0]:
                host_needed = True
                g.edge("host", f"svc_{name}", label=f"publish {spec}", color="#b00020",
                       fontcolor="#b00020")
    _policy_edges(project, g)
    if host_needed:
        g.node("host", "host\n(published ports)", shape="house", style="filled",
               fillcolor="#eeeeee")
    g.node("reach", _reach_table(project), shape="plaintext")
    return g


def write(g, output: str, fmt: str | None = None) -> str:
    """Render to `output` (.svg, .png or .dot); return the path written."""
    fmt = fmt or os.path.splitext(output)[1].lstrip(".").lower() or "svg"
    if fmt not in ("svg", "png", "dot"):
        raise ValueError(f"unknown graph format {fmt!r}: use svg, png or dot")
    if fmt == "dot":
        with open(output, "w") as f:
            f.write(g.source)
        return output
    base = output[:-len(fmt) - 1] if output.endswith("." + fmt) else output
    data = g.pipe(format=fmt)
    with open(base + "." + fmt, "wb") as f:
        f.write(data)
    return base + "." + fmt
