"""Simulated administration set and patient: pressures, occlusions, container and air.

Theory of operation
-------------------
Downstream of the pump the line is a compliance ``C`` (uL/kPa) draining through a resistance
``R`` into the patient's vein at pressure ``Pv``. With the volume pushed in an interval taken
as a constant inflow ``q``, the pressure at the pump's sensor follows the exact solution of
``C dP/dt = q - (P - Pv)/R``::

    P(t + dt) = Pss + (P - Pss) exp(-dt / RC),     Pss = Pv + q R

and the volume that reached the patient is what was pushed minus what the compliance stored.
A full downstream occlusion (a closed stopcock between sensor and patient) stops the outflow:
every pushed microlitre is stored and the pressure rises by ``q dt / C``, so the time to a
threshold is ``C x dP / q`` (about 100 s at 25 mL/h and 41 min at 1 mL/h for 0.01 mL/kPa and
10 psi). Releasing it drains the stored excess ``C (P - Pss)`` into the patient: the
unintended bolus, recorded at the moment of release. A partial occlusion multiplies ``R``.

``Pv`` is the venous pressure plus a slow Ornstein-Uhlenbeck wander (its own noise stream,
``plant.noise.Normal``), posture steps (a new hydrostatic level at random times) and short motion
artifacts (coughs, bumps): the "noisy normal infusion" the occlusion detectors must not alarm on.

Upstream (cassette only) the container at ``head_height_cm`` feeds the pump through a small
compliance; an upstream occlusion lets the pump draw that compliance down towards vacuum
(delivering what it holds), after which nothing more enters the line.

Air travels with the flow as segments of the cumulative volume stream ``x`` past the air
detector: an injected bubble occupies ``[x + upstream, x + upstream + volume]``; an empty
container feeds air from ``air_path_ul`` upstream until it is refilled.

Rules
1. Exact exponential update: stable for any interval, so a long control period loses nothing.
2. Volumes conserve: pushed = stored + to patient (or to waste while the patient line is
   disconnected for priming).
3. Temperature scales the resistance through the viscosity of water (about -2 % per C).
4. ``advance`` is the one definition of an interval; the block path (``controller.drivers.simblock``)
   repeats its arithmetic operation for operation, so a block of periods ends bit for bit where
   the periods one at a time do.
"""

from __future__ import annotations

import math
import random

from controller.plant.noise import Normal
from controller.plant.params import PlantParams

KPA_PER_CM_H2O = 0.0980665
VACUUM_KPA = 90.0  # gauge pressure at which the fluid cavitates: the floor for any line pressure
INFINITE = math.inf


