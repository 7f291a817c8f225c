"""A simulated NE-1000 pump: the command interpreter on an exact plunger, without any I/O.

Theory of operation
-------------------
``NE1000Firmware`` is what sits behind the emulator's pseudo-terminal. It is driven by two calls:
``handle(payload, now_ms, safe)`` answers one received packet (or returns None when the
packet is for another address), and ``advance(now_ms)`` moves the mechanism to ``now_ms``.
Time is whatever clock the caller uses (the tests share a ``SimClock`` with the shell). The
mechanism is ``syringe.Plunger`` (whole motor steps, exact stop times); this module adds the
NE-1000's prompts, alarms, volume units and the safe-mode timer, which ``advance`` hands to the
plunger as its deadline, so the motor stops at the exact millisecond the timer runs out.

Faults the emulator injects land here: ``stall`` blocks forward motion (a downstream
occlusion: the pump stops and raises alarm S), ``power_reset`` stops the motor, clears the
volume counters and raises alarm R, ``slip`` and ``runaway`` act on the plunger. ``truth``
reports what the plunger really moved, which no counter clear or reset can hide; the tests hold
the controller to it.

Rules
1. The protocol facts come from ``protocol`` (the table); mechanism constants below are emulator
   assumptions, listed in ``MECHANISM`` and in docs/hardware.md.
2. A command whose reply carries an alarm is not executed and acknowledges the alarm;
   an auto-alarm (safe mode) does not acknowledge it (``PROTOCOL['alarm.ack']``).
3. The motor never passes its volume target; the target is counted from RUN.
"""

from __future__ import annotations

from fractions import Fraction

from controller.drivers import syringe
from controller.drivers.errors import ProtocolError
from controller.drivers.ne1000 import protocol
from controller.drivers.ne1000.protocol import Alarm, ErrorCode, Prompt
from controller.drivers.syringe import INFUSE, WITHDRAW, Plunger, Truth

MIN_SPEED_MM_H = Fraction(407, 10_000)  # 0.73 uL/h on a 4.78 mm (1 mL) syringe
MAX_SPEED_MM_H = Fraction(3_782)  # 2100 mL/h on a 26.59 mm (60 mL) syringe
DIAMETER_MM = (Fraction(1, 10), Fraction(50))
VERSION = "NE1000V3.928"
MECHANISM = {
    **syringe.MECHANISM,
    "MIN_SPEED_MM_H": "0.0407 mm/h, from a recalled spec of 0.73 uL/h on a 1 mL syringe (assumption)",
    "MAX_SPEED_MM_H": "3782 mm/h, from a recalled spec of 2100 mL/h on a 60 mL syringe (assumption)",
    "DIAMETER_MM": "0.1 to 50.0 mm accepted by DIA (assumption)",
    "VERSION": "reply to VER (format assumed)",
}
COMMANDS = ("DIA", "RAT", "VOL", "DIR", "RUN", "STP", "PUR", "DIS", "CLD", "VER", "SAF")
__all__ = ["NE1000Firmware", "Truth"]


