"""Serial driver timings against the emulators, per pump family (figures, never asserts).

    python benchmarks/bench_drivers.py [--runs 3] [--fast] [--family ne1000|harvard]

For each family (``controller.drivers.registry``), on the wall clock with the real Shell loop
(100 ms period) and the emulator on a pty:

- safe stop after a communication fault (cable pulled, every reply lost): the time from the fault
  to the controller in FAILSAFE and to the plunger standing, against the bounds the config states
  (``stop_bounds``);
- a leg start (``request(SetFlow)``: stop ... run, the longest the plunger stands between legs),
  a control period while running (poll + ticks), and reply parsing per second.

``--fast`` uses the tests' short timeouts (reply 60 ms, comm loss 500 ms, host-silence stop 1 s)
instead of the drivers' defaults (reply 100 ms, comm loss 1 s, host-silence stop 2 s).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controller.clinical.programs import build_program
from controller.core.commands import SetFlow, StopMotor
from controller.core.events import ev
from controller.core.limits import Limits
from controller.core.machine import Controller
from controller.core.units import VU_PER_UL
from controller.drivers.clocks import WallClock
from controller.drivers.harvard import protocol as harvard_protocol
from controller.drivers.ne1000 import protocol as ne1000_protocol
from controller.drivers.pty_emulator import Fault
from controller.drivers.registry import FAMILIES, Family
from controller.runtime.shell import Shell

PERIOD_MS = 100
FAST = {"ne1000": {"reply_timeout_ms": 60, "comm_loss_ms": 500, "safe_timeout_s": 1},
        "harvard": {"reply_timeout_ms": 60, "comm_loss_ms": 500, "leg_ms": 1_000}}
PROGRAM = {"rate_ml_h": 36, "vtbi_ml": 50, "reservoir_ml": 60}


def wait(pred: object, timeout_s: float) -> bool:
    assert callable(pred)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.001)
    return bool(pred())


def safe_stop(family: Family, options: dict[str, int], fault: str) -> tuple[int, int]:
    """(ms to FAILSAFE, ms to a standing plunger) after ``fault`` strikes a running infusion."""
    clock = WallClock()
    with family.emulator() as emu:
        driver = family.driver(family.configure(emu.port, **options)).open(clock.now_ms())
        ctl = Controller()
        shell = Shell(ctl, driver, clock)
        shell.step()
        for e in (ev("self_test", flag=True), ev("program", program=build_program(PROGRAM, Limits()).program),
                  ev("start")):
            shell.submit(e)
        try:
            for _ in range(5):
                t = time.monotonic()
                shell.step()
                time.sleep(max(0.0, PERIOD_MS / 1_000 - (time.monotonic() - t)))
            t_fault = clock.now_ms()
            emu.inject(Fault(fault))
            while ctl.state != "FAILSAFE" and clock.now_ms() - t_fault < 20_000:
                t = time.monotonic()
                shell.step()
                time.sleep(max(0.0, PERIOD_MS / 1_000 - (time.monotonic() - t)))
            t_failsafe = clock.now_ms() - t_fault
            wait(lambda: not emu.truth().moving, 20)
            return t_failsafe, clock.now_ms() - t_fault
        finally:
            shell.shutdown()


def leg_and_period(family: Family, options: dict[str, int], n: int = 20) -> tuple[float, float]:
    """(ms per leg start, ms per control period while running)."""
    clock = WallClock()
    with family.emulator() as emu:
        driver = family.driver(family.configure(emu.port, **options)).open(clock.now_ms())
        legs = []
        for i in range(n):
            t = time.perf_counter()
            assert driver.request(SetFlow(36_000 + i, 10**6 * VU_PER_UL)).accepted
            legs.append(time.perf_counter() - t)
        periods = []
        for _ in range(n):
            t = time.perf_counter()
            driver.poll(clock.now_ms())
            periods.append(time.perf_counter() - t)
        driver.request(StopMotor(0))
        driver.close()
    return 1_000 * statistics.median(legs), 1_000 * statistics.median(periods)


def parse_rate(family: str, n: int = 50_000) -> float:
    if family == "ne1000":
        frames = [b"00SI1.234W0.000ML", b"00I", b"00A?S", b"00S?OOR"]
        parse = ne1000_protocol.parse_reply
    else:
        frames = [b"\n001.234 ml\n00>", b"\n00>", b"\n00*", b"\n00Out of range\n00:"]
        parse = harvard_protocol.parse_reply  # type: ignore[assignment]
    t = time.perf_counter()
    for i in range(n):
        parse(frames[i % len(frames)])
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3, help="safe-stop runs per fault (median and worst printed)")
    ap.add_argument("--fast", action="store_true", help="the tests' short timeouts instead of the defaults")
    ap.add_argument("--family", choices=sorted(FAMILIES), action="append")
    args = ap.parse_args()
    for name in args.family or sorted(FAMILIES):
        family = FAMILIES[name]
        options = FAST[name] if args.fast else {}
        core_ms, motor_ms = family.configure("", **options).stop_bounds(PERIOD_MS)
        print(f"== {family.title} ({'test settings' if args.fast else 'defaults'}{', ' if options else ''}"
              f"{', '.join(f'{k}={v}' for k, v in options.items())}); period {PERIOD_MS} ms")
        print(f"   stated bounds: FAILSAFE <= {core_ms} ms, plunger standing <= {motor_ms} ms")
        for fault in ("unplug", "drop"):
            runs = [safe_stop(family, options, fault) for _ in range(args.runs)]
            fs, st = [r[0] for r in runs], [r[1] for r in runs]
            print(f"   {fault:7s} FAILSAFE after median {statistics.median(fs):5.0f} ms (worst {max(fs):5.0f}), "
                  f"standing after median {statistics.median(st):5.0f} ms (worst {max(st):5.0f}), {args.runs} runs")
        leg_ms, period_ms = leg_and_period(family, options)
        print(f"   leg start (stop ... run) median {leg_ms:.1f} ms; poll while running median {period_ms:.1f} ms")
        print(f"   reply parsing: {parse_rate(name):,.0f} replies/s")


if __name__ == "__main__":
    main()
