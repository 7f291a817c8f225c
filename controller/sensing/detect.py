"""The sensing layer: raw plant readings in, core events out (the pump's firmware side).

Theory of operation
-------------------
A real pump turns transducer readings into a few discrete facts the controller acts on. Once
per control period ``Sensing.update`` receives every raw reading (floats, NaN or None) and
returns the core events for what changed:

- downstream / upstream occlusion and their clearing (``controller.sensing.pressure``:
  static threshold and pressure trend);
- ``air``: an air-in-line segment is measured as it passes (air fraction of the stream x the
  volume the motor was commanded to move) and reported once when it ends, or at once when
  it grows past the active route's single-bubble limit; a detector that reads fluid again
  after a reported bubble reports ``air`` 0 so the cause can clear;
- ``door_open`` / ``door_close`` and ``reservoir`` (empty / refilled) on edges;
- ``battery`` (minutes left as the mean of the last 10 gauge samples, and mains) whenever
  the whole minutes or the mains flag change;
- ``motor_fault`` when the encoder falls ``slip_ul`` behind the steps commanded (stall,
  missed steps) or runs ``overtravel_steps`` ahead of them (runaway, free flow); the driver
  then cuts motor power, which is the only thing that stops a runaway driver stage.

Invalid readings are handled fail-safe (each rule cites its hazard control):

1. A reading that is None, NaN or outside the sensor's range is never used as data.
2. After ``invalid_s`` of invalid readings the sensor has failed and is taken at its *safe*
   value: pressure -> occluded (REQ-OCC-001), air detector -> air (REQ-AIR-001), door ->
   open (REQ-DOR-001), reservoir -> empty (REQ-RES-001), mains -> off and battery -> 0 min
   (REQ-PWR-001/002), encoder -> motor fault (REQ-FLT-003). Every one of them stops flow or
   keeps it from starting; none can start it.
3. A pressure reading bit-identical for ``stuck_s`` while the motor runs is a stuck sensor
   (rule 2 applies). A stuck door, air or reservoir switch reading its *unsafe* value cannot be
   told from a healthy one by this layer alone (a single fault needing redundant hardware);
   the scenario suite shows it.
4. Temperature is only recorded: the core has no overheat event yet (REQ-TMP-001 planned).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from controller.core.events import Event, ev
from controller.core.limits import Limits
from controller.fields import Field, Flag, Num, parse_table
from controller.sensing.pressure import Channel, Detection, Downstream, Upstream

PSI_KPA = 6.894757
MOTOR_FAULT = ev("motor_fault")
DOOR_OPEN, DOOR_CLOSE = ev("door_open"), ev("door_close")
RES_EMPTY, RES_OK = ev("reservoir", flag=True), ev("reservoir", flag=False)


@dataclass(frozen=True, slots=True)
class SensingConfig:
    occlusion_threshold_kpa: float = 10 * PSI_KPA
    upstream_threshold_kpa: float = 1 * PSI_KPA
    occlusion_trend: bool = True
    trend_rise_kpa: float = 10.0
    trend_creep_kpa_per_min: float = 0.1
    trend_settle_s: float = 8.0
    trend_filter_s: float = 2.0
    clear_dwell_s: float = 1.0
    invalid_s: float = 0.5
    stuck_s: float = 30.0
    relief: bool = True
    relief_hold_kpa: float = 5.0
    relief_rate_ml_h: float = 1200.0
    slip_ul: float = 10.0
    overtravel_steps: int = 4
    battery_sample_s: float = 10.0

    def __post_init__(self) -> None:
        """Every setting in its range however the config is built (REQ-OCC-005): a typed error
        naming the field, the value and the allowed range."""
        parse_table({s.name: getattr(self, s.name) for s in SENSING_FIELDS}, SENSING_FIELDS, "sensing")


SENSING_FIELDS: tuple[Field, ...] = (
    Num("occlusion_threshold_kpa", 2 * PSI_KPA, 20 * PSI_KPA - 0.01, None, "kPa",
        doc="downstream threshold, 2 psi to below 20 psi (REQ-OCC-005)"),
    Num("upstream_threshold_kpa", 1.0, 50.0, None, "kPa"),
    Flag("occlusion_trend", None, "pressure-trend detector on top of the static threshold"),
    Num("trend_rise_kpa", 2.0, 50.0, None, "kPa"),
    Num("trend_creep_kpa_per_min", 0.0, 5.0, None, "kPa/min"),
    Num("trend_settle_s", 1.0, 120.0, None, "s"),
    Num("trend_filter_s", 0.1, 30.0, None, "s"),
    Num("clear_dwell_s", 0.1, 30.0, None, "s"),
    Num("invalid_s", 0.05, 10.0, None, "s"),
    Num("stuck_s", 0.0, 600.0, None, "s"),
    Flag("relief", None, "back the motor off after a downstream occlusion alarm (REQ-OCC-004)"),
    Num("relief_hold_kpa", 0.5, 20.0, None, "kPa"),
    Num("relief_rate_ml_h", 10.0, 1200.0, None, "mL/h"),
    Num("slip_ul", 1.0, 200.0, None, "uL"),
    Num("overtravel_steps", 1, 1000, None, integer=True),
    Num("battery_sample_s", 1.0, 180.0, None, "s", doc="at most 3 min (REQ-PWR-004)"),
)


def sensing_config(raw: dict[str, object], source: str = "", where: str = "pump") -> SensingConfig:
    return SensingConfig(**parse_table(raw, SENSING_FIELDS, where, source))  # type: ignore[arg-type]


class Switch:
    """An on/off sensor reported on edges; a failed one reads its safe value (rule 2)."""

    __slots__ = ("bad_for", "invalid_ms", "off", "on", "safe", "state")

    def __init__(self, on: Event, off: Event, safe: bool, invalid_ms: int) -> None:
        self.on, self.off, self.safe, self.invalid_ms = on, off, safe, invalid_ms
        self.state = False
        self.bad_for = 0

    def update(self, r: float | None, dt: int) -> Event | None:
        if r is None or not 0.0 <= r <= 1.0:
            self.bad_for += dt
            if self.bad_for < self.invalid_ms:
                return None
            val = self.safe
        else:
            self.bad_for = 0
            val = r >= 0.5
        if val == self.state:
            return None
        self.state = val
        return self.on if val else self.off


class AirMonitor:
    __slots__ = ("bad_for", "big", "dwell", "failsafe", "fluid_for", "invalid_ms", "limit_nl", "need_clear",
                 "reported", "seg")

    def __init__(self, limit_nl: int, invalid_ms: int, dwell_ms: int) -> None:
        self.limit_nl, self.invalid_ms, self.dwell = limit_nl, invalid_ms, dwell_ms
        self.seg = self.reported = 0.0
        self.big = self.need_clear = self.failsafe = False
        self.bad_for = self.fluid_for = 0

    def update(self, frac: float | None, moved_ul: float, dt: int) -> Event | None:
        if frac is None or not 0.0 <= frac <= 1.0:
            self.bad_for += dt
            if self.bad_for >= self.invalid_ms and not self.failsafe:
                self.failsafe = self.need_clear = True
                return ev("air", volume=self.limit_nl + 1)
            return None
        self.bad_for = 0
        self.failsafe = False
        if frac > 0.0:
            self.fluid_for = 0
            self.seg += frac * moved_ul
            if not self.big and self.seg * 1000.0 > self.limit_nl:
                self.big = True
                self.reported = self.seg
                return ev("air", volume=max(math.ceil(self.seg * 1000.0), self.limit_nl + 1))
            return None
        if self.seg > 0.0:
            rest = self.seg - self.reported
            self.need_clear = self.need_clear or self.big
            self.seg = self.reported = 0.0
            self.big = False
            if rest > 0.0:
                return ev("air", volume=math.ceil(rest * 1000.0))  # air rounds up: conservative
        if self.need_clear:
            self.fluid_for += dt
            if self.fluid_for >= self.dwell:
                self.need_clear = False
                return ev("air", volume=0)
        return None


class PowerMonitor:
    __slots__ = ("bad_for", "invalid_ms", "mains", "samples", "sent")

    def __init__(self, invalid_ms: int) -> None:
        self.invalid_ms = invalid_ms
        self.mains = True
        self.bad_for = 0
        self.samples: list[float] = []
        self.sent: tuple[int, bool] | None = None

    def update(self, mains: float | None, battery: float | None, sampled: bool, dt: int) -> Event | None:
        if mains is None or not 0.0 <= mains <= 1.0:
            self.bad_for += dt
            if self.bad_for >= self.invalid_ms:
                self.mains = False
        else:
            self.bad_for = 0
            self.mains = mains >= 0.5
        if sampled:
            ok = battery is not None and 0.0 <= battery <= 10_000.0
            self.samples.append(battery if ok and battery is not None else 0.0)  # failed gauge: 0 min
            if len(self.samples) > 10:
                del self.samples[0]
        if not self.samples:
            return None
        avg = sum(self.samples) / len(self.samples)
        level = max(0, math.floor(avg))
        if self.sent is not None:
            last = self.sent[0]
            if last < level and avg < last + 1.3:  # hysteresis upwards only: a falling level is
                level = last  # reported at once (conservative), a rising one with margin
        now = (level, self.mains)
        if now == self.sent:
            return None
        self.sent = now
        return ev("battery", level=level, flag=self.mains)


class MotorMonitor:
    __slots__ = ("bad_for", "cut", "faulted", "invalid_ms", "over", "reason", "slip")

    def __init__(self, slip_steps: int, over_steps: int, invalid_ms: int) -> None:
        self.slip, self.over, self.invalid_ms = slip_steps, over_steps, invalid_ms
        self.bad_for = 0
        self.faulted = self.cut = False
        self.reason = ""

    def update(self, enc: float | None, cmd_steps: int, rev: int, dt: int) -> Event | None:
        if self.faulted:
            return None
        if enc is None or enc != enc:
            self.bad_for += dt
            if self.bad_for < self.invalid_ms:
                return None
            return self._fault("encoder_invalid")
        self.bad_for = 0
        moved = enc + rev  # forward steps the encoder saw
        if cmd_steps - moved >= self.slip:
            return self._fault("slip")
        if moved - cmd_steps >= self.over:
            self.cut = True  # only cutting motor power stops a runaway driver stage
            return self._fault("overtravel")
        return None

    def _fault(self, reason: str) -> Event:
        self.faulted, self.reason = True, reason
        return MOTOR_FAULT


class Sensing:
    """All monitors of one pump; ``update`` once per control period."""

    def __init__(self, cfg: SensingConfig, limits: Limits, *, has_upstream: bool, ul_per_step: float) -> None:
        self.cfg = cfg
        self.has_upstream = has_upstream
        self.ul_per_step = ul_per_step
        self.bubble_limit_nl = min(limits.bubble_limit_nl)  # until a program names its route
        self.log: list[Detection] = []
        self.reset()

    def reset(self) -> None:
        """Power-on: every monitor starts from scratch (the plant keeps its physics)."""
        c = self.cfg
        inv, stuck = round(c.invalid_s * 1000), round(c.stuck_s * 1000)
        self.down = Downstream(c.occlusion_threshold_kpa, c.occlusion_trend, c.trend_rise_kpa,
                               c.trend_creep_kpa_per_min, c.trend_settle_s, c.trend_filter_s, c.relief_hold_kpa,
                               c.clear_dwell_s, Channel(-100.0, 300.0, inv, stuck), self.log)
        self.up = Upstream(c.upstream_threshold_kpa, c.clear_dwell_s, Channel(-100.0, 300.0, inv, stuck), self.log)
        self.air = AirMonitor(self.bubble_limit_nl, inv, round(c.clear_dwell_s * 1000))
        self.door = Switch(DOOR_OPEN, DOOR_CLOSE, True, inv)
        self.reservoir = Switch(RES_EMPTY, RES_OK, True, inv)
        self.power = PowerMonitor(inv)
        self.motor = MotorMonitor(max(2, math.ceil(c.slip_ul / self.ul_per_step)), c.overtravel_steps, inv)
        self.temperature: float | None = None
        self._temp_reported: int | None = None
        self._last: tuple[float | None, float | None, float | None] = (0.0, 0.0, 1.0)

    def temperature_event(self) -> Event | None:
        """The mechanism temperature for the core, in tenths of a degree, when it moved by 0.5 C or
        more; an invalid reading is reported as too hot (a failed sensor stops the pump: safe side)."""
        t = self.temperature
        c10 = 999 if t is None or not math.isfinite(t) else round(t * 10)
        if self._temp_reported is not None and abs(c10 - self._temp_reported) < 5:
            return None
        self._temp_reported = c10
        return ev("temperature", level=c10)

    def set_bubble_limit(self, nl: int) -> None:
        self.bubble_limit_nl = nl
        self.air.limit_nl = nl

    def update(self, t: int, dt: int, rate: int, p_down: float | None, p_up: float | None,
               air: float | None, moved_ul: float, door: float | None, reservoir: float | None,
               mains: float | None, battery: float | None, sampled: bool, enc: float | None, cmd_steps: int,
               rev: int) -> list[Event]:
        out: list[Event] = []
        e = self.down.update(t, dt, p_down, rate)
        if e is not None:
            out.append(e)
        if self.has_upstream:
            e = self.up.update(t, dt, p_up, rate)
            if e is not None:
                out.append(e)
        a = self.air
        if air != 0.0 or a.seg or a.need_clear or a.bad_for:  # fluid, nothing pending: nothing to do
            e = a.update(air, moved_ul, dt)
            if e is not None:
                out.append(e)
        # a switch whose reading did not change (and is not failing) cannot produce an event
        if door != self._last[0] or self.door.bad_for:
            e = self.door.update(door, dt)
            if e is not None:
                out.append(e)
        if reservoir != self._last[1] or self.reservoir.bad_for:
            e = self.reservoir.update(reservoir, dt)
            if e is not None:
                out.append(e)
        if mains != self._last[2] or sampled or self.power.bad_for:
            e = self.power.update(mains, battery, sampled, dt)
            if e is not None:
                out.append(e)
        self._last = (door, reservoir, mains)
        e = self.motor.update(enc, cmd_steps, rev, dt)
        if e is not None:
            out.append(e)
        if sampled:
            e = self.temperature_event()
            if e is not None:
                out.append(e)
        return out
