"""The New Era NE-500/NE-1000-family RS-232 protocol: the one table, numbers and reply parsing.

Theory of operation
-------------------
Everything the driver and the emulator know about the pump's wire protocol is in this module
(framing, CRC and the byte decoders are in ``ne1000_framing``, which reads its constants from
here). ``PROTOCOL`` is a machine-readable table (``controller.drivers.provenance``): one ``Item``
per fact, each saying whether it was checked against a public New Era manual (and which), taken
from public third-party code ("secondary"), or assumed. A lab with a real pump corrects an item
here and nowhere else.

A reply payload (the bytes between the framing) is ``<address><status>[<data>]`` where the
status is a prompt letter or ``A?`` plus an alarm letter, and the data may be a command error
``?``, ``?NA``, ``?OOR``, ``?COM`` or ``?IGN``. ``parse_reply`` turns it into a ``PumpReply``.

Numbers on the wire are ``<float>``: at most 4 digits and one decimal point, at most 3 digits
after it. ``format_down`` writes the largest such number not above a value, so a rate or a
volume target sent to the pump is never more than what the controller asked for.

Rules
1. Bad bytes and bad arguments raise ``ProtocolError`` naming the field, the value and what
   is allowed; nothing here raises anything else on any input (fuzzed).
2. Every number sent to the pump is rounded *down* (REQ-DEL-001: rounding never increases
   delivery); every number read from it carries its resolution, so callers can bound the truth.
3. Pure functions over bytes and ``Fraction``: no I/O, no clock, no floats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction

from controller.drivers.errors import ProtocolError, ReplyError
from controller.drivers.provenance import Item, assumed, checked, secondary

STX, ETX, CR = 0x02, 0x03, 0x0D
MAX_DIGITS, MAX_DECIMALS = 4, 3  # <float>: 4 digits + 1 decimal point, <= 3 decimals
MAX_ADDRESS = 99
DEFAULT_BAUD = 19_200
BAUDS = (300, 1_200, 2_400, 9_600, 19_200)
SAF_MAX_S = 255  # one byte of seconds (assumption, see PROTOCOL)
UL_UNITS_MAX_DIAMETER = Fraction(14)  # <= 14.00 mm syringes default to uL volume units

SOURCES: dict[str, str] = {
    "NE1000": "New Era NE-1000 Multi-Phaser user manual, Publication #1200-01 (08/01/14), "
              "sections 10.2 (RS-232 protocol: basic, safe, common syntax) and 10.3 (errors and alarms)",
    "NE500": "New Era NE-500/NE-501 OEM user manual, Publication #1200-02 (09/18/14): quick start, "
             "5.4-5.6 (RAT, DIR, VOL), 8.3.4 (common syntax), 8.4 (errors and alarms)",
    "NE1600": "New Era NE-1600/NE-1800 user manual, Publication #1200-02 (8/1/14), 9.2.4 and 9.3 "
              "(the same common syntax, errors and alarms: corroborates NE1000)",
    "THIRD_PARTY": "public open-source New Era drivers (a NE-9000 interface derived from Brad Buran's "
                   "new-era module; several lab scripts sending CLD INF / CLD WDR): not a manual",
}


def _c(key: str, value: str, meaning: str, source: str = "NE1000", note: str = "") -> Item:
    return checked(key, value, meaning, source, note)


def _s(key: str, value: str, meaning: str, note: str = "") -> Item:
    return secondary(key, value, meaning, note=note)


def _a(key: str, value: str, meaning: str, note: str = "") -> Item:
    return assumed(key, value, meaning, note)


PROTOCOL: tuple[Item, ...] = (
    # --- link and framing ------------------------------------------------------------------
    _c("link.serial", "19200 8N1", "factory baud rate and data frame", "NE500"),
    _c("basic.command", "[addr]<command data><CR>", "basic-mode packet to the pump"),
    _c("basic.reply", "<STX><response data><ETX>", "basic-mode packet from the pump"),
    _c("basic.normalize", "strip spaces and control chars, upper-case", "pump-side cleaning of basic commands"),
    _c("basic.master_slave", "one reply per command, nothing unsolicited", "basic-mode flow"),
    _c("safe.packet", "<STX><length><data><CRC hi><CRC lo><ETX>", "safe-mode packet, both directions"),
    _c("safe.length", "bytes remaining including the length byte", "so length = len(data) + 4"),
    _a("safe.length.max", "255", "one length byte; longest data is 251 bytes"),
    _c("safe.crc", "CRC-16 CCITT, high byte first", "over <data> only",
       note="variant = XMODEM (poly 0x1021, init 0, no reflection): the only one that reproduces the "
            "manual's SAF0 example; the CRC of the length byte + data does not"),
    _c("safe.saf0_packet", "02 08 53 41 46 30 55 43 03", "the manual's packet that returns a pump to basic mode"),
    _c("safe.interbyte_timeout", "0.5 s", "an incomplete packet is discarded after a 0.5 s gap"),
    _c("safe.SAF", "SAF n", "n s allowed between valid packets; on time-out the pump stops and alarms (A?T)"),
    _c("safe.timer_restart", "next valid packet", "after a time-out the timer restarts only on a valid packet"),
    _c("safe.auto_alarm", "status packet sent on alarm", "an auto-sent alarm does not acknowledge the alarm"),
    _c("safe.power_on", "safe mode persists; timer off until first valid packet", "after power-up or reset"),
    _a("safe.SAF.range", f"1..{SAF_MAX_S} s", "SAF0 = basic mode"),
    _a("safe.SAF.reply_framing", "either", "the driver accepts the reply to SAF n in either framing and "
       "then confirms safe mode with a safe-framed query"),
    # --- reply syntax ----------------------------------------------------------------------
    _c("reply.syntax", "<address><status>[<data>]", "response data"),
    _c("reply.address", "0..99", "network address; '*' = system command (to pump)"),
    _a("reply.address.width", "2 digits, zero padded", "the parser accepts 1 or 2 digits"),
    _c("prompt.I", "I", "infusing"), _c("prompt.W", "W", "withdrawing"),
    _c("prompt.S", "S", "pumping program stopped"), _c("prompt.P", "P", "pumping program paused"),
    _c("prompt.T", "T", "pause phase"), _c("prompt.U", "U", "operational trigger wait (user wait)"),
    _c("prompt.X", "X", "purging"),
    _c("alarm.syntax", "A?<type>", "alarm status replaces the prompt"),
    _c("alarm.R", "R", "pump was reset (power was interrupted)"), _c("alarm.S", "S", "pump motor stalled"),
    _c("alarm.T", "T", "safe mode communications time out"), _c("alarm.E", "E", "pumping program error"),
    _c("alarm.O", "O", "pumping program phase is out of range"),
    _c("alarm.ack", "alarm status sent in reply to any valid command", "acknowledges the alarm"),
    _a("alarm.ack.not_executed", "command not executed", "the command whose reply carries the alarm is not "
       "carried out (the driver never relies on it having been)"),
    _c("error.?", "?", "command is not recognized"), _c("error.NA", "?NA", "command is not currently applicable"),
    _c("error.OOR", "?OOR", "command data is out of range"),
    _c("error.COM", "?COM", "invalid communications packet received"),
    _c("error.IGN", "?IGN", "command ignored due to a simultaneous new phase start"),
    _c("float", "<= 4 digits + '.', <= 3 decimals", "every number on the wire"),
    _a("float.pump_rounding", "truncation", "the pump truncates what it displays; the driver bounds both ways"),
    # --- commands ----------------------------------------------------------------------------
    _c("cmd.query", "(empty)", "a packet without a command is a status query"),
    _c("cmd.set_reply", "status only, or status + ?error", "set commands; queries return data"),
    _c("cmd.DIA", "DIA [<float>]", "syringe inside diameter, mm", "NE500"),
    _a("cmd.DIA.when", "stopped only", "?NA while pumping"),
    _c("cmd.RAT", "RAT [<float> [UM|MM|UH|MH]]", "rate: uL/min, mL/min, uL/h, mL/h; ?OOR out of range", "NE500"),
    _c("cmd.RAT.running", "rate may change while pumping, units may not", "takes effect at once", "NE500"),
    _c("cmd.VOL", "VOL [<float>]", "volume to be dispensed; 0 = pump continuously", "NE500"),
    _c("cmd.VOL.units", "UL | ML", "volume units; <= 14.00 mm defaults to uL, above to mL", "NE500"),
    _s("cmd.VOL.set_units", "VOL UL | VOL ML", "set the volume units"),
    _a("cmd.VOL.relative", "counted from RUN", "the target counts from the start of the run, not from the "
       "DIS counter; if wrong the pump stops earlier (under-delivery), never later"),
    _c("cmd.DIR", "DIR [INF|WDR|REV|STK]", "pumping direction", "NE500"),
    _c("cmd.DIR.running", "only if VOL = 0", "direction change while pumping", "NE500"),
    _s("cmd.RUN", "RUN", "start (or resume) the pumping program"),
    _s("cmd.STP", "STP", "stop the pumping program"),
    _a("cmd.STP.pause", "STP while pumping -> P; STP while paused -> S", "the driver sends STP until S"),
    _s("cmd.PUR", "PUR", "purge at maximum rate until stopped (prompt X)",
       note="never used for delivery: it has no volume target"),
    _s("cmd.DIS", "DIS -> I<float>W<float><UL|ML>", "volume infused and withdrawn"),
    _a("cmd.DIS.accumulates", "until CLD or power loss", "the counter is not reset by RUN"),
    _s("cmd.CLD", "CLD INF | CLD WDR", "clear the infused or withdrawn volume"),
    _s("cmd.VER", "VER", "firmware version"),
    _a("cmd.VER.reply", "NE1000V<version>", "free text; only checked to be printable"),
    _c("cmd.SAF", "SAF [n]", "enter safe mode with an n-second time-out; SAF0 returns to basic mode"),
)
TABLE: dict[str, Item] = {i.key: i for i in PROTOCOL}


class Prompt(Enum):
    INFUSING = "I"
    WITHDRAWING = "W"
    STOPPED = "S"
    PAUSED = "P"
    PAUSE_PHASE = "T"
    USER_WAIT = "U"
    PURGING = "X"


class Alarm(Enum):
    RESET = "R"
    STALL = "S"
    SAFE_TIMEOUT = "T"
    PROGRAM_ERROR = "E"
    PHASE_RANGE = "O"


class ErrorCode(Enum):
    """The error a reply carries instead of data (``?<code>``): the pump did not carry the command out."""

    UNRECOGNIZED = ""
    NOT_APPLICABLE = "NA"
    OUT_OF_RANGE = "OOR"
    COMMUNICATION = "COM"
    IGNORED = "IGN"


RATE_UNITS: dict[str, Fraction] = {"UH": Fraction(1), "MH": Fraction(1_000), "UM": Fraction(60),
                                   "MM": Fraction(60_000)}  # uL/h per unit
VOLUME_UNITS: dict[str, Fraction] = {"UL": Fraction(1), "ML": Fraction(1_000)}  # uL per unit
MOVING = frozenset({Prompt.INFUSING, Prompt.WITHDRAWING, Prompt.PURGING})


@dataclass(frozen=True, slots=True)
class Number:
    """A wire number: its exact value and its last digit's weight (what the pump may have cut)."""

    value: Fraction
    resolution: Fraction


