"""The red team's programs: random requests in every entry mode, and what the pump must do with them.

Theory of operation
-------------------
``random_plan`` draws a clinician's request for one drug (``tests/redteam_clinic.Drug``) in a
random entry mode - a dose, a rate, a VTBI over a duration; continuous, loading, intermittent,
ramp or PCA-only; with or without patient boluses, a clinician-bolus maximum and the
clinician's own dose windows - and keeps the red team's own reading of it (``Plan``): the step
rates and volumes in mL/h and mL, exactly. Settings are drawn *near* the limits for this
patient (at, just under and sometimes over them), and bolus rates are drawn to fit what is
left under the rate caps, so boluses are often accepted and limits are often reached.

``hard_problems`` lists every hard limit the request crosses: a program accepted with any of
them is a violation. ``soft_crossings`` lists every soft limit it crosses: it may start only
after a recorded confirmation. Both compare what the pump can be told - a rate rounded down to
1 uL/h, a volume to 1 vu (rounding never towards more drug) - with the exact library bound.

Rules
1. Nothing here imports the controller; the pump's configuration comes in as ``Pump``.
2. Only the unsafe direction is a violation: a pump that refuses more than it must is not.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from tests.redteam_clinic import ROUTES, VU_PER_ML, Drug, dec, num, pick
from tests.redteam_timeline import Key


@dataclass(frozen=True)
class Pump:
    """The pump configuration the red team set (mL/h, mL, s)."""

    max_rate: Fraction
    min_rate: Fraction
    route_max: tuple[Fraction, ...]
    max_vtbi: Fraction
    kvo: Fraction
    prime: Fraction
    tick_s: int
    change_factor: int

    def top(self, route: str, d: Drug) -> Fraction:
        """The highest rate anything may ever run at for this drug and route."""
        caps = [self.max_rate, self.route_max[ROUTES.index(route)]]
        return min(caps + ([d.speed] if d.speed is not None else []))


def cmd(rate_ml_h: Fraction) -> int:
    """The rate the pump can be told (uL/h): rounded down, never up."""
    return math.floor(rate_ml_h * 1000)


def vu(ml: Fraction) -> int:
    return math.floor(ml * VU_PER_ML)


@dataclass(frozen=True)
class Plan:
    drug: Drug
    req: dict[str, Any]
    kind: str
    steps: tuple[tuple[Fraction, Fraction], ...]  # (rate mL/h, volume mL; 0: until the VTBI)
    vtbi: Fraction
    route: str
    weight: Fraction | None
    bsa: Fraction | None
    bolus: Fraction = Fraction(0)  # patient bolus volume (mL), 0 without PCA
    bolus_rate: Fraction = Fraction(0)
    lockout_s: Fraction = Fraction(0)
    per_h: int = 12
    clin_max: Fraction | None = None
    interval_s: Fraction | None = None
    own: tuple[tuple[Fraction, int], ...] = ()  # the clinician's windows (limit mL, window ms)

    @property
    def maint(self) -> Fraction:
        return self.steps[-1][0]

    def keys(self) -> tuple[Key, ...]:
        """The dose-window limits this program carries: the library's (or care area's) and the
        clinician's, as (drug, limit vu, window ms)."""
        wins = ([self.drug.window] if self.drug.window is not None else []) + list(self.own)
        return tuple((self.drug.name, limit * VU_PER_ML, ms) for limit, ms in wins)


RATES = (1, 1, 1, Fraction(19, 20), Fraction(9, 10), Fraction(3, 5), Fraction(3, 10), Fraction(1, 20))
RATES_OVER = (Fraction(1, 100), Fraction(11, 10), 2, 10)  # under a hard minimum, or over the maximum
BOLUS_RATES = (Fraction(1, 5), Fraction(2, 5), Fraction(3, 5), Fraction(4, 5))  # room left for boluses
VOLUMES = (Fraction(1, 2), Fraction(9, 10), 1, 1, 1)
VOLUMES_OVER = (Fraction(13, 10), 3)


