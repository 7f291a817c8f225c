"""The NE-1000 protocol table, numbers, CRC, framing and reply parsing (examples)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from controller.drivers.errors import FrameError, ProtocolError, ReplyError
from controller.drivers.ne1000 import framing as F
from controller.drivers.ne1000 import protocol as P
from controller.drivers.ne1000.protocol import Alarm, ErrorCode, Prompt

pytestmark = pytest.mark.req("REQ-DRV-003")


def test_crc_is_xmodem_and_reproduces_the_manuals_saf0_packet() -> None:
    assert F.crc16(b"123456789") == 0x31C3  # the CRC-16/XMODEM check value
    assert F.crc16(b"SAF0") == 0x5543
    manual = bytes.fromhex(P.TABLE["safe.saf0_packet"].value.replace(" ", ""))
    assert F.encode_safe(b"SAF0") == manual == b"\x02\x08SAF0\x55\x43\x03"
    assert F.crc16(b"\x08SAF0") != 0x5543  # the length byte is not covered


def test_every_table_item_says_where_it_comes_from() -> None:
    keys = [i.key for i in P.PROTOCOL]
    assert len(keys) == len(set(keys))
    for item in P.PROTOCOL:
        assert item.status in ("checked", "secondary", "assumed"), item
        if item.status == "checked":
            assert item.source in P.SOURCES, item
        if item.status == "secondary":
            assert item.source == "THIRD_PARTY", item
    for name in ("DIA", "RAT", "VOL", "DIR", "RUN", "STP", "PUR", "DIS", "CLD", "VER", "SAF"):
        assert f"cmd.{name}" in P.TABLE
    assert {a.value for a in Alarm} == {k.split(".")[1] for k in P.TABLE if k.startswith("alarm.") and len(k) == 7}
    assert {p.value for p in Prompt} == {k.split(".")[1] for k in P.TABLE if k.startswith("prompt.")}


@pytest.mark.parametrize(("value", "text"), [
    (Fraction(0), "0.000"), (Fraction(1, 8), "0.125"), (Fraction(9999, 1000), "9.999"),
    (Fraction(10), "10.00"), (Fraction(12345, 1000), "12.34"), (Fraction(999999, 1000), "999.9"),
    (Fraction(1000), "1000"), (Fraction(99999, 10), "9999"), (Fraction(2, 3), "0.666"),
])
def test_format_down_never_rounds_up(value: Fraction, text: str) -> None:
    got, exact = P.format_down(value, "x")
    assert got == text and exact <= value
    assert P.parse_number(got, "x").value == exact


def test_format_down_refuses_what_the_wire_cannot_carry() -> None:
    with pytest.raises(ProtocolError, match=r"VOL = 10000.0 .*4 digits"):
        P.format_down(Fraction(10_000), "VOL")
    with pytest.raises(ProtocolError, match=">= 0"):
        P.format_down(Fraction(-1), "VOL")


@pytest.mark.parametrize("bad", ["", ".", "12345", "1.2345", "1e3", "-1", "1.2.3", " 1"])
def test_parse_number_names_the_field(bad: str) -> None:
    with pytest.raises(ReplyError) as exc:
        P.parse_number(bad, "DIS.infused")
    assert exc.value.field == "DIS.infused"


def test_number_resolution_is_the_last_digit() -> None:
    assert P.parse_number("12.34", "x") == P.Number(Fraction(1234, 100), Fraction(1, 100))
    assert P.parse_number("7", "x").resolution == 1


@pytest.mark.parametrize(("rate", "unit", "exact"), [
    (1, "UH", 1), (2_500, "UH", 2_500), (25_000, "MH", 25_000), (123_456, "UM", 123_420),
    (999_000, "MH", 999_000), (1_200_000, "MH", 1_200_000),
])
def test_best_rate_picks_the_closest_rate_from_below(rate: int, unit: str, exact: int) -> None:
    text, got_unit, got = P.best_rate(rate)
    assert got <= rate and got == exact and got_unit == unit
    assert P.parse_number(text, "r").value * P.RATE_UNITS[got_unit] == got


def test_best_rate_refuses_zero() -> None:
    with pytest.raises(ProtocolError, match="rate = 0"):
        P.best_rate(0)


def test_parse_reply_statuses_alarms_and_errors() -> None:
    assert P.parse_reply(b"00S") == P.PumpReply(0, Prompt.STOPPED, None, None, "")
    assert P.parse_reply(b"1I") .prompt is Prompt.INFUSING
    r = P.parse_reply(b"00A?S")
    assert r.alarm is Alarm.STALL and r.prompt is None
    assert P.parse_reply(b"07A?R").address == 7
    for code in ErrorCode:
        r = P.parse_reply(f"00S?{code.value}".encode())
        assert r.error is code and r.data == ""
    assert P.parse_reply(b"00SI1.234W0.000ML").data == "I1.234W0.000ML"
    assert P.parse_reply(b"00X").moving and not P.parse_reply(b"00P").moving


@pytest.mark.parametrize(("payload", "field"), [
    (b"", "reply"), (b"S", "reply"), (b"100S", "reply"), (b"00Q", "reply.status"), (b"00A?Z", "reply.alarm"),
    (b"00S?XYZ", "reply.error"), (b"00S\x00", "reply"), (b"00S\xff", "reply"),
])
def test_parse_reply_refuses_with_the_field(payload: bytes, field: str) -> None:
    with pytest.raises(ReplyError) as exc:
        P.parse_reply(payload)
    assert exc.value.field == field
    assert "allowed:" in str(exc.value)


def test_parse_dispensed() -> None:
    d = P.parse_dispensed("I12.34W0.000ML")
    assert d.unit == "ML" and d.infused_ul() == Fraction(12_340) and d.infused_ul_max() == Fraction(12_350)
    with pytest.raises(ReplyError, match="DIS"):
        P.parse_dispensed("I1W2OZ")


def test_default_volume_units_follow_the_diameter() -> None:
    assert P.default_volume_unit(Fraction(14)) == "UL"
    assert P.default_volume_unit(Fraction("14.01")) == "ML"


def test_basic_framing_round_trip_and_command_normalisation() -> None:
    data = F.command_data(0, "RAT 25.5 MH")
    assert F.encode_basic_command(data) == b"0RAT 25.5 MH\r"
    dec = F.BasicCommandDecoder()
    assert dec.feed(b"0 rat 25.5 mh\r\x02junk") == [b"0RAT25.5MH"]
    assert dec.pending == 4  # 'junk' waits for its CR; the STX was stripped
    rep = F.BasicReplyDecoder()
    assert rep.feed(F.encode_basic_reply(b"00SI1.0W0.0UL")) == [b"00SI1.0W0.0UL"]


def test_safe_framing_round_trip_in_any_split() -> None:
    packet = F.encode_safe(b"00I")
    for cut in range(len(packet) + 1):
        dec = F.SafeDecoder()
        assert dec.feed(packet[:cut]) + dec.feed(packet[cut:]) == [b"00I"]


def test_safe_decoder_reports_bad_crc_and_resynchronises() -> None:
    good = F.encode_safe(b"00S")
    bad = bytearray(good)
    bad[3] ^= 0x01
    items = F.SafeDecoder().feed(b"xx" + bytes(bad) + good)
    errors = [i for i in items if isinstance(i, FrameError)]
    assert items[-1] == b"00S"
    assert [e.field for e in errors][:2] == ["noise", "CRC"]


def test_basic_reply_decoder_drops_a_cut_packet() -> None:
    items = F.BasicReplyDecoder().feed(b"\x0200SI1.0\x02" + b"00P\x03")
    assert isinstance(items[0], FrameError) and items[-1] == b"00P"


def test_encoders_refuse_what_the_wire_cannot_carry() -> None:
    with pytest.raises(ProtocolError, match="address = 100"):
        F.command_data(100, "RUN")
    with pytest.raises(ProtocolError, match="printable"):
        F.command_data(0, "RUN\r")
    with pytest.raises(ProtocolError, match="ASCII"):
        F.command_data(0, "RÜN")
    with pytest.raises(ProtocolError, match="at most 251"):
        F.encode_safe(b"A" * 252)


def test_docs_hardware_lists_every_protocol_item_with_its_status() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "hardware.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Protocol honesty"):]
    section = section[:section.index("\n## ")]  # the NE-1000 table only (the Harvard one has its own test)
    rows = {line.split("|")[1].strip().strip("`"): line.split("|")[-3].strip()
            for line in section.splitlines() if line.startswith("| `")}
    assert rows == {i.key: i.status for i in P.PROTOCOL}, "regenerate the table in docs/hardware.md"
