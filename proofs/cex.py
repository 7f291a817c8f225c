"""Counterexamples as scenarios: one vocabulary across proofs, simulator and tests.

Theory of operation
-------------------
A counterexample trace is a list of core events from power-on. It is written as a *core
scenario*: the simulator's TOML scenario format with ``mode = "core"``, in which events go
straight to the controller (no plant) and ticks keep their exact lengths, so replay is exact.
Payload fields are in core units and named as in ``controller.core.events.Event``; programs and
pump limits are tables of ``controller.core.program.Program`` / ``controller.core.limits.Limits``
fields (a program's library bounds as ``[event.program.lib]``). A power cycle of the proofs
is ``type = "power_cycle"`` with ``pushed_to`` (the odometer the mechanism reached): the
replay restores the controller with ``controller.core.recovery.restore``, as the shell does.
``[expect] broken`` names the obligation the trace broke when it was found.

``load``/``replay`` read such a file back and run it on a controller (the real one, or a
mutant table), reporting which invariants broke; regression tests keep them under
``tests/regressions/``: on the real controller every one must replay with nothing broken.

Rules
1. The writer emits only what the reader accepts; unknown keys are refused when reading, as in
   normal scenarios, and every malformed value (an ``[expect]`` that is not a table, a
   ``broken`` that is not a list of obligation ids, an ``at_ms`` that is not a whole number of
   ms) is a ``ConfigurationError`` naming the field, the value and what is allowed.
2. Fields at their default value are omitted, so a trace shows only what matters.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from controller.core import recovery
from controller.core.events import KINDS, Actor, Event
from controller.core.libbounds import LibBounds
from controller.core.limits import Limits
from controller.core.machine import Controller
from controller.core.program import Program
from controller.core.recovery import PowerCycle
from controller.core.state import STATES, initial_vars
from controller.core.table import TABLE, Row
from controller.errors import ConfigurationError
from pumpctl.specs.checker import check_step

_EVENT_FIELDS = ("dt_ms", "volume", "rate", "duration_ms", "level", "flag", "site")
# the payload fields each kind reads (others are ignored by every guard and effect)
RELEVANT: dict[str, tuple[str, ...]] = {
    "tick": ("dt_ms",), "self_test": ("flag",), "prime": ("volume", "flag"), "air": ("volume",),
    "clinician_bolus": ("volume", "rate", "duration_ms"), "battery": ("level", "flag"), "reservoir": ("flag",),
    "temperature": ("level",),
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
            if getattr(obj, f.name) != getattr(default, f.name) and not isinstance(getattr(obj, f.name), LibBounds)]


def to_toml(name: str, trace_events: list[Event | PowerCycle], limits: Limits, broken: list[str],
            final_state: str, note: str = "") -> str:
    clock = sum(e.dt_ms for e in trace_events if isinstance(e, Event) and e.kind == "tick")
    lines = [f"# {note}" if note else "# counterexample found by pumpctl prove",
             f"name = {_toml_value(name)}", 'mode = "core"', f"duration_s = {max(1, -(-clock // 1000))}", "",
             "[pump]", *_record(limits, Limits()), ""]
    t = 0
    for e in trace_events:
        if isinstance(e, PowerCycle):
            lines += ["[[event]]", f"at_ms = {t}", 'type = "power_cycle"', f"pushed_to = {e.pushed_to}", ""]
            continue
        lines += ["[[event]]", f"at_ms = {t}", f"type = {_toml_value(e.kind)}",
                  f"actor = {_toml_value(Actor(e.actor).name.lower())}"]
        lines += [f"{k} = {_toml_value(getattr(e, k))}" for k in RELEVANT.get(e.kind, ())
                  if getattr(e, k) != getattr(_DEFAULT_EVENT, k)]
        if e.kind == "program":
            lines += ["[event.program]", *_record(e.program, Program())]
            lib = _record(e.program.lib, LibBounds())
            if lib:
                lines += ["[event.program.lib]", *lib]
        if e.kind == "configure":
            lines += ["[event.limits]", *_record(e.limits, Limits())]
        lines.append("")
        if e.kind == "tick":
            t += e.dt_ms
    lines += ["[expect]", f"broken = {_toml_value(tuple(broken))}", f"final_state = {_toml_value(final_state)}", ""]
    return "\n".join(lines)


_NESTED: dict[str, type] = {"lib": LibBounds}
_TOP_KEYS = ("name", "mode", "duration_s", "pump", "event", "expect", "description", "requirements")
_EXPECT_KEYS = ("broken", "final_state")


def _whole(where: str, v: object, src: str) -> int:
    """A whole number of 0 or more (booleans are not numbers here)."""
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ConfigurationError(where, v, "a whole number, 0 or more", source=src)
    return v


def _text(where: str, v: object, src: str) -> str:
    if not isinstance(v, str):
        raise ConfigurationError(where, v, "a string", source=src)
    return v


def _ids(where: str, v: object, src: str) -> tuple[str, ...]:
    """A list of obligation or requirement ids: ``["INV-DEL-001"]``, never a bare string."""
    if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
        raise ConfigurationError(where, v, 'a list of ids, e.g. ["INV-DEL-001"]', source=src)
    return tuple(v)


def _expect(raw: object, src: str) -> tuple[tuple[str, ...], str | None]:
    if not isinstance(raw, dict):
        raise ConfigurationError("expect", raw, "a table: [expect] with broken = [...] and final_state = \"...\"",
                                 source=src)
    unknown = sorted(set(raw) - set(_EXPECT_KEYS))
    if unknown:
        raise ConfigurationError(f"expect.{unknown[0]}", raw[unknown[0]], "one of " + ", ".join(_EXPECT_KEYS),
                                 source=src)
    final = raw.get("final_state")
    if final is not None and final not in STATES:
        raise ConfigurationError("expect.final_state", final, ", ".join(STATES), source=src)
    return _ids("expect.broken", raw.get("broken", []), src), final


def _build(cls: type, raw: object, where: str, src: str = "") -> Any:
    """A record from a TOML table: unknown keys, wrong shapes and non-integers are typed errors."""
    if not isinstance(raw, dict):
        raise ConfigurationError(where, raw, "a table", source=src)
    names = {f.name: f for f in fields(cls)}
    unknown = set(raw) - set(names)
    if unknown:
        k = sorted(unknown)[0]
        raise ConfigurationError(f"{where}.{k}", raw[k], "one of " + ", ".join(names), source=src)
    vals: dict[str, Any] = {}
    for k, v in raw.items():
        if k in _NESTED:
            vals[k] = _build(_NESTED[k], v, f"{where}.{k}", src)
            continue
        items = v if isinstance(v, list) else [v]
        if not all(isinstance(x, (int, bool)) for x in items):
            raise ConfigurationError(f"{where}.{k}", v, "integers (or booleans) in core units", source=src)
        vals[k] = tuple(v) if isinstance(v, list) else v
    try:
        return cls(**vals)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(where, raw, f"a valid {cls.__name__} table", str(exc), source=src) from None


@dataclass(frozen=True)
class CoreScenario:
    name: str
    limits: Limits
    events: tuple[Event | PowerCycle, ...]
    expect_broken: tuple[str, ...]
    final_state: str | None


def load(path: str | Path) -> CoreScenario:
    src = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError("file", src, "a UTF-8 text file", f"byte {exc.start} is not UTF-8") from None
    except OSError as exc:
        raise ConfigurationError("file", src, "a readable TOML file", str(exc)) from None
    return loads(text, src)


def loads(text: str, src: str = "<text>") -> CoreScenario:
    """A core scenario from its TOML text (``src`` names where it came from in errors)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError("file", src, "a readable TOML file", str(exc)) from None
    if data.get("mode") != "core":
        raise ConfigurationError("mode", data.get("mode"), '"core"', source=src)
    extra_top = set(data) - set(_TOP_KEYS)
    if extra_top:
        k = sorted(extra_top)[0]
        raise ConfigurationError(k, data[k], "one of " + ", ".join(_TOP_KEYS), source=src)
    for key, check in (("name", _text), ("description", _text), ("duration_s", _whole), ("requirements", _ids)):
        if key in data:
            check(key, data[key], src)
    expect_broken, final = _expect(data.get("expect", {}), src)
    limits = _build(Limits, data.get("pump", {}), "pump", src)
    raw_events = data.get("event", [])
    if not isinstance(raw_events, list):
        raise ConfigurationError("event", type(raw_events).__name__, "an array of [[event]] tables", source=src)
    events: list[Event | PowerCycle] = []
    for i, raw in enumerate(raw_events):
        where = f"event[{i}]"
        if not isinstance(raw, dict):
            raise ConfigurationError(where, raw, "a table", source=src)
        _whole(f"{where}.at_ms", raw.get("at_ms", 0), src)  # informative: replay keeps the ticks' own lengths
        kind = raw.get("type")
        if kind == "power_cycle":
            pushed = raw.get("pushed_to")
            if set(raw) - {"at_ms", "type", "pushed_to"} or not isinstance(pushed, int) or isinstance(pushed, bool):
                raise ConfigurationError(f"{where}.pushed_to", pushed, "an integer odometer reading (vu), and only "
                                         "at_ms, type and pushed_to", source=src)
            events.append(PowerCycle(pushed))
            continue
        if not isinstance(kind, str) or kind not in KINDS:
            raise ConfigurationError(f"{where}.type", kind, ", ".join((*KINDS, "power_cycle")), source=src)
        actor_raw = raw.get("actor", "system")
        actor_name = actor_raw.upper() if isinstance(actor_raw, str) else ""
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
            payload["program"] = _build(Program, raw["program"], f"{where}.program", src)
        if "limits" in raw:
            payload["limits"] = _build(Limits, raw["limits"], f"{where}.limits", src)
        try:
            events.append(Event(kind, Actor[actor_name], **payload))
        except ConfigurationError as exc:
            raise ConfigurationError(f"{where}.{exc.field}", exc.value, exc.allowed, exc.fix, source=src) from None
    return CoreScenario(str(data.get("name", src)), limits, tuple(events), expect_broken, final)


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
        if isinstance(e, PowerCycle):
            if not recovery.bound_ok(v0, e.pushed_to):
                raise ConfigurationError("pushed_to", e.pushed_to, f"{v0.flow.odo} to {v0.flow.cap} (between the "
                                         "odometer and the cap of the last step: the write-ahead rule)")
            c = Controller(v0.cfg, vars=recovery.restore(v0, s0, e.pushed_to), state="POST", table=table)
            continue
        step = c.handle(e)
        refused += not step.accepted
        broken += [b for b in check_step(s0, step, v0) if b not in broken]
    return Replay(broken, c.state, refused)
