"""The program-building edge, proved: the compiled library bounds round toward less drug (Z3).

Theory of operation
-------------------
``controller.clinical.dosebounds`` compiles a library entry (or a care area's basic limits) for one
patient into the integer ``LibBounds`` the core holds every program to. Its arithmetic
(``entry_bounds``, ``area_bounds``) is dual-use, so this module runs *those functions* with Z3
reals for every number of the entry and the patient - dose, rate, volume and window limits, the
concentration, the weight, the body surface - each an arbitrary positive real (so every positive
rational a library or a patient can give), and states what the result must be, in clinical units,
with its own definition of a dose (``SIZE``, ``DIMENSION``: written here, not read from
``controller.clinical.doses``). For every dose-unit family the library supports (every amount
unit against every concentration unit of its dimension, per kg / per m2 / neither, per h / per
min / per dose), an integer quantity q passes a compiled bound *exactly when* it passes every
library limit that bound stands for:

    direction: q passes the compiled maximum  =>  q is within every library maximum
               (a minimum: q passes the compiled minimum  =>  q is at or above every library minimum)
    exactness: q within every library limit   =>  q passes the compiled bound

The direction is the safety claim (never toward more drug, never below a minimum); exactness
says the rounding lost less than one unit and nothing else was lost. Each is a validity over
every value (``assume => goal`` unsatisfiable when negated), checked case by case: one case per
unit family and per pattern of limits given or absent. Cases whose Z3 formula is identical
(families with the same conversion factor) are checked once; the verdict says how many.

Obligations (ids, requirement ids)
- EDGE-RND-001 rate maxima: ``dose_rate_max`` (dose hard max for this patient, rate hard max, the
  pump's ceiling) and ``rate_max`` (rate hard max, ceiling) round down (REQ-DRG-004, REQ-DRG-005).
- EDGE-RND-002 rate minimum: ``rate_min`` (dose and rate hard minima) rounds up (REQ-DRG-004, REQ-DRG-005).
- EDGE-RND-003 soft rate bounds: ``rate_soft_max`` down, ``rate_soft_min`` up (REQ-DRG-003, REQ-DRG-004).
- EDGE-RND-004 volume maxima: patient and clinician bolus (the clinician's falling back to the
  patient's), loading, intermittent and VTBI, hard and soft, round down (REQ-DRG-004, REQ-DRG-005, REQ-BOL-005).
- EDGE-RND-005 dose window: the limit in mL or in drug amount (``limit_dose``, per kg / per m2 as
  its unit says) rounds down to volume at this concentration, the window length rounds up
  (REQ-DRG-004, REQ-DOS-007).
- EDGE-RND-006 care-area basic limits (``area_bounds``): every rate, volume and window bound of a
  basic infusion, the same directions (REQ-DRG-006, REQ-DRG-004).

A counterexample is replayed on the run-time code: the model's rationals become a concrete entry,
``entry_bounds``/``area_bounds`` run on Fractions, and the same quantity must pass the compiled
bound and fail the library limit (or the reverse). ``EDGE_MUTANTS`` are broken variants (a maximum
rounded up, a minimum rounded down, ...); each must be refuted by a counterexample that replays
(``tests/test_edge_proofs.py``). ``python -m proofs.edge [--mutants]`` runs them alone.

Rules
1. Nothing here restates the compile: the bounds are always what ``dosebounds`` computes.
2. ``unknown`` (a timeout) is never ``proved``. The premise is only that each input is positive, a
   conjunction over distinct variables: it always admits a value, so no case is vacuous.
3. Every amount unit of ``controller.clinical.doses.AMOUNTS`` must have a ``SIZE`` here, or every
   obligation is ``unknown`` (a new unit is not proved by omission).
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import z3

from controller.clinical import dosebounds, doses
from controller.clinical.dosebounds import Patient, area_bounds, entry_bounds
from controller.clinical.doses import parse_dose_unit
from controller.clinical.drugs import Bounds, CareArea, DrugEntry
from controller.core import logic
from controller.core.libbounds import N_BUCKETS, LibBounds
from controller.core.limits import PUMP_MAX_RATE, PUMP_MAX_VTBI
from controller.core.logic import all_of
from controller.core.units import MS_PER_S, RATE_PER_ML_H, VU_PER_ML
from pumpctl.proofs.engine import Verdict

logic.register_backend(z3.If, z3.And, z3.Or, z3.Not)
dosebounds.register_floor(z3.ToInt)

# The spec's own units: each amount in the smallest unit of its dimension (rule 3)
SIZE: dict[str, int] = {"g": 10**9, "mg": 10**6, "mcg": 10**3, "ng": 1,
                        "MU": 10**9, "kU": 10**6, "U": 10**3, "mU": 1,
                        "mEq": 1, "mmol": 1, "kcal": 1, "mL": 1}
DIMENSION: dict[str, str] = {"g": "mass", "mg": "mass", "mcg": "mass", "ng": "mass",
                             "MU": "units", "kU": "units", "U": "units", "mU": "units",
                             "mEq": "mEq", "mmol": "mmol", "kcal": "kcal", "mL": "mL"}
MIN_PER_H = 60
BOUND_KEYS = ("hard_min", "soft_min", "soft_max", "hard_max")

Num = Any  # a Z3 real/int term, or a Fraction/int when a counterexample is replayed


@dataclass(frozen=True)
class Family:
    """A dose unit against a concentration unit of the same dimension."""

    amount: str
    conc: str
    body: str | None  # "kg", "m2" or None
    per: str | None  # "h", "min" or None (an amount per dose)

    @property
    def text(self) -> str:
        return "/".join(x for x in (self.amount, self.body, self.per) if x)

    def __str__(self) -> str:
        return f"{self.text} at {self.conc}/mL"


def families(per: tuple[str | None, ...]) -> list[Family]:
    amounts = sorted(SIZE)
    return [Family(a, c, b, t) for a in amounts for c in amounts if DIMENSION[a] == DIMENSION[c]
            for b in (None, "kg", "m2") for t in per]


RATE_FAMILIES = families(("h", "min"))
AMOUNT_FAMILIES = families((None, "h", "min"))


class Inputs:
    """The named numbers of one case: Z3 reals (with positivity premises), or a model's rationals."""

    def __init__(self, values: dict[str, Num] | None = None) -> None:
        self.values: dict[str, Num] = dict(values or {})
        self.symbolic = values is None

    def get(self, name: str) -> Num:
        if name not in self.values:
            if not self.symbolic:
                raise KeyError(name)
            self.values[name] = z3.Real(name)
        return self.values[name]

    def opt(self, name: str, given: bool) -> Num | None:
        return self.get(name) if given else None

    def premise(self) -> z3.BoolRef:
        """Every input is positive (what the library's validation guarantees); inputs a formula does
        not read are independent of it, so they change nothing but cannot make the premise vacuous."""
        return z3.And(*(x > 0 for x in self.values.values()))


