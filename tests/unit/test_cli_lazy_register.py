"""`boxnet compose ...` loads only the compose commands; everything else loads them all."""

from __future__ import annotations

import subprocess
import sys

from boxnet.cli.main import _command_word


def test_command_word_skips_global_options():
    assert _command_word(["-H", "unix:///x.sock", "compose", "down"]) == "compose"
    assert _command_word(["--host=unix:///x", "-D", "compose"]) == "compose"
    assert _command_word(["-l", "debug", "network", "ls"]) == "network"
    assert _command_word(["--help"]) is None
    assert _command_word([]) is None


def _run(*args: str) -> subprocess.CompletedProcess:
    code = "import sys; from boxnet.cli.main import main; main(sys.argv[1:])"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=60)


def test_compose_alone_does_not_import_other_commands():
    code = ("import sys; from boxnet.cli import main as m; m._register(['compose', 'down']);"
            "print(sorted(m.cli.commands), 'boxnet.cli.container' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60).stdout.split("]")
    assert out[0].strip("[") == "'compose'" and out[1].strip() == "False"


def test_help_lists_every_command():
    r = _run("--help")
    assert r.returncode == 0
    for word in ("compose", "network", "run", "ps"):
        assert word in r.stdout
    assert _run("compose", "--help").returncode == 0
