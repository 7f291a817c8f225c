"""Run one campaign infusion and boil it down to an ``InfusionResult``.

Theory of operation
-------------------
``CampaignRunner`` is the simulator's ``Runner`` (core + ``Shell`` + ``SimPump`` on a
``SimClock``, with its physical-truth checks after every control period) with four additions:

1. *the link*: the shell drives the plant through ``FaultyLink`` (the session's ``wrap_driver``,
   in place before the first boot, so every period goes through it), which injects the plan's
   communication faults (``controller.campaign.link``);
2. *sampled invariant checks*: ``specs.checker.check_step`` runs on every step of the infusions
   the plan marks ``full_check``, and on every step that is not a quiet tick (an accepted tick
   with no command and no state change) in all the others. Every event, refusal, command and
   state change is therefore checked in every infusion; the counts say exactly how many steps
   were checked;
3. *stop-flow truth*: besides the runner's "no flow *commanded* in a stop-flow state", the
   volume the mechanism actually *pushed* during each stop-flow episode (e.g. a runaway driver
   stage) is held to the runner's stated tolerance (``therapy_tolerance_ul`` without the VTBI
   term: quantization, overtravel, two control periods of runaway). The plant's physics is
   lazy (it catches up at each poll or command, which a silent link or a hung loop delays), so
   the volume is read through the link's observer right after every call that reached the
   plant, and charged to the state the controller was in at the *previous* call: every change
   into or out of a stop-flow state sends a motor command, so that is the state in force while
   the mechanism moved. The runner's therapy check (volume pushed in therapy never above VTBI +
   ``therapy_tolerance_ul``) is kept as it is; for each overrun it reports, the excess beyond
   that tolerance is recorded next to the syringe lead screw's peak-to-peak error
   (``2 x screw_k``), a term that tolerance does not include: the report says how many overruns
   that term explains, and fails the campaign on all of them;
4. *the event log*: infusions the plan marks ``log`` run with an event log and its ``LogStore``, as
   ``pumpctl simulate --log`` does (``controller.runtime.session.open_log``: every step, every
   write-ahead snapshot, every restore; closed at each power loss and reopened at boot, as a
   restarting process would; a write that fails warns and the infusion goes on, a snapshot that
   cannot be written stops flow); at the end the chain is verified and every step is found again,
   as a record or as a counted quiet tick. The log is not resumed from, so these infusions keep
   the campaign's mode (quiet periods skipped: a block's snapshot is written at its end).

An infusion stops early once nothing more can happen: the pump latched (FAILSAFE, FAILED) or
off, the mechanism at rest, and no power event left that could restart it. Only the time
actually simulated counts towards the campaign's hours.

Rules
1. Deterministic: the result is a pure function of (campaign seed, index, settings); wall
   time is measured by the caller, never stored here.
2. Bounded: examples are capped (``MAX_EXAMPLES``), alarms at ``MAX_ALARMS``; counts are full.
3. A crash of the simulation is caught and reported in ``error`` (and fails the campaign),
   never silently dropped.
"""

from __future__ import annotations

import json
import tempfile
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from controller.campaign.link import FaultyLink
from controller.campaign.plan import InfusionPlan, Settings, plan_infusion, scenario
from controller.core.machine import Step
from controller.core.state import NO_FLOW
from controller.drivers.base import PumpDriver
from controller.log.db import connect
from controller.log.verify import verify_connection
from controller.runtime.session import LogSession, open_log
from controller.scenario.logsim import KIND
from controller.scenario.run import Runner, therapy_tolerance_ul
from pumpctl.specs.checker import check_step

MAX_EXAMPLES = 3
MAX_ALARMS = 100
CHUNK_MS = 600_000  # how often the runner looks for an early stop
LATCHED_STATES = ("FAILSAFE", "FAILED")
POWER_EVENTS = ("power_cycle", "mains_restore")
STEP_RECORDS = ("event_accepted", "event_refused")


@dataclass(frozen=True, slots=True)
class LogCheck:
    records: int
    sessions: int
    steps: int  # steps handed to the log
    accounted: int  # steps found in it: event records + counted quiet ticks
    intact: bool
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.intact and self.steps == self.accounted


