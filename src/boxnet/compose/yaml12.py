"""Read a compose file with YAML 1.2 rules, remembering the line of every value.

Plain PyYAML follows YAML 1.1: `22:22` becomes 1342 (base 60) and `no` becomes False,
which breaks port lists and environment values. Here PyYAML only parses and composes
nodes (with a resolver holding the YAML 1.2 core schema: null, true/false, decimal, 0o,
0x and float only); our own constructor then builds plain dicts/lists while:
- recording `lines[path] = line` for every key, so later errors can point at it;
- refusing duplicate keys, unknown tags, several documents and non-mapping roots;
- bounding the work: aliases are expanded by copy, so a "billion laughs" file (aliases of
  aliases) would blow up; the constructor stops after MAX_NODES nodes or MAX_DEPTH levels
  and rejects an alias that contains itself.
Compose's `<<` merge keys and its `!reset` / `!override` tags are supported.

PyYAML is imported on the first parse (~10 ms of start-up): a file parsed before is
answered from compose/doccache.py without it.
"""

from __future__ import annotations

import re

from . import doccache
from .errors import ComposeError

yaml = None   # the PyYAML module, set by _pyyaml() at the first parse
_LOADER = None

MAX_NODES = 100_000
MAX_DEPTH = 100
MAX_BYTES = 8 * 1024 * 1024

STR = "tag:yaml.org,2002:str"
NULL = "tag:yaml.org,2002:null"
BOOL = "tag:yaml.org,2002:bool"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
MERGE = "tag:yaml.org,2002:merge"
SEQ = "tag:yaml.org,2002:seq"
MAP = "tag:yaml.org,2002:map"


class Tagged:
    """A value carrying compose's `!reset` or `!override` tag (handled by the merge)."""

    def __init__(self, tag: str, value):
        self.tag = tag
        self.value = value

    def __repr__(self) -> str:
        return f"Tagged({self.tag!r}, {self.value!r})"


