"""Hostile bytes against the NE-1000 framing, reply parser, link and simulated pump (Hypothesis).

Each property states exactly what is claimed: "for N generated inputs (Hypothesis, seed
printed on failure), no exception other than the typed ones, and bounded buffers". The
example counts are set here (``NE1000_FUZZ_EXAMPLES``, default 500 per property).
"""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.drivers.errors import LinkFault, ReplyError
from controller.drivers.ne1000 import framing as F
from controller.drivers.ne1000 import protocol as P
from controller.drivers.ne1000.firmware import NE1000Firmware
from controller.drivers.ne1000.link import Link, ProtocolMode
from controller.drivers.ne1000.protocol import PumpReply
from tests.drivers.helpers import HostilePort, feed_checked

pytestmark = pytest.mark.req("REQ-DRV-003")

N = int(os.environ.get("NE1000_FUZZ_EXAMPLES", "500"))
FUZZ = settings(max_examples=N, deadline=None, derandomize=True)  # same inputs every run

chunks = st.lists(st.binary(max_size=300), max_size=12)
# bytes biased towards the protocol's own alphabet, so the fuzzer gets past the framing
protocolish = st.lists(st.one_of(st.sampled_from(b"\x02\x03\r0123456789.?AISPWTUXMLRO"),
                                 st.integers(0, 255)), max_size=400).map(bytes)
printable = st.binary(max_size=251).map(lambda b: bytes(0x20 + (x % 95) for x in b))


@pytest.mark.parametrize("make", [F.SafeDecoder, F.BasicReplyDecoder, F.BasicCommandDecoder])
@FUZZ
@given(data=st.one_of(chunks, protocolish.map(lambda b: [b[: len(b) // 2], b[len(b) // 2:]])))
def test_decoders_emit_only_payloads_or_frame_errors_and_stay_bounded(make: type, data: list[bytes]) -> None:
    feed_checked(make(), data, F.MAX_PENDING)


@FUZZ
@given(data=chunks)
def test_safe_decoder_payloads_all_carry_a_valid_crc(data: list[bytes]) -> None:
    stream = b"".join(data)
    dec = F.SafeDecoder()
    for item in [i for c in data for i in dec.feed(c)]:
        if isinstance(item, bytes):
            assert F.encode_safe(item) in stream  # only a frame that is really there comes out


@FUZZ
@given(payload=printable, noise=st.binary(max_size=64).map(lambda b: bytes(x for x in b if x != 0x02)),
       cut=st.integers(0, 400))
def test_safe_round_trip_after_noise_in_any_split(payload: bytes, noise: bytes, cut: int) -> None:
    stream = noise + F.encode_safe(payload)
    dec = F.SafeDecoder()
    items = dec.feed(stream[:cut]) + dec.feed(stream[cut:])
    assert [i for i in items if isinstance(i, bytes)] == [payload]


@FUZZ
@given(payload=st.one_of(st.binary(max_size=64), protocolish))
def test_parse_reply_returns_a_reply_or_a_typed_error(payload: bytes) -> None:
    try:
        reply = P.parse_reply(payload)
    except ReplyError as exc:
        assert exc.field.startswith("reply")
        return
    assert isinstance(reply, PumpReply) and 0 <= reply.address <= 99
    assert (reply.prompt is None) != (reply.alarm is None)


@FUZZ
@given(text=st.text(alphabet="0123456789.IWULMOZ?-e ", max_size=24))
def test_dis_and_number_parsers_only_raise_reply_errors(text: str) -> None:
    for parse in (lambda t: P.parse_dispensed(t), lambda t: P.parse_number(t, "n")):
        with contextlib.suppress(ReplyError):
            parse(text)


@FUZZ
@given(x=st.fractions(min_value=0, max_value=Fraction(99_999, 10)))
def test_format_down_is_the_largest_wire_number_not_above(x: Fraction) -> None:
    text, value = P.format_down(x, "x")
    number = P.parse_number(text, "x")
    assert number.value == value <= x < value + number.resolution


@settings(max_examples=max(50, N // 5), deadline=None, derandomize=True)
@given(replies=st.lists(st.one_of(protocolish, printable.map(F.encode_safe), printable.map(F.encode_basic_reply)),
                        max_size=6), safe=st.booleans())
def test_link_answers_hostile_ports_with_a_reply_or_a_link_fault(replies: list[bytes], safe: bool) -> None:
    alarms: list[P.Alarm] = []
    link = Link(HostilePort(replies), 0, reply_timeout_ms=1, retries=1, on_alarm=alarms.append)
    if safe:
        link.set_mode(ProtocolMode.SAFE)
    for command in ("DIS", "STP"):
        try:
            reply = link.command(command)
        except LinkFault as fault:
            assert fault.reason in ("timeout", "not_connected", "out_of_range", "device_error")
        else:
            assert reply.address == 0 and reply.alarm is None


@FUZZ
@given(payload=st.one_of(protocolish, st.text(alphabet="0123456789 DIARTVOLSUNPCEFWX.?*", max_size=20)
                         .map(str.encode)), safe=st.booleans())
def test_simulated_pump_answers_any_packet_without_raising(payload: bytes, safe: bool) -> None:
    pump = NE1000Firmware(now_ms=0)
    pump.alarm = None
    reply = pump.handle(payload, 10, safe)
    assert reply is None or P.parse_reply(reply).address == 0
    assert pump.truth(60_000).infused_ul >= 0
