"""Driver for a Harvard Apparatus Pump 11 Elite / PHD Ultra on RS-232 or USB (``PumpDriver``, pyserial).

Theory of operation
-------------------
``open`` brings the pump to a known state: poll mode on (no prompts on events; every reply ends
in XON, the only frame boundary the protocol has), firmware query (``ver``), stopped, syringe
diameter written and read back, the target cleared (``ctvolume``) and both counters cleared
(``cvolume``, read back as 0).

``SetFlow(rate, cap)`` becomes a *leg*: ``stp`` until the prompt shows the motor standing, the
infused counter read while standing (the odometer's new base, ``Odometer.rebase``) and cleared
(``civolume``, read back as 0 while standing), then ``irate`` and ``tvolume`` each written and
read back, and ``irun``. The target is the volume left to ``cap`` from the odometer's *upper*
bound, rounded down, and at most ``leg_ms`` of flow at the rate (or the smallest target the wire
carries, 1 nL, if that is more): the pump stops by itself at
it even if this process dies, and since the Ultra command set has no host-silence watchdog,
``leg_ms`` is what bounds a run nobody can stop any more. A leg is renewed when three quarters
of it have passed; a target too small for the wire is not run at all. ``StopMotor`` is ``stp``
until standing. Clearing the counter before every run makes the stop the same whether the
pump counts its target from the counter or from the run (``PROTOCOL['tvolume.counter']``).

``poll`` sends ``ivolume`` and a bare status query in turn (their replies differ in shape, so a
reply that comes a period late is refused instead of being taken for the current one) and turns
the prompts into core events:

- ``*`` (stall) -> ``occlusion`` at the downstream site, then ``stp`` to acknowledge it; the
  ``occlusion_clear`` follows once the prompt is free again (after the pressure relief);
- ``T*`` during a leg -> the leg is complete (the next one starts if the cap allows more);
- ``:`` during a leg without its target met, ``<`` during a leg, motion nobody asked for, a
  counter past the target it was given, a counter that runs faster than commanded or goes
  backwards (read twice: a power cycle clears it without any alarm) -> ``motor_fault``;
- no poll answered at its first send for ``comm_loss_ms``, or a dead port -> ``watchdog``,
  with a best-effort ``stp`` (``SerialPumpDriver``).

``relieve`` backs the plunger off after a downstream occlusion (REQ-OCC-004): one ``wrun``
towards a target of at most ``relief_ul`` (and the core's ``max_vu``), which the driver also
stops itself if the pump is still withdrawing after twice the time it should take.

Rules
1. Nothing sent to the pump can make it pass the core's cap: rates and targets round down, the
   base is the odometer's upper bound read while the plunger stands, every setting is read back
   before ``irun`` (the target every time), and ``irun`` is never retried blindly (a lost reply
   is resolved by asking the pump's status).
2. Every wait is bounded (``link``): request and poll block at most
   ``(retries + 1) x 6 x reply_timeout`` per command.
3. A reading that goes backwards or jumps faster than the commanded rate is not believed; read
   so twice, it is a fault.
"""

from __future__ import annotations

import time
from fractions import Fraction

from controller.core.commands import SetFlow
from controller.core.units import VU_PER_UL
from controller.drivers.base import ACCEPTED, Reply
from controller.drivers.errors import DeviceRefused, Disconnected, Garbled, LinkFault, ProtocolError, ReplyError
from controller.drivers.harvard import framing, protocol
from controller.drivers.harvard.config import HarvardConfig
from controller.drivers.harvard.link import Check, UltraLink, one_line, run_reply, status_only
from controller.drivers.harvard.protocol import STANDING, Prompt, Quantity, UltraReply
from controller.drivers.odometer import MS_PER_H, Leg
from controller.drivers.serial_driver import SerialPumpDriver
from controller.drivers.serial_link import SerialPort

__all__ = ["HarvardConfig", "HarvardDriver"]
MAX_TARGET_UL = Fraction(9_999_000)  # 9999 ml: the largest target the wire carries


