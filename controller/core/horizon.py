"""The quiet horizon: how long time can pass with nothing happening but the linear counters.

Theory of operation
-------------------
In most control periods a tick changes only the clock and the counters that grow linearly with
it (odometer, delivered, KVO or primed volume, the current bucket of the dose windows, the
current step's progress). It changes nothing else as long as no *deadline* falls inside it:

- no window bucket closes (each dose ring and the air ring: ``clock + dt < end``);
- the motor does not reach its cap (``rate x dt < cap - odo``): the cap is the smallest of the
  VTBI, reservoir, dose-window, step and bolus allowances, so none of them runs out either;
- no derived alarm cause switches on: the self-test time limit (POST), paused too long
  (PAUSED), the unattended-programming callback (READY), near end and container low (by volume
  at the commanded rate), and the audio pause does not expire;
- in BOLUS the bolus phase does not end, and an intermittent program waiting between doses
  does not reach its next dose.

``quiet(v, state, dt)`` says exactly that, with no division (it is a guard condition: the proofs
read it). ``horizon(v, state)`` is the longest such ``dt`` (0 when even 1 ms is not quiet), the
one place that divides (``logic.div_floor``). Both are dual-use.

A tick that is quiet is the same as the shorter ticks it can be cut into: ``tick(a + b)`` leaves
the same state and variables as ``tick(a)`` then ``tick(b)`` whenever ``tick(a + b)`` is quiet
(EQV-TCK-002, proved with Z3 over every reachable state in ``proofs/horizon.py``), and every
``dt`` up to ``horizon`` is quiet (EQV-TCK-001). So the table's common tick row of each state
accepts a quiet tick of any length (``guards.tick_ok_or_quiet``, REQ-CFG-002), and a simulator
that skips quiet control periods with one long tick computes, by proof, what the
period-by-period loop computes (DEC-040).

Rules
1. Dual-use, no Python branching on values; ``state`` is concrete (the table names it).
2. Conservative: a condition may end the horizon early, never late.
"""

from __future__ import annotations

from controller.core.flow import Mode, basal_rate, mode_of, moved_in, step_finite, waiting
from controller.core.limits import POST_TIMEOUT_MS
from controller.core.logic import all_of, div_floor, implies, ite, maximum, minimum, pick
from controller.core.program import N_WINDOWS, kvo_rate
from controller.core.state import THERAPY, Vars


def _deadlines(v: Vars, state: str) -> tuple[list[int], list[int], list[int], list[int]]:
    """What ends the quiet horizon in ``state``, in four lists:

    - times that must stay ahead (a window bucket's end, the self-test limit, the end of a bolus,
      the next intermittent dose): the tick must end before each;
    - times of causes that, once reached, stay (paused too long, the programming callback, the end
      of an audio pause): the tick must end before each one still ahead;
    - volume rooms the volume moved must stay below (the VTBI, the reservoir, the current step,
      the prime target): each must be ahead and stay ahead;
    - volume rooms of causes that, once reached, stay (near end, container low, the cap: once
      reached nothing moves): only those still ahead count.

    The volume moved is ``flow.moved_in`` (the commanded rate until the cap), as the tick counts it."""
    f, m, a, p, c = v.flow, v.marks, v.alarm, v.prog, v.cfg
    strict_t = [v.air.end, *(v.win[j].end for j in range(N_WINDOWS))]
    stay_t = [a.silence_until]
    strict_v: list[int] = []
    stay_v: list[int] = []
    mode = mode_of(state)
    left = p.reservoir_vol - (f.odo - m.odo0)  # what the container still holds
    if mode != Mode.NONE:
        stay_v.append(f.cap - f.odo)
        strict_v.append(ite(p.loaded, left, f.cap - f.odo + 1))  # reservoir_empties
    if state == "POST":
        strict_t.append(m.touched_at + POST_TIMEOUT_MS)
    elif state == "PAUSED":
        stay_t.append(m.paused_at + c.paused_limit_ms)
    elif state == "READY":
        stay_t.append(m.touched_at + c.callback_ms)
    elif state == "PRIMING":
        strict_v.append(m.prime_target - f.primed)
    if state in THERAPY:
        basal = basal_rate(v)
        finite = all_of(step_finite(p, f.step), f.step < p.n_steps)
        strict_v.append(p.vtbi - f.delivered)
        strict_v.append(ite(finite, pick(f.step, p.step_vol) - f.step_done, f.cap - f.odo + 1))  # the step ends
        stay_v.append(p.vtbi - f.delivered - basal * c.near_end_ms)  # near end switches on
        stay_v.append(left - basal * c.near_end_ms)  # container low switches on
        if state == "BOLUS":
            strict_t.append(v.bolus.until)
        # the next intermittent dose, when waiting for it (otherwise the air ring's end: no new deadline)
        strict_t.append(ite(all_of(p.interval_ms > 0, waiting(v)), m.cycle_start + p.interval_ms, v.air.end))
    elif state == "KVO":
        stay_v.append(left - kvo_rate(p, c) * c.near_end_ms)
    return strict_t, stay_t, strict_v, stay_v


def quiet(v: Vars, state: str, dt: int) -> bool:
    """A tick of ``dt`` ms in ``state`` changes nothing but the linear counters (module docstring)."""
    strict_t, stay_t, strict_v, stay_v = _deadlines(v, state)
    now, moved = v.flow.clock, moved_in(v, dt)
    return all_of(dt >= 1, *(now + dt < t for t in strict_t), *(implies(now < t, now + dt < t) for t in stay_t),
                  *(moved < room for room in strict_v), *(implies(room > 0, moved < room) for room in stay_v))


def horizon(v: Vars, state: str) -> int:
    """The longest quiet tick in ``state`` (ms), 0 when none is: every ``1 <= dt <= horizon`` is
    quiet (EQV-TCK-001)."""
    strict_t, stay_t, strict_v, stay_v = _deadlines(v, state)
    f = v.flow
    now, rate, cap_left = f.clock, f.rate, f.cap - f.odo
    out = v.air.end - now - 1  # the air ring always has a bucket end ahead (at most 10 min)
    for t in strict_t:
        out = minimum(out, t - now - 1)
    for t in stay_t:
        out = ite(now < t, minimum(out, t - now - 1), out)

    def by_volume(room: int) -> int:
        """The longest dt moving less than ``room`` (-1: none, not even 0 ms)."""
        time_to = ite(rate > 0, div_floor(room - 1, maximum(rate, 1)), out)
        return ite(cap_left < room, out, ite(room > 0, time_to, -1))

    for room in strict_v:
        out = minimum(out, by_volume(room))
    for room in stay_v:
        out = ite(room > 0, minimum(out, by_volume(room)), out)
    return maximum(0, out)
