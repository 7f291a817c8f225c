"""Simulated pumping mechanism: a stepper motor driving a syringe plunger or a cassette cam.

Theory of operation
-------------------
The firmware follows the core's motor command (rate, cap) in the core's own coordinates: the
*commanded position* ``pos`` (vu) advances by ``rate x dt`` and never passes ``cap``, exactly
like the core's odometer, so the two agree to the volume unit. The motor is then stepped to
``floor(pos / vps)`` steps, where ``vps`` is the nominal volume per step in vu *rounded up*:
step quantization can only make the mechanism lag its command, never lead it.

What physically moves is then modelled separately:

- *faults*: a stalled motor makes no step; missed steps drop a random share of them; a
  runaway driver stage steps by itself at its own rate, command or not (only cutting motor
  power stops it);
- *backlash*: the first ``backlash_steps`` after a reversal (and at power-on) take up slack
  and move no fluid, which gives the syringe its start-up delay;
- *displacement*: a syringe moves ``ul_per_step x (1 + volume_error)`` per step on average, with a
  once-per-revolution lead-screw error of +-``screw_error_pct`` of the local flow (its shape is
  a table of one revolution, ``sin(2 pi j / R)`` for the ``R`` steps ``j`` of a turn); a cassette
  delivers its stroke during the first ``1 - fill_fraction`` of each cam revolution and
  refills (delivers nothing) in the rest, so its flow is pulsatile.

The encoder counts motor steps (forward ``fwd`` and pressure-relief reverse ``rev``), which is
what ``measured_vu`` reports to the shell's cross-check.

Rules
1. Command coordinates are exact integers (vu, steps); only displaced volume is a float.
2. Reverse motion exists only as the bounded pressure relief (``back_off``); the forward
   command never runs backwards (REQ-REV-001).
3. A power cycle resets the odometer (the core restarts at 0) but not the physics.
4. ``run`` is the one definition of an interval; the block path (``controller.drivers.simblock``)
   repeats its arithmetic (integers, the same table lookups), so both end at the same values.
"""

from __future__ import annotations

import math
import random
from array import array
from functools import cache

from controller.core.units import VU_PER_UL
from controller.plant.params import PlantParams


@cache
def screw_shape(steps_per_rev: int) -> array[float]:
    """``sin(2 pi j / R)`` for the ``R`` steps of one lead-screw revolution (shared, read-only)."""
    return array("d", (math.sin(2 * math.pi * j / steps_per_rev) for j in range(steps_per_rev)))


class Mechanism:
    __slots__ = (
        "D", "R", "S", "backlash", "cap", "cassette", "cmd_steps", "extra_vu", "fwd", "gap", "missed", "plunger",
        "pos", "powered", "rate", "rev", "rng", "runaway_rate", "screw_k", "shape", "stalled", "stroke_true",
        "true_ul", "vps",
    )

    def __init__(self, p: PlantParams, rng: random.Random) -> None:
        nominal_ul = p.ul_per_step
        self.vps = math.ceil(nominal_ul * VU_PER_UL)  # nominal vu per step, rounded up (rule 1)
        scale = 1.0 + p.volume_error_pct / 100.0
        self.true_ul = nominal_ul * scale
        self.cassette = p.mechanism == "cassette"
        self.S = p.steps_per_stroke
        self.D = max(1, round(p.steps_per_stroke * (1.0 - p.fill_fraction)))  # delivering steps per stroke
        self.stroke_true = p.stroke_ul * scale
        self.R = p.steps_per_rev * p.microsteps  # steps per screw revolution
        self.screw_k = p.screw_error_pct / 100.0 * self.R / (2 * math.pi) * self.true_ul  # uL amplitude
        self.shape = array("d") if self.cassette else screw_shape(self.R)
        self.backlash = p.backlash_steps
        self.gap = p.backlash_steps  # slack at power-on
        self.plunger = 0  # physical plunger / cam position (steps)
        self.rng = rng
        self.stalled = False
        self.runaway_rate = 0  # uL/h the failed driver stage steps at by itself
        self.missed = 0.0  # share of steps the motor misses
        self.powered = True  # motor power enable (cut by safe_stop and by the fault monitor)
        self.rate = 0
        self.cap = 0
        self.pos = 0
        self.cmd_steps = 0
        self.fwd = 0
        self.rev = 0
        self.extra_vu = 0

    # --- command side (core coordinates) --------------------------------------------------

    def command(self, rate: int, cap: int) -> None:
        self.rate = rate
        self.cap = cap

    def moving(self) -> bool:
        """The command still asks for motion (rate > 0 and the cap not reached)."""
        return self.rate > 0 and self.pos < self.cap

    def reset_odometer(self) -> None:
        """Power cycle: the new core starts its odometer at 0; the plunger stays where it is."""
        self.rate = self.cap = self.pos = self.cmd_steps = self.fwd = self.rev = self.extra_vu = 0
        self.powered = True

    # --- physics --------------------------------------------------------------------------

    def out_ul(self, n: int) -> float:
        """Volume displaced at plunger (or cam) position ``n`` steps."""
        if not self.cassette:
            return n * self.true_ul + self.screw_k * self.shape[n % self.R]
        strokes, phase = divmod(n, self.S)
        return self.stroke_true * (strokes + min(phase, self.D) / self.D)

    def _missed_of(self, k: int) -> int:
        p = self.missed
        if k <= 64:
            rnd = self.rng.random
            return sum(1 for _ in range(k) if rnd() < p)
        mean = k * p
        return max(0, min(k, round(self.rng.gauss(mean, math.sqrt(mean * (1.0 - p))))))

    def _move(self, d: int) -> float:
        """Move the motor ``d`` steps (signed) through the backlash; return the displaced uL."""
        g = self.gap
        if d > 0:
            take = g if g < d else d
            self.gap = g - take
            travel = d - take
        else:
            room = self.backlash - g
            take = room if room < -d else -d
            self.gap = g + take
            travel = d + take
        if travel == 0:
            return 0.0
        before = self.plunger
        self.plunger = before + travel
        if not self.cassette and not self.screw_k:
            return travel * self.true_ul
        return self.out_ul(self.plunger) - self.out_ul(before)

    def run(self, dt_ms: int) -> float:
        """Follow the command for ``dt_ms``; return the volume displaced (uL)."""
        steps = 0
        if self.rate > 0 and self.pos < self.cap:
            pos = self.pos + self.rate * dt_ms
            self.pos = pos = pos if pos < self.cap else self.cap
            target = pos // self.vps
            k = target - self.cmd_steps
            if k > 0:
                self.cmd_steps = target
                if self.powered and not self.stalled:
                    steps = k - self._missed_of(k) if self.missed > 0.0 else k
        if self.runaway_rate > 0 and self.powered:
            self.extra_vu += self.runaway_rate * dt_ms
            extra = self.extra_vu // self.vps
            self.extra_vu -= extra * self.vps
            steps += extra
        if steps == 0:
            return 0.0
        self.fwd += steps
        return self._move(steps)

    def back_off(self, steps: int) -> float:
        """Pressure relief: reverse ``steps`` (bounded by the caller); return displaced uL (<= 0)."""
        if steps <= 0 or not self.powered or self.stalled:
            return 0.0
        self.rev += steps
        return self._move(-steps)

    def encoder(self) -> int:
        """Motor shaft position in steps (forward minus relief), as the encoder counts it."""
        return self.fwd - self.rev
