"""boxnet's import graph, read from the source with `ast`: no cycles, and the layers of
/work/shared/DESIGN.md (docs/architecture.md) hold.

Every `import`/`from ... import` counts, wherever it is: at module level, inside a
function or a method (a lazy import still runs, only later, so it can still close a
cycle). Only imports under `if TYPE_CHECKING:` are left out: they never run. Relative
imports are resolved against the importing module's package; `from pkg import name`
is an edge to `pkg.name` when that is a module, else to `pkg`. Importing `a.b.c` runs
`a/__init__` and `a/b/__init__` first, so those package edges count too, except the
importer's own ancestors (already being imported when the importer runs).
Imports by name at run time (importlib.import_module) are not seen; boxnet has none.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = "boxnet"
DAEMON_LAYERS = ("core", "api", "drivers", "ipam", "firewall", "dns", "store", "runtime",
                 "kernel", "daemon", "volumes", "plugin")
# Ways to start a program besides the subprocess module.
SPAWNS = {"os.system", "os.popen", "os.posix_spawn", "os.posix_spawnp", "os.fork", "os.forkpty",
          "os.execv", "os.execve", "os.execvp", "os.execvpe", "os.execl", "os.execle",
          "os.execlp", "os.execlpe", "asyncio.create_subprocess_exec",
          "asyncio.create_subprocess_shell"}


def _module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _type_checking_only(node: ast.AST, parents: dict) -> bool:
    """True when `node` sits in the body of an `if TYPE_CHECKING:` block."""
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.If) and node in parent.body:
            test = parent.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                return True
        node = parent
    return False


class Graph:
    """Modules of src/boxnet, their edges to each other and their outside imports."""

    def __init__(self, src: Path = SRC) -> None:
        self.files = {_module_name(p, src): p for p in sorted((src / ROOT).rglob("*.py"))}
        self.edges: dict[str, set[str]] = {m: set() for m in self.files}
        self.external: dict[str, set[str]] = {m: set() for m in self.files}
        self.spawns: dict[str, set[str]] = {m: set() for m in self.files}
        for mod, path in self.files.items():
            self._read(mod, path)

    def _resolve(self, dotted: str) -> str | None:
        """The longest known module that `dotted` names or lies in."""
        while dotted and dotted not in self.files:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    def _add(self, mod: str, target: str | None) -> None:
        if target is None or target == mod:
            return
        own = set(_ancestors(mod))
        for name in [*_ancestors(target), target]:
            if name not in own and name != mod and name in self.files:
                self.edges[mod].add(name)

    def _read(self, mod: str, path: Path) -> None:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and f"{node.value.id}.{node.attr}" in SPAWNS:
                self.spawns[mod].add(f"{node.value.id}.{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module in ("os", "asyncio"):
                self.spawns[mod] |= {f"{node.module}.{a.name}" for a in node.names} & SPAWNS
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            if _type_checking_only(node, parents):
                continue
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self._note(mod, alias.name, [])
                continue
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            self._note(mod, source, [a.name for a in node.names])

    def _note(self, mod: str, source: str, names: list[str]) -> None:
        if source != ROOT and not source.startswith(ROOT + "."):
            self.external[mod].add(source.split(".")[0])
            return
        subs = [f"{source}.{n}" for n in names if f"{source}.{n}" in self.files]
        for target in subs:
            self._add(mod, target)
        if len(subs) < len(names) or not names:
            self._add(mod, self._resolve(source))

    def cycles(self) -> list[list[str]]:
        """One cycle (as a closed path) per strongly connected component (Tarjan)."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        comps: list[set[str]] = []

        def visit(v: str) -> None:
            index[v] = low[v] = len(index)
            stack.append(v)
            on_stack.add(v)
            for w in sorted(self.edges[v]):
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    comps.append(comp)

        for v in sorted(self.edges):
            if v not in index:
                visit(v)
        return [self._path_in(sorted(c)[0], c) for c in comps]

    def _path_in(self, start: str, comp: set[str]) -> list[str]:
        """A shortest closed path start -> ... -> start inside one component."""
        prev: dict[str, str] = {}
        todo = [start]
        while todo:
            nxt = []
            for v in todo:
                for w in sorted(self.edges[v] & comp):
                    if w == start:
                        back = [v]
                        while back[-1] != start:
                            back.append(prev[back[-1]])
                        return list(reversed(back)) + [start]
                    if w not in prev:
                        prev[w] = v
                        nxt.append(w)
            todo = nxt
        return [start]

    def reach(self, mod: str) -> set[str]:
        """Every module `mod` may end up importing (transitively, lazy imports included)."""
        seen: set[str] = set()
        todo = [mod]
        while todo:
            for w in self.edges[todo.pop()] - seen:
                seen.add(w)
                todo.append(w)
        return seen

    def layer(self, *names: str) -> list[str]:
        """The modules of the given sub-packages of boxnet (boxnet.<name> and below)."""
        return [m for m in self.files if _in(m, *names)]


def _in(mod: str, *layers: str) -> bool:
    """True when `mod` is boxnet.<layer> or lies below it, for one of `layers`."""
    return any(mod == f"{ROOT}.{n}" or mod.startswith(f"{ROOT}.{n}.") for n in layers)


@pytest.fixture(scope="module")
def graph() -> Graph:
    return Graph()