def _b(x: Any) -> z3.BoolRef:
    return x if isinstance(x, z3.BoolRef) else z3.BoolVal(bool(x))


def body(x: Inputs, fam: Family) -> Num:
    return x.get("weight_kg") if fam.body == "kg" else x.get("bsa_m2") if fam.body == "m2" else 1


def dose_rate_within(x: Inputs, fam: Family, r: Num, limit: Num, below: bool) -> Any:
    """The dose delivered at r uL/h, in the family's unit, is <= limit (``below``) or >= limit.

    dose = r / 1000 [mL/h] x conc [conc unit/mL] x SIZE[conc] / SIZE[amount] / body / (60 per min),
    multiplied out by its positive denominators."""
    delivered = r * x.get("concentration") * Fraction(SIZE[fam.conc], SIZE[fam.amount])
    allowed = limit * RATE_PER_ML_H * body(x, fam) * (MIN_PER_H if fam.per == "min" else 1)
    return delivered <= allowed if below else delivered >= allowed


def amount_within(x: Inputs, fam: Family, q: Num, limit: Num) -> Any:
    """The drug amount in q vu (per kg / m2 as the unit says) is <= limit, multiplied out."""
    return q * x.get("concentration") * Fraction(SIZE[fam.conc], SIZE[fam.amount]) <= limit * VU_PER_ML * body(x, fam)


