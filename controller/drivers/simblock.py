"""The simulated pump's block path: many control periods at once, exactly as one at a time.

Theory of operation
-------------------
``SimPump.poll_block`` (the skipping mode, ``Shell.skip``) advances the plant and the sensing by
up to ``n`` control periods and stops after the first period in which a detector produces an
event, the plant loses power, or the caller's guard trips (the shell's volume cross-check, the
runner's physical-truth check). It computes what ``n`` calls of ``SimPump.poll`` compute - the
same noise values in the same order (``plant.noise``), the same arithmetic operation for
operation - without the core, the shell and the driver protocol between the periods.

Most periods are *regular*: healthy sensors, no motor fault, no pressure relief, no air, no
posture or artifact change, no container running dry, no detector or motor-monitor edge, no
battery running out. ``regular`` computes a run of them with numpy: integer mechanism
positions, elementwise floats, running sums (``add.accumulate``, left to right like the period
loop) and, for the true recurrences (the venous wander, the line pressure, the trend filter and
its baseline), a plain loop with the period path's expression. Only +, -, x, /, rint, min, max
and comparisons are vectorized: each gives the correctly rounded result the scalar operation
gives; exp and sqrt are computed once, as scalars, and the lead screw's shape is the same table.
The battery and temperature samples (every ``battery_sample_s``) run through the scalar
``Sensor.read``, ``PowerMonitor.update`` and ``Sensing.temperature_event`` inside the run.

Any period ``regular`` does not take - the first irregular one, or every one without numpy - is
run by ``SimPump.poll`` itself: the block is exact either way, only its cost differs.

Rules
1. Nothing is changed until the run's length is known: values are peeked, then committed.
2. The commit writes Python ints and floats back (never numpy scalars) into the very attributes
   ``poll`` uses, so a block can stop anywhere and the next poll continues bit for bit.
3. A regular period produces no event; the period that does is always a scalar one or a sample.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from controller.core.events import Event
from controller.core.units import MS_PER_MIN
from controller.plant.line import INFINITE, VACUUM_KPA

try:
    import numpy as np
except ImportError:  # pragma: no cover - the sim extra; without it every period goes through poll
    np = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from controller.drivers.sim import SimPump

Guard = Callable[[Any, Any, Any], Any]  # (period index, measured vu, pushed uL) -> stop after it (see Shell)
CapDuring = Callable[[int], int]  # period index -> the cap in force during it (driver coordinates)


def run_block(pump: SimPump, start: int, period: int, n: int, guard: Guard | None,
              cap_during: CapDuring | None) -> tuple[int, list[Event]]:
    """See ``SimPump.poll_block``."""
    m = pump.mech
    if cap_during is not None:
        m.cap = cap_during(n)  # the shell's renewals only raise it, and the mechanism never reaches it
    done, events = 0, list[Event]()
    powered = pump.powered
    pump.marked = []
    while done < n:
        k, events, stop = regular(pump, start + done * period, period, n - done, guard, done) if np else (0, [], False)
        done += k
        if stop or done >= n:
            break
        done += 1
        events = pump.poll(start + done * period)
        if done in pump.mark_at:
            pump.marked.append((done, pump.line.to_patient, pump.line.P, pump.sensed_kpa))
        if events or (powered and not pump.powered):
            break
        if guard is not None and guard(done, pump.measured_vu(), pump.pushed_ul):
            break
    if cap_during is not None:
        m.cap = cap_during(done)
    return done, events


def _steady(pump: SimPump) -> bool:
    """The conditions under which a period can be regular at all (checked once per run)."""
    m, line, s = pump.mech, pump.line, pump.sensing
    if pump.relief_left or (m.runaway_rate and m.powered) or line.bubbles:
        return False
    if m.rate > 0 and m.pos < m.cap and (not m.powered or m.stalled or m.missed > 0.0):
        return False
    sensors = (pump._down, pump._air, pump._door, pump._res, pump._mains, pump._enc)
    if any(x.mode != "ok" for x in sensors) or (pump.has_upstream and (pump._up.mode != "ok" or line.up_occluded)):
        return False
    a = s.air
    if a.seg or a.need_clear or a.bad_for or s.door.bad_for or s.reservoir.bad_for or s.power.bad_for:
        return False
    door, mains = 1.0 if pump.door_open else 0.0, 1.0 if pump.on_mains else 0.0
    if door != s._last[0] or mains != s._last[2]:
        return False
    rate = m.rate if m.pos < m.cap else 0
    d = s.down
    return not (d.ch.failed or d.f is None or d.rate_seen != rate or (pump.has_upstream and s.up.ch.failed))


def _first(mask: Any) -> int:
    """Index of the first True (len when none)."""
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else len(mask)


def _acc(x0: float, steps: Any) -> Any:
    """``x0 + steps[0] + steps[1] + ...`` left to right, every partial sum (the period loop's ``+=``)."""
    out = np.empty(len(steps) + 1)
    out[0] = x0
    out[1:] = steps
    return np.add.accumulate(out)[1:]


def _stuck(eq: Any, same0: int, live: bool, stuck_ms: int, dt: int, idx: Any) -> Any:
    """``Channel.feed``'s ``same_for`` after each reading: + dt per bit-identical reading while the motor
    runs, 0 after a different one (``eq``: the reading equals the previous one)."""
    last = np.maximum.accumulate(np.where(eq, 0, idx))  # the latest period whose reading differed
    if live and stuck_ms > 0:
        return np.where(last == 0, same0 + dt * idx, dt * (idx - last))
    return np.where(last == 0, same0, 0)


def _median(m1: float, m2: float, r: Any) -> Any:
    s = np.concatenate(([m1, m2], r))
    a, b, c = s[:-2], s[1:-1], s[2:]
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


def regular(pump: SimPump, t0: int, dt: int, n: int, guard: Guard | None,
            base: int) -> tuple[int, list[Event], bool]:
    """Run the regular periods among the next ``n`` (period ``base + 1`` onwards, from ``t0``).
    Returns (periods run, events of the last one, whether the block must stop there)."""
    if not _steady(pump):
        return 0, [], False
    m, line, s, p = pump.mech, pump.line, pump.sensing, pump.params
    idx = np.arange(1, n + 1, dtype=np.int64)
    t = t0 + dt * idx
    bad = np.zeros(n, dtype=bool)  # irregular periods

    # --- mechanism (Mechanism.run) ------------------------------------------------------------
    moving = m.rate > 0 and m.pos < m.cap
    if moving:
        pos = m.pos + (m.rate * dt) * idx
        bad |= pos >= m.cap
        cmd = np.maximum(pos // m.vps, m.cmd_steps)
        steps = cmd - m.cmd_steps
        plunger = m.plunger + steps - np.minimum(steps, m.gap)
        before = np.concatenate(([m.plunger], plunger[:-1]))
        if not m.cassette and not m.screw_k:
            eff = (plunger - before) * m.true_ul
        else:
            eff = _displaced(pump, plunger) - _displaced(pump, before)
        fwd = m.fwd + steps
    else:
        cmd, fwd = np.full(n, m.cmd_steps, dtype=np.int64), np.full(n, m.fwd, dtype=np.int64)
        eff = np.zeros(n)

    # --- battery (SimPump._physics) ------------------------------------------------------------
    per_min = dt / MS_PER_MIN
    if not pump.on_mains:
        battery = np.maximum(_acc(pump.battery, np.full(n, -per_min)), 0.0)
        if pump.powered or m.powered:
            bad |= battery <= 0.0
    elif pump.battery < p.battery_full_min:
        battery = np.minimum(_acc(pump.battery, np.full(n, per_min * p.charge_min_per_min)), p.battery_full_min)
    else:
        battery = np.full(n, pump.battery)

    # --- line (Line.advance, Line._venous) ------------------------------------------------------
    dt_s = dt / 1000.0
    wz: list[float] = []
    if line.connected:
        w = line.wander
        if p.wander_kpa > 0:
            c = line.w_cache
            if c[0] != dt_s:
                a = math.exp(-dt_s / p.wander_tau_s)
                c = (dt_s, a, p.wander_kpa * math.sqrt(1.0 - a * a))
            wz = line.wander_noise.peek(n)
            cz = (c[2] * np.array(wz)).tolist()
            ws, a_w = [], c[1]
            for x in cz:
                w = w * a_w + x
                ws.append(w)
            wander = np.array(ws)
        else:
            c = line.w_cache
            wander = np.full(n, w)
        bad |= (t >= line.posture_next) | (t >= line.art_next)
        art = np.where(t < line.art_until, line.art_amp, 0.0)
        pv = ((p.venous_kpa + wander) + line.posture) + art
    else:
        c = line.w_cache
        wander = np.full(n, line.wander)
        pv = np.zeros(n)
    finite = line.container != INFINITE
    if finite:
        cont = _acc(line.container, -eff)
        left = np.concatenate(([line.container], cont[:-1]))
        bad |= (eff > 0.0) & (left < eff)
        res = np.where(cont <= pump.empty_ul, 1.0, 0.0)
    else:
        cont = np.full(n, line.container)
        res = np.zeros(n)
    bad |= res != s._last[1]
    x = _acc(line.x, eff)
    C, P0 = line.C, line.P
    ac = line.a_cache
    if line.occluded:
        P = _acc(P0, eff / C)
        out = np.zeros(n)
    else:
        R = line.R * line.factor * line.viscosity
        tau = R * C
        if ac[0] != dt_s or ac[1] != tau:
            ac = (dt_s, tau, math.exp(-dt_s / tau))
        e = ac[2]
        Ps, Pc = [], P0
        for ss in (pv + (eff / dt_s) * R).tolist():
            Pc = ss + (Pc - ss) * e
            Ps.append(Pc)
        P = np.array(Ps)
        out = eff - C * (P - np.concatenate(([P0], P[:-1])))
    bad |= P < -VACUUM_KPA
    if pump._occluded_at is not None and line.occluded:
        thr = pump.cfg.occlusion_threshold_kpa
        bad |= (np.concatenate(([P0], P[:-1])) < thr) & (thr <= P)
    delivered = _acc(line.to_patient if line.connected else line.to_waste, out)
    pushed = _acc(pump.pushed_ul, eff)

    # --- sensors (Sensor.read) --------------------------------------------------------------------
    off = pump.offset_kpa
    rd, zd = _reading(pump._down, P + off, n)
    d = s.down
    live = bool(moving)
    rate = m.rate if moving else 0
    bad |= (rd < d.ch.lo) | (rd > d.ch.hi)
    prev = np.concatenate(([np.nan if d.ch.prev is None else d.ch.prev], rd[:-1]))
    same = _stuck(rd == prev, d.ch.same_for, live, d.ch.stuck_ms, dt, idx)
    bad |= same >= d.ch.stuck_ms if live and d.ch.stuck_ms > 0 else False
    med = _median(d.m1, d.m2, rd)

    # --- downstream occlusion (Downstream.update) ------------------------------------------------
    al = d.alpha
    if al[0] != dt:
        al = (dt, 1.0 - math.exp(-dt / d.tau_ms))
    a_f, f, B = al[1], d.f, d.B
    fs, bs = [], []
    if rate > 0 and B is not None:
        bad |= t < d.armed_at  # (never: a baseline exists only once armed)
        cd = d.creep * dt
        for v in rd.tolist():
            f = f + (v - f) * a_f
            B = B + cd
            B = B if B < f else f
            fs.append(f)
            bs.append(B)
        excess = np.array(fs) - np.array(bs)
    else:
        for v in rd.tolist():
            f = f + (v - f) * a_f
            fs.append(f)
        excess = np.zeros(n)
        if rate > 0:
            bad |= t >= d.armed_at  # the baseline is set: irregular
    if not d.occluded:
        bad |= med >= d.thr
        if d.trend:
            bad |= excess >= d.rise
    else:
        bad |= med <= d.alarm_base + 0.4 * (d.hold_level() - d.alarm_base)

    # --- upstream (Upstream.update, cassette) and the motor monitor -------------------------------
    up = s.up
    if pump.has_upstream:
        ru, zu = _reading(pump._up, np.full(n, line.head + off), n)
        bad |= (ru < up.ch.lo) | (ru > up.ch.hi)
        uprev = np.concatenate(([np.nan if up.ch.prev is None else up.ch.prev], ru[:-1]))
        usame = _stuck(ru == uprev, up.ch.same_for, live, up.ch.stuck_ms, dt, idx)
        bad |= usame >= up.ch.stuck_ms if live and up.ch.stuck_ms > 0 else False
        umed = _median(up.m1, up.m2, ru)
        bad |= (umed >= -0.5 * up.thr) if up.occluded else (umed <= -up.thr)
    if not s.motor.faulted:
        moved = (fwd - m.rev).astype(np.float64) + m.rev
        bad |= (cmd - moved >= s.motor.slip) | (moved - cmd >= s.motor.over)

    # --- how far: the first irregular period, the guard, the samples ----------------------------------
    r = _first(bad)
    end, stop = r, False
    if guard is not None and r:
        trip = guard(idx[:r] + base, fwd[:r] * m.vps, pushed[:r])
        g = _first(np.broadcast_to(np.asarray(trip, dtype=bool), (r,)))
        if g < r:
            end, stop = g + 1, True
    events: list[Event] = []
    if end:
        end, events = _samples(pump, t, battery, end, dt)
        stop = stop or bool(events)
    if not end:
        return 0, [], False

    # --- commit (rule 2) ---------------------------------------------------------------------------------
    L = end - 1
    pump.t = pump.t_sensed = int(t[L])
    pump.battery = float(battery[L])
    pump.cmd_ul = 0.0
    top = float(P[:end].max())
    if top > pump.max_kpa:
        pump.max_kpa = top
    pump.pushed_ul = float(pushed[L])
    if moving:
        m.pos, m.cmd_steps, m.fwd = int(pos[L]), int(cmd[L]), int(fwd[L])
        m.gap -= min(int(steps[L]), m.gap)
        m.plunger = int(plunger[L])
    pump.enc_reading = float(m.fwd - m.rev)
    if line.connected:
        line.w_cache = c
        line.wander = float(wander[L])
        if p.wander_kpa > 0:
            line.wander_noise.skip(end)
    line.pv = float(pv[L])
    if pump.has_upstream:
        line.Pu = line.head
    if finite:
        line.container = float(cont[L])
    line.x = pump.x_sensed = float(x[L])
    if not line.occluded:
        line.a_cache = ac
    line.P = float(P[L])
    if line.connected:
        line.to_patient = float(delivered[L])
    else:
        line.to_waste = float(delivered[L])
    r_d = float(rd[L])
    pump._down.last = pump.sensed_kpa = r_d
    pump._down.normal.skip(zd * end)
    _channel(d.ch, r_d, int(same[L]))
    d.m1, d.m2 = (float(rd[L - 1]) if L else d.m2), r_d
    d.alpha, d.f, d.valid_now = al, fs[L], True
    if rate > 0 and d.B is not None:
        d.B = bs[L]
    if d.occluded:
        d.clear_for = 0
    if pump.has_upstream:
        r_u = float(ru[L])
        pump._up.last = r_u
        pump._up.normal.skip(zu * end)
        _channel(up.ch, r_u, int(usame[L]))
        up.m1, up.m2 = (float(ru[L - 1]) if L else up.m2), r_u
        if up.occluded:
            up.clear_for = 0
    if not s.motor.faulted:
        s.motor.bad_for = 0
    if pump.mark_at:
        patient = delivered if line.connected else np.full(n, line.to_patient)
        pump.marked += [(i, float(patient[i - base - 1]), float(P[i - base - 1]), float(rd[i - base - 1]))
                        for i in sorted(pump.mark_at) if base < i <= base + end]
    return end, events, stop


def _displaced(pump: SimPump, n: Any) -> Any:
    """``Mechanism.out_ul`` elementwise."""
    m = pump.mech
    if not m.cassette:
        return n * m.true_ul + m.screw_k * np.frombuffer(m.shape, dtype=np.float64)[n % m.R]
    strokes, phase = np.divmod(n, m.S)
    return m.stroke_true * (strokes + np.minimum(phase, m.D) / m.D)


def _reading(sensor: Any, true: Any, n: int) -> tuple[Any, int]:
    """``Sensor.read`` of a healthy sensor elementwise, and how many noise values it used per reading."""
    v = true
    used = 0
    if sensor.noise:
        v = true + sensor.noise * np.array(sensor.normal.peek(n))
        used = 1
    if sensor.lsb:
        v = np.rint(v / sensor.lsb) * sensor.lsb
    return v, used


def _channel(ch: Any, r: float, same_for: int) -> None:
    """``Channel.feed``'s state after a valid reading ``r``."""
    ch.prev, ch.same_for, ch.bad_for, ch.failed = r, same_for, 0, False


def _samples(pump: SimPump, t: Any, battery: Any, end: int, dt: int) -> tuple[int, list[Event]]:
    """The battery and temperature samples among the first ``end`` periods, through the scalar code;
    a sample that gives an event ends the run there."""
    s = pump.sensing
    every = round(s.cfg.battery_sample_s * 1000)
    mains = 1.0 if pump.on_mains else 0.0
    q = 0
    while True:
        q = int(np.searchsorted(t[:end], pump.next_slow))  # the first period at or after the next sample
        if q >= end:
            return end, []
        now = int(t[q])
        pump.next_slow = now + every
        r_bat = pump.sensors["battery"].read(float(battery[q]))
        s.temperature = pump.sensors["temperature"].read(pump.temperature_c)
        events = [e for e in (s.power.update(mains, r_bat, True, dt), s.temperature_event()) if e is not None]
        if events:
            return q + 1, events
