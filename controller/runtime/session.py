"""The session: ONE assembly of the event log, the shell, boot and restore, the guarded calls and the
library gate, used by ``pumpctl run`` (``controller.runtime.hardware``), the simulator
(``controller.scenario.run``, and the campaign through it) and the SDC session (``controller.sdc.session``).

Theory of operation
-------------------
``open_log(path, resume=..., kind=...)`` opens the event log and its ``LogStore`` (a ``LogSession``,
closed on leaving the ``with``) and, for a resume, reads the newest snapshot. ``PumpSession`` drives
one pump with them:

- ``boot(self_test, snapshot=None)`` is a power-on: a new ``Shell`` around a new ``Controller`` and
  the session's driver (``hooks.wrap_driver`` put its wrapper in place at construction, so the
  boot's first period already goes through it), the log store attached (every step recorded, every
  snapshot written ahead), the snapshot restored (through the store: a ``restore`` record), the
  caller told (``hooks.on_boot``), the first period (it starts the loop's clock), then the
  self-test: ``self_test()`` is asked after that period, when a serial pump has been polled once.
  On the session's first boot the drug library (``GateConfig.library``) is loaded through the gate
  after the self-test. A session may boot again (the simulator's power cycles): a new controller,
  the same driver, gate and library.
- ``call(fn)`` is the guard every shell call goes through: with a store, a snapshot that cannot be
  written stops flow for good (``LogStore.guard``, ``Shell.stop_flow``) and ``call`` returns None;
  the caller sees the same outcome whoever it is. ``submit``, ``step`` and ``skip`` are guarded
  calls of the shell's own.
- ``program(request, actor)`` turns a request into the core's ``program`` event: through the gate
  when there is one, straight (``build_program``, or a program the caller built) otherwise; the
  edge's soft-limit policy (``confirm_soft``) and the core's answer come back in a ``ProgramOutcome``.
- ``restart(confirm)`` restarts delivery after a restore only on the clinician's word (REQ-REC-003).
- ``shutdown()`` leaves the pump stopped, whatever happened.

Everything the shell itself decides (a refused load or program, a failed log write) is carried out
here, the same way for every caller: the gate's commands logged, its alarm and the log's LOW alarm
given to ``hooks.on_alarm`` when raised (``on_alarm_cleared`` when cleared), a gate log failure
warned. What a caller does with them (print, record in a result, publish in an MDIB) is its hook.

Rules (the policies; docs/architecture.md, "The session")
1. Self-test first, then the library: the pump proves it is fit before anything is loaded into it,
   and a library refusal is logged and shown by a shell that is up. Nothing can be programmed
   before both, so the order changes no delivery.
2. A resume with no snapshot in the log: nothing was persisted, so nothing can have been
   delivered. A caller that can start afresh (a scenario) is told (``if_empty``) and starts over;
   one that cannot (``pumpctl run --resume`` has no program) gets a ``ConfigurationError``. A
   snapshot written by another kind of session is refused naming ``context.kind``.
3. The cap sent to a pump runs at most ``SAFETY_HORIZON_MS`` of flow ahead of the core in the
   sessions that keep a log of a real or served pump (``pumpctl run --log``, ``pumpctl sdc
   serve``): if the controller dies, the mechanism stops by itself within it, and the log's newest
   snapshot bounds what it delivered.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from controller.clinical.programs import BuiltProgram, build_program
from controller.core.commands import ClearAlarm, RaiseAlarm
from controller.core.events import Actor, Event, ev
from controller.core.limits import Limits
from controller.core.machine import Controller, Step
from controller.core.state import Vars
from controller.drivers.base import PumpDriver
from controller.drivers.clocks import Clock
from controller.errors import ConfigurationError
from controller.library.gate import GateResult, LibraryGate
from controller.library.keys import Key
from controller.log.eventlog import EventLog
from controller.runtime.logstore import LogStore, Snapshot, latest
from controller.runtime.shell import BlockGuard, Shell

T = TypeVar("T")
SAFETY_HORIZON_MS = 30_000  # rule 3: what a resume may have to count as possibly delivered
WRITERS = {"run": "pumpctl run", "simulate": "pumpctl simulate", "sdc": "pumpctl sdc serve"}
NO_SNAPSHOT = "no snapshot to resume from: nothing was persisted, so nothing can have been delivered"
RESTARTABLE = ("PAUSED", "READY")


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- the log ---------------------------------------------------------------------------------


@dataclass
class LogSession:
    """An open event log, its store and the snapshot to resume from (None: a fresh start)."""

    log: EventLog | None = None
    store: LogStore | None = None
    snapshot: Snapshot | None = None

    def close(self) -> None:
        if self.log is not None:
            self.log.close()

    def __enter__(self) -> LogSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_log(path: str | Path | None, *, kind: str, resume: bool = False,
             if_empty: Callable[[str], None] | None = None) -> LogSession:
    """The log at ``path`` (None: no log) for a session of ``kind`` (the snapshots' ``context.kind``).

    With ``resume`` the newest snapshot is read and checked (rule 2); ``if_empty`` is told when there
    is none (without it, that is a ``ConfigurationError``)."""
    if path is None:
        if resume:
            raise ConfigurationError("--resume", True, "only with --log DB, the log to resume from")
        return LogSession()
    log = EventLog(path)
    try:
        snap = latest(log) if resume else None
        if resume and snap is None:
            if if_empty is None:
                raise ConfigurationError("--resume", str(path), "a log that holds a snapshot",
                                         "nothing was persisted, so nothing can have been delivered: start without "
                                         "--resume")
            if_empty(f"{path}: {NO_SNAPSHOT}")
        if snap is not None and snap.context.get("kind") != kind:
            raise ConfigurationError(f"snapshot record {snap.seq}.context.kind", snap.context.get("kind"),
                                     f'"{kind}" (a log written by {WRITERS.get(kind, kind)})')
        return LogSession(log, LogStore(log, clock=lambda: 0, context=lambda: {"kind": kind}), snap)
    except BaseException:
        log.close()
        raise


# --- what a caller gives and gets -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GateConfig:
    """The library gate of a session; ``library`` is loaded on the first boot (rule 1)."""

    library: str | Path | None = None
    key: Key | None = None
    allow_basic: bool = False  # without a library: programs with no drug, under the pump's limits
    allow_unsigned: bool = False  # development flag: a library no key verifies (logged, shown)
    today: Callable[[], date] | None = None  # None: today's UTC date


@dataclass(frozen=True, slots=True)
class Hooks:
    """The seams a caller plugs into (all optional)."""

    on_step: tuple[Callable[[Step], None], ...] = ()  # after every core step (after the log's record)
    on_boot: Callable[[bool], None] | None = None  # a new controller in place (True: restored), before its first period
    on_alarm: Callable[[str, str, str], None] | None = None  # (alarm, priority, message): a shell alarm raised
    on_alarm_cleared: Callable[[str], None] | None = None  # a shell alarm cleared (the gate's)
    after_persist: Callable[[str, Vars, int], None] | None = None  # after a snapshot is durable (or with no log)
    wrap_driver: Callable[[PumpDriver], PumpDriver] | None = None  # e.g. a fault-injecting link, before any boot
    warn: Callable[[str], None] | None = None  # None: the log store's (stderr)
    context: Callable[[], Mapping[str, Any]] | None = None  # each snapshot's context (None: {"kind": the log's})


@dataclass(frozen=True, slots=True)
class RestorePoint:
    """A snapshot to restart from: a log record's (``source`` its seq) or one kept in memory."""

    state: str
    vars: Vars
    sent_cap: int
    source: int | str

    @classmethod
    def of(cls, snap: Snapshot) -> RestorePoint:
        return cls(snap.state, snap.vars, snap.sent_cap, snap.seq)


@dataclass(frozen=True, slots=True)
class BootReport:
    self_test: bool  # what the core was told
    state: str  # the core's state after the self-test
    restored: bool
    restore: dict[str, Any] | None = None  # the restore record's payload (a restore with a log)
    library: GateResult | None = None  # the first boot's library load


@dataclass(frozen=True, slots=True)
class ProgramOutcome:
    """What became of a program request: refused at the edge (``step`` None, ``built`` None or
    ``code`` "soft_limits"), or handed to the core (``code`` "ok", "core": refused there, or
    "flow_stopped": the guard stopped flow)."""

    code: str
    message: str
    built: BuiltProgram | None = None
    step: Step | None = None
    gate: GateResult | None = None

    @property
    def accepted(self) -> bool:
        return self.step is not None and self.step.accepted

    @property
    def reached_core(self) -> bool:
        return self.code in ("ok", "core", "flow_stopped")


@dataclass(frozen=True, slots=True)
class Restart:
    restarted: bool
    code: str  # "ok", "state" (not PAUSED or READY), "unconfirmed", "refused"
    reason: str = ""


# --- the session -------------------------------------------------------------------------------


@dataclass
class PumpSession:
    driver: PumpDriver
    clock: Clock
    limits: Limits
    store: LogStore | None = None  # may be replaced between boots (a restarting process opens its log again)
    watchdog_ms: int = 3_000
    horizon_ms: int | None = None
    gate_config: GateConfig | None = None
    hooks: Hooks = field(default_factory=Hooks)
    gate: LibraryGate | None = field(init=False, default=None)
    programming: BuiltProgram | None = field(init=False, default=None)  # the program being submitted
    boots: int = field(init=False, default=0)
    shell: Shell = field(init=False)

    def __post_init__(self) -> None:
        if self.hooks.wrap_driver is not None:
            self.driver = self.hooks.wrap_driver(self.driver)
        g = self.gate_config
        if g is not None:
            self.gate = LibraryGate(g.key, self.store.log if self.store is not None else None,
                                    allow_basic=g.allow_basic, today=g.today, allow_unsigned=g.allow_unsigned)

    @property
    def ctl(self) -> Controller:
        return self.shell.ctl

    # --- boot ---------------------------------------------------------------------------------

    def boot(self, self_test: Callable[[], bool], snapshot: Snapshot | RestorePoint | None = None) -> BootReport:
        """Power on (see the module docstring): fresh, or restarted from ``snapshot``."""
        hooks, store = self.hooks, self.store
        persist = self._persist if store is not None or hooks.after_persist is not None else None
        self.shell = shell = Shell(Controller(self.limits), self.driver, self.clock, watchdog_ms=self.watchdog_ms,
                                   horizon_ms=self.horizon_ms, persist=persist)
        if store is not None:
            self._wire(store)
            shell.on_step.append(store.on_step)
        payload = None
        point = RestorePoint.of(snapshot) if isinstance(snapshot, Snapshot) else snapshot
        if point is not None:
            if store is not None:
                payload = store.restore(shell, point.state, point.vars, point.sent_cap, point.source, driver_odo=0)
            else:
                shell.restore(point.state, point.vars, sent_cap=point.sent_cap, driver_odo=0)
        shell.on_step.extend(hooks.on_step)
        if hooks.on_boot is not None:
            hooks.on_boot(point is not None)
        self.call(shell.step)  # starts the loop's clock: the first tick does not count the boot
        passed = bool(self_test())
        self.submit(ev("self_test", flag=passed))
        library = None
        self.boots += 1
        if self.boots == 1 and self.gate_config is not None and self.gate_config.library is not None:
            library = self.load_library(self.gate_config.library)
        return BootReport(passed, self.shell.ctl.state, point is not None, payload, library)

    def _wire(self, store: LogStore) -> None:
        store.clock = self.clock.now_ms
        if self.hooks.context is not None:
            store.context = self.hooks.context
        if self.hooks.on_alarm is not None:
            store.on_alarm = self.hooks.on_alarm
        if self.gate is not None:
            self.gate.log = store.log

    def _persist(self, state: str, v: Vars, sent_cap: int) -> None:
        if self.store is not None:  # write-ahead: durable first (raises SnapshotWriteError otherwise)
            self.store.persist(state, v, sent_cap)
        if self.hooks.after_persist is not None:
            self.hooks.after_persist(state, v, sent_cap)

    # --- guarded calls ------------------------------------------------------------------------------

    def call(self, fn: Callable[[], T]) -> T | None:
        """Run one shell call; a snapshot that cannot be written stops flow and gives None."""
        return fn() if self.store is None else self.store.guard(self.shell, fn)

    def submit(self, e: Event) -> Step | None:
        return self.call(lambda: self.shell.submit(e))

    def step(self) -> list[Step] | None:
        return self.call(self.shell.step)

    def skip(self, period_ms: int, max_periods: int, guard: BlockGuard | None = None) -> list[Step] | None:
        return self.call(lambda: self.shell.skip(period_ms, max_periods, guard))

    # --- the library and programs ---------------------------------------------------------------------

    def load_library(self, path: str | Path) -> GateResult:
        if self.gate is None:
            raise ConfigurationError("library", str(path), "a session with a library gate (GateConfig)")
        return self._carry_out(self.gate.load(path, self.clock.now_ms()))

    def _carry_out(self, r: GateResult) -> GateResult:
        """What the gate said, done the same way for every caller: logged, warned, alarms raised or cleared."""
        if self.store is not None:
            self.store.commands(r.commands)
        if r.log_error is not None:
            self._warn(f"WARNING: library gate: log write failed ({r.log_error}); the decision stands")
        for c in r.commands:
            if isinstance(c, RaiseAlarm) and self.hooks.on_alarm is not None:
                self.hooks.on_alarm(c.alarm, c.priority, r.message)
            elif isinstance(c, ClearAlarm) and self.hooks.on_alarm_cleared is not None:
                self.hooks.on_alarm_cleared(c.alarm)
        return r

    def _warn(self, msg: str) -> None:
        warn = self.hooks.warn or (self.store.warn if self.store is not None else _stderr)
        warn(msg)

    def program(self, request: Mapping[str, object] | BuiltProgram, actor: int = Actor.CLINICIAN, *,
                confirm_soft: bool | None = None) -> ProgramOutcome:
        """A program request to the core: through the gate if there is one (a request), straight
        otherwise (a request built here, or a program the caller built). ``confirm_soft``: None hands
        the program to the core as it is; False refuses one outside the soft limits at the edge;
        True confirms them in the core once it took the program (the operator saw them)."""
        gated: GateResult | None = None
        if self.gate is not None:
            if isinstance(request, BuiltProgram):
                raise TypeError("a session with a library gate takes the request, not a built program")
            gated = self._carry_out(self.gate.program(request, self.limits, self.clock.now_ms(), actor))
            if gated.event is None or gated.built is None:
                return ProgramOutcome(gated.code, gated.message, gate=gated)
            built = gated.built
        elif isinstance(request, BuiltProgram):
            built = request
        else:
            try:
                built = build_program(request, self.limits)
            except ConfigurationError as exc:  # refused at the edge, as the gate refuses it
                return ProgramOutcome("program", str(exc))
        if confirm_soft is False and built.needs_confirmation:
            return ProgramOutcome("soft_limits", "the program is outside the drug library's soft limits", built,
                                  gate=gated)
        event = gated.event if gated is not None and gated.event is not None else ev("program", actor,
                                                                                    program=built.program)
        self.programming = built
        try:
            step = self.submit(event)
        finally:
            self.programming = None
        if step is not None and step.accepted and confirm_soft and self.shell.ctl.vars.prog.needs_confirm:
            self.submit(ev("confirm_soft_limit"))
        if step is None:
            return ProgramOutcome("flow_stopped", "flow stopped: the recovery snapshot could not be written", built,
                                  gate=gated)
        if not step.accepted:
            return ProgramOutcome("core", step.reason or "refused", built, step, gated)
        return ProgramOutcome("ok", "accepted", built, step, gated)

    # --- restart and shutdown -----------------------------------------------------------------------

    def restart(self, confirm: bool) -> Restart:
        """After a restore: delivery goes on only on the clinician's word (REQ-REC-003): acknowledge the
        power-loss alarm, then resume (PAUSED) or start (READY)."""
        if self.shell.ctl.state not in RESTARTABLE:
            return Restart(False, "state", f"state {self.shell.ctl.state}")
        if not confirm:
            return Restart(False, "unconfirmed", "the clinician has not confirmed the restart")
        self.submit(ev("acknowledge"))
        step = self.submit(ev("resume" if self.shell.ctl.state == "PAUSED" else "start"))
        if step is None or not step.accepted:
            return Restart(False, "refused", (step.reason or "refused") if step is not None else "flow stopped")
        return Restart(True, "ok")

    def shutdown(self) -> None:
        """Leave the pump stopped, whatever happened (also before any boot)."""
        if hasattr(self, "shell"):
            self.shell.shutdown()
            return
        try:
            self.driver.safe_stop()
        finally:
            self.driver.close()