def bounds_of(x: Inputs, prefix: str, given: tuple[str, ...]) -> Bounds:
    return Bounds(**{k: x.opt(f"{prefix}.{k}", k in given) for k in BOUND_KEYS})


def drug_entry(x: Inputs, fam: Family, given: dict[str, tuple[str, ...]], window: str | None = None) -> DrugEntry:
    """A library entry whose numbers are the case's inputs (``given``: the bounds present)."""
    return DrugEntry(
        drug="edge", care_area="general", concentration=x.get("concentration"), concentration_amount=fam.conc,
        dose_unit=parse_dose_unit(fam.text), routes=("intravenous",),
        rate=bounds_of(x, "rate_ml_h", given.get("rate", ())), dose=bounds_of(x, "dose", given.get("dose", ())),
        bolus=bounds_of(x, "bolus_ml", given.get("bolus", ())), weight=Bounds(),
        clinician_bolus=bounds_of(x, "clinician_bolus_ml", given.get("clinician", ())),
        loading=bounds_of(x, "loading_ml", given.get("loading", ())),
        intermittent=bounds_of(x, "intermittent_ml", given.get("intermittent", ())),
        vtbi=bounds_of(x, "vtbi_ml", given.get("vtbi", ())),
        limit_ml=x.opt("limit_ml", window == "ml"), limit_dose=x.opt("limit_dose", window == "dose"),
        limit_window_s=x.opt("limit_window_s", window is not None),
    )


def patient_of(x: Inputs, fam: Family) -> Patient:
    return Patient(x.get("weight_kg") if fam.body == "kg" else None, x.get("bsa_m2") if fam.body == "m2" else None)


@dataclass(frozen=True)
class Goal:
    """One compiled bound: ``passes(b, q)`` is the core's test, ``spec(q)`` the library's, for q >= ``lo``."""

    name: str
    passes: Callable[[LibBounds, Num], Any]
    spec: Callable[[Inputs, Num], Any]
    lo: int = 0
    minimum: bool = False


def at_most(name: str, *limits: Callable[[Inputs, Num], Any], lo: int = 0) -> Goal:
    return Goal(name, lambda b, q: q <= getattr(b, name), lambda x, q: all_of(*(f(x, q) for f in limits)), lo)


def at_least(name: str, *limits: Callable[[Inputs, Num], Any]) -> Goal:
    return Goal(name, lambda b, q: q >= getattr(b, name), lambda x, q: all_of(*(f(x, q) for f in limits)),
                minimum=True)


def ml_h_max(key: str) -> Callable[[Inputs, Num], Any]:
    return lambda x, q: q <= x.get(key) * RATE_PER_ML_H


def ml_h_min(key: str) -> Callable[[Inputs, Num], Any]:
    return lambda x, q: q >= x.get(key) * RATE_PER_ML_H


def ml_max(key: str) -> Callable[[Inputs, Num], Any]:
    return lambda x, q: q <= x.get(key) * VU_PER_ML


def pump_rate(x: Inputs, q: Num) -> Any:
    return q <= PUMP_MAX_RATE


def pump_volume(x: Inputs, q: Num) -> Any:
    return q <= PUMP_MAX_VTBI


def dose_max(fam: Family, key: str) -> Callable[[Inputs, Num], Any]:
    return lambda x, q: dose_rate_within(x, fam, q, x.get(key), below=True)


def dose_min(fam: Family, key: str) -> Callable[[Inputs, Num], Any]:
    return lambda x, q: dose_rate_within(x, fam, q, x.get(key), below=False)


def window_length(x: Inputs, b: Num) -> Any:
    """A bucket of b ms: N_BUCKETS of them cover the window (never shorter)."""
    return b * N_BUCKETS >= x.get("limit_window_s") * MS_PER_S


@dataclass(frozen=True)
class Case:
    """What the compile is given (a builder over the inputs) and the bounds it must get right."""

    label: str
    build: Callable[[Inputs], LibBounds]
    goals: tuple[Goal, ...]


