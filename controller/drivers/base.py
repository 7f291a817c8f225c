"""The driver protocol every pump mechanism implements (simulated plant, NE-1000 serial pump).

Theory of operation
-------------------
Drivers are split-phase (Tock HIL style): ``request`` answers at once whether the command was
accepted; what happens afterwards (the mechanism stalled, a sensor changed, the device reset)
comes back later from ``poll`` as core events. A driver never calls into the core.

The motor command is always the core's (rate, cap): run at ``rate`` uL/h and stop by yourself
when your odometer reaches ``cap`` vu (``SetFlow``), or stop now (``StopMotor``). The
odometer is in the core's coordinates: the volume the mechanism was *commanded* to move
since power-on (steps counted x volume per step). ``measured_vu`` is the mechanism's own
report of what it actually dispensed, used by the shell's cross-check (REQ-OVI-001).

Every outcome is listed: ``Reply.accepted`` True, or False with ``reason`` from ``REASONS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from controller.core.commands import SetFlow, StopMotor
from controller.core.events import Event

MotorCommand = SetFlow | StopMotor

REASONS = (
    "busy",  # a previous request is still in flight
    "out_of_range",  # the device cannot do that rate or volume
    "not_connected",  # port closed, device unplugged
    "device_error",  # the device answered with an error
    "timeout",  # no answer within the driver's deadline
)


@dataclass(frozen=True, slots=True)
class Reply:
    accepted: bool
    reason: str = ""
    detail: str = ""


ACCEPTED = Reply(True)


@runtime_checkable
class PumpDriver(Protocol):
    def request(self, cmd: MotorCommand) -> Reply:
        """Send a motor command; answer at once. Never blocks longer than the driver's deadline."""

    def poll(self, now_ms: int) -> list[Event]:
        """Advance to ``now_ms`` (wall or simulated) and return what happened, as core events."""

    def measured_vu(self) -> int | None:
        """What the mechanism reports it dispensed since power-on (vu), or None if unknown now."""

    def safe_stop(self) -> None:
        """Best effort: stop the mechanism now (used on exit, Ctrl-C and crash paths)."""

    def close(self) -> None:
        """Stop and release the device."""
