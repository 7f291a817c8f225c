"""Printing and serialising proof results (readable table, JSON, counterexample scenarios).

Rules
1. Verdicts and timings are kept apart in the JSON (``results`` vs ``timings``) so results
   are byte-stable for a given commit.
2. Every claim is labelled as what it is: proved (with k), counterexample (with trace),
   unknown (with reason), "no counterexample within N s" for CrossHair.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.core.events import Actor
from controller.core.units import fmt_ml
from pumpctl.proofs.cex import to_toml
from pumpctl.proofs.contracts import CrossHairRun
from pumpctl.proofs.engine import TraceStep, Verdict, obligations
from pumpctl.proofs.prove import ProofRun


def describe_trace(trace: list[TraceStep]) -> list[str]:
    lines = []
    for i, st in enumerate(trace):
        e = st.event
        what = "power-on" if e is None else f"{e.kind} by {Actor(e.actor).name.lower()}"
        if e is not None and e.kind == "tick":
            what += f" {e.dt_ms} ms"
        f = st.vars.flow
        lines.append(f"  {i:2d}. {what:32s} -> {st.state:9s} rate {f.rate} uL/h, cap-odo {f.cap - f.odo} vu, "
                     f"delivered {f.delivered} vu ({fmt_ml(f.delivered, 6)} mL)")
    return lines


def cex_toml(v: Verdict) -> str:
    events = [s.event for s in v.trace[1:] if s.event is not None]
    return to_toml(f"counterexample {v.id}", events, v.trace[0].vars.cfg, [v.id], v.trace[-1].state,
                   note=f"{v.id}: {v.text} (found by pumpctl prove; replayed on the runtime: {v.replayed})")


def print_run(r: ProofRun, contracts: CrossHairRun | None) -> None:
    print(f"z3 {r.z3_version}: {len(r.verdicts)} obligations over the transition table")
    print(f"{'obligation':15s} {'verdict':15s} {'k':>2s} {'time':>7s}  requirements")
    for v in r.verdicts:
        k = str(v.k) if v.k is not None else "-"
        print(f"{v.id:15s} {v.verdict:15s} {k:>2s} {v.seconds:6.2f}s  {' '.join(v.reqs)}")
        if v.verdict != "proved":
            print(f"    {v.detail}")
        for line in describe_trace(v.trace):
            print(line)
        if v.trace:
            print("    as a scenario (replay: pumpctl simulate FILE):")
            print("    " + cex_toml(v).replace("\n", "\n    "))
    wf = r.wellformed
    if wf is not None:
        print(f"well-formedness: {len(wf.unsat_rows)} row(s) with an unsatisfiable guard, "
              f"{len(wf.unreachable)} unreachable state(s), {len(wf.overlaps)} overlapping row pair(s) "
              "(resolved by table order)")
        for line in wf.unsat_rows + [f"unreachable: {s}" for s in wf.unreachable]:
            print(f"    {line}")
        depth = {s: len(t) - 1 for s, t in wf.witnesses.items()}
        print("    every state reachable; witness lengths: " + ", ".join(f"{s} {d}" for s, d in depth.items()))
    if contracts is not None:
        print(f"crosshair {contracts.version}: {len(contracts.functions)} contract functions: {contracts.claim}")
        for line in contracts.failures:
            print(f"    {line}")
    print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in r.timings.items()) + f"; total {r.seconds:.1f} s")
    over_table = {inv.id for inv in obligations()}
    table = [v for v in r.verdicts if v.id in over_table]
    rest = [v for v in r.verdicts if v.id not in over_table]
    proved = sum(v.verdict == "proved" for v in r.verdicts)
    print(f"{proved}/{len(r.verdicts)} proved: {sum(v.verdict == 'proved' for v in table)}/{len(table)} over the "
          f"table for every reachable state and every valid configuration (k-induction), "
          f"{sum(v.verdict == 'proved' for v in rest)}/{len(rest)} over every value of their inputs or every "
          "reachable state (shortcuts, horizon, edge)")


def _trace_json(trace: list[TraceStep]) -> list[dict[str, Any]]:
    return [{"state": s.state, "event": None if s.event is None else {"kind": s.event.kind,
                                                                       "actor": int(s.event.actor)},
             "delivered_vu": s.vars.flow.delivered, "rate": s.vars.flow.rate} for s in trace]


def run_to_json(r: ProofRun, contracts: CrossHairRun | None) -> dict[str, Any]:
    results = [{"obligation": v.id, "requirements": list(v.reqs), "text": v.text, "safety": v.safety,
                "verdict": v.verdict, "k": v.k, "detail": v.detail, "replayed": v.replayed,
                "trace": _trace_json(v.trace), "scenario": cex_toml(v) if v.trace else None}
               for v in r.verdicts]
    out: dict[str, Any] = {
        "tool": {"z3": r.z3_version},
        "results": results,
        "timings": {"total_s": round(r.seconds, 3), **{k: round(v, 3) for k, v in r.timings.items()},
                    "per_obligation_s": {v.id: round(v.seconds, 3) for v in r.verdicts}},
    }
    wf = r.wellformed
    if wf is not None:
        out["wellformed"] = {"unsat_rows": wf.unsat_rows, "unreachable": wf.unreachable, "overlaps": wf.overlaps,
                             "witness_lengths": {s: len(t) - 1 for s, t in sorted(wf.witnesses.items())}}
    if contracts is not None:
        out["crosshair"] = {"version": contracts.version, "per_condition_timeout_s": contracts.per_condition_timeout,
                            "functions": contracts.functions, "failures": contracts.failures,
                            "claim": contracts.claim, "ok": contracts.ok}
        out["timings"]["crosshair_s"] = round(contracts.seconds, 3)
    return out


def write_counterexamples(r: ProofRun, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for v in r.verdicts:
        if v.trace:
            p = directory / f"cex-{v.id}.toml"
            p.write_text(cex_toml(v))
            paths.append(p)
    return paths
