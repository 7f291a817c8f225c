"""From a clinician's request in user units to a validated core ``Program``.

Theory of operation
-------------------
A request is a flat mapping (a scenario ``program`` event, a CLI file, a UI form):

- the rate, exactly one way: ``rate_ml_h``; or ``duration_s`` (over ``vtbi_ml``); or a dose
  (``dose``, ``dose_unit``) converted through the drug's concentration and the patient
  (``weight_kg`` / ``bsa_m2``);
- ``kind``: ``continuous`` (default), ``loading`` (``loading_ml`` at ``loading_rate_ml_h``
  first), ``ramp`` (``ramp_up_s`` and ``taper_s`` at half rate), ``intermittent``
  (``dose_ml`` every ``interval_s``); a rate of 0 with a bolus is a PCA-only program;
- boluses (``bolus_ml`` with ``bolus_rate_ml_h``, ``lockout_s``, ``max_boluses_per_h``;
  ``clinician_bolus_max_ml``), the clinician's own dose windows (``limit_ml``/``limit_window_s``,
  ``limit2_ml``/``limit2_window_s``), ``route``, ``end_action``, ``reservoir_ml``.

With a ``drug`` the library entry is compiled for this patient (``controller.clinical.dosebounds``) into
the program's ``lib`` bounds, whatever the entry mode, and its dose window (if any) is window
slot 0; without one the request is a *basic infusion* under the pump's care area (which must
allow it), or, with no library at all, under the pump limits only (a simulation and bench
path, labelled ``basic``). Hard limits are refused here with the clinician's own numbers, and
the core refuses them again on the integers (``PROGRAM_CHECKS``), so anything built here is
accepted by the core and nothing the library forbids is. Every refusal names the request's
field, value and range (``controller.clinical.refusals``), and the soft limits the program
crosses are listed from the same integers the core checks, in every entry mode
(``controller.clinical.softlimits``): the list is non-empty exactly when the core asks for a
confirmation.

Rules
1. Every input gets an explicit answer (REQ-PRG-002): unknown fields, contradictory fields (a
   dose with a rate, a rate with a duration), fields that mean nothing for this request (loading
   fields without ``kind = "loading"``, bolus settings without a bolus volume, intermittent
   fields on a continuous program, weight or care area without a drug), strings or booleans
   where numbers belong, NaN/inf/negatives and ``interval_s = 0`` raise ConfigurationError
   naming the field, the value and the allowed range.
2. Rounding never increases delivery: rates, volumes and limits round down; lockouts,
   intervals and windows round up (REQ-DRG-004).
3. A clinician may only tighten a library limit: the program's hard max is the library's,
   its bolus maxima are at most the library's, and the library's window is kept (REQ-DRG-005).
4. Every default is valid for every valid setting (issue 10 point 6): the bolus rate is the most
   the program's caps leave on top of its highest rate (at most 100 mL/h; refused naming
   ``bolus_rate_ml_h`` when nothing is left). The route is intravenous unless given; for a drug
   never given intravenously it must be given (the line is a fact, not a default).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction

from controller.clinical import dosebounds, refusals, softlimits
from controller.clinical.dosebounds import Compiled, Patient, compile_care_area, soft_checks
from controller.clinical.doses import dose_to_ml_h, parse_dose_unit
from controller.clinical.drugs import CareArea, DrugEntry, Library, SoftViolation, show
from controller.clinical.wording import EntryMode
from controller.clinical.wording import ml_h as fmt_rate
from controller.core import units as U
from controller.core.libbounds import N_BUCKETS, NO_BOUNDS
from controller.core.limits import ROUTE_NAMES, Limits
from controller.core.program import (
    LIB_WINDOW,
    MAX_PCA,
    N_STEPS,
    N_WINDOWS,
    PROGRAM_CHECKS,
    Kind,
    Program,
    max_step_rate,
    rate_cap,
    soft_exceeded,
)
from controller.core.validation import raise_first
from controller.errors import ConfigurationError

KIND_FIELDS: dict[str, frozenset[str]] = {
    "loading": frozenset({"loading_ml", "loading_rate_ml_h"}),
    "ramp": frozenset({"ramp_up_s", "taper_s"}),
    "intermittent": frozenset({"dose_ml", "interval_s"}),
}
BOLUS_SETTINGS = frozenset({"bolus_rate_ml_h", "lockout_s", "max_boluses_per_h"})
PATIENT_FIELDS = frozenset({"weight_kg", "bsa_m2", "care_area"})
TEXT_FIELDS = frozenset({"kind", "route", "drug", "care_area", "dose_unit", "end_action"})
REQUEST_FIELDS = frozenset({
    "kind", "route", "drug", "care_area", "rate_ml_h", "vtbi_ml", "duration_s", "dose", "dose_unit", "weight_kg",
    "bsa_m2", "bolus_ml", "clinician_bolus_max_ml", "limit_ml", "limit_window_s", "limit2_ml", "limit2_window_s",
    "end_action", "reservoir_ml", *BOLUS_SETTINGS, *(f for fs in KIND_FIELDS.values() for f in fs),
})
KINDS = ("continuous", "loading", "ramp", "intermittent")
KIND_CODE = {"continuous": Kind.CONTINUOUS, "loading": Kind.LOADING, "ramp": Kind.RAMP,
             "intermittent": Kind.INTERMITTENT}
DEFAULT_BOLUS_RATE_ML_H = 100
OWN_WINDOWS = (("limit_ml", "limit_window_s"), ("limit2_ml", "limit2_window_s"))  # the clinician's own windows
_STEP_NAMES = {"continuous": ("rate_ml_h",), "loading": ("loading_rate_ml_h", "rate_ml_h"),
               "ramp": ("rate_ml_h", "rate_ml_h", "rate_ml_h"), "intermittent": ("rate_ml_h",)}


@dataclass(frozen=True, slots=True)
class BuiltProgram:
    program: Program
    soft: tuple[SoftViolation, ...]  # soft limits to confirm before start
    entry: DrugEntry | None
    care_area: str | None = None  # the care area of a basic infusion (None: a drug, or no library)

    @property
    def needs_confirmation(self) -> bool:
        return self.program.needs_confirm

    @property
    def basic(self) -> bool:
        """No drug selected (a basic infusion: care-area limits, or pump limits without a library)."""
        return self.entry is None


def _num(req: Mapping[str, object], key: str) -> Fraction | None:
    """A number field, exactly; a string or boolean where a number belongs is refused (rule 1)."""
    value = req.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction, Decimal)):
        raise ConfigurationError(key, value, "a number (not text or true/false)")
    return U.to_fraction(value, key)


def _need(req: Mapping[str, object], key: str, why: str) -> Fraction:
    value = _num(req, key)
    if value is None:
        raise ConfigurationError(key, None, f"a number ({why})")
    return value


def _positive(req: Mapping[str, object], key: str, why: str) -> Fraction:
    value = _need(req, key, why)
    if value <= 0:
        raise ConfigurationError(key, req[key], f"more than 0 ({why})")
    return value


def _text(req: Mapping[str, object], key: str, default: str) -> str:
    value = req.get(key, default)
    if not isinstance(value, str):
        raise ConfigurationError(key, value, "text")
    return value


def _check_fields(req: Mapping[str, object], kind: str) -> None:
    """Rule 1: nothing unknown, nothing contradictory, nothing meaningless for this request."""
    unknown = set(req) - REQUEST_FIELDS
    if unknown:
        k = sorted(unknown)[0]
        raise ConfigurationError(k, req[k], "one of " + ", ".join(sorted(REQUEST_FIELDS)))
    given = {k for k, v in req.items() if v is not None}
    for k in sorted(given & TEXT_FIELDS):
        _text(req, k, "")
    for a, b in (("dose", "rate_ml_h"), ("rate_ml_h", "duration_s"), ("dose", "duration_s")):
        if a in given and b in given:
            raise ConfigurationError(b, req[b], f"absent when {a} is given (give the rate one way)")
    if "dose_unit" in given and "dose" not in given:
        raise ConfigurationError("dose_unit", req["dose_unit"], "only with a dose")
    for other, fields in KIND_FIELDS.items():
        if other != kind:
            for k in sorted(given & fields):
                raise ConfigurationError(k, req[k], f"only with kind = \"{other}\" (this program is {kind})")
    if "bolus_ml" not in given:
        for k in sorted(given & BOLUS_SETTINGS):
            raise ConfigurationError(k, req[k], "only with bolus_ml (a patient bolus volume)")
    if "drug" not in given:
        for k in sorted(given & PATIENT_FIELDS):
            raise ConfigurationError(k, req[k], "only with a drug (a basic infusion has no patient dose)")
    for a, b in (("limit_ml", "limit_window_s"), ("limit2_ml", "limit2_window_s")):
        if (a in given) != (b in given):
            missing = b if a in given else a
            raise ConfigurationError(missing, None, f"a number, given together with {a if a in given else b}")


def _rate_ml_h(req: Mapping[str, object], entry: DrugEntry | None, patient: Patient) -> Fraction:
    dose = _num(req, "dose")
    if dose is not None:
        if entry is None:
            raise ConfigurationError("dose", req["dose"], "only with a drug from the library (needed for a dose)")
        unit = parse_dose_unit(req.get("dose_unit", entry.dose_unit.text))
        if unit.text.replace(" ", "") != entry.dose_unit.text.replace(" ", ""):
            raise ConfigurationError("dose_unit", unit.text, f"{entry.dose_unit.text} (the library's unit for "
                                     f"{entry.drug})", "unit mismatch")
        return dose_to_ml_h(dose, unit, entry.concentration, entry.concentration_amount, patient.weight_kg,
                            patient.bsa_m2)
    rate = _num(req, "rate_ml_h")
    if rate is not None:
        return rate
    if req.get("duration_s") is None:
        raise ConfigurationError("rate_ml_h", None, "a rate: rate_ml_h, a dose, or vtbi_ml with duration_s")
    return _need(req, "vtbi_ml", "the volume to be infused") * 3600 / _positive(req, "duration_s", "the duration")


def _steps(req: Mapping[str, object], kind: str, rate: Fraction, vtbi: Fraction) -> list[tuple[Fraction, Fraction]]:
    """(rate mL/h, volume mL) per step; the last volume is 0 for a step that runs to the VTBI."""
    if kind == "continuous":
        return [(rate, Fraction(0))]
    if kind == "loading":
        return [(_positive(req, "loading_rate_ml_h", "loading dose rate"),
                 _positive(req, "loading_ml", "loading volume")), (rate, Fraction(0))]
    if kind == "ramp":
        up, down = _positive(req, "ramp_up_s", "ramp-up time"), _positive(req, "taper_s", "taper time")
        half = rate / 2
        v_up, v_down = half * up / 3600, half * down / 3600
        if v_up + v_down >= vtbi:
            raise ConfigurationError("vtbi_ml", float(vtbi), f"more than the ramp-up and taper volumes "
                                     f"({float(v_up + v_down):g} mL)")
        return [(half, v_up), (rate, vtbi - v_up - v_down), (half, Fraction(0))]
    return [(rate, _positive(req, "dose_ml", "volume of each dose"))]


def _source(req: Mapping[str, object], limits: Limits, library: Library | None,
            care_area: str) -> tuple[DrugEntry | CareArea | None, Compiled | None, Patient]:
    """The library entry (or care area) and its compiled bounds; (None, None) without a library."""
    drug = req.get("drug")
    patient = Patient(_num(req, "weight_kg"), _num(req, "bsa_m2"))
    if drug is not None:
        if library is None:
            raise ConfigurationError("drug", drug, "no drug (no library is loaded)")
        entry = library.lookup(drug, _text(req, "care_area", "general"))
        return entry, dosebounds.compile_entry(entry, patient, limits), patient  # looked up at call time
    if library is None:
        return None, None, patient
    area = library.care_area(care_area)
    return area, compile_care_area(area, limits), patient


def _route(req: Mapping[str, object], entry: DrugEntry | None) -> str:
    """The route given, or intravenous. The route is a fact of the patient's line, never guessed:
    a drug never given intravenously needs it said, and the refusal names the field."""
    given = req.get("route")
    if given is None and entry is not None and "intravenous" not in entry.routes:
        raise ConfigurationError("route", None, "one of " + ", ".join(entry.routes) + f" for {entry.drug} (the "
                                 "default, intravenous, is not a route of this drug: say which route)")
    name = _text(req, "route", "intravenous")
    if name not in ROUTE_NAMES:
        raise ConfigurationError("route", name, ", ".join(ROUTE_NAMES))
    if entry is not None and name not in entry.routes:
        raise ConfigurationError("route", name, ", ".join(entry.routes) + f" for {entry.drug}")
    return name


def _mode(req: Mapping[str, object], rate: Fraction, vtbi: Fraction, entry: DrugEntry | None,
          patient: Patient) -> EntryMode:
    """How the rate was entered: a dose, a duration over the VTBI, or a rate (``wording.EntryMode``)."""
    for field in ("dose", "duration_s"):
        value = _num(req, field)
        if value is not None:
            return EntryMode(field, value, vtbi, entry, patient)
    return EntryMode("rate_ml_h", rate, vtbi, entry, patient)


def build_program(req: Mapping[str, object], limits: Limits, library: Library | None = None,
                  care_area: str = "general") -> BuiltProgram:
    """Validate a request and build the core program (see the module docstring). ``care_area`` is
    the pump's care area, whose policy governs a basic infusion."""
    if not isinstance(req, Mapping):
        raise ConfigurationError("program", type(req).__name__, "a table of program fields")
    kind = _text(req, "kind", "continuous")
    if kind not in KINDS:
        raise ConfigurationError("kind", kind, ", ".join(KINDS))
    _check_fields(req, kind)
    _text(req, "route", "intravenous")
    source, compiled, patient = _source(req, limits, library, care_area)
    entry = source if isinstance(source, DrugEntry) else None
    route_name = _route(req, entry)
    vtbi = _positive(req, "vtbi_ml", "volume to be infused")
    rate = _rate_ml_h(req, entry, patient)
    mode = _mode(req, rate, vtbi, entry, patient)
    steps = _steps(req, kind, rate, vtbi)
    lib = compiled.bounds if compiled is not None else NO_BOUNDS
    values = {"vtbi_ml": vtbi, **({"rate_ml_h": rate} if mode.field == "rate_ml_h" else {})}
    for key in ("bolus_ml", "clinician_bolus_max_ml", "loading_ml", "dose_ml", "dose"):
        if _num(req, key) is not None:
            values[key] = _num(req, key)  # type: ignore[assignment]
    if source is not None:  # hard limits refused in the clinician's own numbers first; the soft list comes
        soft_checks(source, values)  # from the integers the core checks (softlimits)
    end = _text(req, "end_action", "kvo")
    if end not in ("kvo", "stop"):
        raise ConfigurationError("end_action", end, "kvo or stop")
    interval = U.s_to_ms(_positive(req, "interval_s", "seconds between doses"), "interval_s") \
        if kind == "intermittent" else 0
    clin = _num(req, "clinician_bolus_max_ml")
    reservoir = _num(req, "reservoir_ml")
    step_rate = [U.ml_h_to_rate(r, "rate_ml_h") for r, _ in steps]
    step_vol = [U.ml_to_vu(v, "step volume") for _, v in steps]
    program = Program(
        loaded=True, route=int(ROUTE_NAMES[route_name]), n_steps=len(steps),
        step_rate=tuple(step_rate + [0] * (N_STEPS - len(steps))),
        step_vol=tuple(step_vol + [0] * (N_STEPS - len(steps))),
        interval_ms=interval, vtbi=U.ml_to_vu(vtbi, "vtbi_ml"), rate_hard_max=min(limits.max_rate, lib.rate_max),
        end_kvo=(end == "kvo"),
        clin_bolus_max=U.ml_to_vu(clin, "clinician_bolus_max_ml") if clin is not None else 0,
        lim_vol=(0,) * N_WINDOWS, lim_bucket_ms=Program().lim_bucket_ms,
        # an undeclared container is not tracked by volume: the reservoir sensor guards it (DEC-036)
        reservoir_vol=U.ml_to_vu(reservoir, "reservoir_ml") if reservoir is not None else 10_000 * U.VU_PER_ML,
        kind=KIND_CODE[kind], drug=compiled.code if compiled is not None else 0, lib=lib,
    )
    vols, buckets = _windows(req, lib.win_vol, lib.win_bucket_ms)
    program = _with_pca(replace(program, lim_vol=vols, lim_bucket_ms=buckets), req, limits)
    edge = softlimits.edge_only(program, mode, source, compiled.soft if compiled else (), values)
    program = replace(program, lib=replace(lib, soft_edge=bool(edge)))
    soft = softlimits.crossed(program, mode, source, edge, values)
    program = replace(program, needs_confirm=bool(soft) or soft_exceeded(program))
    words = refusals.words_for(req, kind, mode, _STEP_NAMES[kind], OWN_WINDOWS, lib.win_vol, source)
    refusals.check(program, limits, words)
    try:
        raise_first(PROGRAM_CHECKS, program, limits)
    except ConfigurationError as exc:
        raise refusals.reworded(exc, words) from None
    return BuiltProgram(program, soft, entry, source.name if isinstance(source, CareArea) else None)


