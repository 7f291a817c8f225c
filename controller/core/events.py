"""Events: everything that can happen to the controller, with who caused it.

Theory of operation
-------------------
One flat, immutable ``Event`` record carries the kind (the trigger name in the table), the
actor, and the payload fields any kind may use. Keeping it flat lets the proof layer make
one symbolic event per step with every field symbolic. Constructors below fill in the
right fields and the default actor for each kind; an ill-typed payload cannot
even be built (``ConfigurationError`` naming the field, the value and what is allowed).

Actors and permissions (REQ-ROL-001..003): a patient may only ask for a PCA bolus;
clinicians program, start, stop, prime, bolus, silence, acknowledge, review and declare a new
line (``new_line``); only an
administrator changes pump limits; sensor and timer events come from the SYSTEM (the
shell), so nobody can fake a sensor clearing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from enum import IntEnum

from controller.core.limits import Limits
from controller.core.program import NO_PROGRAM, Program
from controller.errors import ConfigurationError

DEFAULT_LIMITS = Limits()


class Actor(IntEnum):
    PATIENT = 0
    CLINICIAN = 1
    ADMIN = 2
    SYSTEM = 3


class Site(IntEnum):
    DOWNSTREAM = 0
    UPSTREAM = 1


KINDS: tuple[str, ...] = (
    "self_test", "configure", "program", "confirm_soft_limit", "clear", "prime", "start", "pause",
    "resume", "stop", "patient_bolus", "clinician_bolus", "silence", "acknowledge", "review", "door_open",
    "door_close", "occlusion", "occlusion_clear", "air", "reservoir", "battery", "temperature", "motor_fault",
    "watchdog", "tick", "new_line",
)
USER_KINDS: frozenset[str] = frozenset(
    {"configure", "program", "confirm_soft_limit", "clear", "prime", "start", "pause", "resume", "stop",
     "patient_bolus", "clinician_bolus", "silence", "acknowledge", "review", "new_line"}
)
DEFAULT_ACTOR: dict[str, Actor] = {
    k: (Actor.PATIENT if k == "patient_bolus" else Actor.ADMIN if k == "configure"
        else Actor.CLINICIAN if k in USER_KINDS else Actor.SYSTEM)
    for k in KINDS
}


@dataclass(frozen=True, slots=True)
class Event:
    kind: str
    actor: int = Actor.SYSTEM
    dt_ms: int = 0  # tick length
    volume: int = 0  # vu (prime, clinician bolus) or nL (air)
    rate: int = 0  # uL/h (clinician bolus extra rate)
    duration_ms: int = 0  # clinician bolus duration
    level: int = 0  # battery minutes remaining / temperature in tenths of a degree C
    flag: bool = False  # self-test passed / line disconnected / on mains / reservoir empty
    site: int = 0  # occlusion site
    program: Program = field(default=NO_PROGRAM)
    limits: Limits = field(default=DEFAULT_LIMITS)

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem is not None:
            raise ConfigurationError(*problem)

    def __str__(self) -> str:
        return f"{self.kind}({Actor(self.actor).name.lower()})"


_INT_FIELDS = ("dt_ms", "volume", "rate", "duration_ms", "level", "site")
_ACTORS = frozenset(int(a) for a in Actor)


def _problem(e: Event) -> tuple[str, object, str] | None:
    """(field, value, allowed) of the first malformed field, or None."""
    if e.kind not in KINDS:
        return "kind", e.kind, ", ".join(KINDS)
    if isinstance(e.actor, bool) or e.actor not in _ACTORS:
        return f"{e.kind}.actor", e.actor, ", ".join(f"{int(a)} ({a.name.lower()})" for a in Actor)
    for name in _INT_FIELDS:
        v = getattr(e, name)
        if type(v) is not int:
            return f"{e.kind}.{name}", v, "an integer in core units"
    if type(e.flag) is not bool:
        return f"{e.kind}.flag", e.flag, "true or false"
    if not isinstance(e.program, Program):
        return f"{e.kind}.program", type(e.program).__name__, "a Program"
    if not isinstance(e.limits, Limits):
        return f"{e.kind}.limits", type(e.limits).__name__, "a Limits"
    if e.program is not NO_PROGRAM:
        bad = _non_integer(e.program, f"{e.kind}.program")
        if bad is not None:
            return bad
    if e.limits is not DEFAULT_LIMITS:
        return _non_integer(e.limits, f"{e.kind}.limits")
    return None


def _non_integer(record: object, where: str) -> tuple[str, object, str] | None:
    """The first leaf of a configuration record that is not an exact int or bool (no floats,
    no int subclasses but bool, no strings) - floats never enter the core."""
    for f in fields(record):  # type: ignore[arg-type]
        value = getattr(record, f.name)
        name = f"{where}.{f.name}"
        if is_dataclass(value):
            bad = _non_integer(value, name)
            if bad is not None:
                return bad
            continue
        items = value if isinstance(value, tuple) else (value,)
        for x in items:
            if type(x) not in (int, bool) and not isinstance(x, IntEnum):
                return name, value, "integers (and booleans) in core units"
    return None


def check_event(e: object) -> str | None:
    """None when ``e`` is an Event (Events are validated when built), else the reason."""
    if type(e) is Event:
        return None
    return f"not an Event: {type(e).__name__}"


def ev(kind: str, actor: int | None = None, **payload: object) -> Event:
    """Build an event with the kind's default actor."""
    return Event(kind, DEFAULT_ACTOR[kind] if actor is None else actor, **payload)  # type: ignore[arg-type]


def tick(dt_ms: int) -> Event:
    return Event("tick", Actor.SYSTEM, dt_ms=dt_ms)
