"""THE transition table: the one definition of the pump's behaviour.

Theory of operation
-------------------
Each ``Row`` is (trigger, source states, destination, guard conditions, change,
requirement ids). ``dest=None`` is an internal transition: the state stays, the change
applies. For one (state, trigger) the rows are tried in table order and the first whose
guard holds fires - exactly what ``transitions`` does, and what the Z3 encoder mirrors
with a nested ``If`` in the same order. When no row fires the event is refused and nothing
changes. Every fired row then runs ``effects.settle`` for the state it ends in.

The runtime (``controller.core.machine``), the proofs (``proofs/``), the diagram
(``controller.core.diagram``) and the evidence report all read this tuple; no transition is
defined anywhere else.

Rules
1. Order is meaning: specific rows (alarm, completion) before the general internal row.
2. A row without conditions ends its (state, trigger) group: rows after it are unreachable
   and rejected by ``check_table`` at import.
3. Every state accepts ``tick`` (time always passes) and every non-latched state can be left.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass

from controller.core import alarms as A
from controller.core import effects as E
from controller.core import guards as G
from controller.core.events import KINDS, Event
from controller.core.logic import all_of
from controller.core.state import FLOWING, LATCHED, STATES, Vars
from controller.errors import TableError


@dataclass(frozen=True, slots=True)
class Row:
    trigger: str
    sources: tuple[str, ...]
    dest: str | None
    conds: tuple[G.Cond, ...]
    change: E.Change
    reqs: tuple[str, ...]
    note: str = ""

    def dest_for(self, source: str) -> str:
        return self.dest if self.dest is not None else source

    def guard(self, v: Vars, e: Event, source: str) -> bool:
        """Dual-use conjunction of the conditions (all evaluated; see logic rule 3)."""
        return all_of(*(c.pred(v, e, source) for c in self.conds))

    def apply(self, v: Vars, e: Event, source: str) -> Vars:
        """The variables after this row fires from ``source``."""
        dest = self.dest_for(source)
        return E.settle(self.change(v, e, source), dest, v.alarm if dest == source else None)

    @property
    def label(self) -> str:
        conds = " & ".join(c.name for c in self.conds if c.name not in _ROLE_CONDS)
        return f"{self.trigger}[{conds}]" if conds else self.trigger


_ROLE_CONDS = frozenset({"by_system", "by_clinician", "by_admin", "by_patient_or_clinician", "tick_ok",
                         "tick_ok_or_quiet"})
ALL = STATES
NOT_FLOWING = tuple(s for s in STATES if s not in FLOWING)
NOT_BOLUS = tuple(s for s in STATES if s != "BOLUS")
SYS = (G.by_system,)
CLIN = (G.by_clinician,)
TICK = (G.by_system, G.tick_ok)
QUIET_TICK = (G.by_system, G.tick_ok_or_quiet)  # the common tick row of each state (DEC-040)
START_OK = (G.by_clinician, G.confirmed, G.no_stop_condition, G.vtbi_left, G.reservoir_has_volume)


def _r(trigger: str, sources: str | tuple[str, ...], dest: str | None, conds: tuple[G.Cond, ...],
       change: E.Change, *reqs: str, note: str = "") -> Row:
    srcs = (sources,) if isinstance(sources, str) else tuple(sources)
    return Row(trigger, srcs, dest, conds, change, reqs, note)


TABLE: tuple[Row, ...] = (
    # --- time: the common case first (disjoint from the special rows after it) ----------
    _r("tick", "POST", None, (*QUIET_TICK, G.unless(G.post_timed_out)), E.tick, "REQ-FLT-001"),
    _r("tick", "PRIMING", None, (*QUIET_TICK, G.unless(G.reservoir_empties, G.prime_completes)), E.tick,
       "REQ-PRM-002", "REQ-RES-001"),
    _r("tick", "RUNNING", None, (*QUIET_TICK, G.unless(G.reservoir_empties, G.vtbi_completes)), E.tick,
       "REQ-DEL-001", "REQ-DEL-003", "REQ-DOS-004"),
    _r("tick", "BOLUS", None,
       (*QUIET_TICK, G.unless(G.reservoir_empties, G.vtbi_completes, G.bolus_ends, G.tick_raises_alarm)), E.tick,
       "REQ-DEL-001", "REQ-BOL-001", "REQ-BOL-004", "REQ-DOS-004"),
    _r("tick", "KVO", None, (*QUIET_TICK, G.unless(G.reservoir_empties)), E.tick, "REQ-DEL-007", "REQ-DOS-005"),
    _r("tick", tuple(s for s in ALL if s not in ("POST", *FLOWING)), None, QUIET_TICK, E.tick, "REQ-DEL-004"),
    # --- time: completions and time-outs -----------------------------------------------------
    _r("tick", "POST", "FAILED", (*TICK, G.post_timed_out), E.chain(E.tick, E.set_cause(A.SELF_TEST_FAILED, True)),
       "REQ-FLT-001", note="self-test did not report in time"),
    _r("tick", FLOWING, "ALARM", (*TICK, G.reservoir_empties), E.tick, "REQ-RES-001", "REQ-ALM-004"),
    _r("tick", "PRIMING", "READY", (*TICK, G.prime_completes), E.tick_to_ready, "REQ-PRM-002"),
    _r("tick", ("RUNNING", "BOLUS"), "KVO", (*TICK, G.vtbi_completes, G.end_kvo), E.tick,
       "REQ-DEL-001", "REQ-DEL-005"),
    _r("tick", ("RUNNING", "BOLUS"), "STOPPED", (*TICK, G.vtbi_completes), E.tick, "REQ-DEL-001", "REQ-DEL-005"),
    _r("tick", "BOLUS", "RUNNING", (*TICK, G.bolus_ends), E.tick, "REQ-BOL-001"),
    _r("tick", "BOLUS", "RUNNING", (*TICK, G.tick_raises_alarm), E.tick, "REQ-BOL-004",
       note="any alarm ends a bolus in the step it is raised"),
    # --- power-on --------------------------------------------------------------------------
    # after a power loss (controller.core.recovery) the program survives: back PAUSED or READY, never running
    _r("self_test", "POST", "PAUSED", (*SYS, G.self_test_passed, G.restored_program, G.restored_infusion), E.pause,
       "REQ-FLT-001", "REQ-REC-001"),
    _r("self_test", "POST", "READY", (*SYS, G.self_test_passed, G.restored_program), E.touch,
       "REQ-FLT-001", "REQ-REC-001"),
    _r("self_test", "POST", "IDLE", (*SYS, G.self_test_passed), E.nothing, "REQ-FLT-001"),
    _r("self_test", "POST", "FAILED", (*SYS, G.self_test_failed), E.set_cause(A.SELF_TEST_FAILED, True),
       "REQ-FLT-001"),
    # --- configuration and programming -----------------------------------------------------
    _r("configure", "IDLE", None, (G.by_admin, G.no_program, G.limits_valid, G.ticks_fit_windows), E.configure,
       "REQ-CFG-001", "REQ-ROL-002"),
    _r("program", ("IDLE", "READY", "STOPPED"), "READY", (*CLIN, G.program_valid, G.history_compatible),
       E.load_program, "REQ-PRG-001", "REQ-ROL-001", "REQ-DOS-006", "REQ-DRG-005"),
    _r("new_line", "IDLE", None, CLIN, E.new_line, "REQ-DOS-006",
       note="a new patient line: the dose history of the old one ends (DEC-035)"),
    _r("confirm_soft_limit", "READY", None, (*CLIN, G.confirmation_pending), E.confirm, "REQ-DRG-003"),
    _r("clear", ("READY", "STOPPED"), "IDLE", CLIN, E.clear_program, "REQ-PRG-001"),
    _r("prime", "READY", "PRIMING",
       (*CLIN, G.has_program, G.line_disconnected, G.prime_volume_ok, G.no_stop_condition, G.reservoir_has_volume),
       E.start_prime, "REQ-PRM-001", "REQ-PRM-002"),
    # --- delivery --------------------------------------------------------------------------
    _r("start", ("READY", "STOPPED"), "RUNNING", START_OK, E.start, "REQ-DEL-001", "REQ-DRG-003", "REQ-FLT-001"),
    _r("pause", ("RUNNING", "BOLUS"), "PAUSED", CLIN, E.pause, "REQ-DEL-004"),
    _r("resume", "PAUSED", "RUNNING", START_OK, E.resume, "REQ-DEL-001", "REQ-THR-002"),
    _r("stop", "PRIMING", "READY", CLIN, E.touch, "REQ-PRM-002"),
    _r("stop", ("RUNNING", "BOLUS", "PAUSED", "KVO", "ALARM"), "STOPPED", CLIN, E.nothing, "REQ-DEL-004"),
    # --- boluses ---------------------------------------------------------------------------
    _r("patient_bolus", "RUNNING", "BOLUS",
       (G.by_patient_or_clinician, G.pca_on, G.no_alarm, G.lockout_over, G.under_hourly_count, G.pca_fits),
       E.patient_bolus, "REQ-BOL-001", "REQ-BOL-002", "REQ-BOL-003", "REQ-BOL-004", "REQ-DOS-004"),
    _r("clinician_bolus", "RUNNING", "BOLUS",
       (*CLIN, G.clin_bolus_on, G.no_alarm, G.clin_bolus_ok, G.clin_bolus_fits),
       E.clinician_bolus, "REQ-BOL-005", "REQ-BOL-004", "REQ-DOS-004"),
    # --- alarm handling --------------------------------------------------------------------
    # (never from BOLUS: no alarm is ever active there, REQ-BOL-004 - the proofs check this)
    _r("silence", NOT_BOLUS, None, (*CLIN, G.alarm_to_silence), E.silence, "REQ-ALM-006"),
    _r("acknowledge", "ALARM", None, (*CLIN, G.clearable, G.ack_clears_all_stops, G.repeats_third),
       E.chain(E.count_stop_ack, E.acknowledge), "REQ-OCC-006", "REQ-ALM-005",
       note="the third identical stop-flow alarm within 10 min: stays in ALARM until a review"),
    _r("acknowledge", "ALARM", "PAUSED", (*CLIN, G.clearable, G.ack_clears_all_stops),
       E.chain(E.count_stop_ack, E.acknowledge, E.pause), "REQ-ALM-005", "REQ-OCC-006"),
    _r("acknowledge", NOT_BOLUS, None, (*CLIN, G.clearable), E.acknowledge, "REQ-ALM-005"),
    _r("review", "ALARM", "PAUSED", (*CLIN, G.review_due, G.review_clears_all_stops), E.chain(E.review, E.pause),
       "REQ-OCC-006"),
    _r("review", NOT_FLOWING, None, (*CLIN, G.review_due), E.review, "REQ-OCC-006",
       note="never while flowing: a due review blocks every start (INV-OCC-006)"),
    # --- sensors: a stop-flow cause while flowing goes to ALARM in the same step -----------
    _r("door_open", FLOWING, "ALARM", SYS, E.set_cause(A.DOOR, True), "REQ-DOR-001", "REQ-ALM-004"),
    _r("door_open", NOT_FLOWING, None, SYS, E.set_cause(A.DOOR, True), "REQ-DOR-001"),
    _r("door_close", ALL, None, SYS, E.set_cause(A.DOOR, False), "REQ-DOR-001"),
    _r("occlusion", FLOWING, "ALARM", (*SYS, G.site_ok), E.occlusion(True), "REQ-OCC-001", "REQ-ALM-004"),
    _r("occlusion", NOT_FLOWING, None, (*SYS, G.site_ok), E.occlusion(True), "REQ-OCC-001"),
    _r("occlusion_clear", ALL, None, (*SYS, G.site_ok), E.occlusion(False), "REQ-OCC-001"),
    _r("air", FLOWING, "ALARM", (*SYS, G.volume_nonneg, G.air_stops), E.air, "REQ-AIR-001", "REQ-AIR-002"),
    _r("air", ALL, None, (*SYS, G.volume_nonneg), E.air, "REQ-AIR-001", "REQ-AIR-002"),
    _r("reservoir", FLOWING, "ALARM", (*SYS, G.flag_set), E.reservoir, "REQ-RES-001", "REQ-ALM-004"),
    _r("reservoir", ALL, None, SYS, E.reservoir, "REQ-RES-001"),
    _r("battery", FLOWING, "ALARM", (*SYS, G.level_nonneg, G.battery_depletes), E.battery, "REQ-PWR-002"),
    _r("battery", "BOLUS", "RUNNING", (*SYS, G.level_nonneg, G.battery_alarms), E.battery, "REQ-BOL-004"),
    _r("battery", ALL, None, (*SYS, G.level_nonneg), E.battery, "REQ-PWR-001"),
    _r("temperature", FLOWING, "ALARM", (*SYS, G.overheats), E.temperature, "REQ-TMP-001", "REQ-ALM-004"),
    _r("temperature", "BOLUS", "RUNNING", (*SYS, G.temperature_alarms), E.temperature, "REQ-BOL-004"),
    _r("temperature", ALL, None, SYS, E.temperature, "REQ-TMP-001"),
    # --- internal faults latch FAILSAFE ----------------------------------------------------
    _r("motor_fault", tuple(s for s in ALL if s != "FAILSAFE"), "FAILSAFE", SYS, E.set_cause(A.MOTOR_FAULT, True),
       "REQ-FLT-003", "REQ-FLT-004"),
    _r("motor_fault", "FAILSAFE", None, SYS, E.set_cause(A.MOTOR_FAULT, True), "REQ-FLT-003", "REQ-FLT-004"),
    _r("watchdog", tuple(s for s in ALL if s != "FAILSAFE"), "FAILSAFE", SYS, E.set_cause(A.WATCHDOG, True),
       "REQ-FLT-002", "REQ-FLT-004"),
    _r("watchdog", "FAILSAFE", None, SYS, E.set_cause(A.WATCHDOG, True), "REQ-FLT-002", "REQ-FLT-004"),
)


def rows_for(state: str, trigger: str, table: tuple[Row, ...] = TABLE) -> list[Row]:
    """The rows tried, in order, when ``trigger`` arrives in ``state``."""
    return [r for r in table if r.trigger == trigger and state in r.sources]


def check_table(table: tuple[Row, ...] = TABLE) -> None:
    """Cheap structural checks; raise TableError with a fix-it message."""
    for r in table:
        if r.trigger not in KINDS:
            raise TableError(f"row {r.label}: unknown trigger {r.trigger!r}", f"use one of {', '.join(KINDS)}")
        for s in (*r.sources, *((r.dest,) if r.dest else ())):
            if s not in STATES:
                raise TableError(f"row {r.label}: unknown state {s!r}", f"use one of {', '.join(STATES)}")
        if not r.reqs:
            raise TableError(f"row {r.label} cites no requirement", "add the requirement ids it implements")
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in table:
        for s in r.sources:
            groups[(s, r.trigger)].append(r)
    for (s, t), rows in groups.items():
        for i, r in enumerate(rows[:-1]):
            if not r.conds:
                raise TableError(f"in {s} on {t}, row {rows[i + 1].label} can never fire",
                                 f"row {r.label} has no conditions; give it a guard or move it last")
    for s in STATES:
        if (s, "tick") not in groups:
            raise TableError(f"state {s} does not accept tick", "add a tick row: time passes in every state")
    edges: dict[str, set[str]] = defaultdict(set)
    for r in table:
        for s in r.sources:
            edges[s].add(r.dest_for(s))
    seen, todo = {"POST"}, deque(["POST"])
    while todo:
        for nxt in edges[todo.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    unreachable = [s for s in STATES if s not in seen]
    if unreachable:
        raise TableError(f"states unreachable from POST: {unreachable}", "add a row that enters them or remove them")
    for s in STATES:
        if s not in LATCHED and edges[s] <= {s}:
            raise TableError(f"state {s} is a trap (no row leaves it)", "add an exit or declare it latched")


check_table()
