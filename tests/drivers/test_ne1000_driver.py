"""NE1000Driver against a synchronous loopback pump (no pty, no thread): outcome mapping and rules.

``Loopback`` is a serial port whose writes go straight into a ``NE1000Firmware`` (through the real
framing) and whose replies can be rewritten, to make the pump answer ?NA, ?IGN, ?COM or
nonsense exactly when a test wants it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from controller.core.commands import SetFlow, StopMotor
from controller.core.units import VU_PER_UL
from controller.drivers.ne1000 import framing as F
from controller.drivers.ne1000.driver import NE1000Config, NE1000Driver
from controller.drivers.ne1000.firmware import NE1000Firmware
from controller.errors import ConfigurationError
from tests.drivers.helpers import BufferPort

pytestmark = pytest.mark.req("REQ-DRV-001", "REQ-DRV-003")

Rewrite = Callable[[bytes, bytes], bytes | None]  # (command payload, reply payload) -> new reply or None (lost)


class Loopback(BufferPort):
    def __init__(self, pump: NE1000Firmware) -> None:
        self.pump, self.t_ms, self.buf = pump, 0, b""
        self.basic, self.safe = F.BasicCommandDecoder(), F.SafeDecoder()
        self.rewrite: Rewrite = lambda cmd, reply: reply
        self.sent: list[bytes] = []

    def write(self, data: bytes) -> int:
        safe = self.pump.saf_s > 0
        for item in (self.safe if safe else self.basic).feed(data):
            if isinstance(item, bytes):
                self.sent.append(item)
                reply = self.pump.handle(item, self.t_ms, safe)
                reply = None if reply is None else self.rewrite(item, reply)
                if reply is not None:
                    self.buf += F.encode_safe(reply) if safe else F.encode_basic_reply(reply)
        return len(data)


def opened(**config: object) -> tuple[NE1000Driver, Loopback]:
    port = Loopback(NE1000Firmware(now_ms=0))
    options = {"reply_timeout_ms": 5, "retries": 1, **config}
    return NE1000Driver(NE1000Config("loopback", **options), port).open(0), port  # type: ignore[arg-type]


def answer(to: str, data: bytes, times: int = 1) -> Rewrite:
    """Rewrite the reply to the first ``times`` commands starting with ``to``."""
    left = [times]

    def rewrite(cmd: bytes, reply: bytes) -> bytes | None:
        if cmd.lstrip(b"0123456789").startswith(to.encode()) and left[0] > 0:
            left[0] -= 1
            return reply[:3] + data if data else None
        return reply

    return rewrite


@pytest.mark.parametrize(("error", "reason"), [(b"?OOR", "out_of_range"), (b"?NA", "device_error"),
                                              (b"?IGN", "device_error"), (b"?", "device_error")])
def test_command_errors_become_typed_refusals_and_the_pump_is_left_stopped(error: bytes, reason: str) -> None:
    driver, port = opened()
    port.rewrite = answer("RUN", error)
    reply = driver.request(SetFlow(100_000, 10 * VU_PER_UL))
    assert not reply.accepted and reply.reason == reason and error.decode().lstrip("?") in reply.detail
    assert not port.pump.truth(0).moving


def test_com_error_and_a_lost_reply_are_retried() -> None:
    driver, port = opened()
    port.rewrite = answer("RAT", b"?COM")
    assert driver.request(SetFlow(100_000, 10 * VU_PER_UL)).accepted
    driver.request(StopMotor(0))
    port.rewrite = answer("VOL", b"")  # one reply lost
    assert driver.request(SetFlow(200_000, 10 * VU_PER_UL)).accepted
    assert port.pump.truth(0).moving


def test_a_lost_run_reply_is_resolved_by_asking_not_by_sending_run_again() -> None:
    driver, port = opened()
    port.rewrite = answer("RUN", b"")
    assert driver.request(SetFlow(100_000, 10 * VU_PER_UL)).accepted
    assert sum(1 for p in port.sent if p.lstrip(b"0123456789") == b"RUN") == 1
    assert port.pump.truth(0).moving


def test_vol_zero_is_never_sent_with_run() -> None:
    driver, port = opened()
    assert driver.request(SetFlow(100_000, VU_PER_UL // 2_000)).accepted  # 0.5 nL: below the wire's 1 uL step
    assert not any(p.lstrip(b"0123456789").startswith(b"RUN") for p in port.sent)
    assert not any(p.lstrip(b"0123456789") in (b"VOL 0", b"VOL 0.000") for p in port.sent)


def test_a_setting_that_reads_back_wrong_is_not_run() -> None:
    driver, port = opened()
    port.rewrite = answer("VOL", b"9999ML", times=10)  # every read-back (and set) of VOL lies
    reply = driver.request(SetFlow(100_000, 10 * VU_PER_UL))
    assert not reply.accepted and not any(p.lstrip(b"0123456789").startswith(b"RUN") for p in port.sent)


def test_an_implausible_reading_is_not_believed() -> None:
    driver, port = opened()
    assert driver.request(SetFlow(36_000, 10 * VU_PER_UL)).accepted  # 10 uL/s
    port.t_ms = 500
    assert driver.poll(500) == [] and driver.measured_vu() == 4 * VU_PER_UL  # 4.99 uL shown as 0.004 mL
    port.t_ms = 600
    assert driver.poll(600) == [] and driver.measured_vu() is None  # a status poll: no reading this period
    port.rewrite = answer("DIS", b"I0.900W0.000ML", times=2)  # 900 uL in 0.2 s: impossible at 10 uL/s
    port.t_ms = 700
    assert driver.poll(700) == [] and driver.measured_vu() is None  # retried, refused: unknown now
    assert driver.odo.high < 20 and driver.link is not None and driver.link.stats["garbled"] == 2
    port.t_ms = 900
    driver.poll(800)
    assert driver.poll(900) == [] and driver.measured_vu() == 8 * VU_PER_UL  # believed again


def test_a_pump_moving_when_it_should_not_is_a_motor_fault() -> None:
    driver, port = opened(safe_timeout_s=0)
    port.pump.handle(b"RUN", 0, False)  # someone pressed RUN on the keypad
    events = [e.kind for e in driver.poll(100)]
    assert events == ["motor_fault"] and not port.pump.truth(100).moving


def test_config_refuses_bad_values_naming_the_field() -> None:
    for field, value in [("address", 100), ("retries", -1), ("baudrate", 115_200), ("diameter_mm", "0"),
                         ("diameter_mm", "12.345"), ("safe_timeout_s", 256), ("relief_ul", True)]:
        with pytest.raises(ConfigurationError, match=field):
            NE1000Config("x", **{field: value})  # type: ignore[arg-type]


@pytest.mark.req("REQ-DRV-002")
def test_open_arms_the_pumps_own_host_silence_watchdog_and_it_stops_a_silent_host() -> None:
    driver, port = opened(safe_timeout_s=2)
    assert any(p.lstrip(b"0123456789") == b"SAF2" for p in port.sent) and port.pump.saf_s == 2
    assert driver.request(SetFlow(360_000, 1_000 * VU_PER_UL)).accepted  # 100 uL/s, 1 mL target
    assert port.pump.truth(1_000).moving
    # the host dies here: no more packets; the pump's own timer stops the motor 2 s after the last one
    truth = port.pump.truth(10_000)
    assert not truth.moving and truth.infused_ul <= 200 + 1  # at most 2 s at 100 uL/s


@pytest.mark.req("REQ-DRV-002")
def test_in_basic_mode_every_run_carries_a_volume_target_within_the_cap() -> None:
    driver, port = opened(safe_timeout_s=0)
    cap_ul = 30
    assert driver.request(SetFlow(360_000, cap_ul * VU_PER_UL)).accepted
    sent = [p.lstrip(b"0123456789") for p in port.sent]
    run = sent.index(b"RUN")
    vols = [p for p in sent[:run] if p.startswith(b"VOL") and p[3:4].isdigit()]  # the decoder drops spaces
    assert vols and 0 < float(vols[-1][3:].decode()) * 1_000 <= cap_ul  # mL on the wire
    truth = port.pump.truth(60_000)  # nobody talks to the pump for a minute
    assert not truth.moving and truth.infused_ul <= cap_ul
