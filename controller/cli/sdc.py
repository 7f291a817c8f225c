"""``pumpctl sdc serve | probe | certs``: the pump as an IEEE 11073 SDC provider, a consumer, a test PKI.

Theory of operation
-------------------
``serve`` boots a ``Session`` (the simulated pump, or with ``--serial PORT`` a serial pump of
the family ``--driver`` names in the drivers registry, ``ne1000`` by default or ``harvard``,
configured as ``pumpctl run`` configures it: ``controller.sdc.pumps``) that
steps the shell every ``--period-ms`` on the wall clock, and a ``PumpProvider`` on
``--address`` (127.0.0.1 by default) with mutual TLS; it prints the provider's URL on the
first line of stdout and serves until Ctrl-C, SIGTERM or ``--duration``. There is no
multicast discovery unless ``--discovery IFACE`` names an interface (then the provider binds
to that interface's address and announces itself there only). ``probe URL`` connects as a
consumer, prints the state, metrics and present alarms, and disconnects. ``certs DIR``
writes a throwaway PKI and role map for trying it out (``controller.sdc.tls.make_pki``).

Rules
1. sdc11073 is imported inside the handlers (the ``sdc`` extra); without it the command says
   which extra to install, in one line.
2. ``serve`` needs ``--log``: every remote call is written to the hash-chained log.
3. Whatever happens, the session stops the pump and closes the log (``Session.stop``).
4. A pump that is not served exits 1 before the provider starts: a serial pump that does not
   answer at open, or a pump whose self-test failed (the core latched FAILED; the log has it).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from controller.cli.registry import command
from controller.errors import ConfigurationError


def _need_extra() -> None:
    if importlib.util.find_spec("sdc11073") is None:
        raise ConfigurationError("sdc11073", None, "installed: pip install 'pumpctl[sdc]'")


def _tls_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cert", type=Path, required=True, help="this participant's certificate (PEM)")
    p.add_argument("--key", type=Path, required=True, help="its private key (PEM)")
    p.add_argument("--ca", type=Path, required=True, help="the CA every peer certificate must chain to (PEM)")


def _args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="sdc_command", required=True, metavar="SUBCOMMAND")
    s = sub.add_parser("serve", help="run the pump as an SDC provider (mutual TLS, 127.0.0.1 by default)")
    _tls_args(s)
    s.add_argument("--roles", type=Path, required=True, help="TOML map of client certificates to roles")
    s.add_argument("--log", type=Path, required=True, help="hash-chained event log (SQLite): every remote call")
    s.add_argument("--address", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=0, help="TCP port (default: any free port, printed)")
    s.add_argument("--discovery", metavar="IFACE",
                   help="announce the provider by WS-Discovery (multicast) on this interface only; off by default")
    s.add_argument("--program", type=Path, help="TOML file: a program request loaded at boot (not started)")
    s.add_argument("--library", type=Path, help="drug library file: every program goes through it")
    s.add_argument("--library-key", help="with --library: the key file its signature must verify with")
    s.add_argument("--period-ms", type=int, default=100, help="control period, 10-1000 ms (default 100)")
    s.add_argument("--duration", type=float, help="stop after this many seconds")
    s.add_argument("--serial", metavar="PORT",
                   help="drive a serial pump on this port (e.g. /dev/ttyUSB0 or a pty) instead of the simulated pump")
    s.add_argument("--driver", help="with --serial: the pump family, ne1000 (default) or harvard, as for pumpctl run")
    s.add_argument("--diameter", help="with --serial: syringe inside diameter in mm (default 26.59)")
    s.add_argument("--pump-address", type=int, help="with --serial: the pump's network address (default 0)")
    s.add_argument("--baud", type=int, help="with --serial: baud rate (default 19200 ne1000, 115200 harvard)")
    s.add_argument("--safe-timeout", type=int, help="with --serial, ne1000: pump-side watchdog in s (default 2)")
    s.add_argument("--leg-s", type=float, help="with --serial, harvard: seconds of flow per run (default 2)")
    s.add_argument("--epr", help="endpoint reference UUID (default: a new one)")
    q = sub.add_parser("probe", help="connect to a provider by URL and print its state and alarms")
    q.add_argument("url", help="the provider's URL, as printed by pumpctl sdc serve")
    _tls_args(q)
    c = sub.add_parser("certs", help="write a throwaway CA, pump and client certificates and a role map")
    c.add_argument("folder", type=Path)


@command("sdc", "IEEE 11073 SDC: serve the pump on the network, probe a provider, make test certificates")(_args)
def _sdc(args: argparse.Namespace) -> int:
    if args.sdc_command == "certs":
        return _certs(args.folder)
    _need_extra()
    if args.sdc_command == "probe":
        return _probe(args)
    return _serve(args)


def _certs(folder: Path) -> int:
    from controller.sdc.tls import make_pki

    pki = make_pki(folder)
    print(f"CA {pki.ca}\npump {pki.pump[0]} {pki.pump[1]}\nclinician {pki.clinician[0]} {pki.clinician[1]}\n"
          f"monitor {pki.monitor[0]} {pki.monitor[1]}\nroles {pki.roles}\n"
          "throwaway test files with unencrypted keys: never use them in a hospital")
    return 0


def _probe(args: argparse.Namespace) -> int:
    from controller.sdc.consumer import PumpConsumer
    from controller.sdc.tls import contexts

    tls = contexts(args.cert, args.key, args.ca)
    try:
        consumer = PumpConsumer(args.url, tls)
    except Exception as exc:
        print(f"pumpctl sdc probe: cannot connect to {args.url}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    with consumer:
        print(consumer.summary())
    return 0


def _check(args: argparse.Namespace) -> None:
    if not 10 <= args.period_ms <= 1000:
        raise ConfigurationError("--period-ms", args.period_ms, "10 to 1000")
    if not 0 <= args.port <= 65535:
        raise ConfigurationError("--port", args.port, "0 (any free port) to 65535")
    if args.duration is not None and not args.duration > 0:
        raise ConfigurationError("--duration", args.duration, "more than 0 s")
    if args.discovery is not None and args.address != "127.0.0.1":
        raise ConfigurationError("--address", args.address, "left out with --discovery",
                                 "the provider serves on the discovery interface's address")
    if args.library_key is not None and args.library is None:
        raise ConfigurationError("--library-key", args.library_key, "only with --library FILE")
    if args.epr is not None:
        try:
            uuid.UUID(args.epr)
        except ValueError:
            raise ConfigurationError("--epr", args.epr, "a UUID") from None
    if args.serial is None:
        for option in SERIAL_OPTIONS:
            value = getattr(args, option.lstrip("-").replace("-", "_"))
            if value is not None:
                raise ConfigurationError(option, value, "only with --serial PORT")


SERIAL_OPTIONS = ("--driver", "--diameter", "--pump-address", "--baud", "--safe-timeout", "--leg-s")


def _setup(args: argparse.Namespace) -> Any:
    """The session's pump: simulated, or the ``--driver`` family from the registry on ``--serial``."""
    from controller.sdc.pumps import serial_pump, simulated

    if args.serial is None:
        return simulated
    from controller.cli.hardware import _config
    from controller.drivers.registry import FAMILIES

    name = args.driver or "ne1000"
    family = FAMILIES.get(name)
    if family is None:
        raise ConfigurationError("--driver", name, ", ".join(FAMILIES))
    # the options of pumpctl run, under the names serve gives them (--address is the provider's here)
    config = _config(family, argparse.Namespace(
        address=args.pump_address or 0, diameter=args.diameter or "26.59", baud=args.baud,
        safe_timeout=args.safe_timeout, leg_s=args.leg_s, period_ms=args.period_ms, port=args.serial))
    if not family.silence_ms(config):
        print("warning: no pump-side stop on host silence: if this process dies the pump runs on to its volume "
              "target", file=sys.stderr)
    return serial_pump(family, config)


