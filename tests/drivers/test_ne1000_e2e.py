"""NE-1000 specifics end to end through the real serial stack (pyserial + emulator on a pty).

What every pump family must do (deliver to the cap, host silence, refusals, stall, power cycle,
slip, runaway, comm faults within their bounds) is in the conformance suite
(``test_conformance.py``), which runs these same properties against the NE-1000 emulator; this
file keeps what only the NE-1000 has: safe mode, its time-out alarm and the 9999-unit counter.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from controller.clinical.programs import build_program
from controller.core.commands import SetFlow
from controller.core.events import ev
from controller.core.limits import Limits
from controller.core.units import VU_PER_UL
from controller.drivers.clocks import SimClock
from controller.drivers.ne1000.driver import NE1000Config, NE1000Driver
from controller.drivers.ne1000.emulator import EmulatorServer
from controller.drivers.ne1000.firmware import NE1000Firmware
from tests.drivers.helpers import FAST, Rig, rig

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


