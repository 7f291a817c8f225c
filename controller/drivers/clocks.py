"""Clocks for the shell and the simulated plant: a protocol, a simulated clock that moves only
when told to, and the monotonic wall clock. Below the drivers and the runtime, so both use one."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol


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