def _opt(given: bool, f: Callable[[Inputs, Num], Any]) -> tuple[Callable[[Inputs, Num], Any], ...]:
    return (f,) if given else ()


def _presence(n: int) -> Iterator[tuple[bool, ...]]:
    return itertools.product((True, False), repeat=n)


def compiled(fam: Family, given: dict[str, tuple[str, ...]], window: str | None = None
             ) -> Callable[[Inputs], LibBounds]:
    """The real compile (``entry_bounds``) of an entry in ``fam`` with the ``given`` bounds."""
    def build(x: Inputs) -> LibBounds:
        return entry_bounds(drug_entry(x, fam, given, window), patient_of(x, fam))
    return build


def _rate_cases(what: str, keys: tuple[str, ...], goals: Callable[[Family, bool, bool], tuple[Goal, ...]]
                ) -> Iterator[Case]:
    """Every rate unit family, with the entry's dose and rate limits ``keys`` given or absent."""
    for fam in RATE_FAMILIES:
        for d, r in _presence(2):
            given = {"dose": keys * d, "rate": keys * r}
            yield Case(f"{fam}, dose {what} {'given' if d else 'absent'}, rate {what} {'given' if r else 'absent'}",
                       compiled(fam, given), goals(fam, d, r))


def rate_max_cases() -> Iterator[Case]:
    return _rate_cases("hard max", ("hard_max",), lambda fam, d, r: (
        at_most("dose_rate_max", pump_rate, *_opt(r, ml_h_max("rate_ml_h.hard_max")),
                *_opt(d, dose_max(fam, "dose.hard_max"))),
        at_most("rate_max", pump_rate, *_opt(r, ml_h_max("rate_ml_h.hard_max")))))


def rate_min_cases() -> Iterator[Case]:
    return _rate_cases("hard min", ("hard_min",), lambda fam, d, r: (
        at_least("rate_min", *_opt(r, ml_h_min("rate_ml_h.hard_min")), *_opt(d, dose_min(fam, "dose.hard_min"))),))


def soft_rate_cases() -> Iterator[Case]:
    return _rate_cases("soft limits", ("soft_min", "soft_max"), lambda fam, d, r: (
        at_most("rate_soft_max", pump_rate, *_opt(r, ml_h_max("rate_ml_h.soft_max")),
                *_opt(d, dose_max(fam, "dose.soft_max"))),
        at_least("rate_soft_min", *_opt(r, ml_h_min("rate_ml_h.soft_min")), *_opt(d, dose_min(fam, "dose.soft_min")))))


VOLUMES = (("bolus", "bolus_ml", "bolus_max", "bolus_soft_max"),
           ("loading", "loading_ml", "load_max", "load_soft_max"),
           ("intermittent", "intermittent_ml", "dose_max", "dose_soft_max"))
FAM_ML = Family("mL", "mL", None, "h")


def volume_cases() -> Iterator[Case]:
    for part, key, hard, soft in VOLUMES:
        for h, s in _presence(2):
            given = {part: ("hard_max",) * h + ("soft_max",) * s}
            goals: tuple[Goal, ...] = (at_most(hard, pump_volume, *_opt(h, ml_max(f"{key}.hard_max"))),
                                       at_most(soft, pump_volume, *_opt(s, ml_max(f"{key}.soft_max"))))
            yield Case(f"{key}: hard max {'given' if h else 'absent'}, soft max {'given' if s else 'absent'}",
                       compiled(FAM_ML, given), goals)
    for bh, bs, ch, cs in _presence(4):  # the clinician's bounds, or the patient's when the entry gives none
        given = {"bolus": ("hard_max",) * bh + ("soft_max",) * bs, "clinician": ("hard_max",) * ch + ("soft_max",) * cs}
        own = ch or cs
        src = "clinician_bolus_ml" if own else "bolus_ml"
        goals = (at_most("clin_bolus_max", pump_volume, *_opt(ch if own else bh, ml_max(f"{src}.hard_max"))),
                 at_most("clin_bolus_soft_max", pump_volume, *_opt(cs if own else bs, ml_max(f"{src}.soft_max"))))
        yield Case(f"clinician bolus: bolus_ml {given['bolus']}, clinician_bolus_ml {given['clinician']}",
                   compiled(FAM_ML, given), goals)
    for h in (True, False):
        goals = (at_most("vtbi_max", pump_volume, *_opt(h, ml_max("vtbi_ml.hard_max"))),)
        yield Case(f"vtbi_ml: hard max {'given' if h else 'absent'}",
                   compiled(FAM_ML, {"vtbi": ("hard_max",) * h}), goals)


