"""Delivery: what the motor is told to do, and accounting for what it did.

Theory of operation
-------------------
Every motor command is a pair (rate, cap): run at ``rate`` and stop by yourself when the
odometer reaches ``cap``. The cap is the smallest of every volume allowance in force, so
the *actuator* enforces the dose limits even if the next control tick comes late or never:

    cap - odo = min(VTBI left, reservoir left, each dose window's allowance,
                    the current step's volume left, what the bolus phase may still push)

A tick of ``dt`` ms then moved exactly ``min(rate * dt, cap - odo)`` (in vu, no rounding),
which is added to the odometer and to the channel of the state it happened in: therapy
(counts towards the VTBI), KVO, or priming (line disconnected, counts only against the
reservoir). Therapy and KVO count against every dose window (REQ-DOS-005).

Rules
1. The command for a state is a function of the variables only: ``command(v, mode)``.
2. In every mode but THERAPY/KVO/PRIME the rate is 0 and the cap is the odometer.
3. The commanded rate never exceeds ``rate_cap`` (pump max, drug hard max, route cap);
   with a KVO-response alarm active (dose limit) it never exceeds the KVO rate.
4. Nothing here reads a clock: time is ``Flow.clock``, advanced by ticks only.
"""

from __future__ import annotations

from enum import IntEnum

from controller.core import alarms as A
from controller.core import windows
from controller.core.logic import all_of, any_of, ite, maximum, minimum, pick
from controller.core.program import N_WINDOWS, Program, kvo_rate, rate_cap
from controller.core.state import Flow, Vars


class Mode(IntEnum):
    NONE = 0
    PRIME = 1
    THERAPY = 2
    KVO = 3


COUNTED: tuple[Mode, ...] = (Mode.THERAPY, Mode.KVO)  # modes whose flow counts against dose windows
MODE_OF: dict[str, Mode] = {"PRIMING": Mode.PRIME, "RUNNING": Mode.THERAPY, "BOLUS": Mode.THERAPY, "KVO": Mode.KVO}


def mode_of(state: str) -> Mode:
    return MODE_OF.get(state, Mode.NONE)


def reservoir_used(v: Vars) -> int:
    """Volume drawn from the loaded program's container (everything pushed since loading)."""
    return v.flow.odo - v.marks.odo0


def reservoir_left(v: Vars) -> int:
    return maximum(0, v.prog.reservoir_vol - reservoir_used(v))


def reservoir_time_ms(v: Vars, rate: int) -> int | None:
    """How long the container lasts at ``rate`` (whole ms, rounded down), or None when nothing flows.
    Run time only (a division); the alarm uses ``annunciation.container_low`` (REQ-RES-002)."""
    return None if rate <= 0 else reservoir_left(v) // rate


def window_allowance(v: Vars, j: int, fallback: int) -> int:
    """What window j still allows, or ``fallback`` when the window is off."""
    left = v.prog.lim_vol[j] - windows.used(v.flow.wcur[j], v.win[j])
    return ite(v.prog.lim_vol[j] > 0, maximum(0, left), fallback)


def dose_allowance(v: Vars, fallback: int) -> int:
    out = fallback
    for j in range(N_WINDOWS):
        out = minimum(out, window_allowance(v, j, fallback))
    return out


def waiting(v: Vars) -> bool:
    """An intermittent program between doses (all steps of this cycle done)."""
    return v.flow.step >= v.prog.n_steps


def step_finite(p: Program, step: int) -> bool:
    """This step ends by volume (it is not the open-ended last step of a continuous program)."""
    return any_of(p.interval_ms > 0, step < p.n_steps - 1)


def basal_rate(v: Vars) -> int:
    return ite(waiting(v), 0, pick(v.flow.step, v.prog.step_rate))


def bolus_active(v: Vars) -> bool:
    return v.flow.clock < v.bolus.until


def kvo_limited(v: Vars) -> bool:
    """A KVO-response alarm (dose limit) is active: flow is held to KVO at most."""
    return any_of(*(v.alarm.active[i] for i in A.KVO_ALARMS))


