"""Library bounds for this patient: a drug-library entry's limits, compiled to core integers.

Theory of operation
-------------------
A drug-library entry speaks in clinical units (U/kg/h, mg, mL, per care area); the core speaks
in uL/h, vu and ms. ``controller.compile`` turns one entry (or a care area's basic-infusion
limits) and one patient (weight, body surface) into a ``LibBounds``, once, with exact rationals;
that record travels *inside* the program into the core, and the core's program checks
(``controller.core.program.PROGRAM_CHECKS``) hold every rate and volume the program can command to
it, whatever mode the clinician used to enter the program (dose, rate, VTBI + duration,
loading, intermittent, PCA, clinician bolus). The program's own settings may only be tighter:
a clinician can lower a limit, never raise or drop one.

Every field is an upper bound on delivery except ``rate_min``/``rate_soft_min`` (an
under-dose bound on the maintenance rate) and ``routes``. Two rate bounds, because a dose
rate is not a pump speed: ``dose_rate_max`` (the entry's dose hard max for this patient, and its
rate hard max) holds every infusion step but a loading dose; ``rate_max`` (the entry's rate hard
max alone) holds everything the motor is ever told, a bolus on top of the basal included. A
bound the entry does not give is the pump's physical ceiling, so "no library limit" is an
explicit, checkable value.

Rules
1. Every field is an ``int`` (``routes`` a tuple of bools per ``Route``) in core units.
2. ``BOUNDS_CHECKS`` is the only definition of well-formed bounds; the program checks use it.
3. The library window ``win_vol`` (0: none) over ``win_bucket_ms`` x N_BUCKETS is always window
   slot 0 of a program for this entry: a clinician's own window is slot 1 (REQ-DOS-007).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from controller.core.limits import N_ROUTES, PUMP_MAX_RATE, PUMP_MAX_VTBI
from controller.core.logic import all_of
from controller.core.units import MS_PER_H, fmt_ml, fmt_ml_h
from controller.core.validation import Check, all_ok

N_BUCKETS = 12  # closed buckets per dose window; the current bucket makes N_BUCKETS + 1
MAX_WINDOW_MS = 24 * MS_PER_H
DEFAULT_WINDOW_BUCKET_MS = 4 * MS_PER_H // N_BUCKETS
BASIC = 0  # the entry code of a basic infusion (no drug selected)


@dataclass(frozen=True, slots=True)
class LibBounds:
    rate_max: int = PUMP_MAX_RATE  # any commanded rate: basal, loading, basal + bolus (uL/h): the entry's rate_ml_h
    dose_rate_max: int = PUMP_MAX_RATE  # every step but a loading dose: the dose (and rate) hard max (uL/h)
    rate_min: int = 0  # the maintenance (last) step's rate, unless a PCA-only program (uL/h)
    rate_soft_max: int = PUMP_MAX_RATE
    rate_soft_min: int = 0
    bolus_max: int = PUMP_MAX_VTBI  # patient (PCA) bolus volume (vu)
    bolus_soft_max: int = PUMP_MAX_VTBI
    clin_bolus_max: int = PUMP_MAX_VTBI  # clinician bolus volume (vu)
    clin_bolus_soft_max: int = PUMP_MAX_VTBI
    load_max: int = PUMP_MAX_VTBI  # loading-dose volume (vu)
    load_soft_max: int = PUMP_MAX_VTBI
    dose_max: int = PUMP_MAX_VTBI  # each intermittent dose (vu)
    dose_soft_max: int = PUMP_MAX_VTBI
    vtbi_max: int = PUMP_MAX_VTBI  # volume to be infused (vu)
    win_vol: int = 0  # library dose-window limit (vu); 0: the entry has none
    win_bucket_ms: int = DEFAULT_WINDOW_BUCKET_MS  # the library window is N_BUCKETS of these
    routes: tuple[bool, ...] = field(default=(True,) * N_ROUTES)  # routes the entry allows
    soft_edge: bool = False  # a soft limit only the edge can see (patient weight) was crossed


NO_BOUNDS = LibBounds()
BOUNDS_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(LibBounds))
_VOLUMES = ("bolus_max", "bolus_soft_max", "clin_bolus_max", "clin_bolus_soft_max", "load_max", "load_soft_max",
            "dose_max", "dose_soft_max", "vtbi_max")


def _vol_check(name: str) -> Check:
    return Check(f"lib.{name}", lambda b, c: all_of(0 <= getattr(b, name), getattr(b, name) <= PUMP_MAX_VTBI),
                 lambda b, c: f"0 to {fmt_ml(PUMP_MAX_VTBI)} mL", lambda b, c: f"{fmt_ml(getattr(b, name))} mL",
                 ("REQ-DRG-002",))


BOUNDS_CHECKS: tuple[Check, ...] = (
    Check("lib.rate_max", lambda b, c: all_of(c.min_rate <= b.rate_max, b.rate_max <= PUMP_MAX_RATE),
          lambda b, c: f"{fmt_ml_h(c.min_rate)} to {fmt_ml_h(PUMP_MAX_RATE)} mL/h",
          lambda b, c: f"{fmt_ml_h(b.rate_max)} mL/h", ("REQ-DRG-002",)),
    Check("lib.dose_rate_max", lambda b, c: all_of(c.min_rate <= b.dose_rate_max, b.dose_rate_max <= b.rate_max),
          lambda b, c: f"{fmt_ml_h(c.min_rate)} mL/h to lib.rate_max ({fmt_ml_h(b.rate_max)} mL/h)",
          lambda b, c: f"{fmt_ml_h(b.dose_rate_max)} mL/h", ("REQ-DRG-002",)),
    Check("lib.rate_min", lambda b, c: all_of(0 <= b.rate_min, b.rate_min <= b.dose_rate_max),
          lambda b, c: f"0 to lib.rate_max ({fmt_ml_h(b.rate_max)} mL/h)",
          lambda b, c: f"{fmt_ml_h(b.rate_min)} mL/h", ("REQ-DRG-002",)),
    Check("lib.rate_soft_max", lambda b, c: all_of(0 <= b.rate_soft_min, b.rate_soft_min <= b.rate_soft_max),
          lambda b, c: "rate_soft_min <= rate_soft_max, both >= 0",
          lambda b, c: f"{fmt_ml_h(b.rate_soft_min)} to {fmt_ml_h(b.rate_soft_max)} mL/h", ("REQ-DRG-003",)),
    *(_vol_check(n) for n in _VOLUMES),
    Check("lib.win_vol", lambda b, c: all_of(0 <= b.win_vol, b.win_vol <= PUMP_MAX_VTBI),
          lambda b, c: f"0 (no library window) to {fmt_ml(PUMP_MAX_VTBI)} mL",
          lambda b, c: f"{fmt_ml(b.win_vol)} mL", ("REQ-DOS-007",)),
    Check("lib.win_bucket_ms",
          lambda b, c: all_of(c.max_tick_ms <= b.win_bucket_ms, b.win_bucket_ms * N_BUCKETS <= MAX_WINDOW_MS),
          lambda b, c: f"max_tick_ms ({c.max_tick_ms}) to {MAX_WINDOW_MS // N_BUCKETS} ms (window at most 24 h)",
          lambda b, c: b.win_bucket_ms, ("REQ-DOS-007",)),
)


def bounds_ok(b: LibBounds, c: object) -> bool:
    """Dual-use: the compiled bounds are well formed for these pump limits."""
    return all_ok(BOUNDS_CHECKS, b, c)
