"""Load a compose project: find files, read .env, parse, interpolate, validate, merge, check.

load(files, project_name, env_file) -> Project, or ComposeError naming file/path/line.
Order as in Docker Compose: each file is parsed (YAML 1.2), interpolated and validated
against the compose-spec schema on its own; then the files are merged; then the rules the
schema cannot express are checked on the merged project (semantics.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from . import hostopts, merge, mounts, schema, semantics, support, yaml12
from . import bandwidth, policy
from .errors import ComposeError
from .interpolate import interpolate, read_env_file
from .model import Project, Service, as_list, network_spec, normalize_project_name, \
    service_networks
from .volumes import volume_spec

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")


def find_files(files: list[str] | None, cwd: str | None = None) -> list[str]:
    """The -f files, else $COMPOSE_FILE, else the first default file found up from cwd."""
    if files:
        return list(files)
    env = os.environ.get("COMPOSE_FILE")
    if env:
        return env.split(os.environ.get("COMPOSE_PATH_SEPARATOR", ":"))
    d = Path(cwd or os.getcwd()).resolve()
    for folder in (d, *d.parents):
        for name in DEFAULT_FILES:
            if (folder / name).is_file():
                return [str(folder / name)]
    raise ComposeError("no configuration file provided: not found", None, (), None,
                       f"create one of {', '.join(DEFAULT_FILES)} or pass -f FILE")


def project_env(project_dir: str, env_file: str | None, environ: dict | None) -> dict:
    """Variables for interpolation: the .env file (or --env-file), overridden by the shell."""
    environ = dict(os.environ if environ is None else environ)
    path = env_file or os.path.join(project_dir, ".env")
    values: dict = {}
    if env_file and not os.path.isfile(env_file):
        raise ComposeError(f"env file {env_file} not found", env_file, (), None,
                           "check the --env-file path")
    if os.path.isfile(path):
        values = read_env_file(path, environ)
    values.update(environ)
    return values


def read_document(file: str, env: dict, warnings: list) -> tuple[dict, dict]:
    """Parse, interpolate and validate one file; return (document, lines)."""
    try:
        with open(file, "rb") as f:
            text = f.read(yaml12.MAX_BYTES + 1)
    except OSError as e:
        raise ComposeError(f"cannot read the file: {e.strerror}", file, (), None,
                           "check the -f path") from None
    data, lines = yaml12.load(text, file)
    data = interpolate(data, env, file, lines, warnings)
    schema.validate(merge.strip(data), file, lines)
    return data, lines


def _service(name: str, raw: dict, project_dir: str, locate, shell: dict) -> Service:
    env: dict = {}
    for ef in as_list(raw.get("env_file")):
        path = ef.get("path") if isinstance(ef, dict) else ef
        required = ef.get("required", True) if isinstance(ef, dict) else True
        full = os.path.join(project_dir, str(path))
        if not os.path.isfile(full):
            if required:
                file, line = locate(("services", name, "env_file"))
                raise ComposeError(f"env file {full} not found", file,
                                   ("services", name, "env_file"), line,
                                   "create it or mark it `required: false`")
            continue
        env.update(read_env_file(full))
    for k, v in (raw.get("environment") or {}).items():
        if v is None:  # `- KEY` alone: the value comes from the shell, if set there
            if k in shell:
                env[k] = shell[k]
        else:
            env[k] = str(v).lower() if isinstance(v, bool) else str(v)
    deploy = raw.get("deploy") or {}
    replicas = raw.get("scale", deploy.get("replicas", 1))
    depends = raw.get("depends_on") or {}
    labels = raw.get("labels") or {}
    return Service(
        name=name, raw=raw, image=str(raw.get("image") or ""), build=raw.get("build"),
        networks=service_networks(raw), network_mode=str(raw.get("network_mode") or ""),
        replicas=int(1 if replicas is None else replicas),
        depends_on={k: {"condition": (v or {}).get("condition", "service_started"),
                        "required": (v or {}).get("required", True),
                        "restart": bool((v or {}).get("restart", False))}
                    for k, v in depends.items()},
        environment=env, labels={k: "" if v is None else str(v) for k, v in labels.items()},
        ports=list(raw.get("ports") or []), expose=[str(e) for e in raw.get("expose") or []],
        extra_hosts=_extra_hosts(raw.get("extra_hosts")),
        links=[str(x) for x in raw.get("links") or []],
        container_name=str(raw.get("container_name") or ""))


def _extra_hosts(value) -> list[str]:
    if isinstance(value, dict):
        out = []
        for host, ips in value.items():
            for ip in as_list(ips):
                out.append(f"{host}:{ip}")
        return out
    return [str(x).replace("=", ":", 1) for x in value or []]


def load(files: list[str] | None = None, project_name: str | None = None,
         env_file: str | None = None, environ: dict | None = None,
         project_dir: str | None = None) -> Project:
    """Load and check a project; raise ComposeError on the first problem."""
    files = find_files(files)
    project_dir = os.path.abspath(project_dir or os.path.dirname(os.path.abspath(files[0])))
    env = project_env(project_dir, env_file, environ)
    warnings: list = []
    docs, all_lines = [], []
    for f in files:
        doc, lines = read_document(f, env, warnings)
        docs.append(doc)
        all_lines.append((f, lines))
    data = merge.merge_files(docs)
    name = project_name or env.get("COMPOSE_PROJECT_NAME") or data.get("name") \
        or os.path.basename(project_dir)
    norm = normalize_project_name(str(name))
    if not norm or (project_name and norm != project_name):
        raise ComposeError(f"invalid project name {name!r}", None, (), None,
                           "use only lowercase letters, digits, '-' and '_', starting "
                           "with a letter or a digit")
    data["name"] = norm
    project = Project(name=norm, working_dir=project_dir, files=[os.path.abspath(f)
                      for f in files], services={}, networks={}, data=data,
                      lines=all_lines, warnings=warnings)
    services = data.get("services") or {}
    if not services and not data.get("include"):
        raise ComposeError("no service is defined", files[0], ("services",), None,
                           "declare at least one service under `services:`")
    for sname, raw in services.items():
        project.services[sname] = _service(sname, raw or {}, project_dir, project.locate, env)
    declared = dict(data.get("networks") or {})
    uses_default = any(not s.networks and not s.network_mode for s in project.services.values())
    if uses_default or "default" in declared:
        declared.setdefault("default", None)
    for key, ndata in declared.items():
        project.networks[key] = network_spec(key, ndata, norm)
    for s in project.services.values():
        if not s.networks and not s.network_mode:
            from .model import ServiceNetwork
            s.networks = {"default": ServiceNetwork(key="default")}
    for key, vdata in (data.get("volumes") or {}).items():
        project.volumes[key] = volume_spec(key, vdata, norm)
    for key in ("include", "models"):
        if data.get(key):
            file, line = project.locate((key,))
            raise ComposeError(f"top-level `{key}` is not supported by boxnet compose",
                               file, (key,), line, "merge the files with -f instead"
                               if key == "include" else "remove it")
    semantics.check(project)
    policy.check(project)   # x-boxnet policies (compose/policy.py)
    bandwidth.check(project)   # x-boxnet bandwidth (compose/bandwidth.py)
    support.refuse_network_keys(project)
    for s in project.services.values():
        support.refuse_unhandled(project, s)
    mounts.check(project)
    hostopts.check(project)
    return project
