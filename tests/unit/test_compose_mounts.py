"""The compose translation of volumes, tmpfs, secrets, configs, healthchecks, limits and
process options into the Engine API create body (as Docker Compose v2 sends it), the
volume bodies and labels, `down -v`, links as dependencies, and the refusals (file,
line and key named, nothing sent). No daemon."""

from __future__ import annotations

import os
import textwrap

import pytest

from boxnet.compose import create, graph, loader, project, support, volumes
from boxnet.compose.errors import ComposeError


def load(tmp_path, text: str):
    p = tmp_path / "compose.yaml"
    p.write_text(textwrap.dedent(text))
    return loader.load([str(p)], environ={})


def body(p, name: str) -> dict:
    return create.body(p, p.services[name], 1, lambda s: "cid-" + s)


def refused(tmp_path, text: str) -> ComposeError:
    with pytest.raises(ComposeError) as e:
        load(tmp_path, text)
    return e.value


def test_volume_short_and_long_syntax(tmp_path):
    p = load(tmp_path, """
        name: demo
        services:
          db:
            image: busybox
            volumes:
              - data:/var/lib/db
              - ./conf:/etc/db:ro
              - /cache
              - logs:/logs:ro,nocopy
              - type: tmpfs
                target: /scratch
                tmpfs: {size: 64m, mode: "1777"}
              - type: volume
                source: data
                target: /sub
                volume: {subpath: x, nocopy: true}
              - type: bind
                source: ./exists
                target: /b
                read_only: true
                bind: {propagation: rslave}
              - type: bind
                source: ./made
                target: /m
                bind: {create_host_path: true}
        volumes:
          data: {}
          logs: {name: shared-logs}
        """)
    hc = body(p, "db")["HostConfig"]
    d = str(tmp_path)
    assert hc["Binds"] == [f"{d}/conf:/etc/db:ro", f"{d}/made:/m"]
    assert hc["Mounts"] == [
        {"Type": "volume", "Source": "demo_data", "Target": "/var/lib/db"},
        {"Type": "volume", "Target": "/cache"},
        {"Type": "volume", "Source": "shared-logs", "Target": "/logs", "ReadOnly": True,
         "VolumeOptions": {"NoCopy": True}},
        {"Type": "tmpfs", "Target": "/scratch",
         "TmpfsOptions": {"SizeBytes": 64 << 20, "Mode": 0o1777}},
        {"Type": "volume", "Source": "demo_data", "Target": "/sub",
         "VolumeOptions": {"NoCopy": True, "Subpath": "x"}},
        {"Type": "bind", "Target": "/b", "ReadOnly": True, "Source": f"{d}/exists",
         "BindOptions": {"Propagation": "rslave"}},
    ]


def test_volume_bodies_and_names(tmp_path):
    p = load(tmp_path, """
        name: demo
        services: {a: {image: busybox}}
        volumes:
          data:
            driver_opts: {type: tmpfs, device: tmpfs}
            labels: [team=db]
          named: {name: exact}
          ext: {external: true}
          ext2: {external: true, name: theirs}
        """)
    v = p.volumes
    assert (v["data"].name, v["named"].name, v["ext"].name, v["ext2"].name) == \
        ("demo_data", "exact", "ext", "theirs")
    assert v["ext"].external and v["ext2"].external and not v["data"].external
    assert volumes.create_body("demo", v["data"]) == {
        "Name": "demo_data", "Driver": "local",
        "DriverOpts": {"type": "tmpfs", "device": "tmpfs"},
        "Labels": {"team": "db", "com.docker.compose.project": "demo",
                   "com.docker.compose.volume": "data",
                   "com.docker.compose.version": "2.29.0"}}


def test_secrets_and_configs(tmp_path):
    (tmp_path / "pw.txt").write_text("s3cret\n")
    os.chmod(tmp_path / "pw.txt", 0o640)
    (tmp_path / "app.conf").write_text("x=1\n")
    p = load(tmp_path, """
        services:
          api:
            image: busybox
            secrets: [pw, {source: pw, target: alt, mode: "0640"}, {source: pw, target: /abs}]
            configs: [app, {source: app, target: /etc/app.conf}]
        secrets:
          pw: {file: ./pw.txt}
        configs:
          app: {file: app.conf}
        """)
    m = body(p, "api")["HostConfig"]["Mounts"]
    pw, conf = str(tmp_path / "pw.txt"), str(tmp_path / "app.conf")
    assert [(x["Type"], x["Source"], x["Target"], x["ReadOnly"]) for x in m] == [
        ("bind", pw, "/run/secrets/pw", True), ("bind", pw, "/run/secrets/alt", True),
        ("bind", pw, "/abs", True), ("bind", conf, "/app", True),
        ("bind", conf, "/etc/app.conf", True)]


