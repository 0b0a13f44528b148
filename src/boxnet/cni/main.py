"""The `boxnet` CNI plugin executable (entry point boxnet-cni).

`boxnet-cni install [--python | --shell] DIR [NAME]` writes the launcher DIR/NAME (NAME
defaults to boxnet; DIR is a CNI bin dir such as /opt/cni/bin), the program a runtime
starts for each CNI command:
- ``--shell`` (the default where curl is on PATH, the faster one): a /bin/sh
  script that hands the invocation to boxnetd with curl;
- ``--python`` (the default without curl): a script run by this Python with -IS (no
  site-packages) that imports cni/launcher.py alone, as a top-level module (stdlib
  only, nothing else of boxnet: start-up is the plugin's cost).
Both send the raw invocation (the configuration as the body, CNI_* variables as
X-CNI-* headers) to boxnetd's POST /boxnet/v1/cni/exec in one round trip; boxnetd runs
the checks (cni/config.py) and the command, and answers what the launcher prints.

Run with CNI_COMMAND set, `boxnet-cni` itself behaves as the Python launcher.
"""

from __future__ import annotations

import json
import os
import shutil
import sys

from . import launcher
from .config import version_answer

# Why an import and not the code inline: a script is compiled at every start (~1 ms
# for launcher.py), a module is loaded from its cached byte code.  -I keeps the
# script's own directory (the CNI bin dir) off sys.path, so nothing there shadows it.
LAUNCHER = """#!{python} -IS
# boxnet's CNI plugin launcher, written by `boxnet-cni install` (code: {source})
import sys
sys.path.insert(0, {where!r})
from launcher import main
main()
"""


def default_kind() -> str:
    """The launcher `install` writes without a flag: the sh + curl one where curl is
    on PATH (scripts/install.sh installs it), else the Python one.  Why: sh + curl
    start in ~8 ms, Python -IS with launcher.py in ~9 ms; a whole ADD measured
    ~2-3.5 ms faster through sh + curl (bench/scenarios/cni_plugin.py)."""
    return "shell" if shutil.which("curl") else "python"


# The shell launcher: /bin/sh starts in ~1 ms, curl in ~7 ms (its libraries).  It
# forwards stdin and the CNI_* variables to /boxnet/v1/cni/exec, as the Python one.
# The conf's "socket" is found by pattern (runtimes pass the compact JSON Go's encoder
# writes: "socket":"..."; unlike the Python launcher it cannot tell a nested "socket"
# key from the top-level one), else $BOXNET_HOST.  curl's path is fixed at install.
SHELL_LAUNCHER = r"""#!/bin/sh
# boxnet's CNI plugin launcher (sh + curl), written by `boxnet-cni install --shell`
if [ "$CNI_COMMAND" = VERSION ]; then printf '%s' '@VERSION@'; exit 0; fi
conf=$(cat)
sock=${BOXNET_HOST:-/run/boxnet/boxnet.sock}
case $conf in
  *'"socket":"'*) sock=${conf#*\"socket\":\"}; sock=${sock%%\"*};;
  *'"socket": "'*) sock=${conf#*\"socket\": \"}; sock=${sock%%\"*};;
esac
sock=${sock#unix://}
out=$(@CURL@ -sS --max-time 60 --unix-socket "$sock" -w '%{http_code}' \
  -H "X-CNI-Command: $CNI_COMMAND" -H "X-CNI-ContainerID: $CNI_CONTAINERID" \
  -H "X-CNI-Netns: $CNI_NETNS" -H "X-CNI-Ifname: $CNI_IFNAME" -H "X-CNI-Args: $CNI_ARGS" \
  -H "Content-Type: application/json" --data-raw "$conf" http://boxnetd/boxnet/v1/cni/exec 2>/dev/null)
rc=$?
body=${out%???}; status=${out#"$body"}
case $rc/$status in
  0/2??) printf '%s' "$body"; exit 0;;
  0/*) printf '%s' "$body"; exit 1;;
  7/*) code=11; [ "$CNI_COMMAND" = STATUS ] && code=50
     printf '{"cniVersion":"1.1.0","code":%s,"msg":"boxnetd is not running at %s"}' "$code" "$sock"
     exit 1;;
  *) printf '{"cniVersion":"1.1.0","code":5,"msg":"cannot talk to boxnetd at %s (curl exit %s)"}' "$sock" "$rc"
     exit 1;;
esac
"""


def install_launcher(bindir: str, name: str = "boxnet", kind: str = "") -> str:
    """Write the launcher ``bindir/name`` (``kind`` "python" or "shell", default
    default_kind()); returns its path.  The shell one needs curl (any version: the status comes from -w
    %{http_code}): ValueError if none is on PATH, so no launcher that cannot work is
    left behind."""
    kind = kind or default_kind()
    if kind == "shell":
        curl = shutil.which("curl")
        if curl is None:
            raise ValueError("the sh launcher needs curl, and none is on PATH: "
                             "install curl or use the Python launcher (--python)")
        text = (SHELL_LAUNCHER.replace("@VERSION@", json.dumps(version_answer()))
                .replace("@CURL@", curl))
    elif kind == "python":
        source = os.path.abspath(launcher.__file__)
        text = LAUNCHER.format(python=sys.executable, source=source,
                               where=os.path.dirname(source))
    else:
        raise ValueError(f"unknown launcher kind {kind!r} (python or shell)")
    path = os.path.join(bindir, name)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)
    return path


USAGE = "usage: boxnet-cni install [--python | --shell] DIR [NAME]"


def main() -> None:
    """Entry point: `install [--python | --shell] DIR [NAME]` writes a launcher; with
    CNI_COMMAND set, one CNI command as the Python launcher runs it."""
    argv = sys.argv[1:]
    if argv[:1] == ["install"] and "CNI_COMMAND" not in os.environ:
        flags = [a for a in argv[1:] if a.startswith("-")]
        rest = [a for a in argv[1:] if not a.startswith("-")]
        if len(rest) not in (1, 2) or len(flags) > 1 or not set(flags) <= {"--python", "--shell"}:
            sys.exit(USAGE)
        kind = flags[0][2:] if flags else default_kind()
        if not flags and kind == "python":
            print("boxnet-cni install: no curl on PATH: writing the Python launcher "
                  "(the sh + curl one is ~2-3 ms faster per call)", file=sys.stderr)
        try:
            print(install_launcher(rest[0], *rest[1:], kind=kind))
        except (ValueError, OSError) as e:
            sys.exit(f"boxnet-cni install: {e}")
        return
    launcher.main()


if __name__ == "__main__":
    main()
