"""The simulated Pump 11 Elite (no pty): commands, abbreviations, prompts, the target, faults, poll mode."""

from __future__ import annotations

from fractions import Fraction

import pytest

from controller.drivers.harvard import protocol as P
from controller.drivers.harvard.firmware import VERSION, HarvardFirmware, lookup
from controller.drivers.harvard.protocol import Prompt


def ask(pump: HarvardFirmware, text: str, t: int = 0) -> P.UltraReply:
    reply = pump.handle(text.encode(), t)
    assert reply is not None
    if pump.poll != "off":
        assert reply.endswith(bytes([P.XON]))
        reply = reply[:-1]
    return P.parse_reply(reply)


def ready(diameter: str = "26.59") -> HarvardFirmware:
    pump = HarvardFirmware(diameter_mm=Fraction(diameter))
    assert ask(pump, "poll on").prompt is Prompt.IDLE
    return pump


def test_commands_answer_by_name_abbreviation_and_address() -> None:
    pump = ready()
    assert ask(pump, "ver").data == VERSION and ask(pump, "VERSION").error == "Unknown command"
    assert lookup("irat") == "irate" and lookup("tvol") == "tvolume" and lookup("civo") == "civolume"
    assert lookup("stp") == "stop" and lookup("ir") is None and lookup("run") == "run"
    assert ask(pump, "irat 3.2 ul/min").error is None and ask(pump, "irate").data == "3.200 ul/min"
    assert pump.handle(b"12:ver", 0) is None  # another pump's address: no answer
    twelve = HarvardFirmware(address=12)
    assert P.parse_reply(twelve.handle(b"12:ver", 0) or b"").address == 12 and twelve.handle(b"ver", 0) is None
    assert ask(pump, "").prompt is Prompt.IDLE and ask(pump, "").lines == ()


def test_the_target_stops_the_plunger_exactly_and_the_prompt_says_so() -> None:
    pump = ready()
    for cmd in ("irate 60 ul/min", "tvolume 10 ul", "civolume", "irun"):
        assert ask(pump, cmd).error is None
    assert ask(pump, "ivolume", 5_000).data == "4.997 ul"  # 1 uL/s for 5 s, in whole steps of 0.139 uL
    truth = pump.truth(60_000)
    assert not truth.moving and 10 - pump.plunger.ul_per_step < truth.infused_ul <= 10
    assert ask(pump, "", 60_000).prompt is Prompt.TARGET
    assert ask(pump, "irun", 60_000).prompt is Prompt.TARGET  # the target is still met: it stops at once
    assert ask(pump, "civolume", 60_000).prompt is Prompt.IDLE
    assert ask(pump, "irun", 60_000).prompt is Prompt.INFUSING  # cleared counter: a new 10 uL


def test_errors_are_the_manuals_texts_and_change_nothing() -> None:
    pump = ready("4.78")
    assert ask(pump, "irate 1000 ml/min").error == "Out of range"
    assert ask(pump, "irate fast").error == "Argument error"
    assert ask(pump, "bogus").error == "Unknown command"
    assert ask(pump, "irate").data == "16.66 ul/min"  # the default 1 mL/h, unchanged
    ask(pump, "irun")
    assert ask(pump, "diameter 10").error == "Command error" and ask(pump, "civolume").error == "Command error"
    assert ask(pump, "tvolume 0 ul").error == "Out of range" and ask(pump, "tvolume").data == P.NOT_SET


def test_stall_shows_until_a_stop_and_blocks_forward_motion_but_not_a_withdraw() -> None:
    pump = ready()
    ask(pump, "irun")
    pump.inject_stall(5_000)
    assert ask(pump, "ivolume", 6_000).prompt is Prompt.STALLED and not pump.truth(6_000).moving
    assert ask(pump, "irun", 6_000).prompt is Prompt.STALLED  # restarting forward stalls at once
    assert ask(pump, "stp", 6_000).prompt is Prompt.IDLE
    assert ask(pump, "wrun", 7_000).prompt is Prompt.WITHDRAWING


def test_power_cycle_clears_counters_and_target_silently_but_not_the_truth() -> None:
    pump = ready()
    ask(pump, "irate 1 ml/min")
    ask(pump, "tvolume 1 ml")
    ask(pump, "irun")
    pump.power_reset(30_000)
    reply = ask(pump, "ivolume", 31_000)
    assert reply.prompt is Prompt.IDLE and reply.data == "0.0000 ul" and reply.error is None  # no alarm at all
    assert ask(pump, "tvolume", 31_000).data == P.NOT_SET
    assert pump.truth(31_000).infused_ul == pytest.approx(500, abs=1)


def test_poll_off_announces_events_and_ends_replies_without_xon() -> None:
    pump = HarvardFirmware()
    reply = pump.handle(b"irate 60 ul/min", 0)
    assert reply is not None and not reply.endswith(bytes([P.XON]))
    pump.handle(b"tvolume 1 ul", 0)
    pump.handle(b"irun", 0)
    pump.advance(2_000)
    assert pump.outbox == [b"\n00T*"]


def test_runaway_ignores_the_target_and_starts_by_itself_but_obeys_a_stop() -> None:
    pump = ready()
    ask(pump, "irate 60 ul/min")
    pump.set_runaway(0, Fraction(2))
    assert ask(pump, "tvolume 1 ul", 0).prompt is Prompt.INFUSING
    assert pump.truth(10_000).infused_ul == pytest.approx(20, abs=0.1)  # twice 1 uL/s, past the target
    assert ask(pump, "stp", 10_000).prompt is Prompt.IDLE and not pump.truth(20_000).moving