class NE1000Firmware:
    def __init__(self, address: int = 0, diameter_mm: Fraction = Fraction("26.59"), now_ms: int = 0) -> None:
        if not 0 <= address <= protocol.MAX_ADDRESS:
            raise ProtocolError("address", address, f"0 to {protocol.MAX_ADDRESS}")
        if not DIAMETER_MM[0] <= diameter_mm <= DIAMETER_MM[1]:
            raise ProtocolError("diameter_mm", float(diameter_mm), "0.1 to 50.0 mm")
        self.address = address
        self.plunger = Plunger(diameter_mm, (MIN_SPEED_MM_H, MAX_SPEED_MM_H), now_ms)
        self.rate_text, self.rate_unit = "1.000", "MH"
        self.target = Fraction(0)  # in vol_unit; 0 = continuous
        self.vol_unit = protocol.default_volume_unit(diameter_mm)
        self.direction = "INF"
        self.prompt = Prompt.STOPPED
        self.alarm: Alarm | None = Alarm.RESET  # a pump reports its power-up as a reset
        self.saf_s = 0
        self.armed = False
        self.last_valid_ms = now_ms
        self.outbox: list[bytes] = []  # auto-alarm payloads waiting to be sent (safe mode)

    # --- mechanism -----------------------------------------------------------------------------
    @property
    def diameter(self) -> Fraction:
        return self.plunger.diameter

    @property
    def ul_per_step(self) -> Fraction:
        return self.plunger.ul_per_step

    @property
    def counter(self) -> list[int]:
        return self.plunger.counter

    def _raise(self, alarm: Alarm, auto: bool = True) -> None:
        """Stop with an alarm; in safe mode also send it at once (``auto``) unless the reply
        to the command being handled will carry it."""
        self.plunger.stop()
        self.prompt = Prompt.STOPPED
        self.alarm = alarm
        if auto and self.saf_s > 0:
            self.outbox.append(self._status_payload())

    def advance(self, now_ms: int) -> None:
        """Move to ``now_ms``, stopping exactly at the volume target or the safe-mode time-out."""
        while True:
            deadline = self.last_valid_ms + self.saf_s * 1_000 if self.armed and self.saf_s > 0 else None
            what = self.plunger.advance(now_ms, deadline)
            if what is None:
                break
            if what == "deadline":
                self.armed = False
                self._raise(Alarm.SAFE_TIMEOUT)
        self._sync()

    def _sync(self) -> None:
        """The prompt follows the plunger: it stopped at its target, or a runaway started it."""
        if not self.plunger.moving and self.prompt in protocol.MOVING:
            self.prompt = Prompt.STOPPED
        elif self.plunger.moving and self.prompt not in protocol.MOVING:
            self.prompt = Prompt.INFUSING

    def inject_stall(self, now_ms: int, on: bool = True) -> None:
        self.advance(now_ms)
        if self.plunger.block(now_ms, on):
            self._raise(Alarm.STALL)

    def set_slip(self, now_ms: int, fraction: Fraction) -> None:
        self.advance(now_ms)
        self.plunger.set_slip(now_ms, fraction)

    def set_runaway(self, now_ms: int, multiple: Fraction | None) -> None:
        self.advance(now_ms)
        self.plunger.set_runaway(now_ms, multiple)
        self._sync()

    def power_reset(self, now_ms: int) -> None:
        self.advance(now_ms)
        self.plunger.power_loss(now_ms)
        self.prompt = Prompt.STOPPED
        self.armed = False
        self.outbox.clear()
        self._raise(Alarm.RESET)

    def truth(self, now_ms: int) -> Truth:
        self.advance(now_ms)
        return self.plunger.truth(now_ms)

    # --- protocol ------------------------------------------------------------------------------
    def _status_payload(self, data: str = "") -> bytes:
        status = f"A?{self.alarm.value}" if self.alarm is not None else self.prompt.value
        return f"{self.address:02d}{status}{data}".encode("ascii")

    def com_error(self) -> bytes:
        """The reply to a safe-mode packet that failed its CRC or framing."""
        return self._status_payload("?" + ErrorCode.COMMUNICATION.value)

    def handle(self, payload: bytes, now_ms: int, safe: bool) -> bytes | None:
        """Answer one received packet (already unframed)."""
        self.advance(now_ms)
        if safe:
            self.last_valid_ms, self.armed = now_ms, self.saf_s > 0
        text = "".join(chr(b) for b in payload if 0x20 < b < 0x7F).upper()
        digits = len(text) - len(text.lstrip("0123456789"))
        if text.startswith("*"):
            text = text[1:]
        elif digits:
            if digits > 2 or int(text[:digits]) != self.address:
                return None
            text = text[digits:]
        if self.alarm is not None:  # rule 2
            reply = self._status_payload()
            self.alarm = None
            return reply
        name = next((c for c in COMMANDS if text.startswith(c)), None)
        if name is None:
            return self._status_payload("" if not text else "?")
        try:
            data = getattr(self, f"_cmd_{name.lower()}")(text[len(name):])
        except ProtocolError:
            data = "?OOR"
        reply = self._status_payload(data)
        self.alarm = None  # an alarm raised by this command is reported (and so acknowledged) here
        return reply

    def _stopped(self) -> bool:
        return self.prompt in (Prompt.STOPPED, Prompt.PAUSED)

    def _cmd_dia(self, arg: str) -> str:
        if not arg:
            return protocol.format_down(self.diameter, "DIA")[0]
        d = protocol.parse_number(arg, "DIA").value
        if not self._stopped():
            return "?NA"
        if not DIAMETER_MM[0] <= d <= DIAMETER_MM[1]:
            return "?OOR"
        self.plunger.diameter, self.vol_unit = d, protocol.default_volume_unit(d)
        return ""

    def _cmd_rat(self, arg: str) -> str:
        if not arg:
            return self.rate_text + self.rate_unit
        unit = arg[-2:] if arg[-2:] in protocol.RATE_UNITS else self.rate_unit
        number = arg[:-2] if arg[-2:] in protocol.RATE_UNITS else arg
        value = protocol.parse_number(number, "RAT").value
        rate = value * protocol.RATE_UNITS[unit]
        low, high = self.plunger.rate_range()
        if not low <= rate <= high:
            return "?OOR"
        if not self._stopped() and unit != self.rate_unit:
            return "?NA"
        self.plunger.set_rate(rate)
        self.rate_text, self.rate_unit = number, unit
        return ""

    def _cmd_vol(self, arg: str) -> str:
        if not arg:
            return protocol.format_down(self.target, "VOL")[0] + self.vol_unit
        if not self._stopped():
            return "?NA"
        if arg in protocol.VOLUME_UNITS:
            self.vol_unit = arg
        else:
            self.target = protocol.parse_number(arg, "VOL").value
        return ""

    def _cmd_dir(self, arg: str) -> str:
        if not arg:
            return self.direction
        if arg not in ("INF", "WDR", "REV"):
            return "?NA" if arg == "STK" else "?OOR"
        if not self._stopped() and self.target != 0:
            return "?NA"
        self.direction = {"REV": "WDR" if self.direction == "INF" else "INF"}.get(arg, arg)
        if self.prompt in (Prompt.INFUSING, Prompt.WITHDRAWING):
            self.prompt = Prompt.INFUSING if self.direction == "INF" else Prompt.WITHDRAWING
            self._start(self.prompt, new_run=False)
        return ""

    def _start(self, prompt: Prompt, new_run: bool) -> None:
        per = protocol.VOLUME_UNITS[self.vol_unit]
        self.plunger.target = int(self.target * per / self.ul_per_step) if self.target else None
        self.prompt = prompt
        direction = WITHDRAW if prompt is Prompt.WITHDRAWING else INFUSE
        if not self.plunger.start(direction, new_run=new_run, full_speed=prompt is Prompt.PURGING):
            self._raise(Alarm.STALL, auto=False)

    def _cmd_run(self, arg: str) -> str:
        if arg:
            return "?NA"
        if self._stopped():
            self._start(Prompt.INFUSING if self.direction == "INF" else Prompt.WITHDRAWING,
                        new_run=self.prompt is Prompt.STOPPED)
            self.advance(self.plunger.t_ms)  # a target already met stops at once
        return ""

    def _cmd_pur(self, arg: str) -> str:
        if arg or not self._stopped():
            return "?NA"
        self._start(Prompt.PURGING, new_run=True)
        return ""

    def _cmd_stp(self, arg: str) -> str:
        if arg:
            return "?NA"
        moving = self.prompt in (Prompt.INFUSING, Prompt.WITHDRAWING)
        self.prompt = Prompt.PAUSED if moving else Prompt.STOPPED
        self.plunger.stop()
        return ""

    def _cmd_dis(self, arg: str) -> str:
        if arg:
            return "?NA"
        per = self.ul_per_step / protocol.VOLUME_UNITS[self.vol_unit]
        inf = protocol.format_down(min(self.counter[0] * per, Fraction(9_999)), "DIS")[0]
        wdr = protocol.format_down(min(self.counter[1] * per, Fraction(9_999)), "DIS")[0]
        return f"I{inf}W{wdr}{self.vol_unit}"

    def _cmd_cld(self, arg: str) -> str:
        if arg not in ("INF", "WDR"):
            return "?OOR"
        self.counter[0 if arg == "INF" else 1] = 0
        return ""

    def _cmd_ver(self, arg: str) -> str:
        return "?NA" if arg else VERSION

    def _cmd_saf(self, arg: str) -> str:
        if not arg:
            return str(self.saf_s)
        if not arg.isdigit() or int(arg) > protocol.SAF_MAX_S:
            return "?OOR"
        self.saf_s, self.armed = int(arg), False
        return ""
