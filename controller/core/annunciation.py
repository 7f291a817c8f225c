"""Alarm causes, active flags, audio pause and what is annunciated.

Theory of operation
-------------------
Some causes are reported by sensors and held until the sensor reports otherwise
(occlusion, single air bubble, door, motor fault, watchdog, self-test); the others are
*derived* from the variables after every step (reservoir, dose limit, VTBI complete,
paused too long, unattended programming, near end, battery, accumulated air, temperature,
container nearly empty).
``refresh`` recomputes the derived causes for the state the step ends in and updates the
active flags:

- a stop-flow alarm is raised only where flow could be affected (``ALARMABLE`` states);
  elsewhere its cause is remembered and blocks starting (REQ-ALM-004);
- other alarms are raised wherever their cause holds (the cause already names the state);
- a latching alarm stays active until acknowledged with its cause gone (REQ-ALM-005); a
  non-latching one follows its cause;
- a newly raised alarm ends any audio pause (REQ-ALM-006).

Rules
1. ``annunciated`` is the first active alarm in catalog order, i.e. the highest priority,
   ties broken by rank (REQ-ALM-002, DEC-005).
2. Audio pause never extends past ``silence_ms`` (<= 2 min) from the silence request.
"""

from __future__ import annotations

from controller.core import alarms as A
from controller.core import windows
from controller.core.flow import reservoir_left, reservoir_used, waiting, window_allowance
from controller.core.limits import Limits
from controller.core.logic import all_of, any_of, ite, not_, pick
from controller.core.program import N_WINDOWS, kvo_rate
from controller.core.state import ALARMABLE, THERAPY, Alarms, Ring, Vars

DERIVED: tuple[int, ...] = (
    A.RESERVOIR_EMPTY, A.DOSE_LIMIT, A.VTBI_COMPLETE, A.PAUSED_TOO_LONG, A.CALLBACK,
    A.NEAR_END, A.LOW_BATTERY, A.BATTERY_DEPLETED, A.AIR_ACCUM, A.OVERHEAT, A.TEMPERATURE_RANGE,
    A.RESERVOIR_LOW,
)
_STOP = frozenset(A.STOP_ALARMS)


def battery_low(on_mains: bool, minutes: int, c: Limits) -> bool:
    return all_of(not_(on_mains), minutes < c.battery_low_min)


def battery_depleted(on_mains: bool, minutes: int, c: Limits) -> bool:
    return all_of(not_(on_mains), minutes < c.battery_depleted_min)


def overheated(temp_c10: int, c: Limits) -> bool:
    return temp_c10 >= c.overheat_c10


def container_low(v: Vars, rate: int, c: Limits) -> bool:
    """The container lasts no longer than ``near_end_ms`` at ``rate`` (REQ-RES-002); multiplied out,
    so no division (``flow.reservoir_time_ms`` gives the time itself)."""
    return all_of(rate > 0, reservoir_left(v) <= rate * c.near_end_ms)


def air_over(air_cur: int, ring: Ring, c: Limits) -> bool:
    return windows.used(air_cur, ring) > c.air_accum_nl


def derived_causes(v: Vars, state: str) -> tuple[bool, ...]:
    """Causes computed from the variables, in ``DERIVED`` order, for a step ending in ``state``.

    ``state`` is always concrete (the table names it), so branching on it in Python is
    dual-use; it also skips work that cannot matter in that state.
    """
    f, p, m, c = v.flow, v.prog, v.marks, v.cfg
    reservoir = any_of(m.res_sensed, all_of(p.loaded, reservoir_used(v) >= p.reservoir_vol))
    window_full = (any_of(*(window_allowance(v, j, 1) == 0 for j in range(N_WINDOWS)))
                   if state in ("RUNNING", "BOLUS", "KVO") else False)
    vtbi_complete = all_of(p.loaded, f.delivered >= p.vtbi) if state in ("KVO", "STOPPED") else False
    paused = f.clock - m.paused_at >= c.paused_limit_ms if state == "PAUSED" else False
    callback = f.clock - m.touched_at >= c.callback_ms if state == "READY" else False
    if state in THERAPY:
        basal = ite(waiting(v), 0, pick(f.step, p.step_rate))
        near_end = all_of(basal > 0, p.vtbi - f.delivered <= basal * c.near_end_ms)
        low = container_low(v, basal, c)
    else:
        near_end = False
        low = container_low(v, kvo_rate(p, c), c) if state == "KVO" else False
    return (
        reservoir,
        window_full,
        vtbi_complete,
        paused,
        callback,
        near_end,
        battery_low(m.on_mains, m.battery_min, c),
        battery_depleted(m.on_mains, m.battery_min, c),
        air_over(m.air_cur, v.air, c),
        overheated(m.temp_c10, c),
        any_of(m.temp_c10 < c.temp_min_c10, m.temp_c10 > c.temp_max_c10),
        low,
    )