def therapy_rate(v: Vars) -> int:
    intended = basal_rate(v) + ite(bolus_active(v), v.bolus.rate, 0)
    limited = ite(kvo_limited(v), minimum(intended, kvo_rate(v.prog, v.cfg)), intended)
    return minimum(limited, rate_cap(v.prog, v.cfg))


def therapy_budget(v: Vars, rate: int) -> int:
    f, p = v.flow, v.prog
    res = reservoir_left(v)
    step_left = ite(step_finite(p, f.step), maximum(0, pick(f.step, p.step_vol) - f.step_done), res)
    bolus_left = ite(bolus_active(v), rate * (v.bolus.until - f.clock), res)
    return maximum(0, minimum(p.vtbi - f.delivered, res, dose_allowance(v, res), step_left, bolus_left))


def command(v: Vars, mode: Mode) -> tuple[int, int]:
    """(rate, cap) for the motor in ``mode``."""
    odo = v.flow.odo
    if mode == Mode.THERAPY:
        rate = therapy_rate(v)
        return rate, odo + ite(rate > 0, therapy_budget(v, rate), 0)
    if mode == Mode.KVO:
        rate = kvo_rate(v.prog, v.cfg)
        res = reservoir_left(v)
        return rate, odo + ite(rate > 0, minimum(res, dose_allowance(v, res)), 0)
    if mode == Mode.PRIME:
        rate = minimum(v.cfg.prime_rate, v.cfg.max_rate)
        return rate, odo + maximum(0, minimum(v.marks.prime_target - v.flow.primed, reservoir_left(v)))
    return 0, odo


def moved_in(v: Vars, dt: int) -> int:
    """Volume the mechanism pushes in a tick of ``dt`` under the current command."""
    return minimum(v.flow.rate * dt, v.flow.cap - v.flow.odo)


def advance(v: Vars, dt: int, mode: Mode) -> Vars:
    """Account a tick of ``dt`` ms: delivery into its channel and the windows, step progress."""
    f, p = v.flow, v.prog
    moved = moved_in(v, dt)
    therapy = mode == Mode.THERAPY
    counted = moved if mode in COUNTED else 0
    wcur = []
    rings = []
    for j in range(N_WINDOWS):
        cur, ring = windows.advance(f.wcur[j], v.win[j], f.clock, dt, f.rate, counted)
        wcur.append(cur)
        rings.append(ring)
    air_cur, air = windows.advance(v.marks.air_cur, v.air, f.clock, dt, 0, 0)
    clock2 = f.clock + dt
    step, step_done, cycle_start = f.step, f.step_done, v.marks.cycle_start
    if therapy:
        done = f.step_done + moved
        ends = all_of(step_finite(p, f.step), f.step < p.n_steps, done >= pick(f.step, p.step_vol))
        # the next intermittent dose starts in the tick its interval passes, also when the dose
        # itself ends in that tick (no tick of silent waiting past the interval: INV-UND-001)
        restart = all_of(p.interval_ms > 0, any_of(f.step >= p.n_steps, ends), clock2 >= cycle_start + p.interval_ms)
        step = ite(restart, 0, ite(ends, f.step + 1, f.step))
        step_done = ite(any_of(ends, restart), 0, done)
        cycle_start = ite(restart, clock2, cycle_start)
    flow = Flow(
        clock2,
        f.odo + moved,
        f.cap,
        f.rate,
        f.delivered + (moved if therapy else 0),
        f.kvo_vol + (moved if mode == Mode.KVO else 0),
        f.primed + (moved if mode == Mode.PRIME else 0),
        tuple(wcur),
        step,
        step_done,
        ite(counted > 0, clock2, f.last_in),
    )
    marks = v.marks
    if air is not v.air or cycle_start is not marks.cycle_start:
        marks = marks._replace(air_cur=air_cur, cycle_start=cycle_start)
    win = v.win if all(a is b for a, b in zip(rings, v.win, strict=True)) else tuple(rings)
    return v._replace(flow=flow, win=win, air=air, marks=marks)


def vtbi_reached(v: Vars) -> bool:
    return v.flow.delivered >= v.prog.vtbi


