"""The Python CNI launcher: the source `boxnet-cni install` copies into DIR/boxnet.

A runtime starts the plugin once per ADD/DEL, so its start-up is most of its cost
(measured: ``python -IS`` with the package's json/re/config imports 18 ms, this file
8 ms; the interpreter alone ~7.5 ms).  So this file imports only modules built into
the interpreter and already loaded at start-up (``sys``, ``posix``) and the C
``_socket``: no ``os`` (posixpath, stat...), no ``json`` (which imports ``re``, enum,
functools, collections: ~10 ms), nothing of boxnet, so it runs with ``-IS`` from any
directory.  ``json`` is imported on error paths only.

It hands the raw invocation to boxnetd in one round trip, as the sh + curl launcher
does: the configuration (stdin) as the body of ``POST /boxnet/v1/cni/exec``, the
CNI_* variables as ``X-CNI-*`` headers; boxnetd runs the checks (cni/config.py) and
the command and answers what to print (api/routes/cni.py).  VERSION is answered here.
The socket is the configuration's top-level ``socket`` (found by a small scanner of
the JSON's top level: a nested ``"socket"`` key is not taken), else $BOXNET_HOST,
else /run/boxnet/boxnet.sock.  boxnetd unreachable: error 11 (50 for STATUS), or 6
when the configuration does not even decode (so no socket could be read from it).
"""

import sys
import _socket
import posix

# cni/config.py version_answer(), compact (tests/unit/test_cni_launcher.py checks it)
VERSION_ANSWER = (b'{"cniVersion":"1.1.0","supportedVersions":'
                  b'["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}')
DEFAULT_SOCKET = b"/run/boxnet/boxnet.sock"
TIMEOUT = 60.0
HEADERS = ((b"CNI_CONTAINERID", b"X-CNI-ContainerID"), (b"CNI_NETNS", b"X-CNI-Netns"),
           (b"CNI_IFNAME", b"X-CNI-Ifname"), (b"CNI_ARGS", b"X-CNI-Args"))
TRY_AGAIN, IO_FAILURE, INVALID_ENV, DECODE_FAILURE, NOT_AVAILABLE = 11, 5, 4, 6, 50
_WS = b" \t\r\n"


def _string_end(raw, i):
    """Index of the quote closing the JSON string whose opening quote is at ``i``
    (-1 if unterminated); a quote after an odd run of backslashes is escaped."""
    j = i + 1
    while True:
        j = raw.find(b'"', j)
        if j < 0:
            return -1
        k = j - 1
        while raw[k] == 92:          # backslashes before the quote (raw[i] stops it)
            k -= 1
        if (j - 1 - k) % 2 == 0:
            return j
        j += 1


def top_level_string(raw, key):
    """The string value of ``key`` in the top-level JSON object ``raw`` (bytes), or
    None (absent, not a string, or not JSON): the last one, as json.loads keeps.

    Strings are skipped whole (so a ``"socket"`` inside a value or a nested object
    is not taken); a key is a string at depth 1 followed by ``:``.  A value with
    escapes is decoded by json (rare: paths seldom hold backslashes or quotes)."""
    if b'"' + key + b'"' not in raw:
        return None
    n, i, depth, found = len(raw), 0, 0, None
    while i < n:
        c = raw[i]
        if c == 34:
            j = _string_end(raw, i)
            if j < 0:
                return found
            if depth == 1 and raw[i + 1:j] == key:
                m = j + 1
                while m < n and raw[m] in _WS:
                    m += 1
                if m < n and raw[m] == 58:          # ':' : it is a key
                    m += 1
                    while m < n and raw[m] in _WS:
                        m += 1
                    if m < n and raw[m] == 34:
                        e = _string_end(raw, m)
                        if e < 0:
                            return found
                        val = raw[m + 1:e]
                        if 92 in val:
                            import json
                            val = json.loads(raw[m:e + 1]).encode("utf-8", "surrogateescape")
                        found, j = val, e
                    else:
                        found = None        # not a string: boxnetd's check names it
                        j = m - 1
            i = j + 1
        else:
            if c == 123 or c == 91:
                depth += 1
            elif c == 125 or c == 93:
                depth -= 1
            i += 1
    return found