class HarvardDriver(SerialPumpDriver):
    def __init__(self, config: HarvardConfig, port: SerialPort | None = None) -> None:
        super().__init__(config.comm_loss_ms)
        self.cfg = config
        self._given_port = port
        self.link: UltraLink | None = None
        self._stalled = False  # the last reply showed '*' (one occlusion per stall)
        self._doubt: Quantity | None = None  # a reading refused as implausible, last attempt
        self._leg_started_ms = 0
        self._relief_until_ms = 0

    # --- life cycle ----------------------------------------------------------------------------
    def open(self, now_ms: int = 0) -> HarvardDriver:
        port = self._given_port
        if port is None:
            import serial  # the optional 'hardware' extra

            port = serial.Serial(self.cfg.port, baudrate=self.cfg.baudrate, timeout=0.005, write_timeout=1.0)
        self.link = UltraLink(port, self.cfg.address, self.cfg.reply_timeout_ms, self.cfg.retries)
        self.now_ms = self.last_ok_ms = now_ms
        self._opening = True
        try:
            self.link.write(framing.encode_command(self.cfg.address, "poll on"))  # its reply may lack the XON
            time.sleep(self.link.timeout_s)
            self.link.drain()
            self.version = self.link.command("ver", one_line).data
            self._stop_fully()
            self._set("diameter", protocol.format_down(self.cfg.diameter, "diameter")[0], protocol.parse_diameter)
            self.link.command("ctvolume")
            self.link.command("cvolume")
            for name in ("ivolume", "wvolume"):
                shown = protocol.parse_volume(self.link.command(name, self._volume_check(standing=True)).data)
                if shown.value:
                    raise LinkFault("cvolume", f"{name} reads {shown.value} uL after cvolume")
        finally:
            self._opening = False
        return self

    def close(self) -> None:
        self._stop_quietly()
        if self.link is not None:
            self.link.close()

    # --- SerialPumpDriver hooks ------------------------------------------------------------------
    def _connected(self) -> bool:
        return self.link is not None and self.link.port is not None

    def _accepted_anyway(self, fault: LinkFault) -> bool:
        return False

    def _poll_query(self, reading: bool) -> bool:
        assert self.link is not None
        if reading:
            try:
                reply = self._read_counter(standing=False)
            except Garbled:
                if self._doubt is None:
                    raise
                self._disbelieved(self._doubt)
                return True  # the pump answered, twice: the link is up
        else:
            reply = self.link.command("", status_only)
        clean = self.link.clean
        self._carry_on(lambda: self._follow(reply, reading))
        return clean

    def relieve(self, max_vu: int) -> Reply:
        """Back off at most min(max_vu, relief_ul) by a withdraw the pump stops at its target."""
        volume = min(Fraction(max_vu, VU_PER_UL), Fraction(self.cfg.relief_ul))
        if volume < protocol.MIN_TARGET_UL or self.link is None or self.lost:
            return Reply(False, "device_error", "pressure relief disabled or not possible now")
        try:
            self._stop_fully()
            text, value = protocol.volume_text(volume)
            rate_text, rate = protocol.rate_text(self.cfg.relief_rate_ul_h)
            self.link.command("cwvolume")
            self._set("wrate", rate_text, protocol.parse_rate)
            self._set("tvolume", text, protocol.parse_volume, always=True)
            reply = self.link.command("wrun", run_reply, retries=0)
            if reply.prompt is not Prompt.WITHDRAWING:
                raise LinkFault("wrun", f"the pump shows {reply.prompt.value} after wrun")
        except ProtocolError as exc:
            self._stop_quietly()
            return Reply(False, "out_of_range", str(exc))
        except LinkFault as fault:
            self._stop_quietly()
            return Reply(False, fault.reason, fault.detail)
        self._relieving = True
        self._relief_until_ms = self.now_ms + int(2 * value * MS_PER_H / rate) + 4 * self.cfg.reply_timeout_ms
        return ACCEPTED

    # --- legs ------------------------------------------------------------------------------------
    def _stop_fully(self, retries: int | None = None) -> None:
        assert self.link is not None
        self._leg, self._relieving = None, False
        for _ in range(3):
            reply = self.link.command("stp", status_only, retries=retries)
            if reply.prompt in STANDING:
                return
        raise LinkFault("stp", "the pump does not show the motor standing after three stp")

    def _set(self, name: str, arg: str, parse: protocol.Parser, always: bool = False) -> None:
        """Write ``name arg`` and read it back: the pump must show exactly that value (rule 1).
        Written again only when it changed or something went wrong; ``always`` reads it back
        every time (the target: a power cycle clears it silently)."""
        assert self.link is not None
        want = parse(arg).value
        if self._verified.get(name) != arg:
            self._verified.pop(name, None)
            self.link.command(f"{name} {arg}")
        elif not always:
            return

        def same(r: UltraReply) -> str | None:
            try:
                return one_line(r) or (None if parse(r.data).value == want else f"{name} reads {r.data!r}")
            except ReplyError as exc:
                return str(exc)

        try:
            self.link.command(name, same)
        except LinkFault:
            self._verified.pop(name, None)
            raise
        self._verified[name] = arg

    def _start_leg(self) -> None:
        assert self.link is not None and isinstance(self._cmd, SetFlow)
        self._stop_fully()
        last = protocol.parse_volume(self._read_counter(standing=True).data)
        self.odo.rebase(last)  # the counter is cleared next: carry on from this reading's bounds
        self.link.command("civolume")
        self.link.command("ivolume", self._volume_check(standing=True, zero=True))
        volume = min(self._remaining_ul(), MAX_TARGET_UL)
        if self.cfg.leg_ms:  # at a very low rate a leg is the smallest target the wire carries instead
            volume = min(volume, max(Fraction(self._cmd.rate * self.cfg.leg_ms, MS_PER_H), protocol.MIN_TARGET_UL))
        if volume < protocol.MIN_TARGET_UL:  # nothing the wire can carry is left to deliver
            return
        target_text, target = protocol.volume_text(volume)
        rate_text, rate = protocol.rate_text(self._cmd.rate)
        self._set("irate", rate_text, protocol.parse_rate)
        self._set("tvolume", target_text, protocol.parse_volume, always=True)
        self.odo.max_rate = max(self.odo.max_rate, rate)
        try:
            reply = self.link.command("irun", run_reply, retries=0)
        except LinkFault as fault:
            if isinstance(fault, (Disconnected, DeviceRefused)):
                raise
            reply = self.link.command("", status_only)  # rule 1: did the run happen? ask, do not resend
            if reply.prompt is not Prompt.INFUSING:
                raise
        if reply.prompt is Prompt.STALLED:  # split phase: the occlusion comes back from poll
            self._stall()
            return
        if reply.prompt is Prompt.TARGET:  # a target below one motor step: met before it moved
            return
        if reply.prompt is not Prompt.INFUSING:
            raise LinkFault("irun", f"the pump shows {reply.prompt.value} after irun")
        self._leg = Leg(self.odo.low, target, rate)
        self._leg_started_ms = self.now_ms

    def _follow(self, reply: UltraReply, reading: bool) -> None:
        """What the pump's prompt means for the leg under way (``reading``: with a fresh reading)."""
        prompt = reply.prompt
        if prompt is Prompt.STALLED:
            self._stall()
        else:
            self._stalled = False
        if self._relieving:
            if prompt is Prompt.WITHDRAWING and self.now_ms <= self._relief_until_ms:
                return
            self._relieving = False
            if prompt is Prompt.WITHDRAWING:
                self._fault("the relief withdraw did not stop at its target")
                return
        if self._leg is not None:
            leg = self._leg
            if prompt is Prompt.INFUSING:
                if reading and self.odo.low > leg.start_ul + leg.volume_ul:
                    self._fault("the counter is past the target the pump was given (runaway)")
                elif self._renewal_due(leg):
                    self._start_leg()
                return
            if prompt is Prompt.TARGET or (reading and prompt is Prompt.IDLE and leg.done(self.odo.high)):
                self._next_leg()
                return
            self._leg = None
            self._fault(f"pump stopped early or moved wrongly ({prompt.value}) during a leg")
        elif reply.moving:
            self._stray_motion(prompt.value)
        self._maybe_clear_occlusion(self._stalled)

    def _renewal_due(self, leg: Leg) -> bool:
        """Three quarters of a leg bounded by ``leg_ms`` have passed and the cap allows more."""
        if not self.cfg.leg_ms or 4 * (self.now_ms - self._leg_started_ms) < 3 * self.cfg.leg_ms:
            return False
        return leg.start_ul + leg.volume_ul < self.odo.high + self._remaining_ul()  # the cap is further on

    # --- readings --------------------------------------------------------------------------------
    def _read_counter(self, standing: bool) -> UltraReply:
        assert self.link is not None
        reply = self.link.command("ivolume", self._volume_check(standing))
        rate = self._leg.rate_ul_h if self._leg is not None else Fraction(0)
        self.odo.accept(protocol.parse_volume(reply.data), self.now_ms, rate)  # never lowers the odometer
        return reply

    def _volume_check(self, standing: bool, zero: bool = False) -> Check:
        """Shape, standing while read (a reply from before the stp, arriving late, shows '>'),
        and rule 3 (``Odometer.problem``; the reading is kept in ``_doubt`` when refused)."""

        def check(r: UltraReply) -> str | None:
            self._doubt = None
            shape = one_line(r)
            if shape is not None:
                return shape
            try:
                q = protocol.parse_volume(r.data)
            except ReplyError as exc:
                return str(exc)
            if standing and r.prompt not in STANDING:
                return f"counter read while {r.prompt.value}"
            if zero or self._opening:
                return None if not zero or q.value == 0 else f"counter reads {r.data!r} after a clear"
            problem = self.odo.problem(q, self.now_ms, self.cfg.reply_timeout_ms)
            self._doubt = q if problem else None
            return problem

        return check

    def _disbelieved(self, q: Quantity) -> None:
        """A reading refused on every attempt: the pump really says so (rule 3)."""
        low, high = self.odo.bounds(q)
        self._leg = None
        self._verified.clear()
        if high < self.odo.low:
            self.odo.power_lost()
            self._fault(f"the counter went back to {float(low):.3f} uL: power cycle, or cleared by someone")
        else:
            self._fault(f"the counter ran ahead to {float(low):.3f} uL, faster than commanded")

    def _stall(self) -> None:
        if not self._stalled:
            self._stalled = True
            self._occlusion()
            self._stop_quietly()  # acknowledges the stall (PROTOCOL['prompt.*.persists']); the motor stands
