"""What one core ``Step`` becomes in the event log (REQ-LOG-001).

Theory of operation
-------------------
``step_records`` turns a ``Step`` into a list of (kind, payload) pairs that the log writes
in one transaction, so the log never holds half a step:

1. ``event_accepted`` or ``event_refused``: the event (kind, actor, every non-default payload
   field, the program or limits it carries), the state before and after, the table row that
   fired or the refusal reason, and the delivered volume after the step;
2. one record per command, in the order the core gave them (the stop first):
   ``alarm_raised`` / ``alarm_cleared`` for alarm commands, ``command`` for the others;
3. derived records that make the log searchable by what auditors ask for:
   ``soft_limit_override`` (an accepted ``confirm_soft_limit``), ``configuration_change``
   (an accepted ``configure``) and ``fault`` (motor fault, watchdog, failed self-test, or a
   latch into FAILSAFE by an internal fault), kept apart from retention (REQ-LOG-003).

Rules
1. Pure: no I/O, no clock; the payloads are plain JSON values.
2. A fault is logged whether or not the core accepted its event: a masked fault is still a
   fault (REQ-LOG-001).
3. ``quiet_tick`` names the one kind of step that carries no information beyond elapsed time
   (an accepted tick with no command and no state change); the log may elide it and count it.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from controller.core.commands import ClearAlarm, Command, RaiseAlarm
from controller.core.events import DEFAULT_LIMITS, Actor, Event
from controller.core.machine import Step
from controller.core.program import NO_PROGRAM

Payload = dict[str, Any]
FAULT_EVENTS = frozenset({"motor_fault", "watchdog"})
_DEFAULTS = Event("tick")


def _actor(a: int) -> str:
    try:
        return Actor(a).name.lower()
    except ValueError:
        return str(a)


def event_payload(e: Event) -> Payload:
    """The event's kind, actor and every field that differs from its default."""
    out: Payload = {"kind": e.kind, "actor": _actor(e.actor)}
    for f in fields(Event):
        if f.name in ("kind", "actor", "program", "limits"):
            continue
        value = getattr(e, f.name)
        if value != getattr(_DEFAULTS, f.name):
            out[f.name] = value
    if e.program != NO_PROGRAM:
        out["program"] = asdict(e.program)
    if e.limits != DEFAULT_LIMITS:
        out["limits"] = asdict(e.limits)
    return out


def command_record(c: Command) -> tuple[str, Payload]:
    if isinstance(c, RaiseAlarm):
        return "alarm_raised", {"alarm": c.alarm, "priority": c.priority}
    if isinstance(c, ClearAlarm):
        return "alarm_cleared", {"alarm": c.alarm}
    return "command", {"command": type(c).__name__, **asdict(c)}


def is_fault(step: Step) -> str | None:
    """The fault this step reports, if any (see rule 2)."""
    e = step.event
    if e.kind in FAULT_EVENTS:
        return e.kind
    if e.kind == "self_test" and not e.flag:
        return "self_test_failed"
    if step.accepted and step.row is None and step.state == "FAILSAFE" and step.reason:
        return "internal_fault"  # the core's latch (core._latch_failsafe): no table row fired
    return None


def quiet_tick(step: Step) -> bool:
    return step.accepted and step.event.kind == "tick" and not step.commands and step.state == step.source


def step_records(step: Step) -> list[tuple[str, Payload]]:
    main: Payload = {"event": event_payload(step.event), "source": step.source, "state": step.state,
                     "delivered_vu": step.vars.flow.delivered, "odo_vu": step.vars.flow.odo}
    if step.accepted:
        main["row"] = step.row
        if step.reason:
            main["reason"] = step.reason
    else:
        main["reason"] = step.reason or "refused"
    out: list[tuple[str, Payload]] = [("event_accepted" if step.accepted else "event_refused", main)]
    out.extend(command_record(c) for c in step.commands)
    kind = step.event.kind
    if step.accepted and kind == "confirm_soft_limit":
        out.append(("soft_limit_override", {"actor": _actor(step.event.actor), "state": step.state}))
    if step.accepted and kind == "configure":
        out.append(("configuration_change", {"actor": _actor(step.event.actor),
                                             "limits": asdict(step.event.limits)}))
    fault = is_fault(step)
    if fault is not None:
        out.append(("fault", {"fault": fault, "accepted": step.accepted, "state": step.state,
                              "reason": step.reason}))
    return out
