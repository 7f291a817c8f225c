"""Simulated time over wall time: a 24-hour infusion at a 100 ms control period, in both modes.

    python benchmarks/bench_sim.py [--hours 24] [--period-ms 100] [--mechanism cassette] [--json OUT]
                                   [--skip-only]

Runs the whole stack - ``Controller`` (core), ``Shell`` (watchdog, poll, ticks, commands,
cross-check), ``SimPump`` (mechanism, line, sensors, sensing) - through ``scenario.run.Runner``
exactly as ``pumpctl simulate`` does, in both of its modes:

- *skipping* (the default): quiet control periods are advanced in blocks (``Shell.skip``,
  ``SimPump.poll_block``), the core gets one tick per block (target >= 10,000x real
  time, 24 h in <= 8.6 s);
- *period by period* (``--period-by-period``): every control period through the core.

For each mode it reports the simulated / wall time ratio (and CPU time: the machine is shared)
for 1 h and ``--hours``, the core steps and blocks, and memory: the peak RSS of a fresh process
per run and the samples kept (one per minute), to show that memory does not grow with the
simulated time. Then, on a 1 h run, where the time goes (``Controller.handle``, the plant's
``poll``/``poll_block`` and the rest, timed by wrapping them: ~0.2 us each) and the cost of the
invariant check after every core step (extrapolated to ``--hours``). Each run is a child process
(``--child``), so each peak RSS is its own.

Figures, never asserts.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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


def timed_run(hours: float, period_ms: int, mechanism: str, check: bool, profile: bool, skip: bool) -> dict[str, Any]:
    acc = {"handle": 0.0, "poll": 0.0}
    real = Controller.handle, SimPump.poll, SimPump.poll_block
    if profile:
        def timer(fn: Any, key: str) -> Any:
            def wrapped(*a: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return fn(*a)
                finally:
                    acc[key] += time.perf_counter() - t0
            return wrapped

        Controller.handle = timer(real[0], "handle")  # type: ignore[method-assign]
        SimPump.poll = timer(real[1], "poll")  # type: ignore[method-assign]
        SimPump.poll_block = timer(real[2], "poll")  # type: ignore[method-assign]
    try:
        runner = Runner(parse(scenario(hours, period_ms, mechanism, check), "<bench_sim>"), skip=skip)
        t0, c0 = time.perf_counter(), time.process_time()
        res = runner.run()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        Controller.handle, SimPump.poll, SimPump.poll_block = real  # type: ignore[method-assign]
    return {"mode": "skipping" if skip else "period_by_period", "hours": hours, "wall_s": wall, "cpu_s": cpu,
            "ratio": hours * 3600 / wall, "ratio_cpu": hours * 3600 / cpu, "steps": res.steps,
            "periods": res.periods, "blocks": res.blocks, "samples": len(res.samples),
            "final_state": res.final_state, "delivered_ml": res.plant.delivered_ul / 1000 if res.plant else None,
            "handle_s": acc["handle"], "plant_s": acc["poll"], "violations": res.n_invariant_violations,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child(args: argparse.Namespace, hours: float, check: bool, profile: bool, skip: bool) -> dict[str, Any]:
    """One run in a fresh process (its own peak RSS)."""
    cmd = [sys.executable, __file__, "--child", f"{hours},{int(check)},{int(profile)},{int(skip)}",
           "--period-ms", str(args.period_ms), "--mechanism", args.mechanism]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def show(r: dict[str, Any]) -> str:
    return (f"{r['hours']:5g} h {r['mode']:17s} {r['wall_s']:7.2f} s wall {r['ratio']:9,.0f}x  "
            f"(CPU {r['cpu_s']:6.2f} s, {r['ratio_cpu']:9,.0f}x)  {r['steps']:7d} core steps, {r['blocks']:5d} blocks, "
            f"{r['samples']:4d} samples, peak RSS {r['maxrss_mb']:.0f} MB, final {r['final_state']}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--period-ms", type=int, default=100)
    ap.add_argument("--mechanism", choices=("syringe", "cassette"), default="cassette")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--skip-only", action="store_true", help="the skipping mode only (a quick look)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        hours, check, profile, skip = args.child.split(",")
        print(json.dumps(timed_run(float(hours), args.period_ms, args.mechanism, check == "1", profile == "1",
                                   skip == "1")))
        return 0
    print(f"python {platform.python_version()} on {platform.machine()}, period {args.period_ms} ms, "
          f"{args.mechanism}, 100 mL/h, no invariant check unless said")
    figures: dict[str, Any] = {}
    for skip in (True, False) if not args.skip_only else (True,):
        mode = "skipping" if skip else "period_by_period"
        runs = [child(args, 1.0, False, False, skip), child(args, args.hours, False, False, skip)]
        for r in runs:
            print("  " + show(r))
        prof = child(args, 1.0, False, True, skip)
        rest = prof["wall_s"] - prof["handle_s"] - prof["plant_s"]
        per = 1e6 / (prof["hours"] * 3_600_000 / args.period_ms)  # us per simulated control period
        print(f"  {mode}, where the time goes (1 h, timed): core handle {prof['handle_s'] * per:6.2f} us, plant "
              f"{prof['plant_s'] * per:6.2f} us, shell + runner {rest * per:6.2f} us per simulated control period "
              f"(core {100 * prof['handle_s'] / prof['wall_s']:.0f} % of the time)")
        checked = child(args, 1.0, True, False, skip)
        print(f"  {mode}, 1 h with the invariant check after every core step: {checked['wall_s']:.2f} s wall "
              f"({checked['ratio']:,.0f}x; {args.hours:g} h extrapolated {checked['wall_s'] * args.hours:.1f} s), "
              f"{checked['steps']} steps checked, {checked['violations']} violations")
        figures[mode] = {"short": runs[0], "full": runs[1], "profile": prof, "checked": checked}
    if not args.skip_only:
        s, p = figures["skipping"]["full"], figures["period_by_period"]["full"]
        print(f"  {args.hours:g} h: skipping {p['wall_s'] / s['wall_s']:.0f}x faster than period by period "
              f"(CPU {p['cpu_s'] / s['cpu_s']:.0f}x); delivered {s['delivered_ml']:.6f} mL skipping, "
              f"{p['delivered_ml']:.6f} mL period by period")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