def amount_limit(fam: Family) -> Callable[[Inputs, Num], Any]:
    return lambda x, q: amount_within(x, fam, q, x.get("limit_dose"))


def window_cases() -> Iterator[Case]:
    """The library window's limit over positive volumes (win_vol = 0 would mean no window: the
    exactness at q = 1 says it is 0 only when no positive volume is within the limit, and the
    compile refuses that case, ``dosebounds._check_pump``)."""
    bucket = Goal("win_bucket_ms", lambda b, q: q >= b.win_bucket_ms, window_length, lo=1, minimum=True)
    ml = at_most("win_vol", pump_volume, ml_max("limit_ml"), lo=1)
    yield Case("limit_ml", compiled(FAM_ML, {}, "ml"), (ml, bucket))
    for fam in AMOUNT_FAMILIES:
        goal = at_most("win_vol", pump_volume, amount_limit(fam), lo=1)
        yield Case(f"limit_dose in {fam}", compiled(fam, {}, "dose"), (goal, bucket))


def care_area_cases() -> Iterator[Case]:
    for rh, rl, ss, bh, bs, v, w in _presence(7):
        def build(x: Inputs, rh: bool = rh, rl: bool = rl, ss: bool = ss, bh: bool = bh, bs: bool = bs,
                  v: bool = v, w: bool = w) -> LibBounds:
            rate = Bounds(x.opt("rate_ml_h.hard_min", rl), x.opt("rate_ml_h.soft_min", ss),
                          x.opt("rate_ml_h.soft_max", ss), x.opt("rate_ml_h.hard_max", rh))
            return area_bounds(CareArea("edge", True, rate, Bounds(hard_max=x.opt("vtbi_ml.hard_max", v)),
                                        Bounds(soft_max=x.opt("bolus_ml.soft_max", bs),
                                               hard_max=x.opt("bolus_ml.hard_max", bh)),
                                        x.opt("limit_ml", w), x.opt("limit_window_s", w)))
        hard_rate = (pump_rate, *_opt(rh, ml_h_max("rate_ml_h.hard_max")))
        goals = [at_most("rate_max", *hard_rate), at_most("dose_rate_max", *hard_rate),
                 at_least("rate_min", *_opt(rl, ml_h_min("rate_ml_h.hard_min"))),
                 at_most("rate_soft_max", pump_rate, *_opt(ss, ml_h_max("rate_ml_h.soft_max"))),
                 at_least("rate_soft_min", *_opt(ss, ml_h_min("rate_ml_h.soft_min"))),
                 at_most("bolus_max", pump_volume, *_opt(bh, ml_max("bolus_ml.hard_max"))),
                 at_most("clin_bolus_max", pump_volume, *_opt(bh, ml_max("bolus_ml.hard_max"))),
                 at_most("bolus_soft_max", pump_volume, *_opt(bs, ml_max("bolus_ml.soft_max"))),
                 at_most("clin_bolus_soft_max", pump_volume, *_opt(bs, ml_max("bolus_ml.soft_max"))),
                 at_most("vtbi_max", pump_volume, *_opt(v, ml_max("vtbi_ml.hard_max")))]
        if w:
            goals += [at_most("win_vol", pump_volume, ml_max("limit_ml"), lo=1),
                      Goal("win_bucket_ms", lambda b, q: q >= b.win_bucket_ms, window_length, lo=1, minimum=True)]
        yield Case(f"care area with rate hard max {rh}, hard min {rl}, soft {ss}, bolus hard {bh}, soft {bs}, "
                   f"vtbi {v}, window {w}", build, tuple(goals))


