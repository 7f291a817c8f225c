"""Guard conditions of the transition table.

Theory of operation
-------------------
A row's guard is a tuple of ``Cond``: each a named dual-use predicate over
``(vars, event, source_state)`` with the refusal reason it stands for and the requirements
it implements. The runtime evaluates a row's conditions as one conjunction; when no row
fires, the first failing condition of the first row for that state and trigger is the
reason given to the caller. The proof layer conjoins the same predicates on Z3 terms.

Rules
1. Predicates are total and dual-use (``controller.core.logic``), cite requirement ids, and
   never change anything.
2. Predicates that talk about "after this step" call the same functions the effects call
   (never a copy of the arithmetic).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from controller.core import alarms as A
from controller.core import annunciation as AN
from controller.core import windows
from controller.core.events import Actor, Event
from controller.core.flow import Mode, advance, basal_rate, dose_allowance, moved_in, reservoir_left, reservoir_used
from controller.core.horizon import quiet
from controller.core.libbounds import BASIC
from controller.core.limits import POST_TIMEOUT_MS, limits_ok
from controller.core.logic import all_of, any_of, branch, count, not_, pick
from controller.core.program import (
    MAX_CLIN_BOLUS_MS,
    N_BUCKETS,
    N_WINDOWS,
    Program,
    maintenance_rate,
    pca_enabled,
    program_ok,
    rate_cap,
)
from controller.core.state import Vars
from controller.core.units import MS_PER_H, MS_PER_S

Pred = Callable[[Vars, Event, str], bool]
REPEAT_WINDOW_MS = 10 * 60 * MS_PER_S  # REQ-OCC-006 (OPCA R6.5.0(18): three cycles within 10 min)


@dataclass(frozen=True, slots=True)
class Cond:
    name: str
    pred: Pred
    reason: str
    reqs: tuple[str, ...] = ()


def cond(reason: str, *reqs: str) -> Callable[[Pred], Cond]:
    """Decorator: turn a predicate into a named condition."""

    def wrap(fn: Pred) -> Cond:
        return Cond(fn.__name__, fn, reason, reqs)

    return wrap


def unless(*conds: Cond) -> Cond:
    """None of ``conds`` holds: makes a general row disjoint from the specific rows after it,
    so the common case is decided by one row (same meaning as first-match order)."""
    preds = tuple(c.pred for c in conds)

    def pred(v: Vars, e: Event, s: str) -> bool:
        return not_(any_of(*(p(v, e, s) for p in preds)))

    reqs = tuple(dict.fromkeys(r for c in conds for r in c.reqs))
    return Cond("not(" + " | ".join(c.name for c in conds) + ")", pred, "special_case", reqs)


# --- who may do it (REQ-ROL-*) -------------------------------------------------------------

@cond("actor_not_permitted: only a clinician or administrator may do this", "REQ-ROL-001")
def by_clinician(v: Vars, e: Event, s: str) -> bool:
    return any_of(e.actor == Actor.CLINICIAN, e.actor == Actor.ADMIN)


@cond("actor_not_permitted: only an administrator may change pump limits", "REQ-ROL-002")
def by_admin(v: Vars, e: Event, s: str) -> bool:
    return e.actor == Actor.ADMIN


@cond("actor_not_permitted: sensor and timer events come from the pump itself", "REQ-ROL-003")
def by_system(v: Vars, e: Event, s: str) -> bool:
    return e.actor == Actor.SYSTEM


@cond("actor_not_permitted: a PCA demand comes from the patient or a clinician", "REQ-ROL-001")
def by_patient_or_clinician(v: Vars, e: Event, s: str) -> bool:
    return any_of(e.actor == Actor.PATIENT, e.actor == Actor.CLINICIAN)


# --- time ------------------------------------------------------------------------------------

@cond("tick_out_of_range: a tick is 1 ms to max_tick_ms long, or longer only inside the quiet horizon",
      "REQ-CFG-002")
def tick_ok(v: Vars, e: Event, s: str) -> bool:
    """A tick of 1 ms to ``max_tick_ms`` (every tick row but the common one)."""
    return all_of(e.dt_ms >= 1, e.dt_ms <= v.cfg.max_tick_ms)


@cond("tick_out_of_range: a tick is 1 ms to max_tick_ms long, or longer only inside the quiet horizon",
      "REQ-CFG-002")
def tick_ok_or_quiet(v: Vars, e: Event, s: str) -> bool:
    """The common tick row also takes a longer tick in which nothing can happen but the linear
    counters (``horizon.quiet``: proved equal to the shorter ticks it replaces, DEC-040). A long
    tick that is not quiet fires no row (the other tick rows take short ticks only)."""
    dt = e.dt_ms
    return branch(dt <= v.cfg.max_tick_ms, lambda: dt >= 1, lambda: quiet(v, s, dt))


@cond("post_running: self-test still within its time limit", "REQ-FLT-001")
def post_timed_out(v: Vars, e: Event, s: str) -> bool:
    """POST began at ``touched_at`` (0 at power-on, the restore time after a power loss)."""
    return v.flow.clock + e.dt_ms - v.marks.touched_at >= POST_TIMEOUT_MS


# --- configuration and programs --------------------------------------------------------------

@cond("self_test_failed", "REQ-FLT-001")
def self_test_passed(v: Vars, e: Event, s: str) -> bool:
    return e.flag


@cond("self_test_passed", "REQ-FLT-001")
def self_test_failed(v: Vars, e: Event, s: str) -> bool:
    return not_(e.flag)


@cond("invalid_limits: the limits fail validation", "REQ-CFG-001")
def limits_valid(v: Vars, e: Event, s: str) -> bool:
    return limits_ok(e.limits)


@cond("window_tick: a control tick longer than a dose-window bucket the line still uses; wait until its "
      "history has aged out, or declare a new line", "REQ-CFG-002", "REQ-DOS-006")
def ticks_fit_windows(v: Vars, e: Event, s: str) -> bool:
    """A tick never spans more than one bucket of a ring (windows rule 2), for rings that persist."""
    return all_of(*(e.limits.max_tick_ms <= v.win[j].bucket for j in range(N_WINDOWS)))


@cond("program_loaded: clear the program before changing pump limits", "REQ-CFG-001")
def no_program(v: Vars, e: Event, s: str) -> bool:
    return not_(v.prog.loaded)


@cond("invalid_program: the program fails validation against the pump limits", "REQ-PRG-001")
def program_valid(v: Vars, e: Event, s: str) -> bool:
    return program_ok(e.program, v.cfg)


def comparable(entry: int, last_entry: int) -> bool:
    """Two programs' rates are compared for a large change: the same library entry, or a switch
    to or from basic infusion (a library drug re-entered as basic is the bypass of UE-005, DEC-039)."""
    return any_of(entry == last_entry, entry == BASIC, last_entry == BASIC)


def big_change(v: Vars, p: Program) -> bool:
    """``p``'s maintenance rate differs from the rate last *started* on the line by more than
    ``change_factor`` either way: a 10x or decimal error inside the limits (REQ-USE-001, DEC-038).
    The reference moves only when a program starts, so neither re-sending the same program nor
    stepping the rate up over several programs that never ran escapes the confirmation."""
    prev, new, k = v.line.last_rate, maintenance_rate(p), v.cfg.change_factor
    return all_of(prev > 0, comparable(p.drug, v.line.last_entry), any_of(new > prev * k, new * k < prev))


def needs_confirmation(v: Vars) -> bool:
    """A soft limit is crossed, or the rate changed by more than change_factor (REQ-DRG-003, REQ-USE-001)."""
    return any_of(v.prog.needs_confirm, big_change(v, v.prog))


@cond("nothing_to_confirm: no soft-limit override or large rate change is pending", "REQ-DRG-003", "REQ-USE-001")
def confirmation_pending(v: Vars, e: Event, s: str) -> bool:
    return all_of(needs_confirmation(v), not_(v.marks.confirmed))


@cond("soft_limit_unconfirmed: confirm the soft-limit override or the large rate change first",
      "REQ-DRG-003", "REQ-USE-001")
def confirmed(v: Vars, e: Event, s: str) -> bool:
    return any_of(not_(needs_confirmation(v)), v.marks.confirmed)


def history_fits(v: Vars, p: Program, j: int) -> bool:
    """Program ``p`` may use dose-window ring ``j``: it holds this entry's history over the same
    window, or it holds no dose that still counts and, if ``p`` enables it (the ring then starts
    a new window), nothing went into the patient on this line within that whole new window, so
    the empty history is the truth. An empty ring alone is not enough: a ring emptied over a
    shorter window would forget what a longer new one still covers (REQ-DOS-006, DEC-035)."""
    f = v.flow
    quiet = f.clock - f.last_in >= (N_BUCKETS + 1) * p.lim_bucket_ms[j]  # the ring spans N + 1 buckets
    free = all_of(windows.used(f.wcur[j], v.win[j]) == 0, any_of(p.lim_vol[j] == 0, quiet))
    same = all_of(p.drug == v.line.entry, any_of(p.lim_vol[j] == 0, p.lim_bucket_ms[j] == v.win[j].bucket))
    return any_of(free, same)


@cond("window_history: the line still holds dose history of another drug or over another window length; "
      "wait until it has aged out, or declare a new line (new_line)", "REQ-DOS-006")
def history_compatible(v: Vars, e: Event, s: str) -> bool:
    return all_of(*(history_fits(v, e.program, j) for j in range(N_WINDOWS)))


@cond("nothing_restored", "REQ-REC-001")
def restored_program(v: Vars, e: Event, s: str) -> bool:
    return v.prog.loaded


@cond("nothing_delivered_before_power_loss", "REQ-REC-001")
def restored_infusion(v: Vars, e: Event, s: str) -> bool:
    """Something moved under the restored program: it comes back paused, never running."""
    return v.flow.odo > v.marks.odo0


@cond("program_loaded: the pump has a program", "REQ-PRM-001")
def has_program(v: Vars, e: Event, s: str) -> bool:
    return v.prog.loaded


# --- starting flow ---------------------------------------------------------------------------

@cond("stop_alarm_condition: a stop-flow alarm or its cause is present", "REQ-ALM-004", "REQ-DOR-001")
def no_stop_condition(v: Vars, e: Event, s: str) -> bool:
    return all_of(not_(AN.stop_cause(v.alarm)), not_(AN.stop_active(v.alarm)), not_(v.marks.res_sensed))


@cond("vtbi_delivered: nothing left to infuse", "REQ-DEL-001")
def vtbi_left(v: Vars, e: Event, s: str) -> bool:
    return v.flow.delivered < v.prog.vtbi


@cond("reservoir_empty", "REQ-RES-001")
def reservoir_has_volume(v: Vars, e: Event, s: str) -> bool:
    return reservoir_left(v) > 0


@cond("line_not_disconnected: confirm the patient line is disconnected before priming", "REQ-PRM-001")
def line_disconnected(v: Vars, e: Event, s: str) -> bool:
    return e.flag


@cond("prime_volume_out_of_range: more than 0 and in total at most prime_max", "REQ-PRM-002")
def prime_volume_ok(v: Vars, e: Event, s: str) -> bool:
    return all_of(e.volume > 0, v.flow.primed + e.volume <= v.cfg.prime_max)


# --- boluses (REQ-BOL-*) ---------------------------------------------------------------------

@cond("alarm_active: no bolus while any alarm is active", "REQ-BOL-004")
def no_alarm(v: Vars, e: Event, s: str) -> bool:
    return not_(AN.any_active(v.alarm))


@cond("pca_not_programmed", "REQ-BOL-001")
def pca_on(v: Vars, e: Event, s: str) -> bool:
    return pca_enabled(v.prog)


@cond("lockout: the lockout interval since the last patient bolus has not passed", "REQ-BOL-002")
def lockout_over(v: Vars, e: Event, s: str) -> bool:
    return v.flow.clock - v.bolus.times[0] >= v.prog.lockout_ms


def boluses_last_hour(v: Vars) -> int:
    return count([v.flow.clock - t < MS_PER_H for t in v.bolus.times])


@cond("bolus_count: the maximum number of patient boluses per hour was given", "REQ-BOL-003")
def under_hourly_count(v: Vars, e: Event, s: str) -> bool:
    return boluses_last_hour(v) < v.prog.pca_max_h


def room_for(v: Vars, volume: int) -> bool:
    """``volume`` more fits in the VTBI and in every dose window."""
    left = v.prog.vtbi - v.flow.delivered
    return all_of(volume <= left, volume <= dose_allowance(v, left))


@cond("dose_limit: the bolus would exceed a dose-window limit or the VTBI", "REQ-DOS-004", "REQ-BOL-006")
def pca_fits(v: Vars, e: Event, s: str) -> bool:
    return room_for(v, v.prog.pca_rate * v.prog.pca_ms)


@cond("clinician_bolus_not_allowed: the program allows no clinician bolus", "REQ-BOL-005")
def clin_bolus_on(v: Vars, e: Event, s: str) -> bool:
    return v.prog.clin_bolus_max > 0


@cond("bolus_out_of_range: volume, duration or rate outside the program's bolus limits", "REQ-BOL-005")
def clin_bolus_ok(v: Vars, e: Event, s: str) -> bool:
    return all_of(e.volume > 0, e.volume <= v.prog.clin_bolus_max,
                  e.duration_ms >= 1, e.duration_ms <= MAX_CLIN_BOLUS_MS,
                  e.rate >= 1, e.rate * e.duration_ms <= e.volume,
                  basal_rate(v) + e.rate <= rate_cap(v.prog, v.cfg))


@cond("dose_limit: the bolus would exceed a dose-window limit or the VTBI", "REQ-DOS-004", "REQ-BOL-006")
def clin_bolus_fits(v: Vars, e: Event, s: str) -> bool:
    return room_for(v, e.rate * e.duration_ms)


# --- alarms ----------------------------------------------------------------------------------

@cond("no_alarm: nothing to silence", "REQ-ALM-006")
def alarm_to_silence(v: Vars, e: Event, s: str) -> bool:
    return AN.any_active(v.alarm)


@cond("cause_present: no latched alarm has its cause gone", "REQ-ALM-005")
def clearable(v: Vars, e: Event, s: str) -> bool:
    return AN.clearable(v.alarm)


def third_repeat(v: Vars) -> bool:
    """This acknowledge ends the third ALARM of the same stop-flow kind within REPEAT_WINDOW_MS
    (the two before it were acknowledged at ``ack_times``) (REQ-OCC-006, DEC-034)."""
    k = AN.cleared_stop_kind(v.alarm)
    return all_of(k >= 0, k == v.marks.ack_kind, v.flow.clock - v.marks.ack_times[0] <= REPEAT_WINDOW_MS)


@cond("no_repeat: not the third identical stop-flow alarm within 10 min", "REQ-OCC-006")
def repeats_third(v: Vars, e: Event, s: str) -> bool:
    return third_repeat(v)


@cond("nothing_to_review: no review of repeated stop-flow alarms is due", "REQ-OCC-006")
def review_due(v: Vars, e: Event, s: str) -> bool:
    return v.alarm.cause[A.REPEATED_STOPS]


@cond("stop_alarm_remains: another stop-flow alarm stays active after the review", "REQ-OCC-006")
def review_clears_all_stops(v: Vars, e: Event, s: str) -> bool:
    return not_(any_of(*(v.alarm.active[i] for i in A.STOP_ALARMS if i != A.REPEATED_STOPS)))


@cond("stop_alarm_remains: a stop-flow alarm stays active after acknowledging", "REQ-ALM-005")
def ack_clears_all_stops(v: Vars, e: Event, s: str) -> bool:
    return not_(AN.stop_active(AN.acknowledge(v.alarm)))


@cond("bad_site: occlusion site is 0 (downstream) or 1 (upstream)", "REQ-OCC-001")
def site_ok(v: Vars, e: Event, s: str) -> bool:
    return all_of(e.site >= 0, e.site <= 1)


@cond("bad_payload: a volume is never negative", "REQ-AIR-001")
def volume_nonneg(v: Vars, e: Event, s: str) -> bool:
    return e.volume >= 0


@cond("bad_payload: battery minutes are never negative", "REQ-PWR-001")
def level_nonneg(v: Vars, e: Event, s: str) -> bool:
    return e.level >= 0


@cond("sensor_clear", "REQ-RES-001")
def flag_set(v: Vars, e: Event, s: str) -> bool:
    return e.flag


def bubble_limit(v: Vars) -> int:
    return pick(v.prog.route, v.cfg.bubble_limit_nl)


@cond("no_stop: the air reading is under every limit", "REQ-AIR-001", "REQ-AIR-002")
def air_stops(v: Vars, e: Event, s: str) -> bool:
    return any_of(e.volume > bubble_limit(v), AN.air_over(v.marks.air_cur + e.volume, v.air, v.cfg))


@cond("no_stop: battery not depleted", "REQ-PWR-002")
def battery_depletes(v: Vars, e: Event, s: str) -> bool:
    return AN.battery_depleted(e.flag, e.level, v.cfg)


@cond("no_stop: the mechanism is not too hot", "REQ-TMP-001")
def overheats(v: Vars, e: Event, s: str) -> bool:
    return AN.overheated(e.level, v.cfg)


@cond("no_alarm_raised", "REQ-BOL-004")
def temperature_alarms(v: Vars, e: Event, s: str) -> bool:
    return any_of(e.level < v.cfg.temp_min_c10, e.level > v.cfg.temp_max_c10)


@cond("no_alarm_raised", "REQ-BOL-004")
def battery_alarms(v: Vars, e: Event, s: str) -> bool:
    return AN.battery_low(e.flag, e.level, v.cfg)


# --- tick outcomes ---------------------------------------------------------------------------

@cond("not_empty", "REQ-RES-001")
def reservoir_empties(v: Vars, e: Event, s: str) -> bool:
    return all_of(v.prog.loaded, reservoir_used(v) + moved_in(v, e.dt_ms) >= v.prog.reservoir_vol)


@cond("not_complete", "REQ-DEL-005")
def vtbi_completes(v: Vars, e: Event, s: str) -> bool:
    return v.flow.delivered + moved_in(v, e.dt_ms) >= v.prog.vtbi


@cond("end_action_stop", "REQ-DEL-005")
def end_kvo(v: Vars, e: Event, s: str) -> bool:
    return v.prog.end_kvo


@cond("bolus_continues", "REQ-BOL-001")
def bolus_ends(v: Vars, e: Event, s: str) -> bool:
    return v.flow.clock + e.dt_ms >= v.bolus.until


@cond("no_alarm_raised", "REQ-BOL-004")
def tick_raises_alarm(v: Vars, e: Event, s: str) -> bool:
    return AN.any_active(AN.refresh(advance(v, e.dt_ms, Mode.THERAPY), s))


@cond("priming", "REQ-PRM-002")
def prime_completes(v: Vars, e: Event, s: str) -> bool:
    return v.flow.primed + moved_in(v, e.dt_ms) >= v.marks.prime_target

