"""Refusals in the clinician's words: the request's field, their value and the allowed range.

Theory of operation
-------------------
The core refuses a program naming one of *its* fields in core units (``pca_rate = '100.000 mL/h'``,
``step_rate[0]``, ``lib.dose_rate_max``). The clinician wrote ``bolus_rate_ml_h``, ``dose`` or
``duration_s``. ``check`` runs the checks a request most often fails in the request's own terms,
on the same integers and the same compiled bounds the core uses (the rate cap, the dose bound for
this patient, the library minimum, room for a bolus on top of the basal, volumes against the VTBI,
spacing in seconds); ``reworded`` maps whatever refusal of ``PROGRAM_CHECKS`` is left to the
request's field and value. ``Words`` says how this request maps onto the program.

Rules
1. Wording only: nothing here accepts what the core refuses. ``build_program`` still runs every
   core check on the integers (``raise_first(PROGRAM_CHECKS)``) and rewords its refusal.
2. Every field named is a request field (``programs.REQUEST_FIELDS``) or a library field
   (``<drug>.<key>``, ``care_area[<name>].<key>``); never a core name.
3. Checks read only the program and its compiled bounds, never the library entry: what the
   library allows for this patient is what the compile said (so a compile defect is not hidden
   here; the red team's defects reach the core).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from controller.clinical.drugs import CareArea, DrugEntry, show
from controller.clinical.wording import EntryMode, ml, ml_h
from controller.core.libbounds import MAX_WINDOW_MS, N_BUCKETS
from controller.core.limits import ROUTE_NAMES, Limits
from controller.core.program import (
    LIB_WINDOW,
    N_WINDOWS,
    Kind,
    Program,
    dose_step,
    maintenance_rate,
    max_step_rate,
    rate_cap,
)
from controller.core.units import MS_PER_S
from controller.errors import ConfigurationError

HARD = "hard limits cannot be overridden, whatever the entry mode"
_LIB_FIELDS = {"rate_max": "rate_ml_h.hard_max", "dose_rate_max": "dose.hard_max", "rate_min": "dose.hard_min",
               "rate_soft_max": "dose.soft_max", "bolus_max": "bolus_ml.hard_max",
               "bolus_soft_max": "bolus_ml.soft_max", "clin_bolus_max": "clinician_bolus_ml.hard_max",
               "clin_bolus_soft_max": "clinician_bolus_ml.soft_max", "load_max": "loading_ml.hard_max",
               "load_soft_max": "loading_ml.soft_max", "dose_max": "intermittent_ml.hard_max",
               "dose_soft_max": "intermittent_ml.soft_max", "vtbi_max": "vtbi_ml.hard_max", "win_vol": "limit_ml",
               "win_bucket_ms": "limit_window_s"}
_PLAIN = {"vtbi": "vtbi_ml", "interval_ms": "interval_s", "pca_vol": "bolus_ml", "pca_rate": "bolus_rate_ml_h",
          "pca_ms": "bolus_ml", "lockout_ms": "lockout_s", "pca_max_h": "max_boluses_per_h",
          "clin_bolus_max": "clinician_bolus_max_ml", "reservoir_vol": "reservoir_ml", "route": "route",
          "kind": "kind", "loaded": "kind", "n_steps": "kind", "drug": "drug", "needs_confirm": "drug"}
_INDEXED = re.compile(r"^(\w+)\[(\d+)\]$")


@dataclass(frozen=True, slots=True)
class Words:
    """How one request maps onto its program (see the module docstring)."""

    req: Mapping[str, object]
    kind: str
    mode: EntryMode  # how the maintenance rate was entered
    steps: tuple[str, ...]  # the request field of each step's rate
    windows: tuple[tuple[str, str] | None, ...]  # per window slot: (limit field, window field) of the request
    library: str | None  # "<drug>" or "care_area[<name>]" for library fields; None without a library

    def value(self, field: str) -> object:
        """The clinician's value for ``field``, a number shown as they read it (None: not given)."""
        v = self.mode.value if field == self.mode.field else self.req.get(field)
        if isinstance(v, bool) or not isinstance(v, (int, float, Fraction)):
            return v
        return show(Fraction(str(v)) if isinstance(v, float) else Fraction(v))

    def step_mode(self, i: int) -> tuple[EntryMode, int]:
        """The mode a step's rate is said in, and the step's share of the entered rate (a ramp's ends: half)."""
        if self.steps[i] != self.mode.field:  # the loading rate: plain mL/h
            value = self.req.get(self.steps[i])
            given = Fraction(str(value)) if value is not None else Fraction(0)
            return EntryMode("rate_ml_h", given, self.mode.vtbi_ml, None, self.mode.patient), 1
        return self.mode, 2 if self.kind == "ramp" and i != 1 else 1


def free_slots(lib_vol: int) -> list[int]:
    """The window slots a clinician's own windows fill, in order: all but the library's, when it has one."""
    return [j for j in range(N_WINDOWS) if not (lib_vol > 0 and j == LIB_WINDOW)]


def words_for(req: Mapping[str, object], kind: str, mode: EntryMode, step_names: tuple[str, ...],
              own_windows: tuple[tuple[str, str], ...], lib_vol: int, source: DrugEntry | CareArea | None) -> Words:
    """How this request maps onto its program: the field of each step's rate, and of each window slot."""
    windows: list[tuple[str, str] | None] = [None] * N_WINDOWS
    given = [names for names in own_windows if req.get(names[0]) is not None]
    for j, names in zip(free_slots(lib_vol), given, strict=False):
        windows[j] = names
    library = None if source is None else source.drug if isinstance(source, DrugEntry) else f"care_area[{source.name}]"
    return Words(req, kind, mode, tuple(mode.field if n == "rate_ml_h" else n for n in step_names), tuple(windows),
                 library)


