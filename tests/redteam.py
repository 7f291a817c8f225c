"""An independent red team: random libraries, patients, programs and lives of one pump.

Theory of operation
-------------------
Each life (``run_sequence(seed)``) has one patient, a library of two to four drug entries (one
drug sometimes at two concentrations) and a care area (``tests/redteam_clinic.py``), and a
random pump configuration. It programs several entries on the same line in every entry mode
(``tests/redteam_plan.py``), starts, stops, pauses, clears, primes, power-cycles (restoring
with ``restore``, as the shell does), gives patient and clinician boluses, declares new lines,
waits for history to age out, and runs long deliveries near the maximum rate so the dose
windows are reached. It shares no arithmetic with the controller's edge or core: it computes
every bound from the raw library entry, integrates delivery itself from the motor commands
(rate and cap over each tick; ``tests/redteam_timeline.py``) and checks

- every accepted program against every hard limit of the entry (or care area) for the patient:
  dose and rate maxima in every entry mode, hard minimum, weight, body surface, route, bolus,
  clinician-bolus, loading, intermittent and VTBI maxima, pump and route caps, intervals;
- that nothing starts while a soft limit it computed (or a rate change over the pump's
  change factor from the rate last started on the line, DEC-038) is unconfirmed;
- every motor command against the caps for the state it is sent in;
- every bolus as delivered (its share of each tick, from the commanded rates) against the
  volume asked for, lockout and hourly count, and the therapy of each program against its VTBI;
- the library's, the care area's and the clinician's dose windows over *every* window start of
  each line's real delivery timeline, across program changes, stops, clears and power cycles;
  a ``new_line`` ends a line (DEC-035) and a new timeline starts.

``run_sequence`` returns the ``Life`` with its violations and figures (``stats``);
``tests/test_red_team.py`` runs a CI-sized batch, ``benchmarks/bench_redteam.py`` a larger one.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from controller.clinical.drugs import Library
from controller.clinical.programs import build_program
from controller.core import alarms as A
from controller.core.commands import ClearAlarm, RaiseAlarm, SetFlow, StopMotor
from controller.core.events import ev, tick
from controller.core.limits import Limits
from controller.core.machine import Controller, Step
from controller.core.recovery import restore
from controller.core.state import Vars
from controller.core.table import TABLE, Row
from controller.errors import ConfigurationError
from pumpctl.specs.checker import check_step
from tests.redteam_clinic import VU_PER_ML, Drug, drugs_of, pick, random_library, random_patient
from tests.redteam_life import Bolus, Life
from tests.redteam_plan import Pump, cmd, hard_problems, random_plan, soft_crossings
from tests.redteam_timeline import Timeline

FLOWING = ("RUNNING", "BOLUS", "KVO")
THERAPY = ("RUNNING", "BOLUS")
HOUR_MS = 3_600_000


def random_pump(rng: random.Random) -> tuple[Limits, Pump]:
    tick_s = pick(rng, 1, 10, 10)
    max_rate = pick(rng, 999, 999, 500, 100)  # 100 mL/h: point 6's default prime rate is capped
    limits = Limits(max_tick_ms=tick_s * 1000, max_rate=max_rate * 1000, change_factor=pick(rng, 2, 2, 4))
    pump = Pump(Fraction(limits.max_rate, 1000), Fraction(limits.min_rate, 1000),
                tuple(Fraction(min(r, limits.max_rate), 1000) for r in limits.route_max_rate),
                Fraction(limits.max_vtbi, VU_PER_ML), Fraction(limits.kvo_rate, 1000),
                Fraction(min(limits.prime_rate, limits.max_rate), 1000), tick_s, limits.change_factor)
    return limits, pump


class Run:
    """One life: the controller, the red team's record and the actions."""

    def __init__(self, seed: int, table: tuple[Row, ...], restore_fn: Callable[[Vars, str, int], Vars]) -> None:
        self.rng = rng = random.Random(seed)
        self.limits, pump = random_pump(rng)
        patient = random_patient(rng)
        for _ in range(20):  # a library the pump refuses at load is not this red team's subject: draw again
            data = random_library(rng, patient, int(pump.max_rate), pump.tick_s)
            try:
                self.library = Library.from_data(data)
                break
            except ConfigurationError as exc:
                refused = exc
        else:
            raise refused
        self.drugs = drugs_of(data, patient)
        self.table, self.restore_fn = table, restore_fn
        self.ctl = Controller(self.limits, table=table)
        self.life = Life(pump)
        self.handle(ev("self_test", flag=True))

    # --- the core, and what the red team sees of it ------------------------------------------

    def handle(self, e: Any) -> Step:
        """One event; every state and step invariant is checked on it too (a quiet tick one time
        in fifty; what it reached is recorded for the evidence's coverage)."""
        life, ctl = self.life, self.ctl
        s0, v0, rate0 = ctl.state, ctl.vars, life.rate
        step = ctl.handle(e)
        life.handled += 1
        quiet = e.kind == "tick" and step.state == s0 and step.vars.alarm is v0.alarm and life.handled % 50
        broken = [] if quiet else check_step(s0, step, v0)
        if broken:
            life.bad(f"invariants {broken} broken by {e.kind} in {s0}")
        for c in step.commands:
            if isinstance(c, StopMotor):
                life.rate, life.cap = 0, life.odo
            elif isinstance(c, SetFlow):
                life.rate, life.cap = c.rate, c.cap
                self.command_ok(step.state, c.rate)
            elif isinstance(c, RaiseAlarm):
                life.alarms.add(c.alarm)
            elif isinstance(c, ClearAlarm):
                life.alarms.discard(c.alarm)
        if step.accepted and e.kind in ("patient_bolus", "clinician_bolus") and step.state == "BOLUS":
            life.bolus = Bolus(e.kind, life.rate - rate0, Fraction(0))
        if life.bolus is not None and step.state != "BOLUS":
            self.bolus_ended()
        return step

    def command_ok(self, state: str, rate: int) -> None:
        """A motor command against the caps of the state it is sent for."""
        life, pump, p = self.life, self.life.pump, self.life.plan
        if rate > pump.max_rate * 1000:
            life.bad(f"rate {rate} uL/h over the pump maximum")
        if state == "PRIMING":
            if rate > pump.prime * 1000:
                life.bad(f"priming at {rate} uL/h")
            return
        if state not in FLOWING:
            if rate > 0:
                life.bad(f"flow {rate} uL/h commanded in {state}")
            return
        if p is None:
            life.bad(f"flow {rate} uL/h with no program")
            return
        d = p.drug
        if rate > pump.top(p.route, d) * 1000:
            life.bad(f"rate {rate} uL/h over the cap for {d.name} by {p.route} ({float(pump.top(p.route, d))} mL/h)")
        if state == "KVO" and rate > pump.kvo * 1000:
            life.bad(f"KVO at {rate} uL/h")
        if state == "RUNNING" and p.kind != "loading" and d.dose_max is not None and rate > d.dose_max * 1000:
            life.bad(f"basal {rate} uL/h over the dose hard max of {d.name} ({float(d.dose_max)} mL/h)")

    def bolus_ended(self) -> None:
        life = self.life
        b, life.bolus = life.bolus, None
        assert b is not None
        if b.extra > b.allowed:
            life.bad(f"{b.kind} delivered {float(b.extra / VU_PER_ML):.6f} mL, at most "
                     f"{float(b.allowed / VU_PER_ML):.6f} mL allowed")

    def moved(self, state: str, vu: int, rate: int) -> None:
        """``vu`` pushed at ``rate`` in ``state`` (a tick, or between a snapshot and a power loss)."""
        life = self.life
        if vu <= 0 or state == "PRIMING":
            return
        if life.plan is None:
            life.bad(f"{vu} vu moved with no program in {state}")
            return
        if state in THERAPY:
            life.therapy += vu
            if life.therapy > life.plan.vtbi * VU_PER_ML:
                life.bad(f"therapy {life.therapy} vu over the VTBI {float(life.plan.vtbi)} mL")
        if life.bolus is not None and state == "BOLUS" and rate > 0:
            life.bolus.extra += min(Fraction(vu), Fraction(vu * life.bolus.rate, rate))

    def tick(self, dt: int) -> None:
        life = self.life
        state, rate = self.ctl.state, life.rate
        moved = max(0, min(rate * dt, life.cap - life.odo))
        if moved > 0:
            life.stats["delivering_ticks"] += 1
            if state not in FLOWING and state != "PRIMING":
                life.bad(f"{moved} vu moved in {state}")
            if state != "PRIMING" and life.plan is not None:
                life.line.piece(life.t_ms, rate, moved, life.prog)
            self.moved(state, moved, rate)
        life.odo += moved
        life.t_ms += dt
        step = self.handle(tick(dt))
        if step.vars.flow.odo != life.odo:
            life.bad(f"core odometer {step.vars.flow.odo} != integrated {life.odo}")

    # --- the actions -------------------------------------------------------------------------

    def program(self, d: Drug) -> None:
        life, rng = self.life, self.rng
        plan = random_plan(rng, d, life.pump)
        life.stats["programs"] += 1
        try:
            built = build_program(plan.req, self.limits, self.library)
        except ConfigurationError:
            life.stats["refused_at_edge"] += 1
            return
        if self.ctl.state in ("RUNNING", "BOLUS", "PAUSED", "KVO", "ALARM"):
            self.handle(ev("stop"))
        step = self.handle(ev("program", program=built.program))
        if not step.accepted:
            life.stats["refused_by_core"] += 1
            return
        life.stats["accepted"] += 1
        life.stats["accepted_basic" if d.basic else f"accepted_{plan.kind}"] += 1
        for problem in hard_problems(plan, life.pump):
            life.bad(f"accepted a program for {d.name} over a hard limit: {problem} ({plan.req})")
        life.plan, life.prog, life.confirmed, life.therapy = plan, life.line.program(plan.keys()), False, 0
        life.soft = soft_crossings(plan)
        life.drugs_on_line.add(d.name)
        if (life.soft or self.big_change()) and rng.random() < 0.8:
            life.stats["soft_to_confirm"] += 1
            self.confirm()
        elif rng.random() < 0.05:
            self.confirm()
        if rng.random() < 0.85:
            self.start("start")
            if self.ctl.state == "RUNNING" and rng.random() < 0.5:  # a bolus early, before a window fills
                self.deliver(pick(rng, 1, 6))
                if self.has("bolus") and rng.random() < 0.6:
                    self.patient_bolus()
                elif self.has("clin_max") and self.ctl.state == "RUNNING":
                    self.clinician_bolus()

    def big_change(self) -> bool:
        life = self.life
        p, ref = life.plan, life.ref
        if p is None or ref is None or ref[1] <= 0:
            return False
        new, k = cmd(p.maint), life.pump.change_factor
        comparable = ref[0] == p.drug.name or "basic" in (ref[0], p.drug.name)
        return comparable and (new > ref[1] * k or new * k < ref[1])

    def confirm(self) -> None:
        step = self.handle(ev("confirm_soft_limit"))
        if step.accepted:
            self.life.confirmed = True
            if not (self.life.soft or self.big_change()):
                self.life.stats["confirmations_beyond_red_team"] += 1

    def start(self, kind: str) -> None:
        life = self.life
        step = self.handle(ev(kind))
        if not step.accepted or step.state not in THERAPY or life.plan is None:
            asked = (step.reason or "").startswith("soft_limit_unconfirmed")
            if asked and not (life.soft or self.big_change()):
                life.stats["confirmations_beyond_red_team"] += 1
            return
        unconfirmed = life.soft + (["a rate change over the change factor"] if self.big_change() else [])
        if unconfirmed and not life.confirmed:
            life.bad(f"{kind} with unconfirmed soft limits: {unconfirmed}")
        life.ref = (life.plan.drug.name, cmd(life.plan.maint))

    def patient_bolus(self) -> None:
        life, t = self.life, self.life.t_ms
        rate0 = life.rate
        life.stats["patient_boluses"] += 1
        step = self.handle(ev("patient_bolus"))
        if not step.accepted:
            return
        life.stats["patient_boluses_accepted"] += 1
        p = life.plan
        if p is None or p.bolus <= 0:
            life.bad("a patient bolus without PCA")
            return
        if life.boluses and t - life.boluses[-1] < p.lockout_s * 1000:
            life.bad(f"a patient bolus {t - life.boluses[-1]} ms after the last, lockout {p.lockout_s} s")
        if sum(1 for b in life.boluses if t - b < HOUR_MS) >= p.per_h:
            life.bad(f"more than {p.per_h} patient boluses in an hour")
        hard = p.drug.volume("bolus_ml")
        allowed = min([p.bolus] + ([hard] if hard is not None else [])) * VU_PER_ML
        life.boluses.append(t)
        if life.bolus is not None:
            life.bolus.allowed = allowed
        elif step.state == "BOLUS":
            life.bad(f"patient bolus with no bolus rate commanded ({rate0} -> {life.rate} uL/h)")

    def clinician_bolus(self) -> None:
        life, rng, p = self.life, self.rng, self.life.plan
        if p is None:
            return
        limit = p.clin_max if p.clin_max is not None else p.drug.volume("clinician_bolus_ml") or Fraction(1)
        volume = limit * pick(rng, Fraction(3, 10), Fraction(7, 10), 1, 1, 1, 1, Fraction(3, 10), Fraction(3, 2))
        room = cmd(life.pump.top(p.route, p.drug)) - life.rate
        if room <= 0 and rng.random() < 0.8:
            return  # no room left under the rate cap: a clinician would not try (one time in five we do)
        target = max(1, room * pick(rng, Fraction(3, 10), Fraction(7, 10), 1, 1, 1, 1, Fraction(1, 10), Fraction(6, 5)))
        vol_vu = int(volume * VU_PER_ML)
        duration = max(1, -(-vol_vu // int(target)))
        rate = vol_vu // duration
        life.stats["clinician_boluses"] += 1
        step = self.handle(ev("clinician_bolus", volume=vol_vu, rate=rate, duration_ms=duration))
        if not step.accepted:
            return
        life.stats["clinician_boluses_accepted"] += 1
        hard = p.drug.volume("clinician_bolus_ml")
        if p.clin_max is None or vol_vu > p.clin_max * VU_PER_ML or (hard is not None and vol_vu > hard * VU_PER_ML):
            life.bad(f"clinician bolus of {float(volume)} mL accepted (program max {p.clin_max}, library {hard})")
        if life.bolus is not None:
            life.bolus.allowed = Fraction(vol_vu)

    def power_cycle(self) -> None:
        """Power lost somewhere between the last snapshot and the cap; then power-on and restore."""
        life, ctl = self.life, self.ctl
        v, s = ctl.vars, ctl.state
        pushed = life.odo + self.rng.randint(0, max(0, life.cap - life.odo))
        extra = pushed - life.odo
        if extra > 0 and s != "PRIMING" and life.plan is not None:
            life.line.instant(life.t_ms, extra, life.prog)
        self.moved(s, extra, life.rate)
        life.odo = pushed
        self.ctl = Controller(self.limits, vars=self.restore_fn(v, s, pushed), state="POST", table=self.table)
        life.alarms = {A.IDS[i] for i, on in enumerate(self.ctl.vars.alarm.active) if on}  # what it shows at power-on
        life.rate, life.cap = 0, pushed
        if life.bolus is not None:
            self.bolus_ended()
        self.handle(ev("self_test", flag=True))
        life.stats["power_cycles"] += 1
        if self.rng.random() < 0.8:
            self.handle(ev("acknowledge"))  # the clinician sees the power-loss alarm

    def new_line(self) -> None:
        """Declare a new patient line: refused unless IDLE; the old line's timeline is checked."""
        life = self.life
        state = self.ctl.state
        step = self.handle(ev("new_line"))
        if not step.accepted:
            return
        if state != "IDLE":
            life.bad(f"new_line accepted in {state}")
        life.end_line()
        life.line, life.ref = Timeline(), None
        life.stats["new_lines"] += 1

    def has(self, what: str) -> bool:
        """The program in force has patient boluses (``bolus``) or a clinician-bolus maximum."""
        p = self.life.plan
        return p is not None and bool(getattr(p, what))

    def any_drug(self) -> Drug:
        """A library entry, or (one time in eight) a basic infusion."""
        return self.drugs[-1] if self.rng.random() < 0.125 else pick(self.rng, *self.drugs[:-1])

    def deliver(self, n: int) -> None:
        dt = self.limits.max_tick_ms if self.rng.random() < 0.85 else pick(self.rng, 1, 250)
        for _ in range(n):
            self.tick(dt)

    def step(self) -> None:
        """One random action, weighted by the state."""
        life, rng, state = self.life, self.rng, self.ctl.state
        life.events += 1
        same = life.plan.drug if life.plan is not None else None
        drug = same if same is not None and rng.random() < 0.65 else self.any_drug()
        roll = rng.random()
        quiet = not life.alarms or rng.random() < 0.25  # with an alarm shown, boluses are rarely tried
        if life.alarms and rng.random() < 0.15:
            self.handle(ev("acknowledge"))
        elif state in ("IDLE", "READY", "STOPPED") and roll < (0.45 if state == "IDLE" else 0.2):
            self.program(drug)
        elif state == "RUNNING" and roll < 0.2 and quiet and (self.has("bolus") or rng.random() < 0.15):
            self.patient_bolus()
        elif state == "RUNNING" and roll < 0.32 and quiet and (self.has("clin_max") or rng.random() < 0.15):
            self.clinician_bolus()
        elif state in ("READY", "STOPPED", "PAUSED") and roll < 0.45:
            if state == "READY" and rng.random() < 0.15:
                self.confirm()
            self.start("resume" if state == "PAUSED" else "start")
        elif roll < 0.5:
            self.deliver(pick(rng, 6, 24, 60, 120))
        elif roll < 0.56:
            self.handle(ev(pick(rng, "stop", "pause", "stop")))
        elif roll < 0.62:
            self.handle(ev("clear"))
            life.plan = None if self.ctl.state == "IDLE" else life.plan
        elif roll < 0.68:  # a new patient line, the way a clinician would: stop, clear, new_line, program
            if state not in ("IDLE", "READY", "STOPPED"):
                self.handle(ev("stop"))
            self.handle(ev("clear"))
            life.plan = None if self.ctl.state == "IDLE" else life.plan
            self.new_line()
            self.program(self.any_drug())
        elif roll < 0.71 and state == "READY":
            self.handle(ev("prime", volume=VU_PER_ML // 2, flag=True))
        elif roll < 0.75:
            self.power_cycle()
        elif roll < 0.755 and self.limits.max_tick_ms == 10_000 and state == "IDLE":  # history ages out (4 h 20)
            self.deliver(1_560)
        elif roll < 0.8:
            self.program(drug)
        else:
            self.deliver(pick(rng, 6, 24, 48))


def run_sequence(seed: int, n_events: int = 40, table: tuple[Row, ...] = TABLE,
                 restore_fn: Callable[[Vars, str, int], Vars] = restore) -> Life:
    """One random life of a pump; ``table`` and ``restore_fn`` let a test put a defect back."""
    run = Run(seed, table, restore_fn)
    for _ in range(n_events):
        run.step()
    run.life.end_line()
    return run.life
