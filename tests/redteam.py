"""An independent red team: random libraries, random programs in every entry mode, random lives.

This module deliberately shares no arithmetic with the controller's edge (``controller.clinical.dosebounds``,
``controller.clinical.programs``) or core: it reads the raw library entry itself, computes each clinical
bound with its own exact rationals, integrates delivery itself from the motor commands the core
returns (rate and cap over each tick, constant rate until the cap), and checks

- every commanded rate to the patient against the entry's rate and dose hard maxima for the
  patient (basal, loading, intermittent, basal + bolus);
- every bolus against the entry's patient- and clinician-bolus hard maxima;
- the entry's dose window over *every* window start on the real delivery timeline, across
  program changes, stops, clears and power cycles (with ``restore``, as the shell does);

and that every hard-limit breach it asks for is refused. ``run_sequence`` returns the
violations it found; ``tests/test_red_team.py`` runs thousands, ``benchmarks/bench_redteam.py``
a larger seeded run.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from controller.clinical.drugs import Library
from controller.clinical.programs import build_program, clinician_bolus_payload
from controller.core.commands import SetFlow, StopMotor
from controller.core.events import ev, tick
from controller.core.limits import Limits
from controller.core.machine import Controller, Step
from controller.core.recovery import restore
from controller.core.state import Vars
from controller.core.table import TABLE, Row
from controller.errors import ConfigurationError
from specs.checker import check_step

VU_PER_ML = 3_600_000_000  # the unit is restated here on purpose: 1 vu = 1 uL/h x 1 ms
PER_TIME = {"h": Fraction(1), "min": Fraction(60)}
AMOUNT = {"mg": Fraction(1, 1000), "mcg": Fraction(1, 10**6), "U": Fraction(1)}


def _pick(rng: random.Random, *options: Any) -> Any:
    return options[rng.randrange(len(options))]


def random_entry(rng: random.Random) -> dict[str, Any]:
    """A library entry in the file schema, with a random selection of limits."""
    amount = _pick(rng, "mg", "mcg", "U")
    per_kg = rng.random() < 0.5
    per_time = _pick(rng, "h", "min")
    conc = _pick(rng, 1, 2, 5, 50, 100, 1600)
    hard = Fraction(_pick(rng, 1, 2, 5, 10, 40, 100)) * (Fraction(1, 100) if per_kg and per_time == "min" else 1)
    entry: dict[str, Any] = {
        "drug": f"drug{rng.randrange(10**6)}", "care_area": "general", "concentration": conc,
        "concentration_unit": f"{amount}/mL", "dose_unit": f"{amount}{'/kg' if per_kg else ''}/{per_time}",
        "routes": ["intravenous", "subcutaneous"],
        "dose": {"soft_max": float(hard / 2), "hard_max": float(hard)},
    }
    if rng.random() < 0.6:
        entry["rate_ml_h"] = {"hard_max": _pick(rng, 5, 20, 100, 500)}
    if per_kg or rng.random() < 0.3:
        entry["weight_kg"] = {"hard_min": 1, "soft_max": 120, "hard_max": 200}
    if rng.random() < 0.7:
        entry["bolus_ml"] = {"soft_max": 1, "hard_max": _pick(rng, 1, 2, 3)}
    if rng.random() < 0.5:
        entry["clinician_bolus_ml"] = {"hard_max": _pick(rng, 2, 5)}
    if rng.random() < 0.4:
        entry["loading_ml"] = {"hard_max": _pick(rng, 5, 10)}
    if rng.random() < 0.4:
        entry["intermittent_ml"] = {"hard_max": _pick(rng, 2, 10)}
    if rng.random() < 0.7:
        entry["limit_ml"] = _pick(rng, 1, 2, 5, 10)
        entry["limit_window_s"] = _pick(rng, 600, 1800, 3600)
    return entry


@dataclass
class Bounds:
    """The entry's hard limits for one patient, computed here (not by the controller).

    ``rate_ml_h`` is the dose hard max (and rate hard max) as a rate: it holds every infusion step
    but a loading dose; ``speed_ml_h`` is the rate hard max alone: it holds everything the motor
    is told, a bolus on top of the basal included."""

    rate_ml_h: Fraction | None
    speed_ml_h: Fraction | None
    bolus_ml: Fraction | None
    clin_bolus_ml: Fraction | None
    load_ml: Fraction | None
    dose_ml: Fraction | None
    limit_ml: Fraction | None
    window_ms: int | None


def clinical_bounds(entry: dict[str, Any], weight: Fraction) -> Bounds:
    amount, *rest = entry["dose_unit"].split("/")
    per_kg = "kg" in rest
    per_time = PER_TIME[rest[-1]]
    conc_amount = entry["concentration_unit"].split("/")[0]
    conc_in_dose_amount = Fraction(entry["concentration"]) * AMOUNT[conc_amount] / AMOUNT[amount]
    dose_hard = Fraction(str(entry["dose"]["hard_max"]))
    dose_rate = dose_hard * (weight if per_kg else 1) * per_time / conc_in_dose_amount
    rate = entry.get("rate_ml_h", {}).get("hard_max")
    rate_max = min(dose_rate, Fraction(rate)) if rate is not None else dose_rate
    bolus = entry.get("bolus_ml", {}).get("hard_max")
    clin = entry.get("clinician_bolus_ml", {}).get("hard_max", bolus)
    get = lambda k: Fraction(entry[k]["hard_max"]) if k in entry else None
    window = entry.get("limit_window_s")
    return Bounds(rate_max, Fraction(rate) if rate is not None else None,
                  Fraction(bolus) if bolus is not None else None, Fraction(clin) if clin is not None else None,
                  get("loading_ml"), get("intermittent_ml"),
                  Fraction(entry["limit_ml"]) if "limit_ml" in entry else None,
                  window * 1000 if window is not None else None)


def random_request(rng: random.Random, entry: dict[str, Any], b: Bounds, weight: Fraction) -> dict[str, Any]:
    """A program request in a random entry mode; sometimes deliberately outside a hard limit."""
    def sc() -> Fraction:  # each setting independently inside its bound, or (sometimes) over it
        return Fraction(_pick(rng, 3, 2, 1)) if rng.random() < 0.15 else Fraction(_pick(rng, 1, 2, 5, 10), 10)

    scale = sc()
    rate = max(Fraction(1, 10), b.rate_ml_h * scale) if b.rate_ml_h else Fraction(1)
    vtbi = _pick(rng, 5, 20, 50)
    req: dict[str, Any] = {"drug": entry["drug"], "vtbi_ml": vtbi, "weight_kg": float(weight)}
    mode = _pick(rng, "dose", "rate", "duration", "loading", "intermittent", "pca")
    dose = float(Fraction(str(entry["dose"]["hard_max"])) * scale)
    if mode == "dose":
        req["dose"] = dose
    elif mode == "duration":
        req["duration_s"] = float(Fraction(vtbi) * 3600 / rate)
    else:
        req["rate_ml_h"] = float(rate)
    if mode == "loading":
        req.update(kind="loading", loading_ml=float((b.load_ml or 3) * sc()), loading_rate_ml_h=float(rate * 2))
    if mode == "intermittent":
        req.update(kind="intermittent", dose_ml=float((b.dose_ml or 2) * sc()), interval_s=_pick(rng, 60, 600))
    if mode == "pca" or rng.random() < 0.3:
        if rng.random() < 0.3:
            req["rate_ml_h"] = 0
            req.pop("dose", None)
            req.pop("duration_s", None)
            req.pop("kind", None), req.pop("loading_ml", None), req.pop("loading_rate_ml_h", None)
            req.pop("dose_ml", None), req.pop("interval_s", None)
        req.update(bolus_ml=float((b.bolus_ml or 1) * sc()), lockout_s=_pick(rng, 0, 60, 600),
                   bolus_rate_ml_h=_pick(rng, 50, 100))
    if rng.random() < 0.4:
        req["clinician_bolus_max_ml"] = float((b.clin_bolus_ml or 2) * sc())
    if rng.random() < 0.3:
        req.update(limit_ml=float(Fraction(_pick(rng, 5, 20, 50), 10)), limit_window_s=_pick(rng, 600, 3600))
    if rng.random() < 0.2:
        req.update(limit2_ml=50, limit2_window_s=86_400)
    return req


@dataclass
class Life:
    """The red team's own record of one pump's life."""

    t_ms: int = 0
    odo: int = 0  # its own odometer, integrated from the commands
    rate: int = 0
    cap: int = 0
    segments: list[tuple[int, int, int, int]] = field(default_factory=list)  # (t0, t1, rate uL/h, vu) to the patient
    instants: list[tuple[int, int]] = field(default_factory=list)  # (t, vu): pushed between snapshot and power loss
    violations: list[str] = field(default_factory=list)
    events: int = 0
    handled: int = 0  # core steps, ticks included
    basic: bool = False  # the program in force is a basic infusion, not the library drug


def _handle(life: Life, ctl: Controller, e: Any) -> Step:
    """One event to the core; every state and step invariant is checked on it too (and what it
    reached is recorded for the evidence's coverage, ``proofs.walk``)."""
    s0, v0 = ctl.state, ctl.vars
    step = ctl.handle(e)
    life.handled += 1
    quiet = e.kind == "tick" and step.state == s0 and step.vars.alarm is v0.alarm and life.handled % 50
    broken = [] if quiet else check_step(s0, step, v0)  # a quiet tick is checked one time in fifty
    if broken:
        life.violations.append(f"invariants {broken} broken by {e.kind} in {s0}")
    return step


def _apply(life: Life, cmds: tuple[Any, ...]) -> None:
    for cmd in cmds:
        if isinstance(cmd, StopMotor):
            life.rate, life.cap = 0, life.odo
        elif isinstance(cmd, SetFlow):
            life.rate, life.cap = cmd.rate, cmd.cap


def window_max(life: Life, window_ms: int) -> Fraction:
    """The largest volume (mL) inside any window of ``window_ms`` on the delivery timeline.

    Delivery is piecewise constant in rate, so the maximum is reached with the window starting at
    a point where delivery starts or ending at a point where it ends; both families are tried."""
    pieces: list[tuple[Fraction, Fraction, Fraction]] = []  # (t0, t1, vu per ms), contiguous ones merged
    for t0, t1, rate, vu in life.segments:
        if vu <= 0:
            continue
        stop = min(Fraction(t1), t0 + Fraction(vu, rate))
        if pieces and pieces[-1][1] == t0 and pieces[-1][2] == rate:
            pieces[-1] = (pieces[-1][0], stop, pieces[-1][2])
        else:
            pieces.append((Fraction(t0), stop, Fraction(rate)))
    points = [(Fraction(t), Fraction(vu)) for t, vu in life.instants]

    def inside(a: Fraction, b: Fraction) -> Fraction:
        out = sum((max(Fraction(0), min(b, t1) - max(a, t0)) * r for t0, t1, r in pieces), Fraction(0))
        return out + sum((vu for t, vu in points if a <= t <= b), Fraction(0))

    starts = [p[0] for p in pieces] + [t for t, _ in points] + [p[1] - window_ms for p in pieces] + \
        [t - window_ms for t, _ in points]
    best = max((inside(s, s + window_ms) for s in starts), default=Fraction(0))
    return best / VU_PER_ML


def run_sequence(seed: int, n_events: int = 40, table: tuple[Row, ...] = TABLE,
                 restore_fn: Callable[[Vars, str, int], Vars] = restore) -> Life:
    """One random life of a pump; ``table`` and ``restore_fn`` let a test put a defect back."""
    rng = random.Random(seed)
    raw = random_entry(rng)
    area = {"name": "general", "basic": rng.random() < 0.7, "rate_ml_h": {"hard_max": _pick(rng, 50, 200)},
            "vtbi_ml": {"hard_max": _pick(rng, 20, 100)}}
    lib = Library.from_data({"drug": [raw], "care_area": [area]})
    weight = Fraction(_pick(rng, 5, 40, 70, 120))
    b = clinical_bounds(raw, weight)
    limits = Limits(max_tick_ms=_pick(rng, 1000, 10_000, 10_000))
    ctl = Controller(limits, table=table)
    life = Life()
    _handle(life, ctl, ev("self_test", flag=True))
    primed = False
    for _ in range(n_events):
        life.events += 1
        roll = rng.random()
        if roll < 0.18:
            basic = rng.random() < 0.2
            req = random_basic_request(rng, area) if basic else random_request(rng, raw, b, weight)
            try:
                built = build_program(req, limits, lib)
            except ConfigurationError:
                continue
            if ctl.state in ("RUNNING", "BOLUS", "PAUSED", "KVO", "ALARM"):
                _apply(life, _handle(life, ctl, ev("stop")).commands)
            step = _handle(life, ctl, ev("program", program=built.program))
            if step.accepted:
                life.basic = basic
                if basic:
                    _check_basic(life, req, built, area)
                else:
                    _check_program(life, req, built.program, b)
                if built.program.needs_confirm or ctl.vars.line.big_change:
                    _handle(life, ctl, ev("confirm_soft_limit"))
                if rng.random() < 0.8:
                    _apply(life, _handle(life, ctl, ev("start")).commands)
        elif roll < 0.30:
            step = _handle(life, ctl, ev(_pick(rng, "start", "resume")))
            _apply(life, step.commands)
        elif roll < 0.36:
            _apply(life, _handle(life, ctl, ev(_pick(rng, "stop", "pause"))).commands)
        elif roll < 0.40:
            _apply(life, _handle(life, ctl, ev("clear")).commands)
        elif roll < 0.44 and ctl.state == "READY" and rng.random() < 0.5:
            step = _handle(life, ctl, ev("prime", volume=VU_PER_ML, flag=True))
            primed = step.accepted
            _apply(life, step.commands)
        elif roll < 0.52:
            step = _handle(life, ctl, ev("patient_bolus"))
            if step.accepted and b.bolus_ml is not None:
                p = ctl.vars.prog
                if Fraction(p.pca_rate * p.pca_ms, VU_PER_ML) > b.bolus_ml:
                    life.violations.append(f"patient bolus {p.pca_rate * p.pca_ms} vu over {b.bolus_ml} mL")
            _apply(life, step.commands)
        elif roll < 0.58:
            vol = Fraction(_pick(rng, 1, 2, 3, 6))
            try:
                payload = clinician_bolus_payload(float(vol), _pick(rng, 30, 120))
            except ConfigurationError:
                continue
            step = _handle(life, ctl, ev("clinician_bolus", volume=payload[0], rate=payload[1], duration_ms=payload[2]))
            if step.accepted and b.clin_bolus_ml is not None and vol > b.clin_bolus_ml:
                life.violations.append(f"clinician bolus {vol} mL over the library's {b.clin_bolus_ml} mL")
            _apply(life, step.commands)
        elif roll < 0.62:  # power loss somewhere between the last snapshot and the cap, then power-on
            v, s = ctl.vars, ctl.state
            pushed = v.flow.odo + rng.randint(0, max(0, v.flow.cap - v.flow.odo))
            if s != "PRIMING" and pushed > life.odo and not life.basic:
                life.instants.append((life.t_ms, pushed - life.odo))
            life.odo = pushed
            ctl = Controller(limits, vars=restore_fn(v, s, pushed), state="POST", table=table)
            life.rate, life.cap = 0, life.odo
            _handle(life, ctl, ev("self_test", flag=True))
        else:
            dt = _pick(rng, 1, 250, limits.max_tick_ms)
            for _ in range(_pick(rng, 1, 10, 60, 120)):
                _tick(life, ctl, dt, b, primed and ctl.state == "PRIMING")
        if ctl.state != "PRIMING":
            primed = False
    if b.limit_ml is not None and b.window_ms is not None:
        most = window_max(life, b.window_ms)
        if most > b.limit_ml:
            life.violations.append(f"{float(most):.6f} mL in one {b.window_ms} ms window, limit {b.limit_ml} mL")
    return life


def _tick(life: Life, ctl: Controller, dt: int, b: Bounds, priming: bool) -> None:
    moved = min(life.rate * dt, life.cap - life.odo)
    if moved > 0 and not priming and not life.basic:  # the drug's own timeline (a basic infusion is not it)
        life.segments.append((life.t_ms, life.t_ms + dt, life.rate, moved))
        if b.speed_ml_h is not None and Fraction(life.rate, 1000) > b.speed_ml_h:
            life.violations.append(f"rate {life.rate} uL/h to the patient over {float(b.speed_ml_h)} mL/h")
    life.odo += max(0, moved)
    life.t_ms += dt
    step = _handle(life, ctl, tick(dt))
    if step.vars.flow.odo != life.odo:
        life.violations.append(f"core odometer {step.vars.flow.odo} != integrated {life.odo}")
    _apply(life, step.commands)


def random_basic_request(rng: random.Random, area: dict[str, Any]) -> dict[str, Any]:
    """A basic infusion (no drug): sometimes over the care area's limits."""
    rate = Fraction(area["rate_ml_h"]["hard_max"]) * Fraction(_pick(rng, 1, 5, 9, 15), 10)
    vtbi = Fraction(area["vtbi_ml"]["hard_max"]) * Fraction(_pick(rng, 1, 5, 12), 10)
    return {"rate_ml_h": float(rate), "vtbi_ml": float(vtbi)}


def _check_basic(life: Life, req: dict[str, Any], built: Any, area: dict[str, Any]) -> None:
    """An accepted basic infusion: allowed by its care area and within the care area's limits (REQ-DRG-006)."""
    p = built.program
    if not area["basic"]:
        life.violations.append("a basic infusion was accepted in a care area that allows none")
    if Fraction(max(p.step_rate), 1000) > area["rate_ml_h"]["hard_max"]:
        life.violations.append(f"basic rate {max(p.step_rate)} uL/h over the care area's limit")
    if Fraction(p.vtbi, VU_PER_ML) > area["vtbi_ml"]["hard_max"]:
        life.violations.append(f"basic VTBI {p.vtbi} vu over the care area's limit")
    if not built.basic or p.drug != 0:
        life.violations.append("a program without a drug was not labelled basic")


def _check_program(life: Life, req: dict[str, Any], p: Any, b: Bounds) -> None:
    """An accepted program never carries a setting over the entry's hard limit for the patient."""
    steps = p.step_rate[1:] if req.get("kind") == "loading" else p.step_rate
    checks = [("rate", max(steps) / Fraction(1000), b.rate_ml_h),
              ("any rate", max(p.step_rate) / Fraction(1000), b.speed_ml_h),
              ("basal+bolus", (max(p.step_rate) + p.pca_rate) / Fraction(1000) if p.pca_vol else Fraction(0),
               b.speed_ml_h),
              ("bolus", Fraction(p.pca_vol, VU_PER_ML), b.bolus_ml),
              ("clinician bolus max", Fraction(p.clin_bolus_max, VU_PER_ML), b.clin_bolus_ml),
              ("loading", Fraction(p.step_vol[0], VU_PER_ML) if req.get("kind") == "loading" else Fraction(0),
               b.load_ml),
              ("intermittent dose", Fraction(p.step_vol[0], VU_PER_ML) if req.get("kind") == "intermittent"
               else Fraction(0), b.dose_ml)]
    for name, value, bound in checks:
        if bound is not None and value > bound:
            life.violations.append(f"accepted program: {name} {float(value)} over the library's {float(bound)}")
    if b.limit_ml is not None and not any(0 < v <= b.limit_ml * VU_PER_ML for v in p.lim_vol):
        life.violations.append(f"accepted program dropped the library window: {p.lim_vol}")
