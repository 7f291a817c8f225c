"""Occlusion detection from line pressure: static threshold and pressure trend.

Theory of operation
-------------------
Every control period the downstream monitor gets one pressure reading and the rate the motor
is commanded to move at. It raises an occlusion (one ``occlusion`` event, site 0) on the
first period in which either criterion holds, so the alarm comes within one control period of
the criterion being met (REQ-OCC-003):

- **static**: the median of the last three valid readings is at or above the threshold
  (the median drops a single-sample glitch or spike without delaying a real rise by more
  than one period);
- **trend**: an exponentially filtered pressure ``f`` (time constant ``trend_filter_s``) has
  risen ``trend_rise_kpa`` above a baseline ``B`` that follows ``f`` down at once but up only
  by ``trend_creep_kpa_per_min``. A blocked line rises at ``rate / compliance`` (about
  1.7 kPa/min at 1 mL/h with 0.01 mL/kPa) and leaves the baseline behind; the patient's slow
  venous wander, posture steps and short artifacts do not. The trend is only armed while the
  command is steady: after any change of the commanded rate (start, bolus, stop, cap
  reached) it waits ``trend_settle_s`` for the line to settle, then restarts the baseline.

After an occlusion the monitor holds it until the pressure falls to ``base + 0.4 x hold``
for ``clear_dwell_s``, where ``base`` is the pre-occlusion pressure and ``hold`` the level
pressure relief stops at. Relief therefore leaves the line at ``base + hold`` (a small,
bounded residual bolus) and the release of the occlusion is still seen as a pressure drop.

Upstream, the pump draws the container side towards vacuum when it is blocked: an occlusion
is the median reading at or below ``-upstream_threshold_kpa``; it clears above half of that.

Invalid readings (None, NaN, outside the sensor's range) are never used. Held for
``invalid_s``, or a reading bit-identical for ``stuck_s`` while the motor runs (a live
transducer is never silent), the channel has failed: the monitor reports an occlusion at its
site (fail-safe: flow stops, and it cannot restart until the sensor reads plausibly again).

Rules
1. One event per transition (occluded / clear), never a stream.
2. Rates are those *commanded* (the sensing layer never trusts the motor to obey).
3. Each detection is recorded with its reason (static, trend, sensor_invalid, sensor_stuck).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from controller.core.events import Event, ev

OCC_DOWN = ev("occlusion", site=0)
OCC_DOWN_CLEAR = ev("occlusion_clear", site=0)
OCC_UP = ev("occlusion", site=1)
OCC_UP_CLEAR = ev("occlusion_clear", site=1)


@dataclass(frozen=True, slots=True)
class Detection:
    t_ms: int
    site: str  # downstream, upstream
    reason: str  # static, trend, sensor_invalid, sensor_stuck, clear
    reading_kpa: float | None


class Channel:
    """Validity of one analog reading stream (see the module docstring)."""

    __slots__ = ("bad_for", "failed", "hi", "invalid_ms", "lo", "prev", "same_for", "stuck_ms", "why")

    def __init__(self, lo: float, hi: float, invalid_ms: int, stuck_ms: int) -> None:
        self.lo, self.hi = lo, hi
        self.invalid_ms, self.stuck_ms = invalid_ms, stuck_ms
        self.bad_for = 0
        self.same_for = 0
        self.prev: float | None = None
        self.failed = False
        self.why = ""

    def feed(self, r: float | None, dt: int, live: bool) -> float | None:
        """The reading when usable, else None. ``live``: the motor runs, so it must vary."""
        if r is None or not self.lo <= r <= self.hi:
            self.bad_for += dt
            if self.bad_for >= self.invalid_ms and not self.failed:
                self.failed, self.why = True, "sensor_invalid"
            return None
        if r == self.prev:
            if self.failed and self.why == "sensor_stuck":
                return None  # stays failed until the reading moves again
            if live and self.stuck_ms > 0:
                self.same_for += dt
                if self.same_for >= self.stuck_ms:
                    self.failed, self.why = True, "sensor_stuck"
                    return None
        else:
            self.same_for = 0
        self.prev = r
        self.bad_for = 0
        self.failed = False
        return r


def _median3(a: float, b: float, c: float) -> float:
    return max(min(a, b), min(max(a, b), c))


class Downstream:
    """Static + trend occlusion monitor for the patient side."""

    __slots__ = (
        "B", "alarm_base", "alpha", "armed_at", "base", "ch", "clear_for", "creep", "dwell", "f", "hold",
        "log", "m1", "m2", "occluded", "rate_seen", "rise", "settle", "tau_ms", "thr", "trend", "valid_now",
    )

    def __init__(self, threshold_kpa: float, trend: bool, rise_kpa: float, creep_kpa_per_min: float,
                 settle_s: float, filter_s: float, hold_kpa: float, dwell_s: float, ch: Channel,
                 log: list[Detection]) -> None:
        self.thr = threshold_kpa
        self.trend = trend
        self.rise = rise_kpa
        self.creep = creep_kpa_per_min / 60_000.0  # kPa per ms
        self.settle = round(settle_s * 1000)
        self.tau_ms = filter_s * 1000.0
        self.hold = hold_kpa
        self.dwell = round(dwell_s * 1000)
        self.ch = ch
        self.log = log
        self.alpha: tuple[int, float] = (-1, 0.0)
        self.occluded = False
        self.m1 = self.m2 = -1e9
        self.f: float | None = None
        self.B: float | None = None
        self.base = 1.0  # last armed baseline (kPa): the pressure the line is expected to return to
        self.alarm_base = 1.0
        self.rate_seen = -1
        self.armed_at = 0
        self.clear_for = 0
        self.valid_now = False

    def hold_level(self) -> float:
        return self.alarm_base + min(self.hold, 0.4 * max(0.0, self.thr - self.alarm_base))

    def relief_target(self) -> float | None:
        """Pressure at which relief stops, or None when relief must not run (no valid reading)."""
        if not self.occluded or not self.valid_now:
            return None
        return self.hold_level()

    def excess(self) -> float:
        """How far the filtered pressure is above the trend baseline (kPa, 0 when disarmed)."""
        return 0.0 if self.f is None or self.B is None else self.f - self.B

    def update(self, t: int, dt: int, r: float | None, rate: int) -> Event | None:
        v = self.ch.feed(r, dt, rate > 0)
        self.valid_now = v is not None
        if v is None:
            if self.ch.failed and not self.occluded:
                return self._raise(t, self.ch.why, r)
            return None
        m1, m2 = self.m1, self.m2
        med = (m1 if m1 > v else v if m2 > v else m2) if m1 < m2 else (m2 if m2 > v else v if m1 > v else m1)
        self.m1, self.m2 = m2, v
        a = self.alpha
        if a[0] != dt:
            a = self.alpha = (dt, 1.0 - math.exp(-dt / self.tau_ms))
        f = self.f = v if self.f is None else self.f + (v - self.f) * a[1]
        if rate != self.rate_seen:
            self.rate_seen = rate
            self.armed_at = t + self.settle
            self.B = None
        excess = 0.0
        if rate > 0 and t >= self.armed_at:
            B = self.B
            if B is None:
                self.B = self.base = f
            else:
                B += self.creep * dt
                self.B = B = B if B < f else f
                excess = f - B
        if not self.occluded:
            if med >= self.thr:
                return self._raise(t, "static", v)
            if self.trend and excess >= self.rise:
                return self._raise(t, "trend", v)
            return None
        if med <= self.alarm_base + 0.4 * (self.hold_level() - self.alarm_base):
            self.clear_for += dt
            if self.clear_for >= self.dwell:
                self.occluded = False
                self.B = None
                self.armed_at = t + self.settle
                self.log.append(Detection(t, "downstream", "clear", v))
                return OCC_DOWN_CLEAR
        else:
            self.clear_for = 0
        return None

    def _raise(self, t: int, reason: str, r: float | None) -> Event:
        self.occluded = True
        self.alarm_base = self.base
        self.clear_for = 0
        self.log.append(Detection(t, "downstream", reason, r))
        return OCC_DOWN


class Upstream:
    """Vacuum threshold monitor for the container side (cassette pumps)."""

    __slots__ = ("ch", "clear_for", "dwell", "log", "m1", "m2", "occluded", "thr")

    def __init__(self, threshold_kpa: float, dwell_s: float, ch: Channel, log: list[Detection]) -> None:
        self.thr = threshold_kpa
        self.dwell = round(dwell_s * 1000)
        self.ch = ch
        self.log = log
        self.occluded = False
        self.m1 = self.m2 = 1e9
        self.clear_for = 0

    def update(self, t: int, dt: int, r: float | None, rate: int) -> Event | None:
        v = self.ch.feed(r, dt, rate > 0)
        if v is None:
            if self.ch.failed and not self.occluded:
                self.occluded = True
                self.log.append(Detection(t, "upstream", self.ch.why, r))
                return OCC_UP
            return None
        med = _median3(self.m1, self.m2, v)
        self.m1, self.m2 = self.m2, v
        if not self.occluded:
            if med <= -self.thr:
                self.occluded = True
                self.clear_for = 0
                self.log.append(Detection(t, "upstream", "static", v))
                return OCC_UP
            return None
        if med >= -0.5 * self.thr:
            self.clear_for += dt
            if self.clear_for >= self.dwell:
                self.occluded = False
                self.log.append(Detection(t, "upstream", "clear", v))
                return OCC_UP_CLEAR
        else:
            self.clear_for = 0
        return None
