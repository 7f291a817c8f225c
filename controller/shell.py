"""The shell: the only place where a clock is read and a device is driven.

Theory of operation
-------------------
One control period of ``Shell.step``:

1. read the clock; ``elapsed = now - last``; if the loop overran its watchdog limit, tell the
   core (``watchdog`` event: FAILSAFE, motor stopped) - REQ-FLT-002;
2. poll the driver up to ``now``: the mechanism ran under the last command; sensor changes
   come back as events;
3. tick the core for ``elapsed`` (split into ticks of at most ``max_tick_ms``), then hand it
   the driver's events; every step's motor commands go to the driver at once, stop first;
4. cross-check what the mechanism says it dispensed against what the core commanded; a
   mismatch beyond ``Tolerance`` raises ``motor_fault`` (REQ-OVI-001).

A refused motor command is a fault too (``motor_fault``). ``shutdown`` always asks the driver
for a safe stop, so Ctrl-C and crash paths leave the pump stopped. The core stays pure: this
module gives it events and carries out its commands, nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from controller.commands import Command, SetFlow, StopMotor
from controller.core import Controller, Step
from controller.drivers.base import PumpDriver
from controller.events import Event, ev, tick
from controller.units import VU_PER_UL


class Clock(Protocol):
    def now_ms(self) -> int: ...


@dataclass
class SimClock:
    """A clock that moves only when told to (deterministic simulations)."""

    t_ms: int = 0

    def now_ms(self) -> int:
        return self.t_ms

    def advance(self, ms: int) -> None:
        self.t_ms += ms


class WallClock:
    """Monotonic wall clock in ms (never jumps backwards)."""

    def __init__(self) -> None:
        self._t0 = time.monotonic_ns()

    def now_ms(self) -> int:
        return (time.monotonic_ns() - self._t0) // 1_000_000


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
    on_step: list[Callable[[Step], None]] = field(default_factory=list)
    on_command: list[Callable[[Command], None]] = field(default_factory=list)
    last_ms: int | None = None
    mismatch_reported: bool = False

    def submit(self, e: Event) -> Step:
        """Hand one event to the core and carry out its commands."""
        step = self.ctl.handle(e)
        for hook in self.on_step:
            hook(step)
        self._carry_out(step)
        return step

    def _carry_out(self, step: Step) -> None:
        for cmd in step.commands:
            for hook in self.on_command:
                hook(cmd)
            if isinstance(cmd, (SetFlow, StopMotor)):
                reply = self.driver.request(cmd)
                if not reply.accepted and self.ctl.state != "FAILSAFE":
                    self.submit(ev("motor_fault"))
                    self.driver.safe_stop()

    def step(self) -> list[Step]:
        """One control period (see the module docstring)."""
        now = self.clock.now_ms()
        last = now if self.last_ms is None else self.last_ms
        self.last_ms = now
        steps: list[Step] = []
        elapsed = now - last
        if elapsed > self.watchdog_ms and self.ctl.state != "FAILSAFE":
            self.driver.safe_stop()
            steps.append(self.submit(ev("watchdog")))
        sensed = self.driver.poll(now)
        max_tick = self.ctl.vars.cfg.max_tick_ms
        while elapsed > 0:
            dt = min(elapsed, max_tick)
            steps.append(self.submit(tick(dt)))
            elapsed -= dt
        for e in sensed:
            steps.append(self.submit(e))
        measured = self.driver.measured_vu()
        if (measured is not None and not self.mismatch_reported
                and self.tolerance.exceeded(self.ctl.vars.flow.odo, measured)):
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