@pytest.mark.parametrize("snippet, where, words", [
    ("secrets: [{source: pw, uid: '100'}]", "services.a.secrets[0].uid", "uid"),
    ("secrets: [{source: pw, mode: '0400'}]", "services.a.secrets[0].mode", "mode"),
    ("secrets: [nope]", "services.a.secrets[0]", "undefined secret 'nope'"),
    ("secrets: [{source: pw, mode: rwx}]", "services.a.secrets[0].mode", "invalid mode"),
    ("volumes: ['undeclared:/x']", "services.a.volumes[0]", "undefined volume"),
    ("volumes: ['data:/x:bogus']", "services.a.volumes[0]", "'bogus' is not supported"),
    ("volumes: [{type: npipe, source: x, target: /x}]", "services.a.volumes[0].type",
     "npipe"),
    ("profiles: [debug]", "services.a.profiles", "`profiles` is not supported"),
    ("deploy: {placement: {constraints: [x]}}", "services.a.deploy.placement", "swarm"),
    ("deploy: {resources: {reservations: {cpus: '1'}}}",
     "services.a.deploy.resources.reservations.cpus", "reservations.cpus"),
    ("pull_policy: build", "services.a.pull_policy", "does not build images"),
])
def test_refusals_name_the_key(tmp_path, snippet, where, words):
    (tmp_path / "pw.txt").write_text("x")
    os.chmod(tmp_path / "pw.txt", 0o644)
    e = refused(tmp_path, f"""
        services:
          a:
            image: busybox
            {snippet}
        volumes: {{data: {{}}}}
        secrets: {{pw: {{file: ./pw.txt}}}}
        """)
    assert where in str(e) and words in str(e), str(e)
    assert e.line is not None


def test_secret_sources_refused(tmp_path):
    e = refused(tmp_path, """
        services: {a: {image: busybox, secrets: [s]}}
        secrets: {s: {environment: PW}}
        """)
    assert "secrets.s.environment" in str(e) and "file:" in str(e)
    e = refused(tmp_path, """
        services: {a: {image: busybox, secrets: [s]}}
        secrets: {s: {file: ./missing.txt}}
        """)
    assert "secrets.s.file" in str(e) and "missing.txt" in str(e)
    (tmp_path / "ok.txt").write_text("x")
    e = refused(tmp_path, """
        services: {a: {image: busybox, secrets: [s]}}
        secrets: {s: {file: ./ok.txt, labels: {a: b}}}
        """)
    assert "secrets.s.labels" in str(e)
    e = refused(tmp_path, """
        services: {a: {image: busybox, volumes: ['v:/x']}}
        volumes: {v: {external: true, driver: local}}
        """)
    assert "volumes.v.driver" in str(e) and "external" in str(e)