class FluidLine:
    __slots__ = (
        "C", "Cu", "P", "Pu", "R", "a_cache", "air_passed", "art_amp", "art_next", "art_until", "bubbles",
        "cassette", "connected", "container", "empty_at", "factor", "head", "occluded", "p",
        "posture", "posture_next", "pv", "rng", "to_patient", "to_waste", "up_drawn", "up_occluded",
        "viscosity", "w_cache", "wander", "wander_noise", "x",
    )

    def __init__(self, p: PlantParams, rng: random.Random, wander_noise: Normal | None = None) -> None:
        self.p = p
        self.rng = rng
        self.wander_noise = wander_noise if wander_noise is not None else Normal(f"{rng.getrandbits(64)}:wander")
        self.C = p.compliance_ml_per_kpa * 1000.0  # uL/kPa
        self.R = p.resistance_kpa_per_ml_h * 3.6  # kPa per uL/s (1 uL/s = 3.6 mL/h)
        self.Cu = p.upstream_compliance_ml_per_kpa * 1000.0
        self.head = p.head_height_cm * KPA_PER_CM_H2O
        self.cassette = p.mechanism == "cassette"
        self.viscosity = 1.0
        self.factor = 1.0  # resistance multiplier (partial occlusion)
        self.occluded = False
        self.up_occluded = False
        self.up_drawn = 0.0
        self.connected = True
        self.wander = 0.0
        self.posture = 0.0
        self.art_amp = 0.0
        self.art_until = 0
        self.posture_next = self._next(0, p.posture_per_h)
        self.art_next = self._next(0, p.artifacts_per_h)
        self.pv = p.venous_kpa
        self.P = self.pv
        self.Pu = self.head
        self.to_patient = 0.0
        self.to_waste = 0.0
        self.container = INFINITE if p.reservoir_ml is None else p.reservoir_ml * 1000.0
        self.empty_at: float | None = None  # stream position at which container air reaches the detector
        self.x = 0.0  # cumulative volume pushed past the air detector (uL)
        self.bubbles: list[list[float]] = []  # [start, end] in stream coordinates
        self.air_passed = 0.0
        self.a_cache: tuple[float, float, float] = (-1.0, -1.0, 0.0)  # (dt, tau, exp(-dt/tau))
        self.w_cache: tuple[float, float, float] = (-1.0, 0.0, 0.0)  # (dt, a, noise scale)

    def _next(self, t_ms: int, per_h: float) -> int:
        if per_h <= 0:
            return 2**62
        return t_ms + max(1, int(self.rng.expovariate(per_h) * 3_600_000))

    # --- patient side ------------------------------------------------------------------------

    def _venous(self, t_ms: int, dt_s: float) -> float:
        p = self.p
        if p.wander_kpa > 0:
            c = self.w_cache
            if c[0] != dt_s:
                a = math.exp(-dt_s / p.wander_tau_s)
                c = self.w_cache = (dt_s, a, p.wander_kpa * math.sqrt(1.0 - a * a))
            self.wander = self.wander * c[1] + c[2] * self.wander_noise.next()
        if t_ms >= self.posture_next:
            self.posture = self.rng.uniform(-p.posture_kpa, p.posture_kpa)
            self.posture_next = self._next(t_ms, p.posture_per_h)
        if t_ms >= self.art_next:
            sign = 1.0 if self.rng.random() < 0.8 else -1.0
            self.art_amp = sign * self.rng.uniform(0.3, 1.0) * p.artifact_kpa
            self.art_until = t_ms + int(self.rng.uniform(500, 3000))
            self.art_next = self._next(t_ms, p.artifacts_per_h)
        art = self.art_amp if t_ms < self.art_until else 0.0
        return p.venous_kpa + self.wander + self.posture + art

    # --- one interval ------------------------------------------------------------------------

    def advance(self, t_ms: int, dt_ms: int, pushed: float) -> float:
        """Advance ``dt_ms`` ending at ``t_ms`` with ``pushed`` uL displaced by the mechanism;
        return the volume that entered the downstream line (uL)."""
        dt = dt_ms / 1000.0
        pv = self._venous(t_ms, dt) if self.connected else 0.0
        self.pv = pv
        eff = pushed
        if self.cassette:
            eff = self._upstream(pushed)
        if eff > 0.0:
            self._draw(eff)
        elif eff < 0.0 and self.container != INFINITE:
            self.container -= eff  # relief returns fluid to the container
        C = self.C
        P = self.P
        q = eff / dt
        if self.occluded:
            Pn = P + eff / C
            out = 0.0
        else:
            R = self.R * self.factor * self.viscosity
            tau = R * C
            c = self.a_cache
            if c[0] != dt or c[1] != tau:
                c = self.a_cache = (dt, tau, math.exp(-dt / tau))
            pss = pv + q * R
            Pn = pss + (P - pss) * c[2]
            out = eff - C * (Pn - P)
        if Pn < -VACUUM_KPA:
            Pn = -VACUUM_KPA
        self.P = Pn
        if self.connected:
            self.to_patient += out
        else:
            self.to_waste += out
        return eff

    def _upstream(self, pushed: float) -> float:
        if not self.up_occluded:
            self.Pu = self.head
            return pushed
        if pushed <= 0.0:
            self.up_drawn += pushed
            self.Pu = self.head - self.up_drawn / self.Cu
            return pushed
        avail = self.Cu * (self.head + VACUUM_KPA) - self.up_drawn
        eff = pushed if pushed < avail else max(0.0, avail)
        self.up_drawn += eff
        self.Pu = max(-VACUUM_KPA, self.head - self.up_drawn / self.Cu)
        return eff

    def _draw(self, eff: float) -> None:
        """Take ``eff`` from the container; air follows once it is empty."""
        x0 = self.x
        if self.container != INFINITE:
            if self.container >= eff:
                self.container -= eff
            else:
                if self.empty_at is None:
                    self.empty_at = x0 + self.container + self.p.air_path_ul
                    self.bubbles.append([self.empty_at, INFINITE])
                self.container = 0.0
        self.x = x0 + eff

    # --- air detector ------------------------------------------------------------------------

    def air_fraction(self, x0: float) -> float:
        """Share of the stream that passed the detector since ``x0`` that was air (1.0 if the
        pump did not move and air sits at the detector)."""
        x1 = self.x
        if not self.bubbles:
            return 0.0
        if x1 <= x0:
            return 1.0 if any(s <= x0 < e for s, e in self.bubbles) else 0.0
        air = 0.0
        for s, e in self.bubbles:
            lo = s if s > x0 else x0
            hi = e if e < x1 else x1
            if hi > lo:
                air += hi - lo
        self.air_passed += air
        self.bubbles = [b for b in self.bubbles if b[1] > x1]
        return air / (x1 - x0)

    def add_bubble(self, volume_ul: float, upstream_ul: float) -> None:
        start = self.x + upstream_ul
        self.bubbles.append([start, start + volume_ul])

    def purge_air(self) -> None:
        """A clinician purges the line: every bubble between the container and the detector goes."""
        reach = self.x + self.p.air_path_ul
        kept = []
        for s, e in self.bubbles:
            if e == INFINITE and self.container <= 0.0:
                kept.append([reach, INFINITE])  # the empty container keeps feeding air
            elif s > reach:
                kept.append([s, e])
        self.bubbles = kept

    def refill(self, ul: float) -> None:
        """A new container (or the declared one when [plant] gives none)."""
        if self.empty_at is not None:
            end = self.x + self.p.air_path_ul
            self.bubbles = [[s, end if e == INFINITE else e] for s, e in self.bubbles if s < end]
            self.empty_at = None
        self.container = ul

    # --- occlusions --------------------------------------------------------------------------

    def occlude(self, factor: float | None) -> None:
        if factor is None:
            self.occluded = True
        else:
            self.factor = factor

    def release(self, q_ul_s: float) -> float:
        """Open the downstream line with the pump now pushing ``q_ul_s``; return the stored excess
        over the new steady state, which drains into the patient as a bolus (uL)."""
        pss = (self.pv if self.connected else 0.0) + q_ul_s * self.R * self.viscosity
        excess = max(0.0, self.C * (self.P - pss))
        self.occluded = False
        self.factor = 1.0
        return excess

    def occlude_upstream(self, on: bool) -> None:
        self.up_occluded = on
        if not on:
            self.up_drawn = 0.0
            self.Pu = self.head