@dataclass(frozen=True)
class Obligation:
    id: str
    reqs: tuple[str, ...]
    text: str
    cases: Callable[[], Iterator[Case]]


OBLIGATIONS: tuple[Obligation, ...] = (
    Obligation("EDGE-RND-001", ("REQ-DRG-004", "REQ-DRG-005"),
               "dose_rate_max and rate_max round toward less drug: an integer rate passes them exactly when it is "
               "within the dose hard max (every unit family, concentration, weight and body surface), the rate hard "
               "max and the pump's ceiling", rate_max_cases),
    Obligation("EDGE-RND-002", ("REQ-DRG-004", "REQ-DRG-005"),
               "rate_min rounds up: an integer rate passes it exactly when it is at or above the dose hard min "
               "(every unit family) and the rate hard min", rate_min_cases),
    Obligation("EDGE-RND-003", ("REQ-DRG-003", "REQ-DRG-004"),
               "the soft rate bounds round the same way: rate_soft_max down, rate_soft_min up, exactly at the dose "
               "and rate soft limits (every unit family)", soft_rate_cases),
    Obligation("EDGE-RND-004", ("REQ-DRG-004", "REQ-DRG-005", "REQ-BOL-005"),
               "volume maxima round down: patient and clinician bolus (falling back to the patient's), loading, "
               "intermittent and VTBI, hard and soft, pass a volume exactly when it is within the library's mL",
               volume_cases),
    Obligation("EDGE-RND-005", ("REQ-DRG-004", "REQ-DOS-007"),
               "the library's dose window: its limit (in mL, or in drug amount per kg / m2 at this concentration) "
               "rounds down to volume exactly, its length rounds up exactly (every unit family)", window_cases),
    Obligation("EDGE-RND-006", ("REQ-DRG-006", "REQ-DRG-004"),
               "a care area's basic-infusion limits (compile_care_area) round the same way: rate and volume maxima "
               "down, minima and the window length up, exactly", care_area_cases),
)
IDS = tuple(o.id for o in OBLIGATIONS)


@dataclass
class Outcome:
    verdict: str  # proved | counterexample | unknown
    detail: str = ""
    replayed: bool | None = None
    cases: int = 0
    queries: int = 0


def _value(model: z3.ModelRef, term: Any) -> Num:
    v = model.eval(term, model_completion=True)
    if z3.is_int_value(v):
        return v.as_long()
    if z3.is_rational_value(v):
        return Fraction(v.numerator_as_long(), v.denominator_as_long())
    raise ValueError(f"not a rational: {v}")  # an algebraic number: not replayable on Fractions


def _show(x: Num) -> str:
    return f"{float(x):.6g}" if isinstance(x, Fraction) and x.denominator != 1 else str(x)


def _replay(case: Case, goal: Goal, inputs: dict[str, Num], q: int, safety: bool) -> bool:
    """The counterexample on the run-time code: concrete Fractions through the same compile."""
    x = Inputs(inputs)
    try:
        b = case.build(x)
        passes, spec = bool(goal.passes(b, q)), bool(goal.spec(x, q))
    except Exception:  # a replay that cannot run reproduces nothing
        return False
    return passes and not spec if safety else spec and not passes


def check_case(case: Case, timeout_ms: int, seen: dict[int, tuple[str, z3.ExprRef]]
               ) -> tuple[str, str, bool | None, int]:
    """(verdict, detail, replayed, new queries) of one case. ``seen`` caches the outcome of each
    formula already checked: Z3 shares identical terms, so families with the same conversion factor
    give the very same formula (the term is kept, so its id is never reused)."""
    x = Inputs()
    b = case.build(x)
    premise = x.premise()
    queries = 0
    for goal in case.goals:
        q = z3.Int("q")
        domain = q >= goal.lo
        passes, spec = _b(goal.passes(b, q)), _b(goal.spec(x, q))
        for safety in (True, False):
            wrong = z3.simplify(z3.And(passes, z3.Not(spec)) if safety else z3.And(spec, z3.Not(passes)))
            if wrong.get_id() in seen:
                result = seen[wrong.get_id()][0]
            else:
                queries += 1
                sol = z3.Solver()
                sol.set("timeout", timeout_ms)
                sol.add(premise, domain, wrong)
                r = sol.check()
                result = "unsat" if r == z3.unsat else "sat" if r == z3.sat else f"unknown ({sol.reason_unknown()})"
                seen[wrong.get_id()] = (result, wrong)
                if r == z3.sat:
                    return _counterexample(case, goal, x, sol.model(), q, safety) + (queries,)
            if result == "sat":  # an identical formula failed in an earlier case of this run
                return "counterexample", f"{case.label}: {goal.name} (as an earlier case)", None, queries
            if result != "unsat":
                return "unknown", f"{case.label}: {goal.name}: {result}", None, queries
    return "proved", "", None, queries


