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

Boluses ride on top of whatever the steps deliver. The drug library and unit conversion
live at the edge (``controller.drugs``); this module only sees validated integers.

Rules
1. ``PROGRAM_CHECKS`` is the only definition of a valid program for given pump limits; the
   ``program`` event is refused unless every check passes (REQ-PRG-001).
2. Every rate the program can ever command, including basal + patient bolus, is within
   ``rate_cap`` = min(pump max, drug hard max, route cap) (REQ-DEL-002, REQ-RTE-001).
3. Unused slots are zero, so two programs that mean the same thing are equal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

from controller.limits import N_ROUTES, Limits
from controller.logic import all_of, any_of, implies, maximum, minimum, pick
from controller.units import MS_PER_H, MS_PER_MIN, VU_PER_ML, fmt_ml, fmt_ml_h
from controller.validation import Check, all_ok

N_STEPS = 4
N_WINDOWS = 2
N_BUCKETS = 12  # closed buckets per window; the current bucket makes N_BUCKETS + 1
MAX_PCA = 12  # most patient boluses per hour a program may allow
MAX_WINDOW_MS = 24 * MS_PER_H
MAX_CLIN_BOLUS_MS = 6 * MS_PER_H


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


NO_PROGRAM = Program()
PROGRAM_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Program))


def rate_cap(p: Program, c: Limits) -> int:
    """The highest total rate this program may ever command (REQ-DEL-002, REQ-RTE-001)."""
    return minimum(c.max_rate, p.rate_hard_max, pick(p.route, c.route_max_rate))


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


def _chk(field: str, pred: Callable[..., bool], allowed: Callable[..., str], value: Callable[..., object],
         *reqs: str) -> Check:
    return Check(field, pred, allowed, value, reqs or ("REQ-PRG-001",))


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


PROGRAM_CHECKS: tuple[Check, ...] = (
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
    _chk("reservoir_vol", lambda p, c: all_of(p.reservoir_vol >= 1, p.reservoir_vol <= 10_000 * VU_PER_ML),
         lambda p, c: "more than 0 up to 10000 mL", lambda p, c: f"{fmt_ml(p.reservoir_vol)} mL", "REQ-RES-001"),
)


def ite_pca(p: Program, with_pca: bool, without: bool) -> bool:
    return any_of(all_of(pca_enabled(p), with_pca), all_of(p.pca_vol == 0, without))


def program_ok(p: Program, c: Limits) -> bool:
    """Dual-use: the program is valid for these pump limits (REQ-PRG-001)."""
    return all_ok(PROGRAM_CHECKS, p, c)
