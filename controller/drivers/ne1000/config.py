"""Values of the NE-1000 driver: its configuration, the leg under way and the odometer.

Theory of operation
-------------------
``NE1000Config`` is everything a lab sets for one pump; it refuses a bad value when built,
naming the field, the value and the allowed range. ``Odometer`` turns the pump's DIS
readings into the driver's notion of where the plunger is: a lower bound (what the counter
says) and an upper bound (the counter may have cut its last digit), both never decreasing.

Rules
1. A reading that goes backwards, or further than the fastest commanded rate could have
   moved the plunger since the last reading (with 50 % and two reply times of slack), is
   not believed (``Odometer.problem``): a garbled basic-mode digit cannot shrink the odometer
   and so cannot enlarge the next volume target.
2. After a power loss the pump's counters restart at 0: the odometer keeps counting from its
   upper bound and is no longer trusted (``measured_vu`` answers None).
3. The counter shows 4 digits, so the driver clears it (CLD INF, read back as 0 with the
   plunger standing) before a leg that would take it past 9999; the odometer carries on
   from the bounds of the last reading (``rebase``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from controller.drivers.ne1000 import protocol as P
from controller.errors import ConfigurationError

MS_PER_H = 3_600_000
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
        for name, (lo, hi) in _INTS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ConfigurationError(name, value, f"a whole number from {lo} to {hi}")
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
        poll = 6 * (self.retries + 1) * self.reply_timeout_ms  # (retries + 1) x (exchange + quiet wait)
        core = self.comm_loss_ms + period_ms + 2 * poll
        if not self.safe_timeout_s:
            return core, None
        return core, max(core + 2 * self.reply_timeout_ms, self.safe_timeout_s * 1_000)


@dataclass(frozen=True, slots=True)
class Leg:
    start_ul: Fraction  # lower bound of the plunger position when RUN was sent
    volume_ul: Fraction  # the VOL target sent
    rate_ul_h: Fraction  # the rate the pump was actually given

    def done(self, high_ul: Fraction) -> bool:
        """The pump may have reached the target: the reading's upper bound is past it."""
        return high_ul >= self.start_ul + self.volume_ul


@dataclass
class Odometer:
    low: Fraction = Fraction(0)
    high: Fraction = Fraction(0)
    offset_low: Fraction = Fraction(0)  # what the counter had shown before it was last cleared
    offset_high: Fraction = Fraction(0)
    at_ms: int = 0
    trusted: bool = True
    fresh: bool = False  # read successfully in the current control period
    max_rate: Fraction = Fraction(0)  # fastest rate (uL/h) the plunger had since the last reading
    faults: list[str] = field(default_factory=list)  # why motor_fault was reported (diagnostics)

    def bounds(self, d: P.Dispensed) -> tuple[Fraction, Fraction]:
        return self.offset_low + d.infused_ul(), self.offset_high + d.infused_ul_max()

    def problem(self, d: P.Dispensed, now_ms: int, reply_timeout_ms: int) -> str | None:
        """Rule 1."""
        if not self.trusted:
            return None
        low, high = self.bounds(d)
        window = max(0, now_ms - self.at_ms) + 2 * reply_timeout_ms
        slack = self.max_rate * window * 3 / 2 / MS_PER_H + 2 * (high - low) + Fraction(1, 1_000)
        if high < self.low or low > self.high + slack:
            return f"implausible DIS: {float(low):.3f} uL after {float(self.low):.3f} uL"
        return None

    def accept(self, d: P.Dispensed, now_ms: int, rate_now: Fraction) -> None:
        low, high = self.bounds(d)
        self.low, self.high = max(self.low, low), max(self.high, high)
        self.at_ms, self.fresh, self.max_rate = now_ms, True, rate_now

    def rebase(self, last: P.Dispensed) -> None:
        """The counter was cleared (CLD INF) while it showed ``last`` and the plunger stood."""
        self.offset_low, self.offset_high = self.bounds(last)

    def power_lost(self) -> None:
        """Rule 2."""
        self.offset_low = self.offset_high = self.low = self.high
        self.trusted = False


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
