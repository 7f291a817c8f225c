"""The Harvard driver's configuration and its safe-stop bounds.

Theory of operation
-------------------
``HarvardConfig`` is everything a lab sets for one Pump 11 Elite / PHD Ultra; it refuses a bad
value when built, naming the field, the value and the allowed range. The Ultra command set has
no host-silence watchdog (``PROTOCOL['link.host_watchdog']``), so ``leg_ms`` takes its place:
every run carries a volume target of at most ``leg_ms`` of flow at the commanded rate, renewed
while the link is up, so a pump that stops hearing the host stands within ``leg_ms``.
``stop_bounds`` states the bounds (docs/hardware.md, "Safe-stop bounds").

Rules
1. Every field is validated on construction (``ConfigurationError`` naming it).
2. ``leg_ms`` 0 means no leg bound: the pump then runs on to the core's cap if the host dies
   (never past it), like an NE-1000 in basic mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from controller.drivers.harvard import protocol
from controller.drivers.serial_link import (
    COMMON_RANGES,
    SerialPumpConfig,
    check_choice,
    check_diameter,
    check_ranges,
    stop_bounds,
)
from controller.errors import ConfigurationError

_INTS = {"address": (0, protocol.MAX_ADDRESS), "leg_ms": (0, 600_000), **COMMON_RANGES}
DIAMETER_MM = (Fraction(1, 10), Fraction(33))  # PROTOCOL['diameter.range']


@dataclass(frozen=True, slots=True)
class HarvardConfig(SerialPumpConfig):
    baudrate: int = protocol.DEFAULT_BAUD
    leg_ms: int = 2_000  # the host-silence bound: no run carries more than this much flow

    def __post_init__(self) -> None:
        check_ranges(self, _INTS)
        check_choice("baudrate", self.baudrate, protocol.BAUDS)
        check_diameter(self.diameter_mm, *DIAMETER_MM, lambda d: protocol.format_down(d, "diameter_mm")[1] == d,
                       "at most 4 significant digits")
        if 0 < self.leg_ms < 4 * self.reply_timeout_ms:
            raise ConfigurationError("leg_ms", self.leg_ms, f"0 (no leg bound) or at least four reply times "
                                     f"({4 * self.reply_timeout_ms} ms)")

    def stop_bounds(self, period_ms: int) -> tuple[int, int | None]:
        """(controller in FAILSAFE, plunger standing) after a communication fault, in wall-clock ms
        (``serial_link.stop_bounds``); the motor bound is None without a leg bound."""
        return stop_bounds(self.comm_loss_ms, period_ms, self.retries, self.reply_timeout_ms, self.leg_ms)
