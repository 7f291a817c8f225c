"""Run a scenario: the pure core, the real ``Shell`` and the simulated pump on a ``SimClock``.

Theory of operation
-------------------
``run`` boots the controller through the session assembly every runner uses
(``controller.runtime.session.PumpSession``: a ``Shell`` around a ``Controller`` and a
``SimPump``; the pump's own self-test answers POST; the log, the library gate and the guard of
every shell call), then advances the simulated clock one control period at
a time with ``Shell.step`` - clock read, driver poll (physics + sensing), core ticks, sensor
events, motor commands, volume cross-check. A period is cut short at a scenario event's
time so that every event happens exactly when the file says; core events go through
``Shell.submit`` (so their motor commands reach the pump), physical events change the plant.

After every core step (an ``on_step`` hook of the session) the runner checks every invariant of
``specs/invariants.py`` (``specs.checker.check_step``) unless the scenario turns it off, and
records alarms, refusals, boluses, every program it accepted - labelled a library drug or a
basic infusion with its care area (``ProgramRecord``) - and every new patient line. After
every period it checks physical truth: no
flow commanded in a stop-flow state, and the volume the mechanism pushed during therapy
never beyond the VTBI plus the tolerance stated in ``therapy_tolerance_ul``.

``Shell`` forwards ``RelievePressure`` to ``SimPump.relieve``; the ``on_command`` hook only
records alarms.

Two modes (``skip``; a scenario's ``period_by_period``, ``pumpctl simulate --period-by-period``).
*Period by period* steps the shell once per control period: the reference, and what a pump on
hardware does. *Skipping* (the default) asks ``Shell.skip`` at every period boundary for a block
of quiet periods, up to the next scenario event, sample or end: the plant and the sensing run the
block at once and the core gets one long tick (DEC-040, proved equal to the ticks it replaces),
so a run costs what happens in it, not the number of its periods. The two give the same alarms,
states, refusals and volumes (``tests/sim/test_modes.py`` runs the suite both ways): the block
stops at the first period in which a sensor event comes up, the volume cross-check would trip or
the therapy volume check below would fail, and every check of a period holds for every period
of a block. A run with a durable log (``store``) goes period by period unless told otherwise: the
log's write-ahead order and its resume context need every step (``Shell.skip``).

Durable log (``store``, ``pumpctl simulate --log``): every core step is recorded and every
snapshot the shell persists goes into the log with the scenario's context
(``controller.scenario.logsim``), so the log is the durable store; the in-memory snapshot is kept for
``power_cycle`` events. ``resume`` (a snapshot read back from the log) starts the run at the
snapshot's scenario time with the controller restored and a rebuilt plant (see
``controller.scenario.logsim`` for exactly how the clock, the events and the plant resume). Every
shell call goes through the session's guard (``PumpSession.call``): a snapshot that cannot be
written stops flow. A ``power_cycle`` boots the same session again: a new controller, restored
from the in-memory snapshot (through the log when there is one: a ``restore`` record).

A scenario with a signed library file (``library_file``) goes through a ``LibraryGate``: the
file is checked when the run starts (after the first boot's self-test, as every session does),
and every program event is checked against it at its
time; a refusal keeps the pump stopped (the program never reaches the core), records the
gate's ``drug_library`` alarm and is logged.

Rules
1. Deterministic: the same scenario gives the same result, bit for bit (no wall clock in
   the result; ``wall_s`` is reported separately).
2. Memory is bounded: samples at ``sample_ms`` (at most ``MAX_SAMPLES``), violation lists
   capped at ``MAX_RECORDS`` with their full counts kept.
3. The volume pushed in therapy is counted per stretch of therapy (``base + pushed - pushed at its
   start``), the same sum whichever periods it is read at, so both modes compare it identically.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from controller.core import alarms as A
from controller.core.commands import ClearAlarm, RaiseAlarm
from controller.core.events import Actor, ev
from controller.core.libbounds import BASIC
from controller.core.machine import Controller, Step
from controller.core.state import NO_FLOW, THERAPY, Vars
from controller.core.units import VU_PER_ML, VU_PER_UL
from controller.drivers.base import PumpDriver
from controller.drivers.clocks import SimClock
from controller.drivers.sim import SimPump
from controller.library.gate import GateResult
from controller.runtime.logstore import LogStore, Snapshot, reached
from controller.runtime.session import GateConfig, Hooks, PumpSession, RestorePoint
from controller.runtime.shell import BlockGuard, Shell
from controller.scenario.events import CORE_TYPES
from controller.scenario.logsim import SimContext, rebuild_plant, sim_context
from controller.scenario.model import EventSpec, Scenario
from controller.scenario.world import apply_world
from pumpctl.specs.checker import check_step

MAX_RECORDS = 200
T = TypeVar("T")


@dataclass
class AlarmRecord:
    at_ms: int
    alarm: str
    priority: str
    pressure_kpa: float  # true downstream pressure when raised
    cleared_ms: int | None = None


@dataclass
class ProgramRecord:
    """A program the core accepted, and what it is: a library drug or a basic infusion (REQ-DRG-006)."""

    at_ms: int
    basic: bool  # no drug selected: the care area's basic-infusion limits, or the pump's without a library
    care_area: str | None  # the care area whose limits a basic infusion runs under (None: no library)
    drug: str | None  # the library entry's drug (None: basic)
    entry_code: int  # the core's entry code (0: basic)


@dataclass
class Result:
    name: str
    path: str
    seed: int
    duration_ms: int
    control_period_ms: int
    final_state: str = "POST"
    alarms: list[AlarmRecord] = field(default_factory=list)
    refusals: list[tuple[int, str, str]] = field(default_factory=list)  # (at_ms, event, reason)
    boluses: list[tuple[int, str, float]] = field(default_factory=list)  # (at_ms, kind, volume_ml)
    samples: list[tuple[float, str, float, float, float, float, float | None]] = field(default_factory=list)
    invariant_violations: list[tuple[int, str, str, str]] = field(default_factory=list)
    n_invariant_violations: int = 0
    physical_violations: list[tuple[int, str]] = field(default_factory=list)
    n_physical_violations: int = 0
    power: list[tuple[int, str]] = field(default_factory=list)
    occlusions: list[dict[str, object]] = field(default_factory=list)
    programs: list[ProgramRecord] = field(default_factory=list)
    new_lines: list[int] = field(default_factory=list)  # times a clinician's new_line was accepted (DEC-035)
    steps: int = 0
    accounted_ml: float = 0.0
    wall_s: float = 0.0
    skipping: bool = False  # the mode: quiet periods skipped in blocks, or period by period
    periods: int = 0  # control periods the controller ran (those inside blocks included)
    blocks: int = 0  # blocks of quiet periods (skipping mode)
    block_periods: int = 0  # control periods inside those blocks
    plant: SimPump | None = None
    checked: bool = True
    resumed_from: int | None = None  # seq of the log snapshot this run resumed from
    restore: dict[str, Any] | None = None  # the restore record's payload


def therapy_tolerance_ul(pump: SimPump, period_ms: int, runaway_ml_h: float, vtbi_ul: float) -> float:
    """How far the volume physically pushed in therapy may exceed the VTBI, and why:

    - the real volume per step may be larger than nominal (``volume_error_pct`` > 0);
    - a cassette delivers each stroke in the first part of the cam turn, so it can be up to
      one stroke's refill share ahead of its average (``stroke_ul x fill_fraction``);
    - a syringe's lead screw has a once-per-revolution error: between two plunger positions
      the displaced volume can exceed the nominal by its peak-to-peak amplitude (``2 x screw_k``),
      e.g. when therapy starts after priming, at any screw phase;
    - two steps of quantization and the encoder's overtravel allowance;
    - a runaway driver stage pushes for at most two control periods before the overtravel
      check cuts motor power (one to be seen, one for the event to reach the core).
    """
    p = pump.params
    tol = (vtbi_ul if vtbi_ul != float("inf") else 0.0) * max(0.0, p.volume_error_pct) / 100.0
    if p.mechanism == "cassette":
        tol += p.stroke_ul * p.fill_fraction * (1.0 + max(0.0, p.volume_error_pct) / 100.0)
    else:
        tol += 2 * pump.mech.screw_k
    tol += (2 + pump.cfg.overtravel_steps) * pump.mech.true_ul
    tol += runaway_ml_h * 2 * period_ms / 3600.0
    return tol


HORIZON_PERIODS = 4  # the cap sent to the plant runs at most 4 control periods ahead


class Runner:
    def __init__(self, sc: Scenario, check: bool | None = None, store: LogStore | None = None,
                 resume: Snapshot | None = None, skip: bool | None = None) -> None:
        self.sc = sc
        self.check = sc.check_invariants if check is None else check
        self.skip = skip if skip is not None else not sc.period_by_period and store is None
        self.clock = SimClock()
        self.events = _expand(sc.events)
        ctx = None if resume is None else SimContext.parse(resume.context, sc, len(self.events), resume.seq)
        t0 = 0 if ctx is None else ctx.t_ms
        self.clock.t_ms = t0
        self.plant = SimPump(sc.plant, sc.sensing, sc.limits, sc.seed, t0_ms=t0, clock=self.clock)
        self.res = Result(sc.name, sc.path, sc.seed, sc.duration_ms, sc.control_period_ms, checked=self.check,
                          plant=self.plant, skipping=self.skip)
        self.open: dict[str, AlarmRecord] = {}
        self.on = False
        self.accounted_base = 0.0
        self.therapy_ul = 0.0
        self.vtbi_ul = float("inf")
        self.stretch: tuple[float, float] | None = None  # therapy_ul and pushed_ul when this therapy stretch began
        self.runaway = 0.0
        self.truth_reported = False
        self.occluded_at: dict[str, int] = {}
        self.prev: Vars
        self.i = 0 if ctx is None else ctx.next_event
        self.t = self.next_sample = t0
        self.stall_until = -1
        self.wall0 = time.perf_counter()
        self.snapshot: tuple[str, Vars, int] | None = None
        self.snapshot_seq: int | str = "memory"
        day = sc.library_today
        gate = None if sc.library_file is None else GateConfig(
            sc.library_file, sc.library_key, today=(lambda: day) if day is not None else None,
            allow_unsigned=sc.library_unsigned)
        self.session = PumpSession(
            self.plant, self.clock, sc.limits, store, watchdog_ms=sc.watchdog_ms,
            horizon_ms=HORIZON_PERIODS * sc.control_period_ms, gate_config=gate,
            hooks=Hooks(on_step=(self._on_step,), on_boot=self._booted, on_alarm=self._shell_alarm,
                        on_alarm_cleared=self._shell_alarm_cleared, after_persist=self._persisted,
                        wrap_driver=self._driver, context=self._context))
        if resume is not None and ctx is not None:
            rebuild_plant(self.plant, self.events[:self.i], ctx, resume.vars, reached(resume.vars, resume.sent_cap))
            self.runaway = max((float(e.values["rate_ml_h"]) for e in self.events[:self.i]  # type: ignore[arg-type]
                                if e.type == "motor_runaway"), default=0.0)
            self.snapshot = (resume.state, resume.vars, resume.sent_cap)
            self.snapshot_seq = self.res.resumed_from = resume.seq
        self._boot()
        if resume is not None:  # the plant's own count died with it: count the restored total as pushed
            v = self.ctl.vars
            self.therapy_ul = v.flow.delivered / VU_PER_UL
            self.vtbi_ul = v.prog.vtbi / VU_PER_UL if v.prog.loaded else float("inf")

    # --- the session (controller.runtime.session) ----------------------------------------------

    @property
    def shell(self) -> Shell:
        return self.session.shell

    @property
    def ctl(self) -> Controller:
        return self.session.shell.ctl

    @property
    def store(self) -> LogStore | None:
        return self.session.store

    def _driver(self, plant: PumpDriver) -> PumpDriver:
        """What the shell drives: the plant itself (the campaign puts its fault-injecting link here)."""
        return plant

    def _call(self, fn: Callable[[], T]) -> T | None:
        """A shell call through the session's guard (for callers that drive the shell themselves)."""
        return self.session.call(fn)

    # --- controller life cycle -------------------------------------------------------------

    def _boot(self) -> None:
        """Power-on: a fresh controller, or - after a power loss - the last snapshot restored
        (controller.core.recovery), with the plant's odometer restarting from zero; the library is
        checked on the first (``PumpSession.boot``)."""
        point = None if self.snapshot is None else RestorePoint(*self.snapshot, self.snapshot_seq)
        report = self.session.boot(self.plant.self_test, point)
        if report.restore is not None:
            self.res.restore = report.restore
        if report.library is not None:
            self._gate_refusal("library", report.library)

    def _booted(self, restored: bool) -> None:
        """A new controller is in place, before its first period."""
        if restored:
            self.res.power.append((self.clock.t_ms, "restored"))
            for i, on in enumerate(self.ctl.vars.alarm.active):  # alarms the restore itself raised
                if on and A.IDS[i] not in self.open:
                    rec = AlarmRecord(self.clock.t_ms, A.IDS[i], A.CATALOG[i].priority.name.lower(),
                                      self.plant.pressure_kpa)
                    self.res.alarms.append(rec)
                    self.open[A.IDS[i]] = rec
        self.prev = self.ctl.vars
        self.on = True

    def _persisted(self, state: str, v: Vars, sent_cap: int) -> None:
        """After every snapshot (durable first when there is a log): kept for ``power_cycle`` events."""
        if self.store is not None and self.store.last_snapshot_seq is not None:
            self.snapshot_seq = self.store.last_snapshot_seq
        self.snapshot = (state, v, sent_cap)

    def _context(self) -> dict[str, Any]:
        return sim_context(self.sc.name, self.clock.t_ms, self.i, self.plant)

    def _shell_alarm(self, alarm: str, priority: str, message: str) -> None:
        """An alarm the shell raises itself (the log's LOW alarm, the library gate's)."""
        del message
        if alarm not in self.open:
            rec = AlarmRecord(self.clock.t_ms, alarm, priority, self.plant.pressure_kpa)
            self.res.alarms.append(rec)
            self.open[alarm] = rec

    def _shell_alarm_cleared(self, alarm: str) -> None:
        if alarm in self.open:
            self.open.pop(alarm).cleared_ms = self.clock.t_ms

    def _gate_refusal(self, what: str, r: GateResult) -> None:
        """A refusal of the library gate is recorded (the session carried out the rest)."""
        if not r.ok:
            self.res.refusals.append((self.clock.t_ms, what, f"{r.code}: {r.message}"))

    def _power_off(self, why: str) -> None:
        t = self.clock.t_ms
        v = self.ctl.vars
        if self.snapshot is None:  # otherwise the restored controller carries its totals on
            self.accounted_base += (v.flow.delivered + v.flow.kvo_vol) / VU_PER_ML
        for rec in self.open.values():
            rec.cleared_ms = t
        self.open.clear()
        self.res.power.append((t, why))
        self.on = False

    def _power_cycle(self) -> None:
        if self.on:
            self._power_off("power_cycle")
        self.plant.power_cycle()
        if self.plant.powered:
            self.res.power.append((self.clock.t_ms, "power_on"))
            self._boot()

    # --- hooks -------------------------------------------------------------------------------

    def _on_step(self, step: Step) -> None:
        res = self.res
        res.steps += 1
        t = self.clock.t_ms
        if self.check:
            broken = check_step(step.source, step, self.prev)
            if broken:
                res.n_invariant_violations += 1
                if len(res.invariant_violations) < MAX_RECORDS:
                    res.invariant_violations.append((t, str(step.event.kind), step.source, ",".join(broken)))
        if not step.accepted:
            res.refusals.append((t, step.event.kind, step.reason or ""))
            return
        if step.event.kind in ("program", "clear"):  # the core's counters restart: accounted_ml runs on
            self.accounted_base += (self.prev.flow.delivered + self.prev.flow.kvo_vol) / VU_PER_ML
        self.prev = step.vars
        for cmd in step.commands:
            if isinstance(cmd, RaiseAlarm):
                rec = AlarmRecord(t, cmd.alarm, cmd.priority, self.plant.pressure_kpa)
                res.alarms.append(rec)
                self.open[cmd.alarm] = rec
            elif isinstance(cmd, ClearAlarm) and cmd.alarm in self.open:
                self.open.pop(cmd.alarm).cleared_ms = t
        kind = step.event.kind
        if kind == "program":
            self._program_record(t, step)
            self.therapy_ul, self.stretch = 0.0, None
            self.vtbi_ul = step.vars.prog.vtbi / VU_PER_UL
            self.plant.set_container(step.vars.prog.reservoir_vol / VU_PER_UL)
            self.plant.sensing.set_bubble_limit(step.vars.cfg.bubble_limit_nl[step.vars.prog.route])
        elif kind == "prime":
            self.plant.set_connected(False)
        elif kind == "start":
            self.plant.set_connected(True)
        elif kind in ("patient_bolus", "clinician_bolus"):
            b = step.vars.bolus
            res.boluses.append((t, kind.split("_")[0], b.rate * (b.until - step.vars.flow.clock) / VU_PER_ML))
        elif kind == "new_line":
            res.new_lines.append(t)

    def _program_record(self, t: int, step: Step) -> None:
        """Label the accepted program: a drug from the library, or a basic infusion and its care area."""
        built, p = self.session.programming, step.vars.prog
        basic = p.drug == BASIC
        entry = built.entry if built is not None and built.program == p else None
        care_area = built.care_area if built is not None and built.program == p else None
        self.res.programs.append(ProgramRecord(t, basic, care_area, entry.drug if entry is not None else None, p.drug))

    # --- events ------------------------------------------------------------------------------

    def apply(self, e: EventSpec) -> None:
        kind, v, plant = e.type, e.values, self.plant
        if kind in CORE_TYPES:
            if not self.on:
                self.res.refusals.append((self.clock.t_ms, kind, "powered_off: the pump is off"))
                return
            if kind == "program":
                self._program(e)
                return
            payload: dict[str, object] = dict(e.payload)
            if kind == "prime":
                payload["flag"] = bool(v.get("line_disconnected", True))
            self.session.submit(ev(CORE_TYPES[kind], e.actor, **payload))
            return
        t = self.clock.t_ms
        if kind == "occlude_downstream":
            self.occluded_at.setdefault("downstream", t)
        elif kind == "occlude_upstream":
            self.occluded_at.setdefault("upstream", t)
        elif kind == "release_occlusion":
            site = str(v.get("site", "both"))
            for s in ("downstream", "upstream"):
                if site in (s, "both"):
                    self.occluded_at.pop(s, None)
        elif kind == "motor_runaway":
            self.runaway = max(self.runaway, float(v["rate_ml_h"]))  # type: ignore[arg-type]
        if apply_world(plant, kind, v):
            if kind == "mains_restore" and not self.on:
                self._power_cycle()
        elif kind == "power_cycle":
            self._power_cycle()
        else:  # pragma: no cover - EVENT_TYPES and this dispatch are kept in step by the tests
            raise AssertionError(f"unhandled event type {kind}")

    def _program(self, e: EventSpec) -> None:
        """A program event: through the library gate when the scenario has a library (checked at its
        time; a refusal keeps the pump stopped), as built at load otherwise."""
        actor = e.actor if e.actor is not None else Actor.CLINICIAN
        if self.session.gate is not None:
            out = self.session.program(e.values, actor)
            if out.gate is not None:
                self._gate_refusal("program", out.gate)
        elif e.program is None:
            self.res.refusals.append((self.clock.t_ms, "program", e.refusal or "invalid_program"))
        else:
            self.session.program(e.program, actor)

    # --- the loop ----------------------------------------------------------------------------

    def advance(self, until_ms: int) -> None:
        """Run the loop up to ``until_ms`` (or the scenario's end), events and samples included."""
        sc, plant, clock = self.sc, self.plant, self.clock
        events, n = self.events, len(self.events)
        end, period = sc.duration_ms, sc.control_period_ms
        until = min(until_ms, end)
        t = self.t
        while True:
            while self.i < n and events[self.i].at_ms <= t:
                e = events[self.i]
                self.i += 1
                if e.type == "loop_stall":
                    self.stall_until = max(self.stall_until, t + round(float(e.values["duration_s"]) * 1000))  # type: ignore[arg-type]
                else:
                    self.apply(e)
            if t >= self.next_sample:
                self._sample(t)
                self.next_sample += sc.sample_ms
            if t >= until:
                break
            if self.skip and self._block(t, until):
                t = self.t
                continue
            t_next = t + period
            if self.i < n and events[self.i].at_ms < t_next:
                t_next = events[self.i].at_ms
            if self.next_sample < t_next:
                t_next = self.next_sample
            if t_next > until:
                t_next = until
            clock.t_ms = self.t = t = t_next
            if t < self.stall_until:
                continue  # the control loop is hung: nobody steps the shell (the watchdog will see it)
            if not self.on:
                plant.poll(t)
                continue
            state0, pushed0 = self.ctl.state, plant.pushed_ul
            self.session.step()
            self.res.periods += 1
            self._period_checks(t, state0, pushed0)

    def _therapy_limit(self) -> float:
        return self.vtbi_ul + therapy_tolerance_ul(self.plant, self.sc.control_period_ms, self.runaway, self.vtbi_ul)

    def _period_checks(self, t: int, state0: str, pushed0: float) -> None:
        """Physical truth after a period (or a block: then it held in every period before its last)."""
        plant = self.plant
        if state0 in THERAPY:
            if self.stretch is None:
                self.stretch = (self.therapy_ul, pushed0)
            base, start = self.stretch
            self.therapy_ul = base + (plant.pushed_ul - start)
            if self.therapy_ul > self._therapy_limit():
                self._physical(t, f"pushed {self.therapy_ul:.3f} uL in therapy, VTBI {self.vtbi_ul:.3f} uL")
        else:
            self.stretch = None
        if self.ctl.state in NO_FLOW and plant.mech.rate != 0:
            self._physical(t, f"flow commanded ({plant.mech.rate} uL/h) in {self.ctl.state}")
        if not plant.powered:
            self._power_off("battery_empty")

    def _block(self, t: int, until: int) -> bool:
        """One block of quiet periods from ``t`` (the skipping mode); False when none is possible now.
        A block ends before the next scenario event and ``until``; the samples inside it are the
        plant's truth after their periods (``SimPump.marked``) and the controller's state then (a quiet
        tick moves only the linear counters: the accounted volume at period i of j is the start's plus
        i/j of the block's). It stops after the first period whose therapy volume check fails (so that
        period is reported at its own time), and is not tried while a physical-truth check already
        fails (those count every period)."""
        period, plant, sample_ms = self.sc.control_period_ms, self.plant, self.sc.sample_ms
        limit = until if self.i >= len(self.events) else min(until, self.events[self.i].at_ms)
        k = (limit - t) // period
        marks, at = [], self.next_sample
        while at < t + k * period:
            if (at - t) % period:  # a sample between two periods: the period loop cuts a period there
                k = (at - t) // period
                break
            marks.append((at - t) // period)
            at += sample_ms
        if k < 2 or t < self.stall_until:
            return False
        plant.mark_at = frozenset(marks)
        try:
            if not self.on:  # the plant alone, as the period loop polls it while the pump is off
                got = plant.poll_block(t, period, k)
                if got is None:
                    return False
                self.clock.t_ms = self.t = t + got[0] * period
                self._samples_in_block(t, got[0], None, None)
                return True
            state0, pushed0, v0 = self.ctl.state, plant.pushed_ul, self.ctl.vars
            if state0 in NO_FLOW and plant.mech.rate != 0:
                return False
            guard: BlockGuard | None = None
            if state0 in THERAPY:
                base, start = self.stretch if self.stretch is not None else (self.therapy_ul, pushed0)
                most = self._therapy_limit()
                if base + (pushed0 - start) > most:
                    return False

                def over(i: Any, measured: Any, pushed: Any) -> Any:
                    return base + (pushed - start) > most

                guard = over
            steps = self.session.skip(period, k, guard)
        finally:
            plant.mark_at = frozenset()
        if self.clock.t_ms == t:
            return False
        self.t = self.clock.t_ms
        j = (self.t - t) // period
        self.res.periods += j
        self.res.blocks += 1
        self.res.block_periods += j
        if steps:
            ticks = [x for x in steps if x.event.kind == "tick"]
            self._samples_in_block(t, j, (state0, v0), ticks[-1].vars)
        self._period_checks(self.t, state0, pushed0)
        return True

    def _samples_in_block(self, t: int, j: int, before: tuple[str, Vars] | None, after: Vars | None) -> None:
        """The samples due strictly inside a block of ``j`` periods from ``t`` (``_sample``'s values)."""
        period = self.sc.control_period_ms
        for i, delivered_ul, kpa, sensed in self.plant.marked:
            if i >= j:
                break
            if before is None or after is None:
                state, rate, acc = "OFF", 0.0, self.accounted_base + 0.0
            else:
                state, v = before
                d0 = v.flow.delivered + v.flow.kvo_vol
                moved = (after.flow.delivered + after.flow.kvo_vol - d0) * i // j  # linear in a quiet block
                rate, acc = v.flow.rate / 1000, self.accounted_base + (d0 + moved) / VU_PER_ML
            self.res.samples.append(((t + i * period) / 1000, state, rate, delivered_ul / 1000, acc, kpa, sensed))
            self.next_sample += self.sc.sample_ms

    def finish(self) -> Result:
        res = self.res
        res.final_state = self.ctl.state if self.on else "OFF"
        v = self.ctl.vars
        res.accounted_ml = self.accounted_base + ((v.flow.delivered + v.flow.kvo_vol) / VU_PER_ML if self.on else 0.0)
        self._occlusion_report()
        res.wall_s = time.perf_counter() - self.wall0
        return res

    def run(self) -> Result:
        self.advance(self.sc.duration_ms)
        return self.finish()

    def _physical(self, t: int, what: str) -> None:
        self.res.n_physical_violations += 1
        if len(self.res.physical_violations) < MAX_RECORDS:
            self.res.physical_violations.append((t, what))

    def _sample(self, t: int) -> None:
        p = self.plant
        v = self.ctl.vars
        state = self.ctl.state if self.on else "OFF"
        acc = self.accounted_base + ((v.flow.delivered + v.flow.kvo_vol) / VU_PER_ML if self.on else 0.0)
        rate = v.flow.rate / 1000 if self.on else 0.0
        self.res.samples.append((t / 1000, state, rate, p.delivered_ul / 1000, acc, p.pressure_kpa, p.sensed_kpa))

    def _occlusion_report(self) -> None:
        """Pair each occlusion detection with the alarm it raised (REQ-OCC-003 latency)."""
        alarms = self.res.alarms
        for d in self.plant.sensing.log:
            if d.reason == "clear":
                continue
            alarm_id = f"occlusion_{d.site}"
            raised = next((a for a in alarms if a.alarm == alarm_id and a.at_ms >= d.t_ms), None)
            self.res.occlusions.append({
                "site": d.site, "reason": d.reason, "criterion_at_s": d.t_ms / 1000,
                "sensed_kpa": d.reading_kpa,
                "alarm_at_s": raised.at_ms / 1000 if raised is not None else None,
                "latency_ms": raised.at_ms - d.t_ms if raised is not None else None,
            })


def _expand(events: tuple[EventSpec, ...]) -> list[EventSpec]:
    """Unroll bubble trains (``count`` / ``interval_s``) into single events, in time order."""
    out: list[EventSpec] = []
    for e in events:
        count = int(e.values.get("count", 1)) if e.type == "air_bubble" else 1  # type: ignore[call-overload]
        if count == 1:
            out.append(e)
            continue
        gap = round(float(e.values.get("interval_s", 0.0)) * 1000)  # type: ignore[arg-type]
        out.extend(EventSpec(e.index, e.at_ms + k * gap, e.type, e.actor, e.values) for k in range(count))
    out.sort(key=lambda e: (e.at_ms, e.index))
    return out


def run(sc: Scenario, check: bool | None = None, skip: bool | None = None) -> Result:
    return Runner(sc, check, skip=skip).run()

