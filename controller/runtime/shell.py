"""The shell: the only place where a clock is read and a device is driven.

Theory of operation
-------------------
One control period of ``Shell.step``:

1. read the clock; ``elapsed = now - last``; if the loop overran its watchdog limit, stop the
   mechanism at once, account the overrun with ticks while holding every command that could
   restart it, then tell the core (``watchdog``: FAILSAFE, motor stopped) - REQ-FLT-002;
2. poll the driver up to ``now``: the mechanism ran under the last command; sensor changes
   come back as events;
3. tick the core for ``elapsed`` (split into ticks of at most ``max_tick_ms``), then hand it
   the driver's events; every step's motor commands go to the driver at once, stop first;
   ``RelievePressure`` goes to the driver's optional ``relieve``;
4. cross-check what the mechanism says it dispensed against what the core commanded; a
   mismatch beyond ``Tolerance`` raises ``motor_fault`` (REQ-OVI-001).

The driver gets the core's (rate, cap) with the cap possibly *tightened* to a volume horizon
(``horizon_ms`` of flow at the commanded rate), renewed every period: if the controller hangs
or dies, the mechanism stops by itself within the horizon, and a power loss can only have
moved it up to the last cap sent. Never looser than the core's cap.

Persistence (``persist`` hook, ``controller.core.recovery``): a snapshot (state, variables, cap
sent) is saved after every step that changed more than the running counters, with the
write-ahead rule: a cap that *raises* what the mechanism may reach is saved before it is
sent; a lower one is sent first. So at any instant the mechanism cannot be past the sent cap
of the last snapshot (REQ-REC-002). ``restore`` restarts from a snapshot; the driver's
odometer may restart from zero, so the shell keeps the offset between the two odometers.

A refused motor command is a fault too (``motor_fault``). A step that latches FAILSAFE or FAILED
also cuts motor power (``driver.safe_stop``): StopMotor does not stop a driver stage that failed
on, and the fault that latched may have left motor power on. ``shutdown`` always asks the driver
for a safe stop, so Ctrl-C and crash paths leave the pump stopped. The core stays pure: this
module gives it events and carries out its commands, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from controller.core.commands import Command, RelievePressure, SetFlow, StopMotor
from controller.core.events import Event, ev, tick
from controller.core.logic import minimum
from controller.core.machine import Controller, Step
from controller.core.recovery import restore
from controller.core.state import LATCHED, Vars
from controller.core.units import VU_PER_UL
from controller.drivers.base import PumpDriver
from controller.drivers.clocks import Clock

Persist = Callable[[str, Vars, int], None]


@dataclass(frozen=True, slots=True)
class Tolerance:
    """Cross-check of commanded vs measured volume (REQ-OVI-001, DEC-002).

    A mismatch is declared when |measured - commanded| over the whole run exceeds
    ``abs_ul`` + ``rel`` x commanded. The defaults (20 uL + 10 %) sit above a healthy
    mechanism's quantization and noise and below any over-delivery the windows could hide.
    """

    abs_ul: int = 20
    rel_permille: int = 100

    def exceeded(self, commanded_vu: int, measured_vu: int) -> bool:
        allowed = self.abs_ul * VU_PER_UL + commanded_vu * self.rel_permille // 1000
        return abs(measured_vu - commanded_vu) > allowed


@dataclass
class Shell:
    ctl: Controller
    driver: PumpDriver
    clock: Clock
    watchdog_ms: int = 3_000
    tolerance: Tolerance = field(default_factory=Tolerance)
    horizon_ms: int | None = None  # volume horizon of the cap sent to the driver (None: the core's cap)
    persist: Persist | None = None
    on_step: list[Callable[[Step], None]] = field(default_factory=list)
    on_command: list[Callable[[Command], None]] = field(default_factory=list)
    last_ms: int | None = None
    mismatch_reported: bool = False
    hold: bool = False  # while True, no command that could move the mechanism is sent
    odo_offset: int = 0  # core odometer minus the driver's odometer
    sent_cap: int = 0  # the cap last sent to the driver, in core coordinates
    _ticks: dict[int, Event] = field(default_factory=dict)

    def submit(self, e: Event) -> Step:
        """Hand one event to the core, save what must survive a power loss, carry out commands."""
        old = self.ctl.vars
        step = self.ctl.handle(e)
        for hook in self.on_step:
            hook(step)
        save = self.persist is not None and step.accepted and _durable_change(step.source, old, step)
        for cmd in step.commands:
            for on_cmd in self.on_command:
                on_cmd(cmd)
            if isinstance(cmd, SetFlow):
                self._send_flow(cmd.rate, cmd.cap, step if save else None)
                save = False
            elif isinstance(cmd, StopMotor):
                self._send(StopMotor(cmd.odo - self.odo_offset), cmd.odo)
            elif isinstance(cmd, RelievePressure):
                relieve = getattr(self.driver, "relieve", None)
                if relieve is not None and not self.hold:
                    relieve(cmd.max_vu)
        if save:
            self._save(step.state, step.vars)
        if step.accepted and step.state in LATCHED and step.source != step.state:
            self.driver.safe_stop()  # cut motor power: the only stop a failed-on driver stage obeys
        return step

    def _horizon_cap(self, rate: int, core_cap: int) -> int:
        if self.horizon_ms is None:
            return core_cap
        return int(minimum(core_cap, self.ctl.vars.flow.odo + rate * self.horizon_ms))

    def _send_flow(self, rate: int, core_cap: int, step: Step | None) -> None:
        """Send (rate, cap) with the write-ahead rule; ``step`` is saved in the right order."""
        if self.hold:
            return
        cap = self._horizon_cap(rate, core_cap)
        raises = cap > self.sent_cap
        if raises:
            self._save(self.ctl.state, self.ctl.vars, cap)
        self._send(SetFlow(rate, cap - self.odo_offset), cap)
        if step is not None and not raises:
            self._save(step.state, step.vars)

    def _send(self, cmd: SetFlow | StopMotor, cap: int) -> None:
        reply = self.driver.request(cmd)
        if reply.accepted:
            self.sent_cap = cap
        elif self.ctl.state != "FAILSAFE":
            self.submit(ev("motor_fault"))
            self.driver.safe_stop()

    def _save(self, state: str, v: Vars, sent_cap: int | None = None) -> None:
        if self.persist is not None:
            self.persist(state, v, self.sent_cap if sent_cap is None else sent_cap)

    def _renew_horizon(self) -> None:
        """Extend the horizon cap before the mechanism reaches it (every period while flowing)."""
        f = self.ctl.vars.flow
        if self.horizon_ms is None or self.hold or f.rate == 0 or self.sent_cap >= f.cap:
            return
        if self.sent_cap - f.odo < f.rate * self.horizon_ms // 2:
            self._send_flow(f.rate, f.cap, None)

    def restore(self, state: str, snapshot: Vars, sent_cap: int | None = None, driver_odo: int = 0,
                pushed_to: int | None = None) -> None:
        """Restart the core from a snapshot taken in ``state`` (see controller.core.recovery).

        ``pushed_to`` is where the mechanism's odometer stood at the power loss in core
        coordinates, if the mechanism kept count; otherwise the last cap sent (or the
        snapshot's cap), which never undercounts."""
        bound = snapshot.flow.cap if sent_cap is None else min(sent_cap, snapshot.flow.cap)
        reached = max(snapshot.flow.odo, bound if pushed_to is None else min(pushed_to, bound))
        v = restore(snapshot, state, reached)
        self.ctl = Controller(v.cfg, vars=v, state="POST", table=self.ctl.table)
        self.odo_offset = v.flow.odo - driver_odo
        self.sent_cap = v.flow.odo
        self.last_ms = None
        self.mismatch_reported = False
        self._save("POST", v, v.flow.odo)

    def step(self) -> list[Step]:
        """One control period (see the module docstring). The first call only starts the loop's
        clock (nothing has elapsed yet), so call it once when the loop starts."""
        now = self.clock.now_ms()
        last = now if self.last_ms is None else self.last_ms
        self.last_ms = now
        steps: list[Step] = []
        elapsed = now - last
        overrun = elapsed > self.watchdog_ms and self.ctl.state != "FAILSAFE"
        if overrun:
            self.driver.safe_stop()
            self.hold = True
        sensed = self.driver.poll(now)
        max_tick = self.ctl.vars.cfg.max_tick_ms
        while elapsed > 0:
            dt = min(elapsed, max_tick)
            e = self._ticks.get(dt)
            if e is None:
                e = self._ticks[dt] = tick(dt)
            steps.append(self.submit(e))
            elapsed -= dt
        if overrun:
            steps.append(self.submit(ev("watchdog")))
            self.hold = False
        for e in sensed:
            steps.append(self.submit(e))
        self._renew_horizon()
        measured = self.driver.measured_vu()
        if (measured is not None and not self.mismatch_reported
                and self.tolerance.exceeded(self.ctl.vars.flow.odo - self.odo_offset, measured)):
            self.mismatch_reported = True
            self.driver.safe_stop()
            steps.append(self.submit(ev("motor_fault")))
        return steps

    def shutdown(self) -> None:
        """Leave the mechanism stopped, whatever happened before."""
        try:
            self.driver.safe_stop()
        finally:
            self.driver.close()


def _durable_change(source: str, old: Vars, step: Step) -> bool:
    """The step changed something a restart must not lose (not just clock and counters, which the
    snapshot's sent cap bounds)."""
    new = step.vars
    if step.state != source or new.flow.rate != old.flow.rate or new.flow.cap != old.flow.cap:
        return True
    if new.flow.step != old.flow.step:
        return True
    return not (new.win is old.win and new.air is old.air and new.bolus is old.bolus and new.alarm is old.alarm
                and new.marks is old.marks and new.cfg is old.cfg and new.prog is old.prog)