def random_plan(rng: random.Random, d: Drug, pump: Pump) -> Plan:
    wild = 0.0 if rng.random() < 0.4 else 0.12  # how often each setting is drawn outside its limits

    def sc(safe: tuple[Any, ...], over: tuple[Any, ...]) -> Any:
        return pick(rng, *over) if rng.random() < wild else pick(rng, *safe)

    route = pick(rng, *d.routes) if rng.random() >= wild else pick(rng, *ROUTES)
    top = pump.top(route, d)
    cap = min(top, d.dose_max) if d.dose_max is not None else top
    kind = pick(rng, "continuous", "continuous", "continuous", "loading", "intermittent", "ramp", "pca")
    pca, clin_bolus = kind == "pca" or rng.random() < 0.45, rng.random() < 0.6
    target = cap * sc(RATES if not (pca or clin_bolus) or rng.random() < 0.3 else BOLUS_RATES, RATES_OVER)
    req: dict[str, Any] = {"vtbi_ml": 0}
    if not d.basic:
        req["drug"] = d.name
    mode = pick(rng, "rate", "duration", *(("dose", "dose") if not d.basic else ()))
    vmax = d.volume("vtbi_ml")
    if vmax is not None and rng.random() < 0.7:
        vtbi = dec(vmax * sc(VOLUMES, VOLUMES_OVER))
    else:
        vtbi = dec(max(target, Fraction(2)) * pick(rng, Fraction(1, 4), 1, 1, 3))
    req["vtbi_ml"] = num(vtbi)
    if kind == "pca":
        rate = Fraction(0)
        req["rate_ml_h"] = 0
    elif mode == "dose":
        dose = dec(target / d.dose_rate(Fraction(1)), 4)
        rate = d.dose_rate(dose)
        req["dose"] = num(dose)
    elif mode == "duration":
        duration = dec(vtbi * 3600 / max(target, Fraction(1, 10)), 5)
        rate = vtbi * 3600 / duration if duration > 0 else Fraction(0)
        req["duration_s"] = num(duration)
    else:
        rate = dec(target, 4)
        req["rate_ml_h"] = num(rate)
    steps: list[tuple[Fraction, Fraction]] = [(rate, Fraction(0))]
    interval: Fraction | None = None
    if kind == "loading":
        load = dec((d.volume("loading_ml") or rate / 10 or Fraction(1)) * sc(VOLUMES, VOLUMES_OVER))
        load_rate = dec(top * sc((Fraction(1, 2), Fraction(9, 10), 1), (Fraction(6, 5),)), 4)
        req.update(kind="loading", loading_ml=num(load), loading_rate_ml_h=num(load_rate))
        steps = [(load_rate, load), (rate, Fraction(0))]
    elif kind == "intermittent":
        dose_ml = dec((d.volume("intermittent_ml") or rate / 20 or Fraction(1)) * sc(VOLUMES, VOLUMES_OVER))
        interval = Fraction(sc((60, 120, 600, 600), (0, 0, 30)))
        req.update(kind="intermittent", dose_ml=num(dose_ml), interval_s=num(interval))
        steps = [(rate, dose_ml)]
    elif kind == "ramp":
        up, down = Fraction(pick(rng, 60, 300)), Fraction(pick(rng, 60, 300))
        req.update(kind="ramp", ramp_up_s=num(up), taper_s=num(down))
        half = rate / 2
        steps = [(half, half * up / 3600), (rate, vtbi - half * (up + down) / 3600), (half, Fraction(0))]
    plan: dict[str, Any] = {}
    if pca:
        bolus = dec((d.volume("bolus_ml") or max(target, Fraction(1)) / 100) * sc(VOLUMES, VOLUMES_OVER))
        room = top - max(r for r, _ in steps)
        bolus_rate = dec(room * sc((Fraction(3, 10), Fraction(7, 10), Fraction(19, 20), 1, 1), (Fraction(13, 10),)),
                         4) if room > 0 else Fraction(1)
        lockout = Fraction(pick(rng, 0, 0, 30, 120, 600))
        req.update(bolus_ml=num(bolus), bolus_rate_ml_h=num(bolus_rate), lockout_s=num(lockout))
        plan.update(bolus=bolus, bolus_rate=bolus_rate, lockout_s=lockout)
        if rng.random() < 0.5:
            plan["per_h"] = pick(rng, 1, 4, 12)
            req["max_boluses_per_h"] = plan["per_h"]
    if clin_bolus:
        clin = dec((d.volume("clinician_bolus_ml") or max(target, Fraction(1)) / 50) * sc(VOLUMES, VOLUMES_OVER))
        req["clinician_bolus_max_ml"] = num(clin)
        plan["clin_max"] = clin
    own = []
    two = d.window is not None and rng.random() < wild * 2  # two own windows beside the library's: refused
    for name in ("limit", "limit2"):
        if two or rng.random() < (0.4 if name == "limit" else 0.3 if d.window is None and own else 0):
            window = pump.tick_s * pick(rng, 36, 60, 120)
            share = 3 if two else sc((Fraction(1, 5), Fraction(1, 2), 1), (3,))  # 3: looser than the library's
            limit = dec(max(target, Fraction(1, 10)) * window / 3600 * share)
            req.update({f"{name}_ml": num(limit), f"{name}_window_s": window})
            own.append((limit, window * 1000))
    weight = bsa = None
    if not d.basic:
        if (d.per_body == "kg" or "weight_kg" in d.raw or rng.random() < 0.2) and rng.random() >= wild / 3:
            weight = d.patient.weight
            req["weight_kg"] = num(weight)
        if (d.per_body == "m2" or rng.random() < 0.1) and rng.random() >= wild / 3:
            bsa = d.patient.bsa
            req["bsa_m2"] = num(bsa)
    if route != "intravenous" or rng.random() < 0.2:
        req["route"] = route
    if rng.random() < 0.15:
        req["reservoir_ml"] = num(dec(vtbi * pick(rng, Fraction(1, 2), Fraction(6, 5))))
    if rng.random() < 0.2:
        req["end_action"] = "stop"
    return Plan(d, req, kind, tuple(steps), vtbi, route, weight, bsa, interval_s=interval, own=tuple(own), **plan)


