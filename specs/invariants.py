"""The safety invariants, as dual-use predicates: what must hold, in one place.

Theory of operation
-------------------
A ``StateInv`` must hold in every reachable (state, vars); a ``StepInv`` must hold for
every fired step (state and vars before, the event, state and vars after). The same
predicates are

- checked after every step by the Hypothesis stateful tests (``tests/``),
- proved for every reachable state and every valid configuration by ``proofs/``,
- checked on every step of every simulated scenario.

``st`` is a ``StateView``: ``st.is_("RUNNING", "BOLUS")`` is a Python bool at run time and
a Z3 term in the proofs. Each invariant cites the requirements it verifies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from controller.core import alarms, annunciation, windows
from controller.core.commands import relief_vu
from controller.core.events import KINDS, USER_KINDS, Actor, Event
from controller.core.flow import (
    basal_rate,
    dose_allowance,
    kvo_limited,
    reservoir_left,
    reservoir_used,
    step_finite,
    waiting,
)
from controller.core.guards import boluses_last_hour, third_repeat
from controller.core.horizon import quiet
from controller.core.limits import SILENCE_MAX_MS, limits_ok
from controller.core.logic import (
    all_of,
    any_of,
    implies,
    implies_then,
    ite,
    maximum,
    minimum,
    not_,
    or_else,
    pick,
    same,
)
from controller.core.program import N_WINDOWS, kvo_rate, program_ok, rate_cap, soft_exceeded, within_library
from controller.core.state import ALARMABLE, FLOWING, NO_FLOW, STATES, Vars
from controller.core.units import VU_PER_ML


class StateView(Protocol):
    def is_(self, *names: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class At:
    """A concrete state, for run-time checks."""

    name: str

    def is_(self, *names: str) -> bool:
        return self.name in names


@dataclass(frozen=True, slots=True)
class StateInv:
    id: str
    reqs: tuple[str, ...]
    text: str
    pred: Callable[[StateView, Vars], bool]
    safety: bool = True


@dataclass(frozen=True, slots=True)
class StepInv:
    id: str
    reqs: tuple[str, ...]
    text: str
    pred: Callable[[StateView, Vars, Event, StateView, Vars], bool]
    safety: bool = True
    power: bool = False  # also a claim about power cycles (the proofs' pseudo-event); else controller steps only


def _budget(v: Vars) -> int:
    return v.flow.cap - v.flow.odo


def _window_ok(v: Vars, j: int) -> bool:
    used = windows.used(v.flow.wcur[j], v.win[j])
    lim = v.prog.lim_vol[j]
    return implies(lim > 0, _budget(v) <= maximum(0, lim - used))


STATE_INVARIANTS: tuple[StateInv, ...] = (
    StateInv("INV-DEL-001", ("REQ-DEL-001", "REQ-DEL-003"),
             "therapy volume never exceeds the VTBI, and the motor may never push past it",
             lambda st, v: all_of(v.flow.delivered <= v.prog.vtbi,
                                  implies(st.is_("RUNNING", "BOLUS"),
                                          v.flow.delivered + _budget(v) <= v.prog.vtbi))),
    StateInv("INV-DEL-002", ("REQ-DEL-002", "REQ-RTE-001"),
             "the commanded rate (basal + bolus) never exceeds pump max, drug hard max and route cap",
             lambda st, v: implies(st.is_("RUNNING", "BOLUS", "KVO"),
                                   all_of(v.flow.rate <= v.cfg.max_rate, v.flow.rate <= v.prog.rate_hard_max,
                                          v.flow.rate <= pick(v.prog.route, v.cfg.route_max_rate),
                                          v.flow.rate <= rate_cap(v.prog, v.cfg)))),
    StateInv("INV-DEL-004", ("REQ-DEL-004", "REQ-FLT-004"),
             "no flow in POST, FAILED, IDLE, READY, PAUSED, STOPPED, ALARM or FAILSAFE",
             lambda st, v: implies(st.is_(*NO_FLOW), all_of(v.flow.rate == 0, v.flow.cap == v.flow.odo))),
    StateInv("INV-DEL-005", ("REQ-DEL-003", "REQ-REV-001"),
             "the motor never passes its cap and no rate command runs it backwards (the one bounded pressure "
             "relief is STEP-REV-001)",
             lambda st, v: all_of(v.flow.rate >= 0, v.flow.odo <= v.flow.cap)),
    StateInv("INV-DEL-007", ("REQ-DEL-007", "REQ-DOS-005"),
             "KVO never exceeds the configured KVO rate nor the program's last step rate",
             lambda st, v: implies(st.is_("KVO"),
                                   all_of(v.flow.rate <= v.cfg.kvo_rate,
                                          v.flow.rate <= pick(v.prog.n_steps - 1, v.prog.step_rate)))),
    StateInv("INV-DOS-004", ("REQ-DOS-004", "REQ-DOS-005"),
             "the motor may never push more than any dose window still allows (basal, bolus and KVO counted)",
             lambda st, v: implies(st.is_("RUNNING", "BOLUS", "KVO"),
                                   all_of(*(_window_ok(v, j) for j in range(N_WINDOWS))))),
    StateInv("INV-DOS-005", ("REQ-DOS-005",),
             "with the dose-limit alarm active the rate is at most the KVO rate",
             lambda st, v: implies(all_of(st.is_("RUNNING", "BOLUS"), v.alarm.active[alarms.DOSE_LIMIT]),
                                   v.flow.rate <= kvo_rate(v.prog, v.cfg))),
    StateInv("INV-BOL-004", ("REQ-BOL-004",),
             "no bolus runs while any alarm is active",
             lambda st, v: implies(st.is_("BOLUS"), not_(annunciation.any_active(v.alarm)))),
    StateInv("INV-ALM-004", ("REQ-ALM-004",),
             "in ALARM a stop-flow alarm is active and the motor is stopped",
             lambda st, v: implies(st.is_("ALARM"), all_of(annunciation.stop_active(v.alarm), v.flow.rate == 0))),
    StateInv("INV-ALM-006", ("REQ-ALM-006",),
             "audio is never paused for more than 2 minutes",
             lambda st, v: v.alarm.silence_until <= v.flow.clock + SILENCE_MAX_MS),
    StateInv("INV-ALM-002", ("REQ-ALM-002", "REQ-ALM-001"),
             "the annunciated alarm is active and no active alarm has a higher priority",
             lambda st, v: _annunciation_ok(v)),
    StateInv("INV-FLT-001", ("REQ-FLT-001",),
             "after a failed self-test the pump is in FAILED or FAILSAFE, never anywhere else",
             lambda st, v: implies(v.alarm.cause[alarms.SELF_TEST_FAILED], st.is_("FAILED", "FAILSAFE"))),
    StateInv("INV-DRG-003", ("REQ-DRG-003",),
             "a program outside a soft limit of its library bounds (whatever the mode it was entered in) never "
             "delivers unconfirmed",
             lambda st, v: implies(all_of(st.is_("RUNNING", "BOLUS", "KVO"), v.prog.loaded,
                                          any_of(v.prog.needs_confirm, soft_exceeded(v.prog))),
                                   v.marks.confirmed)),
    StateInv("INV-LIB-001", ("REQ-DRG-002", "REQ-DRG-005", "REQ-DOS-007", "REQ-RTE-001"),
             "a loaded program is within its library bounds: every step rate and basal + bolus within the rate hard "
             "max, the maintenance rate at least the hard min, bolus, clinician-bolus, loading, intermittent and VTBI "
             "volumes within theirs, an allowed route, and the library's dose window kept (equal or tighter)",
             lambda st, v: implies(v.prog.loaded, within_library(v.prog))),
    StateInv("INV-LIB-002", ("REQ-DRG-002", "REQ-DRG-005"),
             "the commanded rate never exceeds the library's rate hard max for this patient",
             lambda st, v: implies(all_of(v.prog.loaded, st.is_("RUNNING", "BOLUS", "KVO")),
                                   v.flow.rate <= v.prog.lib.rate_max)),
    StateInv("INV-PRM-002", ("REQ-PRM-002", "REQ-PRM-001"),
             "primed volume never exceeds prime_max and is never counted as delivered",
             lambda st, v: all_of(v.flow.primed <= v.cfg.prime_max,
                                  v.flow.delivered + v.flow.kvo_vol + v.flow.primed == v.flow.odo - v.marks.odo0)),
    StateInv("INV-RES-001", ("REQ-RES-001",),
             "the motor never draws more than the container holds",
             lambda st, v: implies(v.prog.loaded, reservoir_used(v) + _budget(v) <= maximum(v.prog.reservoir_vol,
                                                                                             reservoir_used(v)))),
    StateInv("INV-ALM-007", ("REQ-ALM-004", "REQ-OCC-002", "REQ-AIR-001", "REQ-AIR-002", "REQ-DOR-001",
                             "REQ-RES-001", "REQ-PWR-002"),
             "a stop-flow cause in a state that annunciates is an active alarm",
             lambda st, v: implies(st.is_(*ALARMABLE),
                                   all_of(*(implies(v.alarm.cause[i], v.alarm.active[i])
                                            for i in alarms.STOP_ALARMS)))),
    StateInv("INV-PWR-001", ("REQ-PWR-001",), "below the low-battery threshold on battery, low_battery is active",
             lambda st, v: implies(annunciation.battery_low(v.marks.on_mains, v.marks.battery_min, v.cfg),
                                   v.alarm.active[alarms.LOW_BATTERY])),
    StateInv("INV-DEL-006", ("REQ-DEL-005", "REQ-DEL-006"),
             "in KVO the VTBI is delivered and vtbi_complete is active; near the end near_end is active",
             lambda st, v: all_of(
                 implies(st.is_("KVO"), all_of(v.flow.delivered >= v.prog.vtbi, v.alarm.active[alarms.VTBI_COMPLETE])),
                 implies(all_of(st.is_("RUNNING", "BOLUS"), basal_rate(v) > 0,
                                v.prog.vtbi - v.flow.delivered <= basal_rate(v) * v.cfg.near_end_ms),
                         v.alarm.active[alarms.NEAR_END]))),
    StateInv("INV-PRG-003", ("REQ-PRG-003", "REQ-PRG-004"),
             "unattended programming and a long pause are annunciated",
             lambda st, v: all_of(
                 implies(all_of(st.is_("READY"), v.flow.clock - v.marks.touched_at >= v.cfg.callback_ms),
                         v.alarm.active[alarms.CALLBACK]),
                 implies(all_of(st.is_("PAUSED"), v.flow.clock - v.marks.paused_at >= v.cfg.paused_limit_ms),
                         v.alarm.active[alarms.PAUSED_TOO_LONG]))),
    StateInv("INV-RES-002", ("REQ-RES-002", "REQ-RES-001"),
             "when the container lasts no longer than near_end_ms at the programmed (or KVO) rate, "
             "reservoir_low is active",
             lambda st, v: all_of(
                 implies(all_of(st.is_("RUNNING", "BOLUS"), basal_rate(v) > 0,
                                reservoir_left(v) <= basal_rate(v) * v.cfg.near_end_ms),
                         v.alarm.active[alarms.RESERVOIR_LOW]),
                 implies(all_of(st.is_("KVO"), reservoir_left(v) <= kvo_rate(v.prog, v.cfg) * v.cfg.near_end_ms,
                                kvo_rate(v.prog, v.cfg) > 0),
                         v.alarm.active[alarms.RESERVOIR_LOW]))),
    StateInv("INV-OCC-006", ("REQ-OCC-006",),
             "while a review of repeated stop-flow alarms is due nothing flows",
             lambda st, v: implies(v.alarm.cause[alarms.REPEATED_STOPS], not_(st.is_(*FLOWING)))),
    StateInv("INV-TMP-001", ("REQ-TMP-001",),
             "nothing flows with the mechanism at or above the overheat threshold or with overheat active; "
             "where alarms annunciate, overheat is then active; outside the operating range "
             "temperature_range is active",
             lambda st, v: all_of(
                 implies(st.is_(*FLOWING), all_of(not_(annunciation.overheated(v.marks.temp_c10, v.cfg)),
                                                  not_(v.alarm.active[alarms.OVERHEAT]))),
                 implies(annunciation.overheated(v.marks.temp_c10, v.cfg),
                         all_of(v.flow.rate == 0, implies(st.is_(*ALARMABLE), v.alarm.active[alarms.OVERHEAT]))),
                 implies(all_of(st.is_(*ALARMABLE), any_of(v.marks.temp_c10 < v.cfg.temp_min_c10,
                                                           v.marks.temp_c10 > v.cfg.temp_max_c10)),
                         v.alarm.active[alarms.TEMPERATURE_RANGE]))),
    StateInv("INV-UND-001", ("REQ-THR-001", "REQ-THR-002", "REQ-DEL-007"),
             "no silent under-infusion: an intermittent program never waits past its interval; a basal step that "
             "should flow flows at its rate with room to move unless an alarm is active; KVO runs at the KVO rate",
             lambda st, v: all_of(
                 implies(all_of(st.is_("RUNNING", "BOLUS"), v.prog.interval_ms > 0, waiting(v)),
                         v.flow.clock < v.marks.cycle_start + v.prog.interval_ms),
                 implies(all_of(st.is_("RUNNING"), not_(waiting(v)), basal_rate(v) > 0,
                                not_(annunciation.any_active(v.alarm))),
                         all_of(v.flow.rate >= minimum(basal_rate(v), rate_cap(v.prog, v.cfg)),
                                # room to move, or a finished step that the next tick ends (after a restore)
                                any_of(v.flow.cap > v.flow.odo,
                                       all_of(step_finite(v.prog, v.flow.step),
                                              v.flow.step_done >= pick(v.flow.step, v.prog.step_vol))))),
                 implies(st.is_("KVO"), v.flow.rate == kvo_rate(v.prog, v.cfg)))),
    StateInv("INV-THR-001", ("REQ-THR-001", "REQ-THR-002", "REQ-BOL-001"),
             "the rate is the current step's rate (plus the bolus), 0 between intermittent doses",
             lambda st, v: all_of(
                 implies(all_of(st.is_("RUNNING"), not_(kvo_limited(v)), not_(waiting(v))),
                         v.flow.rate == minimum(pick(v.flow.step, v.prog.step_rate), rate_cap(v.prog, v.cfg))),
                 implies(all_of(st.is_("RUNNING"), waiting(v)), v.flow.rate == 0),
                 implies(st.is_("BOLUS"),
                         v.flow.rate == minimum(basal_rate(v) + v.bolus.rate, rate_cap(v.prog, v.cfg))))),
)


PERMITTED: dict[str, tuple[int, ...]] = {
    k: ((Actor.PATIENT, Actor.CLINICIAN) if k == "patient_bolus" else (Actor.ADMIN,) if k == "configure"
        else (Actor.CLINICIAN, Actor.ADMIN) if k in USER_KINDS else (Actor.SYSTEM,))
    for k in KINDS
}


def _changed(s0: StateView, v0: Vars, s1: StateView, v1: Vars) -> bool:
    """The step changed the state or a variable (a refusal changes nothing)."""
    return or_else(not_(same(v1, v0)), lambda: any_of(*(all_of(s0.is_(n), not_(s1.is_(n))) for n in STATES)))


def _annunciation_ok(v: Vars) -> bool:
    ann = annunciation.annunciated(v.alarm)
    active = v.alarm.active

    def shown_rightly(j: int) -> bool:  # alarm j is active and no alarm of a higher priority is
        higher_active = any_of(*(active[i] for i in range(alarms.N_ALARMS) if alarms.PRIORITY[i] > alarms.PRIORITY[j]))
        return all_of(active[j], not_(higher_active))

    return all_of(implies(ann == -1, not_(annunciation.any_active(v.alarm))),
                  *(implies_then(ann == j, partial(shown_rightly, j)) for j in range(alarms.N_ALARMS)))


def _acknowledged_gone(e: Event, v0: Vars, i: int) -> bool:
    """Alarm ``i`` may stop being active only on an acknowledge with its cause gone."""
    return all_of(e.kind == "acknowledge", not_(v0.alarm.cause[i]))


def _permitted(e: Event, kind: str) -> bool:
    return any_of(*(e.actor == a for a in PERMITTED[kind]))


def _bolus_started(pre: Vars, post: Vars) -> bool:
    return post.bolus.times[0] != pre.bolus.times[0]


_SENSED = (alarms.OCC_DOWN, alarms.OCC_UP, alarms.AIR, alarms.DOOR, alarms.MOTOR_FAULT, alarms.WATCHDOG,
           alarms.SELF_TEST_FAILED)


def _window_used(v: Vars, j: int) -> int:
    return windows.used(v.flow.wcur[j], v.win[j])


STEP_INVARIANTS: tuple[StepInv, ...] = (
    StepInv("STEP-DOS-004", ("REQ-DOS-004", "REQ-DOS-005"),
            "delivery never takes a dose window above its limit (basal, bolus and KVO counted)",
            lambda s0, v0, e, s1, v1: all_of(*(
                implies(all_of(v1.prog.lim_vol[j] > 0, _window_used(v1, j) > _window_used(v0, j)),
                        _window_used(v1, j) <= v1.prog.lim_vol[j])
                for j in range(N_WINDOWS)))),
    StepInv("STEP-DOS-005", ("REQ-DOS-004", "REQ-DOS-005"),
            "every volume delivered as therapy or KVO is counted in every dose window (only the oldest bucket "
            "leaves a window, when it rotates)",
            lambda s0, v0, e, s1, v1: implies(
                not_(any_of(e.kind == "program", e.kind == "clear", e.kind == "new_line")),
                all_of(*(_window_used(v1, j) == _window_used(v0, j)
                         + (v1.flow.delivered + v1.flow.kvo_vol - v0.flow.delivered - v0.flow.kvo_vol)
                         - ite(v1.win[j].end == v0.win[j].end, 0, v0.win[j].closed[-1])
                         for j in range(N_WINDOWS))))),
    StepInv("STEP-BOL-002", ("REQ-BOL-002",),
            "a patient bolus starts only when the lockout since the previous one has passed",
            lambda s0, v0, e, s1, v1: implies(_bolus_started(v0, v1),
                                              v0.flow.clock - v0.bolus.times[0] >= v0.prog.lockout_ms)),
    StepInv("STEP-BOL-003", ("REQ-BOL-003",),
            "a patient bolus starts only when fewer than pca_max_h were given in the last hour",
            lambda s0, v0, e, s1, v1: implies(_bolus_started(v0, v1), boluses_last_hour(v0) < v0.prog.pca_max_h)),
    StepInv("STEP-BOL-004", ("REQ-BOL-004",),
            "no bolus starts while any alarm is active",
            lambda s0, v0, e, s1, v1: implies(all_of(s1.is_("BOLUS"), not_(s0.is_("BOLUS"))),
                                              not_(annunciation.any_active(v0.alarm)))),
    StepInv("STEP-ALM-004", ("REQ-ALM-004",),
            "a stop-flow alarm stops the motor in the step it is raised",
            lambda s0, v0, e, s1, v1: implies(
                any_of(*(all_of(v1.alarm.active[i], not_(v0.alarm.active[i])) for i in alarms.STOP_ALARMS)),
                all_of(v1.flow.rate == 0, v1.flow.cap == v1.flow.odo))),
    StepInv("STEP-ALM-005", ("REQ-ALM-005",),
            "a latched alarm clears only by acknowledge and only once its cause is gone",
            lambda s0, v0, e, s1, v1: all_of(*(
                implies_then(all_of(v0.alarm.active[i], not_(v1.alarm.active[i])),
                             partial(_acknowledged_gone, e, v0, i))
                for i in range(alarms.N_ALARMS) if alarms.LATCHING[i]))),
    StepInv("STEP-ALM-006", ("REQ-ALM-006",),
            "the audio-pause deadline moves later only on a clinician's silence request (with INV-ALM-006: "
            "audio returns within 2 minutes of the last request while the cause persists)",
            lambda s0, v0, e, s1, v1: implies(all_of(v1.alarm.silence_until > v0.alarm.silence_until,
                                                     v1.alarm.silence_until > v1.flow.clock),
                                              all_of(e.kind == "silence", any_of(e.actor == Actor.CLINICIAN,
                                                                                 e.actor == Actor.ADMIN)))),
    StepInv("STEP-OCC-006", ("REQ-OCC-006", "REQ-ROL-001"),
            "acknowledging the third identical stop-flow alarm within 10 min never leaves ALARM, and only a "
            "clinician's review clears the review-due flag",
            lambda s0, v0, e, s1, v1: all_of(
                implies(all_of(s0.is_("ALARM"), e.kind == "acknowledge", third_repeat(v0)), s1.is_("ALARM")),
                implies(all_of(v0.alarm.cause[alarms.REPEATED_STOPS], not_(v1.alarm.cause[alarms.REPEATED_STOPS])),
                        all_of(e.kind == "review", any_of(e.actor == Actor.CLINICIAN, e.actor == Actor.ADMIN))))),
    StepInv("STEP-FLT-001", ("REQ-FLT-001",),
            "nothing leaves FAILED but a fault into FAILSAFE",
            lambda s0, v0, e, s1, v1: implies(s0.is_("FAILED"), s1.is_("FAILED", "FAILSAFE"))),
    StepInv("STEP-FLT-004", ("REQ-FLT-004",),
            "FAILSAFE is absorbing",
            lambda s0, v0, e, s1, v1: implies(s0.is_("FAILSAFE"), s1.is_("FAILSAFE"))),
    StepInv("STEP-ROL-001", ("REQ-ROL-001", "REQ-ROL-002"),
            "no patient event changes the program, the pump limits or the drug library",
            lambda s0, v0, e, s1, v1: implies(e.actor == Actor.PATIENT,
                                              all_of(same(v1.prog, v0.prog), same(v1.cfg, v0.cfg)))),
    StepInv("STEP-ROL-004", ("REQ-ROL-001", "REQ-ROL-002", "REQ-ROL-003"),
            "every event kind changes anything only from the actors allowed for it (stated per kind, so a new row "
            "for that trigger inherits it): configure by an administrator, a PCA demand by the patient or a "
            "clinician, every other user event by a clinician or administrator, sensors and timers by the pump",
            lambda s0, v0, e, s1, v1: implies_then(
                _changed(s0, v0, s1, v1),
                lambda: all_of(*(implies_then(e.kind == k, partial(_permitted, e, k)) for k in KINDS)))),
    StepInv("STEP-PRM-001", ("REQ-PRM-001", "REQ-PRM-002"),
            "priming starts only on a clinician's prime with the patient line confirmed disconnected",
            lambda s0, v0, e, s1, v1: implies(
                all_of(s1.is_("PRIMING"), not_(s0.is_("PRIMING"))),
                all_of(e.kind == "prime", e.flag, any_of(e.actor == Actor.CLINICIAN, e.actor == Actor.ADMIN),
                       v1.marks.prime_target <= v1.cfg.prime_max))),
    StepInv("STEP-AIR-003", ("REQ-AIR-001", "REQ-RTE-001"),
            "a bubble above the limit of the program's route raises air_in_line (each route its own limit)",
            lambda s0, v0, e, s1, v1: implies(
                all_of(e.kind == "air", e.actor == Actor.SYSTEM,
                       e.volume > pick(v0.prog.route, v0.cfg.bubble_limit_nl)),
                v1.alarm.cause[alarms.AIR])),
    StepInv("STEP-REV-001", ("REQ-REV-001", "REQ-OCC-004", "REQ-DEL-003"),
            "the only reverse motion ever commanded is one pressure relief of at most 2 mL, when a downstream "
            "occlusion alarm is raised, with the motor stopped (INV-DEL-005 covers every rate command)",
            lambda s0, v0, e, s1, v1: implies(
                relief_vu(v0, v1) > 0,
                all_of(relief_vu(v0, v1) <= 2 * VU_PER_ML, v1.alarm.active[alarms.OCC_DOWN],
                       not_(v0.alarm.active[alarms.OCC_DOWN]), v1.flow.rate == 0, v1.flow.cap == v1.flow.odo))),
    StepInv("STEP-DEL-004", ("REQ-DEL-004", "REQ-ALM-004"),
            "flow starts only from READY, STOPPED or PAUSED by a clinician with no stop-flow condition",
            lambda s0, v0, e, s1, v1: implies(
                all_of(s1.is_("RUNNING"), s0.is_("READY", "STOPPED", "PAUSED")),
                all_of(any_of(e.actor == Actor.CLINICIAN, e.actor == Actor.ADMIN),
                       not_(annunciation.stop_cause(v0.alarm)), not_(annunciation.stop_active(v0.alarm))))),
    StepInv("STEP-CFG-002", ("REQ-CFG-002",),
            "time advances only by ticks of 1 ms to max_tick_ms, or by longer ones only inside the state's quiet "
            "horizon (no deadline, bucket end, alarm cause or cap inside them)",
            lambda s0, v0, e, s1, v1: implies(v1.flow.clock != v0.flow.clock, all_of(
                e.kind == "tick", 1 <= e.dt_ms,
                or_else(e.dt_ms <= v0.cfg.max_tick_ms,
                        lambda: any_of(*(all_of(s0.is_(s), quiet(v0, s, e.dt_ms)) for s in STATES)))))),
    StepInv("STEP-ROL-003", ("REQ-ROL-003",), "sensor-held causes change only on events from the pump itself",
            lambda s0, v0, e, s1, v1: implies(
                any_of(*(v1.alarm.cause[i] != v0.alarm.cause[i] for i in _SENSED)), e.actor == Actor.SYSTEM)),
    StepInv("STEP-CFG-001", ("REQ-CFG-001", "REQ-ROL-002"),
            "the pump limits change only by an administrator's valid configuration",
            lambda s0, v0, e, s1, v1: implies_then(not_(same(v1.cfg, v0.cfg)),
                                                   lambda: all_of(e.kind == "configure", limits_ok(e.limits),
                                                                  e.actor == Actor.ADMIN))),
    StepInv("STEP-PRG-001", ("REQ-PRG-001", "REQ-DRG-002", "REQ-DEL-009"),
            "the program changes only by a clinician's valid program, or by clearing it",
            lambda s0, v0, e, s1, v1: implies_then(
                not_(same(v1.prog, v0.prog)),
                lambda: any_of(all_of(e.kind == "program", program_ok(e.program, v0.cfg),
                                      any_of(e.actor == Actor.CLINICIAN, e.actor == Actor.ADMIN)),
                               e.kind == "clear"))),
    StepInv("STEP-PRG-005", ("REQ-PRG-005",), "a program in use (priming to alarm) is never changed in place",
            lambda s0, v0, e, s1, v1: implies(s0.is_("PRIMING", "RUNNING", "BOLUS", "PAUSED", "KVO", "ALARM"),
                                              same(v1.prog, v0.prog))),
    StepInv("STEP-DOS-006", ("REQ-DOS-006",), "loading or clearing a program never forgets delivered dose",
            lambda s0, v0, e, s1, v1: implies(
                any_of(e.kind == "program", e.kind == "clear"),
                all_of(*(_window_used(v1, j) >= _window_used(v0, j) for j in range(N_WINDOWS))))),
    StepInv("STEP-BOL-005", ("REQ-BOL-005", "REQ-BOL-006"),
            "a clinician bolus starts only within its volume limit and fitting the VTBI and every dose window",
            lambda s0, v0, e, s1, v1: implies(
                all_of(s1.is_("BOLUS"), not_(s0.is_("BOLUS")), e.kind == "clinician_bolus"),
                all_of(0 < e.volume, e.volume <= v0.prog.clin_bolus_max, e.rate * e.duration_ms <= e.volume,
                       e.rate * e.duration_ms <= v0.prog.vtbi - v0.flow.delivered,
                       e.rate * e.duration_ms <= dose_allowance(v0, v0.prog.vtbi)))),
    StepInv("STEP-LIB-003", ("REQ-DRG-005", "REQ-BOL-005", "REQ-BOL-001"),
            "a bolus (patient or clinician) starts only within the library's bolus hard max for this patient",
            lambda s0, v0, e, s1, v1: all_of(
                implies(_bolus_started(v0, v1), v0.prog.pca_rate * v0.prog.pca_ms <= v0.prog.lib.bolus_max),
                implies(all_of(s1.is_("BOLUS"), not_(s0.is_("BOLUS")), e.kind == "clinician_bolus"),
                        all_of(e.volume <= v0.prog.lib.clin_bolus_max,
                               e.rate * e.duration_ms <= v0.prog.lib.clin_bolus_max)))),
    StepInv("STEP-LIB-004", ("REQ-DRG-005", "REQ-DOS-006"),
            "no program event yields a program looser than its library bounds, or a dose-window ring that forgot "
            "dose still counting",
            lambda s0, v0, e, s1, v1: implies_then(
                e.kind == "program",
                lambda: all_of(implies(v1.prog.loaded, within_library(v1.prog)),
                               *(_window_used(v1, j) >= _window_used(v0, j) for j in range(N_WINDOWS))))),
    StepInv("STEP-BOL-006", ("REQ-BOL-006", "REQ-BOL-001"),
            "a patient bolus starts only when its volume fits the VTBI and every dose window",
            lambda s0, v0, e, s1, v1: implies(
                _bolus_started(v0, v1),
                all_of(v0.prog.pca_rate * v0.prog.pca_ms <= v0.prog.vtbi - v0.flow.delivered,
                       v0.prog.pca_rate * v0.prog.pca_ms <= dose_allowance(v0, v0.prog.vtbi)))),
)


def _power_cycle_ok(s0: StateView, v0: Vars, e: Event, s1: StateView, v1: Vars) -> bool:
    """After a power cycle with the mechanism at ``e.volume`` (the pushed-to odometer): POST, the
    odometer there, every counter raised by exactly what moved after the snapshot (therapy or KVO
    in their channel and every dose window; priming in its own), nothing else forgotten."""
    extra = e.volume - v0.flow.odo
    therapy = s0.is_("RUNNING", "BOLUS")
    counted = ite(s0.is_("RUNNING", "BOLUS", "KVO"), extra, 0)
    f0, f1 = v0.flow, v1.flow
    return all_of(
        s1.is_("POST"), f1.odo == e.volume, f1.cap == f1.odo, f1.rate == 0, f1.clock == f0.clock,
        f1.delivered + f1.kvo_vol + f1.primed == f0.delivered + f0.kvo_vol + f0.primed + extra,
        f1.delivered == f0.delivered + ite(therapy, extra, 0),
        *(_window_used(v1, j) >= _window_used(v0, j) + counted for j in range(N_WINDOWS)),
        same(v1.bolus.times, v0.bolus.times), same(v1.prog, v0.prog), same(v1.line, v0.line),
        same(v1.win, v0.win),
        implies(all_of(v0.prog.loaded, e.volume > v0.marks.odo0), v1.alarm.active[alarms.POWER_LOSS]),
    )


REC_001 = StepInv(
    "REC-001", ("REQ-REC-001", "REQ-REC-002"),
    "a power cycle (the mechanism anywhere the write-ahead rule allows) restarts in POST with nothing delivered "
    "twice and nothing forgotten: the odometer where the mechanism stopped, the therapy, KVO and priming totals and "
    "every dose window raised by what moved after the snapshot, lockouts, program, line and clock kept, power_loss "
    "raised",
    lambda s0, v0, e, s1, v1: implies(e.kind == "power_cycle", _power_cycle_ok(s0, v0, e, s1, v1)),
    power=True,
)
