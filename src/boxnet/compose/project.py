"""Bring a compose project up and down against the Engine API.

`up` is idempotent: networks are reused when present, and each replica whose
`com.docker.compose.config-hash` label still matches the file is left running (started if
stopped); a changed service is recreated; surplus replicas are removed. Services start in
dependency order (`depends_on`, `network_mode: service:X`), and among services that are
ready at the same time those asking for static addresses go first (the only guard for
addresses inside a user-given ip_range: see netops.py). `down` removes the project's
containers, then the networks compose created: never external ones.
"""

from __future__ import annotations

from ..client.engine import Client
from ..client.errors import APIError, OptionError
from . import create, engine, health, mounts, netops, parallel, support, volumes
from . import labels as L
from .errors import ComposeError, ProjectError, dotted
from .model import Project, Service
from .semantics import dependencies


VERBS = {"stop": "Stopped", "start": "Started", "restart": "Restarted"}


def start_order(project: Project, only: list[str] | None = None) -> list[str]:
    """Service names, dependencies first (with the dependencies of `only`, if given)."""
    svcs = project.services

    def deps(name: str) -> list[str]:
        return [d for d in dependencies(svcs[name]) if d in svcs]

    wanted: set[str] = set()
    todo = list(only or svcs)
    while todo:
        n = todo.pop()
        if n not in svcs:
            raise ProjectError(f"no such service: {n}")
        if n not in wanted:
            wanted.add(n)
            todo += deps(n)
    order: list[str] = []
    while len(order) < len(wanted):
        ready = [n for n in svcs if n in wanted and n not in order
                 and all(d in order for d in deps(n))]
        ready.sort(key=lambda n: not any(sn.ipv4_address or sn.ipv6_address
                                         for sn in svcs[n].networks.values()))
        order.append(ready[0])
    return order


