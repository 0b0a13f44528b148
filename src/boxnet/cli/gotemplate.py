"""A subset of Go's text/template, enough for docker's --format strings.

Supported: {{.A.B}}, {{.}}, {{$v}}, {{$v.A}}, pipelines with `|`, string and number
literals, (sub pipelines), {{range}} (with `$i, $e :=` and {{else}}), {{if}}/{{else if}},
{{with}}, {{- trim -}} markers, and docker's functions (json, join, split, lower, upper,
title, pad, truncate, println) plus Go's index, len, printf, print, eq, ne, lt, le,
gt, ge, and, or, not. Values print as Go's %v would (map[k:v], [a b], {a b}).
"""

from __future__ import annotations

import json
import re
from typing import Any

from .govalue import FUNCS, go_str, truthy

MISSING = object()


class TemplateError(Exception):
    """A template that does not parse or cannot be executed."""


_TOKEN = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_ARG = re.compile(r'\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\(|\)|\||:=|,|[^\s()|,]+)')


def _lex(text: str) -> list:
    """Split template text into ("text", s) and ("action", s) items."""
    items: list = []
    pos = 0
    for m in _TOKEN.finditer(text):
        chunk = text[pos:m.start()]
        if m.group(1):
            chunk = chunk.rstrip()
        items.append(["text", chunk])
        items.append(["action", m.group(2).strip(), bool(m.group(3))])
        pos = m.end()
    rest = text[pos:]
    if "{{" in rest:
        raise TemplateError("template: :1: unclosed action")
    items.append(["text", rest])
    for i, it in enumerate(items):  # apply right-trim markers
        if it[0] == "action" and it[2] and i + 1 < len(items):
            items[i + 1][1] = items[i + 1][1].lstrip()
    return items


def _split_args(src: str) -> list[str]:
    toks = []
    pos = 0
    while pos < len(src):
        m = _ARG.match(src, pos)
        if not m or m.end() == pos:
            break
        toks.append(m.group(1))
        pos = m.end()
        if not src[pos:].strip():
            break
    return toks


