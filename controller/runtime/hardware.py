"""The hardware run loop: a real (or emulated) serial pump driven by the shell, with the event log,
power-loss resume and the library gate. ``pumpctl run`` (``controller.cli.hardware``) parses the
options and calls ``run_loop``; see that module's docstring for the behaviour, and its rules,
which this loop keeps:

1. Whatever happens - end, Ctrl-C, an exception - ``shell.shutdown()`` runs: the pump is left
   stopped and, if that could not be confirmed, with its own stop armed.
2. A run that ends in an alarm, FAILSAFE or FAILED, a program the library gate refuses, or one
   outside the library's soft limits without ``--confirm-soft-limits`` returns 1 (the pump's
   checks refused it); a bad snapshot or log raises ``ConfigurationError`` naming it (exit 2).
3. The log is closed whatever happens; a log write failure warns and the run goes on, a
   snapshot that cannot be written stops flow (REQ-LOG-004).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from controller.errors import ConfigurationError

if TYPE_CHECKING:
    from controller.clinical.programs import BuiltProgram
    from controller.core.events import Event
    from controller.core.limits import Limits
    from controller.core.machine import Step
    from controller.drivers.registry import Family, HardwareConfig, HardwareDriver
    from controller.library.keys import Key
    from controller.runtime.logstore import LogStore, Snapshot
    from controller.runtime.shell import Shell

T = TypeVar("T")

DONE_STATES = ("STOPPED", "KVO", "ALARM", "FAILSAFE", "FAILED")
DEFAULT_HORIZON_S = 30.0  # with --log: what a resume may have to count as possibly delivered
BAD_END = ("ALARM", "FAILSAFE", "FAILED")


@dataclass(frozen=True, slots=True)
class RunOptions:
    period_ms: int = 100
    duration_s: float | None = None
    print_every_s: float = 1.0
    confirm_soft: bool = False
    log: Path | None = None
    resume: bool = False
    confirm_resume: bool = False
    library: Path | None = None
    key: Key | None = None
    horizon_ms: int | None = None  # Shell.horizon_ms
    allow_unsigned: bool = False  # development flag: a library no key verifies (logged by the gate)


def run_loop(family: Family, config: HardwareConfig, request: dict[str, object] | None, opts: RunOptions) -> int:
    """Rules 2 and 4 live here: the ``finally`` blocks below."""
    from controller.log.eventlog import EventLog
    from controller.runtime.logstore import LogStore, latest

    log = EventLog(opts.log) if opts.log is not None else None
    try:
        store = LogStore(log, clock=lambda: 0, context=lambda: {"kind": "run", "port": config.port}) if log else None
        snap = latest(log) if log is not None and opts.resume else None
        if opts.resume and snap is None:
            raise ConfigurationError("--resume", str(opts.log), "a log that holds a snapshot",
                                     "nothing was persisted, so nothing can have been delivered: start without "
                                     "--resume")
        if snap is not None and snap.context.get("kind") != "run":
            raise ConfigurationError(f"snapshot record {snap.seq}.context.kind", snap.context.get("kind"),
                                     '"run" (a log written by pumpctl run)')
        return _boot_and_run(family, config, request, opts, store, snap)
    finally:
        if log is not None:
            log.close()


def _boot_and_run(family: Family, config: HardwareConfig, request: dict[str, object] | None, opts: RunOptions,
                  store: LogStore | None, snap: Snapshot | None) -> int:
    from controller.clinical.programs import build_program
    from controller.core.events import ev
    from controller.core.limits import Limits
    from controller.core.machine import Controller
    from controller.drivers.clocks import WallClock
    from controller.runtime.shell import Shell

    limits = Limits()
    built = build_program(request, limits) if request is not None and opts.library is None else None
    if built is not None and not _soft_ok(built, opts.confirm_soft):
        return 1  # refused by the pump's checks, as a library refusal is (the exit-code convention: README)
    driver = family.driver(config)
    clock = WallClock()
    try:
        driver.open(clock.now_ms())
    except Exception as exc:
        driver.close()
        print(f"pumpctl run: cannot open the pump on {config.port}: {exc}", file=sys.stderr)
        return 1
    shell = Shell(Controller(limits), driver, clock, horizon_ms=opts.horizon_ms)
    call = _caller(shell, store)
    try:
        if store is not None:
            store.clock = clock.now_ms
            store.on_alarm = lambda alarm, prio, msg: print(f"ALARM {alarm} ({prio}): {msg}", file=sys.stderr)
            store.attach(shell)
        if snap is not None and store is not None:
            r = store.restore(shell, snap.state, snap.vars, snap.sent_cap, snap.seq, driver_odo=0)
            print(f"restored snapshot {snap.seq} (state {snap.state}): delivered {_ml(r['before']['delivered_vu'])} "
                  f"-> {_ml(r['after']['delivered_vu'])} mL (bound: the cap sent)", flush=True)
        call(shell.step)  # starts the loop's clock, so the first tick does not count the boot
        call(lambda: shell.submit(ev("self_test", flag=True)))
        if snap is not None:
            if not _restart(shell, call, opts.confirm_resume):
                return 0 if shell.ctl.state not in BAD_END else 1
        else:
            program = _program(shell, store, request or {}, limits, opts, built, clock.now_ms)
            if program is None:
                return 1
            call(lambda: shell.submit(program))
            if shell.ctl.vars.prog.needs_confirm:  # the operator passed --confirm-soft-limits after seeing them
                call(lambda: shell.submit(ev("confirm_soft_limit")))
            start = call(lambda: shell.submit(ev("start")))
            if start is None or not start.accepted:
                print(f"pumpctl run: start refused: {start.reason if start else 'flow stopped'}", file=sys.stderr)
                return 1
        return _loop(shell, driver, config, opts, call)
    finally:
        shell.shutdown()


def _caller(shell: Shell, store: LogStore | None) -> Callable[[Callable[[], T]], T | None]:
    def call(fn: Callable[[], T]) -> T | None:
        return fn() if store is None else store.guard(shell, fn)

    return call


def _ml(vu: int) -> str:
    from controller.core.units import fmt_ml

    return fmt_ml(vu)


def _soft_ok(built: BuiltProgram, confirm_soft: bool) -> bool:
    for soft in built.soft:
        print(f"soft limit: {soft}", file=sys.stderr)
    if built.needs_confirmation and not confirm_soft:
        print("pumpctl run: the program is outside the drug library's soft limits; review them and pass "
              "--confirm-soft-limits to override", file=sys.stderr)
        return False
    return True


def _program(shell: Shell, store: LogStore | None, request: dict[str, object], limits: Limits, opts: RunOptions,
             built: BuiltProgram | None, now: Callable[[], int]) -> Event | None:
    """The program event for the core, or None (the pump stays stopped): through the library gate
    when there is a library (a refusal shows and logs the gate's alarm), straight otherwise."""
    from controller.core.events import ev
    from controller.library.gate import LibraryGate

    if opts.library is None:
        return ev("program", program=built.program) if built is not None else None
    gate = LibraryGate(opts.key, store.log if store is not None else None, allow_unsigned=opts.allow_unsigned)
    loaded = gate.load(opts.library, now())
    print(gate.display, flush=True)
    result = gate.program(request, limits, now())  # refused (no_library) after a refused load, and logged
    for r in (loaded, result):
        if store is not None:
            store.commands(r.commands)
        if r.log_error is not None:
            print(f"warning: library gate: log write failed: {r.log_error}", file=sys.stderr)
        if r.alarm is not None:
            print(f"ALARM {r.alarm.alarm} ({r.alarm.priority}): {r.alarm.message}", file=sys.stderr)
    if result.event is None or result.built is None:
        print(f"pumpctl run: program refused ({result.code}): {result.message}; the pump stays stopped",
              file=sys.stderr)
        return None
    if not _soft_ok(result.built, opts.confirm_soft):
        return None
    return result.event


def _restart(shell: Shell, call: Callable[[Callable[[], Step]], Step | None], confirm: bool) -> bool:
    """After a restore: report, and restart delivery only on the clinician's word (REQ-REC-003)."""
    from controller.core import alarms
    from controller.core.events import ev

    v = shell.ctl.vars
    active = [alarms.IDS[i] for i, on in enumerate(v.alarm.active) if on]
    print(f"restored: state={shell.ctl.state} alarms={','.join(active) or '-'} delivered={_ml(v.flow.delivered)} mL",
          flush=True)
    if shell.ctl.state not in ("PAUSED", "READY"):
        return False
    if not confirm:
        print("the pump stays stopped: check the infusion, then run again with --resume --confirm-resume", flush=True)
        return False
    call(lambda: shell.submit(ev("acknowledge")))
    step = call(lambda: shell.submit(ev("resume" if shell.ctl.state == "PAUSED" else "start")))
    if step is None or not step.accepted:
        print(f"pumpctl run: restart refused: {step.reason if step else 'flow stopped'}", file=sys.stderr)
        return False
    return True


def _loop(shell: Shell, driver: HardwareDriver, config: HardwareConfig, opts: RunOptions,
          call: Callable[[Callable[[], list[Step]]], list[Step] | None]) -> int:
    from controller.core.units import fmt_ml

    core_ms, motor_ms = config.stop_bounds(opts.period_ms)
    motor = f"{motor_ms} ms" if motor_ms is not None else "at its volume target only"
    print(f"pump {driver.version} on {config.port}: {shell.ctl.state}; after a communication fault: "
          f"FAILSAFE within {core_ms} ms, pump stopped within {motor}", flush=True)
    next_print = 0.0
    t0 = time.monotonic()
    while True:
        period_start = time.monotonic()
        call(shell.step)
        ctl = shell.ctl
        elapsed = period_start - t0
        if elapsed >= next_print:
            measured = driver.measured_vu()
            shown = "-" if measured is None else fmt_ml(measured)
            print(f"t={elapsed:7.1f}s state={ctl.state:9s} delivered={fmt_ml(ctl.vars.flow.delivered)} mL "
                  f"pump={shown} mL", flush=True)
            next_print += opts.print_every_s
        if opts.duration_s is not None and elapsed >= opts.duration_s:
            break
        if opts.duration_s is None and ctl.state in DONE_STATES:
            break
        time.sleep(max(0.0, opts.period_ms / 1_000 - (time.monotonic() - period_start)))
    print(f"end: state={shell.ctl.state} delivered={fmt_ml(shell.ctl.vars.flow.delivered)} mL", flush=True)
    return 1 if shell.ctl.state in BAD_END else 0