@dataclass(frozen=True, slots=True)
class PumpReply:
    address: int
    prompt: Prompt | None  # None when an alarm is reported instead
    alarm: Alarm | None
    error: ErrorCode | None
    data: str  # the data after the status (empty for an error)

    @property
    def moving(self) -> bool:
        return self.prompt in MOVING


@dataclass(frozen=True, slots=True)
class Dispensed:
    infused: Number  # in ``unit``
    withdrawn: Number
    unit: str  # "UL" or "ML"

    def infused_ul(self) -> Fraction:
        return self.infused.value * VOLUME_UNITS[self.unit]

    def infused_ul_max(self) -> Fraction:
        """Upper bound of the true infused volume: the pump may have cut the last digit."""
        return (self.infused.value + self.infused.resolution) * VOLUME_UNITS[self.unit]


def format_down(x: Fraction, field: str) -> tuple[str, Fraction]:
    """The largest wire number <= ``x`` (>= 0): its text and exact value (rule 2)."""
    if x < 0:
        raise ProtocolError(field, float(x), "a number >= 0")
    for decimals in range(MAX_DECIMALS, -1, -1):
        if x < 10 ** (MAX_DIGITS - decimals):
            scaled = x.numerator * 10**decimals // x.denominator  # floor
            text = str(scaled) if decimals == 0 else f"{scaled // 10**decimals}.{scaled % 10**decimals:0{decimals}d}"
            return text, Fraction(scaled, 10**decimals)
    raise ProtocolError(field, float(x), f"less than {10**MAX_DIGITS} ({MAX_DIGITS} digits)")