_ALLOWED_IN: dict[bool, tuple[bool, ...]] = {
    alarmable: tuple(alarmable if i in _STOP else True for i in range(A.N_ALARMS)) for alarmable in (False, True)
}


def next_active(cause: bool, active: bool, allowed: bool, latching: bool) -> bool:
    """The one rule for an alarm's active flag after a step (REQ-ALM-004, REQ-ALM-005).

    ``latching`` is always concrete (catalog data)."""
    if latching:
        return any_of(active, all_of(cause, allowed))
    return all_of(cause, any_of(allowed, active))


def rises(new: bool, old: bool) -> bool:
    return all_of(new, not_(old))


# At run time the rule is looked up: the table is computed from the same function at import,
# and proofs/shortcuts.py (EQV-ALM-002) proves it equal to the rule for every input.
_B = (False, True)
_NEXT = {(c, a, o, latch): next_active(c, a, o, latch) for c in _B for a in _B for o in _B for latch in _B}
_RISES = {(n, o): rises(n, o) for n in _B for o in _B}


def refresh(v: Vars, state: str, settled: bool = False) -> Alarms:
    """Causes and active flags after a step that ends in ``state``.

    ``settled``: the flags are already the fixpoint for ``state`` (the step stayed in it and did
    not touch the alarms); then, at run time, unchanged derived causes mean nothing changes
    (``next_active`` is idempotent for fixed causes and state: proved for every value by
    EQV-ALM-001 in proofs/shortcuts.py)."""
    a = v.alarm
    derived = derived_causes(v, state)
    if settled and type(v.flow.clock) is int and all(a.cause[i] is c for i, c in zip(DERIVED, derived, strict=True)):
        return a
    cause = list(a.cause)
    for i, c in zip(DERIVED, derived, strict=True):
        cause[i] = c
    allowed = _ALLOWED_IN[state in ALARMABLE]
    new_cause = tuple(cause)
    if type(v.flow.clock) is int and all(type(c) is bool for c in derived):  # run time: look the rule up
        active = tuple(_NEXT[k] for k in zip(new_cause, a.active, allowed, A.LATCHING, strict=True))
        if active == a.active and new_cause == a.cause:
            return a
        rising: bool = any(_RISES[k] for k in zip(active, a.active, strict=True))
        return Alarms(new_cause, active, v.flow.clock if rising else a.silence_until)
    sym = tuple(next_active(*k) for k in zip(new_cause, a.active, allowed, A.LATCHING, strict=True))
    rising = any_of(*(rises(n, o) for n, o in zip(sym, a.active, strict=True)))
    return Alarms(new_cause, sym, ite(rising, v.flow.clock, a.silence_until))


def set_cause(a: Alarms, index: int, value: bool) -> Alarms:
    cause = a.cause[:index] + (value,) + a.cause[index + 1 :]
    return a._replace(cause=cause)


def acknowledge(a: Alarms) -> Alarms:
    """Clear every latched alarm whose cause is gone (REQ-ALM-005)."""
    return a._replace(active=tuple(all_of(act, c) if A.LATCHING[i] else act
                                   for i, (act, c) in enumerate(zip(a.active, a.cause, strict=True))))


def cleared_stop_kind(a: Alarms) -> int:
    """The first (highest-priority) latched stop-flow alarm an acknowledge would clear, or -1."""
    kind = -1
    for i in reversed(A.STOP_ALARMS):
        if A.LATCHING[i]:
            kind = ite(all_of(a.active[i], not_(a.cause[i])), i, kind)
    return kind


def clearable(a: Alarms) -> bool:
    """Some latched alarm is active with its cause gone (an acknowledge would change something)."""
    return any_of(*(all_of(a.active[i], not_(a.cause[i])) for i in range(A.N_ALARMS) if A.LATCHING[i]))


def any_active(a: Alarms) -> bool:
    return any_of(*a.active)


def stop_active(a: Alarms) -> bool:
    return any_of(*(a.active[i] for i in A.STOP_ALARMS))


def stop_cause(a: Alarms) -> bool:
    return any_of(*(a.cause[i] for i in A.STOP_ALARMS))


def annunciated(a: Alarms) -> int:
    """Index of the alarm to annunciate (highest priority, then rank), or -1."""
    out: int = -1
    for i in range(A.N_ALARMS - 1, -1, -1):
        out = ite(a.active[i], i, out)
    return out


def audible(a: Alarms, clock: int) -> bool:
    return all_of(any_active(a), clock >= a.silence_until)
