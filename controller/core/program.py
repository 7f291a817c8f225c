"""A therapy program in core units, and the dual-use rules that make one valid.

Theory of operation
-------------------
Every therapy kind is one shape: up to ``N_STEPS`` steps, each a rate and a volume, run in
order. The last step of a continuous program runs until the VTBI is delivered; an
intermittent program (``interval_ms > 0``) runs all its steps, waits until the interval
since the cycle began has passed, and starts again. So

- continuous infusion: one step (rate, until VTBI);
- loading dose then maintenance: (load rate, load volume), (maintenance rate, until VTBI);
- ramp-up / taper (parenteral nutrition): ramp steps, plateau, taper steps;
- intermittent: (dose rate, dose volume) repeated every interval until the VTBI;
- PCA-only: one step at rate 0 with patient boluses.

Boluses ride on top of whatever the steps deliver. The program carries its *library bounds*
(``controller.core.libbounds.LibBounds``: the drug-library entry's limits compiled for this patient,
or a care area's basic-infusion limits) and its entry code; the checks below hold every rate and
volume the program can command to those bounds, whatever mode it was entered in, and the
program's own settings (hard max, bolus maxima, window limits) may only be tighter
(REQ-DRG-002, REQ-DRG-005). Unit conversion lives at the edge (``controller.compile``); this
module only sees validated integers.

Rules
1. ``PROGRAM_CHECKS`` is the only definition of a valid program for given pump limits; the
   ``program`` event is refused unless every check passes (REQ-PRG-001).
2. Every rate the program can ever command, including basal + patient bolus, is within
   ``rate_cap`` = min(pump max, drug hard max, route cap) (REQ-DEL-002, REQ-RTE-001).
3. Unused slots are zero, so two programs that mean the same thing are equal.
4. ``kind`` names the therapy shape and is checked against it: an intermittent program has an
   interval and a continuous one has none (REQ-THR-002); a loading dose and each intermittent
   dose are within their library volumes.
5. A program outside a soft bound must say so (``needs_confirm``): the core, not the edge,
   decides that a confirmation is needed (REQ-DRG-003).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import IntEnum

from controller.core.libbounds import BOUNDS_CHECKS, MAX_WINDOW_MS, N_BUCKETS, NO_BOUNDS, LibBounds
from controller.core.limits import N_ROUTES, Limits
from controller.core.logic import all_of, any_of, implies, maximum, minimum, not_, pick
from controller.core.units import MS_PER_H, MS_PER_MIN, VU_PER_ML, fmt_ml, fmt_ml_h
from controller.core.validation import Check, all_ok

N_STEPS = 4
N_WINDOWS = 2
LIB_WINDOW = 0  # window slot of the library's limit; slot 1 is the clinician's own (REQ-DOS-007)
MAX_PCA = 12  # most patient boluses per hour a program may allow
MAX_CLIN_BOLUS_MS = 6 * MS_PER_H
MAX_RESERVOIR = 10_000 * VU_PER_ML
__all__ = ["MAX_WINDOW_MS", "N_BUCKETS"]


class Kind(IntEnum):
    """The therapy shape (rule 4)."""

    CONTINUOUS = 0  # one step until the VTBI (rate 0 with PCA: PCA-only)
    LOADING = 1  # loading step, then maintenance until the VTBI
    RAMP = 2  # ramp-up, plateau, taper
    INTERMITTENT = 3  # one dose step repeated every interval


STEPS_OF_KIND: tuple[int, ...] = (1, 2, 3, 1)


@dataclass(frozen=True, slots=True)
class Program:
    loaded: bool = False
    route: int = 0
    n_steps: int = 1
    step_rate: tuple[int, ...] = (0,) * N_STEPS
    step_vol: tuple[int, ...] = (0,) * N_STEPS
    interval_ms: int = 0
    vtbi: int = 0
    rate_hard_max: int = 0
    end_kvo: bool = True
    pca_vol: int = 0
    pca_rate: int = 0
    pca_ms: int = 0
    lockout_ms: int = 0
    pca_max_h: int = 0
    clin_bolus_max: int = 0
    lim_vol: tuple[int, ...] = (0,) * N_WINDOWS
    lim_bucket_ms: tuple[int, ...] = (MS_PER_H // N_BUCKETS, 4 * MS_PER_H // N_BUCKETS)
    reservoir_vol: int = 0
    needs_confirm: bool = False
    kind: int = Kind.CONTINUOUS
    drug: int = 0  # library entry code (controller.compile.entry_code); 0: basic infusion
    lib: LibBounds = field(default=NO_BOUNDS)


NO_PROGRAM = Program()
PROGRAM_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Program))


def rate_cap(p: Program, c: Limits) -> int:
    """The highest total rate this program may ever command: pump max, the program's and the
    library's hard max, route cap (REQ-DEL-002, REQ-RTE-001, REQ-DRG-005)."""
    return minimum(c.max_rate, p.rate_hard_max, p.lib.rate_max, pick(p.route, c.route_max_rate))


