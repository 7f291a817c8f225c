"""One driver conformance suite: the same properties and faults for every serial pump family.

Each test runs once per family in ``helpers.KITS`` (New Era NE-1000, Harvard Pump 11 Elite):
core + Shell + the family's driver (pyserial) + its emulated firmware on a real pty. Time is a
SimClock shared by the shell and the emulated mechanism, so volumes and stop times are exact;
only reply timeouts are wall clock. Every core step is checked against every invariant of
specs/invariants.py (``CheckedController``). The fault kinds are the emulators' shared ones
(``controller.drivers.pty_emulator``); each family's host-silence stop is 1 s here (NE-1000 SAF 1,
Harvard legs of 1 s).
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from controller.clinical.programs import build_program
from controller.core.commands import RelievePressure, SetFlow, StopMotor
from controller.core.events import ev
from controller.core.limits import Limits
from controller.core.units import VU_PER_UL
from controller.drivers.clocks import SimClock, WallClock
from controller.drivers.pty_emulator import Fault
from controller.runtime.shell import Shell
from tests.drivers.helpers import KITS, PERIOD_MS, CheckedController, Kit, Rig, rig, wait_for

pytestmark = [pytest.mark.req("REQ-DRV-001"), pytest.mark.method("stateful")]

REQUEST = {"rate_ml_h": 360, "vtbi_ml": 0.5, "reservoir_ml": 10, "end_action": "stop"}  # 100 uL/s for 5 s
LONG = {**REQUEST, "vtbi_ml": 5}


@pytest.fixture(params=KITS, ids=lambda k: k.name)
def kit(request: pytest.FixtureRequest) -> Kit:
    chosen: Kit = request.param
    return chosen


def start(r: Rig, request: dict[str, object] = REQUEST) -> None:
    r.shell.submit(ev("self_test", flag=True))
    r.shell.submit(ev("program", program=build_program(request, Limits()).program))
    assert r.shell.submit(ev("start")).accepted


def core_bound(kit: Kit) -> int:
    return kit.fast["comm_loss_ms"] + PERIOD_MS


def test_open_leaves_the_pump_stopped_identified_and_its_counters_clear(kit: Kit) -> None:
    with rig(kit=kit) as r:
        assert r.driver.version == kit.family.version
        r.run(2 * PERIOD_MS)
        assert not r.emu.truth().moving and r.driver.measured_vu() == 0 and r.events == []


@pytest.mark.req("REQ-DEL-003", "REQ-OVI-001")
@pytest.mark.parametrize("silence", [True, False], ids=["own-stop", "target-only"])
def test_an_infusion_delivers_the_vtbi_and_the_pump_stops_itself(kit: Kit, silence: bool) -> None:
    with rig(kit=kit, **({} if silence else kit.without_silence())) as r:
        start(r)
        r.run(2_000)
        measured = r.driver.measured_vu()
        assert measured is not None and abs(measured - r.ctl.vars.flow.odo) <= 3 * VU_PER_UL  # read-back
        r.run(5_000)
        assert r.ctl.state == "STOPPED" and not r.ctl.broken
        truth = r.emu.truth()
        assert not truth.moving and 498 <= truth.infused_ul <= 500  # at its own target, never past the cap
        assert r.events == []  # no alarm, no mismatch, no watchdog


@pytest.mark.req("REQ-DRV-002")
@pytest.mark.parametrize("silence", [True, False], ids=["own-stop", "target-only"])
def test_every_run_carries_a_target_within_the_cap_so_a_dead_host_never_over_delivers(kit: Kit, silence: bool) -> None:
    clock = SimClock()
    with kit.emulator(kit.firmware(), clock=clock.now_ms) as emu:
        driver = kit.driver(emu.port, **({} if silence else kit.without_silence())).open(0)
        assert driver.request(SetFlow(1_800_000, 250 * VU_PER_UL)).accepted  # 0.5 mL/s towards a 250 uL cap
        clock.advance(3_600_000)  # the host is gone for an hour: nobody polls
        truth = emu.truth()
        assert not truth.moving and 0 < truth.infused_ul <= 250
        driver.close()


@pytest.mark.req("REQ-DRV-002")
def test_host_silence_stops_the_pump_by_itself_within_its_bound(kit: Kit) -> None:
    clock = SimClock()
    silence = kit.silence_ms()
    with kit.emulator(kit.firmware(), clock=clock.now_ms) as emu:
        driver = kit.driver(emu.port).open(0)
        assert driver.request(SetFlow(360_000, 10_000 * VU_PER_UL)).accepted  # 100 uL/s, 10 mL cap
        clock.advance(silence - 1)
        assert emu.truth().moving
        clock.advance(2)  # the last command the pump heard was at t = 0
        truth = emu.truth()
        assert not truth.moving and truth.infused_ul <= Fraction(silence * 100, 1_000)


def test_refusals_are_typed_and_never_leave_the_pump_running(kit: Kit) -> None:
    with rig(kit=kit) as r:
        too_fast = r.driver.request(SetFlow(3_000_000_000, 10**15))  # beyond what the wire can carry
        assert not too_fast.accepted and too_fast.reason == "out_of_range" and not r.emu.truth().moving
        assert r.driver.request(SetFlow(360_000, 10**15)).accepted and r.emu.truth().moving
        too_slow = r.driver.request(SetFlow(1, 10**15))  # 1 uL/h: below the mechanism, the pump refuses it
        assert not too_slow.accepted and too_slow.reason == "out_of_range", too_slow
        assert not r.emu.truth().moving
        assert r.driver.request(StopMotor(0)).accepted


@pytest.mark.req("REQ-OCC-001")
def test_stall_becomes_an_occlusion_with_a_bounded_pressure_relief(kit: Kit) -> None:
    with rig(kit=kit) as r:
        relief: list[bool] = []
        r.shell.on_command.append(
            lambda c: relief.append(r.driver.relieve(c.max_vu).accepted) if isinstance(c, RelievePressure) else None)
        start(r, LONG)
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


@pytest.mark.req("REQ-FLT-003")
def test_a_power_cycle_is_a_motor_fault_and_measurements_stop_being_trusted(kit: Kit) -> None:
    with rig(kit=kit) as r:
        start(r, LONG)
        r.run(1_050)
        r.emu.inject(Fault("reset"))
        r.run(3 * PERIOD_MS)
        assert r.ctl.state == "FAILSAFE" and any(e.endswith("motor_fault") for e in r.events), r.events
        assert r.driver.measured_vu() is None and not r.emu.truth().moving and not r.ctl.broken


@pytest.mark.req("REQ-OVI-001", "REQ-FLT-003")
def test_a_slipping_drive_is_caught_by_the_shells_cross_check(kit: Kit) -> None:
    """The pump counts its real (slow) steps; the shell compares them with what the core
    commanded and raises motor_fault once they differ by more than 20 uL + 10 %."""
    with rig(kit=kit) as r:
        start(r, LONG)
        r.run(500)
        r.emu.inject(Fault("slip", arg=50))
        r.run(2_000)
        assert r.ctl.state == "FAILSAFE" and [e.split(":")[1] for e in r.events] == ["motor_fault"]
        t_fault = int(r.events[0].split(":")[0])
        assert 500 < t_fault <= 1_700  # 100 uL/s commanded, 50 uL/s made: 20 uL + 10 % by about 1.2 s
        assert not r.emu.truth().moving and r.shell.mismatch_reported and not r.ctl.broken


@pytest.mark.req("REQ-FLT-003", "REQ-OVI-001")
@pytest.mark.parametrize("when", ["running", "stopped"])
def test_a_runaway_motor_ends_in_failsafe_with_the_plunger_standing(kit: Kit, when: str) -> None:
    """A failed-on motor stage: twice the set speed, the target ignored, starting by itself."""
    with rig(kit=kit) as r:
        start(r, LONG)
        r.run(1_000)
        if when == "stopped":
            r.shell.submit(ev("stop"))
            r.run(2 * PERIOD_MS)
            assert r.ctl.state == "STOPPED" and not r.emu.truth().moving
        before = r.emu.truth().infused_ul
        t_fault = r.clock.t_ms
        r.emu.inject(Fault("runaway", arg=200))
        r.run(core_bound(kit))
        assert r.ctl.state == "FAILSAFE" and any(e.endswith("motor_fault") for e in r.events), r.events
        r.run(PERIOD_MS)
        assert not r.emu.truth().moving and not r.ctl.broken
        extra = r.emu.truth().infused_ul - before  # at most 200 uL/s for the time to catch it
        assert extra <= 200 * Fraction(r.clock.t_ms - t_fault, 1_000), float(extra)


def test_single_lost_or_garbled_replies_and_noise_are_retried_without_alarm(kit: Kit) -> None:
    with rig(kit=kit) as r:
        start(r, LONG)
        for fault in (Fault("drop", arg=1), Fault("garble", arg=1), Fault("noise")):
            r.run(500)
            r.emu.inject(fault)
        r.run(1_000)
        assert r.ctl.state == "RUNNING" and r.events == [] and r.emu.truth().moving


# --- every communication fault ends in a safe stop within the stated bound ---------------------
COMM_FAULTS = [Fault("drop"), Fault("garble"), Fault("slow", arg=150), Fault("unplug")]


@pytest.mark.req("REQ-DRV-002")
@pytest.mark.parametrize("fault", COMM_FAULTS, ids=lambda f: f.kind)
def test_comm_faults_end_in_a_safe_stop_within_the_bound(kit: Kit, fault: Fault) -> None:
    """Bounds (docs/hardware.md): the controller is in FAILSAFE within comm_loss_ms + one period
    of the fault; the motor stops then if the pump still hears us, and at the latest after its
    own host-silence stop (counted from the last command it heard, which is before the fault)."""
    with rig(kit=kit) as r:
        start(r, LONG)
        r.run(1_000)
        t_fault = r.clock.t_ms
        r.emu.inject(fault)
        motor_bound = max(core_bound(kit), kit.silence_ms())
        while r.clock.t_ms - t_fault < core_bound(kit):
            r.run(PERIOD_MS)
            if r.ctl.state == "FAILSAFE":
                break
        assert r.ctl.state == "FAILSAFE", r.events
        assert any(e.endswith(("watchdog", "motor_fault")) for e in r.events), r.events
        stopped_by_host = not r.emu.truth().moving
        r.run(motor_bound - (r.clock.t_ms - t_fault))
        assert not r.emu.truth().moving
        if fault.kind != "unplug":
            assert stopped_by_host  # the pump still heard the stop sent on FAILSAFE
        assert r.emu.truth().infused_ul <= 5_000 and not r.ctl.broken


@pytest.mark.req("REQ-DRV-002")
@pytest.mark.parametrize("fault", [Fault("drop"), Fault("unplug")], ids=lambda f: f.kind)
def test_the_wall_clock_bound_holds_in_the_real_loop(kit: Kit, fault: Fault) -> None:
    """The same on the wall clock: a poll that waits for lost replies costs real time, which the
    config's ``stop_bounds`` adds to the bound."""
    clock = WallClock()
    core_ms, motor_ms = kit.config("").stop_bounds(PERIOD_MS)
    assert motor_ms is not None
    with kit.emulator() as emu:
        driver = kit.driver(emu.port).open(clock.now_ms())
        ctl = CheckedController()
        shell = Shell(ctl, driver, clock)
        shell.step()
        for e in (ev("self_test", flag=True), ev("program", program=build_program(LONG, Limits()).program),
                  ev("start")):
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
