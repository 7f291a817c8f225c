"""docs/refusals.md lists exactly the refusal reasons the code can give.

Theory of operation
-------------------
Each section of the page lists reason codes in the first column of a table (`` `code` ``). The
same codes are read out of the code, never typed here:

- the core before the table: the literal reasons of ``Step(False, ...)`` and of ``explain`` in
  ``controller/core/machine.py`` (read with ``ast``);
- the table's guards: the reasons of the conditions on the last row of every (state, event) of
  ``TABLE``, which is what ``Controller.explain`` reports;
- the library gate: the codes passed to ``LibraryGate._refuse`` in ``controller/library/gate.py``,
  where ``exc.code`` stands for the code of every library error that can be raised;
- the drivers: ``controller.drivers.base.REASONS``;
- the scenario runner: the literal reasons it appends to a result's refusals.

Rules
1. A code in the code and not on the page fails, and so does a code on the page the code cannot
   give; the message names both lists.
2. The code of a reason is its leading identifier: the text before the first colon (what the
   scenario report compares), except for the reasons in ``NO_COLON``.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.core.events import KINDS
from controller.core.state import STATES
from controller.core.table import TABLE, rows_for
from controller.drivers.base import REASONS
from controller.library import errors as library_errors

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "refusals.md"
CODE = re.compile(r"[a-z_]+")
ROW = re.compile(r"^\| `([a-z_]+)` \|", re.MULTILINE)
# reasons whose code is not followed by a colon (the scenario report then compares the whole text);
# may only shrink: fix the reason in controller/core/guards.py to "code: explanation"
NO_COLON: set[str] = set()


def _section(heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same or a higher level."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(heading) + 1
    level = heading.split(" ", 1)[0]
    end = next((i for i in range(start, len(lines))
                if lines[i].startswith("#") and len(lines[i].split(" ", 1)[0]) <= len(level)), len(lines))
    return "\n".join(lines[start:end])


def documented(heading: str) -> set[str]:
    return set(ROW.findall(_section(heading)))


def _tree(relative: str) -> ast.Module:
    return ast.parse((ROOT / relative).read_text(encoding="utf-8"))


def _literal_prefix(node: ast.expr) -> Iterator[str]:
    """The code a reason expression starts with, where the expression spells it out."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value:
        yield node.value.split(":", 1)[0]
    elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        yield str(node.values[0].value).split(":", 1)[0]
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            yield from _literal_prefix(value)
    elif isinstance(node, ast.IfExp):
        yield from _literal_prefix(node.body)
        yield from _literal_prefix(node.orelse)


def _called(node: ast.Call, name: str) -> bool:
    f = node.func
    return (isinstance(f, ast.Name) and f.id == name) or (isinstance(f, ast.Attribute) and f.attr == name)


def machine_codes() -> tuple[set[str], set[str]]:
    """(codes of refused steps, codes of accepted steps that carry a reason: the FAILSAFE latch)."""
    tree = _tree("controller/core/machine.py")
    refused: set[str] = set()
    latched: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _called(node, "Step") and len(node.args) >= 7:
            first = node.args[0]
            if isinstance(first, ast.Constant) and first.value is False:
                refused.update(_literal_prefix(node.args[6]))
        elif isinstance(node, ast.Call) and _called(node, "_latch_failsafe") and len(node.args) >= 3:
            latched.update(_literal_prefix(node.args[2]))
        elif isinstance(node, ast.FunctionDef) and node.name == "explain":
            for ret in ast.walk(node):
                if isinstance(ret, ast.Return) and ret.value is not None:
                    refused.update(_literal_prefix(ret.value))
    return refused, latched


def guard_reasons() -> set[str]:
    """The reasons ``explain`` can report: the conditions of the last row of each (state, event)."""
    return {c.reason for s in STATES for k in KINDS if (rows := rows_for(s, k, TABLE)) for c in rows[-1].conds}