def _counterexample(case: Case, goal: Goal, x: Inputs, model: z3.ModelRef, q: Any,
                    safety: bool) -> tuple[str, str, bool | None]:
    try:
        inputs = {k: _value(model, t) for k, t in x.values.items()}
        q_val = _value(model, q)
    except ValueError as exc:
        return "counterexample", f"{case.label}: {goal.name}: {exc}", None
    values = ", ".join(f"{k} = {_show(v)}" for k, v in sorted(inputs.items()))
    bound = model.eval(goal.passes(case.build(x), q), model_completion=True)
    if safety:
        what = ("passes the compiled minimum but is below the library's minimum" if goal.minimum
                else "passes the compiled maximum but is beyond the library's limit (toward more drug)")
    else:
        what = "is within the library's limits but the compiled bound refuses it (lost more than rounding)"
    detail = f"counterexample: {case.label}: {goal.name}: q = {q_val} {what}; {values} (bound test: {bound})"
    return "counterexample", detail, _replay(case, goal, inputs, q_val, safety)


def prove(ob: Obligation, timeout_ms: int = 30_000) -> Verdict:
    t0 = time.perf_counter()
    missing = sorted(set(doses.AMOUNTS) - set(SIZE))
    if missing:  # rule 3
        return Verdict(ob.id, ob.reqs, ob.text, True, "unknown", None, 0.0,
                       f"amount units without a statement in proofs/edge.py SIZE: {', '.join(missing)}")
    seen: dict[int, tuple[str, z3.ExprRef]] = {}
    n = queries = 0
    for case in ob.cases():
        n += 1
        try:
            verdict, detail, replayed, new = check_case(case, timeout_ms, seen)
        except Exception as exc:  # the compile failed on symbolic input: nothing is proved
            verdict, detail, replayed, new = "unknown", f"{case.label}: {type(exc).__name__}: {exc}", None, 0
        queries += new
        if verdict != "proved":
            return Verdict(ob.id, ob.reqs, ob.text, True, verdict, None, time.perf_counter() - t0, detail,
                           replayed=replayed)
    return Verdict(ob.id, ob.reqs, ob.text, True, "proved", None, time.perf_counter() - t0,
                   f"valid for every value: {n} cases (unit families x limits given or absent), "
                   f"{queries} distinct Z3 queries")


def verdicts(timeout_ms: int = 30_000, only: list[str] | None = None) -> list[Verdict]:
    return [prove(ob, timeout_ms) for ob in OBLIGATIONS if not only or ob.id in only]


# --- mutants: each must be refuted by a counterexample that replays -----------------------------

def _ceil_as_floor(x: Any, scale: int) -> int:
    return -dosebounds._floor(-x * scale)


def _floor_as_ceil(x: Any, scale: int) -> int:
    return dosebounds._floor(x * scale)


@dataclass(frozen=True)
class EdgeMutant:
    id: str
    text: str
    patches: tuple[tuple[Any, str, Any], ...]
    kills: tuple[str, ...]  # the obligations that must refute it
    extra: dict[str, Any] = field(default_factory=dict)


def _vol_max_up(*candidates: Any) -> int:
    return logic.minimum(PUMP_MAX_VTBI, *(_ceil_as_floor(c, VU_PER_ML) for c in candidates if c is not None))


