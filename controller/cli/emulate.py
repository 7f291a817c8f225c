"""``pumpctl emulate``: a serial syringe pump's firmware on a pseudo-terminal, with faults on request.

Theory of operation
-------------------
``emulate [--model M]`` starts the emulator of a pump family (``controller.drivers.registry``:
``ne1000``, the default, or ``harvard-elite``) on a fresh pseudo-terminal, prints its path on the
first line of stdout and serves until Ctrl-C. ``--fault`` schedules the faults every emulated
pump knows (``controller.drivers.pty_emulator``).

Rules
1. The emulator is imported inside the handler (the ``hardware`` extra's part of the CLI).
2. A bad model, address, diameter or fault exits 2 naming the option.
"""

from __future__ import annotations

import argparse
import sys
import time

from controller.cli.hardware import interruptible
from controller.cli.registry import command
from controller.errors import ConfigurationError


def _emulate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="ne1000", help="the pump to emulate: ne1000 (default) or harvard-elite")
    p.add_argument("--address", type=int, default=0, help="pump network address, 0-99 (default 0)")
    p.add_argument("--diameter", default="26.59", help="syringe inside diameter in mm (default 26.59)")
    p.add_argument("--fault", action="append", default=[], metavar="KIND[@S][:ARG]",
                   help="inject a fault: stall, reset, slip, runaway, garble, drop, slow, noise, unplug or heal, "
                        "optionally at S seconds, e.g. stall@10, drop@5:3, slow:800 (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of the garble generator")


@command("emulate", "serve an emulated serial syringe pump (NE-1000 or Harvard Pump 11 Elite) on a pseudo-terminal"
         )(_emulate_args)
def _emulate(args: argparse.Namespace) -> int:
    interruptible()
    from fractions import Fraction

    from controller.drivers.errors import ProtocolError
    from controller.drivers.pty_emulator import parse_fault
    from controller.drivers.registry import MODELS

    family = MODELS.get(args.model)
    if family is None:
        raise ConfigurationError("--model", args.model, ", ".join(MODELS))
    faults = tuple(parse_fault(spec) for spec in args.fault)
    try:
        pump = family.firmware(args.address, Fraction(args.diameter))
    except (ProtocolError, ValueError, ZeroDivisionError) as exc:
        raise ConfigurationError("--diameter/--address", (args.diameter, args.address),
                                 "a diameter and an address the pump accepts", str(exc)) from None
    server = family.emulator(pump, seed=args.seed, faults=faults)
    # the whole served span is inside the try: on a starved machine a client can finish its work and
    # send Ctrl-C before this thread reaches the idle loop, and that must still end with status 0
    try:
        with server:
            print(server.port, flush=True)
            print(f"{family.title} emulator: address {args.address}, syringe {args.diameter} mm; Ctrl-C to stop",
                  file=sys.stderr, flush=True)
            while True:
                time.sleep(0.5)
    except KeyboardInterrupt:
        print("emulator stopped", file=sys.stderr)
    return 0
