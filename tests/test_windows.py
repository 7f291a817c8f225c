"""Every window, not only aligned ones: the dose in ANY interval of the window's length stays
within the limit, measured on the exact delivery timeline of random runs.

The proofs show that the ring counts every delivered unit (STEP-DOS-005) and never grows past the
limit (STEP-DOS-004, INV-DOS-004); the step from "ring" to "every window" is the overlap argument in
controller/core/windows.py. This test checks the conclusion directly: the mechanism moves at the
commanded rate from the start of each tick until its cap, so each tick's delivery is a known
interval; the worst window is found among all window positions that start or end at an interval
edge (the volume in a window is piecewise linear in its position)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.events import ev, tick
from controller.core.machine import Controller
from controller.core.program import N_BUCKETS
from tests.helpers import ML, ML_H, pca_program

Interval = tuple[Fraction, Fraction, Fraction]  # start ms, end ms, volume (vu)


def worst_window(intervals: list[Interval], width: int) -> Fraction:
    edges = {x for s, e, _ in intervals for x in (s, e, s - width, e - width)}
    best = Fraction(0)
    for a in edges:
        b = a + width
        total = Fraction(0)
        for s, e, vol in intervals:
            if e <= s:
                continue
            overlap = min(e, b) - max(s, a)
            if overlap > 0:
                total += vol * overlap / (e - s)
        best = max(best, total)
    return best


@pytest.mark.req("REQ-DOS-004", "REQ-DOS-005")
@settings(max_examples=60, deadline=None)
@given(rate=st.sampled_from([20, 60, 200]), bucket=st.sampled_from([1_000, 5_000, 7_000]),
       lim_ml=st.sampled_from([0.2, 0.5, 1.5]),
       plan=st.lists(st.tuples(st.integers(1, 1_000), st.booleans()), min_size=50, max_size=400))
def test_no_window_of_the_limit_length_ever_holds_more_than_the_limit(
        rate: int, bucket: int, lim_ml: float, plan: list[tuple[int, bool]]) -> None:
    lim = int(lim_ml * ML)
    p = pca_program(step_rate=(rate * ML_H, 0, 0, 0), vtbi=100 * ML, reservoir_vol=200 * ML,
                    lim_vol=(lim, 0), lim_bucket_ms=(bucket, 1_200_000), pca_vol=ML // 20,
                    pca_rate=100 * ML_H, pca_ms=1_800, lockout_ms=3_000, pca_max_h=12)
    c = Controller()
    for e in (ev("self_test", flag=True), ev("program", program=p), ev("start")):
        assert c.handle(e).accepted
    intervals: list[Interval] = []
    for dt, press in plan:
        if press:
            c.handle(ev("patient_bolus"))
        f = c.vars.flow
        step = c.handle(tick(dt))
        moved = step.vars.flow.odo - f.odo
        if moved:
            assert f.rate > 0
            intervals.append((Fraction(f.clock), Fraction(f.clock) + Fraction(moved, f.rate), Fraction(moved)))
    width = bucket * N_BUCKETS
    assert worst_window(intervals, width) <= lim


def test_the_window_measure_can_fail() -> None:
    """A made-up timeline over the limit is caught, including across an unaligned start."""
    over = [(Fraction(500), Fraction(1_500), Fraction(6)), (Fraction(1_700), Fraction(2_400), Fraction(6))]
    assert worst_window(over, 2_000) == 12
    assert worst_window(over, 1_000) < 12


def test_the_classic_overdose_mutant_breaks_some_window() -> None:
    """Window checked only at bolus start (M01): basal then runs past the limit in a window."""
    from pumpctl.proofs.mutants import MUTANTS, applied

    m = next(m for m in MUTANTS if m.id == "M01-window-at-bolus-only")
    with applied(m) as table:
        p = pca_program(step_rate=(200 * ML_H, 0, 0, 0), vtbi=100 * ML, reservoir_vol=200 * ML,
                        lim_vol=(ML // 2, 0), lim_bucket_ms=(1_000, 1_200_000))
        c = Controller(table=table)
        for e in (ev("self_test", flag=True), ev("program", program=p), ev("start")):
            assert c.handle(e).accepted
        intervals: list[Interval] = []
        for _ in range(60):
            f = c.vars.flow
            step = c.handle(tick(1_000))
            moved = step.vars.flow.odo - f.odo
            if moved:
                intervals.append((Fraction(f.clock), Fraction(f.clock) + Fraction(moved, f.rate), Fraction(moved)))
    assert worst_window(intervals, 1_000 * N_BUCKETS) > ML // 2
