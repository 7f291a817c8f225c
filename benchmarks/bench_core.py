"""Latency of ``Controller.handle`` against a bare ``transitions`` trigger, in the same run.

    python benchmarks/bench_core.py [--batches 30] [--batch 2000]

Reports the median per-call latency over batches (each batch times ``--batch`` calls with
``perf_counter_ns``) for:
  bare-internal   a trivial transitions machine, one internal transition, no callbacks
  bare-change     the same machine, alternating two state-changing transitions
  tick-internal   handle(tick(100)) while RUNNING (no state change; delivery accounting)
  tick-idle       handle(tick(100)) while IDLE
  state-change    handle(pause) / handle(resume) alternating (RUNNING <-> PAUSED)
and the ratio of each to bare-internal. Figures, never asserts: see the README.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from transitions import Machine

from controller.core.events import ev, tick
from controller.core.machine import Controller
from controller.core.program import Program
from controller.core.units import RATE_PER_ML_H, VU_PER_ML


def median_ns(fn: Callable[[], object], batches: int, batch: int) -> float:
    for _ in range(batch):  # warm up
        fn()
    samples = []
    for _ in range(batches):
        t0 = time.perf_counter_ns()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter_ns() - t0) / batch)
    return statistics.median(samples)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    class M:
        pass

    m = M()
    Machine(m, states=["a", "b"], initial="a", auto_transitions=False,
            transitions=[["t", "a", None], ["go", "a", "b"], ["back", "b", "a"]])
    flip = [m.go, m.back]  # type: ignore[attr-defined]
    k = [0]

    def bare_change() -> None:
        flip[k[0] & 1]()
        k[0] += 1

    p = Program(loaded=True, step_rate=(100 * RATE_PER_ML_H, 0, 0, 0), vtbi=9_000 * VU_PER_ML,
                rate_hard_max=999 * RATE_PER_ML_H, reservoir_vol=10_000 * VU_PER_ML)
    run = Controller()
    for e in (ev("self_test", flag=True), ev("program", program=p), ev("start")):
        run.handle(e)
    idle = Controller()
    idle.handle(ev("self_test", flag=True))
    t100 = tick(100)
    sw = Controller()
    for e in (ev("self_test", flag=True), ev("program", program=p), ev("start")):
        sw.handle(e)
    pr = [ev("pause"), ev("resume")]
    j = [0]

    def state_change() -> None:
        s = sw.handle(pr[j[0] & 1])
        j[0] += 1
        assert s.accepted

    figures = {
        "bare-internal": median_ns(m.t, args.batches, args.batch),  # type: ignore[attr-defined]
        "bare-change": median_ns(bare_change, args.batches, args.batch),
        "tick-internal": median_ns(lambda: run.handle(t100), args.batches, args.batch),
        "tick-idle": median_ns(lambda: idle.handle(t100), args.batches, args.batch),
        "state-change": median_ns(state_change, args.batches, args.batch),
    }
    base = figures["bare-internal"]
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{args.batches} batches x {args.batch} calls, median per call")
    for name, ns in figures.items():
        print(f"  {name:14s} {ns / 1000:8.2f} us   {ns / base:5.1f}x bare-internal")
    if args.json:
        Path(args.json).write_text(json.dumps({k: round(v) for k, v in figures.items()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
