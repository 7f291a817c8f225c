"""The fault kinds of the campaign and the generator that injects them.

Theory of operation
-------------------
A fault kind is one way the world or the pump can go wrong. ``draw_fault(rng, kind, ...)``
turns a kind into a ``FaultDraw``: when it happens, its variant (which sensor, full or partial
occlusion, below or above the watchdog, ...), and what it does to the simulation, through
one of three doors:

- *scenario events* the simulator already knows (``sensor_fault``, ``motor_runaway``,
  ``occlude_downstream``, ``power_cycle``, ``mains_loss``, ``loop_stall`` ...);
- *plant settings* fixed at power-on (a container holding less than the program says, a
  battery that is already low, a self-test that fails);
- *link windows* for the communication faults, carried out by the fault-injecting driver
  wrapper (``controller.campaign.link``): requests refused, or polls returning nothing.

Most faults also clear after a while (the sensor recovers, the occlusion is released, the
bag is refilled, mains returns), and a clinician then reacts: acknowledge and resume; after
a latched FAILSAFE, sometimes a service power cycle first. These reactions are scheduled,
not reactive, so they may be refused: that is part of what the campaign observes.

Rules
1. ``FAULT_KINDS`` lists every fault the plant supports, plus power loss, communication
   faults and clock jumps; ``GROUPS`` says which family each belongs to. The tests check
   that every kind can be drawn and produces a valid scenario.
2. A clock jump is a control period that arrives late (``loop_stall``): ``below_watchdog``
   variants make the period late by less than the watchdog limit, ``above_watchdog`` ones
   by more (the Shell's watchdog path, REQ-FLT-002).
3. Deterministic: everything comes from the ``rng`` passed in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from controller.campaign.programs import Event, log_uniform
from controller.drivers.base import REASONS

SENSOR_MODES = ("stuck", "noisy", "out_of_range", "invalid", "disconnected")
GROUPS: dict[str, str] = {
    **{f"sensor_{m}": "sensor" for m in SENSOR_MODES},
    "motor_stall": "motor", "missed_steps": "motor", "motor_runaway": "motor",
    "occlusion_downstream": "line", "occlusion_upstream": "line", "air_in_line": "line", "door_open": "line",
    "reservoir_short": "line", "temperature": "environment", "self_test_fail": "device",
    "power_cycle": "power", "mains_loss": "power",
    "comm_refuse": "comms", "comm_silent": "comms",
    "clock_jump": "clock",
}
FAULT_KINDS: tuple[str, ...] = tuple(GROUPS)
COMPOUNDABLE = tuple(k for k in FAULT_KINDS if k != "self_test_fail")
SENSORS_SYRINGE = ("downstream_pressure", "air", "door", "reservoir", "mains", "battery", "temperature", "encoder")
NOISY = ("downstream_pressure", "upstream_pressure", "battery", "temperature")  # sensors with analogue noise
LATCHING = frozenset({"motor_stall", "missed_steps", "motor_runaway", "comm_refuse", "clock_jump", "sensor_stuck",
                      "sensor_noisy", "sensor_out_of_range", "sensor_invalid", "sensor_disconnected"})


@dataclass(frozen=True, slots=True)
class LinkWindow:
    """A communication fault between ``start_ms`` and ``end_ms`` (see campaign_link)."""

    start_ms: int
    end_ms: int
    mode: str  # "refuse" (requests answered with ``reason``) or "silent" (polls return nothing)
    reason: str = "timeout"


@dataclass(frozen=True, slots=True)
class FaultDraw:
    kind: str
    variant: str
    at_ms: int
    events: tuple[Event, ...] = ()
    plant: dict[str, Any] = field(default_factory=dict)
    links: tuple[LinkWindow, ...] = ()
    mechanism: str | None = None  # a fault that needs one mechanism (upstream occlusion: cassette)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FaultContext:
    """What the fault generator needs to know about the infusion it injects into."""

    start_ms: int  # therapy start
    duration_ms: int
    mechanism: str
    reservoir_ml: float  # what the program declares
    rate_ml_h: float  # the program's main rate
    period_ms: int
    watchdog_ms: int


def _at(rng: random.Random, start_ms: int, duration_ms: int) -> int:
    lo = start_ms + 60_000
    return rng.randint(lo, max(lo + 1, int(duration_ms * 0.9)))


def _react(rng: random.Random, at_ms: int, service: bool = False) -> list[Event]:
    """A clinician's reaction some time after ``at_ms``: acknowledge and resume (after a
    service power cycle first, when ``service``)."""
    t = at_ms + rng.randint(30_000, 600_000)
    out: list[Event] = []
    if service:
        out.append({"at_ms": t, "type": "power_cycle"})
        t += rng.randint(10_000, 60_000)
    out += [{"at_ms": t, "type": "acknowledge"}, {"at_ms": t + rng.randint(2_000, 20_000), "type": "resume"}]
    return out


def _clear_after(rng: random.Random, at_ms: int, p: float = 0.75) -> int | None:
    return at_ms + round(log_uniform(rng, 10_000, 1_800_000)) if rng.random() < p else None


def _sensor(rng: random.Random, mode: str, at: int, mechanism: str) -> FaultDraw:
    names = SENSORS_SYRINGE if mechanism == "syringe" else (*SENSORS_SYRINGE, "upstream_pressure")
    sensor = rng.choice(names)
    ev: Event = {"at_ms": at, "type": "sensor_fault", "sensor": sensor, "mode": mode}
    if mode == "noisy":
        ev["factor"] = round(log_uniform(rng, 2.0, 100.0) if sensor in NOISY else log_uniform(rng, 0.5, 20.0), 2)
    elif mode == "stuck" and rng.random() < 0.3:
        ev["value"] = {"downstream_pressure": rng.uniform(-20, 200), "upstream_pressure": rng.uniform(-50, 50),
                       "battery": rng.uniform(0, 300), "temperature": rng.uniform(-10, 60),
                       "encoder": float(rng.randint(0, 10**6))}.get(sensor, float(rng.randint(0, 1)))
    events = [ev]
    clear = _clear_after(rng, at)
    if clear is not None:
        events.append({"at_ms": clear, "type": "sensor_fault", "sensor": sensor, "mode": "ok"})
    events += _react(rng, clear if clear is not None else at, service=rng.random() < 0.3)
    return FaultDraw(f"sensor_{mode}", sensor, at, tuple(events), params={k: v for k, v in ev.items() if k != "type"})


def _motor(rng: random.Random, kind: str, at: int) -> FaultDraw:
    if kind == "motor_stall":
        ev: Event = {"at_ms": at, "type": "motor_stall", "stalled": True}
        variant, undo = "stall", {"type": "motor_stall", "stalled": False}
    elif kind == "missed_steps":
        frac = round(rng.uniform(0.02, 0.9), 3)
        ev = {"at_ms": at, "type": "missed_steps", "fraction": frac}
        variant = "<10%" if frac < 0.1 else "10-50%" if frac < 0.5 else ">50%"
        undo = {"type": "missed_steps", "fraction": 0.0}
    else:
        rate = round(log_uniform(rng, 0.5, 1200.0), 1)
        ev = {"at_ms": at, "type": "motor_runaway", "rate_ml_h": rate}
        variant, undo = ("<10 mL/h" if rate < 10 else "10-100 mL/h" if rate < 100 else ">100 mL/h"), None
    events = [ev]
    clear = _clear_after(rng, at, 0.5) if undo is not None else None
    if clear is not None and undo is not None:
        events.append({"at_ms": clear, **undo})
    events += _react(rng, clear if clear is not None else at, service=rng.random() < 0.5)
    return FaultDraw(kind, variant, at, tuple(events), params={k: v for k, v in ev.items() if k != "type"})


def _line(rng: random.Random, kind: str, at: int, ctx: FaultContext) -> FaultDraw:
    plant: dict[str, Any] = {}
    mech = None
    if kind == "occlusion_downstream":
        ev: Event = {"at_ms": at, "type": "occlude_downstream"}
        variant = "full"
        if rng.random() < 0.3:
            ev["resistance_factor"] = round(log_uniform(rng, 2.0, 10_000.0), 1)
            variant = "partial"
        undo: Event = {"type": "release_occlusion", "site": "downstream"}
    elif kind == "occlusion_upstream":
        ev, variant, mech = {"at_ms": at, "type": "occlude_upstream"}, "full", "cassette"
        undo = {"type": "release_occlusion", "site": "upstream"}
    elif kind == "air_in_line":
        if rng.random() < 0.6:
            ev = {"at_ms": at, "type": "air_bubble", "volume_ul": round(log_uniform(rng, 5.0, 5_000.0), 1),
                  "upstream_ul": round(rng.uniform(0.0, 500.0), 1)}
            variant = "single"
        else:
            ev = {"at_ms": at, "type": "air_bubble", "volume_ul": round(rng.uniform(5.0, 150.0), 1),
                  "count": rng.randint(2, 40), "interval_s": round(rng.uniform(5.0, 300.0), 1)}
            variant = "train"
        undo = {"type": "purge_air"}
    elif kind == "door_open":
        ev, variant, undo = {"at_ms": at, "type": "door_open"}, "opened", {"type": "door_close"}
    elif kind == "reservoir_short":
        # the bag holds less than the program says: it runs dry before the pump expects (from power-on)
        plant["reservoir_ml"] = round(ctx.reservoir_ml * rng.uniform(0.05, 0.9), 3)
        dry_ms = ctx.start_ms + round(plant["reservoir_ml"] / max(ctx.rate_ml_h, 0.1) * 3_600_000)
        ev, variant = {"at_ms": min(dry_ms, ctx.duration_ms), "type": "refill_due"}, "short_bag"
        undo, at = {"type": "refill", "volume_ml": ctx.reservoir_ml}, 0
    else:  # temperature: the room gets very hot or very cold
        c = round(rng.uniform(46.0, 80.0) if rng.random() < 0.5 else rng.uniform(-20.0, 9.0), 1)
        ev, variant = {"at_ms": at, "type": "set_temperature", "temperature_c": c}, "hot" if c > 45 else "cold"
        undo = {"type": "set_temperature", "temperature_c": 20.0}
    events = [] if ev["type"] == "refill_due" else [ev]
    clear = _clear_after(rng, int(ev["at_ms"]))
    if clear is not None:
        events.append({"at_ms": clear, **undo})
    events += _react(rng, clear if clear is not None else int(ev["at_ms"]))
    params = {k: v for k, v in ev.items() if k not in ("type", "at_ms")} | plant
    return FaultDraw(kind, variant + ("" if clear is not None else "_not_cleared"), at, tuple(events), plant,
                     mechanism=mech, params=params)


def _power(rng: random.Random, kind: str, at: int, start_ms: int, duration_ms: int) -> FaultDraw:
    if kind == "power_cycle":
        n = rng.choice((1, 1, 1, 2, 3))
        times = sorted([at] + [_at(rng, start_ms, duration_ms) for _ in range(n - 1)])
        events: list[Event] = []
        for t in times:
            events += [{"at_ms": t, "type": "power_cycle"}, *_react(rng, t)]
        return FaultDraw(kind, f"x{n}", times[0], tuple(events), params={"times_ms": times})
    battery = round(rng.uniform(3.0, 240.0), 1)
    events = [{"at_ms": at, "type": "mains_loss"}]
    restored = rng.random() < 0.7
    if restored:
        back = at + round(log_uniform(rng, 60_000, 36_000_000))
        events += [{"at_ms": back, "type": "mains_restore"}, *_react(rng, back)]
    return FaultDraw(kind, "restored" if restored else "not_restored", at, tuple(events), {"battery_min": battery},
                     params={"battery_min": battery})


def _comms(rng: random.Random, kind: str, at: int) -> FaultDraw:
    length = round(log_uniform(rng, 500, 1_800_000))
    if kind == "comm_refuse":
        reason = rng.choice([r for r in REASONS if r != "out_of_range"])
        link = LinkWindow(at, at + length, "refuse", reason)
        return FaultDraw(kind, reason, at, tuple(_react(rng, at + length, service=rng.random() < 0.5)),
                         links=(link,), params={"length_ms": length})
    link = LinkWindow(at, at + length, "silent")
    variant = "<10 s" if length < 10_000 else "10 s-5 min" if length < 300_000 else ">5 min"
    return FaultDraw(kind, variant, at, (), links=(link,), params={"length_ms": length})


def _clock(rng: random.Random, at: int, period_ms: int, watchdog_ms: int, start_ms: int,
           duration_ms: int) -> FaultDraw:
    above = rng.random() < 0.5
    times = sorted([at] + [_at(rng, start_ms, duration_ms) for _ in range(rng.choice((1, 1, 2, 3)) - 1)])
    events: list[Event] = []
    lengths = []
    for t in times:
        if above:
            length = rng.randint(watchdog_ms + period_ms, 60_000)
        else:  # late by at least one period, and the next period still inside the watchdog
            length = rng.randint(period_ms, max(period_ms, watchdog_ms - period_ms - 1))
        lengths.append(length)
        events.append({"at_ms": t, "type": "loop_stall", "duration_s": length / 1000})
    events += _react(rng, times[-1], service=above and rng.random() < 0.5)
    return FaultDraw("clock_jump", "above_watchdog" if above else "below_watchdog", times[0], tuple(events),
                     params={"lengths_ms": lengths})


def draw_fault(rng: random.Random, kind: str, ctx: FaultContext) -> FaultDraw:
    """One fault of ``kind`` in the infusion described by ``ctx``."""
    at = _at(rng, ctx.start_ms, ctx.duration_ms)
    group = GROUPS.get(kind)
    if group == "sensor":
        return _sensor(rng, kind.removeprefix("sensor_"), at, ctx.mechanism)
    if group == "motor":
        return _motor(rng, kind, at)
    if group in ("line", "environment"):
        return _line(rng, kind, at, ctx)
    if group == "power":
        return _power(rng, kind, at, ctx.start_ms, ctx.duration_ms)
    if group == "comms":
        return _comms(rng, kind, at)
    if group == "clock":
        return _clock(rng, at, ctx.period_ms, ctx.watchdog_ms, ctx.start_ms, ctx.duration_ms)
    if kind == "self_test_fail":
        return FaultDraw(kind, "post", 0, (), {"self_test_fails": True})
    raise ValueError(f"fault kind {kind!r}; allowed: {', '.join(FAULT_KINDS)}")
