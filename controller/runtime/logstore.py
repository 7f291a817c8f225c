"""The event log as the shell's durable store: step records, write-ahead snapshots, restore.

Theory of operation
-------------------
``LogStore`` connects one ``EventLog`` to a ``Shell`` (the session does it at each boot,
``controller.runtime.session.PumpSession.boot``):

- the shell's ``persist`` hook writes every snapshot into the log as a ``snapshot`` record:
  the recovery payload of ``controller.core.recovery.snapshot`` (state, variables), the cap sent
  to the mechanism, and the caller's ``context``: the kind of session that wrote it
  (``controller.runtime.session.open_log`` refuses to resume another kind's), and what it needs
  to resume (the simulator's scenario clock and the index of the next scenario event;
  ``pumpctl run`` its port);
- an ``on_step`` hook records every core step (``EventLog.record_step``) at the caller's
  clock (simulated or wall milliseconds);
- ``restore(shell, snap)`` restarts the shell from a snapshot (``Shell.restore``: the
  mechanism's own count died with the power, so the bound of where it can have got to is the
  cap sent, never more than the snapshot's cap) and writes a ``restore`` record with the
  totals before and after, the bound used and the power-loss alarm.

``latest(log)`` reads the newest snapshot (checked against its own hash by the log) and
parses it (``Snapshot``); ``restore`` is idempotent: a restore writes a POST snapshot whose
bound is its own odometer, so a crash during a restart restores the same totals again.

Rules
1. Write-ahead: ``persist`` returns only once the snapshot is committed, and the shell calls
   it before it sends a cap that raises what the mechanism may reach; so the log's newest
   snapshot always bounds the mechanism (REQ-REC-001).
2. A step record or note that cannot be written is reported (``warn``: once when a kind of
   record starts failing, once when it is written again; ``alarm`` is the shell's LOW
   ``event_log`` alarm, latched) and therapy goes on (REQ-LOG-004, first half).
3. A snapshot that cannot be written raises ``SnapshotWriteError`` out of ``persist``, so
   the cap it was to protect is never sent; ``guard`` turns it into a stop (``Shell.stop_flow``):
   mechanism stopped, nothing that moves it sent again, and a ``motor_fault`` into the core,
   which latches FAILSAFE with its HIGH alarm (REQ-LOG-004, second half). After that,
   snapshot failures only warn: nothing can move any more.
4. A malformed snapshot is refused with ``ConfigurationError`` naming the field; it is never
   half-restored.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from controller.core import alarms as A
from controller.core.commands import Command
from controller.core.machine import Step
from controller.core.recovery import from_snapshot, snapshot
from controller.core.state import Vars
from controller.errors import ConfigurationError, PumpError
from controller.log.db import Record
from controller.log.eventlog import EventLog
from controller.log.steps import command_record
from controller.runtime.errors import SnapshotWriteError
from controller.runtime.shell import Shell

LOG_ALARM = "event_log"  # the shell's LOW alarm for a failed log write (the core has none)
LOG_ALARM_PRIORITY = "low"
T = TypeVar("T")


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A parsed ``snapshot`` record."""

    seq: int
    at_ms: int
    state: str
    vars: Vars
    sent_cap: int
    context: dict[str, Any]


def parse_snapshot(rec: Record) -> Snapshot:
    """The snapshot in ``rec``; ConfigurationError naming the field when it is malformed."""
    data = rec.payload
    where = f"snapshot record {rec.seq}"
    try:
        state, v = from_snapshot(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"{where}.vars", type(exc).__name__, "a format-1 snapshot of the variables",
                                 str(exc)) from None
    sent = data.get("sent_cap")
    if isinstance(sent, bool) or not isinstance(sent, int) or not v.flow.odo <= sent:
        raise ConfigurationError(f"{where}.sent_cap", sent, f"an integer >= the odometer {v.flow.odo}")
    ctx = data.get("context", {})
    if not isinstance(ctx, dict):
        raise ConfigurationError(f"{where}.context", type(ctx).__name__, "an object")
    return Snapshot(rec.seq, rec.at_ms, state, v, sent, ctx)


def latest(log: EventLog) -> Snapshot | None:
    rec = log.latest_snapshot()
    return None if rec is None else parse_snapshot(rec)


def reached(v: Vars, sent_cap: int) -> int:
    """Where the mechanism may have got to: the cap sent, never past the snapshot's cap (Shell.restore)."""
    return max(v.flow.odo, min(sent_cap, v.flow.cap))


def totals(v: Vars) -> dict[str, Any]:
    f = v.flow
    return {"odo_vu": f.odo, "cap_vu": f.cap, "delivered_vu": f.delivered, "kvo_vu": f.kvo_vol,
            "primed_vu": f.primed, "window_vu": list(f.wcur), "clock_ms": f.clock}