def test_the_reader_finds_lazy_relative_and_package_imports(tmp_path):
    """The graph itself, on a made-up tree: a cycle closed by an import inside a
    function is found; `from pkg import module`, a package's __init__ and outside
    imports are seen; TYPE_CHECKING-only imports are not edges."""
    files = {
        "__init__.py": "",
        "a/__init__.py": "from . import z\n",
        "a/x.py": "def f():\n    from .y import g\n    return g\n",
        "a/y.py": "import click\nfrom boxnet.a import x\ng = 1\n",
        "a/z.py": "from boxnet.a.x import f\n",
        "b.py": ("from typing import TYPE_CHECKING\nfrom .a.y import g\n"
                 "if TYPE_CHECKING:\n    from . import c\n"),
        "c.py": "from . import b\nimport os\nos.execvp('ip', ['ip'])\n",
    }
    for name, text in files.items():
        path = tmp_path / ROOT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    g = Graph(tmp_path)
    assert g.edges["boxnet.a.x"] == {"boxnet.a.y"}
    assert g.edges["boxnet.a.y"] == {"boxnet.a.x"}
    assert g.edges["boxnet.b"] == {"boxnet.a", "boxnet.a.y"}  # __init__ of a runs first
    assert g.edges["boxnet.a"] == {"boxnet.a.z"}
    assert g.external["boxnet.a.y"] == {"click"}
    assert g.cycles() == [["boxnet.a.x", "boxnet.a.y", "boxnet.a.x"]]
    assert "boxnet.a.z" in g.reach("boxnet.b") and "boxnet.c" not in g.reach("boxnet.b")
    assert g.spawns["boxnet.c"] == {"os.execvp"} and not g.spawns["boxnet.b"]


def test_no_import_cycle(graph):
    cycles = graph.cycles()
    assert not cycles, "import cycles in src/boxnet:\n" + "\n".join(
        " -> ".join(c) for c in cycles)


def _violations(graph: Graph, sources: list[str], bad, transitive: bool = False) -> list[str]:
    out = []
    for mod in sources:
        targets = graph.reach(mod) if transitive else graph.edges[mod]
        out += [f"{mod} -> {t}" for t in sorted(targets) if bad(t)]
    return out


def test_front_ends_never_import_the_cli_or_click(graph):
    """compose/ and client/ import neither cli/ nor click, not even through another module."""
    mods = graph.layer("compose", "client")
    assert mods
    bad = _violations(graph, mods, lambda t: _in(t, "cli"), transitive=True)
    reached = set(mods).union(*(graph.reach(m) for m in mods))
    bad += [f"{m} -> click" for m in sorted(reached) if "click" in graph.external[m]]
    assert not bad, "\n".join(bad)


def test_front_ends_never_import_daemon_code(graph):
    """cli/, compose/ and client/ talk HTTP to the daemon; they never reach its code."""
    mods = graph.layer("cli", "compose", "client")
    bad = _violations(graph, mods, lambda t: _in(t, *DAEMON_LAYERS), transitive=True)
    assert not bad, "\n".join(bad)


def test_model_imports_nothing_of_ours(graph):
    mods = graph.layer("model")
    assert mods
    bad = _violations(graph, mods, lambda t: not _in(t, "model"))
    assert not bad, "\n".join(bad)


# The layers under core/ and what each may import besides itself (docs/architecture.md).
BELOW_CORE = {
    "kernel": ("errors", "model"),
    "store": ("kernel", "errors", "model"),
    "ipam": ("kernel", "errors", "model"),
    "firewall": ("kernel", "errors", "model"),
    "runtime": ("kernel", "errors", "model"),
    "volumes": ("kernel", "errors", "model"),
    "policy": (),   # sans-I/O, also used by compose: imports nothing of ours
}


def test_lower_layers_import_only_downwards(graph):
    """kernel/ sits at the bottom; store/, ipam/, firewall/ and runtime/ use only kernel/,
    model/ and errors.py; nothing but daemon/ imports api/, and nothing imports daemon/."""
    bad = []
    for layer, allowed in BELOW_CORE.items():
        bad += _violations(graph, graph.layer(layer), lambda t: not _in(t, layer, *allowed))
    bad += _violations(graph, [m for m in graph.files if not _in(m, "api", "daemon")],
                       lambda t: _in(t, "api", "daemon"))
    bad += _violations(graph, graph.layer("api"), lambda t: _in(t, "daemon"))
    bad += _violations(graph, ["boxnet.errors"], lambda t: t != "boxnet")
    assert not bad, "\n".join(bad)


def test_only_kernel_imports_pyroute2_and_ctypes(graph):
    bad = [f"{m} -> {x}" for m in graph.files if not _in(m, "kernel")
           for x in sorted(graph.external[m] & {"pyroute2", "ctypes"})]
    assert not bad, "\n".join(bad)


# Modules outside kernel/ allowed to start a program, and why.
SPAWN_EXCEPTIONS = {
    "boxnet.runtime.busybox": "runs the busybox binary itself (--list-full) to lay out its "
                              "applets in the built-in image; no nft, runc or ip",
}


def test_only_kernel_starts_programs(graph):
    """kernel/ alone runs nft, runc or ip: outside it no module imports subprocess or
    starts a program otherwise (os.exec*, os.posix_spawn, asyncio subprocesses...)."""
    bad = []
    for m in graph.files:
        if _in(m, "kernel") or m in SPAWN_EXCEPTIONS:
            continue
        how = sorted(graph.spawns[m] | ({"subprocess"} & graph.external[m]))
        bad += [f"{m} -> {h}" for h in how]
    assert not bad, "\n".join(bad)
    assert all(graph.external.get(m) is not None for m in SPAWN_EXCEPTIONS)  # still exist