@dataclass(frozen=True, slots=True)
class InfusionResult:
    index: int
    seed: int
    slot: str
    program: str
    route: str
    mechanism: str
    rate_ml_h: float
    vtbi_ml: float
    faults: tuple[tuple[str, str, int], ...]  # (kind, variant, at_ms)
    planned_ms: int
    simulated_ms: int = 0
    stopped_early: bool = False
    final_state: str = ""
    alarms: tuple[tuple[str, int], ...] = ()  # (alarm id, raised at ms)
    failsafe_ms: int | None = None
    refusals: int = 0
    refusals_after: tuple[tuple[str, str, str, int], ...] = ()  # (event, reason, state, count) from the first fault
    restored: int = 0  # restarts from a power-loss snapshot
    power_offs: int = 0
    steps: int = 0
    checked_steps: int = 0
    full_check: bool = False
    invariant_violations: int = 0
    invariant_examples: tuple[str, ...] = ()
    physical_violations: int = 0
    physical_examples: tuple[str, ...] = ()
    stop_flow_max_ul: float = 0.0  # most volume pushed in one stop-flow episode
    therapy_overruns: int = 0  # of physical_violations: therapy volume beyond VTBI + the runner's tolerance
    therapy_over_ul: float = 0.0  # the largest such excess beyond that tolerance (uL)
    screw_pp_ul: float = 0.0  # the syringe lead screw's peak-to-peak error, which that tolerance omits
    state_ms: tuple[tuple[str, int], ...] = ()  # controller time by state (ticks)
    delivered_ml: float = 0.0  # reached the patient (plant truth)
    accounted_ml: float = 0.0  # the controller's account
    link_refused: int = 0
    link_silenced: int = 0
    log: LogCheck | None = None
    error: str = ""

    @property
    def first_fault_ms(self) -> int:
        return min((at for _, _, at in self.faults), default=0)


