"""End to end through the real serial stack: core + Shell + NE1000Driver (pyserial) + emulator on a pty.

Time is a SimClock shared by the shell and the emulated mechanism, so volumes and stop times
are exact; only reply timeouts are wall clock. Every core step is checked against every
invariant of specs/invariants.py (``CheckedController``).
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from controller.commands import SetFlow, StopMotor
from controller.drivers.ne1000.driver import NE1000Config, NE1000Driver
from controller.drivers.ne1000.emulator import EmulatorServer, Fault
from controller.drivers.ne1000.firmware import NE1000Firmware
from controller.events import ev
from controller.limits import Limits
from controller.programs import build_program
from controller.shell import SimClock
from controller.units import VU_PER_UL
from tests.drivers.helpers import FAST, PERIOD_MS, Rig, rig

pytestmark = [pytest.mark.req("REQ-DRV-001", "REQ-DRV-002", "REQ-DEL-003"), pytest.mark.method("stateful")]

REQUEST = {"rate_ml_h": 360, "vtbi_ml": 0.5, "reservoir_ml": 10, "end_action": "stop"}  # 100 uL/s for 5 s


def start(r: Rig, request: dict[str, object] = REQUEST) -> None:
    r.shell.submit(ev("self_test", flag=True))
    r.shell.submit(ev("program", program=build_program(request, Limits()).program))
    assert r.shell.submit(ev("start")).accepted


def test_open_clears_the_counters_and_enters_safe_mode() -> None:
    with rig() as r:
        assert r.driver.version == "NE1000V3.928"
        assert r.emu.pump.saf_s == FAST["safe_timeout_s"] and r.driver.link is not None
        assert r.driver.link.mode.value == "safe"
        assert r.emu.pump.counter == [0, 0] and r.emu.pump.direction == "INF"
    with rig(safe_timeout_s=0) as r:
        assert r.emu.pump.saf_s == 0 and r.driver.link is not None and r.driver.link.mode.value == "basic"


@pytest.mark.parametrize("safe_timeout_s", [1, 0])
def test_an_infusion_delivers_the_vtbi_and_the_pump_stops_itself(safe_timeout_s: int) -> None:
    with rig(safe_timeout_s=safe_timeout_s) as r:
        start(r)
        r.run(2_000)
        assert abs(r.driver.measured_vu() - r.ctl.vars.flow.odo) <= 3 * VU_PER_UL  # type: ignore[operator]
        r.run(5_000)
        assert r.ctl.state == "STOPPED" and not r.ctl.broken
        truth = r.emu.truth()
        assert not truth.moving
        assert 498 <= truth.infused_ul <= 500  # at its own VOL target: never past the cap, at most
        # one display digit (1 uL here) and one step short of it
        assert r.events == []  # no alarm, no mismatch, no watchdog


def test_the_pump_stops_at_the_cap_even_if_the_host_dies_in_basic_mode() -> None:
    clock = SimClock()
    with EmulatorServer(clock=clock.now_ms) as emu:
        driver = NE1000Driver(NE1000Config(emu.port, safe_timeout_s=0, reply_timeout_ms=60)).open(0)
        cap = 250 * VU_PER_UL
        assert driver.request(SetFlow(1_800_000, cap)).accepted  # 0.5 mL/s towards a 250 uL cap
        clock.advance(3_600_000)  # the host is gone for an hour: nobody polls
        truth = emu.truth()
        assert not truth.moving and truth.infused_ul <= 250
        driver.close()


def test_host_death_in_safe_mode_stops_the_pump_within_the_safe_timeout() -> None:
    clock = SimClock()
    with EmulatorServer(clock=clock.now_ms) as emu:
        driver = NE1000Driver(NE1000Config(emu.port, safe_timeout_s=2, reply_timeout_ms=60)).open(0)
        assert driver.request(SetFlow(360_000, 10_000 * VU_PER_UL)).accepted  # 100 uL/s, 10 mL cap
        clock.advance(1_999)
        assert emu.truth().moving
        clock.advance(2)  # past SAF 2 s since the last packet
        truth = emu.truth()
        assert not truth.moving and truth.infused_ul <= 200
        assert emu.pump.alarm is not None and emu.pump.alarm.value == "T"


def test_a_large_target_is_done_in_legs_and_still_never_passes_the_cap() -> None:
    clock = SimClock()
    pump = NE1000Firmware(diameter_mm=Fraction("4.78"), now_ms=0)  # uL units: VOL tops out at 9999 uL
    with EmulatorServer(pump, clock=clock.now_ms) as emu:
        config = NE1000Config(emu.port, diameter_mm="4.78", safe_timeout_s=5, reply_timeout_ms=60)
        driver = NE1000Driver(config).open(0)
        assert driver.request(SetFlow(60_000, 12_000 * VU_PER_UL)).accepted  # 60 mL/h, 12 mL: two legs
        events = []
        for _ in range(800):  # the driver alone, polled once a second (no core to cross-check)
            clock.advance(1_000)
            events += driver.poll(clock.now_ms())
        truth = emu.truth()
        assert events == [] and not truth.moving
        assert 11_990 <= truth.infused_ul <= 12_000
        driver.close()


def test_refusals_map_to_typed_replies() -> None:
    with rig() as r:
        too_fast = r.driver.request(SetFlow(3_000_000_000, 10**15))
        assert not too_fast.accepted and too_fast.reason == "out_of_range"
        assert not r.emu.truth().moving
        assert r.driver.request(StopMotor(0)).accepted


def test_stall_becomes_an_occlusion_with_a_bounded_pressure_relief() -> None:
    with rig() as r:
        relief: list[int] = []
        r.shell.on_command.append(
            lambda c: relief.append(r.driver.relieve(c.max_vu).accepted) if type(c).__name__ == "RelievePressure"
            else None)
        start(r, {**REQUEST, "vtbi_ml": 5})
        r.run(1_000)
        r.emu.inject(Fault("stall"))
        r.run(PERIOD_MS)
        assert r.ctl.state == "ALARM" and "occlusion" in r.events[-1] and relief == [True]
        r.run(3_000)
        truth = r.emu.truth()
        assert 0 < truth.withdrawn_ul <= 20 and not truth.moving  # one-shot, bounded back-off
        assert any("occlusion_clear" in e for e in r.events)
        r.emu.inject(Fault("heal"))
        r.shell.submit(ev("acknowledge"))
        assert r.shell.submit(ev("resume")).accepted and r.ctl.state == "RUNNING"
        r.run(1_000)
        assert r.emu.truth().moving and not r.ctl.broken


def test_power_reset_is_a_motor_fault_and_measurements_stop_being_trusted() -> None:
    with rig() as r:
        start(r, {**REQUEST, "vtbi_ml": 5})
        r.run(1_000)
        r.emu.inject(Fault("reset"))
        r.run(PERIOD_MS)
        assert r.ctl.state == "FAILSAFE" and r.events[-1].endswith("motor_fault")
        assert r.driver.measured_vu() is None and not r.emu.truth().moving and not r.ctl.broken


def test_a_slipping_drive_is_caught_by_the_shells_cross_check() -> None:
    """REQ-OVI-001: the pump counts its real (slow) steps; the shell compares them with what the
    core commanded and raises motor_fault once they differ by more than 20 uL + 10 %."""
    with rig() as r:
        start(r, {**REQUEST, "vtbi_ml": 5})
        r.run(500)
        r.emu.inject(Fault("slip", arg=50))
        r.run(2_000)
        assert r.ctl.state == "FAILSAFE" and r.events == [f"{r.events[0].split(':')[0]}:motor_fault"]
        t_fault = int(r.events[0].split(":")[0])
        assert 500 < t_fault <= 1_700  # 100 uL/s commanded, 50 uL/s made: 20 uL + 10 % by about 1.2 s
        assert not r.emu.truth().moving and r.shell.mismatch_reported and not r.ctl.broken


def test_a_single_lost_or_garbled_reply_is_retried_without_alarm() -> None:
    with rig() as r:
        start(r, {**REQUEST, "vtbi_ml": 5})
        for fault in (Fault("drop", arg=1), Fault("garble", arg=1), Fault("noise")):
            r.run(500)
            r.emu.inject(fault)
        r.run(1_000)
        assert r.ctl.state == "RUNNING" and r.events == [] and r.emu.truth().moving


# --- every communication fault ends in a safe stop within the stated bound ---------------------
COMM_FAULTS = [Fault("drop"), Fault("garble"), Fault("slow", arg=150), Fault("unplug")]


@pytest.mark.parametrize("fault", COMM_FAULTS, ids=lambda f: f.kind)
def test_comm_faults_end_in_a_safe_stop_within_the_bound(fault: Fault) -> None:
    """Bounds (docs/hardware.md): the controller is in FAILSAFE within comm_loss_ms + one period
    of the fault; the motor stops then if the pump still hears us, and at the latest after the
    pump's own SAF time-out (counted from the last packet it heard, which is before the fault)."""
    with rig() as r:
        start(r, {**REQUEST, "vtbi_ml": 5})
        r.run(1_000)
        t_fault = r.clock.t_ms
        r.emu.inject(fault)
        core_bound = FAST["comm_loss_ms"] + PERIOD_MS
        motor_bound = max(core_bound, FAST["safe_timeout_s"] * 1_000)
        while r.clock.t_ms - t_fault < core_bound:
            r.run(PERIOD_MS)
            if r.ctl.state == "FAILSAFE":
                break
        assert r.ctl.state == "FAILSAFE" and any(e.endswith("watchdog") for e in r.events), r.events
        stopped_by_host = not r.emu.truth().moving
        r.run(motor_bound - (r.clock.t_ms - t_fault))
        assert not r.emu.truth().moving
        if fault.kind != "unplug":
            assert stopped_by_host  # the pump still heard the STP sent on FAILSAFE
        assert r.emu.truth().infused_ul <= 5_000 and not r.ctl.broken


