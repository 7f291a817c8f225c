"""``pumpctl campaign``: the randomized fault campaign from the command line.

Theory of operation
-------------------
::

    pumpctl campaign --hours N --seed S [--jobs J] [--scheduler ADDRESS] [--json OUT] [--results OUT.jsonl]
                     [--control-period-ms MS] [--max-tick-ms MS] [--period-by-period] [--check-fraction F]
                     [--log-fraction F] [--min-infusion-h H] [--max-infusion-h H] [--quiet]

runs ``controller.campaign.pool.run_campaign`` on this machine's cores (``--jobs``, default: all)
or on a Dask cluster (``--scheduler``), prints the per-fault-kind table and the claim, and
writes the figures as JSON. Progress (``controller.cli.progress``: simulated minutes done of the
target, infusions, speed, time left) goes to stderr: live on a terminal, otherwise a line every
``--progress-s`` seconds; the files written are listed last.

Rules
1. Exit 0: no invariant broken, no physical-truth violation, no crash, every sampled log
   intact and complete. Exit 1: any of those failed (the report names the infusions, with
   seeds to replay them). Exit 2: a bad argument - the message names the argument and the
   allowed range (argparse for single values, ``ConfigurationError`` for combinations).
2. Nothing heavy is imported until the handler runs; dask only with ``--scheduler``.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from controller.cli.options import output_file
from controller.cli.registry import command

SEED_MAX = 2**63 - 1


def bounded(lo: float, hi: float, integer: bool = False) -> Callable[[str], float]:
    """An argparse type: a number from lo to hi (argparse names the argument on refusal)."""

    def parse(text: str) -> float:
        try:
            value: float = int(text) if integer else float(text)
        except ValueError:
            kind = "a whole number" if integer else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}; allowed: {lo:g} to {hi:g}") from None
        if not math.isfinite(value) or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{text} is out of range; allowed: {lo:g} to {hi:g}")
        return value

    return parse


def _campaign_args(p: argparse.ArgumentParser) -> None:
    from controller.campaign.pool import HOURS_RANGE

    p.add_argument("--hours", type=bounded(*HOURS_RANGE), required=True,
                   help="simulated hours to reach (time actually simulated, summed over infusions)")
    p.add_argument("--seed", type=bounded(0, SEED_MAX, integer=True), default=0, help="campaign seed")
    p.add_argument("--jobs", type=bounded(1, 1024, integer=True), default=None,
                   help="worker processes on this machine (default: every available core)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on a dask.distributed cluster (tcp://host:port)")
    p.add_argument("--json", metavar="OUT", help="write the figures as JSON (- for stdout)")
    p.add_argument("--results", metavar="OUT.jsonl", help="also write every infusion's result, one JSON per line")
    p.add_argument("--control-period-ms", type=bounded(100, 2000, integer=True), default=100,
                   help="simulated control period (default 100, the pump's: see the report's settings)")
    p.add_argument("--max-tick-ms", type=bounded(100, 10_000, integer=True), default=None,
                   help="pump limit max_tick_ms, at least the control period (default: the pump's, 1000, or the "
                        "control period if longer)")
    p.add_argument("--period-by-period", action="store_true",
                   help="step the core every control period (default: skip quiet periods in blocks, same results)")
    p.add_argument("--check-fraction", type=bounded(0.0, 1.0), default=0.02,
                   help="share of infusions whose every step is checked (all others: every non-quiet step)")
    p.add_argument("--log-fraction", type=bounded(0.0, 1.0), default=0.05,
                   help="share of infusions written to an event log and verified")
    p.add_argument("--min-infusion-h", type=bounded(0.01, 24.0), default=0.25, help="shortest infusion (hours)")
    p.add_argument("--max-infusion-h", type=bounded(0.01, 24.0), default=12.0, help="longest infusion (hours)")
    p.add_argument("--progress-s", type=bounded(0.0, 3600.0), default=30.0,
                   help="seconds between progress lines on stderr when it is not a terminal (0: no progress)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the claim and the totals")


def _tree() -> dict[str, object] | None:
    """The source tree the campaign ran (git HEAD and whether files were modified), if known."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return None
    return {"head": head, "modified_files": sorted(x[3:] for x in dirty if x.strip())}


def _workers(scheduler: str | None, jobs: int) -> str:
    return f"on {scheduler}" if scheduler else "in this process" if jobs == 1 else f"{jobs} worker processes"


@command("campaign", "fault campaign: randomized simulated infusions with injected faults, in parallel")(
    _campaign_args)
def _campaign(args: argparse.Namespace) -> int:
    from controller.campaign.plan import Settings
    from controller.campaign.pool import default_jobs, run_campaign
    from controller.campaign.report import summary, table, to_json
    from controller.cli.progress import Progress

    settings = Settings(control_period_ms=int(args.control_period_ms),
                        max_tick_ms=None if args.max_tick_ms is None else int(args.max_tick_ms),
                        skip=not args.period_by_period,
                        min_hours=args.min_infusion_h, max_hours=args.max_infusion_h,
                        check_fraction=args.check_fraction, log_fraction=args.log_fraction)
    jobs = int(args.jobs) if args.jobs is not None else None
    tree = _tree()
    json_path, results_path = output_file("--json", args.json), output_file("--results", args.results)
    target_min = max(1, round(args.hours * 60))
    task = "campaign, simulated minutes"
    with Progress(every_s=args.progress_s, show=args.progress_s > 0) as progress:
        progress.step(task, 0, target_min,
                      f"{args.hours:g} simulated h, {_workers(args.scheduler, jobs or default_jobs())}")

        def each(done: int, sim_ms: int, wall: float) -> None:
            h = sim_ms / 3_600_000
            progress.step(task, max(1, min(target_min, sim_ms // 60_000)), target_min,
                          f"{done} infusions, {h * 3600 / max(wall, 1e-9):.0f}x")

        c = run_campaign(args.hours, int(args.seed), settings, jobs=jobs, scheduler=args.scheduler, progress=each)
        progress.stop()
        r = {**c.run, "tree": tree}
        if not args.quiet:
            print(table(c.report))
            print()
        print(summary(c.report))
        print(f"run: {r['executor']}, wall {r['wall_s']:.1f} s, {r['simulated_h_computed']:.1f} simulated h computed "
              f"({r['infusions_computed']} infusions, {r['infusions_discarded']} past the target discarded), "
              f"speed {r['speed_x']}x ({r['speed_per_worker_x']}x per worker)")
        if args.json:
            data = to_json(c.report)
            data["run"] = r
            text = json.dumps(data, indent=1, allow_nan=False)
            if json_path is None:
                print(text)
            else:
                json_path.write_text(text + "\n", encoding="utf-8")
                progress.wrote(json_path)
        if results_path is not None:
            with open(results_path, "w", encoding="utf-8") as fh:
                for res in c.results:
                    fh.write(json.dumps(asdict(res), allow_nan=False) + "\n")
            progress.wrote(results_path)
    return 0 if c.report.totals.ok else 1