def hard_problems(p: Plan, pump: Pump) -> list[str]:
    """Every hard limit the request crosses (rule 2: the pump must refuse it)."""
    d, out = p.drug, []
    if d.basic and not d.raw["basic"]:
        out.append("a basic infusion where the care area allows none")
    if p.route not in d.routes:
        out.append(f"route {p.route} not allowed for {d.name}")
    w = d.weight_problem(p.weight)
    if w is not None and w[0] == "hard":
        out.append(w[1])
    if d.per_body == "m2" and p.bsa is None:
        out.append("body surface missing for a per-m2 dose")
    top = cmd(pump.top(p.route, d))
    for i, (rate, _) in enumerate(p.steps):
        loading = p.kind == "loading" and i == 0
        if not loading and d.dose_max is not None and cmd(rate) > d.dose_max * 1000:
            out.append(f"step {i} at {cmd(rate)} uL/h over the dose hard max {float(d.dose_max):g} mL/h")
        if cmd(rate) > top:
            out.append(f"step {i} at {cmd(rate)} uL/h over the rate cap {top} uL/h")
    if cmd(p.maint) > 0 and d.rate_min is not None and cmd(p.maint) < d.rate_min * 1000:
        out.append(f"maintenance {cmd(p.maint)} uL/h under the hard minimum {float(d.rate_min):g} mL/h")
    if p.bolus > 0 and max(cmd(r) for r, _ in p.steps) + cmd(p.bolus_rate) > top:
        out.append(f"basal + bolus rate over the rate cap {top} uL/h")
    volumes = [("bolus_ml", p.bolus if p.bolus > 0 else None), ("clinician_bolus_ml", p.clin_max),
               ("loading_ml", p.steps[0][1] if p.kind == "loading" else None),
               ("intermittent_ml", p.steps[0][1] if p.kind == "intermittent" else None), ("vtbi_ml", p.vtbi)]
    for key, value in volumes:
        hard = d.volume(key)
        if value is not None and hard is not None and vu(value) > hard * VU_PER_ML:
            out.append(f"{key} {float(value):g} over the hard max {float(hard):g}")
    if vu(p.vtbi) > pump.max_vtbi * VU_PER_ML:
        out.append("vtbi over the pump's maximum")
    if p.kind == "intermittent" and (p.interval_s is None or p.interval_s < 60):
        out.append(f"intermittent with interval_s = {p.interval_s} (it would run as a continuous infusion)")
    return out


def soft_crossings(p: Plan) -> list[str]:
    """Every soft limit the request crosses: the program may start only once confirmed."""
    d, out = p.drug, []
    w = d.weight_problem(p.weight)
    if w is not None and w[0] == "soft":
        out.append(w[1])
    smax, smin = d.soft_max, d.soft_min
    for i, (rate, _) in enumerate(p.steps):
        if not (p.kind == "loading" and i == 0) and smax is not None and cmd(rate) > smax * 1000:
            out.append(f"step {i} at {cmd(rate)} uL/h over the soft max {float(smax):g} mL/h")
    if smin is not None and 0 < cmd(p.maint) < smin * 1000:
        out.append(f"maintenance under the soft minimum {float(smin):g} mL/h")
    volumes = [("bolus_ml", p.bolus if p.bolus > 0 else None), ("clinician_bolus_ml", p.clin_max),
               ("loading_ml", p.steps[0][1] if p.kind == "loading" else None),
               ("intermittent_ml", p.steps[0][1] if p.kind == "intermittent" else None), ("vtbi_ml", p.vtbi)]
    for key, value in volumes:
        soft = d.volume(key, "soft_max")
        if value is not None and soft is not None and vu(value) > soft * VU_PER_ML:
            out.append(f"{key} {float(value):g} over the soft max {float(soft):g}")
    return out
