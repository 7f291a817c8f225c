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

from controller.drivers.harvard import protocol as P
from controller.drivers.serial_link import check_ranges, failsafe_bound
from controller.errors import ConfigurationError

_INTS = {"address": (0, P.MAX_ADDRESS), "leg_ms": (0, 600_000), "reply_timeout_ms": (5, 5_000), "retries": (0, 5),
         "comm_loss_ms": (50, 60_000), "relief_ul": (0, 1_000), "relief_rate_ul_h": (1, 1_000_000)}
DIAMETER_MM = (Fraction(1, 10), Fraction(33))  # PROTOCOL['diameter.range']


@dataclass(frozen=True, slots=True)
class HarvardConfig:
    port: str
    address: int = 0
    diameter_mm: str = "26.59"  # inside diameter; 26.59 mm is a BD 60 mL syringe
    baudrate: int = P.DEFAULT_BAUD
    leg_ms: int = 2_000  # the host-silence bound: no run carries more than this much flow
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
        if not DIAMETER_MM[0] <= d <= DIAMETER_MM[1] or P.format_down(d, "diameter_mm")[1] != d:
            raise ConfigurationError("diameter_mm", self.diameter_mm, "0.1 to 33 mm, at most 4 significant digits")
        if 0 < self.leg_ms < 4 * self.reply_timeout_ms:
            raise ConfigurationError("leg_ms", self.leg_ms, f"0 (no leg bound) or at least four reply times "
                                     f"({4 * self.reply_timeout_ms} ms)")

    @property
    def diameter(self) -> Fraction:
        return Fraction(self.diameter_mm)

    def stop_bounds(self, period_ms: int) -> tuple[int, int | None]:
        """(controller in FAILSAFE, plunger standing): at most this many ms of wall-clock time
        after a communication fault begins. The motor bound is None without a leg bound: a pump
        that cannot hear us then runs on to its volume target (never past the cap)."""
        core = failsafe_bound(self.comm_loss_ms, period_ms, self.retries, self.reply_timeout_ms)
        if not self.leg_ms:
            return core, None
        return core, max(core + 2 * self.reply_timeout_ms, self.leg_ms)
