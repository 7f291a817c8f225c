"""CrossHair contracts on the arithmetic the proofs take as given.

Theory of operation
-------------------
Each function below is a thin, typed entry point into real controller code with PEP 316
``pre:``/``post:`` conditions. ``crosshair check`` explores them symbolically with a fixed
per-condition timeout; its outcome is labelled honestly as "no counterexample within N s"
(CrossHair is a bounded symbolic search, not a proof). Covered: unit conversions and their
rounding direction, dose conversion, clinician-bolus arithmetic, window-ring bookkeeping,
the motor's per-tick volume, and program validation's rate caps. The compiled library bounds are
also *proved* to round toward less drug for every unit family and every positive rational
(Z3, ``proofs/edge.py``, EDGE-RND-*); the contracts below check the same code on whole numbers.

``run_crosshair`` runs the check in a subprocess and parses what it reports.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from controller.clinical import dosebounds
from controller.clinical.dosebounds import Patient
from controller.clinical.doses import dose_to_ml_h, parse_dose_unit
from controller.clinical.drugs import DrugEntry, parse_entry
from controller.clinical.programs import clinician_bolus_payload
from controller.core import windows
from controller.core.flow import moved_in
from controller.core.libbounds import LibBounds
from controller.core.limits import PUMP_MAX_RATE, Limits  # noqa: F401 - PUMP_MAX_RATE is used by a post: condition
from controller.core.program import Program, program_ok, rate_cap
from controller.core.state import Ring, initial_vars
from controller.core.units import VU_PER_ML, ml_h_to_rate, ml_to_vu, s_to_ms


def volume_rounds_down(milli_ml: int) -> int:
    """A volume in thousandths of a mL converts to vu exactly and never rounds up (REQ-DRG-004).

    pre: 0 <= milli_ml <= 10_000_000
    post: __return__ * 1000 == milli_ml * 3_600_000_000
    """
    return ml_to_vu(Fraction(milli_ml, 1000), "volume")


def rate_rounds_down(num: int, den: int) -> int:
    """A rate given as a fraction of mL/h rounds down to whole uL/h (never more drug).

    pre: 1 <= den <= 10_000 and 0 <= num <= 10_000_000
    post: __return__ * den <= num * 1000 < (__return__ + 1) * den
    """
    return ml_h_to_rate(Fraction(num, den), "rate_ml_h")


def spacing_rounds_up(num: int, den: int) -> int:
    """A lockout or interval in seconds rounds up to whole ms (never shorter).

    pre: 1 <= den <= 10_000 and 0 <= num <= 10_000_000
    post: __return__ * den >= num * 1000 > (__return__ - 1) * den
    """
    return s_to_ms(Fraction(num, den), "lockout_s")


def mcg_kg_min_to_rate(dose_milli: int, weight_kg: int, conc_mcg_ml: int) -> Fraction:
    """Dose rate conversion is exact: rate x concentration = dose x weight x 60 (REQ-DRG-004).

    pre: 1 <= dose_milli <= 100_000 and 1 <= weight_kg <= 350 and 1 <= conc_mcg_ml <= 100_000
    post: __return__ * conc_mcg_ml * 1000 == dose_milli * weight_kg * 60
    """
    unit = parse_dose_unit("mcg/kg/min")
    return dose_to_ml_h(Fraction(dose_milli, 1000), unit, Fraction(conc_mcg_ml), "mcg", Fraction(weight_kg))


def clinician_bolus_never_exceeds(milli_ml: int, seconds: int) -> tuple[int, int, int]:
    """The bolus rate x duration never exceeds the requested volume (REQ-BOL-005).

    pre: 1 <= milli_ml <= 50_000 and 1 <= seconds <= 21_600
    post: __return__[1] * __return__[2] <= __return__[0]
    """
    return clinician_bolus_payload(Fraction(milli_ml, 1000), seconds)


def window_advance(cur: int, b0: int, b1: int, b2: int, end: int, clock: int, dt: int, rate: int,
                   moved: int, bucket: int) -> tuple[int, Ring]:
    """Window bookkeeping: every delivered unit is counted; only the oldest bucket leaves, and only
    when the bucket rotates; the ring stays well formed (REQ-DOS-004).

    pre: 1 <= bucket and 1 <= dt <= bucket and clock < end <= clock + bucket
    pre: cur >= 0 and b0 >= 0 and b1 >= 0 and b2 >= 0 and rate >= 0 and 0 <= moved <= rate * dt
    post: windows.used(*__return__) == cur + b0 + b1 + b2 + moved - (b2 if __return__[1].end != end else 0)
    post: windows.well_formed(__return__[1], clock + dt)
    """
    ring = Ring((b0, b1, b2), end, b0 + b1 + b2, bucket)
    return windows.advance(cur, ring, clock, dt, rate, moved)


def _entry(dose_milli: int, per_min: bool, conc: int, extra: dict[str, object]) -> DrugEntry:
    return parse_entry({"drug": "x", "concentration": conc, "concentration_unit": "U/mL",
                        "dose_unit": "U/kg/min" if per_min else "U/kg/h",
                        "dose": {"hard_max": Fraction(dose_milli, 1000)}, **extra})


def per_h(dose_milli: int, weight_kg: int, per_min: bool) -> int:
    """The dose hard max for this patient in thousandths of a unit per hour (x conc: uL/h)."""
    return dose_milli * weight_kg * (60 if per_min else 1)


def dose_bound_toward_less_drug(dose_milli: int, weight_kg: int, conc: int, per_min: bool) -> LibBounds:
    """The dose hard max becomes a rate bound for this patient that never allows more drug, and
    loses nothing it need not: a rate r (uL/h) passes exactly when r x conc <= dose x weight x 60|1 x 1000,
    whatever mode the program is entered in (REQ-DRG-004, REQ-DRG-005).

    pre: 1 <= dose_milli <= 100_000 and 1 <= weight_kg <= 250 and 1 <= conc <= 10_000
    post: __return__.dose_rate_max * conc <= per_h(dose_milli, weight_kg, per_min)
    post: __return__.dose_rate_max in (PUMP_MAX_RATE, per_h(dose_milli, weight_kg, per_min) // conc)
    """
    entry = _entry(dose_milli, per_min, conc, {"weight_kg": {"hard_max": 250}})
    return dosebounds.compile_entry(entry, Patient(Fraction(weight_kg)), Limits()).bounds


def bolus_bounds_from_the_library(bolus_milli: int, clin_milli: int, has_clin: bool) -> LibBounds:
    """The patient- and clinician-bolus maxima come from the library, the clinician's falling back to
    the patient's, rounded down to vu (REQ-DRG-005, REQ-BOL-005).

    pre: 1 <= bolus_milli <= 500_000 and 1 <= clin_milli <= 500_000
    post: __return__.bolus_max * 1000 <= bolus_milli * 3_600_000_000
    post: __return__.clin_bolus_max * 1000 <= (clin_milli if has_clin else bolus_milli) * 3_600_000_000
    """
    extra: dict[str, object] = {"bolus_ml": {"hard_max": Fraction(bolus_milli, 1000)}}
    if has_clin:
        extra["clinician_bolus_ml"] = {"hard_max": Fraction(clin_milli, 1000)}
    return dosebounds.compile_entry(_entry(1000, False, 1, extra), Patient(Fraction(70)), Limits()).bounds


def library_window_kept(limit_milli: int, window_s: int) -> LibBounds:
    """The library's dose window reaches the program: its limit rounded down, its length rounded up,
    never dropped (REQ-DOS-007).

    pre: 1 <= limit_milli <= 1_000_000 and 60 <= window_s <= 86_400
    post: 0 < __return__.win_vol and __return__.win_vol * 1000 <= limit_milli * 3_600_000_000
    post: __return__.win_bucket_ms * 12 >= window_s * 1000
    """
    extra: dict[str, object] = {"limit_ml": Fraction(limit_milli, 1000), "limit_window_s": window_s}
    return dosebounds.compile_entry(_entry(1000, False, 1, extra), Patient(Fraction(70)), Limits()).bounds


def motor_moves_within_its_cap(rate: int, dt: int, odo: int, cap: int) -> int:
    """A tick moves exactly rate x dt, never past the cap and never backwards (REQ-DEL-003).

    pre: 0 <= rate <= 2_000_000 and 1 <= dt <= 10_000 and 0 <= odo <= cap
    post: 0 <= __return__ <= rate * dt and odo + __return__ <= cap
    post: __return__ == rate * dt or odo + __return__ == cap
    """
    v = initial_vars()
    v = v._replace(flow=v.flow._replace(rate=rate, odo=odo, cap=cap))
    return moved_in(v, dt)


def cap_for(route: int, hard_max: int) -> int:
    return rate_cap(Program(loaded=True, route=route, rate_hard_max=hard_max), Limits())


def valid_program_respects_caps(rate: int, pca_rate: int, hard_max: int, route: int) -> bool:
    """Program validation guarantees basal + patient-bolus rate within every cap (REQ-DEL-002).

    pre: 0 <= rate <= 2_000_000 and 0 <= pca_rate <= 2_000_000 and 0 <= hard_max <= 2_000_000
    pre: 0 <= route <= 3
    post: (not __return__) or rate + pca_rate <= cap_for(route, hard_max)
    """
    pca_ms = 1_000 if pca_rate else 0
    p = Program(loaded=True, route=route, step_rate=(rate, 0, 0, 0), vtbi=100 * VU_PER_ML, rate_hard_max=hard_max,
                pca_vol=pca_rate * pca_ms, pca_rate=pca_rate, pca_ms=pca_ms, lockout_ms=pca_ms,
                pca_max_h=1 if pca_rate else 0, reservoir_vol=100 * VU_PER_ML)
    return program_ok(p, Limits())



@dataclass
class CrossHairRun:
    ok: bool
    per_condition_timeout: int
    functions: list[str]
    failures: list[str] = field(default_factory=list)
    version: str = ""
    seconds: float = 0.0
    error: str = ""

    @property
    def claim(self) -> str:
        if self.error:
            return f"not run: {self.error}"
        if self.failures:
            return f"{len(self.failures)} counterexample(s)"
        return f"no counterexample within {self.per_condition_timeout} s per condition"


FUNCTIONS = ["volume_rounds_down", "rate_rounds_down", "spacing_rounds_up", "mcg_kg_min_to_rate",
             "clinician_bolus_never_exceeds", "window_advance", "motor_moves_within_its_cap",
             "valid_program_respects_caps", "dose_bound_toward_less_drug", "bolus_bounds_from_the_library",
             "library_window_kept"]
REQUIREMENTS: dict[str, tuple[str, ...]] = {  # what each contract is evidence for
    "volume_rounds_down": ("REQ-DRG-004", "REQ-PRG-002"),
    "rate_rounds_down": ("REQ-DRG-004", "REQ-PRG-002"),
    "spacing_rounds_up": ("REQ-DRG-004", "REQ-BOL-002"),
    "mcg_kg_min_to_rate": ("REQ-DRG-004",),
    "clinician_bolus_never_exceeds": ("REQ-BOL-005",),
    "window_advance": ("REQ-DOS-004", "REQ-DOS-005"),
    "motor_moves_within_its_cap": ("REQ-DEL-003",),
    "valid_program_respects_caps": ("REQ-DEL-002", "REQ-PRG-001"),
    "dose_bound_toward_less_drug": ("REQ-DRG-004", "REQ-DRG-005"),
    "bolus_bounds_from_the_library": ("REQ-DRG-005", "REQ-BOL-005"),
    "library_window_kept": ("REQ-DOS-007", "REQ-DRG-004"),
}


def start_crosshair(per_condition_timeout: int = 5) -> tuple[subprocess.Popen[str] | None, float, str]:
    """Start the check in the background (it runs beside Z3 on the second core)."""
    try:
        from importlib.metadata import version

        ver = version("crosshair-tool")
    except Exception:  # reported, not raised
        return None, time.perf_counter(), ""
    # by file: CrossHair cannot import by name under the `pumpctl` namespace package (importlib.resources
    # refuses its MultiplexedPath), so this file is loaded once more as `proofs.contracts`; everything it
    # imports comes from the one installed `pumpctl.proofs` / `controller`
    path = Path(__file__)
    cmd = [sys.executable, "-m", "crosshair", "check", "--analysis_kind=PEP316",
           f"--per_condition_timeout={per_condition_timeout}", str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=path.parent.parent)
    return proc, time.perf_counter(), ver


def finish_crosshair(started: tuple[subprocess.Popen[str] | None, float, str],
                     per_condition_timeout: int) -> CrossHairRun:
    proc, t0, ver = started
    if proc is None:
        return CrossHairRun(False, per_condition_timeout, FUNCTIONS, error="crosshair-tool is not installed")
    out, err = proc.communicate(timeout=1800)
    failures = [line for line in out.splitlines() if re.search(r":\d+: error:", line)]
    error = ""
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not failures):
        tail = (err or out).strip().splitlines()
        error = tail[-1] if tail else "crosshair failed"
    return CrossHairRun(proc.returncode == 0 and not error, per_condition_timeout, FUNCTIONS, failures, ver,
                        time.perf_counter() - t0, error)


def run_crosshair(per_condition_timeout: int = 5) -> CrossHairRun:
    return finish_crosshair(start_crosshair(per_condition_timeout), per_condition_timeout)
