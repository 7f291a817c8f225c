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

``stop_flow`` stops flow for good when the caller can no longer keep a rule (the log store: a snapshot
that cannot be written): the mechanism is stopped and held, and the core latches FAILSAFE.

A refused motor command is a fault too (``motor_fault``). A step that latches FAILSAFE or FAILED
also cuts motor power (``driver.safe_stop``): StopMotor does not stop a driver stage that failed
on, and the fault that latched may have left motor power on. ``shutdown`` always asks the driver
for a safe stop, so Ctrl-C and crash paths leave the pump stopped. The core stays pure: this
module gives it events and carries out its commands, nothing else.

Skipping quiet periods (``skip``, simulated time only; DEC-040). At a period boundary
right after a step, the core's quiet horizon (``controller.core.horizon``) says for how long
nothing can happen but the linear counters; ``skip`` takes the whole periods that fit (at most
the caller's bound and ``MAX_BLOCK``) and, when there are two or more, has the driver advance
them in one block (``poll_block``, the simulated pump only): the driver stops after the first
period in which a sensor event comes up, the plant loses power, the volume cross-check would
trip, or the caller's own guard does. The core then gets ONE tick for the periods actually
advanced (proved equal to the ticks it replaces, EQV-TCK-002), the events, and the end of the
period exactly as ``step`` does it (horizon renewal, cross-check). What ``step`` would have done
inside the block is done as it would have been:

- the horizon renewals fall every few periods (``Renewals``): the driver runs the block to the
  cap in force at each period (the mechanism never reaches it, so the largest is as good) and
  keeps the one in force after the block; the core's tick is split at the last renewal so that
  its snapshot - state, variables, cap - is the very one ``step`` would have persisted last;
- the volume cross-check runs on every period of the block (the driver evaluates
  ``Tolerance.exceeded`` over the block; it works elementwise).

A block runs only in simulation: the clock must be one the shell may move (``advance``) and the
driver must offer ``poll_block``. The snapshot of a block's last renewal is persisted at the
block's end, after the plant ran: right for a simulation that cannot lose power inside a block
(a power loss is a scenario event, which ends blocks), not for a durable log that must bound a
process that can be killed at any instant; a runner with such a log steps period by period.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controller.core.commands import Command, RelievePressure, SetFlow, StopMotor
from controller.core.events import Event, ev, tick
from controller.core.horizon import horizon
from controller.core.logic import minimum
from controller.core.machine import Controller, Step
from controller.core.recovery import restore
from controller.core.state import LATCHED, Vars
from controller.core.units import VU_PER_UL
from controller.drivers.base import PumpDriver
from controller.drivers.clocks import Clock

Persist = Callable[[str, Vars, int], None]
MAX_BLOCK = 4096  # control periods in one skipped block at most (bounds the simulated plant's arrays)


# A block's guard: for period i of a block (1-based), whether the block must stop after it, given the
# volume the mechanism reports (vu; None: unknown) and the volume it pushed (uL, the plant's truth).
# Called with ints and floats, or with numpy arrays over many periods at once: written with operators
# that work on both (|, >, arithmetic), never with `or` or `if`.
BlockGuard = Callable[[Any, Any, Any], Any]


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


@dataclass(frozen=True, slots=True)
class Renewals:
    """The horizon renewals ``Shell._renew_horizon`` makes at the ends of the periods of a quiet
    block (constant rate, no event): the first at the end of period ``first``, then every
    ``every`` periods, each to ``min(core_cap, odometer + rate x horizon)``; the one that reaches
    the core's cap is the last."""

    first: int
    every: int
    odo: int  # the core's odometer at the block's start (vu)
    per_period: int  # vu per period (rate x period)
    ahead: int  # rate x horizon_ms (vu)
    core_cap: int
    sent: int  # the cap sent before the block

    def last(self, i: int) -> tuple[int, int] | None:
        """The last renewal at the end of a period <= ``i``, and its cap (None: none yet)."""
        if i < self.first:
            return None
        p = self.first + (i - self.first) // self.every * self.every
        reach = self.core_cap - self.ahead - self.odo  # a renewal at p reaches the core cap: p x per_period >= reach
        if reach <= self.first * self.per_period:
            clip = self.first
        else:
            need = -(-reach // self.per_period)  # the first period that reaches it, then the renewal on or after it
            clip = self.first + -(-(need - self.first) // self.every) * self.every
        if clip <= p:
            return clip, self.core_cap
        return p, self.odo + p * self.per_period + self.ahead

    def cap_during(self, i: int) -> int:
        """The cap in force during period ``i`` (after the renewals at the ends of periods < ``i``)."""
        r = self.last(i - 1)
        return self.sent if r is None else r[1]


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
    stopped_for: str | None = None  # why flow was stopped for good (stop_flow); None: it was not
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
            steps.append(self.submit(self._tick(dt)))
            elapsed -= dt
        if overrun:
            steps.append(self.submit(ev("watchdog")))
            self.hold = False
        return self._end_period(steps, sensed)

    def _tick(self, dt: int) -> Event:
        e = self._ticks.get(dt)
        if e is None:
            e = self._ticks[dt] = tick(dt)
        return e

    def _end_period(self, steps: list[Step], sensed: list[Event]) -> list[Step]:
        """The sensed events, the horizon renewal and the cross-check that end every period."""
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

    def skip(self, period_ms: int, max_periods: int, guard: BlockGuard | None = None) -> list[Step] | None:
        """Up to ``max_periods`` control periods in one block, when nothing can happen in them but
        the linear counters (see the module docstring); None when not now (then call ``step``).
        Called right after a step, at a period boundary; ``guard`` may end the block earlier."""
        block = getattr(self.driver, "poll_block", None)
        advance: Callable[[int], None] | None = getattr(self.clock, "advance", None)
        now = self.clock.now_ms()
        if block is None or advance is None or self.hold or now != self.last_ms or period_ms > self.watchdog_ms:
            return None
        v, state = self.ctl.vars, self.ctl.state
        k = min(max_periods, MAX_BLOCK, horizon(v, state) // period_ms)
        if k < 2:
            return None
        f = v.flow
        modelled, plan = self._renewals(period_ms)
        if not modelled:
            return None
        c0, per, tol, offset = f.odo - self.odo_offset, f.rate * period_ms, self.tolerance, self.odo_offset
        cross_check = not self.mismatch_reported

        def check(i: Any, measured: Any, pushed: Any) -> Any:
            trip = cross_check and measured is not None and tol.exceeded(c0 + per * i, measured)
            return trip if guard is None else trip | guard(i, measured, pushed)

        def cap_during(i: int) -> int:  # in the driver's coordinates
            return self.sent_cap - offset if plan is None else plan.cap_during(i) - offset

        got = block(now, period_ms, k, check, None if plan is None else cap_during)
        if got is None:
            return None
        j, sensed = got
        advance(j * period_ms)
        self.last_ms = now + j * period_ms
        steps: list[Step] = []
        done = 0
        renewed = None if plan is None else plan.last(j - 1)
        if renewed is not None:  # the last renewal inside the block: its snapshot, as step() would have saved it
            done, cap = renewed
            steps.append(self.submit(self._tick(done * period_ms)))
            self._save(self.ctl.state, self.ctl.vars, cap)
            self.sent_cap = cap
        steps.append(self.submit(self._tick((j - done) * period_ms)))
        return self._end_period(steps, sensed)

    def _renewals(self, period_ms: int) -> tuple[bool, Renewals | None]:
        """The renewals ``_renew_horizon`` would make in a quiet block (None: none), and whether a block
        models them: not when the mechanism could reach its cap before a renewal (a horizon shorter
        than two periods, or a cap already within one period's flow)."""
        f = self.ctl.vars.flow
        if self.horizon_ms is None or f.rate == 0 or self.sent_cap >= f.cap:
            return True, None
        per, ahead = f.rate * period_ms, f.rate * self.horizon_ms
        half = ahead // 2
        if half <= per or self.sent_cap - f.odo <= per:
            return False, None
        first = max(1, (self.sent_cap - f.odo - half) // per + 1)
        return True, Renewals(first, (ahead - half) // per + 1, f.odo, per, ahead, f.cap, self.sent_cap)

    def stop_flow(self, reason: str, record: Callable[[], None] | None = None) -> Step:
        """Stop flow for good (e.g. a recovery snapshot that cannot be made durable, REQ-LOG-004): the
        mechanism stopped at once and held (``hold``: nothing that could move it is sent again), then
        ``record`` (the caller's note of why, made while the core is still in the state that failed),
        then ``motor_fault`` into the core, which latches FAILSAFE with its HIGH alarm."""
        self.hold = True
        self.stopped_for = reason
        self.driver.safe_stop()
        if record is not None:
            record()
        return self.submit(ev("motor_fault"))

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
