"""Seeded streams of Gaussian noise, drawn ahead in chunks and read one value or one block at a time.

Theory of operation
-------------------
Every noisy quantity of the plant (each analog sensor, the venous-pressure wander) has its own
``Normal`` stream, seeded by the pump's seed and the stream's name. A stream draws its values
ahead in chunks (Box-Muller on ``random.Random`` uniforms) and hands them out in order: ``next``
gives one (the control period by period), ``peek(n)`` shows the next ``n`` without using them
and ``skip(n)`` uses them (a block of periods at once, ``controller.drivers.simblock``). So the
value a period sees depends only on the stream and on how many values were used before it,
never on whether the periods are taken one at a time or in a block: both ways see the very
same numbers, bit for bit.

Rules
1. Pure Python (``random`` and ``math``): the same values with or without numpy installed.
2. A value is used once, in stream order; ``peek`` never changes what comes next.
"""

from __future__ import annotations

import math
import random

CHUNK = 1024  # values drawn at once (an even number: Box-Muller makes pairs)
TWO_PI = 2.0 * math.pi


class Normal:
    """Standard normal variates of one named stream (see the module docstring)."""

    __slots__ = ("buf", "i", "rng")

    def __init__(self, seed: str) -> None:
        self.rng = random.Random(seed)
        self.buf: list[float] = []
        self.i = 0

    def _more(self, need: int) -> None:
        """Keep at least ``need`` unused values (drops the used ones first)."""
        buf = self.buf[self.i:]
        rnd, log, sqrt, cos, sin = self.rng.random, math.log, math.sqrt, math.cos, math.sin
        while len(buf) < need:
            us = [rnd() for _ in range(CHUNK)]
            for k in range(0, CHUNK, 2):
                a = TWO_PI * us[k]
                g = sqrt(-2.0 * log(1.0 - us[k + 1]))
                buf.append(cos(a) * g)
                buf.append(sin(a) * g)
        self.buf, self.i = buf, 0

    def next(self) -> float:
        i = self.i
        if i >= len(self.buf):
            self._more(1)
            i = 0
        self.i = i + 1
        return self.buf[i]

    def peek(self, n: int) -> list[float]:
        """The next ``n`` values, not used yet."""
        if self.i + n > len(self.buf):
            self._more(n)
        return self.buf[self.i:self.i + n]

    def skip(self, n: int) -> None:
        """Use ``n`` values (after ``peek`` of at least ``n``)."""
        if self.i + n > len(self.buf):
            self._more(n)
        self.i += n
