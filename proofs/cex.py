"""Counterexamples as scenarios: one vocabulary across proofs, simulator and tests.

Theory of operation
-------------------
A counterexample trace is a list of core events from power-on. It is written as a *core
scenario*: the simulator's TOML scenario format with ``mode = "core"``, in which events go
straight to the controller (no plant) and ticks keep their exact lengths, so replay is exact.
Payload fields are in core units and named as in ``controller.events.Event``; programs and
pump limits are tables of ``controller.program.Program`` / ``controller.limits.Limits``
fields. ``[expect] broken`` names the obligation the trace broke when it was found.

``load``/``replay`` read such a file back and run it on a controller (the real one, or a
mutant table), reporting which invariants broke; regression tests keep them under
``tests/regressions/``: on the real controller every one must replay with nothing broken.

Rules
1. The writer emits only what the reader accepts; unknown keys are refused when reading.
2. Fields at their default value are omitted, so a trace shows only what matters.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from controller.core import Controller
from controller.errors import ConfigurationError
from controller.events import KINDS, Actor, Event
from controller.limits import Limits
from controller.program import Program
from controller.state import STATES, initial_vars
from controller.table import TABLE, Row
from proofs.walk import check_step

_EVENT_FIELDS = ("dt_ms", "volume", "rate", "duration_ms", "level", "flag", "site")
# the payload fields each kind reads (others are ignored by every guard and effect)
RELEVANT: dict[str, tuple[str, ...]] = {
    "tick": ("dt_ms",), "self_test": ("flag",), "prime": ("volume", "flag"), "air": ("volume",),
    "clinician_bolus": ("volume", "rate", "duration_ms"), "battery": ("level", "flag"), "reservoir": ("flag",),
    "occlusion": ("site",), "occlusion_clear": ("site",),
}
_DEFAULT_EVENT = Event("tick")


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(type(v).__name__)


def _record(obj: Any, default: Any) -> list[str]:
    return [f"{f.name} = {_toml_value(getattr(obj, f.name))}" for f in fields(obj)
            if getattr(obj, f.name) != getattr(default, f.name)]


def to_toml(name: str, trace_events: list[Event], limits: Limits, broken: list[str], final_state: str,
            note: str = "") -> str:
    clock = sum(e.dt_ms for e in trace_events if e.kind == "tick")
    lines = [f"# {note}" if note else "# counterexample found by pumpctl prove",
             f"name = {_toml_value(name)}", 'mode = "core"', f"duration_s = {max(1, -(-clock // 1000))}", "",
             "[pump]", *_record(limits, Limits()), ""]
    t = 0
    for e in trace_events:
        lines += ["[[event]]", f"at_ms = {t}", f"type = {_toml_value(e.kind)}",
                  f"actor = {_toml_value(Actor(e.actor).name.lower())}"]
        lines += [f"{k} = {_toml_value(getattr(e, k))}" for k in RELEVANT.get(e.kind, ())
                  if getattr(e, k) != getattr(_DEFAULT_EVENT, k)]
        if e.kind == "program":
            lines += ["[event.program]", *_record(e.program, Program())]
        if e.kind == "configure":
            lines += ["[event.limits]", *_record(e.limits, Limits())]
        lines.append("")
        if e.kind == "tick":
            t += e.dt_ms
    lines += ["[expect]", f"broken = {_toml_value(tuple(broken))}", f"final_state = {_toml_value(final_state)}", ""]
    return "\n".join(lines)


def _build(cls: type, raw: object, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigurationError(where, raw, "a table")
    names = {f.name: f for f in fields(cls)}
    unknown = set(raw) - set(names)
    if unknown:
        k = sorted(unknown)[0]
        raise ConfigurationError(f"{where}.{k}", raw[k], "one of " + ", ".join(names))
    vals = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    return cls(**vals)


@dataclass(frozen=True)
class CoreScenario:
    name: str
    limits: Limits
    events: tuple[Event, ...]
    expect_broken: tuple[str, ...]
    final_state: str | None


def load(path: str | Path) -> CoreScenario:
    src = str(path)
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError("file", src, "a readable TOML file", str(exc)) from None
    if data.get("mode") != "core":
        raise ConfigurationError("mode", data.get("mode"), '"core"', source=src)
    limits = _build(Limits, data.get("pump", {}), "pump")
    events = []
    for i, raw in enumerate(data.get("event", [])):
        where = f"event[{i}]"
        kind = raw.get("type")
        if kind not in KINDS:
            raise ConfigurationError(f"{where}.type", kind, ", ".join(KINDS), source=src)
        actor_name = str(raw.get("actor", "system")).upper()
        if actor_name not in Actor.__members__:
            raise ConfigurationError(f"{where}.actor", raw.get("actor"), ", ".join(a.name.lower() for a in Actor),
                                     source=src)
        extra = set(raw) - {"at_ms", "type", "actor", "program", "limits", *_EVENT_FIELDS}
        if extra:
            k = sorted(extra)[0]
            raise ConfigurationError(f"{where}.{k}", raw[k], "at_ms, type, actor, program, limits, "
                                     + ", ".join(_EVENT_FIELDS), source=src)
        payload = {k: raw[k] for k in _EVENT_FIELDS if k in raw}
        if "program" in raw:
            payload["program"] = _build(Program, raw["program"], f"{where}.program")
        if "limits" in raw:
            payload["limits"] = _build(Limits, raw["limits"], f"{where}.limits")
        events.append(Event(kind, Actor[actor_name], **payload))
    expect = data.get("expect", {})
    final = expect.get("final_state")
    if final is not None and final not in STATES:
        raise ConfigurationError("expect.final_state", final, ", ".join(STATES), source=src)
    return CoreScenario(str(data.get("name", src)), limits, tuple(events), tuple(expect.get("broken", ())), final)


@dataclass
class Replay:
    broken: list[str]
    final_state: str
    refused: int


def replay(sc: CoreScenario, table: tuple[Row, ...] = TABLE) -> Replay:
    """Run the scenario's events from power-on and collect broken invariant ids."""
    c = Controller(sc.limits, vars=initial_vars(sc.limits), table=table)
    broken: list[str] = []
    refused = 0
    for e in sc.events:
        s0, v0 = c.state, c.vars
        step = c.handle(e)
        refused += not step.accepted
        broken += [b for b in check_step(s0, step, v0) if b not in broken]
    return Replay(broken, c.state, refused)
