"""Commands: what the core asks the shell to do after a step.

Theory of operation
-------------------
Commands are derived from the difference between the variables before and after a step,
so they can never disagree with the state the proofs talk about. The motor is always
commanded as (rate, cap): run at ``rate`` uL/h and stop by yourself when your odometer
reaches ``cap`` vu. ``StopMotor`` comes first in a step's commands, so a stop reaches the
motor before anything else (REQ-ALM-004).
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.core import alarms as A
from controller.core import annunciation as AN
from controller.core.logic import all_of, ite, not_
from controller.core.state import Vars
from controller.core.units import VU_PER_ML


@dataclass(frozen=True, slots=True)
class StopMotor:
    odo: int  # odometer reading the motor must not pass


@dataclass(frozen=True, slots=True)
class SetFlow:
    rate: int  # uL/h
    cap: int  # stop by yourself at this odometer reading (vu)


@dataclass(frozen=True, slots=True)
class RelievePressure:
    """After a downstream occlusion alarm: back the mechanism off by at most ``max_vu`` until
    the line pressure is relieved, so releasing the occlusion gives no unintended bolus
    (REQ-OCC-004). Bounded and one-shot: never continuous reverse delivery (REQ-REV-001)."""

    max_vu: int


@dataclass(frozen=True, slots=True)
class RaiseAlarm:
    alarm: str
    priority: str


@dataclass(frozen=True, slots=True)
class ClearAlarm:
    alarm: str


@dataclass(frozen=True, slots=True)
class Annunciate:
    alarm: str | None  # None: nothing to annunciate
    priority: str | None
    audible: bool


Command = StopMotor | SetFlow | RelievePressure | RaiseAlarm | ClearAlarm | Annunciate
RELIEF_MAX_VU = 2 * VU_PER_ML  # at most 2 mL of back-off per occlusion alarm (20 psi x 0.01 mL/kPa = 1.4 mL)


def annunciation(v: Vars) -> Annunciate:
    i = AN.annunciated(v.alarm)
    if i < 0:
        return Annunciate(None, None, False)
    spec = A.CATALOG[i]
    return Annunciate(spec.id, spec.priority.name.lower(), AN.audible(v.alarm, v.flow.clock))


def relief_vu(old: Vars, new: Vars) -> int:
    """Dual-use: the pressure relief a step commands (vu), 0 for none: one bounded back-off when a
    downstream occlusion alarm is raised (REQ-OCC-004, REQ-REV-001; STEP-REV-001 states its bounds)."""
    return ite(all_of(new.alarm.active[A.OCC_DOWN], not_(old.alarm.active[A.OCC_DOWN])), RELIEF_MAX_VU, 0)


def commands_between(old: Vars, new: Vars) -> tuple[Command, ...]:
    out: list[Command] = []
    f, g = old.flow, new.flow
    if g.rate != f.rate or g.cap != f.cap:
        out.append(StopMotor(g.odo) if g.rate == 0 else SetFlow(g.rate, g.cap))
    a, b = old.alarm, new.alarm
    if a is not b:
        relief = relief_vu(old, new)
        if relief > 0:
            out.append(RelievePressure(relief))
        for i in range(A.N_ALARMS):
            if b.active[i] and not a.active[i]:
                out.append(RaiseAlarm(A.IDS[i], A.CATALOG[i].priority.name.lower()))
            elif a.active[i] and not b.active[i]:
                out.append(ClearAlarm(A.IDS[i]))
    if a is not b or (any(b.active) and (f.clock < b.silence_until) != (g.clock < b.silence_until)):
        before, after = annunciation(old), annunciation(new)
        if before != after:
            out.append(after)
    return tuple(out)
