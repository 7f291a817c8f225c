"""`pumpctl verify` wall time and CPU, measured N times (figures, not asserts).

    python benchmarks/bench_verify.py [--runs 3] [--junit FILE] [--keep DIR]

Each run writes a fresh evidence directory and prints its wall time, the CPU-seconds of verify and
every process it started (the requirement-tagged tests, the mutants, CrossHair), how long each
activity took (evidence.json's ``timings``; they run side by side, so they overlap) and the verdict.
On a machine with ``cores`` cores a run cannot take less than CPU / cores: the last column says how close it came.
``--junit FILE`` measures the form CI runs (the test results of a pytest run of the same commit).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(out: Path, junit: str | None) -> dict[str, object]:
    cmd = [sys.executable, "-m", "controller.cli", "verify", "--out", str(out)]
    if junit:
        cmd += ["--junit", junit]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    evidence = json.loads((out / "evidence.json").read_text()) if (out / "evidence.json").exists() else {}
    verdict = evidence.get("results", {}).get("verdict", {}).get("summary", done.stdout.strip().splitlines()[-1:])
    return {"exit": done.returncode, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "timings": evidence.get("timings", {}), "verdict": verdict}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--junit", help="take the test results from this JUnit XML (the form CI runs)")
    ap.add_argument("--keep", type=Path, help="write the evidence directories here (default: a temporary one)")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-verify-"))
    print(f"pumpctl verify{' --junit ' + args.junit if args.junit else ''}: {args.runs} run(s) on {cores} core(s)")
    print(f"{'run':>3} {'exit':>4} {'wall s':>7} {'CPU s':>7} {'CPU/cores s':>11}  activities took (s, side by side)")
    walls = []
    for i in range(1, args.runs + 1):
        r = one_run(root / f"run{i}", args.junit)
        walls.append(float(r["wall_s"]))  # type: ignore[arg-type]
        t = r["timings"]
        ends = ", ".join(f"{k} {v:.0f}" for k, v in sorted(t.items(), key=lambda kv: kv[1]) if k != "total")  # type: ignore[union-attr]
        print(f"{i:>3} {r['exit']:>4} {r['wall_s']:>7} {r['cpu_s']:>7} {float(r['cpu_s']) / cores:>11.1f}  {ends}")  # type: ignore[arg-type]
        print(f"    {r['verdict']}")
    print(f"wall: min {min(walls):.1f} s, max {max(walls):.1f} s; evidence in {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
