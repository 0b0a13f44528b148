"""`boxnet compose` with volumes, secrets, configs, tmpfs and healthchecks, seen from
inside the containers: a file secret readable at /run/secrets/NAME and read-only, a
config at its target, a named volume's data surviving `down` + `up` with compose's
labels, `down -v` removing it and the anonymous volumes, tmpfs and a read-only root,
Config.Healthcheck in nanoseconds, and an engine refusal naming the service and key.

Engine features built by other engineers (the volume API, tmpfs, read-only roots) are
probed first: a test skips, with the reason, while the engine answers 404 or 400."""

from __future__ import annotations

import textwrap
import uuid

import pytest

pytestmark = pytest.mark.kernel


def write(d, text: str) -> str:
    p = d / "compose.yaml"
    p.write_text(textwrap.dedent(text))
    return str(p)


def compose(h, f: str, *args: str, check: bool = True):
    return h.cli("compose", "-f", f, *args, check=check, timeout=180)


def refusal(h, config: dict) -> str | None:
    """None when the engine creates a busybox container with these create fields,
    else its status and message (the container is removed either way)."""
    name = "probe-" + uuid.uuid4().hex[:8]
    body = {"Image": "busybox", "Cmd": ["true"], **config}
    status, msg = h.api("POST", f"/containers/create?name={name}", json=body)
    h.api("DELETE", f"/containers/{name}?force=1&v=1")
    return None if status == 201 else f"{status} {msg}"


def need_volume_api(h) -> None:
    status, msg = h.api("GET", "/volumes")
    if status == 404:
        pytest.skip("the engine has no volume API yet (GET /volumes answers 404)")
    why = refusal(h, {"HostConfig": {"Mounts": [{"Type": "volume", "Target": "/x"}]}})
    if why:
        pytest.skip(f"the engine refuses HostConfig.Mounts of type volume: {why}")


def test_file_secret_and_config(host, tmp_path):
    """A file secret is readable at /run/secrets/NAME and cannot be written; a config
    is at its target; a secret with a relative target lands under /run/secrets."""
    h = host
    (tmp_path / "pw.txt").write_text("hunter2\n")
    (tmp_path / "app.conf").write_text("level=debug\n")
    f = write(tmp_path, """
        name: sec
        services:
          app:
            image: busybox
            command: ["sleep", "600"]
            secrets: [pw, {source: pw, target: copy.txt}]
            configs: [{source: app, target: /etc/app.conf}]
        secrets:
          pw: {file: ./pw.txt}
        configs:
          app: {file: ./app.conf}
        """)
    compose(h, f, "up", "-d")
    try:
        assert h.exec("sec-app-1", "cat", "/run/secrets/pw").stdout == "hunter2\n"
        assert h.exec("sec-app-1", "cat", "/run/secrets/copy.txt").stdout == "hunter2\n"
        assert h.exec("sec-app-1", "cat", "/etc/app.conf").stdout == "level=debug\n"
        r = h.exec("sec-app-1", "sh", "-c", "echo x > /run/secrets/pw")
        assert r.returncode != 0 and "Read-only" in r.stderr, r
        assert (tmp_path / "pw.txt").read_text() == "hunter2\n"
    finally:
        compose(h, f, "down", "-t", "0", check=False)


def test_named_volume_survives_down_and_down_v_removes(host, tmp_path):
    """Data written to a named volume survives `down` + `up` (new container); the
    volume carries compose's labels; `down -v` removes it and the anonymous volume."""
    h = host
    need_volume_api(h)
    f = write(tmp_path, """
        name: vol
        services:
          db:
            image: busybox
            command: ["sleep", "600"]
            volumes: ["data:/var/lib/db", "/scratch"]
        volumes:
          data: {labels: {tier: db}}
        """)
    compose(h, f, "up", "-d")
    try:
        first = h.inspect("vol-db-1")["Id"]
        r = h.exec("vol-db-1", "sh", "-c", "echo persisted > /var/lib/db/row")
        assert r.returncode == 0, r.stderr
        vol = h.api_ok("GET", "/volumes/vol_data")
        assert vol["Labels"]["com.docker.compose.project"] == "vol"
        assert vol["Labels"]["com.docker.compose.volume"] == "data"
        assert vol["Labels"]["tier"] == "db"
        compose(h, f, "down", "-t", "0")
        assert h.api("GET", "/volumes/vol_data")[0] == 200, "down removed the named volume"
        compose(h, f, "up", "-d")
        info = h.inspect("vol-db-1")
        assert info["Id"] != first
        assert h.exec("vol-db-1", "cat", "/var/lib/db/row").stdout == "persisted\n"
        anon = [m["Name"] for m in info["Mounts"] if m.get("Destination") == "/scratch"]
        assert anon and anon[0], info["Mounts"]
        compose(h, f, "down", "-v", "-t", "0")
        assert h.api("GET", "/volumes/vol_data")[0] == 404, "down -v kept the named volume"
        assert h.api("GET", f"/volumes/{anon[0]}")[0] == 404, "down -v kept the anonymous one"
    finally:
        compose(h, f, "down", "-v", "-t", "0", check=False)


