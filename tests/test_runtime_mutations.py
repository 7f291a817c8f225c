"""Each safety check can fail: break the code on purpose and watch the invariants catch it.

These run the real controller with one guard dropped or one function broken, drive a story
that exercises it, and require that ``specs.checker.check_step`` reports the violation. The
systematic mutation campaign against the Z3 proofs lives in ``proofs/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from controller.core import flow as F
from controller.core import guards as G
from controller.core.events import Event, ev, tick
from controller.core.machine import Controller
from controller.core.table import TABLE, Row
from pumpctl.specs.checker import check_step
from tests.helpers import ML, ML_H, pca_program, program


def without(cond: G.Cond, trigger: str) -> tuple[Row, ...]:
    return tuple(replace(r, conds=tuple(c for c in r.conds if c is not cond)) if r.trigger == trigger else r
                 for r in TABLE)


def violations(c: Controller, events: list[Event]) -> set[str]:
    found: set[str] = set()
    for e in events:
        s0, v0 = c.state, c.vars
        found.update(check_step(s0, c.handle(e), v0))
    return found


def boot_and_start(c: Controller, p: object) -> list[Event]:
    return [ev("self_test", flag=True), ev("program", program=p), ev("start")]


def story_lockout(c: Controller) -> list[Event]:
    return boot_and_start(c, pca_program()) + [ev("patient_bolus")] + [tick(1000)] * 40 + [ev("patient_bolus")]


def story_hourly(c: Controller) -> list[Event]:
    p = pca_program(lockout_ms=36_000, pca_max_h=1)
    return boot_and_start(c, p) + [ev("patient_bolus")] + [tick(1000)] * 40 + [ev("patient_bolus")]


def story_window(c: Controller) -> list[Event]:
    p = program(step_rate=(10 * ML_H, 0, 0, 0), vtbi=100 * ML, lim_vol=(ML, 0), lim_bucket_ms=(300_000, 1_200_000))
    return boot_and_start(c, p) + [tick(1000)] * 600


def story_door(c: Controller) -> list[Event]:
    return boot_and_start(c, program()) + [tick(1000), ev("door_open"), tick(1000)]


def story_vtbi(c: Controller) -> list[Event]:
    return boot_and_start(c, program(vtbi=ML // 10, end_kvo=False)) + [tick(1000)] * 10


def story_patient_programs(c: Controller) -> list[Event]:
    return [ev("self_test", flag=True), ev("program", 0, program=program())]


def _cycle() -> list[Event]:
    return [ev("occlusion", site=0), ev("occlusion_clear", site=0), ev("acknowledge"), ev("resume")] + [tick(1000)] * 30


def story_repeated_stops(c: Controller) -> list[Event]:
    return boot_and_start(c, program(vtbi=100 * ML, reservoir_vol=200 * ML)) + _cycle() * 3 + [tick(1000)] * 5


def story_patient_review(c: Controller) -> list[Event]:
    return boot_and_start(c, program(vtbi=100 * ML, reservoir_vol=200 * ML)) + _cycle() * 3 + [
        ev("review", 0)]


def without_third_repeat_row() -> tuple[Row, ...]:
    return tuple(r for r in TABLE if not (r.trigger == "acknowledge" and G.repeats_third in r.conds))


MUTANTS: list[tuple[str, Callable[[pytest.MonkeyPatch], tuple[Row, ...]], Callable[[Controller], list[Event]], str]] = [
    ("drop PCA lockout guard", lambda mp: without(G.lockout_over, "patient_bolus"), story_lockout, "STEP-BOL-002"),
    ("drop hourly bolus count", lambda mp: without(G.under_hourly_count, "patient_bolus"), story_hourly,
     "STEP-BOL-003"),
    ("drop actor check on program", lambda mp: without(G.by_clinician, "program"), story_patient_programs,
     "STEP-ROL-001"),
    ("third identical stop restarts like the others", lambda mp: without_third_repeat_row(), story_repeated_stops,
     "STEP-OCC-006"),
    ("drop actor check on review", lambda mp: without(G.by_clinician, "review"), story_patient_review,
     "STEP-OCC-006"),
]


def _budget_without_windows(v, rate):  # type: ignore[no-untyped-def]
    f, p = v.flow, v.prog
    return max(0, min(p.vtbi - f.delivered, F.reservoir_left(v)))


def _patch(target: object, name: str, value: object) -> Callable[[pytest.MonkeyPatch], tuple[Row, ...]]:
    def apply(mp: pytest.MonkeyPatch) -> tuple[Row, ...]:
        mp.setattr(target, name, value)
        return TABLE

    return apply


MUTANTS += [
    ("budget ignores dose windows", _patch(F, "therapy_budget", _budget_without_windows), story_window, "INV-DOS-004"),
    ("alarm state keeps the motor running", _patch(F, "MODE_OF", {**F.MODE_OF, "ALARM": F.Mode.THERAPY}),
     story_door, "INV-DEL-004"),
    ("VTBI check off by one (cap one unit past)", _patch(F, "therapy_budget",
     lambda v, rate: max(0, min(v.prog.vtbi - v.flow.delivered + 1, F.reservoir_left(v)))), story_vtbi,
     "INV-DEL-001"),
]


def _own_requirements(obligation: str) -> tuple[str, ...]:
    """A mutant test is evidence for the requirements of the invariant that must catch it, no others."""
    from pumpctl.specs.invariants import STATE_INVARIANTS, STEP_INVARIANTS

    return next(inv.reqs for inv in (*STATE_INVARIANTS, *STEP_INVARIANTS) if inv.id == obligation)


@pytest.mark.parametrize("name, mutate, story, expected",
                         [pytest.param(*m, id=m[0], marks=pytest.mark.req(*_own_requirements(m[3]))) for m in MUTANTS])
def test_mutant_is_caught(monkeypatch: pytest.MonkeyPatch, name: str, mutate, story, expected: str) -> None:  # type: ignore[no-untyped-def]
    table = mutate(monkeypatch)
    c = Controller(table=table)
    assert expected in violations(c, story(c)), f"mutant '{name}' was not caught by {expected}"


@pytest.mark.parametrize("story", [story_lockout, story_hourly, story_window, story_door, story_vtbi,
                                   story_patient_programs, story_repeated_stops, story_patient_review])
def test_same_stories_pass_on_the_real_controller(story) -> None:  # type: ignore[no-untyped-def]
    c = Controller()
    assert violations(c, story(c)) == set()


@pytest.mark.parametrize("name, mutate, story, expected", [pytest.param(*m, id=m[0]) for m in MUTANTS])
def test_lazy_consequents_find_exactly_what_eager_evaluation_finds(
        monkeypatch: pytest.MonkeyPatch, name: str, mutate, story, expected: str) -> None:  # type: ignore[no-untyped-def]
    """The checker skips a costly consequent whose antecedent is false (``implies_then``,
    ``or_else``); on every step of every mutant's story it reports what evaluating everything does."""
    from controller.core.logic import any_of, implies
    from pumpctl.specs import invariants

    def per_step() -> list[list[str]]:
        c = Controller(table=table)
        out = []
        for e in story(c):
            s0, v0 = c.state, c.vars
            out.append(check_step(s0, c.handle(e), v0))
        return out

    table = mutate(monkeypatch)
    lazy = per_step()
    monkeypatch.setattr(invariants, "implies_then", lambda a, b: implies(a, b()))
    monkeypatch.setattr(invariants, "or_else", lambda a, b: any_of(a, b()))
    assert per_step() == lazy
    assert any(expected in broken for broken in lazy)
