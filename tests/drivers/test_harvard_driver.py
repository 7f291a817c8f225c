"""HarvardDriver against a synchronous loopback pump (no pty, no thread): outcome mapping and rules.

``Loopback`` is a serial port whose writes go straight into a ``HarvardFirmware`` (through the
real framing) and whose replies can be rewritten, to make the pump answer an error, lose a
reply or lie about a setting exactly when a test wants it. Each rule is also shown able to
fail: with the guard taken out (``monkeypatch``), the same test sees the harm.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from fractions import Fraction

import pytest

from controller.core.commands import SetFlow, StopMotor
from controller.core.units import VU_PER_UL
from controller.drivers.harvard import framing
from controller.drivers.harvard.config import HarvardConfig
from controller.drivers.harvard.driver import HarvardDriver
from controller.drivers.harvard.firmware import HarvardFirmware
from controller.errors import ConfigurationError
from tests.drivers.helpers import BufferPort

pytestmark = pytest.mark.req("REQ-DRV-001", "REQ-DRV-004")

Rewrite = Callable[[bytes, bytes], bytes | None]  # (command line, reply) -> new reply or None (lost)


class Loopback(BufferPort):
    def __init__(self, pump: HarvardFirmware) -> None:
        self.pump, self.t_ms, self.buf = pump, 0, b""
        self.lines = framing.CommandDecoder()
        self.rewrite: Rewrite = lambda cmd, reply: reply
        self.sent: list[bytes] = []

    def write(self, data: bytes) -> int:
        for item in self.lines.feed(data):
            if isinstance(item, bytes):
                self.sent.append(item)
                reply = self.pump.handle(item, self.t_ms)
                reply = None if reply is None else self.rewrite(item, reply)
                if reply is not None:
                    self.buf += reply
        return len(data)

    def commands(self, word: bytes) -> list[bytes]:
        return [c for c in self.sent if c.split(b" ")[0] == word]


def opened(**config: object) -> tuple[HarvardDriver, Loopback]:
    port = Loopback(HarvardFirmware(now_ms=0))
    options = {"reply_timeout_ms": 5, "retries": 1, **config}
    return HarvardDriver(HarvardConfig("loopback", **options), port).open(0), port  # type: ignore[arg-type]


def answer(to: bytes, lines: list[str] | None, times: int = 1) -> Rewrite:
    """Rewrite the reply to the first ``times`` commands whose first word is ``to`` (None: lost)."""
    left = [times]

    def rewrite(cmd: bytes, reply: bytes) -> bytes | None:
        if cmd.split(b" ")[0] == to and left[0] > 0:
            left[0] -= 1
            return None if lines is None else framing.encode_reply(0, lines, reply.decode()[-2:-1])
        return reply

    return rewrite


@pytest.mark.parametrize(("error", "reason"), [("Out of range", "out_of_range"), ("Command error", "device_error"),
                                              ("Argument error", "device_error"), ("Unknown command", "device_error")])
def test_error_replies_become_typed_refusals_and_the_pump_is_left_stopped(error: str, reason: str) -> None:
    driver, port = opened()
    port.rewrite = answer(b"irun", [error])
    reply = driver.request(SetFlow(100_000, 10 * VU_PER_UL))
    assert not reply.accepted and reply.reason == reason and error in reply.detail
    assert not port.pump.truth(0).moving


def test_a_lost_reply_is_retried_and_a_lost_irun_reply_is_resolved_by_asking() -> None:
    driver, port = opened()
    port.rewrite = answer(b"tvolume", None)  # one reply lost
    assert driver.request(SetFlow(100_000, 10 * VU_PER_UL)).accepted
    driver.request(StopMotor(0))
    port.rewrite = answer(b"irun", None)
    before = len(port.commands(b"irun"))
    assert driver.request(SetFlow(200_000, 10 * VU_PER_UL)).accepted
    assert len(port.commands(b"irun")) == before + 1 and port.pump.truth(0).moving  # asked, not resent


def test_every_run_carries_a_target_within_the_cap_and_the_leg() -> None:
    driver, port = opened(leg_ms=2_000)
    assert driver.request(SetFlow(360_000, 30 * VU_PER_UL)).accepted  # 100 uL/s, 30 uL cap: the cap binds
    assert port.pump.target is not None and Fraction("29.99") <= port.pump.target <= 30  # from the upper bound, down
    driver.request(StopMotor(0))
    assert driver.request(SetFlow(360_000, 10_000 * VU_PER_UL)).accepted  # the 2 s leg binds: 200 uL
    assert port.pump.target == 200
    assert not port.pump.truth(60_000).moving and port.pump.truth(60_000).infused_ul <= 230


def test_a_target_below_the_wire_minimum_is_never_run() -> None:
    driver, port = opened()
    assert driver.request(SetFlow(100_000, VU_PER_UL // 2_000)).accepted  # 0.5 nL left
    assert port.commands(b"irun") == [] and not port.pump.truth(0).moving


def test_a_setting_that_reads_back_wrong_is_not_run() -> None:
    driver, port = opened()
    port.rewrite = answer(b"tvolume", ["9999 ml"], times=10)  # every read-back of the target lies
    reply = driver.request(SetFlow(100_000, 10 * VU_PER_UL))
    assert not reply.accepted and port.commands(b"irun") == []


def test_without_the_read_back_a_pump_that_keeps_a_wrong_target_would_run_past_the_cap(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The read-back guard, shown able to fail: a pump that stores 100 uL for a 10 uL target."""
    driver, port = opened()
    real = port.pump.handle
    lie = lambda line, t: real(re.sub(rb"^tvolume .+", b"tvolume 100 ul", line), t)
    port.pump.handle = lie  # type: ignore[method-assign]
    assert not driver.request(SetFlow(360_000, 10 * VU_PER_UL)).accepted  # guarded: refused, never run
    assert not port.pump.truth(10_000).moving and port.pump.truth(10_000).infused_ul == 0
    monkeypatch.setattr(HarvardDriver, "_set", lambda self, name, arg, parse, always=False:
                        self.link.command(f"{name} {arg}"))
    assert driver.request(SetFlow(360_000, 10 * VU_PER_UL)).accepted  # unguarded: it runs ...
    assert port.pump.truth(20_000).infused_ul > 10  # ... and passes the cap


