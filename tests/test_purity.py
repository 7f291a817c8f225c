"""The core stays pure: no I/O, clocks, logging, randomness or floats in its modules.

Purity is a folder rule: every module under ``controller/core/`` imports only the standard-library
allowlist below, ``transitions``, ``controller.core`` itself and the root of the error hierarchy
(``controller.errors``). A new file in the folder is checked without being listed anywhere."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "controller" / "core"
CORE = sorted(p.stem for p in ROOT.glob("*.py"))
STDLIB = {"__future__", "collections", "collections.abc", "dataclasses", "enum", "typing", "fractions", "decimal",
          "math", "json"}
ALLOWED = STDLIB | {"transitions", "controller.errors"}
FLOAT_CALLS_ALLOWED = {"units"}  # fmt_ml and fmt_ml_h render exact values for people (display only)


def _imports(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.add(node.module or "")
    return out


def impure(tree: ast.AST) -> set[str]:
    return {m for m in _imports(tree) if m not in ALLOWED and m != "controller.core"
            and not m.startswith("controller.core.")}


def test_the_core_folder_is_found() -> None:
    assert {"table", "guards", "effects", "machine", "windows"} <= set(CORE)


@pytest.mark.req("REQ-DEL-003")
@pytest.mark.parametrize("name", CORE)
def test_core_module_imports_only_pure_modules(name: str) -> None:
    bad = impure(ast.parse((ROOT / f"{name}.py").read_text()))
    assert not bad, f"controller/core/{name}.py imports {sorted(bad)}: the core must stay free of I/O and clocks"


@pytest.mark.parametrize("name", CORE)
def test_core_module_has_no_float_literals_or_prints(name: str) -> None:
    tree = ast.parse((ROOT / f"{name}.py").read_text())
    floats = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, float)]
    assert not floats, f"controller/core/{name}.py has float literals at lines {floats}"
    banned = {"print", "open", "input"} | (set() if name in FLOAT_CALLS_ALLOWED else {"float"})
    calls = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
             and n.func.id in banned]
    assert not calls, f"controller/core/{name}.py calls {sorted(banned)} at lines {calls}"


def test_purity_check_can_fail() -> None:
    tree = ast.parse("import time\nfrom os import path\nimport sqlite3\nfrom controller.log import db\n"
                     "from controller.core import guards\nfrom controller.errors import PumpError\n")
    assert impure(tree) == {"time", "os", "sqlite3", "controller.log"}
