"""The independent red team (tests/redteam.py) at scale: figures, not asserts.

    python benchmarks/bench_redteam.py [--sequences N] [--seed S] [--jobs J] [--events E] [--json OUT]

Runs N random pump lives (seeds S to S+N-1; the test suite uses 0 to 799): several library
entries and concentrations per line, programs in every entry mode, program changes, stops,
clears, new lines, power cycles, boluses, long deliveries near the maximum rate. Each is
checked by the red team's own integrator of the motor commands against every library bound,
every soft confirmation and every window start. Prints the sequences, events, delivering
ticks, programs and boluses accepted (with their rates), the dose-window limits reached
(within 90 %) and the violations, and the time taken. Exit status 1 when there is a violation.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.redteam import run_sequence


def _chunk(args: tuple[int, int, int]) -> tuple[Counter[str], list[str]]:
    start, n, events = args
    stats: Counter[str] = Counter()
    violations: list[str] = []
    for seed in range(start, start + n):
        try:
            life = run_sequence(seed, events)
        except Exception as exc:  # reported as a violation, never lost in a worker
            violations.append(f"seed {seed}: the red team itself failed: {type(exc).__name__}: {exc}")
            continue
        stats.update(life.stats)
        stats["sequences"] += 1
        stats["events"] += life.events
        stats["core_steps"] += life.handled
        stats["delivering_lives"] += bool(life.stats["delivering_ticks"])
        stats["lives_with_windows"] += bool(life.stats["window_keys"])
        stats["lives_at_90pct"] += bool(life.stats["window_keys_at_90pct"])
        violations += [f"seed {seed}: {v}" for v in life.violations]
    return stats, violations


def _pct(a: int, b: int) -> str:
    return f"{a:,} of {b:,} ({100 * a / b:.0f} %)" if b else f"{a} of 0"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sequences", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=10_000, help="first seed (the test suite uses 0 to 799)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--events", type=int, default=40, help="actions per life")
    ap.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    a = ap.parse_args()
    size = 50
    work = [(s, min(size, a.seed + a.sequences - s), a.events) for s in range(a.seed, a.seed + a.sequences, size)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(a.jobs) as pool:
        results = list(pool.map(_chunk, work))
    wall = time.perf_counter() - t0
    s: Counter[str] = Counter()
    for r in results:
        s.update(r[0])
    violations = [v for r in results for v in r[1]]
    n = s["sequences"]
    print(f"red team: {n:,} sequences (seeds {a.seed}..{a.seed + n - 1}), {s['events']:,} events "
          f"({s['core_steps']:,} core steps), {s['delivering_ticks']:,} delivering ticks, "
          f"{s['delivering_lives']:,} sequences with delivery; {wall:.1f} s wall on {a.jobs} jobs")
    print(f"  programs accepted: {_pct(s['accepted'], s['programs'])} (refused at the edge {s['refused_at_edge']:,},"
          f" by the core {s['refused_by_core']:,}); basic {s['accepted_basic']:,}; by kind "
          + ", ".join(f"{k} {s['accepted_' + k]:,}" for k in ("continuous", "loading", "intermittent", "ramp", "pca")))
    print(f"  patient boluses accepted: {_pct(s['patient_boluses_accepted'], s['patient_boluses'])}; "
          f"clinician boluses accepted: {_pct(s['clinician_boluses_accepted'], s['clinician_boluses'])}")
    print(f"  dose-window limits (library, care area, clinician) reached within 90 %: "
          f"{_pct(s['window_keys_at_90pct'], s['window_keys'])}; lives with a window: "
          f"{_pct(s['lives_at_90pct'], s['lives_with_windows'])} reached one")
    print(f"  lines: {s['new_lines']:,} new lines, {s['lines_with_several_drugs']:,} lines with several drugs; "
          f"{s['power_cycles']:,} power cycles; {s['soft_to_confirm']:,} programs with soft limits to confirm, "
          f"{s['confirmations_beyond_red_team']:,} confirmations asked beyond the red team's own")
    print(f"  violations: {len(violations):,}")
    for v in violations[:20]:
        print("    " + v[:300])
    if a.json:
        Path(a.json).write_text(json.dumps({"seed": a.seed, "wall_s": round(wall, 1), "figures": dict(s),
                                            "violations": violations}, indent=1) + "\n")
    return 1 if violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
