"""``pumpctl run``: the controller in hardware mode, driving a serial pump (real or emulated).

Theory of operation
-------------------
``run [--driver D]`` (``controller.drivers.registry``: ``ne1000``, the default, or ``harvard``;
``pumpctl emulate`` is in ``controller.cli.emulate``) opens the pump with the family's driver
(NE-1000: safe mode unless ``--safe-timeout 0``; Harvard: every run bounded by ``--leg-s`` of
flow, as it has no watchdog of its own), builds a ``Shell`` with the
wall clock, boots the core (self-test passes when the pump answered), loads the program file
(the fields of a scenario's program event, through ``build_program``), starts, and steps the
shell every ``--period-ms`` until the infusion ends, ``--duration`` runs out, or Ctrl-C. A
downstream-occlusion alarm's ``RelievePressure`` goes to ``driver.relieve`` (through the shell).

With ``--log DB`` every core step and every recovery snapshot goes into the event log
(``controller.runtime.logstore``: write-ahead, so the log's newest snapshot bounds the pump). With
``--resume`` the log's newest snapshot is restored instead of a fresh boot: the pump comes back
PAUSED with the power_loss alarm (or READY), never running, and stays stopped unless
``--confirm-resume`` says the clinician checked the infusion (then: acknowledge, resume). The
restored program goes on; the pump's counters are cleared at open, so its odometer restarts at 0.
With ``--log`` the cap sent to the pump runs at most ``--horizon-s`` (30 s) of flow ahead of the
core (``Shell.horizon_ms``): without it the cap sent is the core's (the VTBI), and a resume would
have to count all of it as possibly delivered. Each renewal is a new pump leg (STP ... RUN).
With ``--library FILE [--key K]`` the program goes through a ``LibraryGate``: a corrupt,
unsigned (with a key), bad-signature or stale library, or a drug it does not hold, keeps the
pump stopped (the program never reaches the core), prints the gate's alarm, logs it, exits 1.

Rules
1. pyserial is imported inside the handler (the ``hardware`` extra).
2. Whatever happens - end, Ctrl-C, an exception - ``shell.shutdown()`` runs: the pump is left
   stopped and, if that could not be confirmed, with its own stop armed (NE-1000 safe mode,
   Harvard leg target), so it stops by itself.
3. Bad arguments and bad program files exit 2 naming the field; a run that ends in an alarm,
   FAILSAFE or FAILED, or a program the library gate refuses, exits 1.
4. The log is closed whatever happens; a log write failure warns and the run goes on, a snapshot
   that cannot be written stops flow (REQ-LOG-004).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from controller.cli import command
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


def interruptible() -> None:
    """Ctrl-C and SIGTERM end the loop through the ``finally`` blocks that stop the pump, even when
    this process inherited an ignored SIGINT (a background job, a CI runner, a service manager)."""
    import signal

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--driver", default="ne1000", help="the pump family: ne1000 (default) or harvard")
    p.add_argument("--port", required=True, help="serial port of the pump, e.g. /dev/ttyUSB0 or a pty")
    p.add_argument("--program", type=Path, help="TOML file: the fields of a program event (required unless --resume)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--period-ms", type=int, default=100, help="control period, 10-1000 ms (default 100)")
    p.add_argument("--address", type=int, default=0, help="pump network address (default 0)")
    p.add_argument("--diameter", default="26.59", help="syringe inside diameter in mm (default 26.59)")
    p.add_argument("--safe-timeout", type=int, default=None,
                   help="ne1000: pump-side watchdog in s (SAF n, default 2); 0 = basic mode, no pump-side watchdog")
    p.add_argument("--leg-s", type=float, default=None,
                   help="harvard: no run carries more than this many seconds of flow (default 2), so the pump "
                        "stands within it if this process dies; 0 = only the core's cap")
    p.add_argument("--baud", type=int, default=None, help="baud rate (default 19200 ne1000, 115200 harvard)")
    p.add_argument("--print-every", type=float, default=1.0, help="seconds between status lines (default 1)")
    p.add_argument("--confirm-soft-limits", action="store_true",
                   help="confirm the drug library's soft-limit overrides (printed); without it such a program "
                        "is refused")
    p.add_argument("--log", metavar="DB", type=Path,
                   help="record every core step and every recovery snapshot in this event log (SQLite)")
    p.add_argument("--horizon-s", type=float, default=None,
                   help="cap the volume sent to the pump at this many seconds of flow ahead, renewed every half of "
                        "it, so after a crash a resume counts at most that much as possibly delivered (default 30 "
                        "with --log; 0: the core's cap, so a resume counts everything up to it)")
    p.add_argument("--resume", action="store_true",
                   help="with --log: restore the log's newest snapshot instead of booting fresh (after a crash or "
                        "power loss); the pump comes back PAUSED with the power_loss alarm, never running")
    p.add_argument("--confirm-resume", action="store_true",
                   help="with --resume: the clinician has checked the infusion; acknowledge the power-loss alarm "
                        "and resume delivery (without it the restored pump is left stopped)")
    p.add_argument("--library", metavar="FILE", type=Path,
                   help="drug library file (sealed or signed); the program must name a drug from it")
    p.add_argument("--key", metavar="K", help="with --library: the key file its signature must verify with "
                   "(required unless --allow-unsigned-library)")
    p.add_argument("--allow-unsigned-library", action="store_true",
                   help="development only: accept a sealed library no key verifies (logged, shown on the display)")


def load_request(path: Path) -> dict[str, object]:
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError("--program", str(path), "a readable TOML file", str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError("--program", str(path), "valid TOML", str(exc)) from None
    program = data.get("program", data)
    if not isinstance(program, dict):
        raise ConfigurationError("program", program, "a table of program fields")
    return program


def _check_options(args: argparse.Namespace) -> None:
    if args.program is None and not args.resume:
        raise ConfigurationError("--program", None, "a program file (required unless --resume)")
    if args.resume and args.log is None:
        raise ConfigurationError("--resume", True, "only with --log DB, the log to resume from")
    if args.resume and (args.program is not None or args.library is not None):
        raise ConfigurationError("--resume", True, "without --program and --library",
                                 "the restored program goes on; to start another one, run without --resume")
    if args.confirm_resume and not args.resume:
        raise ConfigurationError("--confirm-resume", True, "only with --resume")
    if args.key is not None and args.library is None:
        raise ConfigurationError("--key", args.key, "only with --library FILE")
    if args.allow_unsigned_library and args.library is None:
        raise ConfigurationError("--allow-unsigned-library", True, "only with --library FILE")
    if args.horizon_s is not None and args.horizon_s != 0 and not 4 * args.period_ms <= args.horizon_s * 1000 <= 3.6e6:
        raise ConfigurationError("--horizon-s", args.horizon_s,
                                 f"0 (none) or {4 * args.period_ms / 1000:g} to 3600 s (at least four control periods)")


@command("run", "run the controller on a real (or emulated) serial pump: NE-1000 or Harvard Pump 11 Elite"
         )(_run_args)
def _run(args: argparse.Namespace) -> int:
    interruptible()
    from controller.drivers.registry import FAMILIES
    from controller.library.keys import load_key

    family = FAMILIES.get(args.driver)
    if family is None:
        raise ConfigurationError("--driver", args.driver, ", ".join(FAMILIES))
    if not 10 <= args.period_ms <= 1_000:
        raise ConfigurationError("--period-ms", args.period_ms, "10 to 1000")
    if args.duration is not None and not args.duration > 0:
        raise ConfigurationError("--duration", args.duration, "more than 0 s")
    _check_options(args)
    config = _config(family, args)
    request = load_request(args.program) if args.program is not None else None
    if not family.silence_ms(config):
        print("warning: no pump-side stop on host silence: if this process dies the pump runs on to its volume "
              "target", file=sys.stderr)
    horizon_s = args.horizon_s if args.horizon_s is not None else (DEFAULT_HORIZON_S if args.log else 0)
    opts = RunOptions(args.period_ms, args.duration, args.print_every, args.confirm_soft_limits, args.log,
                      args.resume, args.confirm_resume, args.library,
                      load_key(args.key) if args.key is not None else None,
                      round(horizon_s * 1000) if horizon_s else None, args.allow_unsigned_library)
    return run_loop(family, config, request, opts)


def _config(family: Family, args: argparse.Namespace) -> HardwareConfig:
    """The family's config; the pump must hear a command well within its own host-silence stop
    (three control periods for an NE-1000's SAF, eight for a Harvard leg, renewed at 3/4)."""
    ne1000 = family.name == "ne1000"
    mine, given, other = ("--safe-timeout", args.safe_timeout, args.leg_s)
    if not ne1000:
        mine, given, other = "--leg-s", args.leg_s, args.safe_timeout
    if other is not None:
        raise ConfigurationError("--leg-s" if ne1000 else "--safe-timeout", other, f"not with --driver {family.name}")
    silence_ms = 2_000 if given is None else round(given * 1_000)
    least_ms = (3 if ne1000 else 8) * args.period_ms
    if 0 < silence_ms < least_ms or (ne1000 and silence_ms % 1_000):
        raise ConfigurationError(mine, given, f"0 or at least {least_ms / 1000:g} s ({3 if ne1000 else 8} control "
                                 f"periods){', whole seconds' if ne1000 else ''}")
    options: dict[str, object] = {"address": args.address, "diameter_mm": args.diameter,
                                  family.silence_option: silence_ms // 1_000 if ne1000 else silence_ms}
    if args.baud is not None:
        options["baudrate"] = args.baud
    return family.configure(args.port, **options)


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
        return 2
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
    from controller.core import alarms as A
    from controller.core.events import ev

    v = shell.ctl.vars
    active = [A.IDS[i] for i, on in enumerate(v.alarm.active) if on]
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