def _rate_max_up(*candidates: Any) -> int:
    return logic.minimum(PUMP_MAX_RATE, *(_ceil_as_floor(c, RATE_PER_ML_H) for c in candidates if c is not None))


def _rate_min_down(*candidates: Any) -> int:
    return logic.maximum(0, *(_floor_as_ceil(c, RATE_PER_ML_H) for c in candidates if c is not None))


def _bucket_down(window_s: Any) -> int:
    return logic.div_floor(dosebounds.floor_to(window_s, MS_PER_S), N_BUCKETS)


def _amount_to_ml_no_body(amount: Any, unit: Any, conc: Any, conc_amount: str, weight_kg: Any = None,
                          bsa_m2: Any = None) -> Any:
    return amount / doses._conc_in(unit, conc, conc_amount, "dose_unit")


_MCG_AS_MG = dict(doses.AMOUNTS, mcg=("mass", Fraction(1, 1_000)))

EDGE_MUTANTS: tuple[EdgeMutant, ...] = (
    EdgeMutant("M-EDGE-01", "every maximum rounds up (floor_to takes the ceiling)",
               ((dosebounds, "floor_to", _ceil_as_floor),), ("EDGE-RND-001", "EDGE-RND-004", "EDGE-RND-005",
                                                            "EDGE-RND-006")),
    EdgeMutant("M-EDGE-02", "every minimum and window length rounds down (ceil_to takes the floor)",
               ((dosebounds, "ceil_to", _floor_as_ceil),), ("EDGE-RND-002", "EDGE-RND-005", "EDGE-RND-006")),
    EdgeMutant("M-EDGE-03", "rate maxima (hard and soft) round up", ((dosebounds, "_rate_max", _rate_max_up),),
               ("EDGE-RND-001", "EDGE-RND-003", "EDGE-RND-006")),
    EdgeMutant("M-EDGE-04", "rate minima (hard and soft) round down", ((dosebounds, "_rate_min", _rate_min_down),),
               ("EDGE-RND-002", "EDGE-RND-003", "EDGE-RND-006")),
    EdgeMutant("M-EDGE-05", "volume maxima round up", ((dosebounds, "_vol_max", _vol_max_up),),
               ("EDGE-RND-004", "EDGE-RND-006")),
    EdgeMutant("M-EDGE-06", "the window length rounds down (a shorter window)",
               ((dosebounds, "_bucket", _bucket_down),), ("EDGE-RND-005", "EDGE-RND-006")),
    EdgeMutant("M-EDGE-07", "limit_dose per kg converted without the weight",
               ((dosebounds, "amount_to_ml", _amount_to_ml_no_body),), ("EDGE-RND-005",)),
    EdgeMutant("M-EDGE-08", "mcg counted as mg in the unit table", ((doses, "AMOUNTS", _MCG_AS_MG),),
               ("EDGE-RND-001", "EDGE-RND-002", "EDGE-RND-003", "EDGE-RND-005")),
)


@contextlib.contextmanager
def applied(m: EdgeMutant) -> Iterator[None]:
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in m.patches]
    try:
        for obj, name, value in m.patches:
            setattr(obj, name, value)
        yield
    finally:
        for obj, name, value in saved:
            setattr(obj, name, value)


def refute(m: EdgeMutant, timeout_ms: int = 30_000) -> list[Verdict]:
    """The verdicts of the obligations that must kill ``m``, with ``m`` applied."""
    with applied(m):
        return [prove(ob, timeout_ms) for ob in OBLIGATIONS if ob.id in m.kills]


def main(argv: list[str]) -> int:
    ok = True
    for v in verdicts():
        ok = ok and v.verdict == "proved"
        print(f"{v.id:13s} {v.verdict:14s} {v.seconds:6.2f}s  {' '.join(v.reqs)}  {v.detail}")
    if "--mutants" in argv:
        for m in EDGE_MUTANTS:
            for v in refute(m):
                killed = v.verdict == "counterexample" and v.replayed is True
                ok = ok and killed
                print(f"{m.id} {'killed' if killed else 'SURVIVED'} by {v.id} ({v.seconds:.2f}s, replayed "
                      f"{v.replayed}): {m.text}\n    {v.detail}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
