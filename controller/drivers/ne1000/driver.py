"""Driver for a New Era NE-1000-family syringe pump on RS-232 (``PumpDriver``, over pyserial).

Theory of operation
-------------------
``open`` brings the pump to a known state: back to basic mode with the manual's SAF0
packet, firmware query (VER), stopped, syringe diameter (DIA), volume units, infuse
direction, both volume counters cleared (CLD), then safe mode (``SAF n``) unless
``safe_timeout_s`` is 0. In safe mode every packet carries a CRC and the pump stops itself
when it hears no valid packet for n seconds, so a dead controller, a crashed process or a
pulled cable stops the motor without any help from this side.

``SetFlow(rate, cap)`` becomes a *leg*: STP (until the pump says S), DIS (where the plunger
is), then DIR INF, RAT, VOL, each written and read back, and RUN. VOL is the volume left to
``cap``, computed from the *upper* bound of the DIS reading and rounded down, so the pump
stops by itself at or before the cap even if this process dies. When VOL would be 0 the pump
is not started (VOL 0 means "pump for ever"). A target too large for the wire is done in
several legs. ``StopMotor`` is STP until S.

``poll`` sends one query per control period, DIS and a bare status query in turn (their
replies differ in shape, so a reply that comes a period late is refused instead of being taken
for the current one). DIS keeps the odometer (``measured_vu``: the infused counter, never
decreasing) and starts the next leg when one ends; both turn what the pump reports into core
events:

- alarm S (stall: the plunger cannot advance) -> ``occlusion`` at the downstream site; the
  ``occlusion_clear`` follows once the pump is free again (after the pressure relief), and
  the core's latching alarm still needs a clinician's acknowledge before any restart;
- alarm R (reset / power loss), T (safe-mode time-out), E, O, an unexpected stop, motion
  nobody asked for -> ``motor_fault`` (delivery can no longer be trusted);
- no poll answered at its first send for ``comm_loss_ms`` (lost, garbled, late or
  implausible replies), or a dead port -> ``watchdog``, with a best-effort STP.

``relieve`` backs the plunger off after a downstream occlusion (REQ-OCC-004): a one-shot
withdraw of at most ``relief_ul`` (and at most the core's ``max_vu``) that the pump itself
stops at its VOL target. PUR (purge) is never sent: it has no volume target.

The split-phase life (request, poll, comm loss, events) is ``serial_driver.SerialPumpDriver``'s.

Rules
1. Nothing sent to the pump can make it pass the core's cap: rates and volumes round down,
   the start position is the odometer's upper bound read while the plunger stands, every
   setting is read back before RUN, VOL is never 0 with RUN, and RUN is never retried
   blindly (a lost RUN reply is resolved by reading the pump's status).
2. Every wait is bounded (``link``): request and poll block at most
   ``(retries + 1) x 2 x reply_timeout`` per command.
3. A reading that goes backwards or jumps faster than the commanded rate is not believed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from fractions import Fraction

from controller.core.commands import SetFlow
from controller.core.events import ev
from controller.core.units import VU_PER_UL
from controller.drivers.base import ACCEPTED, Reply
from controller.drivers.errors import AlarmRaised, DeviceRefused, Disconnected, LinkFault, ReplyError
from controller.drivers.ne1000 import framing, protocol
from controller.drivers.ne1000.config import Leg, NE1000Config, same_setting
from controller.drivers.ne1000.link import Link, ProtocolMode, SerialPort, run_reply, stp_reply
from controller.drivers.ne1000.protocol import Alarm, Prompt, PumpReply
from controller.drivers.serial_driver import SerialPumpDriver

__all__ = ["NE1000Config", "NE1000Driver"]
COUNTER_MAX = Fraction(9_999)  # the largest <float> the DIS counter and VOL can show


class NE1000Driver(SerialPumpDriver):
    def __init__(self, config: NE1000Config, port: SerialPort | None = None) -> None:
        super().__init__(config.comm_loss_ms)
        self.cfg = config
        self._given_port = port
        self.link: Link | None = None
        self.unit = protocol.default_volume_unit(config.diameter)
        self._alarm: Alarm | None = None  # the alarm instance being reported (dedupe)

    # --- life cycle ----------------------------------------------------------------------------
    def open(self, now_ms: int = 0) -> NE1000Driver:
        port = self._given_port
        if port is None:
            import serial  # the optional 'hardware' extra

            port = serial.Serial(self.cfg.port, baudrate=self.cfg.baudrate, timeout=0.005, write_timeout=1.0)
        self.link = Link(port, self.cfg.address, self.cfg.reply_timeout_ms, self.cfg.retries, self._on_alarm)
        self.now_ms = self.last_ok_ms = now_ms
        self._opening = True
        try:
            saf0 = framing.encode_safe(b"SAF0")  # PROTOCOL['safe.saf0_packet']; twice: the first may only
            self.link.write(saf0 + saf0 + bytes([protocol.CR]))  # acknowledge an alarm; CR flushes basic mode
            self._settle()
            self.version = self.link.command("VER", lambda r: None if r.data else "VER without text").data
            self._stop_fully()
            self._set("DIA", protocol.format_down(self.cfg.diameter, "diameter_mm")[0])
            self._set_units()
            self._set("DIR", "INF")
            self.link.command("CLD INF")
            self.link.command("CLD WDR")
            if self.cfg.safe_timeout_s:
                saf = framing.command_data(self.cfg.address, f"SAF{self.cfg.safe_timeout_s}")
                self.link.write(framing.encode_basic_command(saf))
                self._settle()
                self.link.set_mode(ProtocolMode.SAFE)
            reading = protocol.parse_dispensed(self.link.command("DIS", self._check_dis).data)
            if reading.infused.value or reading.withdrawn.value:
                raise LinkFault("CLD", f"counters not cleared: {reading}")
        finally:
            self._opening = False
        self._alarm = None
        return self

    def _settle(self) -> None:
        """Wait one reply time and forget whatever came (the answer to a mode switch)."""
        assert self.link is not None
        time.sleep(self.link.timeout_s)
        self.link.drain()

    def _set_units(self) -> None:
        assert self.link is not None
        self.link.command(f"VOL {self.unit}")
        self.link.command("VOL", lambda r: None if r.data.endswith(self.unit) else f"VOL units {r.data!r}")

    def close(self) -> None:
        stopped = self._stop_quietly()
        if self.link is not None:
            if stopped and self.link.mode is ProtocolMode.SAFE:  # the pump is stopped: no need for its watchdog
                with contextlib.suppress(LinkFault):
                    self.link.write(framing.encode_safe(framing.command_data(self.cfg.address, "SAF0")))
            self.link.close()

    # --- SerialPumpDriver hooks ------------------------------------------------------------------
    def _connected(self) -> bool:
        return self.link is not None and self.link.port is not None

    def _accepted_anyway(self, fault: LinkFault) -> bool:
        return isinstance(fault, AlarmRaised) and fault.alarm is Alarm.STALL

    def _reported(self, fault: LinkFault) -> bool:
        return isinstance(fault, AlarmRaised)  # its event is already queued (_on_alarm)

    def _poll_query(self, reading: bool) -> bool:
        """DIS and a bare status query in turn (their replies differ in shape, so a reply that
        comes a period late is refused instead of being taken for the current one)."""
        assert self.link is not None
        reply = self.link.command("DIS", self._check_dis) if reading else self.link.command("")
        self._alarm = None  # an answer without alarm: the pump's alarm, if any, is over
        clean = self.link.clean
        if reading:
            self._accept_dis(reply)
        self._carry_on(lambda: self._follow(reply, reading))
        return clean

    def relieve(self, max_vu: int) -> Reply:
        """Back off at most min(max_vu, relief_ul) by a withdraw the pump stops by itself."""
        volume = Fraction(min(max_vu, self.cfg.relief_ul * VU_PER_UL), VU_PER_UL) / protocol.VOLUME_UNITS[self.unit]
        text, value = protocol.format_down(min(volume, Fraction(9_999)), "relief")
        if value == 0 or self.link is None or self.lost:
            return Reply(False, "device_error", "pressure relief disabled or not possible now")
        try:
            self._stop_fully()
            self._set("DIR", "WDR")
            self._set_rate(self.cfg.relief_rate_ul_h)
            self._set("VOL", text, text + self.unit)
            self.link.command("RUN", run_reply, resend_after_alarm=False, retries=0)
        except LinkFault as fault:
            self._stop_quietly()
            return Reply(False, fault.reason, fault.detail)
        self._relieving = True
        return ACCEPTED

    # --- legs ------------------------------------------------------------------------------------
    def _stop_fully(self, retries: int | None = None) -> None:
        assert self.link is not None
        self._leg, self._relieving = None, False
        for _ in range(3):  # STP pauses a running pump; a second STP stops it (PROTOCOL['cmd.STP.pause'])
            reply = self.link.command("STP", stp_reply, retries=retries)
            if reply.prompt is Prompt.STOPPED:
                return
        raise LinkFault("STP", "the pump does not report stopped after three STP")

    def _set(self, name: str, value: str, readback: str | None = None) -> None:
        """Write ``name value`` and read it back (rule 1: a late reply to an earlier command
        must not pass for this one). Cached while nothing went wrong."""
        assert self.link is not None
        want = readback if readback is not None else value
        if self._verified.get(name) == want:
            return
        self._verified.pop(name, None)
        self.link.command(f"{name} {value}")
        self.link.command(name, lambda r: None if same_setting(r.data, want) else f"{name} reads {r.data!r}")
        self._verified[name] = want

    def _set_rate(self, rate_ul_h: int) -> Fraction:
        text, unit, exact = protocol.best_rate(rate_ul_h)
        self._set("RAT", f"{text} {unit}", text + unit)
        return exact

    def _start_leg(self) -> None:
        assert self.link is not None and isinstance(self._cmd, SetFlow)
        self._stop_fully()
        base = self._reading(self._check_dis_stopped)
        per = protocol.VOLUME_UNITS[self.unit]
        remaining = self._remaining_ul() / per
        if remaining <= 0:
            return
        if base.infused.value and base.infused.value + remaining > COUNTER_MAX:  # Odometer rule 3
            self.link.command("CLD INF")
            zero = self._reading(self._check_cleared)
            self.odo.rebase(base)
            base = zero
        text, value = protocol.format_down(min(remaining, COUNTER_MAX - base.infused.value), "VOL")
        if value == 0:  # rule 1: VOL 0 would pump for ever
            return
        self._set("DIR", "INF")
        rate = self._set_rate(self._cmd.rate)
        self._set("VOL", text, text + self.unit)
        self.odo.max_rate = max(self.odo.max_rate, rate)
        try:
            self.link.command("RUN", run_reply, resend_after_alarm=False, retries=0)
        except LinkFault as fault:
            if isinstance(fault, (Disconnected, AlarmRaised, DeviceRefused)):
                raise
            status = self.link.command("")  # rule 1: did the RUN happen? ask, do not resend
            if status.prompt is not Prompt.INFUSING:
                raise
        self._leg = Leg(self.odo.low, value * per, rate)

    def _reading(self, check: Callable[[PumpReply], str | None]) -> protocol.Dispensed:
        assert self.link is not None
        reply = self.link.command("DIS", check)
        self._accept_dis(reply)
        return protocol.parse_dispensed(reply.data)

    def _follow(self, reply: PumpReply, dis: bool) -> None:
        """What the pump's status means for the leg under way (``dis``: with a fresh reading)."""
        prompt = reply.prompt
        if self._relieving:
            if prompt is Prompt.WITHDRAWING:
                return
            self._relieving = False
        if self._leg is not None:
            if prompt is Prompt.INFUSING or not dis:  # a stop is judged with a reading
                return
            if prompt in (Prompt.STOPPED, Prompt.PAUSED) and self._leg.done(self.odo.high):
                self._next_leg()
                return
            self._leg = None
            self._fault(f"pump stopped early or moved wrongly ({prompt}) during a leg")
        elif reply.moving or prompt in (Prompt.PAUSE_PHASE, Prompt.USER_WAIT):
            self._stray_motion(str(prompt))
        self._maybe_clear_occlusion(self._alarm is not None)

    # --- replies -----------------------------------------------------------------------------------
    def _check_dis(self, r: PumpReply) -> str | None:
        """Shape, units, and rule 3 (``Odometer.problem``)."""
        try:
            d = protocol.parse_dispensed(r.data)
        except ReplyError as exc:
            return str(exc)
        if d.unit != self.unit:
            return f"DIS in {d.unit}, expected {self.unit}"
        return None if self._opening else self.odo.problem(d, self.now_ms, self.cfg.reply_timeout_ms)

    def _check_cleared(self, r: PumpReply) -> str | None:
        """After CLD INF: standing, and the infused counter at 0."""
        try:
            d = protocol.parse_dispensed(r.data)
        except ReplyError as exc:
            return str(exc)
        if r.prompt not in (Prompt.STOPPED, Prompt.PAUSED) or d.unit != self.unit or d.infused.value != 0:
            return f"DIS after CLD INF reads {r.data!r} while {r.prompt}"
        return None

    def _check_dis_stopped(self, r: PumpReply) -> str | None:
        """The base of a volume target: read while the plunger stands (a reply from before the
        STP, arriving late, shows I and is refused)."""
        if r.prompt not in (Prompt.STOPPED, Prompt.PAUSED):
            return f"DIS base taken while {r.prompt}"
        return self._check_dis(r)

    def _accept_dis(self, reply: PumpReply) -> None:
        rate = self._leg.rate_ul_h if self._leg is not None else Fraction(0)
        self.odo.accept(protocol.parse_dispensed(reply.data), self.now_ms, rate)  # never lowers the odometer

    # --- events ---------------------------------------------------------------------------------
    def _on_alarm(self, alarm: Alarm) -> None:
        if self._opening or alarm is self._alarm:
            return
        self._alarm = alarm
        if alarm is Alarm.STALL:
            self._occlusion()
            return
        self._leg, self._relieving = None, False
        self._verified.clear()
        if alarm is Alarm.RESET:
            self.odo.power_lost()
        self._events.append(ev("motor_fault"))
