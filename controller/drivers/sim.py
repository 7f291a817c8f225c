"""The simulated pump: mechanism, line, sensors and sensing behind the driver protocol.

Theory of operation
-------------------
``SimPump`` is a ``PumpDriver`` (``controller.drivers.base``) like a real pump's: the shell
sends it the core's (rate, cap) commands and polls it once per control period. A poll

1. advances the physics from the last poll (or command) to ``now``: battery and mains, the
   pressure-relief back-off if one is pending (in 10 ms firmware sub-steps, watching the
   pressure), the mechanism under the current command (``sim_mech``), the line (``sim_line``);
2. reads every sensor through its fault model (``sim_sensors``);
3. hands the readings to the sensing layer (``controller.sensing.detect``), whose events it returns.

``relieve`` (the core's ``RelievePressure`` after a downstream occlusion alarm, forwarded by
the runner) backs the plunger off at ``relief_rate_ml_h`` until the downstream reading falls
to the sensing layer's hold level, by at most the commanded volume, and never without a
valid pressure reading (REQ-OCC-004, REQ-REV-001).

Given the simulated clock, every command first brings the physics up to the clock, so a
command acts at the moment it is sent, whichever order the shell polls and commands in.

``poll_block`` (the simulator's skipping mode, ``Shell.skip``) advances up to ``n`` whole
control periods at once and stops after the first one with an event, a loss of power or a
tripped guard; it computes exactly what as many ``poll`` calls would (``controller.drivers.simblock``).

Scenario-facing methods (``occlude``, ``add_bubble``, ``set_door``, ``sensor_fault``, ...)
change the physical world only; the controller learns about it through the sensors, exactly
as it would on hardware. Everything random draws from streams seeded by ``seed`` and the
stream's name (Gaussian noise from ``plant.noise.Normal`` streams, drawn ahead in chunks), so a
run is reproducible bit for bit, one period at a time or in blocks.

Rules
1. ``measured_vu`` is the encoder's forward count in core units (relief excluded: the core
   asked for it), or None while the encoder is unreadable.
2. A refused request is answered at once with a reason from ``REASONS``.
3. ``safe_stop`` cuts motor power (the only stop a runaway driver stage obeys); a power cycle
   restores it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from controller.core.commands import SetFlow, StopMotor
from controller.core.events import Event
from controller.core.limits import PUMP_MAX_RATE, Limits
from controller.core.units import MS_PER_MIN, VU_PER_UL
from controller.drivers.base import ACCEPTED, MotorCommand, Reply
from controller.drivers.clocks import Clock
from controller.drivers.simblock import CapDuring, Guard, run_block
from controller.plant.line import FluidLine
from controller.plant.mechanism import Mechanism
from controller.plant.noise import Normal
from controller.plant.params import PlantParams
from controller.plant.sensors import Sensor, SensorSpec
from controller.sensing.detect import Sensing, SensingConfig

RELIEF_SUBSTEP_MS = 10
SENSOR_NAMES = ("downstream_pressure", "upstream_pressure", "air", "door", "reservoir", "mains", "battery",
                "temperature", "encoder")


@dataclass(frozen=True, slots=True)
class Release:
    t_ms: int
    site: str
    bolus_ul: float  # stored excess that drains into the patient
    pressure_kpa: float


@dataclass(frozen=True, slots=True)
class Crossing:
    t_ms: float  # when the true downstream pressure reached the static threshold (interpolated)
    occluded_at_ms: int


class SimPump:
    def __init__(self, params: PlantParams | None = None, sensing: SensingConfig | None = None,
                 limits: Limits | None = None, seed: int = 0, t0_ms: int = 0, clock: Clock | None = None) -> None:
        p = self.params = params or PlantParams()
        self.clock = clock
        self.cfg = sensing or SensingConfig()
        self.seed = seed
        self.mech = Mechanism(p, self._rng("mechanism"))
        self.line = FluidLine(p, self._rng("line"), Normal(f"{seed}:line:wander"))
        self.has_upstream = p.mechanism == "cassette"
        self.sensing = Sensing(self.cfg, limits or Limits(), has_upstream=self.has_upstream,
                               ul_per_step=p.ul_per_step)
        pn = p.pressure_noise_kpa
        specs = {
            "downstream_pressure": SensorSpec("downstream_pressure", -100.0, 300.0, pn, p.pressure_lsb_kpa, 450.0),
            "upstream_pressure": SensorSpec("upstream_pressure", -100.0, 300.0, pn, p.pressure_lsb_kpa, 450.0),
            "air": SensorSpec("air", 0.0, 1.0, beyond=2.0),
            "door": SensorSpec("door", 0.0, 1.0, beyond=2.0),
            "reservoir": SensorSpec("reservoir", 0.0, 1.0, beyond=2.0),
            "mains": SensorSpec("mains", 0.0, 1.0, beyond=2.0),
            "battery": SensorSpec("battery", 0.0, 10_000.0, 0.3, 0.1, -5.0),
            "temperature": SensorSpec("temperature", -40.0, 125.0, 0.1, 0.1, 200.0),
            "encoder": SensorSpec("encoder", -(2.0**62), 2.0**62, 0.0, 0.0, -(2.0**63)),
        }
        self.sensors = {name: Sensor(spec, self._rng("sensor:" + name), Normal(f"{seed}:sensor:{name}:normal"))
                        for name, spec in specs.items()}
        self._down = self.sensors["downstream_pressure"]
        self._up = self.sensors["upstream_pressure"]
        self._air = self.sensors["air"]
        self._door = self.sensors["door"]
        self._res = self.sensors["reservoir"]
        self._mains = self.sensors["mains"]
        self._enc = self.sensors["encoder"]
        self.t = self.t_sensed = t0_ms
        self.x_sensed = 0.0
        self.cmd_ul = 0.0  # volume commanded since the last sensing (the air detector's flow estimate)
        self.door_open = False
        self.on_mains = p.on_mains
        self.battery = p.battery_full_min if p.battery_min is None else p.battery_min
        self.powered = True
        self.temperature_c = p.temperature_c
        self.offset_kpa = 0.0
        self.next_slow = t0_ms
        self.relief_left = 0  # steps of back-off still allowed
        self.relieved_ul = 0.0
        self.releases: list[Release] = []
        self.crossings: list[Crossing] = []
        self._occluded_at: int | None = None
        self.sensed_kpa: float | None = None
        self.enc_reading: float | None = 0.0
        self.pushed_ul = 0.0  # net volume the mechanism displaced into the line (truth)
        self.empty_ul = p.empty_sense_ml * 1000.0
        self.max_kpa = self.line.P
        self.block_run, self.block_wait, self.block_backoff = 64, 0, 1  # how poll_block tries its runs
        self.mark_at: frozenset[int] = frozenset()  # periods of the next block whose readings to note
        self.marked: list[tuple[int, float, float, float | None]] = []  # (period, delivered uL, kPa, sensed kPa)
        self.set_temperature(p.temperature_c)

    def _rng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}:{name}")

    # --- PumpDriver ----------------------------------------------------------------------------

    def request(self, cmd: MotorCommand) -> Reply:
        self._now()
        m = self.mech
        if isinstance(cmd, StopMotor):
            m.command(0, cmd.odo)
            return ACCEPTED
        if isinstance(cmd, SetFlow):
            if cmd.rate < 0 or cmd.rate > PUMP_MAX_RATE or cmd.cap < m.pos:
                return Reply(False, "out_of_range", f"rate {cmd.rate} uL/h, cap {cmd.cap} vu at odometer {m.pos}")
            if not m.powered or not self.powered:
                return Reply(False, "device_error", "motor power is cut after a fault")
            m.command(cmd.rate, cmd.cap)
            return ACCEPTED
        return Reply(False, "device_error", f"unknown command {cmd!r}")

    def poll(self, now_ms: int) -> list[Event]:
        self._physics(now_ms)
        dt = now_ms - self.t_sensed
        if dt <= 0:
            return []
        self.t_sensed = now_ms
        m, line = self.mech, self.line
        if line.P > self.max_kpa:
            self.max_kpa = line.P
        rate = m.rate if m.pos < m.cap else 0
        off = self.offset_kpa
        r_down = self.sensed_kpa = self._down.read(line.P + off)
        r_up = self._up.read(line.Pu + off) if self.has_upstream else None
        # healthy switches and encoder read their true value exactly: skip the call (hot path)
        air = line.air_fraction(self.x_sensed) if line.bubbles else 0.0
        r_air = air if self._air.mode == "ok" else self._air.read(air)
        self.x_sensed = line.x
        door = 1.0 if self.door_open else 0.0
        r_door = door if self._door.mode == "ok" else self._door.read(door)
        res = 1.0 if line.container <= self.empty_ul else 0.0
        r_res = res if self._res.mode == "ok" else self._res.read(res)
        mains = 1.0 if self.on_mains else 0.0
        r_mains = mains if self._mains.mode == "ok" else self._mains.read(mains)
        sampled = now_ms >= self.next_slow
        r_bat = None
        if sampled:
            self.next_slow = now_ms + round(self.cfg.battery_sample_s * 1000)
            r_bat = self.sensors["battery"].read(self.battery)
            self.sensing.temperature = self.sensors["temperature"].read(self.temperature_c)
        enc_true = float(m.fwd - m.rev)
        enc = self.enc_reading = enc_true if self._enc.mode == "ok" else self._enc.read(enc_true)
        moved_ul, self.cmd_ul = self.cmd_ul, 0.0
        events = self.sensing.update(now_ms, dt, rate, r_down, r_up, r_air, moved_ul, r_door, r_res, r_mains,
                                     r_bat, sampled, enc, m.cmd_steps, m.rev)
        if self.sensing.motor.cut:
            m.powered = False
        return events

    def poll_block(self, start_ms: int, period_ms: int, n: int, guard: Guard | None = None,
                   cap_during: CapDuring | None = None) -> tuple[int, list[Event]] | None:
        """Advance up to ``n`` whole periods from ``start_ms`` (the last poll), as ``n`` polls at
        ``start_ms + i x period_ms`` would, and stop after the first period with an event, a loss of
        power or a tripped ``guard`` (see ``controller.drivers.simblock``). ``cap_during(i)``: the cap
        the shell's renewals hold the mechanism to in period ``i``. Returns (periods advanced, that
        period's events), or None when the plant is not at ``start_ms``. The truth after each period
        of ``mark_at`` that was advanced - delivered uL, pressure, sensed pressure - is in ``marked``
        (the runner's samples inside a block)."""
        if n < 1 or period_ms < 1 or self.t != start_ms or self.t_sensed != start_ms:
            return None
        return run_block(self, start_ms, period_ms, n, guard, cap_during)

    def _now(self) -> None:
        """Bring the physics up to the clock before a command takes effect (commands act *now*,
        whatever order the shell sends them in relative to its poll)."""
        if self.clock is not None:
            self._physics(self.clock.now_ms())

    def _physics(self, now_ms: int) -> None:
        dt = now_ms - self.t
        if dt <= 0:
            return
        t0 = self.t
        self.t = now_ms
        if not self.on_mains:
            self.battery = max(0.0, self.battery - dt / MS_PER_MIN)
            if self.battery <= 0.0:
                self.powered = False
                self.mech.powered = False
        elif self.battery < self.params.battery_full_min:
            self.battery = min(self.params.battery_full_min,
                               self.battery + dt / MS_PER_MIN * self.params.charge_min_per_min)
        m, line = self.mech, self.line
        rest = dt
        if self.relief_left > 0:
            rest = self._relief(t0, dt)
        if rest > 0:
            if m.rate > 0 and m.pos < m.cap:
                self.cmd_ul += min(m.rate * rest, m.cap - m.pos) / VU_PER_UL
            p_before = line.P
            pushed = m.run(rest)
            self.pushed_ul += line.advance(now_ms, rest, pushed)
            if self._occluded_at is not None and line.occluded:
                self._check_crossing(now_ms, rest, p_before)

    def measured_vu(self) -> int | None:
        enc = self.enc_reading
        if enc is None or enc != enc or abs(enc) > 2.0**62:
            return None
        return (int(enc) + self.mech.rev) * self.mech.vps

    def safe_stop(self) -> None:
        self._now()
        m = self.mech
        m.command(0, m.pos)
        m.powered = False
        self.relief_left = 0

    def close(self) -> None:
        self.safe_stop()

    # --- pressure relief (REQ-OCC-004) -----------------------------------------------------------

    def relieve(self, max_vu: int) -> None:
        """Back off after a downstream occlusion alarm, by at most ``max_vu`` (one-shot)."""
        self._now()
        if self.cfg.relief and max_vu > 0:
            self.relief_left = max_vu // self.mech.vps

    def _relief(self, t0: int, dt: int) -> int:
        """Run the back-off in firmware sub-steps; return the part of ``dt`` left over."""
        m, line = self.mech, self.line
        per_sub = max(1, round(self.cfg.relief_rate_ml_h * RELIEF_SUBSTEP_MS / 3600.0 / self.params.ul_per_step))
        used = 0
        while self.relief_left > 0 and used + RELIEF_SUBSTEP_MS <= dt:
            target = self.sensing.down.relief_target()
            reading = self._down.read(line.P + self.offset_kpa)
            if target is None or not self._down.valid(reading) or reading is None or reading <= target:
                self.relief_left = 0
                break
            k = min(per_sub, self.relief_left)
            self.relief_left -= k
            back = m.back_off(k)
            used += RELIEF_SUBSTEP_MS
            self.relieved_ul -= back
            self.pushed_ul += line.advance(t0 + used, RELIEF_SUBSTEP_MS, back + m.run(RELIEF_SUBSTEP_MS))
        return dt - used

    def _check_crossing(self, now: int, dt: int, p_before: float) -> None:
        thr = self.cfg.occlusion_threshold_kpa
        p_after = self.line.P
        if p_before < thr <= p_after and self._occluded_at is not None:
            frac = (thr - p_before) / (p_after - p_before)
            self.crossings.append(Crossing(now - dt + frac * dt, self._occluded_at))
            self._occluded_at = None

    # --- the physical world (scenario events) -----------------------------------------------------


    def self_test(self) -> bool:
        """Power-on self-test: fails on a configured fault or any sensor that cannot be read."""
        bad = any(s.mode in ("invalid", "disconnected", "out_of_range") for s in self.sensors.values())
        return not (self.params.self_test_fails or bad)

    def occlude(self, site: str, factor: float | None = None) -> None:
        self._now()
        if site == "upstream":
            self.line.occlude_upstream(True)
            return
        self.line.occlude(factor)
        if factor is None and self._occluded_at is None:
            self._occluded_at = self.t

    def release(self, site: str) -> None:
        self._now()
        line = self.line
        if site in ("upstream", "both") and line.up_occluded:
            line.occlude_upstream(False)
        if site in ("downstream", "both") and (line.occluded or line.factor != 1.0):
            p = line.P
            m = self.mech
            q = m.rate / 3600.0 if m.moving() and m.powered else 0.0  # uL/s pushed now
            self.releases.append(Release(self.t, "downstream", line.release(q), p))
            self._occluded_at = None

    def add_bubble(self, volume_ul: float, upstream_ul: float = 0.0) -> None:
        self._now()
        self.line.add_bubble(volume_ul, upstream_ul)

    def purge_air(self) -> None:
        self._now()
        self.line.purge_air()

    def refill(self, ul: float) -> None:
        """A new container is hung (whatever [plant] says)."""
        self._now()
        self.line.refill(ul)

    def motor_fault(self, stalled: bool | None = None, runaway_ml_h: float | None = None,
                    missed: float | None = None) -> None:
        """Inject a mechanism fault: a stall, a runaway driver stage, or missed steps."""
        self._now()
        m = self.mech
        if stalled is not None:
            m.stalled = stalled
        if runaway_ml_h is not None:
            m.runaway_rate = round(runaway_ml_h * 1000)
        if missed is not None:
            m.missed = missed

    def set_door(self, open_: bool) -> None:
        self._now()
        self.door_open = open_

    def set_mains(self, on: bool) -> None:
        self._now()
        self.on_mains = on

    def set_temperature(self, c: float) -> None:
        self._now()
        self.temperature_c = c
        self.offset_kpa = self.params.pressure_temp_coeff_kpa_per_c * (c - 20.0)  # transducer drift
        self.line.viscosity = 2.718281828459045 ** (-0.02 * (c - 20.0))

    def set_connected(self, connected: bool) -> None:
        self.line.connected = connected

    def set_container(self, ul: float) -> None:
        if self.params.reservoir_ml is None:
            self.line.refill(ul)

    def sensor_fault(self, name: str, mode: str, value: float | None = None, factor: float = 10.0) -> None:
        self._now()
        self.sensors[name].set_fault(mode, value, factor)

    def power_cycle(self) -> None:
        """The controller restarts: odometer and sensing start over; the physics carries on."""
        self.mech.reset_odometer()
        self.mech.powered = self.powered = self.on_mains or self.battery > 0.0
        self.relief_left = 0
        self.enc_reading = 0.0
        self.sensing.reset()

    # --- truth, for reports --------------------------------------------------------------------------

    @property
    def pressure_kpa(self) -> float:
        return self.line.P

    @property
    def delivered_ul(self) -> float:
        return self.line.to_patient
