"""The life of a serial syringe-pump driver, whatever its wire protocol (NE-1000, Harvard Ultra).

Theory of operation
-------------------
``SerialPumpDriver`` is the part of a ``PumpDriver`` that every serial syringe pump shares; a
model's subclass supplies its protocol through five hooks:

- ``_connected()``: a link with an open port exists;
- ``_stop_fully(retries)``: stop the motor and confirm it stands (or raise a ``LinkFault``);
- ``_start_leg()``: start a run towards the current ``SetFlow`` with a volume target the pump
  enforces by itself, never past the cap;
- ``_poll_query(reading)``: one poll exchange (a counter reading when ``reading``, else a bare
  status query, in turn), then follow what it says; True when its reply came clean;
- ``_accepted_anyway(fault)``: a fault a refused run can end in that is really a split-phase
  outcome (a stall: its occlusion comes back from ``poll``); ``_reported(fault)``: a fault
  whose event is already queued (a pump alarm), so a poll only stops the pump.

``request`` answers at once: a stop is STP-until-standing, a flow is a leg; a rate the wire
cannot carry is ``out_of_range``, a link fault is refused with its reason, and whatever was
refused leaves the pump stopped (``_stop_quietly``). ``poll`` counts the control period, runs
one query, and turns a link that gave no clean answer for ``comm_loss_ms`` (or a dead port)
into one ``watchdog`` event with a best-effort stop, repeated with a back-off up to 10 s.

Rules
1. A refused motor request leaves the pump stopped (or, with the port dead, reports the link
   lost); nothing here ever starts the motor.
2. Events are handed over once per poll, in order; an occlusion's ``occlusion_clear`` may follow
   from the next poll on, once the pump is free and not withdrawing (``_maybe_clear_occlusion``).
3. ``measured_vu`` answers only for a trusted odometer read in the current control period while
   the link is up: a stale value is never offered to the cross-check.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from controller.core.commands import SetFlow, StopMotor
from controller.core.events import Event, ev
from controller.core.units import VU_PER_UL
from controller.drivers.base import ACCEPTED, MotorCommand, Reply
from controller.drivers.errors import Disconnected, LinkFault, ProtocolError
from controller.drivers.odometer import Leg, Odometer

MAX_BACKOFF_MS = 10_000


class SerialPumpDriver:
    def __init__(self, comm_loss_ms: int) -> None:
        self.comm_loss_ms = comm_loss_ms
        self.version = ""
        self.odo = Odometer()
        self.now_ms = 0
        self.last_ok_ms = 0
        self.lost = False
        self._retry_at = self._backoff_ms = 0
        self._events: list[Event] = []
        self._cmd: MotorCommand | None = None
        self._leg: Leg | None = None
        self._relieving = False
        self._verified: dict[str, str] = {}  # settings written and read back while nothing went wrong
        self._clear_occlusion_after: int | None = None  # poll count after which to send occlusion_clear
        self._polls = 0
        self._opening = False
        self._stray = False

    # --- hooks ---------------------------------------------------------------------------------
    def _connected(self) -> bool:
        raise NotImplementedError

    def _stop_fully(self, retries: int | None = None) -> None:
        raise NotImplementedError

    def _start_leg(self) -> None:
        raise NotImplementedError

    def _poll_query(self, reading: bool) -> bool:
        raise NotImplementedError

    def _accepted_anyway(self, fault: LinkFault) -> bool:
        return False

    def _reported(self, fault: LinkFault) -> bool:
        return False

    # --- PumpDriver ----------------------------------------------------------------------------
    def request(self, cmd: MotorCommand) -> Reply:
        self._cmd = cmd
        self._stray = False
        if not self._connected():
            return Reply(False, "not_connected", "port closed")
        stopping = isinstance(cmd, StopMotor) or cmd.rate <= 0
        if self.lost and not stopping:
            return Reply(False, "not_connected", "communication lost")
        try:
            if stopping:
                self._stop_fully(retries=0 if self.lost else None)
            else:
                self._start_leg()
        except ProtocolError as exc:  # a rate or volume the wire cannot carry
            self._stop_quietly()
            return Reply(False, "out_of_range", str(exc))
        except LinkFault as fault:
            if isinstance(fault, Disconnected):
                self._comm_lost()
            elif not stopping:
                self._stop_quietly(retries=0 if self.lost else None)
            if self._accepted_anyway(fault):
                return ACCEPTED
            return Reply(False, fault.reason, fault.detail)
        return ACCEPTED

    def poll(self, now_ms: int) -> list[Event]:
        self.now_ms = now_ms
        self._polls += 1
        self.odo.fresh = False
        if not self._connected():
            self._comm_lost()
        elif self.lost:
            if now_ms >= self._retry_at:  # a stop the pump may hear, less and less often
                self._backoff_ms = min(2 * self._backoff_ms, MAX_BACKOFF_MS)
                self._retry_at = now_ms + self._backoff_ms
                self._stop_quietly(retries=0)
        else:
            try:
                clean = self._poll_query(self._polls % 2 == 1)
            except Disconnected:
                self._comm_lost()
            except LinkFault:
                pass
            else:
                if clean:
                    self.last_ok_ms = now_ms
            if not self.lost and now_ms - self.last_ok_ms >= self.comm_loss_ms:
                self._comm_lost()
        out, self._events = self._events, []
        if any(e.kind == "occlusion" for e in out):  # the clear may follow from the next poll on
            self._clear_occlusion_after = self._polls
        return out

    def measured_vu(self) -> int | None:
        if not (self.odo.trusted and self.odo.fresh) or self.lost:
            return None
        return int(self.odo.low * VU_PER_UL)

    def safe_stop(self) -> None:
        self._cmd = StopMotor(0)
        self._stop_quietly(retries=0 if self.lost else None)

    # --- shared steps --------------------------------------------------------------------------
    def _remaining_ul(self) -> Fraction:
        """What the current SetFlow still allows, from the odometer's upper bound."""
        assert isinstance(self._cmd, SetFlow)
        return Fraction(self._cmd.cap, VU_PER_UL) - self.odo.high

    def _stop_quietly(self, retries: int | None = None) -> bool:
        if not self._connected():
            return False
        try:
            self._stop_fully(retries)
        except LinkFault as fault:
            if isinstance(fault, Disconnected):
                self._comm_lost()
            return False
        return True

    def _next_leg(self) -> None:
        """The leg under way ended at its target: the next one, if the command wants more."""
        self._leg = None
        if isinstance(self._cmd, SetFlow):
            self._start_leg()

    def _carry_on(self, follow: Callable[[], None]) -> None:
        """Run a poll's follow-up and turn what it raises into events."""
        try:
            follow()
        except Disconnected:
            self._comm_lost()
        except LinkFault as fault:
            if self._reported(fault):
                self._stop_quietly()
            else:
                self._fault(f"leg could not continue: {fault}")
        except ProtocolError as fault:
            self._fault(f"leg could not continue: {fault}")

    def _stray_motion(self, what: str) -> None:
        """The pump moves while it should stand: reported once per command."""
        if not self._stray:
            self._stray = True
            self._fault(f"pump reports {what} while it should be stopped")

    def _maybe_clear_occlusion(self, still_stalled: bool) -> None:
        if (self._clear_occlusion_after is not None and self._polls > self._clear_occlusion_after
                and not self._relieving and not still_stalled):
            self._clear_occlusion_after = None
            self._events.append(ev("occlusion_clear", site=0))

    # --- events ---------------------------------------------------------------------------------
    def _occlusion(self) -> None:
        self._leg, self._relieving = None, False
        self._verified.clear()
        self._events.append(ev("occlusion", site=0))
        self._clear_occlusion_after = None  # set when the event is handed over (poll)

    def _fault(self, why: str) -> None:
        self.odo.faults.append(why)
        self._events.append(ev("motor_fault"))
        self._stop_quietly()

    def _comm_lost(self) -> None:
        if not self.lost:
            self.lost = True
            self._backoff_ms = self.comm_loss_ms
            self._retry_at = self.now_ms + self._backoff_ms
            self._events.append(ev("watchdog"))
            self._leg = None
            self._stop_quietly(retries=0)
