"""Links as Docker has them: on a user-defined network a link to a container that does
not exist yet (or is stopped) is allowed at start and resolves, from the linking
container only, once the target runs; a legacy link on the default bridge keeps
Docker's rule ("Cannot link to a non running container"). And `boxnet compose` starts
a linked service first and the link alias resolves from inside the linking container."""

from __future__ import annotations

import textwrap
import time

import pytest

pytestmark = pytest.mark.kernel


def lookup(h, container: str, name: str) -> str:
    """The addresses `name` resolves to from inside the container ('' if none)."""
    r = h.exec(container, "timeout", "5", "nslookup", name)
    if r.returncode != 0:
        return ""
    return r.stdout.split("Name:", 1)[-1] if "Name:" in r.stdout else ""


def wait_lookup(h, container: str, name: str, addr: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = lookup(h, container, name)
        if addr in out:
            return out
        time.sleep(0.2)
    return out


def test_link_to_later_container_on_user_network(host):
    """A container on a user network linking to `late` (not yet created) starts; the
    alias resolves from it once `late` runs, and from nowhere else."""
    h = host
    h.cli("network", "create", "lk-net")
    try:
        # endpoint Links (what compose sends) and HostConfig.Links (what `--link` sends)
        body = {"Image": "busybox", "Cmd": ["sleep", "600"],
                "HostConfig": {"NetworkMode": "lk-net", "Links": ["/late2:/early/db2"]},
                "NetworkingConfig": {"EndpointsConfig": {"lk-net": {"Links": ["late:db"]}}}}
        h.api_ok("POST", "/containers/create?name=early", json=body)
        status, msg = h.api("POST", "/containers/early/start")
        assert status == 204, (status, msg)
        h.cli("run", "-d", "--name", "other", "--network", "lk-net", "busybox", "sleep", "600")
        assert "Address" not in lookup(h, "early", "db")
        h.cli("run", "-d", "--name", "late", "--network", "lk-net", "busybox", "sleep", "600")
        h.cli("run", "-d", "--name", "late2", "--network", "lk-net", "busybox", "sleep", "600")
        ip = h.ip_of("late", "lk-net")
        out = wait_lookup(h, "early", "db", ip)
        assert ip in out, out
        ip2 = h.ip_of("late2", "lk-net")
        out = wait_lookup(h, "early", "db2", ip2)
        assert ip2 in out, out
        r = h.exec("early", "ping", "-c1", "-W2", "db")
        assert r.returncode == 0, r.stdout + r.stderr
        assert ip not in lookup(h, "other", "db"), "a link alias leaked to another container"
    finally:
        h.cli("rm", "-f", "early", "late", "late2", "other", check=False)
        h.cli("network", "rm", "lk-net", check=False)


def test_legacy_link_on_default_bridge_stays_strict(host):
    """On the default bridge, --link to a container that does not run fails at start."""
    h = host
    r = h.cli("run", "-d", "--name", "legacy", "--link", "nothere:x", "busybox", "sleep", "60",
              check=False)
    try:
        assert r.returncode != 0
        assert "Cannot link to a non running container" in r.stderr, r.stderr
    finally:
        h.cli("rm", "-f", "legacy", check=False)


def test_compose_links_order_and_resolve(host, tmp_path):
    """`links:` starts the target first (no depends_on) and its alias resolves."""
    h = host
    f = tmp_path / "compose.yaml"
    f.write_text(textwrap.dedent("""
        name: lkc
        services:
          client:
            image: busybox
            command: ["sleep", "600"]
            links: ["server:backend"]
          server:
            image: busybox
            command: ["sleep", "600"]
        """))
    r = h.cli("compose", "-f", str(f), "up", "-d", timeout=120)
    try:
        lines = r.stdout.splitlines() + r.stderr.splitlines()
        started = [ln for ln in lines if "Started" in ln]
        assert "server" in started[0], lines
        ip = h.ip_of("lkc-server-1", "lkc_default")
        assert ip in wait_lookup(h, "lkc-client-1", "backend", ip)
    finally:
        h.cli("compose", "-f", str(f), "down", "-t", "1", check=False, timeout=120)


def test_compose_restart_takes_restart_true_dependents(host, tmp_path):
    """`compose restart db` restarts the services depending on db with `restart: true`
    and leaves the others running untouched."""
    h = host
    f = tmp_path / "compose.yaml"
    f.write_text(textwrap.dedent("""
        name: rst
        services:
          db: {image: busybox, command: ["sleep", "600"]}
          api:
            image: busybox
            command: ["sleep", "600"]
            depends_on: {db: {condition: service_started, restart: true}}
          side: {image: busybox, command: ["sleep", "600"], depends_on: [db]}
        """))
    h.cli("compose", "-f", str(f), "up", "-d", timeout=120)
    try:
        before = {s: h.inspect(f"rst-{s}-1")["State"]["StartedAt"] for s in ("db", "api", "side")}
        h.cli("compose", "-f", str(f), "restart", "-t", "0", "db", timeout=120)
        after = {s: h.inspect(f"rst-{s}-1")["State"]["StartedAt"] for s in ("db", "api", "side")}
        assert after["db"] != before["db"] and after["api"] != before["api"], (before, after)
        assert after["side"] == before["side"], (before, after)
    finally:
        h.cli("compose", "-f", str(f), "down", "-t", "0", check=False, timeout=120)
