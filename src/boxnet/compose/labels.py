"""The `com.docker.compose.*` labels, as Docker Compose v2 sets them, and config hashes.

Containers carry project, service, container-number, oneoff, config-hash, depends_on,
image, project.working_dir, project.config_files and version; networks carry project,
network, version and config-hash. The config hash of a service is the SHA-256 of its
canonical JSON (plus what it depends on that changes the container: its networks'
engine names), so `up` recreates exactly the containers whose configuration changed.
"""

from __future__ import annotations

import json

from .digest import sha256
from .model import NetworkSpec, Project, Service

PREFIX = "com.docker.compose."
PROJECT = PREFIX + "project"
SERVICE = PREFIX + "service"
NETWORK = PREFIX + "network"
NUMBER = PREFIX + "container-number"
ONEOFF = PREFIX + "oneoff"
HASH = PREFIX + "config-hash"
DEPENDS = PREFIX + "depends_on"
IMAGE = PREFIX + "image"
WORKDIR = PREFIX + "project.working_dir"
FILES = PREFIX + "project.config_files"
VERSION = PREFIX + "version"
COMPOSE_VERSION = "2.29.0"   # the Docker Compose behaviour these labels follow


def _digest(obj) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return sha256(text.encode()).hexdigest()


def service_hash(project: Project, svc: Service) -> str:
    """The config-hash of a service (scale excluded: changing replicas recreates nothing)."""
    raw = {k: v for k, v in svc.raw.items() if k not in ("scale", "depends_on")}
    if isinstance(raw.get("deploy"), dict):
        raw["deploy"] = {k: v for k, v in raw["deploy"].items() if k != "replicas"}
    nets = {k: project.networks[k].name for k in svc.networks if k in project.networks}
    return _digest({"service": raw, "env": svc.environment, "networks": nets})


def network_hash(nw: NetworkSpec) -> str:
    """The config-hash of a network declaration."""
    return _digest(nw.raw)


def container_labels(project: Project, svc: Service, number: int) -> dict:
    """The labels of replica `number` of a service (user labels first, ours win)."""
    deps = ",".join(f"{k}:{v['condition']}:{str(bool(v.get('restart'))).lower()}"
                    for k, v in svc.depends_on.items())
    from .policy import labels as policy_labels   # x-boxnet policy (compose/policy.py)
    return {**svc.labels, **policy_labels(project, svc),
            PROJECT: project.name, SERVICE: svc.name, NUMBER: str(number), ONEOFF: "False",
            HASH: service_hash(project, svc), DEPENDS: deps, IMAGE: svc.image,
            WORKDIR: project.working_dir, FILES: ",".join(project.files),
            VERSION: COMPOSE_VERSION}


def network_labels(project: Project, nw: NetworkSpec) -> dict:
    """The labels of a network compose creates."""
    return {**nw.labels, PROJECT: project.name, NETWORK: nw.key, VERSION: COMPOSE_VERSION,
            HASH: network_hash(nw)}


def project_filter(project: str, service: str | None = None, oneoff: bool = False) -> list:
    """Label filters for the containers of a project (and service)."""
    f = [f"{PROJECT}={project}", f"{ONEOFF}={'True' if oneoff else 'False'}"]
    if service:
        f.append(f"{SERVICE}={service}")
    return f
