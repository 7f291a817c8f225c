"""The repository as software items: modules, their imports, and what the proofs execute.

Theory of operation
-------------------
``scan`` reads every module of ``controller/``, ``specs/`` and ``proofs/`` with ``ast`` (no
import, so it cannot run anything) and records its first docstring line, its size, the
project modules it imports and the third-party packages it imports (mapped to their
distributions). From that graph:

- ``proved`` marks the controller modules the Z3 encoder executes: those reachable by imports
  from ``proofs/encode.py``, ``engine.py``, ``prove.py`` and ``auxiliary.py``;
- ``items`` groups modules into software items, one per package described in
  ``specs/scope.toml`` (core, root, clinical, ... cli) plus ``specs`` and ``proofs``: the unit
  the IEC 62304 architecture and configuration records are written in. A module belongs to the
  package that *owns* it, on a dot boundary (``owns``: ``controller.cli`` owns
  ``controller.cli.verify``, never ``controller.clinical``), the longest owner winning;
- ``segregation`` checks that every proved module imports only the standard library,
  ``transitions`` and other proved modules - the pure core the proofs are about.

Rules
1. Static only: the scan never imports the modules it reads.
2. Deterministic: sorted everywhere, sizes in lines, no timestamps.
"""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("controller", "specs", "proofs")
PROOF_ENTRY = ("proofs.encode", "proofs.engine", "proofs.prove", "proofs.auxiliary")
CORE_ALLOWED = frozenset({"transitions"})


def _name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested ones included (imports are statements: no need to walk expressions)."""
    for node in body:
        yield node
        for field in ("body", "orelse", "finalbody"):
            yield from _statements(getattr(node, field, None) or [])
        for handler in getattr(node, "handlers", None) or []:
            yield from _statements(handler.body)


@functools.cache
def _distributions() -> Mapping[str, list[str]]:
    return metadata.packages_distributions()


def canonical(name: str) -> str:
    """The repository's name of an imported module: the wheel installs specs/ and proofs/ as
    ``pumpctl.specs`` and ``pumpctl.proofs`` (a checkout links them there), so ``pumpctl.specs.x``
    is ``specs/x.py``."""
    return name.removeprefix("pumpctl.") if name.startswith(("pumpctl.specs", "pumpctl.proofs")) else name


def _imports(tree: ast.Module, known: set[str]) -> tuple[set[str], set[str]]:
    internal, external = set(), set()
    for node in _statements(tree.body):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for n in map(canonical, names):
            top = n.split(".")[0]
            if top in PACKAGES:
                if n in known:
                    internal.add(n)
            elif top not in sys.stdlib_module_names and top != "__future__":
                external.add(top)
    return internal, external


def scan(root: Path = ROOT) -> dict[str, Any]:
    files = {_name(p, root): p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))
             if "__pycache__" not in p.parts}
    known = set(files)
    modules: dict[str, dict[str, Any]] = {}
    for name, path in sorted(files.items()):
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        internal, external = _imports(tree, known)
        doc = (ast.get_docstring(tree) or "").strip().splitlines()
        modules[name] = {"path": path.relative_to(root).as_posix(), "lines": len(text.splitlines()),
                         "doc": doc[0] if doc else "", "imports": sorted(internal - {name}),
                         "soup": sorted({d for top in external for d in _distributions().get(top, [top])})}
    closure, todo = set(), [m for m in PROOF_ENTRY if m in modules]
    while todo:
        m = todo.pop()
        for dep in modules[m]["imports"]:
            if dep not in closure and dep.startswith("controller"):
                closure.add(dep)
                todo.append(dep)
    for name, info in modules.items():
        info["proved"] = name in closure and name != "controller"
    return {"modules": modules}


FACADE = "controller"  # the package's own __init__: re-exports of the core (``from controller import Controller``)
CORE_PACKAGE = "controller.core"
TOOL_ITEMS = (("specs", ("specs",)), ("proofs", ("proofs",)))
Parts = list[tuple[str, tuple[str, ...]]]


def owns(name: str, module: str) -> bool:
    """A module name owns itself and every module below it, on a dot boundary."""
    return module == name or module.startswith(name + ".")


def item_of(module: str, parts: Parts) -> str:
    """The software item a module belongs to: the described package that owns it (the longest
    owner wins), or a tool; the facade goes with the core. A module nobody owns is its own item."""
    if module == FACADE:
        module = CORE_PACKAGE
    owners = [(len(p), name) for name, prefixes in [*parts, *TOOL_ITEMS] for p in prefixes if owns(p, module)]
    return max(owners)[1] if owners else module


def owners(module: str, parts: Parts) -> list[str]:
    """Every described package that owns a module (exactly one is right)."""
    module = CORE_PACKAGE if module == FACADE else module
    return sorted({name for name, prefixes in parts for p in prefixes if owns(p, module)})


def items(layout: Mapping[str, Any], parts: Parts, runtime: Mapping[str, bool] | None = None,
          docs: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Software items with their modules, size, SOUP, the items they use and how many of their
    modules the proofs execute. ``runtime`` says which described items are not part of what
    drives a pump (default: every described item is, the tools are not); ``docs`` gives an
    item's one-line description (default: its modules' first docstring line)."""
    mods = layout.get("modules") or {}
    runtime, docs = runtime or {}, docs or {}
    of = {m: item_of(m, parts) for m in mods}
    groups: dict[str, list[str]] = {}
    for m, key in of.items():
        groups.setdefault(key, []).append(m)
    tools = {n for n, _ in TOOL_ITEMS}
    order = [n for n, _ in parts] + [n for n, _ in TOOL_ITEMS]
    out = []
    for key in sorted(groups, key=lambda k: (order.index(k) if k in order else len(order), k)):
        ms = sorted(groups[key])
        out.append({"item": key, "modules": ms, "lines": sum(mods[m]["lines"] for m in ms),
                    "proved": sum(bool(mods[m].get("proved")) for m in ms),
                    "soup": sorted({s for m in ms for s in mods[m]["soup"]}),
                    "uses": sorted({of[d] for m in ms for d in mods[m]["imports"]} - {key}),
                    "runtime": key not in tools and runtime.get(key, True),
                    "doc": docs.get(key) or next((mods[m]["doc"] for m in ms if mods[m]["doc"]), "")})
    return out


def segregation(layout: Mapping[str, Any]) -> dict[str, Any]:
    """Proved modules import only the standard library, transitions and each other."""
    mods = layout.get("modules") or {}
    core = {m for m, i in mods.items() if i.get("proved")}
    breaches = []
    for m in sorted(core):
        for dep in mods[m]["imports"]:
            if dep not in core and dep != "controller":
                breaches.append(f"{m} imports {dep} (not in the proved core)")
        for s in mods[m]["soup"]:
            if s not in CORE_ALLOWED:
                breaches.append(f"{m} imports third-party {s}")
    return {"core": sorted(core), "allowed_soup": sorted(CORE_ALLOWED), "breaches": breaches, "ok": not breaches}
