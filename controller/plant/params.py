"""Physical parameters of the simulated pump (the ``[plant]`` table of a scenario).

Theory of operation
-------------------
``PlantParams`` is one frozen value holding everything physical: the mechanism (a syringe
driven by a lead screw, or a volumetric cassette with a cam), the administration set (line
compliance and resistance, upstream compliance, container height), the patient (venous
pressure, its slow wander, posture steps and short motion artifacts), the sensors (noise,
resolution, temperature drift), the container, the battery and the temperature. Defaults
describe a healthy pump on a typical set: 0.01 mL/kPa line compliance (the figure the
occlusion physics in REQUIREMENTS-REFERENCE section 3 uses), 0.01 kPa per mL/h resistance
(10 kPa at 999 mL/h, time constant 0.36 s).

Rules
1. Every field is range-checked by ``PLANT_FIELDS`` (``plant_params``): a refusal names the
   field, the value and the allowed range.
2. Floats are fine here: this is physics. Conversions into core units happen in the
   mechanism, rounding so that the mechanism never moves more than it was commanded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

from controller.fields import Choice, Field, Flag, Num, parse_table


@dataclass(frozen=True, slots=True)
class PlantParams:
    mechanism: str = "syringe"
    syringe_diameter_mm: float = 26.6  # 50 mL syringe
    lead_mm: float = 1.0
    steps_per_rev: int = 200
    microsteps: int = 16
    stroke_ul: float = 75.0  # cassette: volume of one cam revolution
    steps_per_stroke: int = 1600
    fill_fraction: float = 0.2  # cassette: share of each stroke spent refilling (no output)
    volume_error_pct: float = 0.0  # real volume per step vs the nominal figure
    screw_error_pct: float = 1.0  # syringe: once-per-revolution lead error, as +-% of the local flow
    backlash_steps: int = 20  # slack taken up before the plunger moves (start-up, reversal)
    compliance_ml_per_kpa: float = 0.01
    resistance_kpa_per_ml_h: float = 0.01
    upstream_compliance_ml_per_kpa: float = 0.002
    head_height_cm: float = 60.0
    venous_kpa: float = 1.0
    wander_kpa: float = 0.5  # standard deviation of the slow venous-pressure wander
    wander_tau_s: float = 300.0
    posture_per_h: float = 0.5  # patient moves: new hydrostatic level, uniform in +-posture_kpa
    posture_kpa: float = 2.0
    artifacts_per_h: float = 6.0  # coughs, bumps: short pressure transients
    artifact_kpa: float = 4.0
    pressure_noise_kpa: float = 0.3
    pressure_lsb_kpa: float = 0.01
    pressure_temp_coeff_kpa_per_c: float = 0.02
    air_error_pct: float = 5.0
    air_path_ul: float = 100.0  # container to air detector (air from an empty container)
    reservoir_ml: float | None = None  # physical container; None: as declared by each program
    empty_sense_ml: float = 0.2
    battery_full_min: float = 240.0
    battery_min: float | None = None  # charge at start; None: full
    charge_min_per_min: float = 0.5
    on_mains: bool = True
    temperature_c: float = 20.0
    self_test_fails: bool = False

    @property
    def ul_per_step(self) -> float:
        """Nominal volume per motor step (uL), from the geometry."""
        if self.mechanism == "cassette":
            return self.stroke_ul / self.steps_per_stroke
        area_mm2 = math.pi * self.syringe_diameter_mm ** 2 / 4
        return area_mm2 * self.lead_mm / (self.steps_per_rev * self.microsteps)  # mm3 = uL

    @property
    def steps_per_ml(self) -> float:
        return 1000.0 / self.ul_per_step


PLANT_FIELDS: tuple[Field, ...] = (
    Choice("mechanism", ("syringe", "cassette"), "syringe", "syringe (lead screw) or cassette (volumetric cam)"),
    Num("syringe_diameter_mm", 3.0, 40.0, 26.6, "mm"),
    Num("lead_mm", 0.1, 5.0, 1.0, "mm"),
    Num("steps_per_rev", 24, 400, 200, integer=True),
    Num("microsteps", 1, 256, 16, integer=True),
    Num("stroke_ul", 10.0, 500.0, 75.0, "uL"),
    Num("steps_per_stroke", 50, 10_000, 1600, integer=True),
    Num("fill_fraction", 0.0, 0.5, 0.2),
    Num("volume_error_pct", -10.0, 10.0, 0.0, "%"),
    Num("screw_error_pct", 0.0, 20.0, 1.0, "%"),
    Num("backlash_steps", 0, 2000, 20, integer=True),
    Num("compliance_ml_per_kpa", 0.0005, 0.1, 0.01, "mL/kPa"),
    Num("resistance_kpa_per_ml_h", 0.0005, 0.2, 0.01, "kPa per mL/h"),
    Num("upstream_compliance_ml_per_kpa", 0.0001, 0.05, 0.002, "mL/kPa"),
    Num("head_height_cm", 0.0, 150.0, 60.0, "cm"),
    Num("venous_kpa", 0.0, 5.0, 1.0, "kPa"),
    Num("wander_kpa", 0.0, 3.0, 0.5, "kPa"),
    Num("wander_tau_s", 10.0, 7200.0, 300.0, "s"),
    Num("posture_per_h", 0.0, 20.0, 0.5, "per hour"),
    Num("posture_kpa", 0.0, 5.0, 2.0, "kPa"),
    Num("artifacts_per_h", 0.0, 120.0, 6.0, "per hour"),
    Num("artifact_kpa", 0.0, 20.0, 4.0, "kPa"),
    Num("pressure_noise_kpa", 0.01, 5.0, 0.3, "kPa", doc="> 0: a real transducer is never bit-silent"),
    Num("pressure_lsb_kpa", 0.001, 1.0, 0.01, "kPa"),
    Num("pressure_temp_coeff_kpa_per_c", 0.0, 1.0, 0.02, "kPa/C"),
    Num("air_error_pct", 0.0, 50.0, 5.0, "%"),
    Num("air_path_ul", 0.0, 20_000.0, 100.0, "uL"),
    Num("reservoir_ml", 0.0, 10_000.0, None, "mL"),
    Num("empty_sense_ml", 0.0, 10.0, 0.2, "mL"),
    Num("battery_full_min", 1.0, 2000.0, 240.0, "min"),
    Num("battery_min", 0.0, 2000.0, None, "min"),
    Num("charge_min_per_min", 0.0, 10.0, 0.5),
    Flag("on_mains", True),
    Num("temperature_c", -20.0, 80.0, 20.0, "C"),
    Flag("self_test_fails", False),
)
PLANT_KEYS = frozenset(f.name for f in fields(PlantParams))
assert PLANT_KEYS == {s.name for s in PLANT_FIELDS}, "PLANT_FIELDS out of step with PlantParams"


def plant_params(raw: Mapping[str, object] | None = None, source: str = "", where: str = "plant") -> PlantParams:
    """Validate a ``[plant]`` table (field, value and allowed range named on refusal)."""
    values = parse_table(raw or {}, PLANT_FIELDS, where, source)
    return PlantParams(**values)  # type: ignore[arg-type]