@dataclass
class LogStore:
    log: EventLog
    clock: Callable[[], int]  # the caller's monotonic milliseconds (simulated or wall)
    context: Callable[[], Mapping[str, Any]] = dict
    warn: Callable[[str], None] = _stderr
    on_commit: Callable[[tuple[Record, ...]], None] | None = None  # e.g. a test prints each committed seq
    on_alarm: Callable[[str, str, str], None] | None = None  # (alarm, priority, message) when the LOW alarm starts
    steps: int = 0
    snapshots: int = 0
    failures: int = 0
    degraded: bool = False  # a snapshot failed: flow was stopped (rule 3)
    alarm: bool = False  # the LOW event_log alarm: raised by the first failed write, latched until restart
    last_snapshot_seq: int | None = None
    _failing: set[str] = field(default_factory=set, repr=False)  # what failed last time it was written

    # --- hooks ---------------------------------------------------------------------------

    def on_step(self, step: Step) -> None:
        self.steps += 1
        self._write(lambda at: self.log.record_step(step, at), "step record")

    def persist(self, state: str, v: Vars, sent_cap: int) -> None:
        payload = {**snapshot(state, v), "sent_cap": sent_cap, "context": dict(self.context())}
        recs = self._write(lambda at: (self.log.append_snapshot(payload, at),), "snapshot")
        if recs is None:
            if not self.degraded:
                raise SnapshotWriteError(f"event log {self.log.path}: the recovery snapshot could not be written")
            return
        self.snapshots += 1
        self.last_snapshot_seq = recs[0].seq

    def note(self, kind: str, payload: Mapping[str, Any]) -> Record | None:
        """Append one record (restore, fault, library outcome, ...); failures warn (rule 2)."""
        recs = self._write(lambda at: (self.log.append(kind, payload, at),), kind)
        return None if recs is None else recs[0]

    def commands(self, cmds: tuple[Command, ...]) -> None:
        """Log commands the shell carried out itself (e.g. the library gate's alarm)."""
        if cmds:
            self._write(lambda at: self.log.append_many([command_record(c) for c in cmds], at), "command")

    # --- restore and the stop of rule 3 ----------------------------------------------------

    def restore(self, shell: Shell, state: str, v: Vars, sent_cap: int, source: int | str,
                driver_odo: int = 0) -> dict[str, Any]:
        """Restart ``shell`` from a snapshot and log what was restored (returns the record's payload)."""
        bound = reached(v, sent_cap)
        shell.restore(state, v, sent_cap=sent_cap, driver_odo=driver_odo)
        after = shell.ctl.vars
        payload = {
            "from": source, "state_before": state, "sent_cap_vu": sent_cap, "pushed_to_vu": bound,
            "bound": "min(sent cap, snapshot cap): the mechanism's own count was lost with the power",
            "before": totals(v), "after": totals(after),
            "power_loss_alarm": bool(after.alarm.active[A.POWER_LOSS]),
            "post_snapshot_seq": self.last_snapshot_seq, "context": dict(self.context()),
        }
        self.note("restore", payload)
        return payload

    def guard(self, shell: Shell, fn: Callable[[], T]) -> T | None:
        """Run one shell call; a failed snapshot stops flow (rule 3) and returns None."""
        try:
            return fn()
        except SnapshotWriteError as exc:
            self.stop_flow(shell, str(exc))
            return None

    def stop_flow(self, shell: Shell, why: str) -> None:
        """Rule 3: the shell stops flow (``Shell.stop_flow``); this store says why, and only warns after."""
        self.degraded = True

        def record() -> None:
            self.warn(f"ERROR: {why}: power-loss recovery cannot be guaranteed, flow stopped (motor_fault, "
                      "REQ-LOG-004); restart the pump once the log is writable")
            self.note("fault", {"fault": "persist_failed", "error": why, "state": shell.ctl.state})

        shell.stop_flow(why, record)

    # --- internals -------------------------------------------------------------------------

    def _write(self, fn: Callable[[int], tuple[Record, ...]], what: str) -> tuple[Record, ...] | None:
        try:
            recs = fn(self.clock())
        except PumpError as exc:  # LogWriteError, or a refused timestamp/payload (ConfigurationError)
            self.failures += 1
            if what not in self._failing:
                self._failing.add(what)
                msg = (f"event log {self.log.path}: {what} not written ({exc}); logging is degraded, "
                       "therapy continues (REQ-LOG-004)")
                self.warn(f"WARNING: {msg}")
                if not self.alarm:
                    self.alarm = True
                    if self.on_alarm is not None:
                        self.on_alarm(LOG_ALARM, LOG_ALARM_PRIORITY, msg)
            return None
        if what in self._failing:
            self._failing.discard(what)
            self.warn(f"event log {self.log.path}: {what} written again ({self.failures} failed writes so far)")
        if recs and self.on_commit is not None:
            self.on_commit(recs)
        return recs
