"""The import rule of the house, and figures of the import graph.

Theory of operation
-------------------
The graph is read from the source (``ast``, every ``import`` and ``from ... import`` at any
depth, so a lazy import inside a function counts like one at the top) of ``controller/``,
``specs/`` and ``proofs/``. A module belongs to a *package*: ``controller.<layer>`` (or one of
the two root modules), ``specs``, ``proofs`` or ``proofs.evidence``. The rule
(docs/architecture.md):

1. The controller's layers, bottom to top: the root modules (``controller.errors``,
   ``controller.fields``), ``core``, ``clinical``, ``sensing``, ``plant``, ``drivers``, ``log``,
   ``library``, ``runtime``, ``scenario``, ``bench``, ``campaign``, ``sdc``, ``cli``. A module
   imports only from its own layer or a lower one.
2. ``specs`` (requirements, invariants, the runtime invariant checker) stands on the root modules
   and ``core`` only; layers from ``scenario`` up may use it.
3. ``proofs`` uses the controller and ``specs``; only ``controller.cli`` imports it.
   ``proofs.evidence`` uses everything below the CLI and is imported by nobody but the CLI.
4. No cycle between packages.

``python -m tests.import_rule [ROOT]`` prints the figures (floors, arrows, upward arrows,
cycles); ``tests/test_layers.py`` enforces the rule.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pumpctl.proofs.evidence.layout import canonical

LAYERS = ("root", "core", "clinical", "sensing", "plant", "drivers", "log", "library", "runtime", "scenario",
          "bench", "campaign", "sdc", "cli")
ROOT_MODULES = {"controller.errors", "controller.fields"}
FACADE = "controller"  # the package's own __init__: re-exports of the core (``from controller import Controller``)
PACKAGES = ("controller", "specs", "proofs")


def modules(root: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for top in PACKAGES:
        for path in sorted((root / top).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    name = canonical(name)
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def bare_imports(root: Path) -> list[tuple[str, str]]:
    """(module, name) of every import of ``specs`` or ``proofs`` by their bare names: code says
    ``pumpctl.specs`` and ``pumpctl.proofs`` (what the wheel installs); a bare name would load the
    same files a second time as other modules in a checkout, and not at all from the wheel."""
    out = []
    for name, path in modules(root).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            out += [(name, n) for n in names if n.split(".")[0] in ("specs", "proofs")]
    return out


def graph(root: Path) -> dict[str, set[str]]:
    """Module -> the project modules it imports (itself excluded)."""
    known = modules(root)
    edges: dict[str, set[str]] = {}
    for name, path in known.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps.update(r for a in node.names if (r := _resolve(a.name, known)))
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    full = canonical(f"{node.module}.{a.name}")
                    r = full if full in known else _resolve(node.module, known)
                    if r:
                        deps.add(r)
        deps.discard(name)
        edges[name] = deps
    return edges


def package(module: str) -> str:
    """The package a module belongs to, for the rule: ``controller.<layer>``, ``specs``, ``proofs``,
    ``proofs.evidence``."""
    if module in ROOT_MODULES:
        return "controller.root"
    if module == FACADE:
        return "controller.core"
    parts = module.split(".")
    if parts[0] == "controller":
        return f"controller.{parts[1]}"
    if parts[:2] == ["proofs", "evidence"]:
        return "proofs.evidence"
    return parts[0]


def allowed(importer: str, imported: str) -> bool:
    a, b = package(importer), package(imported)
    if a == b or b == "controller.root":
        return True
    if a.startswith("controller.") and b.startswith("controller."):
        la, lb = a.split(".")[1], b.split(".")[1]
        if la not in LAYERS or lb not in LAYERS:
            return False  # a package nobody placed in the layers yet
        return LAYERS.index(lb) <= LAYERS.index(la)
    if a.startswith("controller."):
        layer = a.split(".")[1]
        if b == "specs":
            return layer in LAYERS and LAYERS.index(layer) >= LAYERS.index("scenario")
        return layer == "cli"  # proofs and proofs.evidence: the CLI only
    if a == "specs":
        return b == "controller.core"
    if a == "proofs":
        return (b.startswith("controller.") and b != "controller.cli") or b == "specs"
    if a == "proofs.evidence":
        return b != "controller.cli"
    return False


def violations(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a, deps in edges.items() for b in deps if not allowed(a, b))


def _sccs(nodes: Iterable[str], succ: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan), those with more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(succ.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def package_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    succ: dict[str, set[str]] = {}
    for a, deps in edges.items():
        for b in deps:
            if package(a) != package(b):
                succ.setdefault(package(a), set()).add(package(b))
    return _sccs({package(m) for m in edges}, succ)


@dataclass
class Figures:
    modules: int
    arrows: int
    floors: int
    upward: int
    module_cycles: int
    package_cycles: int


def floors(edges: dict[str, set[str]]) -> int:
    """Height of the module graph: the longest chain of imports (a cycle counts as one floor)."""
    comp_of: dict[str, str] = {}
    for comp in _sccs(edges, edges):
        for m in comp:
            comp_of[m] = comp[0]
    succ: dict[str, set[str]] = {}
    for a, deps in edges.items():
        for b in deps:
            ca, cb = comp_of.get(a, a), comp_of.get(b, b)
            if ca != cb:
                succ.setdefault(ca, set()).add(cb)
    height: dict[str, int] = {}

    def h(v: str) -> int:
        if v not in height:
            height[v] = 1 + max((h(w) for w in succ.get(v, ())), default=0)
        return height[v]

    return max((h(comp_of.get(m, m)) for m in edges), default=0)


def figures(root: Path) -> Figures:
    edges = graph(root)
    return Figures(len(edges), sum(len(d) for d in edges.values()), floors(edges), len(violations(edges)),
                   len(_sccs(edges, edges)), len(package_cycles(edges)))


if __name__ == "__main__":
    where = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    f = figures(where)
    print(f"{f.modules} modules, {f.arrows} arrows, {f.floors} floors, {f.upward} upward arrows, "
          f"{f.module_cycles} module cycles, {f.package_cycles} package cycles")
    for a, b in violations(graph(where)):
        print(f"  upward: {a} -> {b}")
    for cycle in package_cycles(graph(where)):
        print(f"  package cycle: {' <-> '.join(cycle)}")
    sizes: dict[str, tuple[int, int]] = {}
    for name, path in modules(where).items():
        n, lines = sizes.get(package(name), (0, 0))
        sizes[package(name)] = (n + 1, lines + len(path.read_text(encoding="utf-8").splitlines()))
    for pkg, (n, lines) in sorted(sizes.items()):
        print(f"  {pkg:22} {n:3} modules {lines:6} lines")