_NUMBER = re.compile(r"(\d*)(?:\.(\d*))?")


def parse_number(text: str, field: str) -> Number:
    m = _NUMBER.fullmatch(text)
    if m is None or not text or text == ".":
        raise ReplyError(field, text, "a number like 12.34 (digits and at most one '.')")
    whole, frac = m.group(1), m.group(2) or ""
    if len(whole) + len(frac) > MAX_DIGITS or len(frac) > MAX_DECIMALS:
        raise ReplyError(field, text, f"at most {MAX_DIGITS} digits, at most {MAX_DECIMALS} after '.'")
    return Number(Fraction(int(whole or "0") * 10 ** len(frac) + int(frac or "0"), 10 ** len(frac)),
                  Fraction(1, 10 ** len(frac)))


def best_rate(rate_ul_h: int) -> tuple[str, str, Fraction]:
    """(number text, unit, exact uL/h) of the largest wire rate <= ``rate_ul_h`` over all units."""
    if rate_ul_h <= 0:
        raise ProtocolError("rate", rate_ul_h, "more than 0 uL/h")
    best: tuple[str, str, Fraction] | None = None
    for unit, per in RATE_UNITS.items():
        x = Fraction(rate_ul_h) / per
        if x >= 10**MAX_DIGITS:
            continue
        text, value = format_down(x, "rate")
        if value > 0 and (best is None or value * per > best[2]):
            best = (text, unit, value * per)
    if best is None:
        raise ProtocolError("rate", rate_ul_h, "a rate the wire can carry (up to 9999 mL/min)")
    return best