def test_external_volume_must_exist_and_is_kept(host, tmp_path):
    """An external volume missing is a clear error and nothing is created; present,
    it is mounted and `down -v` leaves it."""
    h = host
    need_volume_api(h)
    f = write(tmp_path, """
        name: ext
        services:
          a:
            image: busybox
            command: ["sleep", "600"]
            volumes: ["shared:/shared"]
        volumes:
          shared: {external: true, name: ext-shared-vol}
        """)
    r = compose(h, f, "up", "-d", check=False)
    assert r.returncode != 0 and "ext-shared-vol" in r.stderr and "not found" in r.stderr, r
    assert not [c for c in h.api_ok("GET", "/containers/json?all=1")
                if c["Labels"].get("com.docker.compose.project") == "ext"]
    h.api_ok("POST", "/volumes/create", json={"Name": "ext-shared-vol"})
    try:
        compose(h, f, "up", "-d")
        assert h.exec("ext-a-1", "sh", "-c", "echo hi > /shared/f").returncode == 0
        compose(h, f, "down", "-v", "-t", "0")
        assert h.api("GET", "/volumes/ext-shared-vol")[0] == 200
    finally:
        compose(h, f, "down", "-t", "0", check=False)
        h.api("DELETE", "/volumes/ext-shared-vol")


def test_tmpfs_and_read_only_root(host, tmp_path):
    """`read_only: true` with `tmpfs:`: / refuses a write, the tmpfs takes it."""
    h = host
    why = refusal(h, {"HostConfig": {"ReadonlyRootfs": True, "Tmpfs": {"/scratch": ""}}})
    if why:
        pytest.skip(f"the engine refuses ReadonlyRootfs/Tmpfs: {why}")
    f = write(tmp_path, """
        name: tmp
        services:
          a:
            image: busybox
            command: ["sleep", "600"]
            read_only: true
            tmpfs: ["/scratch:size=1m"]
        """)
    compose(h, f, "up", "-d")
    try:
        r = h.exec("tmp-a-1", "sh", "-c", "echo x > /root-file")
        assert r.returncode != 0, "the read-only root took a write"
        assert h.exec("tmp-a-1", "sh", "-c", "echo x > /scratch/f && cat /scratch/f").stdout \
            == "x\n"
        assert "tmpfs /scratch" in h.exec("tmp-a-1", "cat", "/proc/mounts").stdout
    finally:
        compose(h, f, "down", "-t", "0", check=False)


def test_healthcheck_sent_in_nanoseconds(host, tmp_path):
    """The service's healthcheck reaches the engine as Config.Healthcheck (ns)."""
    h = host
    f = write(tmp_path, """
        name: hc
        services:
          a:
            image: busybox
            command: ["sleep", "600"]
            healthcheck: {test: "true", interval: 1s, timeout: 2s, retries: 3,
                          start_period: 500ms}
        """)
    compose(h, f, "up", "-d")
    try:
        hc = h.inspect("hc-a-1")["Config"]["Healthcheck"]
        assert hc == {"Test": ["CMD-SHELL", "true"], "Interval": 1_000_000_000,
                      "Timeout": 2_000_000_000, "StartPeriod": 500_000_000, "Retries": 3}, hc
    finally:
        compose(h, f, "down", "-t", "0", check=False)


def test_engine_refusal_names_service_and_key(host, tmp_path):
    """What the engine refuses surfaces naming the service and the compose key, and
    the project's containers are not left half made."""
    h = host
    f = write(tmp_path, """
        name: bad
        services:
          a:
            image: busybox
            command: ["sleep", "600"]
            runtime: kata-runtime
        """)
    r = compose(h, f, "up", "-d", check=False)
    assert r.returncode != 0
    assert "service 'a'" in r.stderr and "runtime" in r.stderr, r.stderr
    compose(h, f, "down", check=False)


def test_recreate_keeps_anonymous_volume(host, tmp_path):
    """A changed service is recreated with its predecessor's anonymous volume (as
    docker compose does): the data written there is still there; `down -v` removes it."""
    h = host
    need_volume_api(h)
    text = """
        name: anon
        services:
          a:
            image: busybox
            command: ["sleep", "600"]
            environment: {GEN: "%s"}
            volumes: ["/cache"]
        """
    f = write(tmp_path, text % "1")
    compose(h, f, "up", "-d")
    try:
        first = h.inspect("anon-a-1")
        assert h.exec("anon-a-1", "sh", "-c", "echo kept > /cache/f").returncode == 0
        vol = [m["Name"] for m in first["Mounts"] if m["Destination"] == "/cache"][0]
        f = write(tmp_path, text % "2")
        compose(h, f, "up", "-d")
        second = h.inspect("anon-a-1")
        assert second["Id"] != first["Id"], "the changed service was not recreated"
        assert [m["Name"] for m in second["Mounts"] if m["Destination"] == "/cache"] == [vol]
        assert h.exec("anon-a-1", "cat", "/cache/f").stdout == "kept\n"
        compose(h, f, "down", "-v", "-t", "0")
        assert h.api("GET", f"/volumes/{vol}")[0] == 404
    finally:
        compose(h, f, "down", "-v", "-t", "0", check=False)


def test_volume_driver_opts_tmpfs(host, tmp_path):
    """A top-level volume with driver_opts type=tmpfs is a tmpfs inside the container."""
    h = host
    need_volume_api(h)
    f = write(tmp_path, """
        name: dro
        services:
          a:
            image: busybox
            command: ["sleep", "600"]
            volumes: ["fast:/fast"]
        volumes:
          fast:
            driver_opts: {type: tmpfs, device: tmpfs, o: "size=2m"}
        """)
    compose(h, f, "up", "-d")
    try:
        mounts = h.exec("dro-a-1", "cat", "/proc/mounts").stdout
        line = [ln for ln in mounts.splitlines() if " /fast " in ln]
        assert line and line[0].split()[2] == "tmpfs", mounts
        assert h.api_ok("GET", "/volumes/dro_fast")["Options"]["type"] == "tmpfs"
    finally:
        compose(h, f, "down", "-v", "-t", "0", check=False)