def _pyyaml():
    """PyYAML's parser and composer with YAML 1.2 core-schema implicit resolvers (the
    loader class, made once; the module is kept in the global `yaml`)."""
    global yaml, _LOADER
    if _LOADER is None:
        import yaml as pyyaml

        class Loader12(pyyaml.SafeLoader):
            """PyYAML's parser and composer with YAML 1.2 core-schema resolvers."""

            yaml_implicit_resolvers: dict = {}

        def resolver(tag: str, pattern: str, first) -> None:
            Loader12.add_implicit_resolver(tag, re.compile(pattern, re.X), list(first))

        resolver(NULL, r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""])
        resolver(BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF")
        resolver(INT, r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789")
        resolver(FLOAT, r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                 r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+.0123456789")
        resolver(MERGE, r"^(?:<<)$", "<")
        yaml, _LOADER = pyyaml, Loader12
    return _LOADER


def _scalar(node: yaml.ScalarNode):
    v, tag = node.value, node.tag
    if tag == NULL:
        return None
    if tag == BOOL:
        return v.lower() == "true"
    if tag == INT:
        v = v.replace("_", "")
        if v.startswith(("0o", "0x")):
            return int(v, 0)
        return int(v, 10)
    if tag == FLOAT:
        low = v.lower()
        if low.endswith(".inf"):
            return float("-inf") if low.startswith("-") else float("inf")
        if low == ".nan":
            return float("nan")
        return float(v)
    return v


class _Builder:
    """Turn a composed node graph into plain data, with lines and bounds."""

    def __init__(self, file: str):
        self.file = file
        self.lines: dict[tuple, int] = {}
        self.count = 0
        self.stack: set[int] = set()

    def err(self, node, path, msg: str, hint: str = "") -> ComposeError:
        return ComposeError(msg, self.file, path, node.start_mark.line + 1, hint)

    def build(self, node, path: tuple):
        self.count += 1
        if self.count > MAX_NODES:
            raise self.err(node, path, f"the document expands to more than {MAX_NODES} values",
                           "YAML aliases nested like a 'billion laughs' bomb? flatten them")
        if len(path) > MAX_DEPTH:
            raise self.err(node, path, f"nesting deeper than {MAX_DEPTH} levels")
        if id(node) in self.stack:
            raise self.err(node, path, "an alias refers to the node that contains it",
                           "recursive YAML aliases are not allowed")
        self.lines.setdefault(path, node.start_mark.line + 1)
        tag = node.tag
        custom = tag in ("!reset", "!override")
        if tag.startswith("!") and not custom:
            raise self.err(node, path, f"unsupported YAML tag {tag}",
                           "only !reset and !override are known to compose")
        if isinstance(node, yaml.ScalarNode):
            if not custom and tag not in (STR, NULL, BOOL, INT, FLOAT):
                raise self.err(node, path, f"unsupported YAML tag {tag}")
            try:
                val = node.value if custom else _scalar(node)
            except ValueError:
                raise self.err(node, path, f"{node.value!r} is not a valid {tag}") from None
            if custom:
                val = None if tag == "!reset" else val
        else:
            self.stack.add(id(node))
            try:
                if isinstance(node, yaml.SequenceNode):
                    if not custom and tag != SEQ:
                        raise self.err(node, path, f"unsupported YAML tag {tag}")
                    val = [self.build(n, path + (i,)) for i, n in enumerate(node.value)]
                else:
                    if not custom and tag != MAP:
                        raise self.err(node, path, f"unsupported YAML tag {tag}")
                    val = self.mapping(node, path)
            finally:
                self.stack.discard(id(node))
        return Tagged(tag[1:], val) if custom else val

    def mapping(self, node: yaml.MappingNode, path: tuple) -> dict:
        out: dict = {}
        merged: dict = {}
        for knode, vnode in node.value:
            if knode.tag == MERGE:
                sources = vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]
                for src in reversed(sources):
                    data = self.build(src, path)
                    if not isinstance(data, dict):
                        raise self.err(src, path, "a `<<` merge key needs a mapping "
                                       "or a list of mappings")
                    merged.update(data)
                continue
            if not isinstance(knode, yaml.ScalarNode):
                raise self.err(knode, path, "a mapping key must be a plain value, not a "
                               "list or a mapping")
            key = _scalar(knode) if knode.tag != STR else knode.value
            key = key if isinstance(key, str) else str(key).lower() if isinstance(
                key, bool) else ("null" if key is None else str(key))
            if key in out:
                raise self.err(knode, path + (key,), f"duplicate key {key!r}",
                               f"first defined on line {self.lines.get(path + (key,))}")
            self.lines[path + (key,)] = knode.start_mark.line + 1
            out[key] = self.build(vnode, path + (key,))
        for k, v in merged.items():
            out.setdefault(k, v)
        return out


def load(text: str | bytes, file: str) -> tuple[dict, dict[tuple, int]]:
    """Parse one compose file; return (data, lines) or raise ComposeError naming file:line.

    A text parsed before (same bytes, same parser) is answered from the cache
    (compose/doccache.py); only successful parses are stored.
    """
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise ComposeError(f"file larger than {MAX_BYTES // 2**20} MiB", file)
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ComposeError(f"not UTF-8 text (byte {e.start})", file) from None
    key = doccache.key(text)
    hit = doccache.get(key)
    if hit is not None:
        return hit
    data, lines = _parse(text, file)
    doccache.put(key, data, lines)
    return data, lines


def _parse(text: str, file: str) -> tuple[dict, dict[tuple, int]]:
    """PyYAML's nodes turned into plain data and lines (the uncached path of `load`)."""
    loader = _pyyaml()
    try:
        nodes = list(yaml.compose_all(text, Loader=loader))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        msg = " ".join(x for x in (e.context, e.problem) if x)
        raise ComposeError(f"invalid YAML: {msg}", file, (),
                           mark.line + 1 if mark else None) from None
    except yaml.YAMLError as e:
        raise ComposeError(f"invalid YAML: {e}", file) from None
    except RecursionError:
        raise ComposeError(f"invalid YAML: nesting too deep", file) from None
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        raise ComposeError("empty compose file", file, (), 1,
                           "declare at least `services:`")
    if len(nodes) > 1:
        raise ComposeError("several YAML documents in one compose file", file, (),
                           nodes[1].start_mark.line + 1, "keep one document per file")
    b = _Builder(file)
    try:
        data = b.build(nodes[0], ())
    except RecursionError:
        raise ComposeError("nesting too deep", file) from None
    if not isinstance(data, dict):
        raise ComposeError("the top level must be a mapping (services:, networks: ...)",
                           file, (), nodes[0].start_mark.line + 1)
    return data, b.lines