def test_process_and_resource_options(tmp_path):
    p = load(tmp_path, """
        services:
          a:
            image: busybox
            init: true
            cap_add: [NET_ADMIN]
            cap_drop: [MKNOD]
            read_only: true
            privileged: false
            user: "1000:1000"
            working_dir: /srv
            stop_signal: SIGINT
            stop_grace_period: 1m30s
            tmpfs: [/run, "/tmp:size=1m,mode=1777"]
            shm_size: 128m
            pid: host
            ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 512}
            devices: ["/dev/fuse", "/dev/null:/dev/mynull:r"]
            healthcheck:
              test: "wget -q -O- http://localhost/ || exit 1"
              interval: 2s
              timeout: 500ms
              retries: 4
              start_period: 1m
              start_interval: 100ms
            deploy:
              resources:
                limits: {cpus: "0.5", memory: 64m, pids: 100}
                reservations: {memory: 32m}
              restart_policy: {condition: on-failure, max_attempts: 3}
          b:
            image: busybox
            healthcheck: {disable: true}
            mem_limit: 1g
            cpus: 1.5
            pids_limit: 50
        """)
    b = body(p, "a")
    hc = b["HostConfig"]
    assert b["Healthcheck"] == {"Test": ["CMD-SHELL", "wget -q -O- http://localhost/ || exit 1"],
                                "Interval": 2_000_000_000, "Timeout": 500_000_000,
                                "StartPeriod": 60_000_000_000, "StartInterval": 100_000_000,
                                "Retries": 4}
    assert b["StopTimeout"] == 90 and b["StopSignal"] == "SIGINT"
    assert b["User"] == "1000:1000" and b["WorkingDir"] == "/srv"
    assert hc["Init"] is True and hc["CapAdd"] == ["NET_ADMIN"] and hc["CapDrop"] == ["MKNOD"]
    assert hc["ReadonlyRootfs"] is True and hc["PidMode"] == "host"
    assert hc["Tmpfs"] == {"/run": "", "/tmp": "size=1m,mode=1777"}
    assert hc["ShmSize"] == 128 << 20
    assert hc["Memory"] == 64 << 20 and hc["MemoryReservation"] == 32 << 20
    assert hc["NanoCpus"] == 500_000_000 and hc["PidsLimit"] == 100
    assert hc["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048},
                             {"Name": "nproc", "Soft": 512, "Hard": 512}]
    assert hc["Devices"] == [
        {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"},
        {"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull", "CgroupPermissions": "r"}]
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    b2 = body(p, "b")
    assert b2["Healthcheck"] == {"Test": ["NONE"]}
    assert b2["HostConfig"]["Memory"] == 1 << 30 and b2["HostConfig"]["NanoCpus"] == 1_500_000_000
    assert b2["HostConfig"]["PidsLimit"] == 50


def test_links_and_volumes_from_order_services(tmp_path):
    p = load(tmp_path, """
        name: lk
        services:
          api: {image: busybox, links: ["db:database"], volumes_from: ["store:ro"]}
          db: {image: busybox}
          store: {image: busybox}
        """)
    order = project.start_order(p)
    assert order.index("db") < order.index("api") and order.index("store") < order.index("api")
    b = body(p, "api")
    assert b["NetworkingConfig"]["EndpointsConfig"]["lk_default"]["Links"] == \
        ["lk-db-1:database"]
    assert b["HostConfig"]["VolumesFrom"] == ["lk-store-1:ro"]
    assert "svc_api -- svc_db" in graph.build(p).source and "link database" in \
        graph.build(p).source
    e = refused(tmp_path, """
        services:
          a: {image: busybox, links: [b]}
          b: {image: busybox, links: [a]}
        """)
    assert "dependency cycle" in str(e)


def test_engine_refusal_names_the_compose_key():
    assert support.engine_key("HostConfig.CapAdd is not supported by boxnet: ...") == "cap_add"
    assert support.engine_key("StopTimeout is not supported by boxnet") == \
        "stop_grace_period"
    assert support.engine_key("invalid mount config: Mounts ...") == "volumes"
    assert support.engine_key("nothing to see") is None


class FakeClient:
    """Records the volume calls of `down -v` / `up`."""

    def __init__(self, existing: dict):
        self.existing = existing
        self.calls: list = []

    def get(self, path, **q):
        from boxnet.client.errors import APIError
        name = path.rsplit("/", 1)[-1]
        if name not in self.existing:
            raise APIError(404, f"get {name}: no such volume")
        return {"Name": name, "Labels": self.existing[name]}

    def post(self, path, body=None, **q):
        self.calls.append(("POST", path, body["Name"]))
        return {"Name": body["Name"]}

    def delete(self, path, **q):
        self.calls.append(("DELETE", path))


def test_volumes_ensure_and_down_v(tmp_path):
    p = load(tmp_path, """
        name: demo
        services: {a: {image: busybox}}
        volumes:
          data: {}
          other: {name: foreign}
          ext: {external: true}
        """)
    mine = {"com.docker.compose.project": "demo"}
    c = FakeClient({"ext": {}, "demo_data": mine, "foreign": {"com.docker.compose.project": "x"}})
    errors = volumes.remove(c, "demo", p.volumes, lambda m: None)
    assert errors == [] and c.calls == [("DELETE", "/volumes/demo_data")]
    c = FakeClient({})
    with pytest.raises(Exception, match="external volume 'ext' not found"):
        volumes.ensure(c, "demo", p.volumes["ext"], lambda m: None)
    volumes.ensure(c, "demo", p.volumes["data"], lambda m: None)
    assert c.calls == [("POST", "/volumes/create", "demo_data")]


def test_recreate_inherits_anonymous_volumes(tmp_path):
    p = load(tmp_path, """
        name: demo
        services:
          a: {image: busybox, volumes: ["/cache", "data:/data", "/tmpfs-here"]}
        volumes: {data: {}}
        """)
    b = create.body(p, p.services["a"], 1, None,
                    inherit={"/cache": "abc123", "/image-vol": "def456"})
    m = b["HostConfig"]["Mounts"]
    assert {"Type": "volume", "Source": "abc123", "Target": "/cache"} in m
    assert {"Type": "volume", "Source": "def456", "Target": "/image-vol"} in m
    assert {"Type": "volume", "Source": "demo_data", "Target": "/data"} in m
    assert {"Type": "volume", "Target": "/tmpfs-here"} in m


def test_deploy_restart_policy_swarm_keys_refused(tmp_path):
    e = refused(tmp_path, """
        services:
          a:
            image: busybox
            deploy: {restart_policy: {condition: on-failure, delay: 5s}}
        """)
    assert "deploy.restart_policy.delay" in str(e)


def test_consistency_and_selinux_flags_change_nothing(tmp_path):
    """As dockerd on Linux without SELinux: cached/delegated and z/Z are no-ops."""
    if os.path.exists("/sys/fs/selinux/enforce"):
        pytest.skip("SELinux is enabled here: z/Z are refused")
    p = load(tmp_path, """
        name: demo
        services:
          a:
            image: busybox
            volumes:
              - ./src:/src:cached
              - ./data:/data:ro,Z
              - data:/v:delegated
              - {type: bind, source: ./b, target: /b, consistency: cached,
                 bind: {selinux: z}}
        volumes: {data: {}}
        """)
    hc = body(p, "a")["HostConfig"]
    d = str(tmp_path)
    assert hc["Binds"] == [f"{d}/src:/src", f"{d}/data:/data:ro"]
    assert hc["Mounts"] == [{"Type": "volume", "Source": "demo_data", "Target": "/v"},
                            {"Type": "bind", "Target": "/b", "Source": f"{d}/b"}]


def test_depends_on_restart_and_external_links(tmp_path):
    p = load(tmp_path, """
        name: rs
        services:
          db: {image: busybox}
          api:
            image: busybox
            depends_on: {db: {condition: service_started, restart: true}}
            external_links: ["legacy-db:olddb"]
          web: {image: busybox, depends_on: {api: {condition: service_started, restart: true}}}
          other: {image: busybox, depends_on: [db]}
        """)
    r = project.Runner(None, p, log=lambda m: None)
    assert r._restart_dependents(["db"]) == ["db", "api", "web"]
    b = body(p, "api")
    assert b["Labels"]["com.docker.compose.depends_on"] == "db:service_started:true"
    assert "legacy-db:olddb" in b["NetworkingConfig"]["EndpointsConfig"]["rs_default"]["Links"]


def test_enable_ipv4_false_is_sent_as_enable_ipv4(tmp_path):
    from boxnet.compose import netops
    p = load(tmp_path, """
        services:
          a: {image: busybox, networks: [n]}
        networks: {n: {enable_ipv4: false, enable_ipv6: true}, m: {}}
        """)
    got = netops.create_body(p, p.networks["n"])
    assert got["EnableIPv4"] is False and got["EnableIPv6"] is True
    assert "EnableIPv4" not in netops.create_body(p, p.networks["m"])
    e = refused(tmp_path, """
        services:
          a: {image: busybox, networks: {n: {ipv4_address: 172.28.0.10}}}
        networks:
          n: {enable_ipv4: false, enable_ipv6: true,
              ipam: {config: [{subnet: 172.28.0.0/24}, {subnet: "fd00:28::/64"}]}}
        """)
    assert "IPv6-only" in str(e)


def test_real_project_is_lint_clean():
    from pathlib import Path
    from boxnet.compose import lint
    f = Path(__file__).resolve().parents[2] / "examples" / "real-project" / "compose.yaml"
    assert lint.lint(loader.load([str(f)], environ={})) == []


def test_bad_healthcheck_duration_names_the_key(tmp_path):
    e = refused(tmp_path, """
        services:
          a: {image: busybox, healthcheck: {test: "true", interval: 10x}}
        """)
    assert "services.a.healthcheck" in str(e) and "10x" in str(e) and e.line


def test_bad_numbers_are_compose_errors(tmp_path):
    e = refused(tmp_path, """
        services:
          a: {image: busybox, ulimits: {nofile: lots}}
        """)
    assert "services.a" in str(e) and "lots" in str(e)
