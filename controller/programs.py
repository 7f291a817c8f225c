"""From a clinician's request in user units to a validated core ``Program``.

Theory of operation
-------------------
A request is a flat mapping (a scenario ``program`` event, a CLI file, a UI form):

- the rate: ``rate_ml_h``, or ``vtbi_ml`` + ``duration_s``, or a dose (``dose``,
  ``dose_unit``, ``weight_kg`` / ``bsa_m2``) converted through the drug's concentration;
- ``kind``: ``continuous`` (default), ``loading`` (``loading_ml`` at
  ``loading_rate_ml_h`` first), ``ramp`` (``ramp_up_s`` and ``taper_s`` at half rate),
  ``intermittent`` (``dose_ml`` every ``interval_s``); a rate of 0 with bolus settings
  is a PCA-only program;
- boluses (``bolus_ml``, ``bolus_rate_ml_h``, ``lockout_s``, ``max_boluses_per_h``,
  ``clinician_bolus_max_ml``), dose windows (``limit_ml``/``limit_window_s`` and
  ``limit2_ml``/``limit2_window_s``), ``route``, ``end_action``, ``reservoir_ml``.

The drug library's hard limits refuse; its soft limits are collected and make the program
need an explicit confirmation (REQ-DRG-003). The result is then checked by the same
``PROGRAM_CHECKS`` the core's guard uses, so anything built here is accepted by the core.

Rules
1. Unknown fields, NaN/inf/negative numbers, unit mismatches and unknown drugs raise
   ConfigurationError naming the field, the value and the allowed range (REQ-PRG-002).
2. Rounding never increases delivery: rates, volumes and limits round down; lockouts,
   intervals and windows round up (REQ-DRG-004).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from controller import units as U
from controller.doses import dose_to_ml_h, parse_dose_unit
from controller.drugs import DrugEntry, Library, SoftViolation, check_bounds
from controller.errors import ConfigurationError
from controller.limits import ROUTE_NAMES, Limits
from controller.program import MAX_PCA, N_BUCKETS, N_STEPS, N_WINDOWS, PROGRAM_CHECKS, Program
from controller.validation import raise_first

REQUEST_FIELDS = frozenset({
    "kind", "route", "drug", "care_area", "rate_ml_h", "vtbi_ml", "duration_s", "dose", "dose_unit", "weight_kg",
    "bsa_m2", "loading_ml", "loading_rate_ml_h", "ramp_up_s", "taper_s", "dose_ml", "interval_s", "bolus_ml",
    "bolus_rate_ml_h", "lockout_s", "max_boluses_per_h", "clinician_bolus_max_ml", "limit_ml", "limit_window_s",
    "limit2_ml", "limit2_window_s", "end_action", "reservoir_ml",
})
KINDS = ("continuous", "loading", "ramp", "intermittent")
DEFAULT_BOLUS_RATE_ML_H = 100


@dataclass(frozen=True, slots=True)
class BuiltProgram:
    program: Program
    soft: tuple[SoftViolation, ...]  # soft limits to confirm before start
    entry: DrugEntry | None

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.soft)


def _opt(req: Mapping[str, object], key: str) -> Fraction | None:
    return U.to_fraction(req[key], key) if req.get(key) is not None else None


def _need(req: Mapping[str, object], key: str, why: str) -> Fraction:
    if req.get(key) is None:
        raise ConfigurationError(key, None, f"a number ({why})")
    return U.to_fraction(req[key], key)


def _rate_ml_h(req: Mapping[str, object], entry: DrugEntry | None, soft: list[SoftViolation]) -> Fraction:
    if req.get("dose") is not None:
        if entry is None:
            raise ConfigurationError("drug", req.get("drug"), "a drug from the library (needed for a dose)")
        unit = parse_dose_unit(req.get("dose_unit", entry.dose_unit.text))
        if unit.text.replace(" ", "") != entry.dose_unit.text.replace(" ", ""):
            raise ConfigurationError("dose_unit", unit.text, f"{entry.dose_unit.text} (the library's unit for "
                                     f"{entry.drug})", "unit mismatch")
        dose = U.to_fraction(req["dose"], "dose")
        weight, bsa = _opt(req, "weight_kg"), _opt(req, "bsa_m2")
        if weight is not None:
            _soft(soft, check_bounds("weight_kg", weight, entry.weight, "kg"))
        _soft(soft, check_bounds("dose", dose, entry.dose, unit.text))
        return dose_to_ml_h(dose, unit, entry.concentration, entry.concentration_amount, weight, bsa)
    if req.get("rate_ml_h") is not None:
        return U.to_fraction(req["rate_ml_h"], "rate_ml_h")
    vtbi, duration = _need(req, "vtbi_ml", "with duration_s"), _need(req, "duration_s", "or give rate_ml_h")
    if duration <= 0:
        raise ConfigurationError("duration_s", req["duration_s"], "more than 0 s")
    return vtbi * 3600 / duration


def _soft(soft: list[SoftViolation], v: SoftViolation | None) -> None:
    if v is not None:
        soft.append(v)


def _steps(req: Mapping[str, object], kind: str, rate: Fraction, vtbi: Fraction) -> list[tuple[Fraction, Fraction]]:
    """(rate mL/h, volume mL) per step; the last volume is 0 for a step that runs to the VTBI."""
    if kind == "continuous":
        return [(rate, Fraction(0))]
    if kind == "loading":
        return [(_need(req, "loading_rate_ml_h", "loading dose rate"), _need(req, "loading_ml", "loading volume")),
                (rate, Fraction(0))]
    if kind == "ramp":
        up, down = _need(req, "ramp_up_s", "ramp-up time"), _need(req, "taper_s", "taper time")
        half = rate / 2
        v_up, v_down = half * up / 3600, half * down / 3600
        if v_up + v_down >= vtbi:
            raise ConfigurationError("vtbi_ml", float(vtbi), f"more than the ramp-up and taper volumes "
                                     f"({float(v_up + v_down):g} mL)")
        return [(half, v_up), (rate, vtbi - v_up - v_down), (half, Fraction(0))]
    if kind == "intermittent":
        return [(rate, _need(req, "dose_ml", "volume of each dose"))]
    raise ConfigurationError("kind", kind, ", ".join(KINDS))


def build_program(req: Mapping[str, object], limits: Limits, library: Library | None = None) -> BuiltProgram:
    """Validate a request and build the core program (see the module docstring)."""
    unknown = set(req) - REQUEST_FIELDS
    if unknown:
        k = sorted(unknown)[0]
        raise ConfigurationError(k, req[k], "one of " + ", ".join(sorted(REQUEST_FIELDS)))
    kind = str(req.get("kind", "continuous"))
    if kind not in KINDS:
        raise ConfigurationError("kind", kind, ", ".join(KINDS))
    route_name = req.get("route", "intravenous")
    if not isinstance(route_name, str) or route_name not in ROUTE_NAMES:
        raise ConfigurationError("route", route_name, ", ".join(ROUTE_NAMES))
    route = ROUTE_NAMES[str(route_name)]
    entry = None
    if req.get("drug") is not None:
        if library is None:
            raise ConfigurationError("drug", req["drug"], "no drug (no library is loaded)")
        entry = library.lookup(req["drug"], str(req.get("care_area", "general")))
        if str(route_name) not in entry.routes:
            raise ConfigurationError("route", route_name, ", ".join(entry.routes) + f" for {entry.drug}")
    soft: list[SoftViolation] = []
    vtbi = _need(req, "vtbi_ml", "volume to be infused")
    rate = _rate_ml_h(req, entry, soft)
    steps = _steps(req, kind, rate, vtbi)
    if entry is not None:
        for r, _ in steps:
            if r > 0:
                _soft(soft, check_bounds("rate_ml_h", r, entry.rate, "mL/h"))
    hard_max = limits.max_rate
    if entry is not None and entry.rate.hard_max is not None:
        hard_max = min(hard_max, U.ml_h_to_rate(entry.rate.hard_max, "rate_ml_h.hard_max"))
    step_rate = [U.ml_h_to_rate(r, "rate_ml_h") for r, _ in steps]
    step_vol = [U.ml_to_vu(v, "step volume") for _, v in steps]
    if kind == "intermittent" and step_vol[0] == 0:
        raise ConfigurationError("dose_ml", req.get("dose_ml"), "more than 0 mL")
    pca = _pca(req, entry, soft)
    windows = _windows(req, entry)
    end = str(req.get("end_action", "kvo"))
    if end not in ("kvo", "stop"):
        raise ConfigurationError("end_action", end, "kvo or stop")
    if kind == "intermittent" and req.get("interval_s") is None:
        raise ConfigurationError("interval_s", None, "a number of seconds between doses")
    interval = U.s_to_ms(req["interval_s"], "interval_s") if kind == "intermittent" else 0
    vtbi_vu = U.ml_to_vu(vtbi, "vtbi_ml")
    program = Program(
        loaded=True, route=int(route), n_steps=len(steps),
        step_rate=tuple(step_rate + [0] * (N_STEPS - len(steps))),
        step_vol=tuple(step_vol + [0] * (N_STEPS - len(steps))),
        interval_ms=interval, vtbi=vtbi_vu, rate_hard_max=hard_max, end_kvo=(end == "kvo"),
        pca_vol=pca[0], pca_rate=pca[1], pca_ms=pca[2], lockout_ms=pca[3], pca_max_h=pca[4],
        clin_bolus_max=U.ml_to_vu(req.get("clinician_bolus_max_ml", 0), "clinician_bolus_max_ml"),
        lim_vol=windows[0], lim_bucket_ms=windows[1],
        reservoir_vol=U.ml_to_vu(req.get("reservoir_ml", req["vtbi_ml"]), "reservoir_ml"),
        needs_confirm=bool(soft),
    )
    if pca[0] > 0 and pca[1] == 0:  # bolus rate rounded to nothing
        raise ConfigurationError("bolus_rate_ml_h", req.get("bolus_rate_ml_h"), "at least 0.001 mL/h")
    raise_first(PROGRAM_CHECKS, program, limits)
    return BuiltProgram(program, tuple(soft), entry)


def _pca(req: Mapping[str, object], entry: DrugEntry | None, soft: list[SoftViolation]) -> tuple[int, ...]:
    """(volume vu, rate uL/h, duration ms, lockout ms, max per hour); all 0 without PCA."""
    bolus = _opt(req, "bolus_ml")
    if bolus is None or bolus == 0:
        return (0, 0, 0, 0, 0)
    if entry is not None:
        _soft(soft, check_bounds("bolus_ml", bolus, entry.bolus, "mL"))
    vol = U.ml_to_vu(bolus, "bolus_ml")
    rate = U.ml_h_to_rate(req.get("bolus_rate_ml_h", DEFAULT_BOLUS_RATE_ML_H), "bolus_rate_ml_h")
    if rate <= 0:
        raise ConfigurationError("bolus_rate_ml_h", req.get("bolus_rate_ml_h"), "more than 0 mL/h")
    duration = vol // rate  # rate x duration <= volume: never more than the bolus
    lockout = U.s_to_ms(_need(req, "lockout_s", "PCA lockout"), "lockout_s")
    per_h = req.get("max_boluses_per_h", MAX_PCA)
    if isinstance(per_h, bool) or not isinstance(per_h, int) or not 1 <= per_h <= MAX_PCA:
        raise ConfigurationError("max_boluses_per_h", per_h, f"a whole number from 1 to {MAX_PCA}")
    return (vol, rate, duration, max(lockout, duration), per_h)


def _windows(req: Mapping[str, object], entry: DrugEntry | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    vols, buckets = [0] * N_WINDOWS, [Program().lim_bucket_ms[j] for j in range(N_WINDOWS)]
    pairs = [("limit_ml", "limit_window_s"), ("limit2_ml", "limit2_window_s")]
    given = [(_opt(req, a), _opt(req, b), a, b) for a, b in pairs]
    if entry is not None and entry.limit_ml is not None and given[1][0] is None:
        given[1] = (entry.limit_ml, entry.limit_window_s, "library limit_ml", "library limit_window_s")
    elif entry is not None and entry.limit_ml is not None and given[0][0] is None:
        given[0] = (entry.limit_ml, entry.limit_window_s, "library limit_ml", "library limit_window_s")
    for j, (vol, window, vname, wname) in enumerate(given):
        if vol is None and window is None:
            continue
        if vol is None or window is None or window <= 0:
            raise ConfigurationError(wname if vol is not None else vname, window if vol is not None else vol,
                                     f"{vname} and {wname} (> 0 s) given together")
        vols[j] = U.ml_to_vu(vol, vname)
        buckets[j] = U.s_to_ms(window / N_BUCKETS, wname)  # rounds the window up: conservative
    return tuple(vols), tuple(buckets)


def clinician_bolus_payload(volume_ml: object, duration_s: object) -> tuple[int, int, int]:
    """(volume vu, extra rate uL/h, duration ms) for a clinician bolus event."""
    vol = U.ml_to_vu(volume_ml, "volume_ml")
    duration = U.s_to_ms(duration_s, "duration_s", rounding="down")
    if vol <= 0:
        raise ConfigurationError("volume_ml", volume_ml, "more than 0 mL")
    if duration <= 0:
        raise ConfigurationError("duration_s", duration_s, "more than 0 s")
    rate = vol // duration
    if rate <= 0:
        raise ConfigurationError("duration_s", duration_s, "short enough for a rate of at least 0.001 mL/h")
    return vol, rate, duration

