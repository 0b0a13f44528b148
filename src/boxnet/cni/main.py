"""The `boxnet` CNI plugin executable (entry point boxnet-cni).

`boxnet-cni install [--shell] DIR [NAME]` writes the launcher DIR/boxnet (DIR is a CNI bin dir such as
/opt/cni/bin): a script run by this Python with -IS and the package's directory on
sys.path, so a plugin run loads no site-packages (start-up is the plugin's cost); with
--shell a /bin/sh + curl script that hands the raw invocation to boxnetd instead.

One invocation: the command from CNI_COMMAND, the configuration on stdin, one POST to
boxnetd's /boxnet/v1/cni/<command> over its unix socket (the conf's ``socket``, else
$BOXNET_HOST, else /run/boxnet/boxnet.sock), the result or the CNI error on stdout.
Imports only json, os, sys and a plain socket (client/rawhttp.py): start-up is the
plugin's cost.
"""

from __future__ import annotations

import json
import os
import sys

from ..client.rawhttp import post_json

from .config import (INVALID_ENV, IO_FAILURE, NOT_AVAILABLE, SPEC_VERSION, TRY_AGAIN,
                     CniError, finish, prepare, version_answer)

DEFAULT_SOCKET = "/run/boxnet/boxnet.sock"
TIMEOUT = 60.0


def socket_path(conf: dict, env: dict) -> str:
    """Where boxnetd listens: conf ``socket``, $BOXNET_HOST (unix://...), the default."""
    path = conf.get("socket") or env.get("BOXNET_HOST") or DEFAULT_SOCKET
    return path[len("unix://"):] if path.startswith("unix://") else path


def call(path: str, command: str, body: dict) -> dict:
    """POST the request to boxnetd; its CNI error comes back as CniError."""
    try:
        status, data = post_json(path, f"/boxnet/v1/cni/{command.lower()}",
                                 json.dumps(body).encode(), TIMEOUT)
    except (FileNotFoundError, ConnectionRefusedError) as e:
        raise CniError(NOT_AVAILABLE if command == "STATUS" else TRY_AGAIN,
                       f"boxnetd is not running at {path}", str(e)) from None
    except OSError as e:
        raise CniError(IO_FAILURE, f"cannot talk to boxnetd at {path}", str(e)) from None
    try:
        out = json.loads(data or b"{}")
    except ValueError:
        raise CniError(IO_FAILURE, f"boxnetd answered {status} with no JSON",
                       data[:200].decode("utf-8", "replace")) from None
    if status >= 300:
        if "code" in out:
            raise CniError(int(out["code"]), out.get("msg", ""), out.get("details", ""))
        raise CniError(IO_FAILURE, out.get("message") or f"boxnetd answered {status}")
    return out


def run(command: str, raw: bytes, env: dict) -> dict | None:
    """One CNI command; returns what to print (None: nothing)."""
    if command == "VERSION":
        return version_answer()
    conf, body = prepare(command, raw, env)
    return finish(command, conf, call(socket_path(conf, env), command, body))


LAUNCHER = """#!{python} -IS
# boxnet's CNI plugin launcher, written by `boxnet-cni install`
import sys
sys.path.insert(0, {root!r})
from boxnet.cni.main import main
main()
"""


# The shell launcher: no Python start-up at all (~10 ms instead of ~90 ms here).  It
# forwards stdin and the CNI_* variables to /boxnet/v1/cni/exec, where the daemon runs
# the same checks (cni/config.py).  The conf's "socket" is found by pattern (runtimes
# pass the compact JSON Go's encoder writes: "socket":"..."), else $BOXNET_HOST.
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
out=$(curl -sS --fail-with-body --max-time 60 --unix-socket "$sock" \
  -H "X-CNI-Command: $CNI_COMMAND" -H "X-CNI-ContainerID: $CNI_CONTAINERID" \
  -H "X-CNI-Netns: $CNI_NETNS" -H "X-CNI-Ifname: $CNI_IFNAME" -H "X-CNI-Args: $CNI_ARGS" \
  -H "Content-Type: application/json" --data-raw "$conf" http://boxnetd/boxnet/v1/cni/exec 2>/dev/null)
rc=$?
case $rc in
  0) printf '%s' "$out"; exit 0;;
  22) printf '%s' "$out"; exit 1;;
  7) code=11; [ "$CNI_COMMAND" = STATUS ] && code=50
     printf '{"cniVersion":"1.1.0","code":%s,"msg":"boxnetd is not running at %s"}' "$code" "$sock"
     exit 1;;
  *) printf '{"cniVersion":"1.1.0","code":5,"msg":"cannot talk to boxnetd at %s (curl exit %s)"}' "$sock" "$rc"
     exit 1;;
esac
"""


def install_launcher(bindir: str, name: str = "boxnet", shell: bool = False) -> str:
    """Write the launcher ``bindir/name`` (Python, or sh + curl); returns its path."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(bindir, name)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(SHELL_LAUNCHER.replace("@VERSION@", json.dumps(version_answer())) if shell
                else LAUNCHER.format(python=sys.executable, root=root))
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)
    return path


def main() -> None:
    """Entry point: exit 0 with the result, or 1 with the CNI error on stdout;
    `install DIR` writes the launcher instead."""
    env = os.environ
    argv = sys.argv[1:]
    if argv[:1] == ["install"] and "CNI_COMMAND" not in env:
        shell = "--shell" in argv
        rest = [a for a in argv[1:] if a != "--shell"]
        if len(rest) not in (1, 2):
            sys.exit("usage: boxnet-cni install [--shell] DIR [NAME]")
        print(install_launcher(rest[0], *rest[1:], shell=shell))
        return
    command = env.get("CNI_COMMAND", "")
    version = SPEC_VERSION
    try:
        raw = sys.stdin.buffer.read() if command != "VERSION" else b""
        try:
            version = json.loads(raw).get("cniVersion") or SPEC_VERSION
        except (ValueError, AttributeError):
            pass
        if command not in ("ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION"):
            raise CniError(INVALID_ENV, f"CNI_COMMAND {command!r} is not a CNI command",
                           "ADD, DEL, CHECK, STATUS, GC or VERSION")
        out = run(command, raw, env)
    except CniError as e:
        sys.stdout.write(json.dumps(e.to_json(version if isinstance(version, str) else SPEC_VERSION)))
        sys.stdout.flush()
        sys.exit(1)
    if out is not None:
        sys.stdout.write(json.dumps(out))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
