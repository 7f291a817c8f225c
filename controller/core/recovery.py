"""Power-loss recovery: what a controller restarts with after power was lost mid-therapy.

Theory of operation
-------------------
The shell persists a *snapshot* (state name and variables) with a write-ahead rule: before
it sends a motor command that *raises* the cap it persists the new variables; a command that
lowers the cap (or stops) is sent first and persisted after. So at any instant the mechanism
cannot have pushed past the ``cap`` of the last snapshot (REQ-REC-002).

``restore(v, state, pushed_to)`` turns the last snapshot into the variables of a controller
restarting in POST. ``pushed_to`` is the odometer the mechanism reached, between the
snapshot's ``odo`` and its ``cap``; when it cannot be measured the shell passes the cap, so
the restored totals may count drug that never flowed but never forget drug that did:

- the volume between ``odo`` and ``pushed_to`` is added to the channel of the snapshot's
  state (therapy, KVO or priming) and to every dose window - nothing is delivered twice;
- the program, window buckets, patient-bolus times, latched alarms and clock are kept, so
  no lockout or window dose is forgotten; time spent without power is not counted (the
  clock resumes where it stopped), which only makes lockouts and windows longer;
- motor, watchdog and self-test faults are cleared: the new POST checks them again;
- ``power_loss`` is raised when something was delivered under the restored program, and the
  table takes POST to PAUSED (or READY) after a passing self-test, never to RUNNING.

``proofs`` shows that a restored snapshot of any state satisfying the invariants satisfies
them again (obligation REC-001). Everything here is dual-use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from controller.core import alarms as A
from controller.core.effects import settle
from controller.core.flow import COUNTED, Mode, mode_of
from controller.core.limits import Limits
from controller.core.logic import all_of, any_of, ite
from controller.core.program import Program
from controller.core.state import STATES, Alarms, Flow, Vars, initial_vars

DEVICE_FAULTS = (A.MOTOR_FAULT, A.WATCHDOG, A.SELF_TEST_FAILED)
SNAPSHOT_FORMAT = 3  # 2: dose-window rings carry their bucket, the line record (DEC-035); 3: the line keeps
# the rate last started and its entry, the reference of the large-change check (REQ-USE-001, DEC-038)


@dataclass(frozen=True, slots=True)
class PowerCycle:
    """Power was lost with the mechanism's odometer at ``pushed_to`` and came back: what a trace
    step of the proofs means by a power cycle (the controller restarts from ``restore``)."""

    pushed_to: int
    kind: str = "power_cycle"
    actor: int = 3  # Actor.SYSTEM: the shell restores, nobody asks for it

    @property
    def volume(self) -> int:
        """The proofs carry ``pushed_to`` in the event's volume field."""
        return self.pushed_to

    @property
    def dt_ms(self) -> int:
        return 0


def restore(v: Vars, state: str, pushed_to: int) -> Vars:
    """Variables for a controller restarting in POST (see the module docstring)."""
    f, m = v.flow, v.marks
    extra = pushed_to - f.odo
    mode = mode_of(state)
    counted = extra if mode in COUNTED else 0
    flow = Flow(
        f.clock, pushed_to, pushed_to, 0,
        f.delivered + (extra if mode == Mode.THERAPY else 0),
        f.kvo_vol + (extra if mode == Mode.KVO else 0),
        f.primed + (extra if mode == Mode.PRIME else 0),
        tuple(w + counted for w in f.wcur),
        f.step,
        f.step_done + (extra if mode == Mode.THERAPY else 0),
        ite(counted > 0, f.clock, f.last_in),  # counted at the snapshot's clock, as the windows are
    )
    a = v.alarm
    lost = all_of(v.prog.loaded, pushed_to > m.odo0)
    cause = tuple(False if i in DEVICE_FAULTS else c for i, c in enumerate(a.cause))
    active = tuple(False if i in DEVICE_FAULTS else (any_of(act, lost) if i == A.POWER_LOSS else act)
                   for i, act in enumerate(a.active))
    alarm = Alarms(cause, active, f.clock)
    marks = m._replace(touched_at=f.clock, paused_at=f.clock)
    restarted = v._replace(flow=flow, alarm=alarm, marks=marks)
    return settle(restarted, "POST")


def bound_ok(v: Vars, pushed_to: int) -> bool:
    """What the write-ahead rule guarantees about the odometer at power loss."""
    return all_of(v.flow.odo <= pushed_to, pushed_to <= v.flow.cap)


# --- snapshots as JSON -----------------------------------------------------------------------

def _plain(x: Any) -> Any:
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return {k: _plain(getattr(x, k)) for k in x._fields}
    if isinstance(x, tuple):
        return [_plain(y) for y in x]
    if is_dataclass(x) and not isinstance(x, type):
        return {f.name: _plain(getattr(x, f.name)) for f in fields(x)}
    if isinstance(x, bool):
        return x
    if isinstance(x, int):
        return int(x)
    raise TypeError(type(x).__name__)


def _shaped(template: Any, data: Any, where: str) -> Any:
    if isinstance(template, tuple) and hasattr(template, "_fields"):
        return type(template)(*(_shaped(getattr(template, k), data[k], f"{where}.{k}") for k in template._fields))
    if isinstance(template, tuple):
        if len(data) != len(template):
            raise ValueError(f"{where}: {len(data)} items, expected {len(template)}")
        return tuple(_shaped(t, d, f"{where}[{i}]") for i, (t, d) in enumerate(zip(template, data, strict=True)))
    if is_dataclass(template) and not isinstance(template, type):
        return type(template)(**{f.name: _shaped(getattr(template, f.name), data[f.name], f"{where}.{f.name}")
                                 for f in fields(template)})
    if isinstance(template, bool):
        if not isinstance(data, bool):
            raise ValueError(f"{where}: {data!r} is not a boolean")
        return data
    if isinstance(data, bool) or not isinstance(data, int):
        raise ValueError(f"{where}: {data!r} is not an integer")
    return data


def snapshot(state: str, v: Vars) -> dict[str, Any]:
    return {"state": state, "vars": _plain(v), "format": SNAPSHOT_FORMAT}


def from_snapshot(data: dict[str, Any]) -> tuple[str, Vars]:
    """Parse a snapshot; ValueError/KeyError on anything malformed (the caller refuses it)."""
    if data.get("format") != SNAPSHOT_FORMAT or data.get("state") not in STATES:
        raise ValueError(f"not a format-{SNAPSHOT_FORMAT} snapshot of a known state: {data.get('format')!r}, "
                         f"{data.get('state')!r} (formats 1 and 2 predate per-line dose history or the line's started "
                         "rate: restore refused, the log itself is kept)")
    template = initial_vars(Limits())._replace(prog=Program())
    return str(data["state"]), _shaped(template, data["vars"], "vars")


def dumps(state: str, v: Vars) -> str:
    return json.dumps(snapshot(state, v), sort_keys=True, separators=(",", ":"))