def test_an_implausible_reading_is_retried_and_a_repeated_one_is_a_fault() -> None:
    driver, port = opened()
    assert driver.request(SetFlow(36_000, 10 * VU_PER_UL)).accepted  # 10 uL/s
    port.t_ms = 500
    assert driver.poll(500) == [] and driver.measured_vu() is not None  # odd polls read the counter
    port.t_ms = 600
    assert driver.poll(600) == [] and driver.measured_vu() is None  # a status poll: no reading this period
    port.rewrite = answer(b"ivolume", ["9.000 ml"], times=1)  # 9 mL in 0.2 s: impossible, once
    port.t_ms = 700
    assert driver.poll(700) == [] and driver.measured_vu() is not None  # the retry was believed
    driver.poll(800)
    port.rewrite = answer(b"ivolume", ["9.000 ml"], times=2)  # said twice: the pump really says so
    port.t_ms = 900
    assert [e.kind for e in driver.poll(900)] == ["motor_fault"] and not port.pump.truth(900).moving
    assert driver.odo.high < 20 and "faster than commanded" in driver.odo.faults[-1]


def test_a_counter_that_goes_back_is_a_power_cycle_and_measurements_stop_being_trusted() -> None:
    driver, port = opened()
    assert driver.request(SetFlow(36_000, 100 * VU_PER_UL)).accepted
    port.t_ms = 1_000
    driver.poll(1_000)
    port.pump.power_reset(1_050)
    events = []
    for t in (1_100, 1_200, 1_300):
        port.t_ms = t
        events += [e.kind for e in driver.poll(t)]
    assert "motor_fault" in events and driver.measured_vu() is None and not driver.odo.trusted


def test_a_pump_moving_when_it_should_not_is_a_motor_fault() -> None:
    driver, port = opened()
    port.pump.handle(b"irun", 0)  # someone pressed run on the touch screen
    events = [e.kind for e in driver.poll(100)]
    assert events == ["motor_fault"] and not port.pump.truth(100).moving


def test_a_stall_at_irun_is_accepted_and_comes_back_as_one_occlusion() -> None:
    driver, port = opened()
    port.pump.inject_stall(0)
    assert driver.request(SetFlow(36_000, 100 * VU_PER_UL)).accepted  # split phase
    assert [e.kind for e in driver.poll(100)] == ["occlusion"]
    assert [e.kind for e in driver.poll(200)] == ["occlusion_clear"]  # acknowledged by the stp; the core latches


def test_config_refuses_bad_values_naming_the_field() -> None:
    for field, value in [("address", 100), ("retries", -1), ("baudrate", 300), ("diameter_mm", "40"),
                         ("diameter_mm", "12.3456"), ("leg_ms", 100), ("relief_ul", True)]:
        with pytest.raises(ConfigurationError, match=field):
            HarvardConfig("x", **{field: value})  # type: ignore[arg-type]
    assert HarvardConfig("x", leg_ms=0).stop_bounds(100)[1] is None
    core, motor = HarvardConfig("x").stop_bounds(100)
    assert core == 1_000 + 100 + 2 * 6 * 2 * 100 and motor == max(core + 200, 2_000)


def test_relief_is_a_bounded_withdraw_and_the_driver_stops_one_that_overruns() -> None:
    driver, port = opened(relief_ul=20)
    assert driver.relieve(1_000 * VU_PER_UL).accepted and port.pump.target == 20
    assert port.commands(b"wrun") and port.pump.truth(0).moving
    port.pump.set_runaway(0, Fraction(1))  # the withdraw target no longer stops it ...
    port.pump.plunger.target = None
    port.t_ms = 60_000
    events = [e.kind for e in driver.poll(60_000)]
    assert events == ["motor_fault"] and not port.pump.truth(60_000).moving  # ... the driver does


def test_a_target_below_one_motor_step_is_met_at_once_and_is_no_fault() -> None:
    driver, port = opened()
    assert driver.request(SetFlow(36_000, VU_PER_UL // 100)).accepted  # 10 nL: less than a 0.14 uL step
    assert port.commands(b"irun") and not port.pump.truth(0).moving
    assert driver.poll(100) == [] and driver.poll(200) == []
