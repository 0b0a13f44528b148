"""CLI flags that were accepted and ignored are now honoured: `start -a/-i` attaches and
exits with the container's status, `images --digests` shows the registry digest."""

from __future__ import annotations

import pytest

from test_cli import CID, V, api, cli   # noqa: F401  (api is a fixture)
from fake_docker_api import frame, stream_handler


def test_start_attach_streams_output_and_exits_with_status(api, capfd):
    api.routes[("GET", V + "/containers/web/json")] = (200, {"Id": CID,
                                                             "Config": {"Tty": False}})
    api.routes[("POST", V + f"/containers/{CID}/attach")] = stream_handler(
        frame(1, b"out\n") + frame(2, b"err\n"))
    api.routes[("POST", V + f"/containers/{CID}/start")] = (204, None)
    api.routes[("POST", V + f"/containers/{CID}/wait")] = (200, {"StatusCode": 4})
    code, out, err = cli(capfd, "start", "-a", "web")
    assert (code, out, err) == (4, "out\n", "err\n")
    q = api.find("POST", V + f"/containers/{CID}/attach")[0][2]
    assert q.get("stream") == "1" and "stdin" not in q
    assert api.find("POST", V + f"/containers/{CID}/start")


def test_start_attach_of_two_containers_is_refused(api, capfd):
    code, _, err = cli(capfd, "start", "-a", "a", "b")
    assert code == 1 and "cannot start and attach multiple containers" in err
    assert not api.find("POST", V + "/containers/a/start")


def test_start_without_attach_prints_names(api, capfd):
    api.routes[("POST", V + "/containers/a/start")] = (204, None)
    code, out, _ = cli(capfd, "start", "a")
    assert (code, out) == (0, "a\n")


@pytest.mark.parametrize("args", [["images", "--digests"], ["images", "--format",
                                                            "{{.Repository}} {{.Digest}}"]])
def test_images_digest_column(api, capfd, args):
    dg = "sha256:" + "ab" * 32
    api.routes[("GET", V + "/images/json")] = (200, [
        {"Id": "sha256:" + "12" * 32, "RepoTags": ["reg:5000/app:1", "other:2"],
         "RepoDigests": [f"reg:5000/app@{dg}"], "Created": 0, "Size": 10}])
    code, out, _ = cli(capfd, *args)
    assert code == 0
    lines = out.splitlines()
    if "--digests" in args:
        assert lines[0].split()[:4] == ["REPOSITORY", "TAG", "DIGEST", "IMAGE"]
        assert lines[1].split()[:3] == ["reg:5000/app", "1", dg]
        assert lines[2].split()[:3] == ["other", "2", "<none>"]
    else:
        assert lines == [f"reg:5000/app {dg}", "other <none>"]


@pytest.mark.parametrize("args", [["inspect", "-s", "web"], ["container", "inspect", "-s", "web"]])
def test_inspect_size_asks_the_daemon_for_sizes(api, capfd, args):
    api.routes[("GET", V + "/containers/web/json")] = (200, {"Id": CID, "SizeRw": 7})
    code, out, _ = cli(capfd, *args)
    assert code == 0 and '"SizeRw": 7' in out
    assert api.find("GET", V + "/containers/web/json")[0][2] == {"size": "1"}


def test_no_cli_flag_is_accepted_and_ignored():
    """Every parameter a click option or argument declares is read by its command: a flag
    the command never looks at would be accepted and ignored (the project's worst bug)."""
    import ast
    from pathlib import Path
    import boxnet.cli
    unread = []
    for path in sorted(Path(boxnet.cli.__file__).parent.glob("*.py")):
        for f in ast.walk(ast.parse(path.read_text())):
            if not isinstance(f, ast.FunctionDef) or f.args.kwarg:
                continue
            if not any(isinstance(d, ast.Call) and getattr(d.func, "attr", "") in
                       ("option", "argument") for d in f.decorator_list):
                continue
            read = {n.id for n in ast.walk(f) if isinstance(n, ast.Name)}
            unread += [f"{path.name}:{f.name}:{a.arg}" for a in f.args.args
                       if a.arg not in read and a.arg not in ("obj", "ctx")]
    assert unread == []


@pytest.mark.parametrize("flags", [["-D"], ["-l", "debug"], ["--log-level", "DEBUG"]])
def test_debug_traces_each_request(api, capfd, flags, monkeypatch):
    from boxnet.client import engine
    monkeypatch.setattr(engine, "TRACE", None)
    api.routes[("GET", V + "/networks")] = (200, [])
    code, _, err = cli(capfd, *flags, "network", "ls")
    assert code == 0
    assert any(line.startswith("DEBU[0000] GET /v1.52/networks") and line.endswith("-> 200")
               for line in err.splitlines()), err


def test_info_level_is_quiet_and_a_bad_level_is_refused(api, capfd, monkeypatch):
    from boxnet.client import engine
    monkeypatch.setattr(engine, "TRACE", None)
    api.routes[("GET", V + "/networks")] = (200, [])
    code, _, err = cli(capfd, "-l", "warn", "network", "ls")
    assert (code, err) == (0, "")
    code, _, err = cli(capfd, "-l", "loud", "network", "ls")
    assert code == 1 and "Unable to parse logging level: loud" in err
    assert len(api.find("GET", V + "/networks")) == 1
