"""`boxnet compose up`/`down` without click (cli/compose_fast.py): every command line the
fast path accepts is read exactly as the click CLI reads it, the rest is left to click,
and the fast path imports neither click nor http.client nor PyYAML."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from boxnet.cli import compose_cmds, compose_fast
from boxnet.cli.entry import main as entry_main
from boxnet.cli.main import main as click_main

ACCEPTED = [
    ["compose", "up"],
    ["compose", "up", "-d"],
    ["compose", "-f", "a.yml", "-p", "proj", "up", "-d"],
    ["-H", "unix:///top.sock", "compose", "-f", "a.yml", "--file", "b.yml", "down"],
    ["--host=unix:///top.sock", "compose", "--file=a.yml", "-f", "b.yml", "down", "-t", "0"],
    ["compose", "-H", "unix:///grp.sock", "--project-name=p2", "down", "--timeout=7", "-v"],
    ["-H", "unix:///t.sock", "compose", "--host", "unix:///g.sock", "up", "--wait"],
    ["compose", "--env-file", "e.env", "--project-directory", "/tmp", "up", "web", "-d", "db"],
    ["compose", "--env-file=e.env", "--project-directory=/x", "up", "--detach",
     "--remove-orphans"],
    ["compose", "-p", "a", "-p", "b", "down", "--volumes", "--remove-orphans", "-t", "3",
     "-t", "5"],
    ["compose", "-f", "", "up"],
    ["compose", "up", "-d", "-d"],
]

DECLINED = [
    ["compose", "--help"], ["compose", "up", "--help"], ["--help"], ["compose", "-h"],
    ["-D", "compose", "down"], ["-l", "debug", "compose", "up"],
    ["compose", "-fa.yml", "up"], ["compose", "-f", "-", "up"], ["compose", "-f"],
    ["compose", "up", "-dv"], ["compose", "up", "--det"], ["compose", "up", "--", "web"],
    ["compose", "down", "-t", "x"], ["compose", "down", "-t", "-1"], ["compose", "down", "-t"],
    ["compose", "down", "-t", "³"], ["compose", "down", "web"], ["compose", "down", "--detach"],
    ["compose", "ps"], ["compose"], ["network", "ls"], [], ["compose", "config"],
    ["compose", "--verbose", "up"], ["compose", "up", "--detach=true"],
]


@pytest.fixture
def recorded(monkeypatch):
    """Replace the command bodies: record what each way in hands them."""
    calls = []

    def state(st):
        return (st.parent.host if st.parent is not None else None, st.host, st.files,
                st.project_name, st.env_file, st.project_dir)

    monkeypatch.setattr(compose_cmds, "up", lambda st, *a: calls.append(
        ("up", state(st), a)))
    monkeypatch.setattr(compose_cmds, "down", lambda st, *a: calls.append(
        ("down", state(st), a)))
    return calls


def _exit_code(fn, argv) -> int:
    try:
        fn(list(argv))
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0


@pytest.mark.parametrize("argv", ACCEPTED, ids=" ".join)
def test_fast_path_reads_the_line_as_click_does(argv, recorded):
    assert compose_fast.parse(argv) is not None
    assert _exit_code(click_main, argv) == 0
    assert _exit_code(lambda a: sys.exit(compose_fast.run(compose_fast.parse(a))), argv) == 0
    assert len(recorded) == 2
    by_click, by_fast = recorded
    by_click = (by_click[0], by_click[1], tuple(list(x) if isinstance(x, tuple) else x
                                                for x in by_click[2]))
    assert by_fast == by_click


@pytest.mark.parametrize("argv", DECLINED, ids=lambda a: " ".join(a) or "(empty)")
def test_other_spellings_are_left_to_click(argv):
    assert compose_fast.parse(argv) is None


def test_shell_completion_is_left_to_click(monkeypatch):
    monkeypatch.setenv("_BOXNET_COMPLETE", "bash_source")
    assert compose_fast.parse(["compose", "up"]) is None


def test_declined_lines_still_get_clicks_answer(recorded, capfd):
    """The entry point hands what the fast path declines to click: its usage error."""
    assert _exit_code(entry_main, ["compose", "down", "-t", "x"]) == 125
    assert "'x' is not a valid integer" in capfd.readouterr().err
    assert _exit_code(entry_main, ["compose", "down", "web"]) == 125
    assert "unexpected extra argument" in capfd.readouterr().err
    assert recorded == []


def test_errors_are_worded_as_the_click_cli(tmp_path, capfd):
    """Same message and exit code both ways: a daemon that is not there, a bad file."""
    good = tmp_path / "compose.yaml"
    good.write_text("services:\n  a:\n    image: busybox\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("services:\n  a:\n    image: busybox\n    ports: true\n")
    sock = f"unix://{tmp_path}/none.sock"
    for argv in (["-H", sock, "compose", "-f", str(good), "down"],
                 ["compose", "-H", sock, "-f", str(good), "up", "-d"],
                 ["-H", sock, "compose", "-f", str(bad), "up", "-d"],
                 ["-H", sock, "compose", "-f", str(tmp_path / "missing.yaml"), "down"]):
        assert compose_fast.parse(argv) is not None
        fast = _exit_code(entry_main, argv), capfd.readouterr()
        slow = _exit_code(click_main, argv), capfd.readouterr()
        assert fast == slow and fast[0] == 1 and fast[1].err, argv


def test_fast_path_imports_no_click_http_client_or_yaml(tmp_path):
    """Start-up is the point: the second run (the parse cached) loads none of them."""
    f = tmp_path / "compose.yaml"
    f.write_text("services:\n  a:\n    image: busybox\n    networks: [n]\nnetworks:\n  n: {}\n")
    code = ("import sys\nfrom boxnet.cli.entry import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
            "print(code, sorted(m for m in ('click', 'http.client', 'yaml', 'jsonschema',"
            " 'concurrent.futures', 'typing') if m in sys.modules))\n")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    argv = ["-H", f"unix://{tmp_path}/none.sock", "compose", "-f", str(f), "down"]
    outs = [subprocess.run([sys.executable, "-c", code, *argv], capture_output=True,
                           text=True, env=env, timeout=60).stdout.strip() for _ in range(2)]
    assert outs[0].startswith("1 ") and "click" not in outs[0]   # cannot connect: exit 1
    assert outs[1] == "1 []", outs


def test_the_console_script_ends_with_the_code_and_all_output(tmp_path):
    """As a console script the fast path skips the interpreter's teardown: the exit code
    and every line written (stderr here) still get out."""
    f = tmp_path / "compose.yaml"
    f.write_text("services:\n  a:\n    image: busybox\n")
    for entry in ("main", "compose_main"):
        args = (["-H", f"unix://{tmp_path}/none.sock", "compose", "-f", str(f), "down"]
                if entry == "main" else ["-H", f"unix://{tmp_path}/none.sock", "-f", str(f),
                                         "down"])
        code = f"import sys\nfrom boxnet.cli.entry import {entry}\n{entry}()\n"
        r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                           text=True, timeout=60,
                           env=dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "c")))
        assert r.returncode == 1 and r.stderr.startswith("Cannot connect to the boxnet daemon")
        assert r.stderr.endswith("running?\n") and r.stdout == ""