class Runner:
    """Runs one loaded project against a daemon (`log` prints progress lines)."""

    def __init__(self, client: Client, project: Project, log=print):
        self.stop_timeout: int | None = None  # -t of down/up: overrides stop_grace_period
        self.client = client
        self.project = project
        self.log = log

    # -- helpers ---------------------------------------------------------------------------
    def containers(self, service: str | None = None, all_: bool = True) -> list[dict]:
        """This project's containers (optionally of one service)."""
        return engine.containers(self.client, self.project.name, service, all_)

    def first_container(self, service: str) -> str:
        """The id of a service's first container (for network_mode: service:X)."""
        cs = self.containers(service)
        if not cs:
            raise ProjectError(f"service {service!r} has no container yet")
        return cs[0]["Id"]

    def pull(self, names: list[str] | None = None, missing_only: bool = False) -> list[str]:
        """`compose pull`: pull the image of each service that names one (policy
        never skipped; `missing_only`: only images not present); the status lines."""
        out = []
        for n in names or list(self.project.services):
            svc = self.project.services[n]
            policy = str(svc.get("pull_policy") or "missing")
            if not svc.image or policy == "never" or (
                    missing_only and engine.image_exists(self.client, svc.image)):
                continue
            try:
                out.append(engine.pull_image(self.client, svc.image))
            except APIError as e:
                where = self.where(("services", n, "image"))
                raise ProjectError(f"{where}service {n!r}: pulling {svc.image!r}: "
                                   f"{e.message}") from None
        return out

    def _check_images(self, names: list[str]) -> None:
        present: set[str] = set()   # asked once per image, not once per service
        for n in names:
            svc = self.project.services[n]
            policy = str(svc.get("pull_policy") or "missing")
            if svc.image and policy == "always":
                self.pull([n])
            if svc.image and (svc.image in present
                              or engine.image_exists(self.client, svc.image)):
                present.add(svc.image)
                continue
            if svc.image and svc.build is None and policy in ("missing", "if_not_present"):
                self.pull([n])          # pull_policy missing (the default): pulled first
                present.add(svc.image)
                continue
            where = self.where(("services", n, "build" if svc.build is not None else "image"))
            if svc.build is not None:
                raise ProjectError(
                    f"{where}service {n!r} has `build:` and its image {svc.image or '(none)'!r} is "
                    "not present locally: boxnet compose does not build images; build or "
                    "import the image first (boxnet import / docker save), then set `image:`")
            raise ProjectError(f"{where}service {n!r}: image {svc.image!r} not found locally "
                               "and its pull_policy is never: pull or load it first")

    def where(self, path: tuple) -> str:
        """`file:line: path: ` of a key in the project's files, for error messages."""
        file, line = self.project.locate(path)
        return f"{file}:{line}: {dotted(path)}: " if line else f"{file}: {dotted(path)}: "

    # -- up --------------------------------------------------------------------------------
    def up(self, services: list[str] | None = None) -> None:
        """Create what is missing, recreate what changed, start everything (idempotent)."""
        order = start_order(self.project, services)
        self._check_images(order)
        keys: list[str] = []
        for n in order:
            for k in self.project.services[n].networks:
                if k not in keys:
                    keys.append(k)
        for k in self.project.networks:
            if self.project.networks[k].external and k not in keys:
                keys.append(k)
        keys.sort(key=lambda k: not self.project.networks[k].external)  # fail before creating

        def ensure(k: str) -> None:
            try:
                netops.ensure(self.client, self.project, self.project.networks[k], self.log)
            except ProjectError as e:
                raise ProjectError(self.where(("networks", k)) + str(e)) from None
        for k in keys:
            if self.project.networks[k].external:
                ensure(k)   # one by one, before anything is created
        parallel.each(ensure, [k for k in keys if not self.project.networks[k].external])
        vols = sorted(self.project.volumes.items(), key=lambda kv: not kv[1].external)
        for key, vol in vols:  # external ones first: fail before creating anything
            if self._uses_volume(order, key):
                volumes.ensure(self.client, self.project.name, vol, self.log)
        observed: dict[str, list] = {}   # one listing, as compose v2's observed state
        for c in self.containers():
            observed.setdefault(c["Labels"].get(L.SERVICE, ""), []).append(c)
        for n in order:
            svc = self.project.services[n]
            for dep, cfg in svc.depends_on.items():
                health.wait_condition(self, dep, cfg["condition"])
            self.converge(svc, observed.get(n, []))

    def wait(self, services: list[str] | None = None, timeout: float = 120) -> None:
        """`up --wait`: every service running, and healthy when it has a healthcheck."""
        for n in start_order(self.project, services):
            svc = self.project.services[n]
            hc = svc.get("healthcheck") or {}
            if hc and not hc.get("disable"):
                health.wait_condition(self, n, "service_healthy", timeout)
            for c in self.containers(n):
                if (engine.inspect(self.client, c["Id"]).get("State") or {}).get(
                        "Status") != "running":
                    raise ProjectError(f"container for service {n!r} is not running")

    def _uses_volume(self, order: list[str], key: str) -> bool:
        """Whether one of the services being brought up mounts the volume `key` (a
        declared volume no service uses is created anyway, as compose does, on a full up)."""
        if len(order) == len(self.project.services):
            return True
        name = self.project.volumes[key].name
        for n in order:
            svc = self.project.services[n]
            for m in mounts.service_mounts(self.project, svc)["mounts"]:
                if m.get("Source") == name:
                    return True
        return False

    def converge(self, svc: Service, found: list[dict] | None = None) -> None:
        """Make a service's containers match the file (`found`: its containers as listed
        at the start of `up`; listed now when not given)."""
        want = L.service_hash(self.project, svc)
        if found is None:
            found = self.containers(svc.name)
        existing = {int(c["Labels"].get(L.NUMBER) or 0): c for c in found}
        for number in range(1, svc.replicas + 1):
            name = self.project.container_name(svc, number)
            c = existing.pop(number, None)
            inherit = None
            if c is not None and (c["Labels"].get(L.HASH) != want or self._stale_mode(svc, c)):
                inherit = self._anonymous_volumes(c)
                self._remove(c, "Recreate")
                c = None
            if c is None:
                cid = self._create(svc, number, name, inherit)
                self._start(cid, name)
            elif c.get("State") != "running":
                self._start(c["Id"], name)
            else:
                self.log(f"Container {name}  Running")
        for c in existing.values():  # scaled down
            self._remove(c, "Removed")

    def _stale_mode(self, svc: Service, c: dict) -> bool:
        """`network_mode: service:X` whose X was recreated: the container still names
        (and sits in the namespace of) the old X, so it must be recreated too."""
        if not svc.network_mode.startswith("service:"):
            return False
        mode = (c.get("HostConfig") or {}).get("NetworkMode", "")
        return mode != "container:" + self.first_container(svc.network_mode.split(":", 1)[1])

    def _anonymous_volumes(self, c: dict) -> dict:
        """{destination: name} of the volumes a container mounts that are not the
        project's named volumes (kept across its recreation)."""
        named = {v.name for v in self.project.volumes.values()}
        info = engine.inspect(self.client, c["Id"])
        return {m["Destination"]: m["Name"] for m in info.get("Mounts") or []
                if m.get("Type") == "volume" and m.get("Name") and m["Name"] not in named}

    def _create(self, svc: Service, number: int, name: str, inherit: dict | None = None
                ) -> str:
        try:
            body = create.body(self.project, svc, number, self.first_container, inherit)
        except OptionError as e:
            raise ProjectError(f"service {svc.name!r}: boxnet: {e}") from None
        except ComposeError as e:
            raise ProjectError(str(e)) from None
        try:
            cid = self.client.post("/containers/create", body, name=name)["Id"]
        except APIError as e:
            key = support.engine_key(e.message) if e.status == 400 else None
            raise ProjectError(f"service {svc.name!r}: " + (f"{key}: " if key else "")
                               + f"cannot create {name}: {e.message}") from None
        self.log(f"Container {name}  Created")
        return cid

    def _start(self, cid: str, name: str) -> None:
        try:
            self.client.post(f"/containers/{cid}/start")
        except APIError as e:
            raise ProjectError(f"cannot start {name}: {e.message}") from None
        self.log(f"Container {name}  Started")

    def _remove(self, c: dict, verb: str, anonymous_volumes: bool = False) -> None:
        name = (c.get("Names") or ["/" + c["Id"][:12]])[0].lstrip("/")
        try:
            if c.get("State") == "running" and self._grace(c) != 0:  # -t 0: force remove kills
                self.client.post(f"/containers/{c['Id']}/stop", t=self._grace(c))
            self.client.delete(f"/containers/{c['Id']}", force=1,
                               v=1 if anonymous_volumes else None)
        except APIError as e:
            if e.status != 404:
                raise ProjectError(f"cannot remove {name}: {e.message}") from None
        self.log(f"Container {name}  {verb}")

    def _grace(self, c: dict) -> int | None:
        if self.stop_timeout is not None:
            return self.stop_timeout
        svc = self.project.services.get(c["Labels"].get(L.SERVICE, ""))
        value = svc.get("stop_grace_period") if svc else None
        return int(health.seconds(value)) if value else None

    def remove_orphans(self) -> None:
        """Remove the containers of services no longer in the file (`up --remove-orphans`)."""
        for c in self.containers():
            if c["Labels"].get(L.SERVICE) not in self.project.services:
                self._remove(c, "Removed")

    # -- down ------------------------------------------------------------------------------
    def down(self, remove_orphans: bool = False, remove_volumes: bool = False) -> list[str]:
        """Remove the project's containers (reverse order), then its networks, and with
        remove_volumes (`down -v`) the anonymous volumes of its containers and its named
        volumes (not external ones); return errors."""
        order = start_order(self.project)
        rank = {n: i for i, n in enumerate(order)}
        cs = self.containers()
        orphans = [c for c in cs if c["Labels"].get(L.SERVICE) not in self.project.services]
        if orphans and not remove_orphans:
            names = ", ".join(c["Labels"].get(L.SERVICE, "?") for c in orphans)
            self.log(f"WARN Found orphan containers ({names}) for this project; run with "
                     "--remove-orphans to clean them up")
            cs = [c for c in cs if c not in orphans]
        # dependents first; the containers of one service go down in parallel
        levels: dict[int, list] = {}
        for c in cs:
            levels.setdefault(-rank.get(c["Labels"].get(L.SERVICE), len(rank)), []).append(c)
        errors: list[str] = []

        def remove(c: dict) -> None:
            try:
                self._remove(c, "Removed", anonymous_volumes=remove_volumes)
            except ProjectError as e:
                errors.append(str(e))

        anonymous = {n for c in cs for n in self._anonymous_volumes(c).values()} \
            if remove_volumes else set()
        for lvl in sorted(levels):
            parallel.each(remove, levels[lvl])
        if not orphans or remove_orphans:
            errors += netops.remove(self.client, self.project, self.log)
        else:
            self.log("WARN networks kept: orphan containers still use them")
        if remove_volumes:
            errors += volumes.remove(self.client, self.project.name, self.project.volumes,
                                     self.log)
            errors += volumes.remove_anonymous(self.client, sorted(anonymous), self.log)
        return errors

    # -- simple lifecycle ------------------------------------------------------------------
    def _restart_dependents(self, services: list[str]) -> list[str]:
        """`services` and, transitively, those depending on them with `restart: true`."""
        out = list(services)
        grew = True
        while grew:
            grew = False
            for n, svc in self.project.services.items():
                if n not in out and any(d in out and cfg.get("restart")
                                        for d, cfg in svc.depends_on.items()):
                    out.append(n)
                    grew = True
        return out

    def each(self, action: str, services: list[str] | None = None,
             timeout: int | None = None) -> None:
        """stop / start / restart the containers of the given services (all by default);
        restarting a service restarts the services that depend on it with
        `restart: true` too (after it), as docker compose does."""
        if action == "restart" and services:
            services = self._restart_dependents(list(services))
        order = start_order(self.project, services) if services else \
            start_order(self.project)
        if action == "stop":
            order = list(reversed(order))
        for n in order:
            if services and n not in services:
                continue
            for c in self.containers(n):
                name = c["Names"][0].lstrip("/")
                q = {"t": timeout} if action != "start" else {}
                try:
                    self.client.post(f"/containers/{c['Id']}/{action}", **q)
                except APIError as e:
                    raise ProjectError(f"cannot {action} {name}: {e.message}") from None
                self.log(f"Container {name}  {VERBS[action]}")
