"""The plant over a block of control periods: what ``Mechanism.run``, ``FluidLine.advance`` and
``Sensor.read`` do period after period, computed for many periods at once.

Theory of operation
-------------------
Each function here takes the state an object has before a block of ``n`` periods of ``dt`` ms and
returns arrays of what happens in every period and a ``Run`` (``controller.sensing.blocks``): a
mask of the periods it cannot take (``bad``: something the period path would do that is not
modelled here - a cap reached, a container running dry, a posture change) and ``commit(L)``,
which writes the object's state after period ``L`` (0-based) back, exactly as the period path
leaves it. Nothing changes before ``commit``: the caller decides how far the block goes
(``controller.drivers.simblock``).

Exactness: the arithmetic is the period path's, operation for operation. Integers for the
mechanism's positions; elementwise +, -, x, / and rint on floats, which numpy rounds as Python
does; running sums with ``add.accumulate``, left to right like ``+=`` in a loop; the true
recurrences (the venous wander, the line pressure) in a plain loop with the period path's
expression; exp and sqrt once, as scalars; the lead screw's shape from the same table.

Rules
1. Only the common case: a function returns ``None`` when its object is in a state it does not
   model (the caller then runs that period through the period path).
2. numpy is imported by the caller's module; these functions are only called when it is there.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from controller.core.units import VU_PER_UL
from controller.plant.line import INFINITE, VACUUM_KPA, FluidLine
from controller.plant.mechanism import Mechanism
from controller.plant.sensors import NAN, Sensor
from controller.sensing.blocks import Readings, Run, accumulate, before


class Motion(NamedTuple):
    moving: bool
    cmd: Any  # commanded steps after each period (int array)
    fwd: Any  # forward steps made
    eff: Any  # uL displaced in each period
    moved_ul: float  # uL commanded per period (the air detector's flow estimate)
    run: Run


def mechanism(m: Mechanism, dt: int, idx: Any) -> Motion | None:
    """``Mechanism.run(dt)`` each period: a healthy motor following its command (no runaway stage,
    no missed steps), up to the period in which it would reach its cap."""
    moving = m.rate > 0 and m.pos < m.cap
    if (m.runaway_rate and m.powered) or (moving and (not m.powered or m.stalled or m.missed > 0.0)):
        return None
    n = len(idx)
    if not moving:
        return Motion(False, np.full(n, m.cmd_steps, dtype=np.int64), np.full(n, m.fwd, dtype=np.int64),
                      np.zeros(n), 0.0, Run(np.zeros(n, dtype=bool), lambda last: None))
    pos = m.pos + (m.rate * dt) * idx
    cmd = np.maximum(pos // m.vps, m.cmd_steps)
    steps = cmd - m.cmd_steps
    plunger = m.plunger + steps - np.minimum(steps, m.gap)
    prev = before(m.plunger, plunger)
    if not m.cassette and not m.screw_k:
        eff = (plunger - prev) * m.true_ul
    else:
        eff = displaced(m, plunger) - displaced(m, prev)

    def commit(last: int) -> None:
        m.pos, m.cmd_steps, m.fwd = int(pos[last]), int(cmd[last]), m.fwd + int(steps[last])
        m.gap -= min(int(steps[last]), m.gap)
        m.plunger = int(plunger[last])

    return Motion(True, cmd, m.fwd + steps, eff, m.rate * dt / VU_PER_UL, Run(pos >= m.cap, commit))


def displaced(m: Mechanism, n: Any) -> Any:
    """``Mechanism.out_ul`` elementwise."""
    if not m.cassette:
        return n * m.true_ul + m.screw_k * np.frombuffer(m.shape, dtype=np.float64)[n % m.R]
    strokes, phase = np.divmod(n, m.S)
    return m.stroke_true * (strokes + np.minimum(phase, m.D) / m.D)


class LineBlock(NamedTuple):
    P: Any  # line pressure after each period (kPa)
    Pu: float  # pressure on the container side (cassette; constant in a block)
    patient: Any  # uL that reached the patient, cumulative
    container: Any  # uL left in the container after each period (None: unlimited)
    run: Run


def line(ln: FluidLine, t: Any, dt: int, eff: Any, cassette: bool) -> LineBlock | None:
    """``FluidLine.advance`` each period with ``eff`` uL pushed (>= 0): the venous wander, the container,
    the stream position, the pressure and what reached the patient (or the waste)."""
    Pu = ln.head
    if cassette and ln.up_occluded:
        if eff.any():
            return None  # the pump draws the container side down: the period path
        Pu = ln.head - ln.up_drawn / ln.Cu  # FluidLine._upstream with nothing pushed
    p, n = ln.p, len(t)
    dt_s = dt / 1000.0
    bad = np.zeros(n, dtype=bool)
    w_cache = ln.w_cache
    wander = np.full(n, ln.wander)
    if ln.connected:
        if p.wander_kpa > 0:
            if w_cache[0] != dt_s:
                a = math.exp(-dt_s / p.wander_tau_s)
                w_cache = (dt_s, a, p.wander_kpa * math.sqrt(1.0 - a * a))
            w, a_w, ws = ln.wander, w_cache[1], []
            for x in (w_cache[2] * np.array(ln.wander_noise.peek(n))).tolist():
                w = w * a_w + x
                ws.append(w)
            wander = np.array(ws)
        bad |= (t >= ln.posture_next) | (t >= ln.art_next)
        pv = ((p.venous_kpa + wander) + ln.posture) + np.where(t < ln.art_until, ln.art_amp, 0.0)
    else:
        pv = np.zeros(n)
    finite = ln.container != INFINITE
    cont = accumulate(ln.container, -eff) if finite else None
    if cont is not None:
        bad |= (eff > 0.0) & (before(ln.container, cont) < eff)  # runs dry: air follows (the period path)
    x = accumulate(ln.x, eff)
    C, P0, a_cache = ln.C, ln.P, ln.a_cache
    if ln.occluded:
        P = accumulate(P0, eff / C)
        out = np.zeros(n)
    else:
        R = ln.R * ln.factor * ln.viscosity
        tau = R * C
        if a_cache[0] != dt_s or a_cache[1] != tau:
            a_cache = (dt_s, tau, math.exp(-dt_s / tau))
        e, Pc, Ps = a_cache[2], P0, []
        for ss in (pv + (eff / dt_s) * R).tolist():
            Pc = ss + (Pc - ss) * e
            Ps.append(Pc)
        P = np.array(Ps)
        out = eff - C * (P - before(P0, P))
    bad |= P < -VACUUM_KPA
    gone = accumulate(ln.to_patient if ln.connected else ln.to_waste, out)
    patient = gone if ln.connected else np.full(n, ln.to_patient)

    def commit(last: int) -> None:
        if ln.connected:
            ln.w_cache, ln.wander = w_cache, float(wander[last])
            if p.wander_kpa > 0:
                ln.wander_noise.skip(last + 1)
            ln.to_patient = float(gone[last])
        else:
            ln.to_waste = float(gone[last])
        ln.pv = float(pv[last])
        if cassette:
            ln.Pu = Pu
        if cont is not None:
            ln.container = float(cont[last])
        ln.x = float(x[last])
        if not ln.occluded:
            ln.a_cache = a_cache
        ln.P = float(P[last])

    return LineBlock(P, Pu, patient, cont, Run(bad, commit))


FIXED_MODES = ("stuck", "out_of_range", "invalid", "disconnected")


def fixed(sensor: Sensor) -> tuple[bool, float | None]:
    """A faulted sensor that reads the same every period, and whose ``read`` changes nothing: its
    reading (False: its reading changes, or its first read sets it)."""
    mode, value = sensor.mode, sensor.value
    if mode == "stuck":
        return value is not None, value
    if mode == "out_of_range":
        return True, value if value is not None else sensor.spec.beyond
    if mode == "invalid":
        return True, NAN
    if mode == "disconnected":
        return True, None
    return False, None


def reading(sensor: Sensor, true: Any) -> Readings | None:
    """``Sensor.read(true)`` each period: a healthy or noisy sensor on its noise stream, quantized,
    or a fixed faulted one; None for one that flips at random (a noisy switch)."""
    mode = sensor.mode
    if mode not in ("ok", "noisy"):
        ok, value = fixed(sensor)
        return Readings(value, False, lambda last: None) if ok else None
    if mode == "noisy" and not sensor.noise:
        return None
    n, v, used = len(true), true, 0
    if sensor.noise:
        sd = sensor.noise if mode == "ok" else sensor.noise * sensor.factor
        v = true + sd * np.array(sensor.normal.peek(n))
        used = 1
    if sensor.lsb:
        v = np.rint(v / sensor.lsb) * sensor.lsb

    def commit(last: int) -> None:
        sensor.last = float(v[last])
        sensor.normal.skip(used * (last + 1))

    return Readings(v, True, commit)


def switch(sensor: Sensor, true: float) -> tuple[bool, float | None]:
    """What an on/off sensor reads every period of a block (False: it flips at random)."""
    if sensor.mode == "ok":
        return True, true
    return fixed(sensor)
