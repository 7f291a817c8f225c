"""What a physical scenario event does to the simulated plant (one definition).

The scenario runner applies these during a run (adding its own bookkeeping: occlusion times,
runaway allowance, power cycles); a resumed run replays the persistent ones
(``controller.scenario.logsim``) to rebuild the world after a crash.

Rules
1. Only plant calls here: no controller, no clock, no bookkeeping.
2. ``apply_world`` returns False for a type it does not know, so callers can dispatch the rest.
"""

from __future__ import annotations

from collections.abc import Mapping

from controller.drivers.sim import SimPump


def _num(v: Mapping[str, object], key: str, default: float | None = None) -> float | None:
    x = v.get(key, default)
    return None if x is None else float(x)  # type: ignore[arg-type]


def apply_world(plant: SimPump, kind: str, v: Mapping[str, object]) -> bool:
    if kind in ("door_open", "door_close"):
        plant.set_door(kind == "door_open")
    elif kind == "occlude_downstream":
        plant.occlude("downstream", _num(v, "resistance_factor"))
    elif kind == "occlude_upstream":
        plant.occlude("upstream")
    elif kind == "release_occlusion":
        plant.release(str(v.get("site", "both")))
    elif kind == "air_bubble":
        plant.add_bubble(float(v["volume_ul"]), float(v.get("upstream_ul", 0.0)))  # type: ignore[arg-type]
    elif kind == "purge_air":
        plant.purge_air()
    elif kind in ("mains_loss", "mains_restore"):
        plant.set_mains(kind == "mains_restore")
    elif kind == "motor_stall":
        plant.motor_fault(stalled=bool(v.get("stalled", True)))
    elif kind == "motor_runaway":
        plant.motor_fault(runaway_ml_h=float(v["rate_ml_h"]))  # type: ignore[arg-type]
    elif kind == "missed_steps":
        plant.motor_fault(missed=float(v["fraction"]))  # type: ignore[arg-type]
    elif kind == "sensor_fault":
        plant.sensor_fault(str(v["sensor"]), str(v["mode"]), _num(v, "value"), _num(v, "factor", 10.0) or 10.0)
    elif kind == "set_temperature":
        plant.set_temperature(float(v["temperature_c"]))  # type: ignore[arg-type]
    elif kind == "refill":
        plant.refill(float(v["volume_ml"]) * 1000.0)  # type: ignore[arg-type]
    else:
        return False
    return True