def dose_step(p: Program, i: int) -> bool:
    """Step ``i`` is held to the dose-rate bound: every step but a loading dose (libbounds)."""
    return not_(all_of(p.kind == Kind.LOADING, i == 0))


def maintenance_rate(p: Program) -> int:
    """The rate of the last step: what runs until the VTBI (or each intermittent dose)."""
    return pick(p.n_steps - 1, p.step_rate)


def soft_exceeded(p: Program) -> bool:
    """Some setting is outside a soft bound of the library (REQ-DRG-003): needs a confirmation."""
    b = p.lib
    maint = maintenance_rate(p)
    return any_of(
        b.soft_edge,
        maint > b.rate_soft_max,
        all_of(maint > 0, maint < b.rate_soft_min),
        p.pca_vol > b.bolus_soft_max,
        p.clin_bolus_max > b.clin_bolus_soft_max,
        all_of(p.kind == Kind.LOADING, p.step_vol[0] > b.load_soft_max),
        all_of(p.kind == Kind.INTERMITTENT, p.step_vol[0] > b.dose_soft_max),
    )


def max_step_rate(p: Program) -> int:
    return maximum(*p.step_rate)


def kvo_rate(p: Program, c: Limits) -> int:
    """KVO never runs above the rate of the program's last step (REQ-DEL-007)."""
    last = pick(p.n_steps - 1, p.step_rate)
    return minimum(c.kvo_rate, last, rate_cap(p, c))


def pca_enabled(p: Program) -> bool:
    return p.pca_vol > 0


def window_enabled(p: Program, j: int) -> bool:
    return p.lim_vol[j] > 0


def _chk(name: str, pred: Callable[..., bool], allowed: Callable[..., str], value: Callable[..., object],
         *reqs: str) -> Check:
    return Check(name, pred, allowed, value, reqs or ("REQ-PRG-001",))


def _step_checks(i: int) -> tuple[Check, ...]:
    def used(p: Program) -> bool:
        return i < p.n_steps

    return (
        _chk(f"step_rate[{i}]",
             lambda p, c: any_of(p.step_rate[i] == 0,
                                 all_of(used(p), c.min_rate <= p.step_rate[i], p.step_rate[i] <= rate_cap(p, c))),
             lambda p, c: f"0 or {fmt_ml_h(c.min_rate)} to {fmt_ml_h(rate_cap(p, c))} mL/h"
                          " (min of pump max, drug hard max and route cap); 0 for unused steps",
             lambda p, c: f"{fmt_ml_h(p.step_rate[i])} mL/h", "REQ-DEL-002", "REQ-RTE-001", "REQ-DRG-002"),
        _chk(f"step_vol[{i}]",
             lambda p, c: all_of(p.step_vol[i] >= 0, p.step_vol[i] <= p.vtbi,
                                 implies(i >= p.n_steps, p.step_vol[i] == 0),
                                 implies(all_of(used(p), any_of(p.interval_ms > 0, i < p.n_steps - 1)),
                                         all_of(p.step_vol[i] > 0, p.step_rate[i] > 0))),
             lambda p, c: "0 to VTBI; > 0 with a rate > 0 for every step that must end (all steps of an"
                          " intermittent program, all but the last otherwise); 0 for unused steps",
             lambda p, c: f"{fmt_ml(p.step_vol[i])} mL"),
    )


