"""The Harvard Apparatus "Ultra" command set (Pump 11 Elite, PHD Ultra): the one table, numbers, replies.

Theory of operation
-------------------
Everything the driver and the emulator know about the pump's wire protocol is in this module;
the byte framing is in ``framing``. ``PROTOCOL`` is the machine-readable table
(``controller.drivers.provenance``): one ``Item`` per fact, checked against a public Harvard
manual (which one: ``SOURCES``), read in public third-party drivers, or assumed.

A command is ``[<addr>:]<command>[ <arguments>]<CR>``; with poll mode on, a reply is one or more
lines ``<LF><addr><text>``, the last of which is the prompt (``:`` idle, ``>`` infusing, ``<``
withdrawing, ``*`` stalled, ``T*`` target reached), then an XON byte. A data line may be an
error text (``Command error``, ``Argument error``, ``Out of range``, ``Unknown command``).
``parse_reply`` turns a framed reply into an ``UltraReply``.

Numbers are decimals with a unit (``416.6 ul/min``, ``0.5 ml``). ``format_down`` writes the
largest number of at most ``SIG_DIGITS`` significant digits not above a value, so a rate or a
target sent to the pump is never more than what the controller asked for.

Rules
1. Bad bytes and bad arguments raise ``ProtocolError`` (``ReplyError`` for a reply) naming the
   field, the value and what is allowed; nothing here raises anything else on any input (fuzzed).
2. Every number sent is rounded *down* (REQ-DEL-001); every number read carries its resolution.
3. Pure functions over bytes, text and ``Fraction``: no I/O, no clock, no floats.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction

from controller.drivers.errors import ProtocolError, ReplyError
from controller.drivers.provenance import Item, assumed, checked, secondary

LF, CR, XON = 0x0A, 0x0D, 0x11
MAX_ADDRESS = 99
DEFAULT_BAUD = 115_200
BAUDS = (9_600, 19_200, 38_400, 57_600, 115_200)
SIG_DIGITS, MAX_DECIMALS = 4, 4  # what the driver sends (assumption, see PROTOCOL)
MIN_TARGET_UL = Fraction(1, 1_000)  # no smaller volume target is ever sent

SOURCES: dict[str, str] = {
    "ULTRA": "Harvard Apparatus PHD ULTRA Syringe Pump Series User's Manual, Publication 5419-002 Rev A, "
             "Pump Chain Commands: p. 83 (syntax, addressing, abbreviation, prompts) and p. 88 (status)",
    "DDS": "Harvard Apparatus Pump 33 DDS User's Manual, Publication 5419-013 REV1.0, Pump Chain Commands "
           "(the same Ultra command set): p. 44 (poll), p. 50 (rate), p. 52 (volume commands, reply formats)",
    "THIRD_PARTY": "public open-source drivers: flowchem's Elite11 driver (cambiegroup/flowchem, "
                   "devices/harvardapparatus, marked tested on a Pump 11 Elite) and a lab's Harvard11ElitePump "
                   "class (poll mode, replies read up to XON): not a manual",
}

PROTOCOL: tuple[Item, ...] = (
    # --- link and command syntax -------------------------------------------------------------
    checked("link.bauds", "9600 19200 38400 57600 115200", "baud rates the pump offers (8N1)", "ULTRA"),
    secondary("link.default_baud", "115200", "the pump's usual setting (flowchem's default)"),
    checked("cmd.address", "[<addr>:]<command>", "address 0-99; a nonzero address precedes the command, "
            "separated by a colon (12:irat 3.2 ul/min)", "ULTRA"),
    checked("cmd.abbreviation", "first four letters", "commands may be abbreviated to four letters", "ULTRA"),
    checked("cmd.argument_space", "<command> <arguments>", "a space follows the command if arguments follow",
            "ULTRA"),
    secondary("cmd.terminator", "<CR>", "end of a command (flowchem sends CR LF; the emulator takes either)"),
    secondary("cmd.empty", "(empty line)", "a command line without a command returns the prompt: a status query"),
    # --- replies -------------------------------------------------------------------------------
    checked("reply.line", "<LF>[<addr>]<text>", "each line of a reply", "DDS"),
    checked("reply.prompt_line", "<LF>[<addr>]<prompt>", "the last line of every reply", "DDS"),
    secondary("reply.address", "2 digits on every line, also for pump 0", "flowchem parses line[0:2] as the "
              "address; the manual shows [<addr>] as optional", note="the parser requires it: a line without it "
              "is refused, never guessed"),
    assumed("reply.cr", "lines may end in CR", "the decoder ignores CR (KDS-style pumps send <LF><text><CR>)"),
    checked("poll.on", "poll on", "no prompts on events; an XON (0x11) after the prompt when ready", "DDS",
            note="also the lab class, which reads every reply up to XON"),
    checked("poll.off", "poll off (default)", "prompts are also sent when an event happens (target reached)",
            "DDS"),
    checked("poll.remote", "poll remote", "prompts not displayed, echo forced off (not used: the driver needs "
            "the prompt)", "DDS"),
    assumed("poll.persists", "across a power cycle", "the emulator keeps poll mode after a power loss; if a real "
            "pump does not, its replies lose their XON and the driver declares the link lost (watchdog)"),
    checked("prompt.:", ":", "the pump is idle", "ULTRA"), checked("prompt.>", ">", "the pump is infusing", "ULTRA"),
    checked("prompt.<", "<", "the pump is withdrawing", "ULTRA"), checked("prompt.*", "*", "the pump stalled", "ULTRA"),
    checked("prompt.T*", "T*", "the target was reached", "ULTRA"),
    secondary("reply.prompt_form", "00: 00> 00< 00* 00T*", "address then prompt (flowchem)",
              note="the lab class writes 00:* and 00:T*; the parser takes both forms, which mean the same"),
    assumed("prompt.*.persists", "until the next run or stop", "a stall is shown until a command acknowledges it "
            "(flowchem: 'press display on pump to clear'; if a key press is needed, the next run is refused and "
            "the controller latches FAILSAFE)"),
    assumed("prompt.T*.persists", "while standing at a met target", "until the counter is cleared or the "
            "target changed"),
    secondary("error.command", "Command error", "the command is not valid now"),
    secondary("error.argument", "Argument error", "an argument is not valid"),
    secondary("error.range", "Out of range", "an argument is out of the pump's range"),
    secondary("error.unknown", "Unknown command", "no such command (e.g. a withdraw command on an infuse-only "
              "pump)"),
    assumed("error.syntax", "<LF><addr><error text> then the prompt line", "an error reply; the command was "
            "not carried out"),
    # --- commands --------------------------------------------------------------------------------
    checked("cmd.irate", "irate [max|min|lim|{rate} {units}]", "set or show the infuse rate; 'lim' shows "
            "'# xl/xxx to # xl/xxx'", "DDS", note="the manual's 'rate' entry; irate and wrate take the same form "
            "(also flowchem)"),
    checked("cmd.wrate", "wrate [max|min|lim|{rate} {units}]", "set or show the withdraw rate", "DDS"),
    checked("rate.reply", "# xl/xxx", "a rate query's data line, e.g. 10 ml/min", "DDS"),
    checked("rate.units", "ul/min | ml/min", "the units the driver sends (the manuals' own examples)", "ULTRA",
            note="other units (nl, pl, /hr, /s) exist but are never sent"),
    assumed("number.precision", f"<= {SIG_DIGITS} significant digits, <= {MAX_DECIMALS} decimals",
            "what the driver sends, rounded down; every setting is read back and must equal it exactly"),
    checked("cmd.tvolume", "tvolume [{volume} {units}]", "set or show the target volume; 'Target volume not set' "
            "when none", "DDS"),
    checked("cmd.ctvolume", "ctvolume", "clear the target volume", "DDS"),
    checked("cmd.ivolume", "ivolume -> # xl", "the infused volume", "DDS"),
    checked("cmd.wvolume", "wvolume -> # xl", "the withdrawn volume", "DDS"),
    checked("cmd.civolume", "civolume", "clear the infused volume", "DDS"),
    checked("cmd.cwvolume", "cwvolume", "clear the withdrawn volume", "DDS"),
    checked("cmd.cvolume", "cvolume", "clear both volumes", "DDS"),
    checked("volume.units", "ml | ul | nl | pl", "the 'xl' of the manual's replies", "DDS"),
    assumed("tvolume.counter", "stops when the counter reaches the target", "a run with the target met stops "
            "at once", note="the driver clears the counter before every run, so this and 'counted from the run' "
            "give the same stop: it does not depend on which is true"),
    assumed("tvolume.withdraw", "the target also ends a withdraw", "the driver bounds the relief withdraw itself "
            "too (stops it after twice its time)"),
    assumed("tvolume.min", f"{MIN_TARGET_UL} ul", "the smallest target the driver sends (a smaller remaining "
            "volume is not run at all)"),
    secondary("cmd.irun", "irun", "run in the infuse direction"),
    secondary("cmd.wrun", "wrun", "run in the withdraw direction"),
    secondary("cmd.run", "run | rrun", "run in the current / reverse direction (never sent)"),
    secondary("cmd.stp", "stp", "stop (flowchem; the lab class sends 'stop'; the emulator takes both)"),
    assumed("cmd.stp.stops", "stop, no pause", "the driver sends stp until the prompt shows the motor standing"),
    secondary("cmd.diameter", "diameter [{mm} [mm]] -> # mm", "set or show the syringe inside diameter"),
    secondary("diameter.range", "0.1 to 33 mm", "from a Pump 11 Elite's 'metrics' (flowchem)"),
    assumed("diameter.when", "standing only", "'Command error' while running"),
    secondary("cmd.ver", "ver -> 11 ELITE I/W Single 3.0.4", "model and firmware (flowchem)"),
    secondary("cmd.metrics", "metrics", "several lines of model data (not used by the driver)"),
    checked("cmd.status", "status -> <fL/s> <s> <fL> <flags>", "raw status (not used: flag sets differ between "
            "reports)", "ULTRA"),
    assumed("link.checksum", "none", "no checksum and no sequence numbers (none described in ULTRA or DDS)"),
    assumed("link.host_watchdog", "none", "no host-silence stop (none described): a pump that stops hearing the "
            "host runs to its target, so the driver keeps every target within leg_ms of flow"),
    assumed("power.reset", "counters and target cleared, prompt ':'", "after a power cycle; no alarm says so, the "
            "driver sees a counter that went backwards"),
)
TABLE: dict[str, Item] = {i.key: i for i in PROTOCOL}


class Prompt(Enum):
    IDLE = ":"
    INFUSING = ">"
    WITHDRAWING = "<"
    STALLED = "*"
    TARGET = "T*"


STANDING = frozenset({Prompt.IDLE, Prompt.STALLED, Prompt.TARGET})
ERRORS = ("Command error", "Argument error", "Out of range", "Unknown command")
RATE_UNITS: dict[str, Fraction] = {"ul/min": Fraction(60), "ml/min": Fraction(60_000)}  # uL/h per unit (sent)
READ_RATE_UNITS: dict[str, Fraction] = {
    f"{v}l/{t}": Fraction(per_v) * per_t
    for v, per_v in (("m", 1_000), ("u", 1), ("n", Fraction(1, 1_000)), ("p", Fraction(1, 10**6)))
    for t, per_t in (("hr", 1), ("min", 60), ("s", 3_600))
}
VOLUME_UNITS: dict[str, Fraction] = {"ml": Fraction(1_000), "ul": Fraction(1), "nl": Fraction(1, 1_000),
                                     "pl": Fraction(1, 10**6)}  # uL per unit
NOT_SET = "Target volume not set"


@dataclass(frozen=True, slots=True)
class Quantity:
    """A number read from the pump, in uL or uL/h: its value and the weight of its last digit."""

    value: Fraction
    resolution: Fraction

    def infused_ul(self) -> Fraction:
        return self.value

    def infused_ul_max(self) -> Fraction:
        return self.value + self.resolution


@dataclass(frozen=True, slots=True)
class UltraReply:
    address: int
    prompt: Prompt
    lines: tuple[str, ...]  # the data lines, address removed
    error: str | None  # the error text, if a data line is one

    @property
    def moving(self) -> bool:
        return self.prompt in (Prompt.INFUSING, Prompt.WITHDRAWING)

    @property
    def data(self) -> str:
        return self.lines[0] if len(self.lines) == 1 else ""


def format_down(x: Fraction, field: str) -> tuple[str, Fraction]:
    """The largest number of at most SIG_DIGITS significant digits and MAX_DECIMALS decimals <= x."""
    if x < 0:
        raise ProtocolError(field, float(x), "a number >= 0")
    if x >= 10**SIG_DIGITS:
        raise ProtocolError(field, float(x), f"less than {10**SIG_DIGITS} in the unit chosen")
    decimals = MAX_DECIMALS
    while decimals > 0 and x >= Fraction(10 ** (SIG_DIGITS - decimals)):
        decimals -= 1
    scaled = x.numerator * 10**decimals // x.denominator  # floor
    text = str(scaled) if decimals == 0 else f"{scaled // 10**decimals}.{scaled % 10**decimals:0{decimals}d}"
    return text, Fraction(scaled, 10**decimals)


def best_down(x: Fraction, units: dict[str, Fraction], field: str) -> tuple[str, Fraction]:
    """(``number unit`` text, exact value in the base unit) of the largest wire value <= ``x``."""
    best: tuple[str, Fraction] | None = None
    for unit, per in units.items():
        if x / per >= 10**SIG_DIGITS:
            continue
        text, value = format_down(x / per, field)
        if value > 0 and (best is None or value * per > best[1]):
            best = (f"{text} {unit}", value * per)
    if best is None:
        raise ProtocolError(field, float(x), f"a value the wire can carry in {' or '.join(units)}")
    return best


def rate_text(rate_ul_h: int) -> tuple[str, Fraction]:
    """``irate`` argument and exact uL/h of the largest wire rate <= ``rate_ul_h``."""
    if rate_ul_h <= 0:
        raise ProtocolError("rate", rate_ul_h, "more than 0 uL/h")
    return best_down(Fraction(rate_ul_h), RATE_UNITS, "rate")


def volume_text(volume_ul: Fraction) -> tuple[str, Fraction]:
    """``tvolume`` argument and exact uL of the largest wire volume <= ``volume_ul`` (ul or ml)."""
    return best_down(volume_ul, {"ul": Fraction(1), "ml": Fraction(1_000)}, "tvolume")


_NUMBER = re.compile(r"(\d{1,9})(?:\.(\d{1,9}))?")


def parse_quantity(text: str, units: dict[str, Fraction], field: str) -> Quantity:
    """``<number> <unit>`` as uL (or uL/h) with its resolution; a ``ReplyError`` otherwise."""
    number, _, unit = text.partition(" ")
    m = _NUMBER.fullmatch(number)
    if m is None or unit not in units:
        raise ReplyError(field, text, f"<digits>[.<digits>] then one of {', '.join(units)}")
    frac = m.group(2) or ""
    scale = Fraction(1, 10 ** len(frac))
    return Quantity((int(m.group(1)) * 10 ** len(frac) + int(frac or "0")) * scale * units[unit],
                    scale * units[unit])


def parse_volume(text: str) -> Quantity:
    return parse_quantity(text, VOLUME_UNITS, "volume")


def parse_diameter(text: str) -> Quantity:
    """``26.59`` or ``26.59 mm`` (the query's reply), in mm."""
    return parse_quantity(text.removesuffix(" mm") + " mm", {"mm": Fraction(1)}, "diameter")


Parser = Callable[[str], Quantity]


def parse_rate(text: str) -> Quantity:
    return parse_quantity(text, READ_RATE_UNITS, "rate")


_LINE = re.compile(r"(\d{2})(.*)", re.DOTALL)
_PROMPTS = {p.value: p for p in Prompt} | {":*": Prompt.STALLED, ":T*": Prompt.TARGET}


def parse_reply(frame: bytes) -> UltraReply:
    """A reply (the bytes before its XON) as an ``UltraReply`` or a ``ReplyError`` (rule 1)."""
    if any((b < 0x20 or b > 0x7E) and b not in (LF, CR) for b in frame):
        raise ReplyError("reply", frame, "printable ASCII lines")
    text = frame.decode("ascii").replace("\r", "")
    if not text.startswith("\n"):
        raise ReplyError("reply", text, "lines starting with LF")
    lines = text[1:].split("\n")
    if any(not line for line in lines):
        raise ReplyError("reply", text, "no empty line")
    parsed = [_LINE.fullmatch(line) for line in lines]
    if any(m is None for m in parsed):
        raise ReplyError("reply.address", text, "two address digits at the start of every line")
    addresses = {m.group(1) for m in parsed if m is not None}
    if len(addresses) != 1:
        raise ReplyError("reply.address", sorted(addresses), "one address on every line")
    *data, last = [m.group(2) for m in parsed if m is not None]
    prompt = _PROMPTS.get(last)
    if prompt is None:
        raise ReplyError("reply.prompt", last, "one of : > < * T* (or :* :T*)")
    error = next((d for d in data if d in ERRORS), None)
    return UltraReply(int(addresses.pop()), prompt, tuple(data), error)
