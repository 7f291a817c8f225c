"""The Harvard Ultra protocol table, wire numbers, framing and reply parsing (examples)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from controller.drivers.errors import FrameError, ProtocolError, ReplyError
from controller.drivers.harvard import framing
from controller.drivers.harvard import protocol as P
from controller.drivers.harvard.protocol import Prompt
from controller.drivers.provenance import STATUSES, markdown_rows

pytestmark = pytest.mark.req("REQ-DRV-004")


def test_every_table_item_says_where_it_comes_from() -> None:
    keys = [i.key for i in P.PROTOCOL]
    assert len(keys) == len(set(keys))
    for item in P.PROTOCOL:
        assert item.status in STATUSES, item
        assert (item.source in P.SOURCES) == (item.status != "assumed"), item
        if item.status == "secondary":
            assert item.source == "THIRD_PARTY", item
    prompts = {k.split(".")[1] for k in P.TABLE if k.startswith("prompt.") and k.count(".") == 1}
    assert {p.value for p in Prompt} == prompts
    for name in ("irate", "wrate", "tvolume", "ctvolume", "ivolume", "civolume", "irun", "wrun", "stp", "diameter"):
        assert f"cmd.{name}" in P.TABLE
    assert {f"error.{k}" for k in ("command", "argument", "range", "unknown")} <= set(P.TABLE)


def test_docs_hardware_carries_the_harvard_table_as_generated() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "hardware.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Harvard protocol honesty"):]
    section = section[:section.index("\n## ", 4)] if "\n## " in section[4:] else section
    for row in markdown_rows(P.PROTOCOL):
        assert row in section, f"regenerate the Harvard table in docs/hardware.md: {row}"


@pytest.mark.parametrize(("value", "text"), [
    (Fraction(0), "0.0000"), (Fraction(1, 8), "0.1250"), (Fraction(2, 3), "0.6666"), (Fraction(12345, 1000), "12.34"),
    (Fraction(4166666, 10_000), "416.6"), (Fraction(9999), "9999"), (Fraction(1, 3 * 10**5), "0.0000"),
])
def test_format_down_never_rounds_up(value: Fraction, text: str) -> None:
    got, exact = P.format_down(value, "x")
    assert got == text and exact <= value
    assert P.parse_quantity(got + " ul", P.VOLUME_UNITS, "x").value == exact


def test_wire_values_are_the_closest_from_below_in_the_best_unit() -> None:
    assert P.rate_text(25_000) == ("416.6 ul/min", Fraction(24_996))
    assert P.rate_text(360_000) == ("6000 ul/min", Fraction(360_000))
    assert P.rate_text(1) == ("0.0166 ul/min", Fraction(996, 1_000))
    assert P.volume_text(Fraction(12_345)) == ("12.34 ml", Fraction(12_340))
    assert P.volume_text(Fraction(1, 3)) == ("0.3333 ul", Fraction(3_333, 10_000))
    with pytest.raises(ProtocolError, match="rate = 0"):
        P.rate_text(0)
    with pytest.raises(ProtocolError, match="rate = 3000000000"):
        P.rate_text(3_000_000_000)
    with pytest.raises(ProtocolError, match="tvolume"):
        P.volume_text(Fraction(10**8))


def test_quantities_carry_their_unit_and_resolution() -> None:
    q = P.parse_volume("1.234 ml")
    assert q.value == 1_234 and q.resolution == 1 and q.infused_ul_max() == 1_235
    assert P.parse_rate("10 ml/min").value == 600_000 and P.parse_rate("3.2 ul/min").resolution == 6
    assert P.parse_diameter("26.59 mm").value == Fraction("26.59") == P.parse_diameter("26.59").value
    for bad in ("", "1", "1 oz", "1.2.3 ml", "-1 ml", "1e3 ml", " 1 ml", "1  ml", "1.5ml"):
        with pytest.raises(ReplyError) as exc:
            P.parse_volume(bad)
        assert exc.value.field == "volume" and "allowed:" in str(exc.value)


def test_parse_reply_prompts_data_and_errors() -> None:
    assert P.parse_reply(b"\n00:") == P.UltraReply(0, Prompt.IDLE, (), None)
    assert P.parse_reply(b"\r\n12>\r").prompt is Prompt.INFUSING and P.parse_reply(b"\n12>").address == 12
    assert P.parse_reply(b"\n00T*").prompt is Prompt.TARGET is P.parse_reply(b"\n00:T*").prompt
    assert P.parse_reply(b"\n00*").prompt is Prompt.STALLED is P.parse_reply(b"\n00:*").prompt
    r = P.parse_reply(b"\n00416.6 ul/min\n00>")
    assert r.data == "416.6 ul/min" and r.moving and r.error is None
    assert P.parse_reply(b"\n00Out of range\n00:").error == "Out of range"
    assert P.parse_reply(b"\n00a\n00b\n00:").data == ""  # several lines: no single datum


@pytest.mark.parametrize(("frame", "field"), [
    (b"", "reply"), (b"00:", "reply"), (b"\n0:", "reply.address"), (b"\n00x", "reply.prompt"),
    (b"\n00:\n01:", "reply.address"), (b"\n00\x00:", "reply"), (b"\n\n00:", "reply"), (b"\n00T", "reply.prompt"),
])
def test_parse_reply_refuses_with_the_field(frame: bytes, field: str) -> None:
    with pytest.raises(ReplyError) as exc:
        P.parse_reply(frame)
    assert exc.value.field == field and "allowed:" in str(exc.value)


def test_commands_carry_the_address_with_a_colon_and_refuse_what_the_wire_cannot_carry() -> None:
    assert framing.encode_command(0, "irate 3.2 ul/min") == b"irate 3.2 ul/min\r"
    assert framing.encode_command(12, "irat 3.2 ul/min") == b"12:irat 3.2 ul/min\r"  # the manual's example
    with pytest.raises(ProtocolError, match="address = 100"):
        framing.encode_command(100, "irun")
    with pytest.raises(ProtocolError, match="printable"):
        framing.encode_command(0, "irun\r")
    with pytest.raises(ProtocolError, match="ASCII"):
        framing.encode_command(0, "ïrun")


def test_reply_decoder_splits_at_xon_drops_noise_and_cut_frames() -> None:
    reply = framing.encode_reply(0, ["1.000 ul"], ">")
    for cut in range(len(reply) + 1):
        dec = framing.ReplyDecoder()
        assert dec.feed(reply[:cut]) + dec.feed(reply[cut:]) == [b"\n001.000 ul\n00>"]
    items = framing.ReplyDecoder().feed(b"junk" + reply + b"\n00\x02:\x11" + framing.encode_reply(0, [], ":"))
    assert [i.field for i in items if isinstance(i, FrameError)] == ["noise", "reply"]
    assert items[-1] == b"\n00:"
    dec = framing.ReplyDecoder()
    overlong = dec.feed(b"\n" + b"0" * (framing.MAX_REPLY + 10))
    assert isinstance(overlong[0], FrameError) and dec.pending <= framing.MAX_REPLY


def test_command_decoder_reads_lines_up_to_cr_and_ignores_lf() -> None:
    dec = framing.CommandDecoder()
    assert dec.feed(b"irun\r\nstp\r12:ver") == [b"irun", b"stp"] and dec.pending == 6
    long = dec.feed(b"x" * (framing.MAX_COMMAND + 5))
    assert isinstance(long[0], FrameError) and dec.pending <= framing.MAX_COMMAND