class CampaignRunner(Runner):
    def __init__(self, plan: InfusionPlan, settings: Settings, log_dir: Path | None = None) -> None:
        self.plan = plan
        self.period = settings.control_period_ms
        self.link: FaultyLink | None = None
        self.n_steps = self.n_checked = self.n_inv = 0
        self.inv_examples: list[str] = []
        self.state_time: Counter[str] = Counter()
        self.failsafe_ms: int | None = None
        self.last_pushed = 0.0
        self.obs_state = "POST"
        self.episode_ul = 0.0
        self.episode_flagged = False
        self.stop_max_ul = 0.0
        self.log_path = log_dir / "events.db" if log_dir is not None else None
        self.logs: LogSession | None = None
        self.sessions = self.logged = 0
        self.refused_after: Counter[tuple[str, str, str]] = Counter()
        self.n_overruns = 0
        self.over_ul = 0.0
        super().__init__(scenario(plan, settings), check=False)

    # --- hooks into the simulator's Runner --------------------------------------------------

    def _driver(self, plant: PumpDriver) -> PumpDriver:
        """The fault-injecting link, in place before the first boot: every period goes through it."""
        self.link = FaultyLink(plant, self.clock, self.plan.links, observer=self._observe)
        return self.link

    def _boot(self) -> None:
        if self.log_path is not None:  # a restarting process opens its log again: a new log session
            self.logs = open_log(self.log_path, kind=KIND)
            self.session.store = self.logs.store
            self.sessions += 1
        super()._boot()
        self.last_pushed, self.obs_state = self.plant.pushed_ul, self.ctl.state
        self.episode_ul, self.episode_flagged = 0.0, False

    def _close_log(self) -> None:
        if self.logs is not None:
            self.logged += self.logs.store.steps if self.logs.store is not None else 0
            self.logs.close()
            self.logs = None
            self.session.store = None

    def _power_off(self, why: str) -> None:
        super()._power_off(why)
        self._close_log()

    def _on_step(self, step: Step) -> None:
        self.n_steps += 1
        e = step.event
        is_tick = e.kind == "tick"
        quiet = is_tick and step.accepted and not step.commands and step.state == step.source
        if self.plan.full_check or not quiet:
            self.n_checked += 1
            broken = check_step(step.source, step, self.prev)
            if broken:
                self.n_inv += 1
                if len(self.inv_examples) < MAX_EXAMPLES:
                    self.inv_examples.append(f"t={self.clock.t_ms} ms {e.kind} in {step.source}: {','.join(broken)}")
        if is_tick:
            self.state_time[step.source] += e.dt_ms
        if not step.accepted and self.clock.t_ms >= self.plan.first_fault_ms:
            self.refused_after[(e.kind, (step.reason or "").split(":")[0], step.source)] += 1
        if step.state == "FAILSAFE" and self.failsafe_ms is None:
            self.failsafe_ms = self.clock.t_ms
        super()._on_step(step)

    def _observe(self) -> None:
        """After every link call that reached the plant: charge what moved to the state in force."""
        pushed = self.plant.pushed_ul
        delta, self.last_pushed = pushed - self.last_pushed, pushed
        state, self.obs_state = self.obs_state, self.ctl.state if self.on else "OFF"
        self._stop_flow(state, delta)

    def _stop_flow(self, source: str, delta: float) -> None:
        """Volume pushed while the controller was in a stop-flow state (see rule 3 above)."""
        if source not in NO_FLOW and source != "OFF":
            self.episode_ul, self.episode_flagged = 0.0, False
            return
        if delta <= 0.0:
            return
        self.episode_ul += delta
        self.stop_max_ul = max(self.stop_max_ul, self.episode_ul)
        allowed = therapy_tolerance_ul(self.plant, self.period, self.runaway, float("inf"))
        if self.episode_ul > allowed and not self.episode_flagged:
            self.episode_flagged = True
            self._physical(self.clock.t_ms, f"pushed {self.episode_ul:.3f} uL in stop-flow state {source} "
                                            f"(tolerance {allowed:.3f} uL)")

    def _physical(self, t: int, what: str) -> None:
        """Note how far a therapy overrun goes past the runner's tolerance (see ``screw_pp_ul``)."""
        if " in therapy, " in what:  # the runner's therapy check (scenario_run.Runner.advance)
            tol = therapy_tolerance_ul(self.plant, self.period, self.runaway, self.vtbi_ul)
            self.n_overruns += 1
            self.over_ul = max(self.over_ul, self.therapy_ul - self.vtbi_ul - tol)
        super()._physical(t, what)

    # --- the run -----------------------------------------------------------------------------

    def _absorbed(self) -> bool:
        if self.on and self.ctl.state not in LATCHED_STATES:
            return False
        if any(e.type in POWER_EVENTS for e in self.events[self.i:]):
            return False
        m = self.plant.mech
        return not m.powered or (m.runaway_rate == 0 and not m.moving())

    def run_plan(self) -> InfusionResult:
        end = self.sc.duration_ms
        early = False
        while self.t < end:
            self.advance(min(end, self.t + CHUNK_MS))
            if self.t < end and self._absorbed():
                early = True
                break
        res = self.finish()
        self._close_log()
        plan, link = self.plan, self.link
        powered_off = Counter(ev for t, ev, why in res.refusals if why.startswith("powered_off") and
                              t >= plan.first_fault_ms)
        after = self.refused_after + Counter({(ev, "powered_off", "OFF"): n for ev, n in powered_off.items()})
        return InfusionResult(
            index=plan.index, seed=plan.seed, slot=plan.slot, program=plan.program.kind, route=plan.program.route,
            mechanism=plan.mechanism, rate_ml_h=plan.program.rate_ml_h, vtbi_ml=plan.program.vtbi_ml,
            faults=tuple((f.kind, f.variant, f.at_ms) for f in plan.faults), planned_ms=plan.duration_ms,
            simulated_ms=self.t, stopped_early=early, final_state=res.final_state,
            alarms=tuple((a.alarm, a.at_ms) for a in res.alarms[:MAX_ALARMS]), failsafe_ms=self.failsafe_ms,
            refusals=len(res.refusals), refusals_after=tuple((e, r, st, n) for (e, r, st), n in sorted(after.items())),
            restored=sum(1 for _, why in res.power if why == "restored"),
            power_offs=sum(1 for _, why in res.power if why in ("power_cycle", "battery_empty")),
            steps=self.n_steps, checked_steps=self.n_checked, full_check=plan.full_check,
            invariant_violations=self.n_inv, invariant_examples=tuple(self.inv_examples),
            physical_violations=res.n_physical_violations,
            physical_examples=tuple(f"t={t} ms {what}" for t, what in res.physical_violations[:MAX_EXAMPLES]),
            stop_flow_max_ul=round(self.stop_max_ul, 6), therapy_overruns=self.n_overruns,
            therapy_over_ul=round(self.over_ul, 6),
            screw_pp_ul=0.0 if self.plant.mech.cassette else round(2 * self.plant.mech.screw_k, 6),
            state_ms=tuple(sorted(self.state_time.items())),
            delivered_ml=round(self.plant.delivered_ul / 1000, 6), accounted_ml=round(res.accounted_ml, 6),
            link_refused=link.refused if link else 0, link_silenced=link.silenced_polls if link else 0,
            log=self._check_log(),
        )

    def _check_log(self) -> LogCheck | None:
        """Verify the chain and find every step again (records + counted quiet ticks)."""
        if self.log_path is None:
            return None
        conn = connect(self.log_path, readonly=True)
        try:
            verdict = verify_connection(conn, None, str(self.log_path))
            rows = conn.execute("SELECT kind, payload FROM record ORDER BY seq").fetchall()
        finally:
            conn.close()
        accounted = 0
        for kind, payload in rows:
            accounted += kind in STEP_RECORDS
            if "elided_ticks" in payload:
                accounted += int(json.loads(payload).get("elided_ticks", {}).get("count", 0))
        return LogCheck(len(rows), self.sessions, self.logged, accounted, verdict.ok,
                        str(verdict.problem) if verdict.problem else "")


def run_infusion(campaign_seed: int, index: int, settings: Settings) -> InfusionResult:
    """Plan and run infusion ``index`` of campaign ``campaign_seed`` (any process, any machine)."""
    plan = plan_infusion(campaign_seed, index, settings)
    try:
        if plan.log:
            with tempfile.TemporaryDirectory(prefix="pumpctl-campaign-") as d:
                return CampaignRunner(plan, settings, Path(d)).run_plan()
        return CampaignRunner(plan, settings).run_plan()
    except Exception as exc:  # rule 3: reported, counted as a failure, never dropped
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return InfusionResult(plan.index, plan.seed, plan.slot, plan.program.kind, plan.program.route,
                              plan.mechanism, plan.program.rate_ml_h, plan.program.vtbi_ml,
                              tuple((f.kind, f.variant, f.at_ms) for f in plan.faults), plan.duration_ms,
                              error=tb)
