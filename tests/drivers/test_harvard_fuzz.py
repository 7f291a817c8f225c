"""Hostile bytes against the Harvard framing, reply parser, link and simulated firmware (Hypothesis).

Each property states exactly what is claimed: "for N generated inputs (Hypothesis, derandomized),
no exception other than the typed ones, and bounded buffers". The example counts are set here
(``HARVARD_FUZZ_EXAMPLES``, default 500 per property).
"""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.drivers.errors import LinkFault, ProtocolError, ReplyError
from controller.drivers.harvard import framing
from controller.drivers.harvard import protocol as P
from controller.drivers.harvard.firmware import HarvardFirmware
from controller.drivers.harvard.link import UltraLink, one_line
from tests.drivers.helpers import HostilePort, feed_checked

pytestmark = pytest.mark.req("REQ-DRV-004")

N = int(os.environ.get("HARVARD_FUZZ_EXAMPLES", "500"))
FUZZ = settings(max_examples=N, deadline=None, derandomize=True)  # same inputs every run

chunks = st.lists(st.binary(max_size=300), max_size=12)
# bytes biased towards the protocol's own alphabet, so the fuzzer gets past the framing
ultraish = st.lists(st.one_of(st.sampled_from(b"\n\r\x110123456789.:<>*T ulmn/inOfrgeCAt"), st.integers(0, 255)),
                    max_size=400).map(bytes)
lines = st.lists(st.text(alphabet="0123456789.:<>*T ulmnp/irate", max_size=24), max_size=4)


@pytest.mark.parametrize("make", [framing.ReplyDecoder, framing.CommandDecoder])
@FUZZ
@given(data=st.one_of(chunks, ultraish.map(lambda b: [b[: len(b) // 2], b[len(b) // 2:]])))
def test_decoders_emit_only_payloads_or_frame_errors_and_stay_bounded(make: type, data: list[bytes]) -> None:
    feed_checked(make(), data, framing.MAX_REPLY)


@FUZZ
@given(frame=st.one_of(st.binary(max_size=64), ultraish))
def test_parse_reply_returns_a_reply_or_a_typed_error(frame: bytes) -> None:
    try:
        reply = P.parse_reply(frame)
    except ReplyError as exc:
        assert exc.field.startswith("reply")
        return
    assert isinstance(reply, P.UltraReply) and 0 <= reply.address <= 99 and reply.prompt in P.Prompt


@FUZZ
@given(data=lines, prompt=st.sampled_from([p.value for p in P.Prompt]), address=st.integers(0, 99),
       noise=st.binary(max_size=32).map(lambda b: bytes(x for x in b if x not in (0x0A, 0x11))),
       cut=st.integers(0, 400))
def test_reply_round_trip_after_noise_in_any_split(data: list[str], prompt: str, address: int, noise: bytes,
                                                   cut: int) -> None:
    data = [d for d in data if d]
    stream = noise + framing.encode_reply(address, data, prompt)
    dec = framing.ReplyDecoder()
    frames = [i for i in dec.feed(stream[:cut]) + dec.feed(stream[cut:]) if isinstance(i, bytes)]
    assert len(frames) == 1
    with contextlib.suppress(ReplyError):  # a data line may itself look like a prompt: refused, never a crash
        reply = P.parse_reply(frames[0])
        assert reply.address == address and reply.lines == tuple(data)


@FUZZ
@given(text=st.text(alphabet="0123456789. ulmnp/hrsi-e", max_size=24))
def test_quantity_parsers_only_raise_reply_errors(text: str) -> None:
    for parse in (P.parse_volume, P.parse_rate, P.parse_diameter):
        with contextlib.suppress(ReplyError):
            q = parse(text)
            assert q.value >= 0 and q.resolution > 0


@FUZZ
@given(x=st.fractions(min_value=0, max_value=Fraction(99_999, 10)))
def test_format_down_is_the_largest_wire_number_not_above(x: Fraction) -> None:
    text, value = P.format_down(x, "x")
    q = P.parse_quantity(text + " ul", P.VOLUME_UNITS, "x")
    assert q.value == value <= x < value + q.resolution
    assert len(text.replace(".", "").lstrip("0")) <= P.SIG_DIGITS


@settings(max_examples=max(50, N // 5), deadline=None, derandomize=True)
@given(replies=st.lists(st.one_of(ultraish, st.builds(framing.encode_reply, st.integers(0, 2), lines,
                                                       st.sampled_from([":", ">", "T*", "*", "?"]))), max_size=6))
def test_link_answers_hostile_ports_with_a_reply_or_a_link_fault(replies: list[bytes]) -> None:
    link = UltraLink(HostilePort(replies), 0, reply_timeout_ms=1, retries=1)
    for command, check in (("ivolume", one_line), ("stp", lambda r: None)):
        try:
            reply = link.command(command, check)
        except LinkFault as fault:
            assert fault.reason in ("timeout", "not_connected", "out_of_range", "device_error")
        else:
            assert reply.address == 0 and reply.error is None


@FUZZ
@given(line=st.one_of(ultraish, st.text(alphabet="0123456789 :abcdeilmnoprstuvwIRTV./", max_size=24).map(str.encode)))
def test_simulated_firmware_answers_any_line_without_raising(line: bytes) -> None:
    pump = HarvardFirmware(now_ms=0)
    pump.poll = "on"
    reply = pump.handle(line, 10)
    if reply is not None:
        with contextlib.suppress(ProtocolError):
            assert P.parse_reply(reply[:-1]).address == 0
    assert pump.truth(60_000).infused_ul >= 0
