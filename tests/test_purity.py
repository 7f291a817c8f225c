"""The core stays pure: no I/O, clocks, logging, randomness or floats in its modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = ["alarms", "annunciation", "commands", "core", "effects", "errors", "events", "flow", "guards", "limits",
        "logic", "program", "state", "table", "validation", "windows"]
ALLOWED = {"__future__", "collections", "collections.abc", "dataclasses", "enum", "typing", "transitions",
           "controller"}
ROOT = Path(__file__).resolve().parent.parent / "controller"


def _imports(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.add(node.module or "")
    return out


@pytest.mark.req("REQ-DEL-003")
@pytest.mark.parametrize("name", CORE)
def test_core_module_imports_only_pure_modules(name: str) -> None:
    tree = ast.parse((ROOT / f"{name}.py").read_text())
    bad = {m for m in _imports(tree) if m.split(".")[0] not in ALLOWED and m not in ALLOWED}
    assert not bad, f"controller/{name}.py imports {sorted(bad)}: the core must stay free of I/O and clocks"


@pytest.mark.parametrize("name", CORE)
def test_core_module_has_no_float_literals_or_prints(name: str) -> None:
    tree = ast.parse((ROOT / f"{name}.py").read_text())
    floats = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, float)]
    assert not floats, f"controller/{name}.py has float literals at lines {floats}"
    calls = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
             and n.func.id in {"print", "open", "input", "float"}]
    assert not calls, f"controller/{name}.py calls print/open/input/float at lines {calls}"


def test_purity_check_can_fail(tmp_path: Path) -> None:
    tree = ast.parse("import time\nfrom os import path\nx = 0.5\n")
    assert {"time", "os"} <= _imports(tree)
