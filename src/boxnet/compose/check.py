"""`compose check`: prove that the segmentation the file declares is what the kernel enforces.

Expected matrix, from the file alone: service A may reach service B when they share a
network (internal or not); `network_mode: service:X` shares X's networks; `none` reaches
nothing; `host` reaches services on non-internal networks by IP but not by service name
(it has the host's resolver). Pairs whose target runs in host mode are not probed (its
address is the host's).

Observed matrix, from inside the running containers (one exec per source container,
probes run in parallel in its shell): by IP, a TCP connect to every address of every
replica of B (reachable if any answers); by name, a TCP connect to B's service name. The
port is B's first `expose`/`ports` target; with none, ICMP ping is used instead. A
connect that succeeds and then idles is killed by `timeout` (exit 143) and counts as
reached; a blocked one fails at nc's own 2 s connect timeout first.

Policies (x-boxnet, compose/policy.py) narrow the expected matrix: a pair that shares
a network is expected reachable on the probed port only when A's egress and B's
ingress policies allow it, and every other TCP port the pair's policies name is probed
by address too, port by port (the cell's ``ports``: {port: bool}).  A port allowed by
the policy is expected to answer, so the service must listen on it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from . import engine
from . import policy as cpolicy
from .model import Project, Service

CONNECT_S = 2


def _nets(project: Project, svc: Service) -> set[str] | str:
    mode = svc.network_mode
    if mode.startswith("service:"):
        return _nets(project, project.services[mode.split(":", 1)[1]])
    if mode in ("host", "none") or mode.startswith("container:"):
        return mode.split(":")[0]
    return set(svc.networks)


def expected(project: Project) -> dict:
    """{a: {b: {"ip": bool, "name": bool} | None}} from the file (None: not probed)."""
    out: dict = {}
    for a, sa in project.services.items():
        out[a] = {}
        na = _nets(project, sa)
        for b, sb in project.services.items():
            if a == b:
                continue
            nb = _nets(project, sb)
            if nb in ("host", "container"):
                out[a][b] = None
            elif na == "none" or nb == "none":
                out[a][b] = {"ip": False, "name": False}
            elif na == "host":
                public = any(not project.networks[k].internal for k in nb)
                out[a][b] = {"ip": public, "name": False}
            elif na == "container":
                out[a][b] = None
            else:
                shared = bool(na & nb)
                port = target_port(sb)
                ok = shared and cpolicy.allows(project, a, b, "tcp" if port else "icmp",
                                               int(port or 0))
                out[a][b] = {"ip": ok, "name": ok}
                extra = [p for p in cpolicy.policy_ports(project, a, b) if str(p) != port]
                if extra:
                    out[a][b]["ports"] = {str(p): shared and cpolicy.allows(project, a, b,
                                                                           "tcp", p)
                                          for p in extra}
    return out


def target_port(svc: Service) -> str | None:
    """The port to probe on a service: first expose, else first ports target."""
    if svc.expose:
        return svc.expose[0].split("/")[0].split("-")[0]
    for p in svc.ports:
        if isinstance(p, dict):
            return str(p.get("target"))
        return str(p).split("/")[0].rsplit(":", 1)[-1].split("-")[0]
    return None


def _probe_cmd(addr: str, port: str | None) -> str:
    if port is None:
        return f"ping -c1 -W{CONNECT_S} {addr} >/dev/null 2>&1"
    return (f"timeout {CONNECT_S + 1} nc -w{CONNECT_S} {addr} {port} "
            "</dev/null >/dev/null 2>&1")


def _script(probes: dict[str, str]) -> str:
    """A shell script running every probe in the background, printing `key rc` lines."""
    lines = [f"( {cmd}; echo \"{key} $?\" ) &" for key, cmd in probes.items()]
    return "\n".join(lines + ["wait"])


def _targets(client, project: Project, runner_containers) -> dict:
    """{service: {"ips": [...], "running": bool}} from inspect."""
    out = {}
    for name in project.services:
        ips, running = [], False
        for c in runner_containers(name):
            info = engine.inspect(client, c["Id"])
            running = running or bool((info.get("State") or {}).get("Running"))
            for ep in engine.container_addresses(info).values():
                ips += [a for a in (ep["ipv4"], ep["ipv6"]) if a]
        out[name] = {"ips": ips, "running": running,
                     "cid": (runner_containers(name) or [{}])[0].get("Id")}
    return out


def observe(runner, exp: dict) -> tuple[dict, list[str]]:
    """Probe every expected pair from inside the containers; (observed, notes)."""
    project, client = runner.project, runner.client
    tg = _targets(client, project, lambda n: runner.containers(n, all_=False))
    notes: list[str] = []
    obs: dict = {a: {} for a in project.services}

    def run_source(a: str) -> None:
        src = tg[a]
        if not src["running"]:
            notes.append(f"{a}: not running, not probed")
            return
        probes = {}
        for b, e in exp[a].items():
            if e is None or not tg[b]["running"]:
                continue
            port = target_port(project.services[b])
            for i, ip in enumerate(tg[b]["ips"]):
                probes[f"{b}|ip|{i}"] = _probe_cmd(ip, port)
            probes[f"{b}|name|0"] = _probe_cmd(b, port)
            for extra in e.get("ports", {}):
                for i, ip in enumerate(tg[b]["ips"]):
                    probes[f"{b}|port {extra}|{i}"] = _probe_cmd(ip, extra)
        if not probes:
            return
        code, out, err = engine.exec_run(client, src["cid"], ["sh", "-c", _script(probes)],
                                         timeout=CONNECT_S * 4 + 5)
        if code in (126, 127) or (code is None and not out):
            notes.append(f"{a}: cannot run the probes in its container ({err.strip()[:120]}):"
                         " the image needs sh, nc and ping (busybox has them)")
            return
        for line in out.splitlines():
            key, _, rc = line.rpartition(" ")
            b, kind, _ = key.split("|")
            ok = rc in ("0", "143")
            cell = obs[a].setdefault(b, {"ip": False, "name": False})
            if kind.startswith("port "):
                ports = cell.setdefault("ports", {})
                ports[kind[5:]] = ports.get(kind[5:], False) or ok
            else:
                cell[kind] = cell[kind] or ok

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(run_source, list(project.services)))
    for b, info in tg.items():
        if not info["running"]:
            notes.append(f"{b}: no running container, pairs towards it not probed")
    return obs, notes


def differences(exp: dict, obs: dict) -> list[dict]:
    """Every (from, to, probe) whose observation differs from the expectation."""
    diffs = []
    for a, row in exp.items():
        for b, e in row.items():
            o = obs.get(a, {}).get(b)
            if e is None or o is None:
                continue
            for kind in ("ip", "name"):
                if e[kind] != o[kind]:
                    diffs.append({"from": a, "to": b, "probe": kind, "expected": e[kind],
                                  "observed": o[kind]})
            for port, want in e.get("ports", {}).items():
                got = o.get("ports", {}).get(port, False)
                if want != got:
                    diffs.append({"from": a, "to": b, "probe": f"port {port}",
                                  "expected": want, "observed": got})
    return diffs


def run_check(runner) -> dict:
    """Expected and observed matrices, the differences, and ok (no difference)."""
    exp = expected(runner.project)
    obs, notes = observe(runner, exp)
    diffs = differences(exp, obs)
    return {"project": runner.project.name, "services": list(runner.project.services),
            "expected": exp, "observed": obs, "differences": diffs, "notes": notes,
            "ok": not diffs}


def _cell(v) -> str:
    if v is None:
        return "  -  "
    return ("ip " if v["ip"] else "-- ") + ("N" if v["name"] else "-")


def format_text(result: dict) -> str:
    """The two matrices side by side (rows: from, columns: to), then the differences."""
    names = result["services"]
    w = max(len(n) for n in names + ["from \\ to"])
    head = "from \\ to".ljust(w) + " | " + " ".join(n[:6].ljust(6) for n in names)
    lines = [f"project {result['project']}: reachability (ip = TCP/ICMP by address, "
             "N = by service name)", "", "EXPECTED (from the file)".ljust(len(head)) +
             "    OBSERVED (from inside the containers)", head + "    " + head,
             "-" * len(head) + "    " + "-" * len(head)]
    for a in names:
        row = []
        for table in (result["expected"], result["observed"]):
            cells = [("  x   " if a == b else _cell(table.get(a, {}).get(b)).ljust(6))
                     for b in names]
            row.append(a.ljust(w) + " | " + " ".join(cells))
        lines.append(row[0] + "    " + row[1])
    lines.append("")
    for d in result["differences"]:
        lines.append(f"DIFFERENCE {d['from']} -> {d['to']} by {d['probe']}: expected "
                     f"{'reachable' if d['expected'] else 'blocked'}, observed "
                     f"{'reachable' if d['observed'] else 'blocked'}")
    for n in result["notes"]:
        lines.append(f"note: {n}")
    lines.append("OK: the kernel enforces the segmentation the file declares" if result["ok"]
                 else f"FAILED: {len(result['differences'])} difference(s)")
    return "\n".join(lines) + "\n"