_SHAPE_CHECKS: tuple[Check, ...] = (
    _chk("loaded", lambda p, c: p.loaded, lambda p, c: "true", lambda p, c: p.loaded),
    _chk("route", lambda p, c: all_of(p.route >= 0, p.route < N_ROUTES),
         lambda p, c: f"0 to {N_ROUTES - 1}", lambda p, c: p.route, "REQ-RTE-001"),
    _chk("n_steps", lambda p, c: all_of(p.n_steps >= 1, p.n_steps <= N_STEPS),
         lambda p, c: f"1 to {N_STEPS}", lambda p, c: p.n_steps),
    _chk("rate_hard_max", lambda p, c: all_of(c.min_rate <= p.rate_hard_max, p.rate_hard_max <= c.max_rate),
         lambda p, c: f"{fmt_ml_h(c.min_rate)} to {fmt_ml_h(c.max_rate)} mL/h",
         lambda p, c: f"{fmt_ml_h(p.rate_hard_max)} mL/h", "REQ-DRG-002"),
    *(chk for i in range(N_STEPS) for chk in _step_checks(i)),
    _chk("step_rate", lambda p, c: any_of(pick(p.n_steps - 1, p.step_rate) > 0, pca_enabled(p)),
         lambda p, c: "a last step with a rate > 0, or patient boluses (PCA-only program)",
         lambda p, c: "rate 0 without PCA"),
    _chk("vtbi", lambda p, c: all_of(p.vtbi >= VU_PER_ML // 10, p.vtbi <= c.max_vtbi),
         lambda p, c: f"0.1 to {fmt_ml(c.max_vtbi)} mL", lambda p, c: f"{fmt_ml(p.vtbi)} mL", "REQ-DEL-001"),
    _chk("interval_ms", lambda p, c: any_of(p.interval_ms == 0,
                                            all_of(p.interval_ms >= MS_PER_MIN, p.interval_ms <= MAX_WINDOW_MS)),
         lambda p, c: "0 (continuous) or 60000 to 86400000 ms", lambda p, c: p.interval_ms, "REQ-THR-002"),
    _chk("pca_vol", lambda p, c: all_of(p.pca_vol >= 0, p.pca_vol <= p.vtbi),
         lambda p, c: "0 (no PCA) to VTBI", lambda p, c: f"{fmt_ml(p.pca_vol)} mL", "REQ-BOL-001"),
    _chk("pca_rate", lambda p, c: ite_pca(p, all_of(p.pca_rate >= 1,
                                                    max_step_rate(p) + p.pca_rate <= rate_cap(p, c)),
                                          p.pca_rate == 0),
         lambda p, c: f"with PCA: > 0 and highest step rate + bolus rate <= {fmt_ml_h(rate_cap(p, c))} mL/h;"
                      " without PCA: 0",
         lambda p, c: f"{fmt_ml_h(p.pca_rate)} mL/h", "REQ-DEL-002", "REQ-BOL-001"),
    _chk("pca_ms", lambda p, c: ite_pca(p, all_of(p.pca_ms >= 1, p.pca_rate * p.pca_ms <= p.pca_vol),
                                        p.pca_ms == 0),
         lambda p, c: "with PCA: > 0 and bolus rate x duration <= bolus volume; without PCA: 0",
         lambda p, c: p.pca_ms, "REQ-BOL-001"),
    _chk("lockout_ms", lambda p, c: ite_pca(p, all_of(p.pca_ms <= p.lockout_ms, p.lockout_ms <= MAX_WINDOW_MS),
                                            p.lockout_ms == 0),
         lambda p, c: "with PCA: bolus duration to 86400000 ms; without PCA: 0",
         lambda p, c: p.lockout_ms, "REQ-BOL-002"),
    _chk("pca_max_h", lambda p, c: ite_pca(p, all_of(p.pca_max_h >= 1, p.pca_max_h <= MAX_PCA),
                                           p.pca_max_h == 0),
         lambda p, c: f"with PCA: 1 to {MAX_PCA}; without PCA: 0", lambda p, c: p.pca_max_h, "REQ-BOL-003"),
    _chk("clin_bolus_max", lambda p, c: all_of(p.clin_bolus_max >= 0, p.clin_bolus_max <= p.vtbi),
         lambda p, c: "0 (no clinician bolus) to VTBI", lambda p, c: f"{fmt_ml(p.clin_bolus_max)} mL", "REQ-BOL-005"),
    *(_chk(f"lim_vol[{j}]", lambda p, c, j=j: p.lim_vol[j] >= 0,
           lambda p, c: "0 (no limit) or more", lambda p, c, j=j: f"{fmt_ml(p.lim_vol[j])} mL", "REQ-DOS-004")
      for j in range(N_WINDOWS)),
    *(_chk(f"lim_bucket_ms[{j}]",
           lambda p, c, j=j: all_of(c.max_tick_ms <= p.lim_bucket_ms[j],
                                    p.lim_bucket_ms[j] * N_BUCKETS <= MAX_WINDOW_MS),
           lambda p, c: f"max_tick_ms ({c.max_tick_ms}) to {MAX_WINDOW_MS // N_BUCKETS} ms"
                        f" (window = {N_BUCKETS} buckets, at most 24 h)",
           lambda p, c, j=j: p.lim_bucket_ms[j], "REQ-DOS-004")
      for j in range(N_WINDOWS)),
    _chk("reservoir_vol", lambda p, c: all_of(p.reservoir_vol >= 1, p.reservoir_vol <= MAX_RESERVOIR),
         lambda p, c: "more than 0 up to 10000 mL", lambda p, c: f"{fmt_ml(p.reservoir_vol)} mL", "REQ-RES-001"),
)


def _lib_check(name: str, pred: Callable[..., bool], allowed: Callable[..., str], value: Callable[..., object],
               *reqs: str) -> Check:
    return Check(name, pred, allowed, value, reqs or ("REQ-DRG-002", "REQ-DRG-005"))


def _shifted(chk: Check) -> Check:
    """A bounds check applied to the program's own ``lib``."""
    return Check(chk.field, lambda p, c: chk.pred(p.lib, c), lambda p, c: chk.allowed(p.lib, c),
                 lambda p, c: chk.value(p.lib, c), chk.reqs)


LIBRARY_CHECKS: tuple[Check, ...] = (
    *(_shifted(chk) for chk in BOUNDS_CHECKS),
    _lib_check("kind", lambda p, c: all_of(p.kind >= 0, p.kind <= Kind.INTERMITTENT,
                                           p.n_steps == pick(p.kind, STEPS_OF_KIND)),
               lambda p, c: "0 continuous (1 step), 1 loading (2), 2 ramp (3), 3 intermittent (1)",
               lambda p, c: f"{p.kind} with {p.n_steps} steps", "REQ-PRG-001", "REQ-THR-002"),
    _lib_check("interval_ms", lambda p, c: (p.kind == Kind.INTERMITTENT) == (p.interval_ms > 0),
               lambda p, c: "more than 0 for an intermittent program, 0 for every other kind",
               lambda p, c: p.interval_ms, "REQ-THR-002"),
    *(_lib_check(f"step_rate[{i}]", lambda p, c, i=i: implies(dose_step(p, i), p.step_rate[i] <= p.lib.dose_rate_max),
                 lambda p, c: f"at most the library's dose hard max for this patient ({fmt_ml_h(p.lib.dose_rate_max)}"
                              " mL/h), except a loading dose",
                 lambda p, c, i=i: f"{fmt_ml_h(p.step_rate[i])} mL/h") for i in range(N_STEPS)),
    _lib_check("route", lambda p, c: pick(p.route, p.lib.routes),
               lambda p, c: "a route the drug's library entry allows", lambda p, c: p.route, "REQ-RTE-001"),
    _lib_check("step_rate", lambda p, c: any_of(all_of(maintenance_rate(p) == 0, pca_enabled(p)),
                                                 maintenance_rate(p) >= p.lib.rate_min),
               lambda p, c: f"maintenance rate at least the library's hard minimum ({fmt_ml_h(p.lib.rate_min)} mL/h)",
               lambda p, c: f"{fmt_ml_h(maintenance_rate(p))} mL/h"),
    _lib_check("vtbi", lambda p, c: p.vtbi <= p.lib.vtbi_max,
               lambda p, c: f"at most the library's {fmt_ml(p.lib.vtbi_max)} mL", lambda p, c: f"{fmt_ml(p.vtbi)} mL"),
    _lib_check("pca_vol", lambda p, c: p.pca_vol <= p.lib.bolus_max,
               lambda p, c: f"at most the library's bolus hard max ({fmt_ml(p.lib.bolus_max)} mL)",
               lambda p, c: f"{fmt_ml(p.pca_vol)} mL", "REQ-DRG-002", "REQ-BOL-001"),
    _lib_check("clin_bolus_max", lambda p, c: p.clin_bolus_max <= p.lib.clin_bolus_max,
               lambda p, c: f"at most the library's clinician-bolus hard max ({fmt_ml(p.lib.clin_bolus_max)} mL)",
               lambda p, c: f"{fmt_ml(p.clin_bolus_max)} mL", "REQ-DRG-005", "REQ-BOL-005"),
    _lib_check("step_vol[0]", lambda p, c: all_of(implies(p.kind == Kind.LOADING, p.step_vol[0] <= p.lib.load_max),
                                                   implies(p.kind == Kind.INTERMITTENT,
                                                           p.step_vol[0] <= p.lib.dose_max)),
               lambda p, c: f"loading volume at most {fmt_ml(p.lib.load_max)} mL, each intermittent dose at most "
                            f"{fmt_ml(p.lib.dose_max)} mL (library hard limits)",
               lambda p, c: f"{fmt_ml(p.step_vol[0])} mL"),
    _lib_check(f"lim_vol[{LIB_WINDOW}]",
               lambda p, c: implies(p.lib.win_vol > 0, all_of(p.lim_vol[LIB_WINDOW] > 0,
                                                               p.lim_vol[LIB_WINDOW] <= p.lib.win_vol,
                                                               p.lim_bucket_ms[LIB_WINDOW] == p.lib.win_bucket_ms)),
               lambda p, c: f"the library window ({fmt_ml(p.lib.win_vol)} mL per {p.lib.win_bucket_ms * N_BUCKETS} ms)"
                            " or a tighter limit over the same window",
               lambda p, c: f"{fmt_ml(p.lim_vol[LIB_WINDOW])} mL per {p.lim_bucket_ms[LIB_WINDOW] * N_BUCKETS} ms",
               "REQ-DOS-007", "REQ-DRG-005"),
    _lib_check("needs_confirm", lambda p, c: implies(soft_exceeded(p), p.needs_confirm),
               lambda p, c: "true when a setting is outside a soft limit of the library",
               lambda p, c: p.needs_confirm, "REQ-DRG-003"),
    _lib_check("drug", lambda p, c: p.drug >= 0, lambda p, c: "an entry code >= 0 (0: basic infusion)",
               lambda p, c: p.drug, "REQ-DOS-006"),
)


PROGRAM_CHECKS: tuple[Check, ...] = (*_SHAPE_CHECKS, *LIBRARY_CHECKS)


def within_library(p: Program) -> bool:
    """Dual-use: everything this program can command is within its library bounds (the claim
    of INV-LIB-001, stated directly, not through the checks that enforce it)."""
    b = p.lib
    return all_of(
        *(r <= b.rate_max for r in p.step_rate),
        *(implies(dose_step(p, i), p.step_rate[i] <= b.dose_rate_max) for i in range(N_STEPS)),
        max_step_rate(p) + p.pca_rate <= b.rate_max,
        p.pca_vol <= b.bolus_max, p.pca_rate * p.pca_ms <= b.bolus_max,
        p.clin_bolus_max <= b.clin_bolus_max,
        p.vtbi <= b.vtbi_max,
        implies(p.kind == Kind.LOADING, p.step_vol[0] <= b.load_max),
        implies(p.kind == Kind.INTERMITTENT, p.step_vol[0] <= b.dose_max),
        any_of(all_of(maintenance_rate(p) == 0, pca_enabled(p)), maintenance_rate(p) >= b.rate_min),
        pick(p.route, b.routes),
        implies(b.win_vol > 0, all_of(0 < p.lim_vol[LIB_WINDOW], p.lim_vol[LIB_WINDOW] <= b.win_vol,
                                      p.lim_bucket_ms[LIB_WINDOW] == b.win_bucket_ms)),
    )


def ite_pca(p: Program, with_pca: bool, without: bool) -> bool:
    return any_of(all_of(pca_enabled(p), with_pca), all_of(p.pca_vol == 0, without))


def program_ok(p: Program, c: Limits) -> bool:
    """Dual-use: the program is valid for these pump limits (REQ-PRG-001)."""
    return all_ok(PROGRAM_CHECKS, p, c)
