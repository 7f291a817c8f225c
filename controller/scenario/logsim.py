"""The simulator's side of the durable log: the scenario context of a snapshot, and resuming it.

Theory of operation
-------------------
``pumpctl simulate FILE --log DB`` stores with every snapshot the shell persists the
scenario's context (``sim_context``)::

    {"kind": "simulate", "scenario": NAME, "t_ms": T, "next_event": I,
     "line_connected": true, "container_ul": 59000.0}      # null: an unlimited container

``--resume`` reads the log's newest snapshot and goes on from it (``SimContext.parse`` checks
the context against the scenario; ``rebuild_plant`` makes the new plant):

1. Scenario clock: it restarts at ``T``, the scenario time of the step that persisted the
   snapshot. The core's own clock restarts at the snapshot's ``flow.clock`` (the time without
   power counts as zero, ``controller.core.recovery``), so the two stay in step.
2. Events: scenario events ``I`` and later happen at their own times, exactly as in an
   uninterrupted run (events at time ``T`` not applied when the snapshot was taken come
   first). Events between the snapshot and the crash therefore happen a second time: those
   that changed something durable (an accepted bolus, a start, an alarm) wrote a newer
   snapshot, so only events that changed nothing durable can repeat - refusals, and
   physical events, which the new plant needs anyway.
3. The plant died with the controller (a real power loss), so a new one is built from the
   scenario's ``[plant]`` at time ``T``: its odometer starts at 0 (the shell keeps the
   offset), sensing and noise start afresh, the line pressure starts at rest (a real line
   bleeds off while the pump is down; an occlusion still there builds it up again), the
   plunger is engaged (no backlash to take up) once anything was pushed. World state that
   persists physically is replayed from the events before ``I``: door, occlusions and
   releases, mains, sensor and motor faults, temperature, refills. Air bubbles are not:
   air that was in the line is taken as passed or purged. The line is connected or not as
   the context says; the container holds the context's volume less what may have been
   pushed between the snapshot and the crash (the restored bound).

Rules
1. A snapshot of another scenario, or one whose context is malformed, is refused with a
   ``ConfigurationError`` naming the field: resuming the wrong scenario is never guessed at.
2. Pure bookkeeping: nothing here reads a clock or a file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.core.state import Vars
from controller.core.units import VU_PER_UL
from controller.drivers.sim import SimPump
from controller.errors import ConfigurationError
from controller.scenario.model import EventSpec, Scenario
from controller.scenario.world import apply_world

KIND = "simulate"
WORLD_EVENTS = frozenset({"door_open", "door_close", "occlude_downstream", "occlude_upstream",
                          "release_occlusion", "mains_loss", "mains_restore", "motor_stall", "motor_runaway",
                          "missed_steps", "sensor_fault", "set_temperature", "refill"})


def sim_context(name: str, t_ms: int, next_event: int, plant: SimPump) -> dict[str, Any]:
    c = plant.line.container
    return {"kind": KIND, "scenario": name, "t_ms": t_ms, "next_event": next_event,
            "line_connected": bool(plant.line.connected), "container_ul": None if math.isinf(c) else float(c)}


@dataclass(frozen=True, slots=True)
class SimContext:
    t_ms: int
    next_event: int
    line_connected: bool
    container_ul: float | None

    @classmethod
    def parse(cls, ctx: Mapping[str, Any], sc: Scenario, n_events: int, seq: int) -> SimContext:
        where = f"snapshot record {seq}.context"

        def bad(key: str, allowed: str, fix: str = "") -> ConfigurationError:
            return ConfigurationError(f"{where}.{key}", ctx.get(key), allowed, fix)

        if ctx.get("kind") != KIND:
            raise bad("kind", f'"{KIND}" (a log written by pumpctl simulate)')
        if ctx.get("scenario") != sc.name:
            raise bad("scenario", f"{sc.name!r}, the scenario being resumed",
                      "resume a log with the scenario that wrote it, or start a new log")
        t, i = ctx.get("t_ms"), ctx.get("next_event")
        if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t <= sc.duration_ms:
            raise bad("t_ms", f"an integer from 0 to {sc.duration_ms} (the scenario's duration in ms)")
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i <= n_events:
            raise bad("next_event", f"an integer from 0 to {n_events} (the scenario's events)")
        conn = ctx.get("line_connected")
        if not isinstance(conn, bool):
            raise bad("line_connected", "true or false")
        cont = ctx.get("container_ul")
        if cont is not None and (isinstance(cont, bool) or not isinstance(cont, (int, float))
                                 or not 0 <= cont < 1e12):
            raise bad("container_ul", "null (unlimited) or a volume from 0 to 1e12 uL")
        return cls(t, i, conn, None if cont is None else float(cont))


def rebuild_plant(plant: SimPump, past: Sequence[EventSpec], ctx: SimContext, v: Vars, pushed_to: int) -> None:
    """Give a fresh plant (built at ``ctx.t_ms``) the physical state of rule 3 of the docstring."""
    for e in past:
        if e.type in WORLD_EVENTS:
            _world(plant, e)
    plant.line.connected = ctx.line_connected
    if ctx.container_ul is not None:
        extra_ul = (pushed_to - v.flow.odo) / VU_PER_UL
        plant.line.container = max(0.0, ctx.container_ul - extra_ul)
    if v.prog.loaded:
        plant.sensing.set_bubble_limit(v.cfg.bubble_limit_nl[v.prog.route])
    if pushed_to > 0:
        plant.mech.gap = 0  # the plunger stayed engaged: no slack to take up again


def _world(plant: SimPump, e: EventSpec) -> None:
    apply_world(plant, e.type, e.values)