def _serve(args: argparse.Namespace) -> int:
    from controller.cli.hardware import interruptible, load_request
    from controller.drivers.clocks import WallClock
    from controller.library.keys import load_key
    from controller.sdc.provider import PumpProvider
    from controller.sdc.pumps import PumpUnavailable
    from controller.sdc.roles import RoleMap
    from controller.sdc.session import Session
    from controller.sdc.tls import contexts

    _check(args)
    interruptible()
    setup = _setup(args)
    tls = contexts(args.cert, args.key, args.ca)
    roles = RoleMap.load(args.roles)
    request = load_request(args.program) if args.program is not None else None
    key = load_key(args.library_key) if args.library_key is not None else None
    session = Session(setup, WallClock(), args.log, roles, period_ms=args.period_ms, request=request,
                      library=args.library, key=key)
    try:
        session.start()
    except PumpUnavailable as exc:  # rule 4
        print(f"pumpctl sdc serve: cannot open the pump: {exc}; not served", file=sys.stderr)
        return 1
    provider = None
    try:
        if not session.self_test:  # rule 4: the core latched FAILED with its alarm, and the log has it
            state = session.call(lambda: session.shell.ctl.state)
            print(f"pumpctl sdc serve: the pump failed its self-test (state {state}, alarm self_test_failed); "
                  f"not served; see the log {args.log}", file=sys.stderr)
            return 1
        provider = PumpProvider(session, tls, args.address, args.port, args.discovery,
                                uuid.UUID(args.epr) if args.epr else None)
        provider.start()
        print(provider.url, flush=True)
        for line in session.boot_messages:
            print(line, file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            while args.duration is None or time.monotonic() - t0 < args.duration:
                time.sleep(0.2)
        except KeyboardInterrupt:
            print("pumpctl sdc serve: stopping", file=sys.stderr)
    finally:
        if provider is not None:
            provider.stop()
        session.stop()
    return 0
