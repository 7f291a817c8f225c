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
   FAILSAFE or FAILED, a program the library gate refuses, or one outside the library's soft
   limits without ``--confirm-soft-limits``, exits 1 (the convention: the README's exit codes).
4. The log is closed whatever happens; a log write failure warns and the run goes on, a snapshot
   that cannot be written stops flow (REQ-LOG-004).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from controller.cli.registry import command
from controller.errors import ConfigurationError

if TYPE_CHECKING:
    from controller.drivers.registry import Family, HardwareConfig



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
    from controller.runtime.hardware import DEFAULT_HORIZON_S, RunOptions, run_loop

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
