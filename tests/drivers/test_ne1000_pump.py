"""The simulated NE-1000 pump (no pty): mechanism, commands, alarms and the safe-mode timer."""

from __future__ import annotations

from fractions import Fraction

import pytest

from controller.drivers.ne1000 import protocol as P
from controller.drivers.ne1000.emulator import Fault, parse_fault
from controller.drivers.ne1000.firmware import NE1000Firmware
from controller.errors import ConfigurationError


def ask(pump: NE1000Firmware, text: str, t: int = 0, safe: bool = False) -> P.PumpReply:
    reply = pump.handle(text.encode(), t, safe)
    assert reply is not None
    return P.parse_reply(reply)


def ready(diameter: str = "26.59") -> NE1000Firmware:
    pump = NE1000Firmware(diameter_mm=Fraction(diameter))
    assert ask(pump, "").alarm is P.Alarm.RESET  # power-up is reported as a reset, once
    assert ask(pump, "").prompt is P.Prompt.STOPPED
    return pump


def test_a_command_answered_with_an_alarm_is_not_executed() -> None:
    pump = NE1000Firmware()
    assert ask(pump, "RAT 5 MH").alarm is P.Alarm.RESET
    assert ask(pump, "RAT").data == "1.000MH"  # unchanged
    assert ask(pump, "RAT 5 MH").error is None and ask(pump, "RAT").data == "5MH"


def test_rate_and_target_move_the_plunger_and_stop_it_exactly_at_the_target() -> None:
    pump = ready()
    for cmd in ("RAT 60 MH", "VOL 0.500", "DIR INF", "RUN"):
        assert ask(pump, cmd).error is None
    assert ask(pump, "DIS", 15_000).data == "I0.249W0.000ML"  # 1 mL/min for 15 s, in whole steps, truncated
    truth = pump.truth(60_000)
    assert not truth.moving and truth.infused_ul <= 500 and 500 - truth.infused_ul < pump.ul_per_step
    assert ask(pump, "DIS", 60_000).prompt is P.Prompt.STOPPED


def test_stp_pauses_then_stops_and_run_resumes_the_same_target() -> None:
    pump = ready()
    for cmd in ("RAT 60 MH", "VOL 0.500", "RUN"):
        ask(pump, cmd)
    assert ask(pump, "STP", 10_000).prompt is P.Prompt.PAUSED
    assert ask(pump, "RUN", 20_000).prompt is P.Prompt.INFUSING  # resumes: 1/3 of the target left
    assert pump.truth(39_900).moving and not pump.truth(40_001).moving
    assert ask(pump, "STP", 50_000).prompt is P.Prompt.STOPPED


def test_errors_for_out_of_range_not_applicable_and_unknown() -> None:
    pump = ready("4.78")  # a 1 mL syringe: uL units
    assert ask(pump, "VOL").data.endswith("UL")
    assert ask(pump, "RAT 2000 MH").error is P.ErrorCode.OUT_OF_RANGE
    assert ask(pump, "RAT 0.0001 UH").error is P.ErrorCode.OUT_OF_RANGE
    assert ask(pump, "FOO").error is P.ErrorCode.UNRECOGNIZED
    assert ask(pump, "DIR STK").error is P.ErrorCode.NOT_APPLICABLE
    ask(pump, "RAT 100 UH")
    ask(pump, "RUN")
    assert ask(pump, "DIA 10").error is P.ErrorCode.NOT_APPLICABLE
    assert ask(pump, "VOL 5").error is P.ErrorCode.NOT_APPLICABLE
    assert ask(pump, "RAT 50 MH").error is P.ErrorCode.NOT_APPLICABLE  # units cannot change while pumping
    assert ask(pump, "RAT 50 UH").error is None  # the rate can
    assert pump.handle(b"7DIS", 0, False) is None  # another pump's address: no answer


def test_stall_stops_forward_motion_but_not_a_withdraw() -> None:
    pump = ready()
    ask(pump, "RAT 60 MH")
    ask(pump, "RUN")
    pump.inject_stall(5_000)
    assert ask(pump, "DIS", 6_000).alarm is P.Alarm.STALL
    assert ask(pump, "RUN", 6_000).alarm is P.Alarm.STALL  # restarting forward stalls at once
    ask(pump, "DIR WDR", 7_000)
    assert ask(pump, "RUN", 7_000).prompt is P.Prompt.WITHDRAWING


def test_power_reset_clears_the_counters_but_not_the_truth() -> None:
    pump = ready()
    ask(pump, "RAT 60 MH")
    ask(pump, "RUN")
    pump.power_reset(30_000)
    assert ask(pump, "DIS", 31_000).alarm is P.Alarm.RESET
    assert ask(pump, "DIS", 31_000).data == "I0.000W0.000ML"
    assert pump.truth(31_000).infused_ul == pytest.approx(500, abs=1)


def test_safe_mode_timer_stops_the_motor_exactly_at_the_timeout_and_auto_alarms() -> None:
    pump = ready()
    ask(pump, "RAT 60 MH")
    ask(pump, "SAF 2")
    ask(pump, "RUN", 0, safe=True)  # first valid safe packet: the timer starts
    ask(pump, "DIS", 1_000, safe=True)  # resets it
    truth = pump.truth(10_000)
    assert not truth.moving and truth.infused_ul == pytest.approx(Fraction(3_000, 60), abs=1)  # 3 s at 1 mL/min
    assert pump.outbox and P.parse_reply(pump.outbox[0]).alarm is P.Alarm.SAFE_TIMEOUT
    assert ask(pump, "", 10_000, safe=True).alarm is P.Alarm.SAFE_TIMEOUT


def test_purge_runs_until_stopped() -> None:
    pump = ready()
    assert ask(pump, "PUR").prompt is P.Prompt.PURGING
    assert ask(pump, "STP", 1_000).prompt is P.Prompt.STOPPED
    assert pump.truth(1_000).infused_ul > 500  # max rate: 2100 mL/h for 1 s


def test_fault_specs_parse_or_name_the_problem() -> None:
    assert parse_fault("stall@10") == Fault("stall", 10_000)
    assert parse_fault("slow") == Fault("slow", 0, 500)
    assert parse_fault("drop@1.5:3") == Fault("drop", 1_500, 3)
    with pytest.raises(ConfigurationError, match="fault = 'melt'"):
        parse_fault("melt")
    with pytest.raises(ConfigurationError, match="--fault"):
        parse_fault("drop@soon")
