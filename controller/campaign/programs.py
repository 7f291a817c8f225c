"""Random, realistic infusion programs and the people around them, for the fault campaign.

Theory of operation
-------------------
``random_program(rng, duration_ms)`` draws one clinical program as a scenario ``program``
request (the same fields a scenario file uses, ``controller.clinical.programs.REQUEST_FIELDS``):

- *continuous*: a rate log-uniform over 0.1 mL/h to the route's cap, a VTBI that may or may
  not finish within the infusion, KVO or stop at the end;
- *pca*: basal 0 (PCA-only) to 10 mL/h, patient boluses with a lockout, an hourly count and,
  sometimes, a 4-hour dose limit and a clinician-bolus allowance;
- *loading*: a loading volume at a higher rate, then the maintenance rate;
- *intermittent*: a dose at a set rate every interval until the VTBI.

``people_events`` adds what the people do: the clinician programs at 1 s, sometimes primes
with the line off, starts, sometimes pauses and resumes, sometimes gives a clinician bolus;
the patient of a PCA program presses the button as a Poisson process at a random demand
rate. All of it is scheduled up front (scenario events at fixed times), so it may meet a
state that refuses it: that is recorded as a refusal, as a real pump would.

Rules
1. Every program drawn passes ``build_program`` for the default pump limits (a test draws
   thousands); the generator never relies on a refusal to stay valid.
2. Deterministic: everything comes from the ``rng`` passed in; numbers are rounded down to the
   resolution a clinician would type (0.1 mL/h above 1 mL/h, 0.001 below).
3. Durations and times are integer milliseconds; events past the infusion's end are dropped
   by the caller.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

PROGRAM_KINDS = ("continuous", "pca", "loading", "intermittent")
PROGRAM_WEIGHTS = (0.45, 0.25, 0.15, 0.15)
ROUTES = (("intravenous", 999.0, 0.80), ("subcutaneous", 100.0, 0.10), ("epidural", 25.0, 0.07),
          ("enteral", 999.0, 0.03))
PROGRAM_AT_MS = 1_000
START_AT_MS = 3_000
PRIME_RATE_ML_H = 600.0  # Limits().prime_rate
Event = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ProgramDraw:
    kind: str  # one of PROGRAM_KINDS
    route: str
    request: dict[str, Any]  # a scenario program request (controller.clinical.programs.REQUEST_FIELDS)
    rate_ml_h: float  # the main (basal / maintenance / dose) rate
    vtbi_ml: float
    reservoir_ml: float
    pca: bool = False
    clinician_bolus_ml: float = 0.0
    demand_per_h: float = 0.0  # patient presses per hour (PCA)
    extra: dict[str, Any] = field(default_factory=dict)


def log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def ml(x: float) -> float:
    """A volume or rate as typed: 0.1 resolution from 1 up, 0.001 below, rounded down (so a
    value drawn under a limit stays under it)."""
    digits = 1 if x >= 1.0 else 3
    scale = 10**digits
    return float(round(math.floor(x * scale + 1e-9) / scale, digits))


def _route(rng: random.Random) -> tuple[str, float]:
    name, cap, _ = rng.choices(ROUTES, weights=[w for _, _, w in ROUTES])[0]
    return name, cap


def _vtbi(rng: random.Random, rate: float, hours: float) -> float:
    return min(9_999.0, max(1.0, ml(rate * hours * rng.uniform(0.3, 1.5))))


def _reservoir(rng: random.Random, vtbi: float) -> float:
    return min(10_000.0, ml(vtbi * rng.uniform(1.0, 1.3) + rng.uniform(0.0, 20.0)))


def random_program(rng: random.Random, duration_ms: int) -> ProgramDraw:
    kind = rng.choices(PROGRAM_KINDS, weights=PROGRAM_WEIGHTS)[0]
    hours = duration_ms / 3_600_000
    route, cap = _route(rng)
    end = "kvo" if rng.random() < 0.7 else "stop"
    if kind == "pca":
        return _pca(rng, hours, route, cap, end)
    if kind == "loading":
        rate = ml(max(0.5, log_uniform(rng, 0.5, cap / 2)))
        vtbi = max(_vtbi(rng, rate, hours), 2.0)
        load_rate = ml(min(cap, rate * rng.uniform(2.0, 10.0)))
        load_ml = ml(max(0.1, vtbi * rng.uniform(0.05, 0.3)))
        res = _reservoir(rng, vtbi)
        req = {"kind": "loading", "route": route, "rate_ml_h": rate, "vtbi_ml": vtbi, "loading_ml": load_ml,
               "loading_rate_ml_h": load_rate, "reservoir_ml": res, "end_action": end}
        return ProgramDraw("loading", route, req, rate, vtbi, res)
    if kind == "intermittent":
        rate = ml(rng.uniform(20.0, min(500.0, cap)))
        dose = ml(rng.uniform(5.0, 100.0))
        dose_s = dose / rate * 3600
        interval = next((s for s in (1_800, 3_600, 7_200, 14_400, 21_600) if s >= 1.2 * dose_s and rng.random() < 0.6),
                        max(3_600, math.ceil(1.2 * dose_s)))
        vtbi = ml(dose * rng.randint(1, 6))
        res = _reservoir(rng, vtbi)
        req = {"kind": "intermittent", "route": route, "rate_ml_h": rate, "dose_ml": dose, "interval_s": interval,
               "vtbi_ml": vtbi, "reservoir_ml": res, "end_action": end}
        return ProgramDraw("intermittent", route, req, rate, vtbi, res)
    rate = ml(max(0.1, log_uniform(rng, 0.1, cap)))
    vtbi = _vtbi(rng, rate, hours)
    res = _reservoir(rng, vtbi)
    req = {"route": route, "rate_ml_h": rate, "vtbi_ml": vtbi, "reservoir_ml": res, "end_action": end}
    return ProgramDraw("continuous", route, req, rate, vtbi, res)


def _pca(rng: random.Random, hours: float, route: str, cap: float, end: str) -> ProgramDraw:
    basal = 0.0 if rng.random() < 0.3 else ml(max(0.1, log_uniform(rng, 0.1, min(10.0, cap / 2))))
    bolus = ml(rng.uniform(0.2, 5.0))
    bolus_rate = ml(rng.uniform(10.0, min(300.0, cap - basal)))
    per_h = rng.randint(1, 6)
    demand = log_uniform(rng, 0.5, 12.0)
    vtbi = min(9_999.0, max(2 * bolus, ml((basal + bolus * min(per_h, demand)) * max(hours, 0.2)
                                         * rng.uniform(0.5, 1.5))))
    res = _reservoir(rng, vtbi)
    req: dict[str, Any] = {"route": route, "rate_ml_h": basal, "vtbi_ml": vtbi, "reservoir_ml": res,
                           "bolus_ml": bolus, "bolus_rate_ml_h": bolus_rate, "lockout_s": rng.randint(5, 30) * 60,
                           "max_boluses_per_h": per_h, "end_action": end}
    if rng.random() < 0.4:
        four_h = (basal + bolus * per_h) * 4
        req["limit_ml"] = ml(max(bolus, four_h * rng.uniform(0.3, 1.0)))
        req["limit_window_s"] = 14_400
    clin = 0.0
    if rng.random() < 0.3:
        clin = ml(min(vtbi, bolus * 2))
        req["clinician_bolus_max_ml"] = clin
    return ProgramDraw("pca", route, req, basal, vtbi, res, pca=True, clinician_bolus_ml=clin, demand_per_h=demand)


def people_events(rng: random.Random, draw: ProgramDraw, duration_ms: int) -> tuple[list[Event], int]:
    """The clinician's and patient's events, and when therapy starts (ms)."""
    events: list[Event] = [{"at_ms": PROGRAM_AT_MS, "type": "program", **draw.request}]
    start = START_AT_MS
    if rng.random() < 0.15:
        vol = ml(rng.uniform(1.0, 20.0))
        events.append({"at_ms": 2_000, "type": "prime", "volume_ml": vol, "line_disconnected": True})
        start = 2_000 + math.ceil(vol / PRIME_RATE_ML_H * 3_600_000) + rng.randint(5_000, 60_000)
    events.append({"at_ms": start, "type": "start"})
    if rng.random() < 0.3:  # a nurse pauses for care and resumes (sometimes after the paused limit)
        for _ in range(rng.randint(1, 3)):
            at = rng.randint(start + 60_000, max(start + 60_001, duration_ms))
            events.append({"at_ms": at, "type": "pause"})
            events.append({"at_ms": at + rng.randint(20_000, 300_000), "type": "resume"})
    if draw.clinician_bolus_ml > 0 and rng.random() < 0.5:
        at = rng.randint(start + 60_000, max(start + 60_001, duration_ms))
        events.append({"at_ms": at, "type": "clinician_bolus", "volume_ml": ml(draw.clinician_bolus_ml / 2),
                       "duration_s": rng.randint(60, 600)})
    if draw.pca:
        t = float(start)
        while True:
            t += rng.expovariate(draw.demand_per_h / 3_600_000)
            if t >= duration_ms:
                break
            events.append({"at_ms": int(t), "type": "patient_bolus"})
    return events, start
