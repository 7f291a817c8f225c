"""Simulated time over wall time: a 24-hour infusion at a 100 ms control period (issue 4).

    python benchmarks/bench_sim.py [--hours 24] [--period-ms 100] [--mechanism cassette] [--json OUT]

Runs the whole stack - ``Controller`` (core), ``Shell`` (watchdog, poll, ticks, commands,
cross-check), ``SimPump`` (mechanism, line, sensors, sensing) - through ``scenario_run.Runner``
exactly as ``pumpctl simulate`` does, and reports:

- the simulated / wall time ratio (target >= 10,000x: 24 h in <= 8.6 s), without and with the
  invariant check after every step (the check is extrapolated from a 1 h run);
- where the time goes: ``Controller.handle``, ``SimPump.poll`` and the rest (shell, runner),
  measured by wrapping the two calls with a timer (which adds ~0.2 us each);
- memory: peak RSS, and the samples kept (downsampled to one per minute), for 1 h and 24 h,
  to show that memory does not grow with the simulated time.

Figures, never asserts.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controller.core.machine import Controller
from controller.drivers.sim import SimPump
from controller.scenario.model import parse
from controller.scenario.run import Runner


def scenario(hours: float, period_ms: int, mechanism: str, check: bool) -> dict[str, object]:
    rate = 100.0
    return {
        "name": f"{hours:g} h at {rate:g} mL/h", "duration_s": hours * 3600, "control_period_ms": period_ms,
        "seed": 1, "sample_interval_s": 60, "check_invariants": check, "plant": {"mechanism": mechanism},
        "event": [{"at_s": 0, "type": "program", "rate_ml_h": rate, "vtbi_ml": rate * hours + 10,
                   "reservoir_ml": rate * hours + 50}, {"at_s": 0, "type": "start"}],
    }


def timed_run(hours: float, period_ms: int, mechanism: str, check: bool, profile: bool) -> dict[str, float]:
    acc = {"handle": 0.0, "poll": 0.0}
    real_handle, real_poll = Controller.handle, SimPump.poll
    if profile:
        def handle(self: Controller, e):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                return real_handle(self, e)
            finally:
                acc["handle"] += time.perf_counter() - t0

        def poll(self: SimPump, now_ms: int):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                return real_poll(self, now_ms)
            finally:
                acc["poll"] += time.perf_counter() - t0

        Controller.handle, SimPump.poll = handle, poll  # type: ignore[method-assign]
    try:
        runner = Runner(parse(scenario(hours, period_ms, mechanism, check), "<bench_sim>"))
        t0 = time.perf_counter()
        res = runner.run()
        wall = time.perf_counter() - t0
    finally:
        Controller.handle, SimPump.poll = real_handle, real_poll  # type: ignore[method-assign]
    return {"hours": hours, "wall_s": wall, "ratio": hours * 3600 / wall, "steps": res.steps,
            "samples": len(res.samples), "final_state": res.final_state,  # type: ignore[dict-item]
            "handle_s": acc["handle"], "poll_s": acc["poll"], "violations": res.n_invariant_violations,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--period-ms", type=int, default=100)
    ap.add_argument("--mechanism", choices=("syringe", "cassette"), default="cassette")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, period {args.period_ms} ms, "
          f"{args.mechanism}, 100 mL/h")
    short = timed_run(1.0, args.period_ms, args.mechanism, False, False)
    print(f"  1 h, no invariant check:   {short['wall_s']:7.2f} s wall  {short['ratio']:8,.0f}x  "
          f"peak RSS {short['maxrss_mb']:.0f} MB, {short['samples']} samples")
    full = timed_run(args.hours, args.period_ms, args.mechanism, False, False)
    print(f"  {args.hours:g} h, no invariant check: {full['wall_s']:7.2f} s wall  {full['ratio']:8,.0f}x  "
          f"peak RSS {full['maxrss_mb']:.0f} MB, {full['samples']} samples, {full['steps']} core steps, "
          f"final {full['final_state']}")
    prof = timed_run(1.0, args.period_ms, args.mechanism, False, True)
    per = 1e6 / prof["steps"]
    rest = prof["wall_s"] - prof["handle_s"] - prof["poll_s"]
    print(f"  per control period (1 h, timed): core handle {prof['handle_s'] * per:5.1f} us, plant poll "
          f"{prof['poll_s'] * per:5.1f} us, shell + runner {rest * per:5.1f} us "
          f"(core {100 * prof['handle_s'] / prof['wall_s']:.0f} % of the time)")
    without_core = args.hours * 3600 / (full["wall_s"] * (1 - prof["handle_s"] / prof["wall_s"]))
    print(f"  with a free core the same run would be about {without_core:,.0f}x")
    checked = timed_run(1.0, args.period_ms, args.mechanism, True, False)
    print(f"  1 h with the invariant check after every step: {checked['wall_s']:.2f} s wall "
          f"({checked['ratio']:,.0f}x; {args.hours:g} h extrapolated {checked['wall_s'] * args.hours:.0f} s), "
          f"{checked['violations']} violations")
    if args.json:
        Path(args.json).write_text(json.dumps({"short": short, "full": full, "profile": prof, "checked": checked},
                                              indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
