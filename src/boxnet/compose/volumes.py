"""A project's top-level `volumes:`: created, found and removed through the Engine API.

Names follow Docker Compose v2: a volume is `<project>_<key>` unless `name:` is set; an
external one is used under `name:` (or its key) and never created or removed. A volume
compose creates carries compose's labels (com.docker.compose.project, .volume, .version)
besides the file's `labels:`, so `docker compose` and `boxnet compose` see the same
volumes as the project's. `down -v` removes the declared, non-external volumes (a volume
labelled for another project is left alone, as compose does) and the anonymous volumes
of the project's containers: removed with their containers (`DELETE ?v=1`), and those
the engine keeps because a recreated container mounted them by name (compose passes a
predecessor's anonymous volumes on) are removed by name when they still carry the
engine's anonymous label.
"""

from __future__ import annotations

from .records import factory, record

from ..client.engine import Client
from ..client.errors import APIError
from . import labels as L
from .errors import ProjectError


@record
class VolumeSpec:
    """A top-level `volumes:` entry."""

    key: str
    name: str
    driver: str = ""
    driver_opts: dict = factory(dict)
    labels: dict = factory(dict)
    external: bool = False
    raw: dict = factory(dict)


def volume_spec(key: str, data: dict | None, project: str) -> VolumeSpec:
    """Build a VolumeSpec from its document entry (None: `volumes: {db:}`)."""
    data = data or {}
    ext = data.get("external")
    external = True if isinstance(ext, dict) else bool(ext)
    name = data.get("name") or (ext.get("name") if isinstance(ext, dict) else None)
    if not name:
        name = key if external else f"{project}_{key}"
    labels = data.get("labels") or {}
    if isinstance(labels, list):
        labels = dict(x.partition("=")[::2] for x in labels)
    return VolumeSpec(key=key, name=str(name), driver=str(data.get("driver") or ""),
                      driver_opts={str(k): str(v) for k, v in
                                   (data.get("driver_opts") or {}).items()},
                      labels={str(k): "" if v is None else str(v) for k, v in labels.items()},
                      external=external, raw=data)


def volume_labels(project_name: str, vol: VolumeSpec) -> dict:
    """The labels of a volume compose creates (the file's first, compose's win)."""
    return {**vol.labels, L.PROJECT: project_name, VOLUME: vol.key,
            L.VERSION: L.COMPOSE_VERSION}


VOLUME = L.PREFIX + "volume"


def create_body(project_name: str, vol: VolumeSpec) -> dict:
    """The POST /volumes/create body of a declared volume."""
    return {"Name": vol.name, "Driver": vol.driver or "local",
            "DriverOpts": vol.driver_opts, "Labels": volume_labels(project_name, vol)}


def _inspect(client: Client, name: str) -> dict | None:
    try:
        return client.get(f"/volumes/{name}")
    except APIError as e:
        if e.status == 404:
            return None
        raise ProjectError(f"volume {name}: {e.message}") from None


def ensure(client: Client, project_name: str, vol: VolumeSpec, log) -> None:
    """Make sure a declared volume exists: create it unless external (which must exist)."""
    found = _inspect(client, vol.name)
    if vol.external:
        if found is None:
            raise ProjectError(f"external volume {vol.name!r} not found (volumes.{vol.key}): "
                               f"create it first (`docker volume create {vol.name}`) or "
                               "drop `external: true`")
        return
    if found is not None:
        lbl = found.get("Labels") or {}
        owner = lbl.get(L.PROJECT)
        if owner is None:
            log(f"WARN volume {vol.name!r} already exists but was not created by compose; "
                "set `external: true` to use an existing volume")
        elif owner != project_name:
            log(f"WARN volume {vol.name!r} already exists but was created for project "
                f"{owner!r} (expected {project_name!r}); set `external: true` to use it")
        return
    try:
        client.post("/volumes/create", create_body(project_name, vol))
    except APIError as e:
        hint = " (this boxnetd has no volume API)" if e.status == 404 else ""
        raise ProjectError(f"volume {vol.name} (volumes.{vol.key}): cannot create it: "
                           f"{e.message}{hint}") from None
    log(f"Volume {vol.name}  Created")


def remove(client: Client, project_name: str, volumes: dict, log) -> list[str]:
    """`down -v`: remove the declared, non-external volumes compose made; return errors."""
    errors: list[str] = []
    for vol in volumes.values():
        if vol.external:
            continue
        found = _inspect(client, vol.name)
        if found is None:
            continue
        owner = (found.get("Labels") or {}).get(L.PROJECT)
        if owner is not None and owner != project_name:
            log(f"WARN volume {vol.name} belongs to project {owner!r}: kept")
            continue
        try:
            client.delete(f"/volumes/{vol.name}")
        except APIError as e:
            if e.status != 404:
                errors.append(f"volume {vol.name}: {e.message}")
            continue
        log(f"Volume {vol.name}  Removed")
    return errors


ANONYMOUS = "com.docker.volume.anonymous"


def remove_anonymous(client: Client, names: list[str], log) -> list[str]:
    """Remove the given volumes that are anonymous (engine label) and unused; errors."""
    errors: list[str] = []
    for name in names:
        found = _inspect(client, name)
        if found is None or ANONYMOUS not in (found.get("Labels") or {}):
            continue
        try:
            client.delete(f"/volumes/{name}")
        except APIError as e:
            if e.status == 409:
                log(f"WARN volume {name} is still in use: kept")
            elif e.status != 404:
                errors.append(f"volume {name}: {e.message}")
            continue
        log(f"Volume {name}  Removed")
    return errors
