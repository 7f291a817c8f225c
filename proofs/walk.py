"""Seeded random walks over the controller, checking every invariant after every step.

A cheap, honest check that runs anywhere (no solver): "N random events, seed S, no
invariant broken" is exactly what it claims and no more. The proofs (``proofs/``) make the
"every reachable state" claim; the Hypothesis tests shrink failures. The event generator is
shared with the benchmarks and the fault campaign. The walk alternates three regimes of random
length: *storms* (any event, mostly faults and sensor reports), *calm* stretches (good sensor
news and clinician work, so alarms clear and boluses, priming and the end of short infusions
happen) and *waits* (time only, some after a pause, so the timers fire). Its recorded coverage
says which rows, states and alarms it reached; nothing else is claimed.

Coverage: ``specs.checker.check_step`` is the one place every stateful check passes through
(this walk, the Hypothesis machines, the simulated-pump and driver tests, scenarios, the
campaign). Inside ``specs.checker.recording()`` it also notes what the step reached - the
state, the table row that fired, the trigger accepted or refused in its source state, and the
alarm causes present - so the evidence can credit a stateful item only for the requirements whose rows, states or alarms
it actually reached (``proofs.evidence.credit``).

A test that runs ``pumpctl`` in child processes (the SIGKILL power-loss campaign) sets
``PUMPCTL_COVERAGE_DIR``: a child that imports ``specs.checker`` with it set records everything and
writes its coverage there when it exits normally (a killed child records nothing, and says
nothing), and the test merges what its children wrote (``Coverage.merge``).

Rules
1. Recording observes, never changes: outside ``recording()`` the cost is one list check.
2. Coverage names rows by their index in the table the controller ran (the current
   ``TABLE`` in every run the evidence credits).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from controller.core.events import KINDS, Actor, Event, ev, tick
from controller.core.limits import Limits
from controller.core.machine import Controller
from controller.core.program import Program
from controller.core.units import RATE_PER_ML_H, VU_PER_ML
from pumpctl.specs.checker import Coverage, check_step, recording


def sample_program(rng: random.Random, c: Limits, short: bool = False) -> Program:
    """A valid program (mostly) or a subtly invalid one, drawn at random; ``short``: a small VTBI,
    so that a calm stretch sees the end of the infusion (KVO or STOPPED)."""
    rate = rng.choice([5 * RATE_PER_ML_H, 25 * RATE_PER_ML_H] if short else
                      [0, 100, 1_000, 5 * RATE_PER_ML_H, 100 * RATE_PER_ML_H, c.max_rate])
    pca = rng.random() < 0.5 or rate == 0
    pca_rate = rng.choice([50, 100, 200]) * RATE_PER_ML_H if pca else 0
    pca_ms = rng.choice([1_000, 10_000, 36_000]) if pca else 0
    vtbi = rng.choice([VU_PER_ML // 10, VU_PER_ML // 2] if short else
                      [VU_PER_ML // 10, VU_PER_ML, 5 * VU_PER_ML, 20 * VU_PER_ML, 100 * VU_PER_ML])
    lim = rng.choice([0, VU_PER_ML // 2, 2 * VU_PER_ML, 10 * VU_PER_ML])
    return Program(
        loaded=True, route=rng.randrange(4), n_steps=1, step_rate=(min(rate, 25_000), 0, 0, 0), vtbi=vtbi,
        rate_hard_max=rng.choice([c.max_rate, 200 * RATE_PER_ML_H, 50 * RATE_PER_ML_H]),
        pca_vol=pca_rate * pca_ms + rng.choice([0, 7]) if pca else 0, pca_rate=pca_rate, pca_ms=pca_ms,
        lockout_ms=rng.choice([pca_ms, 60_000, 600_000]) if pca else 0, pca_max_h=rng.randint(1, 4) if pca else 0,
        clin_bolus_max=rng.choice([0, min(VU_PER_ML, vtbi)]), lim_vol=(lim, rng.choice([0, lim * 2])),
        # mostly one window length: the dose history belongs to the line, and a program asking for
        # another window over a history that still counts is refused (DEC-035)
        lim_bucket_ms=(rng.choices([c.max_tick_ms, 5_000, 300_000], weights=[1, 1, 8])[0],
                       rng.choices([10_000, 1_200_000], weights=[1, 8])[0]),
        reservoir_vol=vtbi + (VU_PER_ML if short else rng.choice([0, VU_PER_ML])), needs_confirm=rng.random() < 0.3,
        end_kvo=rng.random() < 0.7,
    )


_WEIGHTS = {"tick": 60, "motor_fault": 0.2, "watchdog": 0.2, "configure": 1, "start": 8, "resume": 8,
            "patient_bolus": 8, "acknowledge": 6, "self_test": 2}
# A calm stretch: sensors report only good news and the clinician works the pump, so alarms clear
# and the therapy paths an alarm storm never lets through (boluses, KVO, resume) are walked too.
_CALM = {"tick": 40, "start": 8, "resume": 8, "patient_bolus": 10, "clinician_bolus": 4, "acknowledge": 8,
         "review": 2, "program": 3, "confirm_soft_limit": 3, "self_test": 2, "silence": 1, "prime": 2, "stop": 1,
         "pause": 1,
         "occlusion_clear": 6, "door_close": 4, "air": 2, "reservoir": 2, "battery": 2, "temperature": 2}
_CALM_PAYLOAD: dict[str, dict[str, object]] = {"air": {"volume": 0}, "reservoir": {"flag": False},
                                               "battery": {"level": 300, "flag": True}, "temperature": {"level": 370},
                                               "prime": {"volume": VU_PER_ML // 2, "flag": True}}
# Regimes: 0 storm (everything), 1 calm (see above), 2 wait (only time passes: timers fire - paused too
# long, the programming callback, the end of a VTBI, KVO)
STORM, CALM, WAIT = 0, 1, 2
_WEIGHT_LISTS: dict[int, list[float]] = {STORM: [_WEIGHTS.get(k, 4) for k in KINDS],
                                          CALM: [_CALM.get(k, 0) for k in KINDS],
                                          WAIT: [1 if k == "tick" else 0 for k in KINDS]}


def sample_event(rng: random.Random, c: Limits, calm: int = STORM) -> Event:
    kind = rng.choices(KINDS, weights=_WEIGHT_LISTS[calm])[0]
    actor = rng.choice(list(Actor)) if rng.random() < 0.1 else None
    if calm and kind in _CALM_PAYLOAD:
        return ev(kind, None, **_CALM_PAYLOAD[kind])
    if kind == "tick":
        return tick(c.max_tick_ms if calm else rng.choice([1, 100, c.max_tick_ms, c.max_tick_ms + 1]))
    if kind == "program":
        return ev(kind, actor, program=sample_program(rng, c, short=calm != STORM and rng.random() < 0.5))
    if kind == "clinician_bolus":
        dur = rng.choice([1_000, 60_000])
        rate = rng.choice([1_000, 50 * RATE_PER_ML_H])
        return ev(kind, actor, rate=rate, duration_ms=dur, volume=rate * dur + rng.choice([0, -1]))
    if kind == "configure":
        return ev(kind, actor, limits=Limits(kvo_rate=rng.choice([0, 1_000, 5_000]),
                                             max_tick_ms=rng.choice([100, 1_000])))
    payloads: dict[str, dict[str, object]] = {
        "self_test": {"flag": rng.random() < 0.9},
        "prime": {"volume": rng.choice([VU_PER_ML, 30 * VU_PER_ML]), "flag": rng.random() < 0.8},
        "occlusion": {"site": rng.choice([0, 1, 2])},
        "occlusion_clear": {"site": rng.choice([0, 1])},
        "air": {"volume": rng.choice([0, 10_000, 60_000, 250_000])},
        "reservoir": {"flag": rng.random() < 0.2},
        "battery": {"level": rng.choice([2, 10, 60, 300]), "flag": rng.random() < 0.6},
        "temperature": {"level": rng.choice([50, 250, 370, 480, 560, 999])},
    }
    return ev(kind, actor, **payloads.get(kind, {}))


@dataclass
class WalkResult:
    steps: int = 0
    accepted: int = 0
    seed: int = 0
    states: set[str] = field(default_factory=set)
    violations: list[str] = field(default_factory=list)
    coverage: Coverage = field(default_factory=Coverage)


def walk(steps: int, seed: int, limits: Limits | None = None) -> WalkResult:
    rng = random.Random(seed)
    c = limits or Limits()
    out = WalkResult(seed=seed)
    with recording() as cov:
        out.coverage = cov
        _walk(out, rng, c, steps)
    return out


def _episode(rng: random.Random, ctl: Controller) -> list[Event]:
    """The events a wait opens with: some start with a pause (the paused-too-long timer runs), others
    with the sensors reporting all clear and a short infusion programmed and started (it runs to its
    end: KVO or STOPPED)."""
    if ctl.state in ("RUNNING", "BOLUS") and rng.random() < 0.3:
        return [ev("pause")]
    if ctl.state in ("IDLE", "READY", "STOPPED", "ALARM") and rng.random() < 0.6:
        clear = [ev(k, None, **payload) for k, payload in _CALM_PAYLOAD.items() if k != "prime"]
        clear += [ev("door_close"), ev("occlusion_clear", site=0), ev("occlusion_clear", site=1), ev("acknowledge"),
                  ev("stop")]
        return [*clear, ev("program", program=sample_program(rng, ctl.vars.cfg, short=True)),
                ev("confirm_soft_limit"), ev("start")]
    return []


def _walk(out: WalkResult, rng: random.Random, c: Limits, steps: int) -> None:
    ctl = Controller(c)
    regime, left = STORM, rng.randint(20, 400)
    pending: list[Event] = []
    for _ in range(steps):
        if ctl.state in ("FAILED", "FAILSAFE") and rng.random() < 0.05:
            ctl = Controller(c)  # power cycle
        left -= 1
        if left <= 0:  # storms, calm stretches and waits follow each other, each of a random length
            regime = rng.choice((CALM, WAIT)) if regime == STORM else rng.choice((STORM, CALM, WAIT))
            left = rng.randint(100, 600) if regime == WAIT else rng.randint(20, 200)  # timers need minutes
            pending = _episode(rng, ctl) if regime == WAIT else []
        e = pending.pop(0) if pending else sample_event(rng, ctl.vars.cfg, regime)
        before_state, before_vars = ctl.state, ctl.vars
        step = ctl.handle(e)
        out.steps += 1
        out.accepted += step.accepted
        out.states.add(step.state)
        for inv in check_step(before_state, step, before_vars):
            out.violations.append(f"step {out.steps}: {inv} after {e} in {before_state}")

