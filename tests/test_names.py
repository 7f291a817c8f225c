"""Names that explain themselves: where errors live, and no one-letter module aliases.

Theory of operation
-------------------
The source of ``controller/``, ``specs/`` and ``proofs/`` is read with ``ast`` (nothing is
imported, so optional extras do not matter). A class is an exception when one of its bases is a
built-in exception or, by name, another exception class of the tree (to a fixed point).

Rules
1. Every exception class is defined in an errors module: ``controller/errors.py`` or one
   ``errors.py`` per package family (``controller/<family>/errors.py``). A private class (its
   name starts with ``_``) is a module's internal signal and may stay where it is used.
2. Every exception class of an errors module descends from ``PumpError`` (controller/errors.py).
3. No two exception classes share a name.
4. The errors table of docs/refusals.md lists exactly the classes of each module.
5. No two modules define a class of the same name (one ``SimPump``, one ``Mode``, one ``Line``),
   but for ``KNOWN_SHARED_NAMES``.
6. Outside ``controller/core/`` (whose ``A``, ``AN``, ``E``, ``G`` aliases are its established
   convention) no module is imported under a one-letter name.
7. ``KNOWN_*`` list what is not yet so; they may only shrink.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOPS = ("controller", "specs", "proofs")
DOC = ROOT / "docs" / "refusals.md"
# exception classes outside an errors module (path:class), owned elsewhere; may only shrink
KNOWN_ELSEWHERE = {"controller/sdc/pumps.py:PumpUnavailable", "proofs/engine.py:VacuousStep"}
# one-letter module aliases not yet renamed (path:alias); may only shrink
KNOWN_ALIASES = {
    "controller/runtime/logstore.py:A", "controller/sdc/mdib.py:A", "controller/sdc/view.py:A",
    "controller/clinical/programs.py:U", "controller/scenario/model.py:A", "controller/scenario/limits.py:U",
    "controller/scenario/run.py:A", "proofs/prove.py:E", "proofs/engine.py:E", "proofs/mutants.py:C",
    "proofs/mutants.py:F", "proofs/mutants.py:G", "proofs/mutants.py:P", "proofs/mutants.py:R",
    "proofs/mutants.py:W", "proofs/shortcuts.py:A", "proofs/shortcuts.py:E", "proofs/horizon.py:E",
    "proofs/auxiliary.py:A",
}
# class names defined in more than one module (each with its own meaning, kept apart by their package:
# a protocol's Prompt per pump family, a campaign's Outcome per kind of campaign); may only shrink
KNOWN_SHARED_NAMES = {"Campaign", "Family", "Outcome", "Prompt", "Result", "Row", "Site"}
BUILTIN_EXCEPTIONS = {n for n in dir(builtins) if isinstance(getattr(builtins, n), type)
                      and issubclass(getattr(builtins, n), BaseException)}


@dataclass(frozen=True)
class ClassDef:
    path: str  # relative to the repository
    name: str
    bases: tuple[str, ...]  # the last name of each base


def _files() -> list[Path]:
    return [p for top in TOPS for p in sorted((ROOT / top).rglob("*.py"))]


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def classes() -> list[ClassDef]:
    out = []
    for path in _files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                out.append(ClassDef(_rel(path), node.name, tuple(_base_name(b) for b in node.bases)))
    return out


def exception_classes() -> list[ClassDef]:
    every = classes()
    names = set(BUILTIN_EXCEPTIONS)
    while True:
        more = {c.name for c in every if c.name not in names and any(b in names for b in c.bases)}
        if not more:
            break
        names |= more
    return [c for c in every if c.name in names and c.name not in BUILTIN_EXCEPTIONS]


def is_errors_module(path: str) -> bool:
    parts = path.split("/")
    return parts == ["controller", "errors.py"] or (len(parts) == 3 and parts[0] == "controller"
                                                    and parts[2] == "errors.py")


def _descends_from(name: str, root: str, by_name: dict[str, ClassDef]) -> bool:
    seen: set[str] = set()
    todo = [name]
    while todo:
        n = todo.pop()
        if n == root:
            return True
        if n in seen or n not in by_name:
            continue
        seen.add(n)
        todo.extend(by_name[n].bases)
    return False


def test_every_exception_lives_in_an_errors_module() -> None:
    outside = {f"{c.path}:{c.name}" for c in exception_classes()
               if not is_errors_module(c.path) and not c.name.startswith("_")}
    assert outside <= KNOWN_ELSEWHERE, (
        f"define these in their family's errors module: {sorted(outside - KNOWN_ELSEWHERE)}")


def test_one_errors_module_per_family() -> None:
    found = [_rel(p) for p in _files() if p.name == "errors.py"]
    assert all(is_errors_module(p) for p in found), f"errors modules below a family's top package: {found}"


def test_every_error_descends_from_pump_error() -> None:
    excs = exception_classes()
    by_name = {c.name: c for c in excs}
    stray = [f"{c.path}:{c.name}" for c in excs if is_errors_module(c.path) and c.name != "PumpError"
             and not _descends_from(c.name, "PumpError", by_name)]
    assert not stray, f"not a PumpError (controller/errors.py): {stray}"


def test_no_two_exceptions_share_a_name() -> None:
    seen: dict[str, list[str]] = {}
    for c in exception_classes():
        seen.setdefault(c.name, []).append(c.path)
    twice = {n: ps for n, ps in seen.items() if len(ps) > 1}
    assert not twice, f"one name, one meaning: {twice}"


def _doc_errors_table() -> dict[str, set[str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Errors\n"):]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        m = re.match(r"^\| `([\w/]+\.py)` \| (.*) \|$", line)
        if m:
            table[m.group(1)] = set(re.findall(r"`(\w+)`", m.group(2))) - {"ValueError"}
    return table


def test_the_errors_table_of_the_docs_lists_every_class() -> None:
    in_code: dict[str, set[str]] = {}
    for c in exception_classes():
        elsewhere = f"{c.path}:{c.name}" in KNOWN_ELSEWHERE and c.path.startswith("controller/")
        if is_errors_module(c.path) or elsewhere:
            in_code.setdefault(c.path, set()).add(c.name)
    every = set().union(*in_code.values())
    documented = _doc_errors_table()
    for path in sorted(set(in_code) | set(documented)):
        got, shown = in_code.get(path, set()), documented.get(path, set())
        # a row may also name a parent defined in another module ("also a ConfigurationError")
        missing, unknown = got - shown, shown - got - every
        assert not missing and not unknown and (got or not shown), (
            f"docs/refusals.md, Errors, {path}: not listed {sorted(missing)}; not defined {sorted(unknown)}")


def _is_module(module: str, name: str | None) -> bool:
    full = f"{module}.{name}" if name else module
    as_path = ROOT / Path(*full.split("."))
    if as_path.with_suffix(".py").exists() or (as_path / "__init__.py").exists():
        return True
    if full.split(".")[0] in TOPS:
        return False
    try:
        return importlib.util.find_spec(full) is not None
    except (ImportError, ValueError):
        return False


def one_letter_module_aliases() -> set[str]:
    found = set()
    for path in _files():
        rel = _rel(path)
        if rel.startswith("controller/core/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {f"{rel}:{a.asname}" for a in node.names if a.asname and len(a.asname) == 1}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found |= {f"{rel}:{a.asname}" for a in node.names
                          if a.asname and len(a.asname) == 1 and _is_module(node.module, a.name)}
    return found


def test_no_one_letter_module_aliases_outside_the_core() -> None:
    found = one_letter_module_aliases()
    assert found <= KNOWN_ALIASES, f"import these under a word: {sorted(found - KNOWN_ALIASES)}"


def test_no_two_modules_define_a_class_of_the_same_name() -> None:
    where: dict[str, set[str]] = {}
    for path in _files():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                where.setdefault(node.name, set()).add(_rel(path))
    shared = {name for name, paths in where.items() if len(paths) > 1}
    assert shared <= KNOWN_SHARED_NAMES, {n: sorted(where[n]) for n in sorted(shared - KNOWN_SHARED_NAMES)}
