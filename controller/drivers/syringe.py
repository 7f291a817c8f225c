"""A syringe plunger on a stepper motor, exact in whole steps: the mechanism inside every emulated pump.

Theory of operation
-------------------
``Plunger`` is the part of a syringe pump that does not depend on its wire protocol: a set rate
(uL/h), a direction, a per-run volume target in motor steps, the displayed counters (which the
firmware may clear, and a power loss resets) and the true counters (what the plunger really
moved, which nothing clears). It runs on whatever clock the caller passes (ms) and the motion is
exact: ``advance(now, deadline)`` finds the exact millisecond at which the target is reached or
the firmware's own ``deadline`` (a safe-mode timer) comes, moves there and says which came first.
So an emulated run is deterministic whatever thread advances it and however often.

Faults a test injects land here: ``block`` (forward motion impossible: a downstream occlusion),
``slip`` (the plunger makes only a fraction of the set speed, and the counters show it) and
``runaway`` (the motor stage fails on: the plunger infuses at a multiple of the set speed,
ignores its volume target and starts by itself; a stop still stops it, for now).

Rules
1. The mechanism constants (step, speed range, pi) are emulator assumptions, listed in
   ``MECHANISM`` and in docs/hardware.md; the firmware modules add their protocol on top.
2. Without a runaway the plunger never passes its run's target (rounded down to whole steps).
3. Pure arithmetic over ``Fraction`` and ints: no I/O, no floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

PI = Fraction(355, 113)  # good to 8.5e-8: the emulator's circle
STEP_MM = Fraction(1, 4_000)  # plunger travel per motor step (0.25 um)
MS_PER_H = 3_600_000
MECHANISM = {
    "STEP_MM": "0.25 um of plunger travel per step (emulator assumption)",
    "PI": "355/113 (emulator assumption)",
}
INFUSE, STAND, WITHDRAW = 1, 0, -1


@dataclass(frozen=True, slots=True)
class Truth:
    infused_ul: Fraction  # what the plunger pushed since the emulator started (never reset)
    withdrawn_ul: Fraction
    moving: bool


class Plunger:
    def __init__(self, diameter_mm: Fraction, speed_mm_h: tuple[Fraction, Fraction], now_ms: int = 0) -> None:
        self.diameter = diameter_mm
        self.speed_mm_h = speed_mm_h  # (slowest, fastest) plunger speed the motor can make
        self.rate = Fraction(1_000)  # set rate, uL/h
        self.direction = STAND
        self.full_speed = False  # a purge: the top of the speed range, no target
        self.target: int | None = None  # steps of the current run after which the motor stops
        self.stalled = False
        self.slip = Fraction(1)  # fraction of the set speed the plunger really makes (1 = healthy)
        self.runaway: Fraction | None = None  # multiple of the set speed of a failed-on motor stage
        self.counter = [0, 0]  # displayed infused / withdrawn steps
        self.true = [0, 0]  # what the plunger really did
        self.t_ms = now_ms
        self._seg_start, self._seg_steps, self.run_steps = now_ms, 0, 0

    @property
    def ul_per_step(self) -> Fraction:
        return PI * self.diameter * self.diameter / 4 * STEP_MM

    @property
    def moving(self) -> bool:
        return self.direction != STAND

    def rate_range(self) -> tuple[Fraction, Fraction]:
        """(lowest, highest) rate in uL/h on the loaded syringe."""
        area = PI * self.diameter * self.diameter / 4
        return self.speed_mm_h[0] * area, self.speed_mm_h[1] * area

    def volume_ul(self, side: int) -> Fraction:
        """The displayed counter (0 infused, 1 withdrawn) in uL."""
        return self.counter[side] * self.ul_per_step

    def truth(self, now_ms: int) -> Truth:
        self.advance(now_ms)
        return Truth(self.true[0] * self.ul_per_step, self.true[1] * self.ul_per_step, self.moving)

    # --- motion --------------------------------------------------------------------------------
    def _steps_per_ms(self) -> Fraction:
        rate = self.rate_range()[1] if self.full_speed else self.rate
        factor = self.runaway if self.runaway is not None else self.slip
        return rate * factor / MS_PER_H / self.ul_per_step

    def _goal(self) -> int | None:
        return None if self.full_speed or self.runaway is not None else self.target

    def _move_to(self, t: int, cap: int | None = None) -> None:
        if self.moving:
            total = int(self._steps_per_ms() * (t - self._seg_start))
            new = total - self._seg_steps if cap is None else min(total - self._seg_steps, cap)
            self._seg_steps += new
            self.run_steps += new
            side = 1 if self.direction == WITHDRAW else 0
            self.counter[side] += new
            self.true[side] += new
        self.t_ms = max(self.t_ms, t)

    def _new_segment(self) -> None:
        self._seg_start, self._seg_steps = self.t_ms, 0  # speed changes: count steps afresh from now

    def advance(self, now_ms: int, deadline_ms: int | None = None) -> str | None:
        """Move towards ``now_ms``; stop at the first of the run's target ("target", motor
        stopped) and ``deadline_ms`` ("deadline", motor still as it was: the caller decides), or
        reach ``now_ms`` (None). Call again after a "deadline" to go on."""
        events: list[tuple[int, str]] = []
        if deadline_ms is not None:
            events.append((deadline_ms, "deadline"))
        goal = self._goal()
        if self.moving and goal is not None:
            need = self._seg_steps + max(0, goal - self.run_steps)
            sps = self._steps_per_ms()
            events.append((self._seg_start + -(-need // sps) if sps > 0 else now_ms + 1, "target"))
        due = [(max(t, self.t_ms), kind) for t, kind in events if t <= now_ms]
        if not due:
            self._move_to(now_ms)
            return None
        t, kind = min(due)
        if kind == "target" and goal is not None:
            self._move_to(t, cap=max(0, goal - self.run_steps))
            self.stop()
        else:
            self._move_to(t)
        return kind

    def set_rate(self, rate_ul_h: Fraction) -> None:
        self._move_to(self.t_ms)
        self.rate = rate_ul_h
        self._new_segment()

    def start(self, direction: int, *, new_run: bool, full_speed: bool = False) -> bool:
        """Start (``new_run``: the target counts from here) or resume; False when forward motion is
        blocked (the caller raises its stall alarm)."""
        if new_run:
            self.run_steps = 0
        if self.stalled and direction == INFUSE:
            self.stop()
            return False
        self.direction, self.full_speed = direction, full_speed
        self._new_segment()
        return True

    def stop(self) -> None:
        self.direction, self.full_speed = STAND, False
        self._new_segment()

    # --- faults --------------------------------------------------------------------------------
    def block(self, now_ms: int, on: bool = True) -> bool:
        """Forward motion blocked (or free again); True when it stopped a forward motion."""
        self.advance(now_ms)
        self.stalled = on
        if on and self.direction == INFUSE:
            self.stop()
            return True
        return False

    def set_slip(self, now_ms: int, fraction: Fraction) -> None:
        """A worn drive: the plunger makes only ``fraction`` of the set speed; the counters, which
        count real steps, show it (the shell's cross-check must catch this)."""
        self.advance(now_ms)
        self.slip = fraction
        self._new_segment()

    def set_runaway(self, now_ms: int, multiple: Fraction | None) -> None:
        """A failed-on motor stage: infuse at ``multiple`` x the set rate, targets ignored, starting
        by itself if it stood (None: repaired)."""
        self.advance(now_ms)
        self.runaway = multiple
        if multiple is not None and not self.moving and not self.stalled:
            self.start(INFUSE, new_run=False)
        self._new_segment()

    def power_loss(self, now_ms: int) -> None:
        """Power gone and back: the motor stopped, the displayed counters restart at 0."""
        self.advance(now_ms)
        self.stop()
        self.counter = [0, 0]
        self.run_steps = 0
