"""Where the plunger is, from a pump's volume counter: the odometer and the leg under way.

Theory of operation
-------------------
A serial syringe pump reports a volume counter (NE-1000 ``DIS``, Harvard ``ivolume``) as a
decimal number the pump may have truncated. ``Odometer`` turns those readings into the driver's
notion of where the plunger is: a lower bound (what the counter says) and an upper bound (the
counter may have cut its last digit), both never decreasing, plus the offset of every time the
counter was cleared. A ``Leg`` is one run with its own volume target.

Rules
1. A reading that goes backwards, or further than the fastest commanded rate could have
   moved the plunger since the last reading (with 50 % and two reply times of slack), is
   not believed (``Odometer.problem``): a garbled digit cannot shrink the odometer and so
   cannot enlarge the next volume target.
2. After a power loss the pump's counters restart at 0: the odometer keeps counting from its
   upper bound and is no longer trusted (``measured_vu`` answers None).
3. A cleared counter is carried on from the bounds of its last reading, taken while the plunger
   stood (``rebase``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol

MS_PER_H = 3_600_000


class Reading(Protocol):
    """One counter reading: the volume it shows and the most it may hide (a cut last digit)."""

    def infused_ul(self) -> Fraction: ...

    def infused_ul_max(self) -> Fraction: ...


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

    def bounds(self, d: Reading) -> tuple[Fraction, Fraction]:
        return self.offset_low + d.infused_ul(), self.offset_high + d.infused_ul_max()

    def problem(self, d: Reading, now_ms: int, reply_timeout_ms: int) -> str | None:
        """Rule 1; None when plausible."""
        if not self.trusted:
            return None
        low, high = self.bounds(d)
        window = max(0, now_ms - self.at_ms) + 2 * reply_timeout_ms
        slack = self.max_rate * window * 3 / 2 / MS_PER_H + 2 * (high - low) + Fraction(1, 1_000)
        if high < self.low or low > self.high + slack:
            return f"implausible reading: {float(low):.3f} uL after {float(self.low):.3f} uL"
        return None

    def accept(self, d: Reading, now_ms: int, rate_now: Fraction) -> None:
        low, high = self.bounds(d)
        self.low, self.high = max(self.low, low), max(self.high, high)
        self.at_ms, self.fresh, self.max_rate = now_ms, True, rate_now

    def rebase(self, last: Reading) -> None:
        """The counter was cleared while it showed ``last`` and the plunger stood."""
        self.offset_low, self.offset_high = self.bounds(last)

    def power_lost(self) -> None:
        """Rule 2."""
        self.offset_low = self.offset_high = self.low = self.high
        self.trusted = False
