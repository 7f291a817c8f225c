"""The run-time shortcuts are proved exact (proofs/shortcuts.py), and the proofs fail when a
shortcut is broken on purpose."""

from __future__ import annotations

import pytest
import z3

from controller.core import annunciation as AN
from controller.core import windows
from controller.core.logic import any_of, branch, implies, implies_then, merge, or_else
from controller.core.state import Ring
from pumpctl.proofs import shortcuts as S


def test_both_shortcuts_are_proved_on_the_real_code() -> None:
    got = {v.id: v.verdict for v in S.verdicts()}
    assert got == {S.REFRESH_ID: "proved", S.TABLES_ID: "proved"}


def test_a_wrong_entry_in_the_rule_table_is_a_counterexample(monkeypatch: pytest.MonkeyPatch) -> None:
    key = (True, False, True, False)  # a non-latching alarm whose cause is present and allowed: active
    assert AN._NEXT[key] is True
    monkeypatch.setitem(AN._NEXT, key, False)
    v = S.rule_tables()
    assert v.verdict == "counterexample" and "latching=False" in v.detail


def test_a_refresh_that_is_not_idempotent_breaks_the_settled_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    # every active alarm "rises" again: a settled step would keep the old silence deadline while
    # the full refresh moves it, so returning the stored record is no longer exact
    monkeypatch.setattr(AN, "rises", lambda new, old: new)
    v = S.refresh_settled(states=("RUNNING",))
    assert v.verdict == "counterexample", v.detail


def test_a_vacuous_premise_proves_nothing() -> None:
    verdict, detail = S._valid(z3.BoolVal(False), z3.BoolVal(False), 1000)
    assert verdict == "unknown" and "premise" in detail


def test_branch_computes_only_the_branch_taken_at_run_time() -> None:
    taken: list[str] = []

    def then() -> int:
        taken.append("then")
        return 1

    def other() -> int:
        taken.append("other")
        return 2

    assert branch(True, then, other) == 1 and taken == ["then"]
    x = z3.Bool("x")
    both = branch(x, then, other)  # type: ignore[arg-type]
    assert taken == ["then", "then", "other"]
    assert z3.simplify(z3.substitute(both, (x, z3.BoolVal(False)))).as_long() == 2  # type: ignore[attr-defined]


def test_merge_refuses_records_of_different_shapes() -> None:
    with pytest.raises(TypeError, match="different shapes"):
        merge(z3.Bool("c"), (1, 2), (1, 2, 3))  # type: ignore[arg-type]


def test_window_advance_symbolic_equals_run_time_on_both_branches() -> None:
    """The one definition of windows.advance, read symbolically, agrees with the run time when the
    rotation condition is decided either way."""
    ring = Ring((5, 7), 1000, 12, 500)
    for clock, dt in ((100, 200), (900, 300)):  # stays in the bucket; crosses its end
        concrete = windows.advance(3, ring, clock, dt, 2, 40)
        c = z3.Int("clock")
        cur, sym = windows.advance(3, ring, c, dt, 2, 40)  # type: ignore[arg-type]
        flat = [cur, *sym.closed, sym.end, sym.total, sym.bucket]
        want = [concrete[0], *concrete[1].closed, concrete[1].end, concrete[1].total, concrete[1].bucket]
        got = [z3.simplify(z3.substitute(z3.IntVal(x) if isinstance(x, int) else x, (c, z3.IntVal(clock))))
               for x in flat]
        assert [g.as_long() for g in got] == want


def test_implies_then_and_or_else_skip_only_what_cannot_change_the_result() -> None:
    called: list[str] = []

    def costly() -> bool:
        called.append("b")
        return False

    assert implies_then(False, costly) is True and or_else(True, costly) is True and called == []
    assert implies_then(True, costly) is False and or_else(False, costly) is False and called == ["b", "b"]
    a, b = z3.Bool("a"), z3.Bool("b")
    # symbolic: the consequent is always built, and the term is the one implies/any_of build
    assert implies_then(a, lambda: b).eq(implies(a, b))  # type: ignore[arg-type, attr-defined]
    assert or_else(a, lambda: b).eq(any_of(a, b))  # type: ignore[arg-type, attr-defined]
