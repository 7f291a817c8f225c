"""A simulated NE-1000 pump: the mechanism and the command interpreter, without any I/O.

Theory of operation
-------------------
``NE1000Firmware`` is what sits behind the emulator's pseudo-terminal. It is driven by two calls:
``handle(payload, now_ms, safe)`` answers one received packet (or returns None when the
packet is for another address), and ``advance(now_ms)`` moves the mechanism to ``now_ms``.
Time is whatever clock the caller uses (the tests share a ``SimClock`` with the shell), and
the motion is exact: the plunger moves in whole steps of ``STEP_MM``; a volume per step
follows from the syringe diameter; ``advance`` finds the exact millisecond at which the
volume target is reached or the safe-mode timer runs out, and stops the motor there. So a
run is deterministic whatever thread calls ``advance`` and however often.

Faults the emulator injects land here: ``stall`` blocks forward motion (a downstream
occlusion: the pump stops and raises alarm S), ``power_reset`` stops the motor, clears the
volume counters and raises alarm R. ``truth`` reports what the plunger really moved, which
no counter clear or reset can hide; the tests hold the controller to it.

Rules
1. The protocol facts come from ``ne1000_protocol`` (the table); mechanism constants below
   are emulator assumptions, listed in ``MECHANISM`` and in docs/hardware.md.
2. A command whose reply carries an alarm is not executed and acknowledges the alarm;
   an auto-alarm (safe mode) does not acknowledge it (``PROTOCOL['alarm.ack']``).
3. The motor never passes its volume target; the target is counted from RUN.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from controller.drivers.ne1000 import protocol as P
from controller.drivers.ne1000.protocol import Alarm, CommandError, Prompt, ProtocolError

PI = Fraction(355, 113)  # good to 8.5e-8: the emulator's circle
STEP_MM = Fraction(1, 4_000)  # plunger travel per motor step (0.25 um)
MIN_SPEED_MM_H = Fraction(407, 10_000)  # 0.73 uL/h on a 4.78 mm (1 mL) syringe
MAX_SPEED_MM_H = Fraction(3_782)  # 2100 mL/h on a 26.59 mm (60 mL) syringe
DIAMETER_MM = (Fraction(1, 10), Fraction(50))
VERSION = "NE1000V3.928"
MS_PER_H = 3_600_000
MECHANISM = {
    "STEP_MM": "0.25 um of plunger travel per step (emulator assumption)",
    "MIN_SPEED_MM_H": "0.0407 mm/h, from a recalled spec of 0.73 uL/h on a 1 mL syringe (assumption)",
    "MAX_SPEED_MM_H": "3782 mm/h, from a recalled spec of 2100 mL/h on a 60 mL syringe (assumption)",
    "DIAMETER_MM": "0.1 to 50.0 mm accepted by DIA (assumption)",
    "VERSION": "reply to VER (format assumed)",
}
COMMANDS = ("DIA", "RAT", "VOL", "DIR", "RUN", "STP", "PUR", "DIS", "CLD", "VER", "SAF")


@dataclass(frozen=True, slots=True)
class Truth:
    infused_ul: Fraction  # what the plunger pushed since power-on of the emulator (never reset)
    withdrawn_ul: Fraction
    moving: bool


class NE1000Firmware:
    def __init__(self, address: int = 0, diameter_mm: Fraction = Fraction("26.59"), now_ms: int = 0) -> None:
        if not 0 <= address <= P.MAX_ADDRESS:
            raise ProtocolError("address", address, f"0 to {P.MAX_ADDRESS}")
        if not DIAMETER_MM[0] <= diameter_mm <= DIAMETER_MM[1]:
            raise ProtocolError("diameter_mm", float(diameter_mm), "0.1 to 50.0 mm")
        self.address = address
        self.diameter = diameter_mm
        self.rate = Fraction(1_000)  # uL/h
        self.rate_text, self.rate_unit = "1.000", "MH"
        self.target = Fraction(0)  # in vol_unit; 0 = continuous
        self.vol_unit = P.default_volume_unit(diameter_mm)
        self.direction = "INF"
        self.prompt = Prompt.STOPPED
        self.alarm: Alarm | None = Alarm.RESET  # a pump reports its power-up as a reset
        self.saf_s = 0
        self.armed = False
        self.last_valid_ms = now_ms
        self.stall = False
        self.slip = Fraction(1)  # fraction of the set speed the plunger really makes (1 = healthy)
        self.outbox: list[bytes] = []  # auto-alarm payloads waiting to be sent (safe mode)
        self.t_ms = now_ms
        self._seg_start, self._seg_steps, self._run_steps = now_ms, 0, 0
        self.counter = [0, 0]  # displayed infused / withdrawn steps (CLD, power loss clear them)
        self.true = [0, 0]  # what the plunger really did

    # --- mechanism -----------------------------------------------------------------------------
    @property
    def ul_per_step(self) -> Fraction:
        return PI * self.diameter * self.diameter / 4 * STEP_MM

    def rate_range(self) -> tuple[Fraction, Fraction]:
        area = PI * self.diameter * self.diameter / 4
        return MIN_SPEED_MM_H * area, MAX_SPEED_MM_H * area

    def _steps_per_ms(self) -> Fraction:
        rate = self.rate_range()[1] if self.prompt is Prompt.PURGING else self.rate
        return rate * self.slip / MS_PER_H / self.ul_per_step

    def _target_steps(self) -> int:
        if self.prompt is Prompt.PURGING or self.target == 0:
            return -1
        return int(self.target * P.VOLUME_UNITS[self.vol_unit] / self.ul_per_step)

    def _move_to(self, t: int, cap: int | None = None) -> None:
        if self.prompt in P.MOVING:
            total = int(self._steps_per_ms() * (t - self._seg_start))
            new = total - self._seg_steps if cap is None else min(total - self._seg_steps, cap)
            self._seg_steps += new
            self._run_steps += new
            side = 1 if self.prompt is Prompt.WITHDRAWING else 0
            self.counter[side] += new
            self.true[side] += new
        self.t_ms = max(self.t_ms, t)

    def _new_segment(self) -> None:
        self._seg_start, self._seg_steps = self.t_ms, 0  # speed changes: count steps afresh from now

    def _raise(self, alarm: Alarm, auto: bool = True) -> None:
        """Stop with an alarm; in safe mode also send it at once (``auto``) unless the reply
        to the command being handled will carry it."""
        self.prompt = Prompt.STOPPED
        self.alarm = alarm
        if auto and self.saf_s > 0:
            self.outbox.append(self._status_payload())

    def advance(self, now_ms: int) -> None:
        """Move to ``now_ms``, stopping exactly at the volume target or the safe-mode time-out."""
        while True:
            events: list[tuple[int, str]] = []
            if self.armed and self.saf_s > 0:
                events.append((self.last_valid_ms + self.saf_s * 1_000, "timeout"))
            goal = self._target_steps()
            if self.prompt in P.MOVING and goal >= 0:
                need = self._seg_steps + max(0, goal - self._run_steps)
                sps = self._steps_per_ms()
                events.append((self._seg_start + -(-need // sps) if sps > 0 else now_ms + 1, "target"))
            due = [(max(t, self.t_ms), kind) for t, kind in events if t <= now_ms]
            if not due:
                self._move_to(now_ms)
                return
            t, kind = min(due)
            if kind == "target":
                self._move_to(t, cap=max(0, goal - self._run_steps))
                self.prompt = Prompt.STOPPED
            else:
                self._move_to(t)
                self.armed = False
                self._raise(Alarm.SAFE_TIMEOUT)

    def inject_stall(self, now_ms: int, on: bool = True) -> None:
        self.advance(now_ms)
        self.stall = on
        if on and self.prompt in (Prompt.INFUSING, Prompt.PURGING):
            self._raise(Alarm.STALL)

    def set_slip(self, now_ms: int, fraction: Fraction) -> None:
        """A worn drive: the plunger makes only ``fraction`` of the set speed, and the counter,
        which counts real steps, shows it (the shell's cross-check must catch this)."""
        self.advance(now_ms)
        self.slip = fraction
        self._new_segment()

    def power_reset(self, now_ms: int) -> None:
        self.advance(now_ms)
        self.prompt = Prompt.STOPPED
        self.counter = [0, 0]
        self._run_steps = 0
        self.armed = False
        self.outbox.clear()
        self._raise(Alarm.RESET)

    def truth(self, now_ms: int) -> Truth:
        self.advance(now_ms)
        return Truth(self.true[0] * self.ul_per_step, self.true[1] * self.ul_per_step, self.prompt in P.MOVING)

    # --- protocol ------------------------------------------------------------------------------
    def _status_payload(self, data: str = "") -> bytes:
        status = f"A?{self.alarm.value}" if self.alarm is not None else self.prompt.value
        return f"{self.address:02d}{status}{data}".encode("ascii")

    def com_error(self) -> bytes:
        """The reply to a safe-mode packet that failed its CRC or framing."""
        return self._status_payload("?" + CommandError.COMMUNICATION.value)

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
            return P.format_down(self.diameter, "DIA")[0]
        d = P.parse_number(arg, "DIA").value
        if not self._stopped():
            return "?NA"
        if not DIAMETER_MM[0] <= d <= DIAMETER_MM[1]:
            return "?OOR"
        self.diameter, self.vol_unit = d, P.default_volume_unit(d)
        return ""

    def _cmd_rat(self, arg: str) -> str:
        if not arg:
            return self.rate_text + self.rate_unit
        unit = arg[-2:] if arg[-2:] in P.RATE_UNITS else self.rate_unit
        number = arg[:-2] if arg[-2:] in P.RATE_UNITS else arg
        value = P.parse_number(number, "RAT").value
        rate = value * P.RATE_UNITS[unit]
        low, high = self.rate_range()
        if not low <= rate <= high:
            return "?OOR"
        if not self._stopped() and unit != self.rate_unit:
            return "?NA"
        self._move_to(self.t_ms)
        self.rate, self.rate_text, self.rate_unit = rate, number, unit
        self._new_segment()
        return ""

    def _cmd_vol(self, arg: str) -> str:
        if not arg:
            return P.format_down(self.target, "VOL")[0] + self.vol_unit
        if not self._stopped():
            return "?NA"
        if arg in P.VOLUME_UNITS:
            self.vol_unit = arg
        else:
            self.target = P.parse_number(arg, "VOL").value
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
            self._new_segment()
        return ""

    def _start(self, prompt: Prompt) -> None:
        if self.prompt is Prompt.STOPPED:
            self._run_steps = 0
        self.prompt = prompt
        self._new_segment()
        if self.stall and prompt is not Prompt.WITHDRAWING:
            self._raise(Alarm.STALL, auto=False)

    def _cmd_run(self, arg: str) -> str:
        if arg:
            return "?NA"
        if self._stopped():
            self._start(Prompt.INFUSING if self.direction == "INF" else Prompt.WITHDRAWING)
            self.advance(self.t_ms)  # a target already met stops at once
        return ""

    def _cmd_pur(self, arg: str) -> str:
        if arg or not self._stopped():
            return "?NA"
        self._start(Prompt.PURGING)
        return ""

    def _cmd_stp(self, arg: str) -> str:
        if arg:
            return "?NA"
        moving = self.prompt in (Prompt.INFUSING, Prompt.WITHDRAWING)
        self.prompt = Prompt.PAUSED if moving else Prompt.STOPPED
        return ""

    def _cmd_dis(self, arg: str) -> str:
        if arg:
            return "?NA"
        per = self.ul_per_step / P.VOLUME_UNITS[self.vol_unit]
        inf = P.format_down(min(self.counter[0] * per, Fraction(9_999)), "DIS")[0]
        wdr = P.format_down(min(self.counter[1] * per, Fraction(9_999)), "DIS")[0]
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
        if not arg.isdigit() or int(arg) > P.SAF_MAX_S:
            return "?OOR"
        self.saf_s, self.armed = int(arg), False
        return ""
