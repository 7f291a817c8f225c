"""The NE-1000 driver's configuration and its safe-stop bounds.

Theory of operation
-------------------
``NE1000Config`` is everything a lab sets for one pump; it refuses a bad value when built,
naming the field, the value and the allowed range. ``stop_bounds`` states how long after a
communication fault the controller is in FAILSAFE and the plunger stands (docs/hardware.md).
The odometer and the leg (``controller.drivers.odometer``) are re-exported for the driver.

Rules
1. Every field is validated on construction (``ConfigurationError`` naming it).
2. The counter shows 4 digits, so the driver clears it (CLD INF, read back as 0 with the
   plunger standing) before a leg that would take it past 9999; the odometer carries on
   from the bounds of the last reading (``Odometer.rebase``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from controller.drivers.errors import ProtocolError
from controller.drivers.ne1000 import protocol
from controller.drivers.odometer import Leg, Odometer
from controller.drivers.serial_link import (
    COMMON_RANGES,
    SerialPumpConfig,
    check_choice,
    check_diameter,
    check_ranges,
    stop_bounds,
)

__all__ = ["Leg", "NE1000Config", "Odometer", "same_setting"]
_INTS = {"address": (0, protocol.MAX_ADDRESS), "safe_timeout_s": (0, protocol.SAF_MAX_S), **COMMON_RANGES}


@dataclass(frozen=True, slots=True)
class NE1000Config(SerialPumpConfig):
    baudrate: int = protocol.DEFAULT_BAUD
    safe_timeout_s: int = 2  # SAF n; 0 = basic mode, with no pump-side watchdog

    def __post_init__(self) -> None:
        check_ranges(self, _INTS)
        check_choice("baudrate", self.baudrate, protocol.BAUDS)
        check_diameter(self.diameter_mm, Fraction(1, 10), Fraction(50),
                       lambda d: protocol.format_down(d, "diameter_mm")[1] == d, "at most 4 digits")

    def stop_bounds(self, period_ms: int) -> tuple[int, int | None]:
        """(controller in FAILSAFE, plunger standing) after a communication fault, in wall-clock ms
        (``serial_link.stop_bounds``); the motor bound is None in basic mode."""
        return stop_bounds(self.comm_loss_ms, period_ms, self.retries, self.reply_timeout_ms,
                           1_000 * self.safe_timeout_s)


_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def same_setting(data: str, want: str) -> bool:
    """A read-back equals what was written: same unit word, numbers equal by value
    (a pump may print 20.0 for 20.00)."""
    n1, n2 = data.rstrip(_LETTERS), want.rstrip(_LETTERS)
    if data[len(n1):] != want[len(n2):]:
        return False
    if not n2:
        return not n1
    try:
        return protocol.parse_number(n1, "read-back").value == protocol.parse_number(n2, "read-back").value
    except ProtocolError:
        return False
