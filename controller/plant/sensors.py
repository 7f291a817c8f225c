"""Simulated sensors with injectable faults.

Theory of operation
-------------------
A ``Sensor`` turns a true physical value into a reading: true value plus Gaussian noise,
quantized to the converter's resolution. Every sensor can be put into a fault mode at any
time (``set_fault``):

- ``stuck``: the reading freezes (at ``value`` if given, else at the last reading);
- ``noisy``: the noise is multiplied by ``factor`` (a sensor without noise flips its reading
  with probability ``factor`` percent instead);
- ``out_of_range``: the reading is ``value`` if given, else a value outside the sensor's range;
- ``invalid``: the reading is NaN (a failed conversion);
- ``disconnected``: no reading at all (None);
- ``ok``: healthy again.

Rules
1. Readings are floats (booleans as 0.0 / 1.0) or None: one shape for the sensing layer.
2. Each sensor draws from its own random streams (Gaussian noise from a ``plant.noise.Normal``, the
   flips of a noisy switch from a ``random.Random``), so faulting one never changes another's noise.
3. A healthy reading is ``true + noise x z`` with ``z`` the stream's next value, quantized by
   ``round(v / lsb) x lsb``: the block path (``controller.drivers.simblock``) computes exactly this.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from controller.plant.noise import Normal

MODES: tuple[str, ...] = ("ok", "stuck", "noisy", "out_of_range", "invalid", "disconnected")
NAN = float("nan")


@dataclass(frozen=True, slots=True)
class SensorSpec:
    name: str
    lo: float  # valid range of a healthy reading
    hi: float
    noise: float = 0.0  # standard deviation (reading units)
    lsb: float = 0.0  # resolution; 0: continuous
    beyond: float = 1e9  # out_of_range default reading


class Sensor:
    __slots__ = ("factor", "last", "lsb", "mode", "noise", "normal", "rng", "spec", "value")

    def __init__(self, spec: SensorSpec, rng: random.Random, normal: Normal | None = None) -> None:
        self.spec = spec
        self.rng = rng
        self.normal = normal if normal is not None else Normal(f"{rng.getrandbits(64)}:normal")
        self.noise = spec.noise
        self.lsb = spec.lsb
        self.mode = "ok"
        self.value: float | None = None
        self.factor = 10.0
        self.last: float | None = None

    def set_fault(self, mode: str, value: float | None = None, factor: float = 10.0) -> None:
        if mode not in MODES:
            raise ValueError(f"sensor fault mode {mode!r}; allowed: {', '.join(MODES)}")
        self.mode = mode
        self.value = value if value is not None else (self.last if mode == "stuck" else None)
        self.factor = factor

    def read(self, true: float) -> float | None:
        mode = self.mode
        if mode == "ok":
            v = true
            if self.noise:
                v = true + self.noise * self.normal.next()
        elif mode == "noisy":
            if self.noise:
                v = true + (self.noise * self.factor) * self.normal.next()
            else:
                v = (1.0 - true) if self.rng.random() * 100.0 < self.factor else true
        elif mode == "stuck":
            if self.value is None:
                self.value = true
            return self.value
        elif mode == "out_of_range":
            return self.value if self.value is not None else self.spec.beyond
        elif mode == "invalid":
            return NAN
        else:
            return None
        lsb = self.lsb
        if lsb:
            v = round(v / lsb) * lsb
        self.last = v
        return v

    def valid(self, r: float | None) -> bool:
        """A reading a healthy sensor could give (not None, not NaN, within range)."""
        return r is not None and self.spec.lo <= r <= self.spec.hi
