"""Builders shared by the tests: programs, controllers in a given state, event shortcuts."""

from __future__ import annotations

from dataclasses import replace

from controller.core.events import Actor, Event, ev, tick
from controller.core.limits import Limits
from controller.core.machine import Controller, Step
from controller.core.program import Program
from controller.core.units import MS_PER_H, RATE_PER_ML_H, VU_PER_ML

ML = VU_PER_ML
ML_H = RATE_PER_ML_H


def program(**kw: object) -> Program:
    """A plain valid program: 100 mL/h, VTBI 10 mL, reservoir 50 mL; override anything."""
    base = Program(loaded=True, route=0, n_steps=1, step_rate=(100 * ML_H, 0, 0, 0), vtbi=10 * ML,
                   rate_hard_max=500 * ML_H, reservoir_vol=50 * ML)
    return replace(base, **kw)  # type: ignore[arg-type]


def pca_program(**kw: object) -> Program:
    """Basal 2 mL/h with 1 mL patient boluses at 100 mL/h (36 s), 10 min lockout, 4 per hour."""
    base = program(step_rate=(2 * ML_H, 0, 0, 0), vtbi=100 * ML, reservoir_vol=100 * ML,
                   pca_vol=1 * ML, pca_rate=100 * ML_H, pca_ms=36_000, lockout_ms=600_000, pca_max_h=4)
    return replace(base, **kw)  # type: ignore[arg-type]


def booted(limits: Limits | None = None) -> Controller:
    c = Controller(limits)
    must(c.handle(ev("self_test", flag=True)))
    return c


def ready(p: Program | None = None, limits: Limits | None = None) -> Controller:
    c = booted(limits)
    must(c.handle(ev("program", program=p or program())))
    if c.vars.prog.needs_confirm:
        must(c.handle(ev("confirm_soft_limit")))
    return c


def running(p: Program | None = None, limits: Limits | None = None) -> Controller:
    c = ready(p, limits)
    must(c.handle(ev("start")))
    return c


def must(step: Step) -> Step:
    assert step.accepted, f"{step.event} refused in {step.source}: {step.reason}"
    return step


def refused(step: Step, reason_prefix: str = "") -> Step:
    assert not step.accepted, f"{step.event} unexpectedly accepted in {step.source} -> {step.state}"
    assert step.reason is not None and step.reason.startswith(reason_prefix), step.reason
    return step


def run_for(c: Controller, ms: int, dt: int = 1_000) -> list[Step]:
    steps = []
    while ms > 0:
        d = min(dt, ms)
        steps.append(must(c.handle(tick(d))))
        ms -= d
    return steps


def active(c: Controller) -> set[str]:
    from controller.core.alarms import IDS

    return {IDS[i] for i, a in enumerate(c.vars.alarm.active) if a}


def clinician(kind: str, **kw: object) -> Event:
    return ev(kind, Actor.CLINICIAN, **kw)  # type: ignore[arg-type]


HOUR = MS_PER_H
