"""The ``[[event]]`` types of a scenario and the fields each one takes.

Theory of operation
-------------------
``EVENT_TYPES`` maps each type to (field specs, required field names). Every event also
takes ``at_s`` (required) and ``actor`` (optional). Three families:

- *core* types are the controller's own events, given by a person (``CORE_TYPES``), with the
  core's default actor (a clinician, but ``patient_bolus``) unless the event names another; a
  ``new_line`` ends the dose history of the line (DEC-035): only a clinician may send it, and
  only in IDLE (the core refuses it otherwise, and the refusal is recorded);
- *physical* types change the simulated world (``PHYSICAL_TYPES``): the controller only
  learns about them through its sensors;
- the runner's own: ``power_cycle`` (controller off and on), ``loop_stall`` (the control
  loop hangs, as a blocked host would).

Rules
1. Type and field names are a public interface (``specs/scenarios/README.md``): never renamed or
   dropped; the ones marked *addition* below extend the base format.
2. A ``program`` event takes the fields of ``controller.clinical.programs.REQUEST_FIELDS`` plus
   ``expect_refused`` (handled in ``controller.scenario.model``).
"""

from __future__ import annotations

from controller.drivers.sim import SENSOR_NAMES
from controller.fields import Choice, Field, Flag, Num
from controller.plant.sensors import MODES

NONE: tuple[tuple[Field, ...], tuple[str, ...]] = ((), ())

CORE_TYPES: dict[str, str] = {  # scenario type -> core event kind
    "program": "program", "confirm_soft_limit": "confirm_soft_limit", "start": "start", "pause": "pause",
    "resume": "resume", "stop": "stop", "prime": "prime", "patient_bolus": "patient_bolus",
    "clinician_bolus": "clinician_bolus", "silence": "silence", "acknowledge": "acknowledge", "review": "review",
    "clear": "clear",  # addition: clear the loaded program
    "new_line": "new_line",  # addition: a clinician declares a new patient line (DEC-035; IDLE only)
}

EVENT_TYPES: dict[str, tuple[tuple[Field, ...], tuple[str, ...]]] = {
    "program": NONE,
    "confirm_soft_limit": NONE, "start": NONE, "pause": NONE, "resume": NONE, "stop": NONE, "clear": NONE,
    "new_line": NONE,
    "prime": ((Num("volume_ml", 0.001, 50.0, None, "mL"),
               Flag("line_disconnected", True, "the clinician confirms the patient line is off")), ("volume_ml",)),
    "patient_bolus": NONE,
    "clinician_bolus": ((Num("volume_ml", 0.001, 10_000.0, None, "mL"), Num("duration_s", 0.001, 21_600.0, None, "s")),
                        ("volume_ml", "duration_s")),
    "silence": NONE, "acknowledge": NONE, "review": NONE,
    "door_open": NONE, "door_close": NONE,
    "occlude_downstream": ((Num("resistance_factor", 1.5, 1e6, None,
                                doc="addition: a partial occlusion multiplying the line resistance"),), ()),
    "occlude_upstream": NONE,
    "release_occlusion": ((Choice("site", ("both", "downstream", "upstream"), "both"),), ()),
    "air_bubble": ((Num("volume_ul", 0.001, 20_000.0, None, "uL"),
                    Num("upstream_ul", 0.0, 20_000.0, 0.0, "uL", doc="addition: distance before the detector"),
                    Num("count", 1, 1000, 1, integer=True, doc="addition: a train of equal bubbles"),
                    Num("interval_s", 0.0, 86_400.0, 0.0, "s", doc="addition: time between bubbles")),
                   ("volume_ul",)),
    "purge_air": NONE,  # addition: a clinician purges the air from the line
    "mains_loss": NONE, "mains_restore": NONE,
    "motor_stall": ((Flag("stalled", True),), ()),
    "power_cycle": NONE,
    # --- additions: the remaining faults ---------------------------------------------------
    "motor_runaway": ((Num("rate_ml_h", 0.1, 1200.0, None, "mL/h"),), ("rate_ml_h",)),
    "missed_steps": ((Num("fraction", 0.0, 1.0, None),), ("fraction",)),
    "sensor_fault": ((Choice("sensor", SENSOR_NAMES, None), Choice("mode", MODES, None),
                      Num("value", -1e9, 1e9, None, doc="stuck or out_of_range reading"),
                      Num("factor", 0.0, 1000.0, None, doc="noisy: noise multiplier (flip percent for switches)")),
                     ("sensor", "mode")),
    "set_temperature": ((Num("temperature_c", -20.0, 80.0, None, "C"),), ("temperature_c",)),
    "refill": ((Num("volume_ml", 0.0, 10_000.0, None, "mL"),), ("volume_ml",)),
    "loop_stall": ((Num("duration_s", 0.001, 3600.0, None, "s"),), ("duration_s",)),
}
PHYSICAL_TYPES = frozenset(EVENT_TYPES) - frozenset(CORE_TYPES)
