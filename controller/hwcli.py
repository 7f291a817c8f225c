"""``pumpctl emulate`` and ``pumpctl run``: an NE-1000 pump on a pty, and the real loop driving one.

Theory of operation
-------------------
``emulate`` starts ``EmulatorServer`` on a fresh pseudo-terminal, prints its path on the first
line of stdout and serves until Ctrl-C. ``run`` is the controller in hardware mode: it opens the
pump with ``NE1000Driver`` (safe mode unless ``--safe-timeout 0``), builds a ``Shell`` with the
wall clock, boots the core (self-test passes when the pump answered), loads the program file
(the fields of a scenario's program event, through ``build_program``), starts, and steps the
shell every ``--period-ms`` until the infusion ends, ``--duration`` runs out, or Ctrl-C. A
downstream-occlusion alarm's ``RelievePressure`` goes to ``driver.relieve`` (through the shell).

Rules
1. pyserial and the emulator are imported inside the handlers (the ``hardware`` extra).
2. Whatever happens - end, Ctrl-C, an exception - ``shell.shutdown()`` runs: the pump is left
   stopped (STP) and, if that could not be confirmed, in safe mode, so its own watchdog stops it.
3. Bad arguments and bad program files exit 2 naming the field; a run that ends in an alarm,
   FAILSAFE or FAILED exits 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from controller.cli import command
from controller.errors import ConfigurationError

if TYPE_CHECKING:
    from controller.drivers.ne1000_config import NE1000Config

DONE_STATES = ("STOPPED", "KVO", "ALARM", "FAILSAFE", "FAILED")
BAD_END = ("ALARM", "FAILSAFE", "FAILED")


def _emulate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", type=int, default=0, help="pump network address, 0-99 (default 0)")
    p.add_argument("--diameter", default="26.59", help="syringe inside diameter in mm (default 26.59)")
    p.add_argument("--fault", action="append", default=[], metavar="KIND[@S][:ARG]",
                   help="inject a fault: stall, reset, slip, garble, drop, slow, noise, unplug or heal, "
                        "optionally at S seconds, e.g. stall@10, drop@5:3, slow:800 (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of the garble generator")


@command("emulate", "serve an emulated New Era NE-1000 syringe pump on a pseudo-terminal")(_emulate_args)
def _emulate(args: argparse.Namespace) -> int:
    from fractions import Fraction

    from controller.drivers.ne1000_emulator import EmulatorServer, parse_fault
    from controller.drivers.ne1000_protocol import ProtocolError
    from controller.drivers.ne1000_pump import SimPump

    faults = tuple(parse_fault(spec) for spec in args.fault)
    try:
        pump = SimPump(args.address, Fraction(args.diameter))
    except (ProtocolError, ValueError, ZeroDivisionError):
        raise ConfigurationError("--diameter/--address", (args.diameter, args.address),
                                 "a diameter of 0.1 to 50 mm and an address of 0 to 99") from None
    server = EmulatorServer(pump, seed=args.seed, faults=faults)
    with server:
        print(server.port, flush=True)
        print(f"NE-1000 emulator: address {args.address}, syringe {args.diameter} mm; Ctrl-C to stop",
              file=sys.stderr, flush=True)
        try:
            while True:
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("emulator stopped", file=sys.stderr)
    return 0


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", required=True, help="serial port of the pump, e.g. /dev/ttyUSB0 or a pty")
    p.add_argument("--program", required=True, type=Path, help="TOML file: the fields of a program event")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--period-ms", type=int, default=100, help="control period, 10-1000 ms (default 100)")
    p.add_argument("--address", type=int, default=0, help="pump network address (default 0)")
    p.add_argument("--diameter", default="26.59", help="syringe inside diameter in mm (default 26.59)")
    p.add_argument("--safe-timeout", type=int, default=2,
                   help="pump-side watchdog in s (SAF n, default 2); 0 = basic mode, no pump-side watchdog")
    p.add_argument("--baud", type=int, default=19_200, help="baud rate (default 19200)")
    p.add_argument("--print-every", type=float, default=1.0, help="seconds between status lines (default 1)")
    p.add_argument("--confirm-soft-limits", action="store_true",
                   help="confirm the drug library's soft-limit overrides (printed); without it such a program "
                        "is refused")


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


@command("run", "run the controller on a real (or emulated) NE-1000 pump over a serial port")(_run_args)
def _run(args: argparse.Namespace) -> int:
    from controller.drivers.ne1000_config import NE1000Config

    if not 10 <= args.period_ms <= 1_000:
        raise ConfigurationError("--period-ms", args.period_ms, "10 to 1000")
    if 0 < args.safe_timeout * 1_000 < 3 * args.period_ms:  # the pump must hear a packet well within SAF
        raise ConfigurationError("--safe-timeout", args.safe_timeout,
                                 f"0 (basic mode) or at least {-(-3 * args.period_ms // 1_000)} s: "
                                 "three control periods")
    if args.duration is not None and not args.duration > 0:
        raise ConfigurationError("--duration", args.duration, "more than 0 s")
    config = NE1000Config(args.port, address=args.address, diameter_mm=args.diameter,
                          safe_timeout_s=args.safe_timeout, baudrate=args.baud)
    request = load_request(args.program)
    if args.safe_timeout == 0:
        print("warning: basic mode: if this process dies the pump runs on to its volume target",
              file=sys.stderr)
    return run_loop(config, request, args.period_ms, args.duration, args.print_every, args.confirm_soft_limits)


def run_loop(config: NE1000Config, request: dict[str, object], period_ms: int, duration_s: float | None,
             print_every_s: float, confirm_soft: bool = False) -> int:
    """Rule 2 lives here: the ``finally`` below."""
    from controller.core import Controller
    from controller.drivers.ne1000 import NE1000Driver
    from controller.events import ev
    from controller.limits import Limits
    from controller.programs import build_program
    from controller.shell import Shell, WallClock
    from controller.units import fmt_ml

    limits = Limits()
    built = build_program(request, limits)
    for soft in built.soft:
        print(f"soft limit: {soft}", file=sys.stderr)
    if built.needs_confirmation and not confirm_soft:
        print("pumpctl run: the program is outside the drug library's soft limits; review them and pass "
              "--confirm-soft-limits to override", file=sys.stderr)
        return 2
    driver = NE1000Driver(config)
    clock = WallClock()
    try:
        driver.open(clock.now_ms())
    except Exception as exc:
        driver.close()
        print(f"pumpctl run: cannot open the pump on {config.port}: {exc}", file=sys.stderr)
        return 1
    ctl = Controller(limits)
    shell = Shell(ctl, driver, clock)

    next_print = 0.0
    try:
        shell.step()  # starts the loop's clock, so the first tick does not count the boot
        shell.submit(ev("self_test", flag=True))
        shell.submit(ev("program", program=built.program))
        if built.needs_confirmation:  # the operator passed --confirm-soft-limits after seeing them
            shell.submit(ev("confirm_soft_limit"))
        start = shell.submit(ev("start"))
        if not start.accepted:
            print(f"pumpctl run: start refused: {start.reason}", file=sys.stderr)
            return 1
        core_ms, motor_ms = config.stop_bounds(period_ms)
        motor = f"{motor_ms} ms" if motor_ms is not None else "at its volume target only (basic mode)"
        print(f"pump {driver.version} on {config.port}: {ctl.state}; after a communication fault: "
              f"FAILSAFE within {core_ms} ms, pump stopped within {motor}", flush=True)
        t0 = time.monotonic()
        while True:
            period_start = time.monotonic()
            shell.step()
            elapsed = period_start - t0
            if elapsed >= next_print:
                measured = driver.measured_vu()
                shown = "-" if measured is None else fmt_ml(measured)
                print(f"t={elapsed:7.1f}s state={ctl.state:9s} delivered={fmt_ml(ctl.vars.flow.delivered)} mL "
                      f"pump={shown} mL", flush=True)
                next_print += print_every_s
            if duration_s is not None and elapsed >= duration_s:
                break
            if duration_s is None and ctl.state in DONE_STATES:
                break
            time.sleep(max(0.0, period_ms / 1_000 - (time.monotonic() - period_start)))
        print(f"end: state={ctl.state} delivered={fmt_ml(ctl.vars.flow.delivered)} mL", flush=True)
        return 1 if ctl.state in BAD_END else 0
    finally:
        shell.shutdown()