def default_bolus_rate(p: Program, limits: Limits) -> int:
    """The bolus rate a clinician gets without giving one (uL/h): the most the program's caps leave
    on top of its highest rate - min(pump max, drug rate hard max, route cap) less the basal -
    never above DEFAULT_BOLUS_RATE_ML_H; 0 when nothing is left (issue 10 point 6)."""
    return max(0, min(DEFAULT_BOLUS_RATE_ML_H * U.RATE_PER_ML_H, rate_cap(p, limits) - max_step_rate(p)))


def _with_pca(p: Program, req: Mapping[str, object], limits: Limits) -> Program:
    """The patient bolus settings (volume vu, rate uL/h, duration ms, lockout ms, max per hour)."""
    bolus = _num(req, "bolus_ml")
    if bolus is None or bolus == 0:
        return p
    vol = U.ml_to_vu(bolus, "bolus_ml")
    rate_ml_h = _num(req, "bolus_rate_ml_h")
    if rate_ml_h is None:
        rate = default_bolus_rate(p, limits)
        if rate <= 0:
            raise ConfigurationError("bolus_rate_ml_h", None, "a rate for the bolus on top of the basal, but this "
                                     f"program leaves none: its highest rate {fmt_rate(max_step_rate(p))} mL/h is "
                                     f"already its rate cap {fmt_rate(rate_cap(p, limits))} mL/h (pump max, the "
                                     "drug's rate hard max and the route cap)", "lower the rate, or give no bolus_ml")
    else:
        rate = U.ml_h_to_rate(rate_ml_h, "bolus_rate_ml_h")
        if rate <= 0:
            raise ConfigurationError("bolus_rate_ml_h", req.get("bolus_rate_ml_h"), "at least 0.001 mL/h")
    duration = vol // rate  # rate x duration <= volume: never more than the bolus
    if duration <= 0:
        raise ConfigurationError("bolus_ml", req.get("bolus_ml"), f"at least {show(Fraction(rate, U.VU_PER_ML))} mL "
                                 f"(a bolus of at least 1 ms at {fmt_rate(rate)} mL/h)")
    lockout = U.s_to_ms(_need(req, "lockout_s", "PCA lockout"), "lockout_s")
    per_h = req.get("max_boluses_per_h", MAX_PCA)
    if isinstance(per_h, bool) or not isinstance(per_h, int) or not 1 <= per_h <= MAX_PCA:
        raise ConfigurationError("max_boluses_per_h", per_h, f"a whole number from 1 to {MAX_PCA}")
    return replace(p, pca_vol=vol, pca_rate=rate, pca_ms=duration, lockout_ms=max(lockout, duration), pca_max_h=per_h)


def _windows(req: Mapping[str, object], lib_vol: int, lib_bucket: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The library's window in slot 0 (rule 3); the clinician's own windows in the free slots."""
    vols, buckets = [0] * N_WINDOWS, list(Program().lim_bucket_ms)
    free = refusals.free_slots(lib_vol)
    if lib_vol > 0:
        vols[LIB_WINDOW], buckets[LIB_WINDOW] = lib_vol, lib_bucket
    for vname, wname in OWN_WINDOWS:
        vol = _num(req, vname)
        if vol is None:
            continue
        window = _positive(req, wname, "the window length")
        if vol <= 0:
            raise ConfigurationError(vname, req[vname], "more than 0 mL")
        if not free:
            raise ConfigurationError(vname, req[vname], "at most one own window when the library sets one "
                                     "(the library's window always stays)")
        j = free.pop(0)
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
