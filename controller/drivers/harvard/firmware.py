"""A simulated Harvard Pump 11 Elite: the Ultra command interpreter on an exact plunger, no I/O.

Theory of operation
-------------------
``HarvardFirmware`` is what sits behind the Harvard emulator's pseudo-terminal.
``handle(line, now_ms)`` answers one received command line with the reply bytes (or None when
the command is for another address); ``advance(now_ms)`` moves the mechanism. The mechanism is
``syringe.Plunger``; this module adds the Ultra prompts, the volume target (compared with the
infused or withdrawn counter, ``PROTOCOL['tvolume.counter']``), the error replies and poll mode.
With poll mode off the pump also announces events unprompted (a reached target, a stall): those
go to ``outbox`` and the server sends them.

Faults land here as on every emulated pump: ``inject_stall`` (forward motion blocked: the motor
stops, the prompt is ``*``), ``power_reset`` (motor stopped, counters and target cleared, no
alarm), ``set_slip`` and ``set_runaway`` (on the plunger). ``truth`` reports what the plunger
really moved, which no counter clear or reset can hide.

Rules
1. The protocol facts come from ``protocol`` (the table); mechanism constants below are emulator
   assumptions, listed in ``MECHANISM`` and in docs/hardware.md.
2. A command answered with an error is not carried out.
3. The motor never passes its volume target (without a runaway).
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from controller.drivers import syringe
from controller.drivers.errors import ProtocolError
from controller.drivers.harvard import protocol
from controller.drivers.harvard.framing import encode_reply
from controller.drivers.harvard.protocol import Prompt
from controller.drivers.syringe import INFUSE, WITHDRAW, Plunger, Truth

MIN_SPEED_MM_H = Fraction(39, 10_000)  # 0.54 pL/min on a 0.103 mm (0.5 uL) syringe
MAX_SPEED_MM_H = Fraction(9_540)  # 88.3 mL/min on a 26.59 mm (60 mL) syringe
DIAMETER_MM = (Fraction(1, 10), Fraction(33))
VERSION = "11 ELITE I/W Single 3.0.4"
MECHANISM = {
    **syringe.MECHANISM,
    "MIN_SPEED_MM_H": "0.0039 mm/h, from a recalled Pump 11 Elite spec of 0.54 pL/min on a 0.5 uL syringe "
                      "(assumption)",
    "MAX_SPEED_MM_H": "9540 mm/h, from a recalled spec of 88.3 mL/min on a 60 mL syringe (assumption)",
    "DISPLAY": "volumes shown truncated to 4 significant digits, in ul below 1 mL, else ml (assumption)",
}
COMMANDS = ("irate", "wrate", "tvolume", "ctvolume", "ivolume", "wvolume", "civolume", "cwvolume", "cvolume",
            "irun", "wrun", "run", "rrun", "stop", "diameter", "ver", "metrics", "poll", "status")
ALIASES = {"stp": "stop"}
Handler = Callable[[str], list[str]]


class _ErrorReply(Exception):
    """Ends the command being interpreted: the emulated pump replies with this error text
    (PROTOCOL['error.*']) and does not carry the command out (rule 2). Raised by the command
    handlers and caught in ``handle``, so it never leaves this module; it is not a ``PumpError``
    because nothing went wrong in the controller: the pump said no, which is its job."""


def lookup(word: str) -> str | None:
    """The command a word names: in full, by its first four letters or more, or an alias."""
    word = word.lower()
    if word in ALIASES:
        return ALIASES[word]
    return next((c for c in COMMANDS if c.startswith(word) and len(word) >= min(4, len(c))), None)


def shown(volume_ul: Fraction) -> str:
    """A volume as the emulated display shows it (MECHANISM['DISPLAY'])."""
    unit, per = ("ul", Fraction(1)) if volume_ul < 1_000 else ("ml", Fraction(1_000))
    return f"{protocol.format_down(volume_ul / per, 'volume')[0]} {unit}"


class HarvardFirmware:
    def __init__(self, address: int = 0, diameter_mm: Fraction = Fraction("26.59"), now_ms: int = 0) -> None:
        if not 0 <= address <= protocol.MAX_ADDRESS:
            raise ProtocolError("address", address, f"0 to {protocol.MAX_ADDRESS}")
        if not DIAMETER_MM[0] <= diameter_mm <= DIAMETER_MM[1]:
            raise ProtocolError("diameter_mm", float(diameter_mm), "0.1 to 33 mm")
        self.address = address
        self.plunger = Plunger(diameter_mm, (MIN_SPEED_MM_H, MAX_SPEED_MM_H), now_ms)
        self.rates = [Fraction(1_000), Fraction(1_000)]  # infuse, withdraw (uL/h)
        self.target: Fraction | None = None  # uL, compared with the counter of the run's direction
        self.poll = "off"
        self.stalled = False  # the prompt shows '*' (PROTOCOL['prompt.*.persists'])
        self.reached = False  # the prompt shows 'T*'
        self.outbox: list[bytes] = []  # unprompted prompts (poll off)

    # --- mechanism -----------------------------------------------------------------------------
    def advance(self, now_ms: int) -> None:
        while self.plunger.advance(now_ms) == "target":
            self.reached = True
            self._announce()

    def _announce(self) -> None:
        if self.poll == "off":
            self.outbox.append(encode_reply(self.address, [], self.prompt().value, xon=False))

    def prompt(self) -> Prompt:
        if self.plunger.moving:
            return Prompt.WITHDRAWING if self.plunger.direction == WITHDRAW else Prompt.INFUSING
        return Prompt.STALLED if self.stalled else Prompt.TARGET if self.reached else Prompt.IDLE

    def inject_stall(self, now_ms: int, on: bool = True) -> None:
        self.advance(now_ms)
        if self.plunger.block(now_ms, on):
            self.stalled = True
            self._announce()

    def set_slip(self, now_ms: int, fraction: Fraction) -> None:
        self.advance(now_ms)
        self.plunger.set_slip(now_ms, fraction)

    def set_runaway(self, now_ms: int, multiple: Fraction | None) -> None:
        self.advance(now_ms)
        if not self.plunger.moving:
            self.plunger.set_rate(self.rates[0])  # a failed-on stage drives at the infuse rate set
        self.plunger.set_runaway(now_ms, multiple)
        self.reached = False

    def power_reset(self, now_ms: int) -> None:
        self.advance(now_ms)
        self.plunger.power_loss(now_ms)
        self.target, self.stalled, self.reached = None, False, False  # PROTOCOL['power.reset']

    def truth(self, now_ms: int) -> Truth:
        self.advance(now_ms)
        return self.plunger.truth(now_ms)

    # --- protocol ------------------------------------------------------------------------------
    def handle(self, line: bytes, now_ms: int) -> bytes | None:
        """Answer one command line (CR removed)."""
        self.advance(now_ms)
        text = "".join(chr(b) for b in line if 0x20 <= b < 0x7F).strip()
        head, sep, rest = text.partition(":")
        address = 0
        if sep and head.isdigit() and len(head) <= 2:
            address, text = int(head), rest.strip()
        if address != self.address:
            return None
        word, _, arg = text.partition(" ")
        lines: list[str] = []
        if word:
            name = lookup(word)
            try:
                if name is None:
                    raise _ErrorReply("Unknown command")
                lines = self._handler(name)(arg.strip().lower())
            except _ErrorReply as exc:
                lines = [str(exc)]
            except ProtocolError:
                lines = ["Argument error"]
        return encode_reply(self.address, lines, self.prompt().value, xon=self.poll != "off")

    def _handler(self, name: str) -> Handler:
        handler: Handler = getattr(self, f"_cmd_{name}")
        return handler

    def _standing(self) -> None:
        if self.plunger.moving:
            raise _ErrorReply("Command error")

    def _rate(self, side: int, arg: str) -> list[str]:
        low, high = self.plunger.rate_range()
        if not arg:
            return [shown_rate(self.rates[side])]
        if arg == "lim":
            return [f"{shown_rate(low)} to {shown_rate(high)}"]
        rate = {"max": high, "min": low}.get(arg)
        if rate is None:
            rate = protocol.parse_quantity(arg, protocol.READ_RATE_UNITS, "rate").value
        if not low <= rate <= high:
            raise _ErrorReply("Out of range")
        self.rates[side] = rate
        direction = WITHDRAW if side else INFUSE
        if self.plunger.direction == direction:
            self.plunger.set_rate(rate)
        return []

    def _cmd_irate(self, arg: str) -> list[str]:
        return self._rate(0, arg)

    def _cmd_wrate(self, arg: str) -> list[str]:
        return self._rate(1, arg)

    def _cmd_tvolume(self, arg: str) -> list[str]:
        if not arg:
            return [protocol.NOT_SET if self.target is None else shown(self.target)]
        volume = protocol.parse_volume(arg).value
        if volume <= 0 or volume > 10**7:
            raise _ErrorReply("Out of range")
        self.target, self.reached = volume, False
        return []

    def _cmd_ctvolume(self, arg: str) -> list[str]:
        self.target, self.reached = None, False
        return []

    def _counter(self, side: int, arg: str) -> list[str]:
        if arg:
            raise _ErrorReply("Argument error")
        return [shown(self.plunger.volume_ul(side))]

    def _cmd_ivolume(self, arg: str) -> list[str]:
        return self._counter(0, arg)

    def _cmd_wvolume(self, arg: str) -> list[str]:
        return self._counter(1, arg)

    def _clear(self, sides: tuple[int, ...]) -> list[str]:
        self._standing()
        for side in sides:
            self.plunger.counter[side] = 0
        self.reached = False
        return []

    def _cmd_civolume(self, arg: str) -> list[str]:
        return self._clear((0,))

    def _cmd_cwvolume(self, arg: str) -> list[str]:
        return self._clear((1,))

    def _cmd_cvolume(self, arg: str) -> list[str]:
        return self._clear((0, 1))

    def _start(self, direction: int) -> list[str]:
        self.stalled = False
        side = 1 if direction == WITHDRAW else 0
        goal = self.target
        self.plunger.set_rate(self.rates[side])
        per = self.plunger.ul_per_step
        self.plunger.target = None if goal is None else max(0, int(goal / per) - self.plunger.counter[side])
        self.reached = False
        if not self.plunger.start(direction, new_run=True):
            self.stalled = True
        self.advance(self.plunger.t_ms)  # a target already met stops at once
        return []

    def _cmd_irun(self, arg: str) -> list[str]:
        return self._start(INFUSE)

    def _cmd_wrun(self, arg: str) -> list[str]:
        return self._start(WITHDRAW)

    def _cmd_run(self, arg: str) -> list[str]:
        return self._start(WITHDRAW if self.plunger.direction == WITHDRAW else INFUSE)

    def _cmd_rrun(self, arg: str) -> list[str]:
        return self._start(INFUSE if self.plunger.direction == WITHDRAW else WITHDRAW)

    def _cmd_stop(self, arg: str) -> list[str]:
        self.plunger.stop()
        self.stalled = False
        return []

    def _cmd_diameter(self, arg: str) -> list[str]:
        if not arg:
            return [f"{protocol.format_down(self.plunger.diameter, 'diameter')[0]} mm"]
        self._standing()
        number = arg.removesuffix("mm").strip()
        value = protocol.parse_quantity(f"{number} mm", {"mm": Fraction(1)}, "diameter").value
        if not DIAMETER_MM[0] <= value <= DIAMETER_MM[1]:
            raise _ErrorReply("Out of range")
        self.plunger.diameter = value
        return []

    def _cmd_ver(self, arg: str) -> list[str]:
        return [VERSION]

    def _cmd_metrics(self, arg: str) -> list[str]:
        return ["Pump type          Pump 11", f"Pump type string   {VERSION[:-6]}",
                f"Min syringe size   {float(DIAMETER_MM[0])} mm", f"Max syringe size   {float(DIAMETER_MM[1])} mm",
                "Direction          Infuse/withdraw"]

    def _cmd_poll(self, arg: str) -> list[str]:
        if not arg:
            return [self.poll.capitalize()]
        if arg not in ("on", "off", "remote"):
            raise _ErrorReply("Argument error")
        self.poll = arg
        return []

    def _cmd_status(self, arg: str) -> list[str]:
        p = self.plunger
        side = 1 if p.direction == WITHDRAW else 0
        fl_s = int(p.rate * 10**9 / 3_600) if p.moving else 0
        flags = ("w" if side else "i") + "." + ("S" if self.stalled else ".") + "." + ("W" if side else "I")
        return [f"{fl_s} 0 {int(p.volume_ul(side) * 10**9)} {flags}"]


def shown_rate(rate_ul_h: Fraction) -> str:
    unit = "ul/min" if rate_ul_h < 60_000 else "ml/min"
    return f"{protocol.format_down(rate_ul_h / protocol.RATE_UNITS[unit], 'rate')[0]} {unit}"