_REPLY = re.compile(r"(\d{1,2})(?:A\?([A-Z])|([A-Z]))(.*)", re.DOTALL)
_PROMPTS = {p.value: p for p in Prompt}
_ALARMS = {a.value: a for a in Alarm}
_ERRORS = {e.value: e for e in ErrorCode}


def parse_reply(payload: bytes) -> PumpReply:
    """A reply payload (framing removed) as a ``PumpReply`` or a ``ReplyError`` (rule 1)."""
    if any(b < 0x20 or b > 0x7E for b in payload):
        raise ReplyError("reply", payload, "printable ASCII")
    text = payload.decode("ascii")
    m = _REPLY.fullmatch(text)
    if m is None:
        raise ReplyError("reply", text, "<address 0-99><status I|W|S|P|T|U|X|A?x>[<data>]")
    address, alarm, prompt, data = int(m.group(1)), m.group(2), m.group(3), m.group(4)
    if alarm is not None and alarm not in _ALARMS:
        raise ReplyError("reply.alarm", alarm, "one of " + ", ".join(_ALARMS))
    if prompt is not None and prompt not in _PROMPTS:
        raise ReplyError("reply.status", prompt, "one of " + ", ".join(_PROMPTS) + " or A?<alarm>")
    error = None
    if data.startswith("?"):
        if data[1:] not in _ERRORS:
            raise ReplyError("reply.error", data, "?, ?NA, ?OOR, ?COM or ?IGN")
        error, data = _ERRORS[data[1:]], ""
    return PumpReply(address, _PROMPTS.get(prompt or ""), _ALARMS.get(alarm or ""), error, data)


_DIS = re.compile(r"I([0-9.]+)W([0-9.]+)(UL|ML)")


def parse_dispensed(data: str) -> Dispensed:
    m = _DIS.fullmatch(data)
    if m is None:
        raise ReplyError("DIS", data, "I<float>W<float>UL or ...ML")
    return Dispensed(parse_number(m.group(1), "DIS.infused"), parse_number(m.group(2), "DIS.withdrawn"), m.group(3))


def default_volume_unit(diameter_mm: Fraction) -> str:
    return "UL" if diameter_mm <= UL_UNITS_MAX_DIAMETER else "ML"
