"""Wall time of the proof suite, of each obligation alone, and of the classic-overdose refutation.

    python benchmarks/bench_proofs.py [--json FILE]

1. ``pumpctl prove`` work without CrossHair (encode, base case, joint inductive step,
   well-formedness), timed end to end;
2. each obligation's inductive step checked *alone* (assuming the proved set as lemmas),
   so the per-obligation figure is that obligation's own solver time, not a share;
3. the classic Open PCA overdose (window limit checked only when a bolus starts): time to
   the first counterexample from power-on, with the trace length.
Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import z3

from pumpctl.proofs.engine import Engine
from pumpctl.proofs.mutants import MUTANTS, applied
from pumpctl.proofs.prove import run


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    args = ap.parse_args()
    figures: dict[str, object] = {"z3": z3.get_version_string()}
    t0 = time.perf_counter()
    r = run()
    figures["suite_s"] = round(time.perf_counter() - t0, 2)
    figures["suite_phases_s"] = {k: round(v, 2) for k, v in r.timings.items()}
    figures["proved"] = f"{sum(v.verdict == 'proved' for v in r.verdicts)}/{len(r.verdicts)}"
    print(f"whole suite (no CrossHair): {figures['suite_s']} s, {figures['proved']} proved; phases "
          + ", ".join(f"{k} {v} s" for k, v in figures["suite_phases_s"].items()))  # type: ignore[union-attr]
    eng = Engine()
    per: dict[str, float] = {}
    for inv in eng.invs:
        t1 = time.perf_counter()
        res = eng.inductive_step(eng.invs, goals=[inv])
        per[inv.id] = round(time.perf_counter() - t1, 2)
        assert res[inv.id][0], inv.id
    figures["per_obligation_alone_s"] = per
    print("each obligation alone (inductive step, all rows): "
          + ", ".join(f"{k} {v}" for k, v in sorted(per.items(), key=lambda kv: -kv[1])))
    m = next(m for m in MUTANTS if m.id == "M01-window-at-bolus-only")
    with applied(m) as table:
        eng2 = Engine(table=table)
        t2 = time.perf_counter()
        found = eng2.bmc(8, only=["STEP-DOS-004"])
        cex_s = time.perf_counter() - t2
        t3 = time.perf_counter()
        found_cmd = eng2.bmc(8, only=["INV-DOS-004"])
        cmd_s = time.perf_counter() - t3
    v = found["STEP-DOS-004"]
    figures["overdose"] = {"counterexample_s": round(cex_s, 2), "events": len(v.trace) - 1, "replayed": v.replayed,
                           "command_level_counterexample_s": round(cmd_s, 2),
                           "command_level_events": len(found_cmd["INV-DOS-004"].trace) - 1}
    print(f"classic overdose: counterexample (window over its limit) in {cex_s:.2f} s, {len(v.trace) - 1} events, "
          f"replayed {v.replayed}; motor allowed past the window (INV-DOS-004) in {cmd_s:.2f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