def socket_path(raw, env):
    """Where boxnetd listens: the conf's ``socket``, $BOXNET_HOST (unix://...), the default."""
    path = top_level_string(raw, b"socket") or env.get(b"BOXNET_HOST") or DEFAULT_SOCKET
    return path[7:] if path.startswith(b"unix://") else path


def request(command, raw, env):
    """The HTTP/1.0 request for one invocation (bytes); ValueError if a CNI_*
    variable cannot be a header (a CR or LF in it)."""
    head = [b"POST /boxnet/v1/cni/exec HTTP/1.0\r\nHost: boxnetd\r\n"
            b"Content-Type: application/json\r\nX-CNI-Command: ", command, b"\r\n"]
    for var, header in HEADERS:
        value = env.get(var)
        if value:
            if b"\r" in value or b"\n" in value:
                raise ValueError(var.decode())
            head += [header, b": ", value, b"\r\n"]
    head += [b"Content-Length: ", str(len(raw)).encode(), b"\r\n\r\n", raw]
    return b"".join(head)


def exchange(path, data):
    """Send ``data`` to the unix socket ``path``, read the answer to EOF (HTTP/1.0:
    boxnetd closes after it); (status, body).  OSError on connection failures."""
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    try:
        s.connect(path)
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        s.close()
    answer = b"".join(chunks)
    head, sep, body = answer.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    if not sep or not head.startswith(b"HTTP/") or len(parts) < 2 or not parts[1].isdigit():
        raise OSError(f"not an HTTP answer: {answer[:80]!r}")
    return int(parts[1]), body


def _decoded(raw):
    """The configuration as json decodes it, or None (error paths only: json)."""
    import json
    try:
        conf = json.loads(raw)
    except ValueError:
        return None
    return conf if isinstance(conf, dict) else None


def error(raw, code, msg):
    """CNI's error object in the configuration's cniVersion (error paths: json)."""
    import json
    v = (_decoded(raw) or {}).get("cniVersion")
    version = v if isinstance(v, str) and v else "1.1.0"
    return json.dumps({"cniVersion": version, "code": code, "msg": msg}).encode()


def run(command, raw, env):
    """One invocation: (exit status, bytes to print)."""
    if command == b"VERSION":
        return 0, VERSION_ANSWER
    path = socket_path(raw, env)
    try:
        data = request(command, raw, env)
    except ValueError as e:
        return 1, error(raw, INVALID_ENV, f"{e} holds a line break")
    where = path.decode("utf-8", "replace")
    try:
        status, body = exchange(path, data)
    except (FileNotFoundError, ConnectionRefusedError):
        if _decoded(raw) is None:   # no socket could be read from it: say why, not "later"
            return 1, error(raw, DECODE_FAILURE, "cannot decode the network configuration")
        return 1, error(raw, NOT_AVAILABLE if command == b"STATUS" else TRY_AGAIN,
                        f"boxnetd is not running at {where}")
    except OSError as e:
        return 1, error(raw, IO_FAILURE, f"cannot talk to boxnetd at {where}: {e}")
    if status < 300:
        return 0, body
    if b'"code"' not in body:   # not CNI's error object: boxnetd's own (or a proxy's)
        return 1, error(raw, IO_FAILURE, f"boxnetd answered {status}: "
                        + body[:200].decode("utf-8", "replace"))
    return 1, body


def main():
    """Entry point of the launcher: print the result (exit 0) or the CNI error (exit 1)."""
    env = posix.environ
    command = env.get(b"CNI_COMMAND", b"")
    raw = b"" if command == b"VERSION" else sys.stdin.buffer.read()
    rc, out = run(command, raw, env)
    if out:
        sys.stdout.buffer.write(out)
    sys.stdout.buffer.flush()
    sys.exit(rc)


if __name__ == "__main__":
    main()