def guard_codes() -> set[str]:
    return {m.group(0) for reason in guard_reasons() if (m := CODE.match(reason))}


def library_codes() -> set[str]:
    """The codes of the library errors that can be raised: every subclass, and the root only if
    something constructs it."""
    root = library_errors.LibraryError
    subclasses: set[type[library_errors.LibraryError]] = set()
    todo = list(root.__subclasses__())
    while todo:
        cls = todo.pop()
        subclasses.add(cls)
        todo.extend(cls.__subclasses__())
    codes = {cls.code for cls in subclasses}
    trees = (ast.parse(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "controller").rglob("*.py")))
    constructs_root = any(isinstance(n, ast.Call) and _called(n, root.__name__) for t in trees for n in ast.walk(t))
    return codes | ({root.code} if constructs_root else set())


def gate_codes() -> set[str]:
    codes: set[str] = set()
    for node in ast.walk(_tree("controller/library/gate.py")):
        if isinstance(node, ast.Call) and _called(node, "_refuse") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Attribute) and first.attr == "code":
                codes |= library_codes()
            else:
                found = set(_literal_prefix(first))
                assert found, f"gate.py line {node.lineno}: a refusal code this test cannot read"
                codes |= found
    return codes


def scenario_codes() -> set[str]:
    """Literal reasons the scenario runner appends to ``refusals`` (the gate's and the core's are
    passed through and listed in their own sections)."""
    codes: set[str] = set()
    for path in sorted((ROOT / "controller" / "scenario").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append"
                    and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "refusals"
                    and node.args and isinstance(node.args[0], ast.Tuple) and len(node.args[0].elts) == 3):
                codes.update(_literal_prefix(node.args[0].elts[2]))
    return codes


def _agree(heading: str, in_code: set[str]) -> None:
    on_page = documented(heading)
    missing, stale = sorted(in_code - on_page), sorted(on_page - in_code)
    assert not missing and not stale, (
        f"docs/refusals.md, {heading!r}: not documented {missing}; documented but not given by the code {stale}")


def test_the_core_before_the_table() -> None:
    refused, latched = machine_codes()
    assert refused, "no refusal reason found in controller/core/machine.py: the reader is out of date"
    _agree("### Before the table", refused)
    text = DOC.read_text(encoding="utf-8")
    assert latched and all(f"`{code}:" in text for code in latched), (
        f"the FAILSAFE latch reasons {sorted(latched)} are not on the page")


def test_the_table_guards() -> None:
    _agree("### From the table's guards", guard_codes())


@pytest.mark.parametrize("reason", sorted(guard_reasons()))
def test_each_guard_reason_reads_code_colon_explanation(reason: str) -> None:
    assert re.fullmatch(r"[a-z_]+(: .+)?", reason) or reason in NO_COLON, (
        f"reason {reason!r}: write it as 'code' or 'code: explanation' (controller/core/guards.py)")


def test_the_library_gate() -> None:
    _agree("## The library gate: `LibraryGate.load` and `LibraryGate.program`", gate_codes())


def test_the_drivers() -> None:
    _agree("## Drivers: `PumpDriver.request`", set(REASONS))


def test_the_scenario_runner() -> None:
    codes = scenario_codes()
    assert "powered_off" in codes, "the reader of controller/scenario found no refusal of its own: out of date"
    _agree("## The scenario runner", codes)


def test_every_expected_refusal_in_the_scenario_suite_is_documented() -> None:
    on_page = set().union(*(documented(h) for h in ("### Before the table", "### From the table's guards",
                                                    "## The library gate: `LibraryGate.load` and "
                                                    "`LibraryGate.program`", "## The scenario runner")))
    for path in sorted((ROOT / "specs" / "scenarios").glob("*.toml")):
        expected = tomllib.loads(path.read_text(encoding="utf-8")).get("expect", {}).get("refusals", [])
        unknown = [r for r in expected if r not in on_page]
        assert not unknown, f"{path.name}: [expect] refusals {unknown} are not on docs/refusals.md"
