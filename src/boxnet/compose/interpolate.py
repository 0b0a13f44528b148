"""Variable interpolation as Docker Compose does it, and `.env` files.

In every string value (not in keys): `$VAR`, `${VAR}`, `${VAR:-default}` (unset or empty),
`${VAR-default}` (unset), `${VAR:?error}` / `${VAR?error}` (fail with the message),
`${VAR:+alt}` / `${VAR+alt}`, and `$$` for a literal `$`. Defaults may nest
(`${A:-${B:-x}}`). An unset variable without default becomes "" with a warning, as in
Compose. Errors name the file, the path and the line.
"""

from __future__ import annotations

import re

from .errors import ComposeError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Fail(Exception):
    def __init__(self, msg: str):
        self.msg = msg


def _braced_end(s: str, i: int) -> int:
    """Index of the `}` closing the `${` that starts at s[i-2:i], honouring nesting."""
    depth = 1
    while i < len(s):
        if s.startswith("${", i):
            depth += 1
            i += 2
            continue
        if s[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise _Fail("unclosed `${`: add the missing `}` or write `$$` for a literal `$`")


def _expand_braced(body: str, env: dict, warn) -> str:
    m = _NAME.match(body)
    if not m:
        raise _Fail(f"invalid variable reference `${{{body}}}`: a name starts with a "
                    "letter or `_`")
    name, rest = m.group(0), body[m.end():]
    val = env.get(name)
    if rest == "":
        if val is None:
            warn(name)
            return ""
        return val
    for op in (":-", "-", ":?", "?", ":+", "+"):
        if rest.startswith(op):
            arg = rest[len(op):]
            unset = val is None or (op.startswith(":") and val == "")
            if op in (":-", "-"):
                return expand(arg, env, warn) if unset else val
            if op in (":?", "?"):
                if unset:
                    msg = expand(arg, env, warn) or f"variable {name} is not set"
                    raise _Fail(f"required variable {name} is missing a value: {msg}")
                return val
            return "" if unset else expand(arg, env, warn)
    raise _Fail(f"invalid interpolation format `${{{body}}}`: use ${{{name}}}, "
                f"${{{name}:-default}} or ${{{name}:?error}}")


def expand(s: str, env: dict, warn=lambda name: None) -> str:
    """Interpolate one string (raises _Fail, turned into ComposeError by the caller)."""
    if "$" not in s:
        return s
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c != "$":
            out.append(c)
            i += 1
            continue
        if s.startswith("$$", i):
            out.append("$")
            i += 2
        elif s.startswith("${", i):
            end = _braced_end(s, i + 2)
            out.append(_expand_braced(s[i + 2:end], env, warn))
            i = end + 1
        else:
            m = _NAME.match(s, i + 1)
            if not m:
                out.append("$")
                i += 1
                continue
            name = m.group(0)
            if name not in env:
                warn(name)
            out.append(env.get(name, ""))
            i = m.end()
    return "".join(out)


def interpolate(data, env: dict, file: str, lines: dict, warnings: list | None = None,
                path: tuple = ()):
    """Return a copy of the document with every string value interpolated."""
    def warn(name: str) -> None:
        if warnings is not None:
            msg = f"The {name!r} variable is not set. Defaulting to a blank string."
            if msg not in warnings:
                warnings.append(msg)

    if isinstance(data, dict):
        return {k: interpolate(v, env, file, lines, warnings, path + (k,))
                for k, v in data.items()}
    if isinstance(data, list):
        return [interpolate(v, env, file, lines, warnings, path + (i,))
                for i, v in enumerate(data)]
    if hasattr(data, "tag") and hasattr(data, "value"):  # yaml12.Tagged
        data.value = interpolate(data.value, env, file, lines, warnings, path)
        return data
    if isinstance(data, str):
        try:
            return expand(data, env, warn)
        except _Fail as e:
            raise ComposeError(e.msg, file, path, line_of(lines, path)) from None
    return data


def line_of(lines: dict, path: tuple) -> int | None:
    """The line of a path, or of its nearest ancestor the loader knows."""
    path = tuple(path)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def read_env_file(path: str, env: dict | None = None) -> dict:
    """Parse a `.env` file: KEY=VALUE lines, `export` prefix, quotes, # comments."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("export "):
                line = line[7:].lstrip()
            key, sep, val = line.partition("=")
            key = key.strip()
            if not _NAME.fullmatch(key):
                raise ComposeError(f"invalid variable name {key!r}", path, (), n,
                                   "write KEY=VALUE")
            if not sep:
                if env and key in env:
                    out[key] = env[key]
                continue
            val = val.strip()
            if len(val) >= 2 and val[0] == val[-1] and val[0] in "'\"":
                quote, val = val[0], val[1:-1]
                if quote == '"':
                    val = val.replace("\\n", "\n").replace('\\"', '"')
            elif " #" in val:
                val = val.split(" #", 1)[0].rstrip()
            out[key] = val
    return out
