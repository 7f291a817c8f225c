"""The hardware run loop: a real (or emulated) serial pump driven by the shell, with the event log,
power-loss resume and the library gate. ``pumpctl run`` (``controller.cli.hardware``) parses the
options and calls ``run_loop``; see that module's docstring for the behaviour. The pump, its log and
its gate are assembled by ``controller.runtime.session`` (``open_log``, ``PumpSession``), as for the
simulator and the SDC session; this module adds the operator's side: what is printed, the
soft-limit confirmation, the restart on ``--confirm-resume`` and the real-time loop. Its rules:

1. Whatever happens - end, Ctrl-C, an exception - the session's ``shutdown()`` runs: the pump is
   left stopped and, if that could not be confirmed, with its own stop armed.
2. A run that ends in an alarm, FAILSAFE or FAILED, a program the library gate refuses, or one
   outside the library's soft limits without ``--confirm-soft-limits`` returns 1 (the pump's
   checks refused it); a bad snapshot or log raises ``ConfigurationError`` naming it (exit 2).
   A program file that cannot be built, or one outside the soft limits without the confirmation,
   is refused before the pump is opened.
3. The log is closed whatever happens; a log write failure warns and the run goes on, a
   snapshot that cannot be written stops flow (REQ-LOG-004).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from controller.clinical.programs import BuiltProgram, build_program
from controller.core import alarms
from controller.core.events import ev
from controller.core.limits import Limits
from controller.core.units import fmt_ml
from controller.drivers.clocks import WallClock
from controller.runtime.session import SAFETY_HORIZON_MS, GateConfig, Hooks, LogSession, PumpSession, open_log

if TYPE_CHECKING:
    from controller.drivers.registry import Family, HardwareConfig, HardwareDriver
    from controller.library.keys import Key

DONE_STATES = ("STOPPED", "KVO", "ALARM", "FAILSAFE", "FAILED")
DEFAULT_HORIZON_S = SAFETY_HORIZON_MS / 1000  # with --log: what a resume may have to count as possibly delivered
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
    """Rule 3 lives here: the log is closed on leaving the ``with``."""
    with open_log(opts.log, kind="run", resume=opts.resume) as logs:
        return _boot_and_run(family, config, request, opts, logs)


def _print_alarm(alarm: str, priority: str, message: str) -> None:
    print(f"ALARM {alarm} ({priority}): {message}", file=sys.stderr, flush=True)


def _boot_and_run(family: Family, config: HardwareConfig, request: dict[str, object] | None, opts: RunOptions,
                  logs: LogSession) -> int:
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
    gate = GateConfig(opts.library, opts.key, allow_unsigned=opts.allow_unsigned) if opts.library else None
    session = PumpSession(driver, clock, limits, logs.store, horizon_ms=opts.horizon_ms, gate_config=gate,
                          hooks=Hooks(on_alarm=_print_alarm, context=lambda: {"kind": "run", "port": config.port}))
    try:
        boot = session.boot(lambda: True, logs.snapshot)  # self-test: the pump answered at open
        if boot.restore is not None:
            r = boot.restore
            print(f"restored snapshot {r['from']} (state {r['state_before']}): delivered "
                  f"{_ml(r['before']['delivered_vu'])} -> {_ml(r['after']['delivered_vu'])} mL (bound: the cap sent)",
                  flush=True)
        if boot.restored:
            if not _restart(session, opts.confirm_resume):
                return 0 if session.ctl.state not in BAD_END else 1
        else:
            if session.gate is not None:
                print(session.gate.display, flush=True)
            if not _program(session, built if built is not None else request or {}, opts.confirm_soft):
                return 1
            start = session.submit(ev("start"))
            if start is None or not start.accepted:
                print(f"pumpctl run: start refused: {start.reason if start else 'flow stopped'}", file=sys.stderr)
                return 1
        return _loop(session, driver, config, opts)
    finally:
        session.shutdown()


def _ml(vu: int) -> str:
    return fmt_ml(vu)


def _soft_ok(built: BuiltProgram, confirm_soft: bool) -> bool:
    for soft in built.soft:
        print(f"soft limit: {soft}", file=sys.stderr)
    if built.needs_confirmation and not confirm_soft:
        print("pumpctl run: the program is outside the drug library's soft limits; review them and pass "
              "--confirm-soft-limits to override", file=sys.stderr)
        return False
    return True


def _program(session: PumpSession, request: dict[str, object] | BuiltProgram, confirm_soft: bool) -> bool:
    """The program to the core (through the gate when there is a library: a refusal shows the gate's
    alarm, is logged, and the pump stays stopped); False: refused at the edge."""
    out = session.program(request, confirm_soft=confirm_soft)
    if out.gate is not None and out.built is not None and not _soft_ok(out.built, confirm_soft):
        return False  # shown here: a program built without the gate was shown before the pump was opened
    if not out.reached_core and out.code != "soft_limits":
        print(f"pumpctl run: program refused ({out.code}): {out.message}; the pump stays stopped", file=sys.stderr)
        return False
    return True


def _restart(session: PumpSession, confirm: bool) -> bool:
    """After a restore: report, and restart delivery only on the clinician's word (REQ-REC-003)."""
    v = session.ctl.vars
    active = [alarms.IDS[i] for i, on in enumerate(v.alarm.active) if on]
    print(f"restored: state={session.ctl.state} alarms={','.join(active) or '-'} delivered={_ml(v.flow.delivered)} mL",
          flush=True)
    r = session.restart(confirm)
    if r.code == "unconfirmed":
        print("the pump stays stopped: check the infusion, then run again with --resume --confirm-resume", flush=True)
    elif r.code == "refused":
        print(f"pumpctl run: restart refused: {r.reason}", file=sys.stderr)
    return r.restarted


def _loop(session: PumpSession, driver: HardwareDriver, config: HardwareConfig, opts: RunOptions) -> int:
    core_ms, motor_ms = config.stop_bounds(opts.period_ms)
    motor = f"{motor_ms} ms" if motor_ms is not None else "at its volume target only"
    print(f"pump {driver.version} on {config.port}: {session.ctl.state}; after a communication fault: "
          f"FAILSAFE within {core_ms} ms, pump stopped within {motor}", flush=True)
    next_print = 0.0
    t0 = time.monotonic()
    while True:
        period_start = time.monotonic()
        session.step()
        ctl = session.ctl
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
    print(f"end: state={session.ctl.state} delivered={fmt_ml(session.ctl.vars.flow.delivered)} mL", flush=True)
    return 1 if session.ctl.state in BAD_END else 0
