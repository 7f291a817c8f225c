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

from controller.drivers.ne1000 import protocol as P
from controller.drivers.odometer import Leg, Odometer
from controller.drivers.serial_link import check_ranges, failsafe_bound
from controller.errors import ConfigurationError

__all__ = ["Leg", "NE1000Config", "Odometer", "same_setting"]
_INTS = {"address": (0, P.MAX_ADDRESS), "safe_timeout_s": (0, P.SAF_MAX_S), "reply_timeout_ms": (5, 5_000),
         "retries": (0, 5), "comm_loss_ms": (50, 60_000), "relief_ul": (0, 1_000),
         "relief_rate_ul_h": (1, 1_000_000)}


@dataclass(frozen=True, slots=True)
class NE1000Config:
    port: str
    address: int = 0
    diameter_mm: str = "26.59"  # inside diameter; 26.59 mm is a BD 60 mL syringe
    baudrate: int = P.DEFAULT_BAUD
    safe_timeout_s: int = 2  # SAF n; 0 = basic mode, with no pump-side watchdog
    reply_timeout_ms: int = 100
    retries: int = 1
    comm_loss_ms: int = 1_000  # no usable reply for this long -> watchdog event
    relief_ul: int = 20  # largest pressure-relief withdraw; 0 = never withdraw
    relief_rate_ul_h: int = 60_000

    def __post_init__(self) -> None:
        check_ranges(self, _INTS)
        if self.baudrate not in P.BAUDS:
            raise ConfigurationError("baudrate", self.baudrate, ", ".join(map(str, P.BAUDS)))
        try:
            d = Fraction(self.diameter_mm)
        except (ValueError, ZeroDivisionError, TypeError):
            d = Fraction(-1)
        if not Fraction(1, 10) <= d <= 50 or P.format_down(d, "diameter_mm")[1] != d:
            raise ConfigurationError("diameter_mm", self.diameter_mm, "0.1 to 50 mm, at most 4 digits")

    @property
    def diameter(self) -> Fraction:
        return Fraction(self.diameter_mm)

    def stop_bounds(self, period_ms: int) -> tuple[int, int | None]:
        """(controller in FAILSAFE, plunger standing): at most this many ms of wall-clock time
        after a communication fault begins (docs/hardware.md, "Safe-stop bounds"). The motor
        bound is None in basic mode: a pump that cannot hear us then runs on to its volume
        target (which is never past the cap)."""
        core = failsafe_bound(self.comm_loss_ms, period_ms, self.retries, self.reply_timeout_ms)
        if not self.safe_timeout_s:
            return core, None
        return core, max(core + 2 * self.reply_timeout_ms, self.safe_timeout_s * 1_000)


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
        return P.parse_number(n1, "read-back").value == P.parse_number(n2, "read-back").value
    except P.ProtocolError:
        return False
