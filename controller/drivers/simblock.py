"""The simulated pump's block path: many control periods at once, exactly as one at a time.

Theory of operation
-------------------
``SimPump.poll_block`` (the skipping mode, ``Shell.skip``) advances the plant and the sensing by
up to ``n`` control periods and stops after the first period in which a detector produces an
event, the plant loses power, or the caller's guard trips (the shell's volume cross-check, the
runner's physical-truth check). It computes what ``n`` calls of ``SimPump.poll`` compute - the
same noise values in the same order (``plant.noise``), the same arithmetic operation for
operation - without the core, the shell and the driver protocol between the periods.

Most periods are *regular*: no motor fault, no pressure relief, no air moving past the detector,
no posture or artifact change, no container running dry, no detector or monitor edge, no battery
running out; a faulted sensor that reads the same every period is regular too. ``regular`` takes
a run of them at once with numpy: ``controller.plant.blocks`` (mechanism, line, sensors) and
``controller.sensing.blocks`` (the monitors) each give the periods they can take and how to
commit their state; the run goes up to the first period one of them cannot take, or the guard
trips, or a battery sample gives an event (the samples, every ``battery_sample_s``, run through
the scalar ``Sensor.read``, ``PowerMonitor.update`` and ``Sensing.temperature_event``). Any other
period is run by ``SimPump.poll`` itself, and so is every period without numpy: the block is exact
either way, only its cost differs.

Rules
1. Nothing is changed until the run's length is known: values are peeked, then committed.
2. The commits write Python ints and floats back (never numpy scalars) into the very attributes
   ``poll`` uses, so a block can stop anywhere and the next poll continues bit for bit.
3. A regular period produces no event; the period that does is always a scalar one or a sample.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from controller.core.events import Event
from controller.core.units import MS_PER_MIN

try:
    import numpy as np

    from controller.plant import blocks as plant_blocks
    from controller.sensing import blocks as sensing_blocks
except ImportError:  # pragma: no cover - the sim extra; without it every period goes through poll
    np = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from controller.drivers.sim import SimPump

Guard = Callable[[Any, Any, Any], Any]  # (period index, measured vu, pushed uL) -> stop after it (see Shell)
CapDuring = Callable[[int], int]  # period index -> the cap in force during it (driver coordinates)


FIRST_RUN = 64  # periods a run is tried with first; it grows 8-fold while whole runs are regular
LONGEST_RUN = 4096
MOST_WAIT = 64  # periods through poll before trying again, after runs whose first period was irregular


def run_block(pump: SimPump, start: int, period: int, n: int, guard: Guard | None,
              cap_during: CapDuring | None) -> tuple[int, list[Event]]:
    """See ``SimPump.poll_block``. The length of the runs ``regular`` is tried with adapts (a plant that
    stays irregular, a faulted switch flipping for one, costs little more than the polls)."""
    m = pump.mech
    if cap_during is not None:
        m.cap = cap_during(n)  # the shell's renewals only raise it, and the mechanism never reaches it
    done, events = 0, list[Event]()
    powered = pump.powered
    pump.marked = []
    while done < n:
        if np is not None and pump.block_wait == 0:
            size = min(n - done, pump.block_run)
            k, events, stop = regular(pump, start + done * period, period, size, guard, done)
            done += k
            if k == 0:
                pump.block_wait, pump.block_backoff = pump.block_backoff, min(MOST_WAIT, 2 * pump.block_backoff)
                pump.block_run = FIRST_RUN
            else:
                pump.block_backoff = 1
                if k == size == pump.block_run:
                    pump.block_run = min(LONGEST_RUN, 8 * size)
            if stop or done >= n:
                break
            if k == size:
                continue  # the whole run was regular: the next one
        elif pump.block_wait:
            pump.block_wait -= 1
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


def _ready(pump: SimPump) -> bool:
    """What can be told before any array is built: no relief, no command moved between polls, every
    per-period sensor healthy, noisy with Gaussian noise, or fixed (a noisy switch flips at random)."""
    if pump.relief_left or pump.cmd_ul:
        return False
    for sensor in (pump._down, pump._up) if pump.has_upstream else (pump._down,):
        if sensor.mode not in ("ok", "noisy") and not plant_blocks.fixed(sensor)[0]:
            return False
    return all(x.mode == "ok" or plant_blocks.fixed(x)[0] for x in (pump._air, pump._door, pump._res, pump._mains,
                                                                    pump._enc))


def _first(mask: Any) -> int:
    """Index of the first True (len when none)."""
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else len(mask)


def regular(pump: SimPump, t0: int, dt: int, n: int, guard: Guard | None,
            base: int) -> tuple[int, list[Event], bool]:
    """Run the regular periods among the next ``n`` (period ``base + 1`` onwards, from ``t0``).
    Returns (periods run, events of the last one, whether the block must stop there)."""
    m, ln, s, p = pump.mech, pump.line, pump.sensing, pump.params
    if not _ready(pump):
        return 0, [], False
    idx = np.arange(1, n + 1, dtype=np.int64)
    t = t0 + dt * idx
    motion = plant_blocks.mechanism(m, dt, idx)
    if motion is None or (motion.moving and ln.bubbles):
        return 0, [], False  # a motor fault, or air moving past the detector
    flow = plant_blocks.line(ln, t, dt, motion.eff, pump.has_upstream)
    if flow is None:
        return 0, [], False
    runs = [motion.run, flow.run]
    bad = np.zeros(n, dtype=bool)

    # battery and mains (SimPump._physics)
    per_min = dt / MS_PER_MIN
    if not pump.on_mains:
        battery = np.maximum(sensing_blocks.accumulate(pump.battery, np.full(n, -per_min)), 0.0)
        if pump.powered or m.powered:
            bad |= battery <= 0.0  # the power goes
    elif pump.battery < p.battery_full_min:
        charge = np.full(n, per_min * p.charge_min_per_min)
        battery = np.minimum(sensing_blocks.accumulate(pump.battery, charge), p.battery_full_min)
    else:
        battery = np.full(n, pump.battery)
    P = flow.P
    if pump._occluded_at is not None and ln.occluded:  # the crossing of the static threshold is recorded
        thr = pump.cfg.occlusion_threshold_kpa
        bad |= (sensing_blocks.before(ln.P, P) < thr) & (thr <= P)

    # the readings (SimPump.poll) and the monitors (Sensing.update)
    rate = m.rate if motion.moving else 0
    off = pump.offset_kpa
    down = plant_blocks.reading(pump._down, P + off)
    up = plant_blocks.reading(pump._up, np.full(n, flow.Pu + off)) if pump.has_upstream else None
    air_ok, r_air = plant_blocks.switch(pump._air, ln.air_fraction(pump.x_sensed) if ln.bubbles else 0.0)
    door_ok, r_door = plant_blocks.switch(pump._door, 1.0 if pump.door_open else 0.0)
    mains_ok, r_mains = plant_blocks.switch(pump._mains, 1.0 if pump.on_mains else 0.0)
    r_res: Any
    if pump._res.mode != "ok":
        res_ok, r_res = plant_blocks.fixed(pump._res)
    elif flow.container is not None:  # SimPump.poll: 1.0 once the container is at or below the empty level
        res_ok, r_res = True, np.where(flow.container <= pump.empty_ul, 1.0, 0.0)
    else:
        res_ok, r_res = True, 1.0 if ln.container <= pump.empty_ul else 0.0
    res_varying = isinstance(r_res, np.ndarray)
    enc: Any
    measured: Any
    if pump._enc.mode == "ok":
        enc, measured = (motion.fwd - m.rev).astype(np.float64), motion.fwd * m.vps
    else:
        enc_ok, enc = plant_blocks.fixed(pump._enc)
        if not enc_ok:
            return 0, [], False
        measured = None if enc is None or enc != enc or abs(enc) > 2.0**62 else (int(enc) + m.rev) * m.vps
    if down is None or (pump.has_upstream and up is None) or not (air_ok and door_ok and mains_ok and res_ok):
        return 0, [], False
    last = s._last
    monitors = [
        sensing_blocks.downstream(s.down, down, dt, idx, t, rate),
        sensing_blocks.upstream(s.up, up, dt, idx, rate) if up is not None else None,
        sensing_blocks.air(s.air, r_air, motion.moved_ul, dt, idx),
        sensing_blocks.switch(s.door, r_door, False, last[0], dt, idx),
        sensing_blocks.switch(s.reservoir, r_res, res_varying, last[1], dt, idx),
        sensing_blocks.motor(s.motor, enc, motion.cmd, m.rev, dt, idx),
    ]
    powered = sensing_blocks.power(s.power, r_mains, last[2], dt, idx)
    if powered is None or any(x is None for i, x in enumerate(monitors) if i != 1 or up is not None):
        return 0, [], False
    runs += [x for x in monitors if x is not None] + [powered[0]]
    for run in runs:
        bad |= run.bad

    # how far: the first irregular period, the guard, the samples
    r = _first(bad)
    end, stop = r, False
    pushed = sensing_blocks.accumulate(pump.pushed_ul, motion.eff)
    if guard is not None and r:
        meas = measured[:r] if isinstance(measured, np.ndarray) else measured
        trip = guard(idx[:r] + base, meas, pushed[:r])
        g = _first(np.broadcast_to(np.asarray(trip, dtype=bool), (r,)))
        if g < r:
            end, stop = g + 1, True
    events: list[Event] = []
    if end:
        end, events = _samples(pump, t, battery, end, dt, r_mains, powered[1])
        stop = stop or bool(events)
    if not end:
        return 0, [], False

    # commit (rule 2)
    L = end - 1
    for run in runs:
        run.commit(L)
    down.commit(L)
    if up is not None:
        up.commit(L)
    pump.t = pump.t_sensed = int(t[L])
    pump.battery = float(battery[L])
    top = float(P[:end].max())
    if top > pump.max_kpa:
        pump.max_kpa = top
    pump.pushed_ul = float(pushed[L])
    pump.x_sensed = ln.x
    pump.sensed_kpa = float(down.values[L]) if down.varying else down.values
    pump.enc_reading = float(enc[L]) if isinstance(enc, np.ndarray) else enc
    s._last = (r_door, float(r_res[L]) if res_varying else r_res, r_mains)
    if pump.mark_at:
        pump.marked += [(i, float(flow.patient[i - base - 1]), float(P[i - base - 1]),
                         float(down.values[i - base - 1]) if down.varying else down.values)
                        for i in sorted(pump.mark_at) if base < i <= base + end]
    return end, events, stop


def _samples(pump: SimPump, t: Any, battery: Any, end: int, dt: int, mains: float | None,
             bad_before: Any) -> tuple[int, list[Event]]:
    """The battery and temperature samples among the first ``end`` periods, through the scalar code
    (``bad_before``: the power monitor's invalid-mains count before each period, None when it reads
    mains); a sample that gives an event ends the run there."""
    s = pump.sensing
    every = round(s.cfg.battery_sample_s * 1000)
    while True:
        q = int(np.searchsorted(t[:end], pump.next_slow))  # the first period at or after the next sample
        if q >= end:
            return end, []
        now = int(t[q])
        pump.next_slow = now + every
        r_bat = pump.sensors["battery"].read(float(battery[q]))
        s.temperature = pump.sensors["temperature"].read(pump.temperature_c)
        if bad_before is not None:
            s.power.bad_for = int(bad_before[q])
        events = [e for e in (s.power.update(mains, r_bat, True, dt), s.temperature_event()) if e is not None]
        if events:
            return q + 1, events
