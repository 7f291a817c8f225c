"""The least the requirement-tagged tests can cost: verify's own pytest run, with every randomized
test cut to a few examples (figures, not asserts).

    python benchmarks/bench_tests_floor.py [--examples 3] [--runs 1]

It runs the command ``pumpctl verify`` starts (``proofs.evidence.activities.tests_command``) with
this file loaded as a pytest plugin, which caps every Hypothesis test (``@given`` and stateful)
at ``--examples`` examples and keeps one chunk of the red team, and with the test suite's own
size knobs at their smallest. What is left is the part of the tests that does not scale with
examples (SIGKILL campaigns, fault campaign, proof-soundness checks, serial conformance over
ptys, SDC and CLI end-to-end runs). At this size some campaign tests stop reaching what they
check for and fail: the run is a floor on cost, not evidence. Nothing here is used by verify.

Used to show why ``pumpctl verify`` cannot run in 180 s on 2 cores while it runs the tests: the
floor's CPU plus verify's own (``bench_verify.py --junit``) is more than 360 CPU-seconds.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CAP_ENV = "PUMPCTL_FLOOR_EXAMPLES"
KNOBS = {  # the suite's own size knobs, at their smallest
    "PUMP_STATEFUL_EXAMPLES": "3", "PUMP_SIM_STATEFUL_EXAMPLES": "3", "PUMP_SIGKILL_RUNS": "4",
    "NE1000_FUZZ_EXAMPLES": "20", "HARVARD_FUZZ_EXAMPLES": "20", "ATHERIS_RUNS": "500",
    "PUMP_FALSE_ALARM_HOURS": "1", "NE1000_STATEFUL_EXAMPLES": "1",
}


# --- the pytest plugin (loaded with -p benchmarks.bench_tests_floor) ---------------------------

def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    if CAP_ENV not in os.environ:
        return
    from hypothesis import settings

    cap = int(os.environ[CAP_ENV])
    keep = []
    for item in items:
        if "test_red_team.py::test_no_library_bound_or_window_is_ever_exceeded[" in item.nodeid \
                and not item.nodeid.endswith("[0]"):
            continue  # one chunk of 40 lives
        cls, obj = getattr(item, "cls", None), getattr(item, "obj", None)
        if isinstance(getattr(cls, "settings", None), settings):  # a stateful machine's TestCase
            cls.settings = settings(cls.settings, max_examples=min(cap, cls.settings.max_examples))
        current = getattr(obj, "_hypothesis_internal_use_settings", None)
        if isinstance(current, settings):  # an @given test: Hypothesis reads this when it runs
            obj._hypothesis_internal_use_settings = settings(current, max_examples=min(cap, current.max_examples))
        keep.append(item)
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


# --- the benchmark ------------------------------------------------------------------------------

def main() -> int:
    from pumpctl.proofs.evidence.activities import ROOT, tests_command

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=3, help="the cap on every Hypothesis test (default 3)")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    print(f"requirement-tagged tests, every randomized test at most {args.examples} examples, {cores} core(s)")
    for i in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
            cmd, env = tests_command(Path(tmp) / "junit.xml")
            cmd[3:3] = ["-p", "benchmarks.bench_tests_floor"]
            env = {**env, **KNOBS, CAP_ENV: str(args.examples), "PYTHONPATH": str(ROOT)}
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
        print(f"run {i}: wall {wall:.1f} s, CPU {cpu:.1f} s (CPU/cores {cpu / cores:.1f} s); pytest: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
