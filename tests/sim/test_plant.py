"""The simulated plant: mechanism, line physics, sensors, faults, relief and determinism."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.commands import SetFlow, StopMotor
from controller.core.units import VU_PER_ML, VU_PER_UL
from controller.drivers.base import PumpDriver
from controller.drivers.clocks import SimClock
from controller.drivers.sim import SimPump
from controller.errors import ConfigurationError
from controller.plant.line import FluidLine
from controller.plant.mechanism import Mechanism
from controller.plant.params import PlantParams, plant_params
from controller.plant.sensors import Sensor, SensorSpec
from controller.sensing.detect import PSI_KPA, SensingConfig

QUIET = PlantParams(wander_kpa=0.0, posture_per_h=0.0, artifacts_per_h=0.0, backlash_steps=0, screw_error_pct=0.0)
BIG = 10**15


def run_pump(pump: SimPump, clock: SimClock, ms: int, period: int = 100) -> list[str]:
    kinds = []
    end = clock.t_ms + ms
    while clock.t_ms < end:
        clock.t_ms = min(end, clock.t_ms + period)
        kinds += [f"{e.kind}:{e.site}" if e.kind.startswith("occlusion") else e.kind for e in pump.poll(clock.t_ms)
                  if e.kind != "battery"]
    return kinds


def new_pump(params: PlantParams = QUIET, cfg: SensingConfig | None = None, seed: int = 0) -> tuple[SimPump, SimClock]:
    clock = SimClock()
    return SimPump(params, cfg, seed=seed, clock=clock), clock


def test_it_is_a_pump_driver() -> None:
    assert isinstance(SimPump(), PumpDriver)


def test_steps_per_ml_from_syringe_geometry() -> None:
    p = PlantParams(syringe_diameter_mm=26.6, lead_mm=1.0, steps_per_rev=200, microsteps=16)
    ul_per_step = math.pi * 13.3**2 * 1.0 / 3200
    assert p.ul_per_step == pytest.approx(ul_per_step)
    assert p.steps_per_ml == pytest.approx(1000 / ul_per_step)
    cassette = PlantParams(mechanism="cassette", stroke_ul=75, steps_per_stroke=1600)
    assert cassette.ul_per_step == pytest.approx(75 / 1600)


@pytest.mark.req("REQ-DEL-003")
@settings(max_examples=60, deadline=None)
@given(rate=st.integers(0, 1_200_000), cap_ul=st.integers(0, 50_000), dts=st.lists(st.integers(1, 2000), max_size=30),
       cassette=st.booleans())
def test_quantization_never_moves_more_than_commanded(rate: int, cap_ul: int, dts: list[int], cassette: bool) -> None:
    m = Mechanism(replace(QUIET, mechanism="cassette" if cassette else "syringe"), random.Random(0))
    m.command(rate, cap_ul * VU_PER_UL)
    for dt in dts:
        m.run(dt)
        assert m.pos <= m.cap
        assert m.fwd * m.vps <= m.pos, "steps never run ahead of the command (vps rounds up)"
        assert m.pos - m.fwd * m.vps < m.vps, "and lag it by less than one step"


def test_cassette_is_pulsatile_and_exact_per_stroke() -> None:
    p = replace(QUIET, mechanism="cassette", stroke_ul=75.0, steps_per_stroke=1600, fill_fraction=0.25)
    m = Mechanism(p, random.Random(0))
    assert m.out_ul(1600) == pytest.approx(75.0)
    assert m.out_ul(1200) == pytest.approx(75.0)  # delivery ends at 75 % of the turn
    assert m.out_ul(1599) == pytest.approx(75.0)  # the refill quarter delivers nothing
    assert m.out_ul(3200 + 600) == pytest.approx(2 * 75.0 + 75.0 * 600 / 1200)


def test_backlash_delays_the_start_and_follows_a_reversal() -> None:
    m = Mechanism(replace(QUIET, backlash_steps=30), random.Random(0))
    m.command(1_000_000, BIG)
    first = m.run(1)  # 1000 uL/h x 1 ms = 0.28 uL: one or two steps, all slack
    assert first == 0.0 and m.gap < 30
    moved = sum(m.run(10) for _ in range(10))
    assert moved == pytest.approx((m.fwd - 30) * m.true_ul)
    assert m.back_off(10) == 0.0  # reversing first re-opens the slack


def test_faults_stall_missed_steps_and_runaway() -> None:
    m = Mechanism(QUIET, random.Random(1))
    m.command(100_000, BIG)
    m.stalled = True
    assert m.run(10_000) == 0.0 and m.cmd_steps > 0 and m.fwd == 0
    m.stalled = False
    m.missed = 0.5
    before = m.cmd_steps
    m.run(100_000)
    share = 1 - m.fwd / (m.cmd_steps - before)
    assert 0.45 < share < 0.55
    r = Mechanism(QUIET, random.Random(1))
    r.runaway_rate = 100_000
    assert r.run(36_000) == pytest.approx(1000.0, rel=0.01)  # 100 mL/h for 36 s with no command at all
    r.powered = False
    assert r.run(36_000) == 0.0  # only cutting motor power stops it


def test_line_steady_state_and_conservation() -> None:
    line = FluidLine(QUIET, random.Random(0))
    q_ul_s = 25 / 3.6  # 25 mL/h
    for i in range(600):
        line.advance(100 * (i + 1), 100, q_ul_s * 0.1)
    assert line.P == pytest.approx(QUIET.venous_kpa + 25 * QUIET.resistance_kpa_per_ml_h, rel=1e-6)
    pushed = 600 * q_ul_s * 0.1
    stored = line.C * (line.P - QUIET.venous_kpa)
    assert line.to_patient + stored == pytest.approx(pushed, rel=1e-9)


@pytest.mark.req("REQ-OCC-003")
@pytest.mark.parametrize(("rate", "expected_s"), [(25.0, 99.3), (1.0, 2482.0)])
def test_time_to_static_threshold_is_compliance_times_pressure_over_rate(rate: float, expected_s: float) -> None:
    """The physics the reference gives: t = C x dP / q (0.01 mL/kPa, 10 psi from the venous base)."""
    pump, clock = new_pump(cfg=SensingConfig(occlusion_trend=False))
    pump.request(SetFlow(round(rate * 1000), BIG))
    run_pump(pump, clock, 60_000)
    pump.occlude("downstream")
    t0 = clock.t_ms
    base = pump.pressure_kpa
    while not pump.crossings:
        run_pump(pump, clock, 1000, 1000)
    dt = (pump.crossings[0].t_ms - t0) / 1000
    theory = 0.01 * (10 * PSI_KPA - base) / (rate / 3600)
    assert dt == pytest.approx(theory, rel=0.01)
    assert dt == pytest.approx(expected_s, rel=0.02)


def test_release_delivers_the_stored_volume_as_a_bolus() -> None:
    pump, clock = new_pump(cfg=SensingConfig(relief=False))
    pump.request(SetFlow(100_000, BIG))
    run_pump(pump, clock, 10_000)
    pump.occlude("downstream")
    run_pump(pump, clock, 10_000)
    pump.request(StopMotor(pump.mech.pos))
    p = pump.pressure_kpa
    before = pump.delivered_ul
    pump.release("downstream")
    run_pump(pump, clock, 10_000)
    bolus = pump.delivered_ul - before
    assert pump.releases[0].bolus_ul == pytest.approx(10.0 * (p - QUIET.venous_kpa), rel=1e-6)
    assert bolus == pytest.approx(pump.releases[0].bolus_ul, rel=1e-3)


@pytest.mark.req("REQ-OCC-004", "REQ-REV-001")
def test_relief_backs_off_to_the_hold_level_and_never_beyond_its_bound() -> None:
    pump, clock = new_pump(cfg=SensingConfig(occlusion_trend=False))
    pump.request(SetFlow(25_000, BIG))
    run_pump(pump, clock, 60_000)
    pump.occlude("downstream")
    kinds = []
    while "occlusion:0" not in kinds:
        kinds = run_pump(pump, clock, 100)
    pump.request(StopMotor(pump.mech.pos))
    stored = pump.pressure_kpa * 10.0
    pump.relieve(VU_PER_ML)
    run_pump(pump, clock, 5_000)
    hold = pump.sensing.down.hold_level()
    assert pump.pressure_kpa == pytest.approx(hold, abs=2.0)
    assert pump.relieved_ul < stored and pump.relieved_ul <= 1000.0
    small, clock2 = new_pump(cfg=SensingConfig(occlusion_trend=False))
    small.request(SetFlow(25_000, BIG))
    run_pump(small, clock2, 60_000)
    small.occlude("downstream")
    while "occlusion:0" not in run_pump(small, clock2, 100):
        pass
    small.request(StopMotor(small.mech.pos))
    small.relieve(VU_PER_ML // 100)  # a 10 uL bound is respected even though pressure stays high
    run_pump(small, clock2, 5_000)
    assert small.relieved_ul <= 10.0 + small.mech.true_ul


def test_no_blind_relief_with_an_invalid_pressure_reading() -> None:
    pump, clock = new_pump(cfg=SensingConfig(occlusion_trend=False))
    pump.request(SetFlow(25_000, BIG))
    run_pump(pump, clock, 60_000)
    pump.occlude("downstream")
    while "occlusion:0" not in run_pump(pump, clock, 100):
        pass
    pump.request(StopMotor(pump.mech.pos))
    pump.sensor_fault("downstream_pressure", "invalid")
    pump.relieve(VU_PER_ML)
    run_pump(pump, clock, 5_000)
    assert pump.relieved_ul == 0.0


def test_upstream_occlusion_starves_the_cassette() -> None:
    pump, clock = new_pump(replace(QUIET, mechanism="cassette"))
    pump.request(SetFlow(100_000, BIG))
    run_pump(pump, clock, 30_000)
    pump.occlude("upstream")
    pushed0 = pump.pushed_ul
    kinds = run_pump(pump, clock, 60_000)
    assert "occlusion:1" in kinds
    assert pump.line.Pu == pytest.approx(-90.0)
    cap = QUIET.upstream_compliance_ml_per_kpa * 1000 * (pump.line.head + 90.0)
    assert pump.pushed_ul - pushed0 == pytest.approx(cap, rel=1e-6)  # only what the upstream compliance held
    pump.release("upstream")
    assert "occlusion_clear:1" in run_pump(pump, clock, 3_000)


@pytest.mark.req("REQ-AIR-001")
def test_air_bubble_travels_with_the_flow() -> None:
    pump, clock = new_pump()
    pump.request(SetFlow(36_000, BIG))  # 10 uL/s
    pump.add_bubble(50.0, upstream_ul=100.0)
    # the first slow sample reports the mechanism temperature; nothing else happens yet
    assert [k for k in run_pump(pump, clock, 9_900) if k != "temperature"] == []  # not yet at the detector
    assert run_pump(pump, clock, 5_000) == []  # passing: reported when it ends
    assert run_pump(pump, clock, 1_000) == ["air"]
    assert pump.line.air_passed == pytest.approx(50.0)


def test_an_empty_container_feeds_air_after_the_path_volume() -> None:
    pump, clock = new_pump(replace(QUIET, reservoir_ml=1.0, air_path_ul=100.0))
    pump.request(SetFlow(360_000, BIG))  # 100 uL/s
    kinds = run_pump(pump, clock, 9_000)
    assert "reservoir" in kinds  # empty-container sensor, before any air
    assert "air" not in kinds
    kinds = run_pump(pump, clock, 5_000)
    assert "air" in kinds


def test_sensor_fault_modes() -> None:
    s = Sensor(SensorSpec("p", -100.0, 300.0, 0.5, 0.01, 450.0), random.Random(0))
    healthy = [s.read(10.0) for _ in range(200)]
    assert all(s.valid(r) for r in healthy)
    assert 9.8 < sum(h for h in healthy if h is not None) / 200 < 10.2
    s.set_fault("stuck")
    assert {s.read(x) for x in (1.0, 50.0, 99.0)} == {healthy[-1]}
    s.set_fault("noisy", factor=10)
    noisy = [s.read(10.0) for _ in range(200)]
    assert max(n for n in noisy if n is not None) - min(n for n in noisy if n is not None) > 10
    s.set_fault("out_of_range")
    assert not s.valid(s.read(10.0))
    s.set_fault("invalid")
    r = s.read(10.0)
    assert r is not None and math.isnan(r) and not s.valid(r)
    s.set_fault("disconnected")
    assert s.read(10.0) is None
    s.set_fault("ok")
    assert s.valid(s.read(10.0))
    with pytest.raises(ValueError):
        s.set_fault("melted")


def test_each_sensor_draws_its_own_noise() -> None:
    a, ca = new_pump(PlantParams(), seed=5)
    b, cb = new_pump(PlantParams(), seed=5)
    b.sensor_fault("upstream_pressure", "noisy")  # unused by a syringe, must not change anything else
    b.sensor_fault("temperature", "stuck")
    for pump, clock in ((a, ca), (b, cb)):
        pump.request(SetFlow(25_000, BIG))
        run_pump(pump, clock, 20_000)
    assert a.sensed_kpa == b.sensed_kpa and a.pressure_kpa == b.pressure_kpa


def test_deterministic_for_a_seed_and_different_across_seeds() -> None:
    def trace(seed: int) -> list[float]:
        pump, clock = new_pump(PlantParams(), seed=seed)
        pump.request(SetFlow(25_000, BIG))
        out = []
        for _ in range(300):
            clock.t_ms += 100
            pump.poll(clock.t_ms)
            out.append(pump.sensed_kpa or 0.0)
        return out

    assert trace(3) == trace(3)
    assert trace(3) != trace(4)


def test_battery_drains_on_battery_and_the_pump_dies_at_zero() -> None:
    pump, clock = new_pump(replace(QUIET, battery_min=2.0, on_mains=False))
    pump.request(SetFlow(10_000, BIG))
    run_pump(pump, clock, 60_000, 1000)
    assert pump.battery == pytest.approx(1.0)
    assert pump.powered
    run_pump(pump, clock, 61_000, 1000)
    assert not pump.powered and not pump.mech.powered
    pushed = pump.pushed_ul
    run_pump(pump, clock, 10_000, 1000)
    assert pump.pushed_ul == pushed
    assert pump.request(SetFlow(10_000, BIG)).reason == "device_error"


def test_commands_act_at_the_clock_time_not_at_the_last_poll() -> None:
    pump, clock = new_pump()
    pump.request(SetFlow(36_000, BIG))  # 10 uL/s
    pump.poll(0)
    clock.t_ms = 5_000  # the host hung for 5 s; then it stops the motor before polling
    pump.safe_stop()
    pump.poll(5_000)
    assert pump.mech.pos == 5_000 * 36_000  # the motor ran until it was stopped
    assert not pump.mech.powered


def test_request_refusals() -> None:
    pump = SimPump()
    assert pump.request(SetFlow(2_000_000, BIG)).reason == "out_of_range"
    pump.request(SetFlow(1000, 10))
    pump.poll(1000)
    assert pump.request(SetFlow(1000, 5)).reason == "out_of_range"  # a cap behind the odometer
    pump.safe_stop()
    assert pump.request(SetFlow(1000, BIG)).reason == "device_error"
    assert pump.request(StopMotor(pump.mech.pos)).accepted


def test_plant_params_are_validated() -> None:
    with pytest.raises(ConfigurationError) as exc:
        plant_params({"syringe_diameter_mm": 100})
    assert exc.value.field == "plant.syringe_diameter_mm" and "3 to 40 mm" in str(exc.value)
    with pytest.raises(ConfigurationError):
        plant_params({"microsteps": 1.5})
    assert plant_params({"mechanism": "cassette"}).mechanism == "cassette"
