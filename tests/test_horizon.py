"""The quiet horizon (controller/core/horizon.py, DEC-040): a long quiet tick equals the short ticks
it replaces, on the runtime over random lives, and the Z3 proofs of it (proofs/horizon.py) fail on
mutants of the horizon."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from controller.core import horizon as HZ
from controller.core.events import ev, tick
from controller.core.machine import Controller
from controller.core.state import STATES
from pumpctl.proofs import horizon as PH
from tests.helpers import ML, ML_H, booted, pca_program, program

PERIOD = 100


def lives(seed: int) -> Iterator[Controller]:
    """Controllers in the states a pump spends its time in: running a basal, a PCA with boluses,
    an intermittent program, KVO, paused, alarms, idle and ready; advanced by random ticks."""
    rng = random.Random(seed)
    for _ in range(6):
        c = booted()
        kind = rng.choice(["basal", "pca", "intermittent", "short"])
        if kind == "basal":
            p = program(step_rate=(rng.choice([1, 25, 100, 600]) * ML_H, 0, 0, 0), vtbi=50 * ML, reservoir_vol=60 * ML)
        elif kind == "pca":
            p = pca_program()
        elif kind == "intermittent":
            p = program(n_steps=1, step_rate=(60 * ML_H, 0, 0, 0), step_vol=(ML, 0, 0, 0), interval_ms=600_000,
                        vtbi=20 * ML, reservoir_vol=30 * ML)
        else:
            p = program(step_rate=(100 * ML_H, 0, 0, 0), vtbi=ML // 2, reservoir_vol=10 * ML, end_kvo=True)
        if not c.handle(ev("program", program=p)).accepted:
            continue
        if c.vars.prog.needs_confirm:
            c.handle(ev("confirm_soft_limit"))
        if rng.random() < 0.8:
            c.handle(ev("start"))
        for _ in range(rng.randrange(1, 40)):
            r = rng.random()
            if r < 0.05:
                c.handle(ev("patient_bolus"))
            elif r < 0.08:
                c.handle(ev("pause"))
            elif r < 0.1:
                c.handle(ev("occlusion", site=0, flag=True))
            else:
                c.handle(tick(rng.choice([1, 37, PERIOD, 1000])))
            yield c


def run(c: Controller, ticks: list[int]) -> tuple[str, Any]:
    d = Controller(c.vars.cfg, vars=c.vars, state=c.state)
    for t in ticks:
        step = d.handle(tick(t))
        assert step.accepted, (c.state, t, step.reason)
    return d.state, d.vars


@pytest.mark.req("REQ-CFG-002", "REQ-DEL-003")
@pytest.mark.parametrize("seed", range(6))
def test_one_quiet_tick_equals_the_control_periods_it_replaces(seed: int) -> None:
    checked = 0
    for c in lives(seed):
        h = HZ.horizon(c.vars, c.state)
        k = min(h // PERIOD, 600)
        if k < 2:
            continue
        assert run(c, [k * PERIOD]) == run(c, [PERIOD] * k)
        checked += 1
    assert checked > 0


@pytest.mark.req("REQ-CFG-002")
@pytest.mark.parametrize("seed", range(6))
def test_the_horizon_is_quiet_and_tight(seed: int) -> None:
    for c in lives(seed):
        h = HZ.horizon(c.vars, c.state)
        assert h == 0 or HZ.quiet(c.vars, c.state, h)
        assert not HZ.quiet(c.vars, c.state, h + 1)  # tight: the next ms reaches a deadline


@pytest.mark.req("REQ-CFG-002")
def test_a_long_tick_past_the_horizon_is_refused_and_changes_nothing() -> None:
    c = booted()
    c.handle(ev("program", program=program(step_rate=(100 * ML_H, 0, 0, 0), vtbi=50 * ML, reservoir_vol=60 * ML)))
    c.handle(ev("start"))
    h = HZ.horizon(c.vars, c.state)
    assert h > c.vars.cfg.max_tick_ms
    before = c.vars
    step = c.handle(tick(h + 1))
    assert not step.accepted and step.reason.startswith("tick_out_of_range") and c.vars is before
    assert c.handle(tick(h)).accepted


@contextmanager
def patched(name: str, value: object) -> Iterator[None]:
    old = getattr(HZ, name)
    setattr(HZ, name, value)
    try:
        yield
    finally:
        setattr(HZ, name, old)


@pytest.mark.slow
@pytest.mark.req("REQ-CFG-002")
def test_the_horizon_proofs_hold_and_fail_on_mutants() -> None:
    assert PH.horizon_sound().verdict == "proved"
    original = HZ.horizon
    with patched("horizon", lambda v, s: original(v, s) + 1), pytest.MonkeyPatch.context() as mp:
        mp.setattr(PH, "horizon", HZ.horizon)  # an horizon one ms too long
        assert PH.horizon_sound(states=("RUNNING",)).verdict == "counterexample"
    deadlines = HZ._deadlines

    def no_bucket_ends(v: Any, state: str) -> Any:  # a horizon that forgets the dose windows' bucket ends
        strict_t, stay_t, strict_v, stay_v = deadlines(v, state)
        return [strict_t[0], *strict_t[3:]], stay_t, strict_v, stay_v

    with patched("_deadlines", no_bucket_ends):
        assert PH.additive(states=("RUNNING",)).verdict == "counterexample"
    assert {s for s in STATES} >= {"RUNNING", "BOLUS", "KVO"}
