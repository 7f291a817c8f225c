"""The sensing layer over a block of control periods: what the monitors' ``update`` calls would do
period after period, computed for many periods at once.

Theory of operation
-------------------
Each function takes a monitor (``controller.sensing.detect``, ``controller.sensing.pressure``) as
it stands before a block, the readings of every period (an array, or one value read every period)
and returns a ``Run``: a mask of the periods it cannot take - every
period in which the monitor would report an event or change in a way not modelled here (an
occlusion, a sensor failing, a switch flipping, a bubble ending) - and ``commit(L)``, which writes
the monitor's state after period ``L`` back, as the period path leaves it. A regular period of a
monitor is one in which ``update`` returns None and changes only counters and filters.

The trend filter and its baseline are recurrences: a plain loop with ``Downstream.update``'s
expressions. Everything else is elementwise or a running count, in the period path's arithmetic.

Rules
1. None: the monitor is in a state this module does not model; the caller runs that period
   through the period path (``SimPump.poll``), which is always right.
2. Readings that are None, NaN or out of range count as invalid exactly as the monitors count them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from controller.sensing.detect import AirMonitor, MotorMonitor, PowerMonitor, Switch
from controller.sensing.pressure import Channel, Downstream, Upstream

Commit = Callable[[int], None]


class Run(NamedTuple):
    """A block as one object would take it (see the module docstring)."""

    bad: Any  # bool array: periods this block cannot take
    commit: Commit  # write the object's state after period ``last`` (0-based)


class Readings(NamedTuple):
    values: Any  # float array, or one value read every period (possibly None or NaN)
    varying: bool  # values is an array
    commit: Commit


def accumulate(x0: float, steps: Any) -> Any:
    """``x0 + steps[0] + steps[1] + ...`` left to right, every partial sum (the period loop's ``+=``)."""
    out = np.empty(len(steps) + 1)
    out[0] = x0
    out[1:] = steps
    return np.add.accumulate(out)[1:]


def before(x0: Any, xs: Any) -> Any:
    """The value before each period: ``x0``, then ``xs`` shifted by one."""
    return np.concatenate(([x0], xs[:-1]))


def _noop(n: int) -> Run:
    return Run(np.zeros(n, dtype=bool), lambda last: None)


def _in(r: float | None, lo: float, hi: float) -> bool:
    return r is not None and lo <= r <= hi  # NaN is not


def _invalid_run(bad_for: int, invalid_ms: int, dt: int, idx: Any, fails: bool, set_bad: Any) -> Run:
    """A monitor counting invalid time: ``bad_for`` grows by ``dt`` each period; ``fails``: its
    crossing of ``invalid_ms`` would change more than the counter (an event, a failed channel)."""
    grown = bad_for + dt * idx
    return Run(grown >= invalid_ms if fails else np.zeros(len(idx), dtype=bool),
               lambda last: set_bad(int(grown[last])))


def _same_for(ch: Channel, r: Any, live: bool, dt: int, idx: Any) -> Any:
    """``Channel.feed``'s ``same_for`` after each valid reading: + dt per bit-identical reading while
    the motor runs, 0 after a different one."""
    eq = r == before(np.nan if ch.prev is None else ch.prev, r)
    last = np.maximum.accumulate(np.where(eq, 0, idx))  # the latest period whose reading differed
    if live and ch.stuck_ms > 0:
        return np.where(last == 0, ch.same_for + dt * idx, dt * (idx - last))
    return np.where(last == 0, ch.same_for, 0)


def _median(m1: float, m2: float, r: Any) -> Any:
    s = np.concatenate(([m1, m2], r))
    a, b, c = s[:-2], s[1:-1], s[2:]
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


def _channel(ch: Channel, r: Readings, occluded: bool, dt: int, idx: Any, set_valid: Any) -> Run | Any | None:
    """The channel's part: a Run when no reading of the block is usable (invalid, or a failed stuck
    sensor still stuck), else the readings as an array (the channel healthy)."""
    n = len(idx)
    if r.varying:
        return None if ch.failed else r.values
    c = r.values
    if not _in(c, ch.lo, ch.hi):  # Channel.feed: invalid, counted; the monitor raises once the channel fails

        def set_bad(v: int) -> None:
            ch.bad_for = v
            set_valid()

        if ch.failed:
            return Run(np.full(n, not occluded), lambda last: set_bad(ch.bad_for + dt * (last + 1)))
        return _invalid_run(ch.bad_for, ch.invalid_ms, dt, idx, True, set_bad)
    if ch.failed:
        if ch.why == "sensor_stuck" and c == ch.prev:  # feed returns None at once; nothing changes
            return Run(np.full(n, not occluded), lambda last: set_valid())
        return None
    return np.full(n, c)


def _healthy(ch: Channel, v: Any, same: Any, last: int) -> None:
    """``Channel.feed``'s state after the valid reading of period ``last``."""
    ch.prev, ch.same_for, ch.bad_for, ch.failed = float(v[last]), int(same[last]), 0, False


def downstream(d: Downstream, r: Readings, dt: int, idx: Any, t: Any, rate: int) -> Run | None:
    """``Downstream.update`` each period (static and trend criteria, the hold after an occlusion)."""

    def not_valid() -> None:
        d.valid_now = False

    got = _channel(d.ch, r, d.occluded, dt, idx, not_valid)
    if got is None or isinstance(got, Run):
        return got
    v, ch, n = got, d.ch, len(idx)
    if d.f is None or d.rate_seen != rate:
        return None
    bad = (v < ch.lo) | (v > ch.hi)
    same = _same_for(ch, v, rate > 0, dt, idx)
    if rate > 0 and ch.stuck_ms > 0:
        bad |= same >= ch.stuck_ms
    med = _median(d.m1, d.m2, v)
    al = d.alpha
    if al[0] != dt:
        al = (dt, 1.0 - math.exp(-dt / d.tau_ms))
    a_f, f, B = al[1], d.f, d.B
    fs, bs = [], []
    if rate > 0 and B is not None:
        bad |= t < d.armed_at  # (never: a baseline exists only once armed)
        cd = d.creep * dt
        for x in v.tolist():
            f = f + (x - f) * a_f
            B = B + cd
            B = B if B < f else f
            fs.append(f)
            bs.append(B)
        excess = np.array(fs) - np.array(bs)
    else:
        for x in v.tolist():
            f = f + (x - f) * a_f
            fs.append(f)
        excess = np.zeros(n)
        if rate > 0:
            bad |= t >= d.armed_at  # the baseline is set in that period
    if not d.occluded:
        bad |= med >= d.thr
        if d.trend:
            bad |= excess >= d.rise
    else:
        bad |= med <= d.alarm_base + 0.4 * (d.hold_level() - d.alarm_base)

    def commit(last: int) -> None:
        _healthy(ch, v, same, last)
        d.m1, d.m2 = (float(v[last - 1]) if last else d.m2), float(v[last])
        d.alpha, d.f, d.valid_now = al, fs[last], True
        if bs:
            d.B = bs[last]
        if d.occluded:
            d.clear_for = 0

    return Run(bad, commit)


def upstream(u: Upstream, r: Readings, dt: int, idx: Any, rate: int) -> Run | None:
    """``Upstream.update`` each period (the vacuum threshold, the hold after an occlusion)."""
    got = _channel(u.ch, r, u.occluded, dt, idx, lambda: None)
    if got is None or isinstance(got, Run):
        return got
    v, ch = got, u.ch
    bad = (v < ch.lo) | (v > ch.hi)
    same = _same_for(ch, v, rate > 0, dt, idx)
    if rate > 0 and ch.stuck_ms > 0:
        bad |= same >= ch.stuck_ms
    med = _median(u.m1, u.m2, v)
    bad |= (med >= -0.5 * u.thr) if u.occluded else (med <= -u.thr)

    def commit(last: int) -> None:
        _healthy(ch, v, same, last)
        u.m1, u.m2 = (float(v[last - 1]) if last else u.m2), float(v[last])
        if u.occluded:
            u.clear_for = 0

    return Run(bad, commit)


def switch(sw: Switch, r: Any, varying: bool, last: float | None, dt: int, idx: Any) -> Run | None:
    """``Switch.update`` (door, reservoir) as ``Sensing.update`` calls it: only when the reading
    differs from the last one or the switch is counting an invalid reading."""
    n = len(idx)
    if varying:  # a healthy switch: regular while the reading stays the same
        return Run(r != before(last, r), lambda last_: None) if not sw.bad_for else None
    called = r != last or sw.bad_for  # NaN differs from itself
    if not called:
        return _noop(n)
    if _in(r, 0.0, 1.0):
        return None  # a change (or the end of an invalid spell): its period goes through the period path

    def set_bad(v: int) -> None:
        sw.bad_for = v

    return _invalid_run(sw.bad_for, sw.invalid_ms, dt, idx, sw.state != sw.safe, set_bad)


def air(a: AirMonitor, r: float | None, moved_ul: float, dt: int, idx: Any) -> Run | None:
    """``AirMonitor.update`` as ``Sensing.update`` calls it, for a reading that is the same every period
    (a healthy detector with no air, or with air standing at it while nothing moves; a fixed fault)."""
    n = len(idx)
    if not (r != 0.0 or a.seg or a.need_clear or a.bad_for):
        return _noop(n)
    if not _in(r, 0.0, 1.0):

        def set_bad(v: int) -> None:
            a.bad_for = v

        return _invalid_run(a.bad_for, a.invalid_ms, dt, idx, not a.failsafe, set_bad)
    if r == 0.0:
        return None  # fluid again after air: the bubble ends, then the dwell (the period path)
    step = r * moved_ul if r is not None else 0.0  # (r is a valid reading here)
    seg = np.full(n, a.seg) if step == 0.0 else accumulate(a.seg, np.full(n, step))

    def commit(last: int) -> None:
        a.bad_for, a.failsafe, a.fluid_for, a.seg = 0, False, 0, float(seg[last])

    return Run((seg * 1000.0 > a.limit_nl) if not a.big else np.zeros(n, dtype=bool), commit)


def power(pw: PowerMonitor, r: float | None, last: float | None, dt: int, idx: Any) -> tuple[Run, Any] | None:
    """``PowerMonitor.update`` in the periods without a battery sample, and the monitor's ``bad_for``
    before each period (the samples go through ``update`` itself, ``controller.drivers.simblock``)."""
    n = len(idx)
    if _in(r, 0.0, 1.0):
        return (_noop(n), None) if r == last and not pw.bad_for else None
    if not (r != last or pw.bad_for):
        return _noop(n), None

    def set_bad(v: int) -> None:
        pw.bad_for = v

    return _invalid_run(pw.bad_for, pw.invalid_ms, dt, idx, pw.mains, set_bad), pw.bad_for + dt * (idx - 1)


def motor(mm: MotorMonitor, enc: Any, cmd: Any, rev: int, dt: int, idx: Any) -> Run:
    """``MotorMonitor.update`` each period: slip and overtravel against the steps commanded, or an
    unreadable encoder counted towards its fault."""
    n = len(idx)
    if mm.faulted:
        return _noop(n)
    if enc is None or (not isinstance(enc, np.ndarray) and enc != enc):

        def set_bad(v: int) -> None:
            mm.bad_for = v

        return _invalid_run(mm.bad_for, mm.invalid_ms, dt, idx, True, set_bad)
    moved = enc + rev
    bad = (cmd - moved >= mm.slip) | (moved - cmd >= mm.over)

    def commit(last: int) -> None:
        mm.bad_for = 0

    return Run(np.broadcast_to(bad, (n,)), commit)
