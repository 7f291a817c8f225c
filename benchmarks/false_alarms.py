"""The occlusion detectors' false-alarm campaign: >= 1000 simulated hours of normal infusion.

    python benchmarks/false_alarms.py [--hours 1000] [--seed 0] [--workers 2] [--json OUT]

Normal infusion means everything but an occlusion: the patient's venous-pressure wander,
posture steps and motion artifacts, transducer noise, syringe and cassette mechanisms
(the cassette's flow is pulsatile), and a rate profile with stops, restarts, titrations and
boluses around each base rate from 0.1 to 999 mL/h (``controller.bench.detection``). Every
occlusion event is a false alarm. The hours are split evenly over 8 rates x 2 mechanisms and
run on ``--workers`` processes; each share is seeded, so the run is reproducible.

Also measures the other figure of issue 4: time to alarm at 1 mL/h, trend detector vs
static threshold (10 psi, 0.01 mL/kPa). Figures, never asserts.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controller.bench.detection import CAMPAIGN_RATES, Campaign, normal_infusion, time_to_alarm
from controller.sensing.detect import SensingConfig

MECHANISMS = ("syringe", "cassette")


def _share(job: tuple[float, float, str, int]) -> Campaign:
    rate, hours, mech, seed = job
    return normal_infusion(rate, hours, seed, mech)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=1000.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk-hours", type=float, default=12.5, help="hours per job (one pump each)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    cfg = SensingConfig()
    t_static, _ = time_to_alarm(1.0, trend=False)
    t_trend, why = time_to_alarm(1.0, trend=True)
    assert t_static is not None and t_trend is not None
    print(f"time to alarm at 1 mL/h (10 psi, 0.01 mL/kPa): static {t_static:.0f} s, trend {t_trend:.0f} s "
          f"({why}); trend / static = {t_trend / t_static:.3f}")
    per = args.hours / (len(CAMPAIGN_RATES) * len(MECHANISMS))
    n_chunks = max(1, round(per / args.chunk_hours))
    jobs = [(r, per / n_chunks, m, args.seed * 1000 + k) for m in MECHANISMS for r in CAMPAIGN_RATES
            for k in range(n_chunks)]
    t0 = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        parts = pool.map(_share, jobs, chunksize=1)
    wall = time.perf_counter() - t0
    total = Campaign()
    for p in parts:
        total.merge(p)
    print(f"false-alarm campaign: {total.hours:.1f} simulated hours ({total.polls:,} polls at 100 ms) over "
          f"{len(jobs)} pumps, rates {', '.join(f'{r:g}' for r in CAMPAIGN_RATES)} mL/h, {', '.join(MECHANISMS)}; "
          f"{wall:.0f} s wall on {args.workers} workers")
    print(f"  false occlusion alarms: {len(total.false_alarms)}")
    for fa in total.false_alarms[:20]:
        print(f"    {fa}")
    print(f"  largest trend excess seen: {max(total.max_excess_kpa.values()):.2f} kPa "
          f"(alarm at {cfg.trend_rise_kpa:g} kPa); largest static median seen: "
          f"{max(total.max_static_kpa.values()):.2f} kPa (alarm at {cfg.occlusion_threshold_kpa:.2f} kPa)")
    for k in total.max_excess_kpa:
        print(f"    {k:>5} mL/h: max excess {total.max_excess_kpa[k]:5.2f} kPa, max static median "
              f"{total.max_static_kpa[k]:6.2f} kPa")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "hours": total.hours, "polls": total.polls, "false_alarms": total.false_alarms, "wall_s": wall,
            "max_excess_kpa": total.max_excess_kpa, "max_static_kpa": total.max_static_kpa,
            "time_to_alarm_1ml_h": {"static_s": t_static, "trend_s": t_trend}, "seed": args.seed}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