def _cap_reason(p: Program, c: Limits, top: int, dose: bool) -> str:
    reasons = [(c.max_rate, "this pump's max_rate"), (p.lib.rate_max, "the library's rate hard max"),
               (c.route_max_rate[p.route] if 0 <= p.route < len(c.route_max_rate) else top,
                f"the {_route_name(p.route)} route's cap")]
    if dose and p.lib.dose_rate_max < p.lib.rate_max:  # otherwise it is the rate hard max
        reasons.append((p.lib.dose_rate_max, "the library's dose hard limit for this patient"))
    return " and ".join(dict.fromkeys(why for cap, why in reasons if cap == top)) or "the rate cap"


def _route_name(route: int) -> str:
    return next((n for n, r in ROUTE_NAMES.items() if r == route), str(route))


def _refuse(w: Words, field: str, allowed: str, fix: str = "") -> ConfigurationError:
    return ConfigurationError(field, w.value(field), allowed, fix)


def check(p: Program, c: Limits, w: Words) -> None:
    """The usual refusals, said in the request's terms (rule 1: the core checks again)."""
    cap = rate_cap(p, c)
    for i in range(p.n_steps):
        field, r = w.steps[i], p.step_rate[i]
        mode, share = w.step_mode(i)
        top = min(cap, p.lib.dose_rate_max) if dose_step(p, i) else cap
        if r > top:
            low = max(c.min_rate, p.lib.rate_min if i == p.n_steps - 1 else 0)
            raise _refuse(w, field, f"{mode.limit(low * share, top * share)} "
                          f"({_cap_reason(p, c, top, dose_step(p, i))})", HARD)
        if 0 < r < c.min_rate or (r == 0 and (i < p.n_steps - 1 or p.interval_ms > 0)):
            raise _refuse(w, field, f"{mode.limit(c.min_rate * share, None)} (this pump's minimum rate)")
    maint, last = maintenance_rate(p), w.steps[p.n_steps - 1]
    if maint == 0 and p.pca_vol == 0:
        raise _refuse(w, last, "more than 0 (or give bolus_ml for a PCA-only program)")
    if maint > 0 and maint < p.lib.rate_min:
        mode, share = w.step_mode(p.n_steps - 1)
        raise _refuse(w, last, f"{mode.limit(p.lib.rate_min * share, None)} (the library's hard minimum)", HARD)
    volumes = [("bolus_ml", p.pca_vol), ("clinician_bolus_max_ml", p.clin_bolus_max)]
    if p.kind in (Kind.LOADING, Kind.INTERMITTENT):
        volumes.append(("loading_ml" if p.kind == Kind.LOADING else "dose_ml", p.step_vol[0]))
    for field, vol in volumes:
        if vol > p.vtbi:
            raise _refuse(w, field, f"at most vtbi_ml ({ml(p.vtbi)} mL)")
    if p.pca_vol > 0:
        room = cap - max_step_rate(p)
        if p.pca_rate > room:
            raise _refuse(w, "bolus_rate_ml_h", f"at most {ml_h(max(room, 0))} mL/h (this program's rate cap "
                          f"{ml_h(cap)} mL/h, {_cap_reason(p, c, cap, False)}, less its highest rate "
                          f"{ml_h(max_step_rate(p))} mL/h)", HARD)
        if p.lockout_ms > MAX_WINDOW_MS:
            raise _refuse(w, "lockout_s", f"0 to {MAX_WINDOW_MS // MS_PER_S} s")
    if p.kind == Kind.INTERMITTENT and not MS_PER_S * 60 <= p.interval_ms <= MAX_WINDOW_MS:
        raise _refuse(w, "interval_s", f"60 to {MAX_WINDOW_MS // MS_PER_S} s")
    for j, names in enumerate(w.windows):
        if names is not None and not c.max_tick_ms <= p.lim_bucket_ms[j] <= MAX_WINDOW_MS // N_BUCKETS:
            raise _refuse(w, names[1], f"{show(Fraction(c.max_tick_ms * N_BUCKETS, MS_PER_S))} to "
                          f"{MAX_WINDOW_MS // MS_PER_S} s ({N_BUCKETS} control ticks to 24 h)")


def reworded(exc: ConfigurationError, w: Words) -> ConfigurationError:
    """A refusal of the core's ``PROGRAM_CHECKS`` in the request's field and value (rule 2)."""
    core = exc.field
    if core.startswith("lib."):
        key = _LIB_FIELDS.get(core[4:], core[4:])
        return ConfigurationError(f"{w.library}.{key}" if w.library else key, exc.value, exc.allowed,
                                  "the library entry for this patient contradicts the pump")
    m = _INDEXED.match(core)
    field: str | None = _PLAIN.get(core)
    if m is not None:
        name, i = m.group(1), int(m.group(2))
        if name == "step_rate":
            field = w.steps[min(i, len(w.steps) - 1)]
        elif name == "step_vol":
            field = {"loading": "loading_ml", "intermittent": "dose_ml"}.get(w.kind, "vtbi_ml")
        elif name in ("lim_vol", "lim_bucket_ms"):
            names = w.windows[i] if i < len(w.windows) else None
            field = (names[0] if name == "lim_vol" else names[1]) if names else "limit_ml"
    elif core == "step_rate":
        field = w.steps[-1]
    if field is None:  # a check added to the core without a wording here: still never a core name
        field = w.mode.field
    value = w.value(field)
    return ConfigurationError(field, value if value is not None else exc.value, exc.allowed, exc.fix)
