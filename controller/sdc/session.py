"""One pump behind the network: the shell loop, the library gate and the log, owned by one thread.

Theory of operation
-------------------
``Session`` puts one pump on the network. The pump is the session assembly every runner uses
(``controller.runtime.session``: ``open_log`` and ``PumpSession`` - the shell around a
``Controller`` and a driver, the simulated pump or a serial pump family of the drivers registry
(``controller.sdc.pumps``), the library gate, the event log through its ``LogStore``, which
records every core step and every recovery snapshot, and the guard every shell call goes
through). Like ``pumpctl run --log`` it sends the pump a cap at most ``horizon_ms`` (30 s) of
flow ahead of the core. It never resumes from its log: there is no one at the pump to confirm a
restart (REQ-REC-003), so a new session starts afresh; the log keeps the snapshots all the same.

The core is not thread-safe and the log's SQLite connection belongs to the thread that
opened it, so everything happens on the session's own thread: the HTTP threads of the SDC
provider only *queue* work (``remote``, ``note``) and ``call`` waits for a result. With
``auto=True`` the thread also runs a control period every ``period_ms`` on the session's
clock; tests drive periods themselves with ``advance`` on a simulated clock.

A remote command (``_remote``):

1. the role of the client certificate (``RoleMap``); no certificate, no mapped role, or the
   read-only ``monitor`` role: refused before anything is built (REQ-SEC-003);
2. SetValue: the program request with one field changed goes through the library gate
   (``PumpSession.program``) with the client's actor (hard limits refuse here, and the gate's
   alarm is logged); Activate: ``ev(kind, actor)``;
3. the event goes to the core through the guarded ``Shell.submit`` -> ``Controller.handle``, the
   only way in; a refused step refuses the command with the core's reason;
4. a ``remote_call`` record with the client identity, role, actor, operation, value, outcome
   and reason is appended to the hash-chained log, refused or not;
5. the MDIB is refreshed (``on_view``) before the outcome is reported.

After every control period the view is published too, so an alarm raised or cleared by a
tick reaches the MDIB in the period it happens (``View.period``). The view carries the shell's
own alarms as well: the gate's ``drug_library`` (raised by a refused load or program, cleared by
a good one) and the log store's ``event_log`` (a failed write, latched until restart).

Rules
1. Only this thread touches the controller, the shell, the driver, the gate and the log.
2. A refused command changes nothing: the program request is replaced only when the core
   accepted the program built from it.
3. ``stop`` always leaves the pump stopped (``Shell.shutdown``) and closes the log.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from controller.clinical.programs import BuiltProgram
from controller.core.events import Event, ev
from controller.core.limits import Limits
from controller.core.machine import Step
from controller.drivers.base import PumpDriver
from controller.drivers.clocks import Clock
from controller.library.gate import LIBRARY_ALARM, LibraryGate
from controller.library.keys import Key
from controller.runtime.logstore import LOG_ALARM, LogStore
from controller.runtime.session import SAFETY_HORIZON_MS, GateConfig, LogSession, PumpSession, open_log
from controller.runtime.shell import Shell
from controller.sdc.operations import BY_HANDLE, SET_VALUE, RemoteOp
from controller.sdc.roles import Identity, RoleMap, actor
from controller.sdc.view import View, view_of

T = TypeVar("T")
RATE_FIELDS = ("rate_ml_h", "dose", "dose_unit", "duration_s")  # the ways a request gives its rate


@dataclass(frozen=True, slots=True)
class Outcome:
    accepted: bool
    reason: str  # "" when accepted
    state: str


@dataclass(frozen=True, slots=True)
class PumpSetup:
    """What the session boots: a driver and whether it passed its self-test."""

    driver: PumpDriver
    self_test: Callable[[], bool]
    plant: Any = None  # the simulated pump, for tests and demos (None on hardware)
    name: str = "simulated pump"  # what is driven, for the operator (a serial pump: model, firmware, port)


@dataclass
class _Job:
    fn: Callable[[], Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class Session:
    def __init__(self, setup: Callable[[Clock], PumpSetup], clock: Clock, log_path: Path, roles: RoleMap, *,
                 period_ms: int = 100, limits: Limits | None = None, request: Mapping[str, object] | None = None,
                 library: Path | None = None, key: Key | None = None, today: Callable[[], date] | None = None,
                 auto: bool = True, on_view: Callable[[View], None] | None = None,
                 horizon_ms: int | None = SAFETY_HORIZON_MS) -> None:
        self.clock, self.roles, self.period_ms, self.auto = clock, roles, period_ms, auto
        self.limits = limits or Limits()
        self.request: dict[str, object] = dict(request or {})
        self.built: BuiltProgram | None = None
        self.on_view = on_view
        self.period = 0
        self.remote_calls = 0
        self.publish_errors = 0
        self._setup, self._log_path, self._library, self._key, self._today = setup, log_path, library, key, today
        self._horizon_ms = horizon_ms
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="pumpctl-sdc-session", daemon=True)
        self._ready = threading.Event()
        self._boot_error: BaseException | None = None
        self.pump: PumpSession
        self._logs: LogSession | None = None
        self.plant: Any = None
        self.self_test: bool | None = None  # the result the core was given at boot
        self.boot_messages: list[str] = []

    @property
    def shell(self) -> Shell:
        return self.pump.shell

    @property
    def store(self) -> LogStore:
        assert self.pump.store is not None  # a session always has its log
        return self.pump.store

    @property
    def gate(self) -> LibraryGate:
        assert self.pump.gate is not None  # a session always has its gate (allow_basic without a library)
        return self.pump.gate

    # --- other threads -------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._boot_error is not None:
            self._thread.join()
            raise self._boot_error

    def call(self, fn: Callable[[], T], timeout_s: float = 30.0) -> T:
        """Run ``fn`` on the session thread and return its result (re-raising its exception)."""
        job = _Job(fn)
        self._jobs.put(job)
        if not job.done.wait(timeout_s):
            raise TimeoutError(f"the pump session did not answer within {timeout_s} s")
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[no-any-return]

    def remote(self, handle: str, value: object, who: Identity | None, report: Callable[[Outcome], None]) -> None:
        """Queue one remote command; ``report`` gets its outcome on the session thread."""
        self._jobs.put(_Job(lambda: report(self._remote_or_refuse(handle, value, who))))

    def note(self, kind: str, payload: Mapping[str, Any]) -> None:
        """Queue one log record (e.g. a refused TLS handshake)."""
        self._jobs.put(_Job(lambda: self.store.note(kind, payload)))

    def advance(self, ms: int) -> View:
        """Tests: advance the simulated clock by ``ms`` in control periods; the view after."""
        return self.call(lambda: self._advance(ms))

    def stop(self) -> None:
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join(timeout=10)

    # --- the session thread ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._boot()
        except BaseException as exc:
            self._boot_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop()
        finally:
            try:
                self.pump.shutdown()  # rule 3
            finally:
                if self._logs is not None:
                    self._logs.close()

    def _boot(self) -> None:
        logs = self._logs = open_log(self._log_path, kind="sdc")
        try:
            pump = self._setup(self.clock)
            self.plant = pump.plant
            self.boot_messages.append(f"pump: {pump.name}")
            self.pump = PumpSession(pump.driver, self.clock, self.limits, logs.store, horizon_ms=self._horizon_ms,
                                    gate_config=GateConfig(self._library, self._key, allow_basic=self._library is None,
                                                           today=self._today))
            boot = self.pump.boot(pump.self_test)  # the self-test after the first period: a serial pump was polled once
            self.self_test = boot.self_test
            if boot.library is not None:
                self.boot_messages.append(f"{self.gate.display}" + ("" if boot.library.ok else
                                                                    f": {boot.library.message}"))
            if self.request:
                self.boot_messages.append(self._program_locally())
            self._publish()
        except BaseException:
            try:
                if hasattr(self, "pump"):  # a pump was opened: leave it stopped (rule 3)
                    self.pump.shutdown()
            finally:
                logs.close()
            raise

    def _program_locally(self) -> str:
        """The ``--program`` file, programmed by the local operator (clinician) at boot."""
        out = self.pump.program(self.request)
        if not out.reached_core:
            return f"program refused ({out.code}): {out.message}"
        if out.step is None or not out.step.accepted:
            return f"program refused by the core: {out.step.reason if out.step else 'flow stopped'}"
        self.built = out.built
        return f"program loaded: {self.shell.ctl.state}"

    def _loop(self) -> None:
        next_ms = self.clock.now_ms() + self.period_ms
        while True:
            timeout = None
            if self.auto:
                timeout = max(0.0, (next_ms - self.clock.now_ms()) / 1000)
            try:
                job = self._jobs.get(timeout=timeout)
            except queue.Empty:
                job = _Job(self._period)
                next_ms += self.period_ms
                if next_ms < self.clock.now_ms():  # overrun: the shell's watchdog judges it; do not catch up
                    next_ms = self.clock.now_ms() + self.period_ms
            if job is None:
                return
            try:
                job.result = job.fn()
            except BaseException as exc:  # reported to the caller; the loop goes on
                job.error = exc
            job.done.set()

    def _period(self) -> None:
        self.pump.step()
        self.period += 1
        self._publish()

    def _advance(self, ms: int) -> View:
        advance = getattr(self.clock, "advance", None)
        if advance is None:
            raise TypeError("advance needs a simulated clock (controller.runtime.shell.SimClock)")
        left = ms
        while left > 0:
            dt = min(left, self.period_ms)
            advance(dt)
            self._period()
            left -= dt
        return self.view()

    def view(self) -> View:
        entry = self.built.entry if self.built is not None else None
        shell = {LIBRARY_ALARM: self.gate.alarm_active, LOG_ALARM: self.store.alarm}
        return view_of(self.shell.ctl.state, self.shell.ctl.vars, self.period, entry, shell)

    def _publish(self) -> None:
        """Refresh the MDIB; a failure to publish never changes what the pump did (it is logged once)."""
        if self.on_view is None:
            return
        try:
            self.on_view(self.view())
        except Exception as exc:
            self.publish_errors += 1
            if self.publish_errors == 1:
                self.store.note("publish_failed", {"error": f"{type(exc).__name__}: {exc}", "period": self.period})

    def _remote_or_refuse(self, handle: str, value: object, who: Identity | None) -> Outcome:
        """Fail closed: an unexpected error refuses the command (and is logged when the log can be written)."""
        try:
            return self._remote(handle, value, who)
        except Exception as exc:
            reason = f"internal_error: {type(exc).__name__}: {exc}"
            self.store.note("remote_call", {"operation": handle, "client": who.as_log() if who else None,
                                            "accepted": False, "reason": reason})
            return Outcome(False, reason, self.shell.ctl.state)

    def _remote(self, handle: str, value: object, who: Identity | None) -> Outcome:
        op = BY_HANDLE.get(handle)
        role = self.roles.role(who)
        act = actor(role)
        source = self.shell.ctl.state
        if op is None:
            reason = f"unknown_operation: {handle!r} is not offered"
        elif who is None:
            reason = "not_authenticated: no verified client certificate"
        elif act is None:
            reason = (f"not_authorized: certificate {who.subject_cn!r} ({who.fingerprint[:23]}...) has "
                      f"{'no role' if role is None else 'the read-only role ' + role.value}; commands need "
                      "clinician or admin")
        else:
            reason, what = self._build(op, value, int(act))
            if isinstance(what, Event):
                reason = self._submitted(self.pump.submit(what))
            elif what is not None:
                out = self.pump.program(what, int(act))
                reason = (self._submitted(out.step) if out.reached_core
                          else f"library_refused: {out.code}: {out.message}")
                if not reason:  # rule 2
                    self.request, self.built = what, out.built
        outcome = Outcome(reason == "", reason, self.shell.ctl.state)
        self.remote_calls += 1
        self.store.note("remote_call", {
            "operation": handle, "sdc": op.sdc if op else None, "event": op.event if op else None,
            "value": None if value is None else str(value), "client": who.as_log() if who else None,
            "role": role.value if role else None, "actor": act.name.lower() if act is not None else None,
            "accepted": outcome.accepted, "reason": reason or None, "source": source, "state": outcome.state,
        })
        self._publish()
        return outcome

    @staticmethod
    def _submitted(step: Step | None) -> str:
        """The refusal reason of a submitted event ("" when the core accepted it)."""
        if step is None:
            return "flow_stopped: the recovery snapshot could not be written (REQ-LOG-004)"
        return "" if step.accepted else step.reason or "refused"

    def _build(self, op: RemoteOp, value: object, act: int) -> tuple[str, Event | dict[str, object] | None]:
        """(refusal reason or "", what goes to the pump: an Activate's event, or a SetValue's new program
        request, which the library gate checks) for an authorised command."""
        if op.sdc != SET_VALUE or op.field is None:
            return "", ev(op.event, act)
        if value is None:
            return f"bad_value: {op.handle} needs a value", None
        try:  # SDC numeric values are decimals; the program checks take numbers, never text
            number = Decimal(str(value).strip())
        except InvalidOperation:
            number = Decimal("NaN")
        if isinstance(value, bool) or not number.is_finite():
            return f"bad_value: {op.handle} needs a finite number, not {value!r}", None
        request = {k: v for k, v in self.request.items() if not (op.field == "rate_ml_h" and k in RATE_FIELDS)}
        request[op.field] = number
        return "", request