@pytest.mark.parametrize("fault", [Fault("drop"), Fault("unplug")], ids=lambda f: f.kind)
def test_the_wall_clock_bound_holds_in_the_real_loop(fault: Fault) -> None:
    """The same, on the wall clock: a poll that waits for lost replies costs real time, which
    ``NE1000Config.stop_bounds`` adds to the bound."""
    from controller.shell import Shell, WallClock
    from tests.drivers.helpers import CheckedController, wait_for

    clock = WallClock()
    config = NE1000Config("", **FAST)  # type: ignore[arg-type]
    core_ms, motor_ms = config.stop_bounds(PERIOD_MS)
    assert motor_ms is not None
    with EmulatorServer() as emu:
        driver = NE1000Driver(NE1000Config(emu.port, **FAST)).open(clock.now_ms())  # type: ignore[arg-type]
        ctl = CheckedController()
        shell = Shell(ctl, driver, clock)
        shell.step()
        for e in (ev("self_test", flag=True), ev("program", program=build_program(
                {**REQUEST, "vtbi_ml": 5}, Limits()).program), ev("start")):
            shell.submit(e)
        try:
            for _ in range(5):
                shell.step()
            assert wait_for(lambda: emu.truth().moving)
            t_fault = clock.now_ms()
            emu.inject(fault)
            while ctl.state != "FAILSAFE" and clock.now_ms() - t_fault < 2 * core_ms:
                shell.step()
            t_failsafe = clock.now_ms()
            assert ctl.state == "FAILSAFE" and t_failsafe - t_fault <= core_ms, (t_failsafe - t_fault, core_ms)
            assert wait_for(lambda: not emu.truth().moving, timeout_s=(motor_ms - (clock.now_ms() - t_fault)) / 1_000)
            assert clock.now_ms() - t_fault <= motor_ms and not ctl.broken
        finally:
            shell.shutdown()