class Template:
    """A parsed template; call execute(data) to render it."""

    def __init__(self, text: str, funcs: dict | None = None):
        self.funcs = dict(FUNCS)
        self.funcs.update(funcs or {})
        self._items = _lex(text)
        self._pos = 0
        self.root = self._parse_list(top=True)

    def _parse_list(self, top: bool = False) -> list:
        nodes: list = []
        while self._pos < len(self._items):
            it = self._items[self._pos]
            self._pos += 1
            if it[0] == "text":
                if it[1]:
                    nodes.append(("text", it[1]))
                continue
            act = it[1]
            word = act.split(None, 1)[0] if act else ""
            if word in ("end", "else"):
                if top:
                    raise TemplateError(f"unexpected {{{{{word}}}}}")
                return nodes + [(word, act[len(word):].strip())]
            if word in ("range", "if", "with"):
                nodes.append(self._parse_block(word, act[len(word):].strip()))
            elif act.startswith("/*"):
                continue
            else:
                nodes.append(("action", self._parse_pipe(act)))
        if not top:
            raise TemplateError("unexpected EOF: missing {{end}}")
        return nodes

    def _parse_block(self, kind: str, arg: str):
        vars_: list[str] = []
        m = re.match(r"^(\$\w*)\s*(?:,\s*(\$\w*))?\s*:=\s*(.*)$", arg, re.S)
        if m:
            vars_ = [v for v in (m.group(1), m.group(2)) if v]
            arg = m.group(3)
        pipe = self._parse_pipe(arg)
        body = self._parse_list()
        term, rest = body.pop()
        other: list = []
        if term == "else":
            if rest.startswith("if ") or rest.startswith("with "):
                w = rest.split(None, 1)
                other = [self._parse_block(w[0], w[1])]
            else:
                other = self._parse_list()
                other.pop()
        return (kind, pipe, vars_, body, other)

    def _parse_pipe(self, src: str) -> list:
        toks = _split_args(src)
        pipe, _ = self._parse_cmds(toks, 0)
        return pipe

    def _parse_cmds(self, toks: list[str], i: int):
        cmds: list = [[]]
        while i < len(toks):
            t = toks[i]
            i += 1
            if t == ")":
                break
            if t == "|":
                cmds.append([])
            elif t == "(":
                sub, i = self._parse_cmds(toks, i)
                cmds[-1].append(("pipe", sub))
            else:
                cmds[-1].append(_arg(t))
        return cmds, i

    def execute(self, data: Any) -> str:
        """Render the template against `data` (dicts, lists, objects)."""
        out: list[str] = []
        self._run(self.root, data, {"$": data}, out)
        return "".join(out)

    def _run(self, nodes: list, dot: Any, vars_: dict, out: list[str]) -> None:
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "action":
                out.append(go_str(self._pipe(node[1], dot, vars_)))
            elif kind == "if":
                val = self._pipe(node[1], dot, vars_)
                self._run(node[3] if truthy(val) else node[4], dot, vars_, out)
            elif kind == "with":
                val = self._pipe(node[1], dot, vars_)
                if truthy(val):
                    self._run(node[3], val, vars_, out)
                else:
                    self._run(node[4], dot, vars_, out)
            elif kind == "range":
                self._range(node, dot, vars_, out)

    def _range(self, node, dot, vars_, out) -> None:
        _, pipe, names, body, other = node
        val = self._pipe(pipe, dot, vars_)
        if isinstance(val, dict):
            pairs = [(k, val[k]) for k in sorted(val)]
        elif isinstance(val, (list, tuple)):
            pairs = list(enumerate(val))
        elif isinstance(val, int) and not isinstance(val, bool):
            pairs = [(i, i) for i in range(val)]
        elif val is None or val is MISSING:
            pairs = []
        else:
            raise TemplateError(f"range can't iterate over {go_str(val)}")
        if not pairs:
            self._run(other, dot, vars_, out)
            return
        for k, v in pairs:
            scope = dict(vars_)
            if len(names) == 1:
                scope[names[0]] = v
            elif len(names) == 2:
                scope[names[0]], scope[names[1]] = k, v
            self._run(body, v, scope, out)

    def _pipe(self, cmds: list, dot: Any, vars_: dict) -> Any:
        val: Any = MISSING
        for cmd in cmds:
            val = self._cmd(cmd, dot, vars_, val)
        return None if val is MISSING else val

    def _cmd(self, cmd: list, dot: Any, vars_: dict, piped: Any) -> Any:
        if not cmd:
            raise TemplateError("empty command")
        head = cmd[0]
        if head[0] == "ident":
            fn = self.funcs.get(head[1])
            if fn is None:
                raise TemplateError(f'function "{head[1]}" not defined')
            args = [self._eval(a, dot, vars_) for a in cmd[1:]]
            if piped is not MISSING:
                args.append(piped)
            return fn(*args)
        if head[0] == "field" and (len(cmd) > 1 or piped is not MISSING):
            target = self._eval(("field", head[1][:-1]), dot, vars_) if len(head[1]) > 1 else dot
            meth = getattr(target, head[1][-1], None)
            if callable(meth):
                args = [self._eval(a, dot, vars_) for a in cmd[1:]]
                if piped is not MISSING:
                    args.append(piped)
                return meth(*args)
        if len(cmd) > 1 or piped is not MISSING:
            raise TemplateError("can't give argument to non-function")
        return self._eval(head, dot, vars_)

    def _eval(self, arg, dot: Any, vars_: dict) -> Any:
        kind = arg[0]
        if kind == "lit":
            return arg[1]
        if kind == "pipe":
            return self._pipe(arg[1], dot, vars_)
        if kind == "ident":
            fn = self.funcs.get(arg[1])
            if fn is None:
                raise TemplateError(f'function "{arg[1]}" not defined')
            return fn()
        if kind == "var":
            if arg[1] not in vars_:
                raise TemplateError(f"undefined variable: {arg[1]}")
            return _walk(vars_[arg[1]], arg[2])
        if kind == "field":
            return _walk(dot, arg[1])
        raise TemplateError(f"unexpected {arg!r}")


def _arg(tok: str):
    if tok == ".":
        return ("field", [])
    if tok.startswith("."):
        return ("field", tok[1:].split("."))
    if tok.startswith("$"):
        name, *path = tok.split(".")
        return ("var", name, path)
    if tok.startswith('"'):
        return ("lit", json.loads(tok))
    if tok.startswith("`"):
        return ("lit", tok[1:-1])
    if tok in ("true", "false"):
        return ("lit", tok == "true")
    if tok == "nil":
        return ("lit", None)
    if re.fullmatch(r"-?\d+", tok):
        return ("lit", int(tok))
    if re.fullmatch(r"-?\d*\.\d+", tok):
        return ("lit", float(tok))
    return ("ident", tok)


def _walk(val: Any, path: list[str]) -> Any:
    for i, name in enumerate(path):
        if isinstance(val, dict):
            if name not in val:
                # Docker runs templates on typed structs: a missing map key prints
                # <no value>, a missing struct field is an error. A dict whose keys
                # are all PascalCase is taken for a struct.
                if not (name[:1].isupper() and all(k[:1].isupper() for k in val)):
                    return None
                at = ".".join(path[:i + 1])
                raise TemplateError(f'template: :1: executing "" at <.{at}>: '
                                    f'map has no entry for key "{name}"')
            val = val[name]
        elif val is None:
            raise TemplateError(f"nil pointer evaluating .{name}")
        else:
            attr = getattr(val, name, MISSING)
            if attr is MISSING or name.startswith("_"):
                raise TemplateError(f'template: :1: executing "" at <.{name}>: '
                                    f"can't evaluate field {name} in type "
                                    f"{type(val).__name__}")
            val = attr() if callable(attr) else attr
    return val


def render(fmt: str, data: Any, funcs: dict | None = None) -> str:
    """Parse and execute `fmt` once against `data`."""
    return Template(fmt, funcs).execute(data)
