"""`compose config`: the resolved project (interpolated, merged, defaults filled) as YAML/JSON.

The output is what boxnet will run: network engine names, the default network, each
service's networks in mapping form. Strings that YAML 1.1 readers would misread
(`22:22`, `no`, `on`) are quoted, so the output reads back the same with any parser.
"""

from __future__ import annotations

import json

import yaml

from .model import Project


class _Dumper(yaml.SafeDumper):
    """SafeDumper that keeps key order and quotes ambiguous strings."""


def _str(dumper, value: str):
    style = None
    if yaml.safe_load(f"x: {value}" if value and "\n" not in value else "x: ''") != \
            {"x": value} or value in ("", "~"):
        style = '"'
    if "\n" in value:
        style = "|"
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def resolved(project: Project) -> dict:
    """The canonical document of the project."""
    services = {}
    for name, svc in project.services.items():
        raw = dict(svc.raw)
        if not svc.network_mode:
            raw["networks"] = {k: {f: v for f, v in vars(sn).items()
                                   if f != "key" and v not in ("", [], {}, 0)} or None
                               for k, sn in svc.networks.items()}
        if svc.environment:
            raw["environment"] = dict(svc.environment)
        raw.pop("env_file", None)
        services[name] = raw
    networks = {}
    for key, nw in project.networks.items():
        entry = dict(nw.raw)
        entry["name"] = nw.name
        if nw.external:
            entry["external"] = True
        networks[key] = entry
    out = {"name": project.name, "services": services}
    if networks:
        out["networks"] = networks
    for key in ("volumes", "secrets", "configs"):
        if project.data.get(key):
            out[key] = project.data[key]
    return out


def render(project: Project, fmt: str = "yaml") -> str:
    """The resolved project as YAML (default) or JSON text."""
    doc = resolved(project)
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True)
