"""The independent red team (tests/redteam.py) at scale: figures, not asserts.

    python benchmarks/bench_redteam.py [--sequences N] [--seed S] [--jobs J]

Runs N random pump lives (random library entries, programs in every entry mode, program
changes, stops, clears, power cycles, boluses), each checked by the red team's own integrator
of the motor commands against every library bound and every window start, and prints the
number of sequences, events, control ticks, deliveries and violations, and the time taken.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.redteam import run_sequence


def _chunk(args: tuple[int, int]) -> tuple[int, int, int, int, list[str]]:
    start, n = args
    events = ticks = delivering = 0
    violations: list[str] = []
    for seed in range(start, start + n):
        life = run_sequence(seed)
        events += life.events
        ticks += len(life.segments)
        delivering += bool(life.segments)
        violations += [f"seed {seed}: {v}" for v in life.violations]
    return n, events, ticks, delivering, violations


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sequences", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=10_000, help="first seed (the test suite uses 0 to 1999)")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    size = 250
    work = [(s, min(size, a.seed + a.sequences - s)) for s in range(a.seed, a.seed + a.sequences, size)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(a.jobs) as pool:
        results = list(pool.map(_chunk, work))
    wall = time.perf_counter() - t0
    n = sum(r[0] for r in results)
    violations = [v for r in results for v in r[4]]
    print(f"red team: {n} sequences (seeds {a.seed}..{a.seed + n - 1}), {sum(r[1] for r in results)} events, "
          f"{sum(r[2] for r in results)} delivering ticks, {sum(r[3] for r in results)} sequences with delivery, "
          f"{len(violations)} violations, {wall:.1f} s wall on {a.jobs} jobs")
    for v in violations[:20]:
        print("  " + v)
    return 1 if violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
