"""Auxiliary (strengthening) invariants: the facts induction needs that are not themselves
safety claims. Each is proved like any obligation, so nothing here is assumed.

Theory of operation
-------------------
Most of the safety invariants follow in one step from two exact facts that hold after every
fired row, because every row ends with ``effects.settle``:

- the stored motor command *is* ``flow.command(vars, mode of the state)``;
- the stored derived alarm causes *are* ``annunciation.derived_causes(vars, state)`` and the
  active flags are the fixpoint of ``annunciation.next_active``.

Both are stated with the very functions settle calls, for each concrete state (the state is
a Z3 Int, so each is a conjunction of ``state == S => ...``). The rest are well-formedness
facts: valid configuration and program, ordered clocks, non-negative counters, consistent
dose-window rings and bolus records.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.core import alarms as A
from controller.core import annunciation as AN
from controller.core import windows
from controller.core.flow import command, mode_of
from controller.core.libbounds import MAX_WINDOW_MS, N_BUCKETS
from controller.core.limits import POST_TIMEOUT_MS, limits_ok
from controller.core.logic import all_of, any_of, implies, not_, pick, same
from controller.core.program import N_WINDOWS, NO_PROGRAM, program_ok
from controller.core.state import ALARMABLE, STATES, BolusKind, Vars
from pumpctl.specs.invariants import StateInv, StateView

LOADED_STATES = ("READY", "PRIMING", "RUNNING", "BOLUS", "PAUSED", "KVO", "STOPPED", "ALARM")


def per_state(fn: Callable[[Vars, str], bool]) -> Callable[[StateView, Vars], bool]:
    """Turn a fact that needs the concrete state into a dual-use predicate over all states."""

    def pred(st: StateView, v: Vars) -> bool:
        return all_of(*(implies(st.is_(s), fn(v, s)) for s in STATES))

    return pred


def _command_matches(v: Vars, s: str) -> bool:
    rate, cap = command(v, mode_of(s))
    return all_of(v.flow.rate == rate, v.flow.cap == cap)


def _causes_match(v: Vars, s: str) -> bool:
    derived = AN.derived_causes(v, s)
    allowed = AN._ALLOWED_IN[s in ALARMABLE]
    return all_of(
        *(v.alarm.cause[i] == c for i, c in zip(AN.DERIVED, derived, strict=True)),
        *(v.alarm.active[i] == AN.next_active(v.alarm.cause[i], v.alarm.active[i], allowed[i], A.LATCHING[i])
          for i in range(A.N_ALARMS)),
    )


def _flow_ok(st: StateView, v: Vars) -> bool:
    f = v.flow
    return all_of(
        0 <= f.clock, 0 <= v.marks.odo0, v.marks.odo0 <= f.odo, f.odo <= f.cap, 0 <= f.rate,
        0 <= f.delivered, 0 <= f.kvo_vol, 0 <= f.primed,
        f.delivered + f.kvo_vol + f.primed == f.odo - v.marks.odo0,
        0 <= f.step, 0 <= f.step_done,
        implies(v.prog.loaded, any_of(f.step < v.prog.n_steps, all_of(v.prog.interval_ms > 0,
                                                                      f.step == v.prog.n_steps))),
        implies(not_(v.prog.loaded), all_of(f.step == 0, f.delivered == 0, f.kvo_vol == 0, f.primed == 0)),
        implies(all_of(v.prog.loaded, f.step < v.prog.n_steps,
                       any_of(v.prog.interval_ms > 0, f.step < v.prog.n_steps - 1)),
                f.step_done <= pick(f.step, v.prog.step_vol)),
    )


def _windows_ok(st: StateView, v: Vars) -> bool:
    f = v.flow
    return all_of(
        *(all_of(f.wcur[j] >= 0, windows.well_formed(v.win[j], f.clock),
                 v.cfg.max_tick_ms <= v.win[j].bucket, v.win[j].bucket * N_BUCKETS <= MAX_WINDOW_MS,
                 # the ring of an enabled window is that window: the program's length (DEC-035)
                 implies(all_of(v.prog.loaded, v.prog.lim_vol[j] > 0), v.win[j].bucket == v.prog.lim_bucket_ms[j]))
          for j in range(N_WINDOWS)),
        v.marks.air_cur >= 0, windows.well_formed(v.air, f.clock), v.air.bucket == v.cfg.air_bucket_ms,
        implies(v.prog.loaded, v.line.entry == v.prog.drug),
        v.line.last_rate >= 0,
    )


def _bolus_ok(st: StateView, v: Vars) -> bool:
    b, now = v.bolus, v.flow.clock
    times = b.times
    return all_of(
        implies(st.is_("BOLUS"), all_of(any_of(b.kind == BolusKind.PATIENT, b.kind == BolusKind.CLINICIAN),
                                       now < b.until, 1 <= b.rate)),
        implies(not_(st.is_("BOLUS")), all_of(b.kind == BolusKind.NONE, b.until <= now, b.rate == 0)),
        times[0] <= now,
        *(times[i] >= times[i + 1] for i in range(len(times) - 1)),
    )


def _marks_ok(st: StateView, v: Vars) -> bool:
    m, f = v.marks, v.flow
    return all_of(
        m.paused_at <= f.clock, m.touched_at <= f.clock, m.cycle_start <= f.clock, m.battery_min >= 0,
        implies(st.is_("PRIMING"), all_of(f.primed <= m.prime_target, m.prime_target <= v.cfg.prime_max)),
        f.primed <= v.cfg.prime_max,
    )


def _config_ok(st: StateView, v: Vars) -> bool:
    p = v.prog
    return all_of(
        limits_ok(v.cfg),
        implies(p.loaded, program_ok(p, v.cfg)),
        implies(not_(p.loaded), same(p, NO_PROGRAM)),
        implies(st.is_(*LOADED_STATES), p.loaded),
        implies(st.is_("IDLE"), not_(p.loaded)),
        implies(st.is_("POST"), v.flow.clock - v.marks.touched_at < POST_TIMEOUT_MS),
        implies(st.is_("FAILED"), v.alarm.cause[A.SELF_TEST_FAILED]),
        implies(st.is_("KVO"), v.flow.delivered >= p.vtbi),
    )


AUXILIARY: tuple[StateInv, ...] = (
    StateInv("AUX-CMD", ("REQ-DEL-003",), "the stored motor command is the command for the state",
             per_state(_command_matches), safety=False),
    StateInv("AUX-ALM", ("REQ-ALM-004", "REQ-ALM-005"), "derived causes and active flags are up to date",
             per_state(_causes_match), safety=False),
    StateInv("AUX-FLOW", ("REQ-DEL-003",), "counters are ordered and add up", _flow_ok, safety=False),
    StateInv("AUX-WIN", ("REQ-DOS-004", "REQ-AIR-002"), "window rings are well formed", _windows_ok, safety=False),
    StateInv("AUX-BOL", ("REQ-BOL-001",), "the bolus record matches the state", _bolus_ok, safety=False),
    StateInv("AUX-MARK", ("REQ-ALM-006", "REQ-PRM-002"), "timestamps are in the past, pauses bounded", _marks_ok,
             safety=False),
    StateInv("AUX-CFG", ("REQ-CFG-001", "REQ-PRG-001"), "configuration and program are valid", _config_ok,
             safety=False),
)
