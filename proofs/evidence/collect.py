"""The evidence collector behind ``pumpctl verify``.

Theory of operation
-------------------
``collect`` runs every verification activity once and joins the outcomes to the
specification (``specs.catalog``):

- Z3 proofs of every obligation and the CrossHair contracts (``proofs.prove``,
  ``proofs.contracts``) - CrossHair and the requirement-tagged pytest run go on the second
  core while Z3 runs;
- the mutation campaign (``proofs.mutants``): evidence that the proofs can fail;
- the scenario suite (``specs/scenarios``) on the simulated pump, and the IEC 60601-2-24
  bench (flow accuracy, occlusion), with plots;
- a seeded random walk with every invariant checked after every step.

Every evidence item names the requirement ids it supports and the verification method it
is (proof, contract, stateful, unit, scenario, bench). A requirement is *verified* when every
method its entry asks for has passing evidence, nothing about it failed, and its text still
hashes to what ``specs/evidence.lock`` recorded when its evidence was last reviewed
(otherwise it is *outdated*). The run passes when every implemented safety requirement is
verified; planned requirements are shown, never claimed.

Rules
1. ``results`` holds verdicts only (sorted, no times, no paths outside the repo): two runs on
   the same commit give the same ``results`` bytes. Times go to ``timings``.
2. Nothing is inferred that was not run: a skipped activity leaves its methods missing.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specs.catalog import Catalog, load

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "specs" / "evidence.lock"
INSPECTIONS = ROOT / "specs" / "inspections.toml"
INSPECTIONS_LOCK = ROOT / "specs" / "inspections.lock"
TEST_METHOD = {"stateful": "stateful"}


@dataclass(frozen=True)
class Options:
    out: Path
    walk_steps: int = 20_000
    seed: int = 1
    mutants: bool = True
    tests: bool = True
    scenarios: bool = True
    bench: bool = True
    junit: Path | None = None  # reuse the JUnit XML of a test run of this same commit instead of running pytest


Progress = Callable[[str], None]


def _item(kind: str, ident: str, verdict: str, claim: str, method: str,
          reqs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    return {"type": kind, "id": ident, "verdict": verdict, "claim": claim, "method": method, "reqs": sorted(set(reqs))}


def read_lock() -> dict[str, str]:
    if not LOCK.exists():
        return {}
    return dict(json.loads(LOCK.read_text()))


def write_lock(cat: Catalog) -> None:
    LOCK.write_text(json.dumps({r.id: r.text_sha256 for r in cat.requirements}, indent=1, sort_keys=True) + "\n")


def _file_hashes(files: list[str]) -> dict[str, str]:
    import hashlib

    out = {}
    for f in files:
        p = ROOT / f
        out[f] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "missing"
    return out


def read_inspections() -> list[dict[str, Any]]:
    import tomllib

    if not INSPECTIONS.exists():
        return []
    return list(tomllib.loads(INSPECTIONS.read_text()).get("inspection", []))


def write_inspections_lock() -> None:
    lock = {i["id"]: _file_hashes(list(i.get("files", []))) for i in read_inspections()}
    INSPECTIONS_LOCK.write_text(json.dumps(lock, indent=1, sort_keys=True) + "\n")


def _inspections(items: list[dict[str, Any]]) -> None:
    """Recorded reviews count while every reviewed file is byte-identical to what was reviewed."""
    lock = json.loads(INSPECTIONS_LOCK.read_text()) if INSPECTIONS_LOCK.exists() else {}
    for insp in read_inspections():
        files = list(insp.get("files", []))
        current = _file_hashes(files)
        changed = sorted(f for f in files if lock.get(insp["id"], {}).get(f) != current[f])
        if insp.get("result") != "pass":
            verdict, claim = "fail", f"review found a problem: {insp.get('what', '')}"
        elif changed:
            verdict, claim = "unknown", f"changed since the review of {insp.get('date')}: {', '.join(changed)}"
        else:
            verdict, claim = "pass", f"reviewed {insp.get('date')} by {insp.get('reviewer')}: {insp.get('what', '')}"
        items.append(_item("inspection", str(insp["id"]), verdict, claim, "inspection", list(insp["requirements"])))


def _start_tests(out: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, HYPOTHESIS_PROFILE="verify", PYTHONHASHSEED="0")
    # The scenario suite under pytest (tests/sim/test_suite.py) runs the very files the scenario
    # step runs and records: here it would only repeat them (no requirement loses a method).
    cmd = [sys.executable, "-m", "pytest", "-m", "req and not slow", f"--junitxml={out / 'junit.xml'}", "-q",
           "-p", "no:cacheprovider", "-o", "junit_family=xunit1",
           f"--ignore={ROOT / 'tests' / 'sim' / 'test_suite.py'}", str(ROOT / "tests")]
    if importlib.util.find_spec("xdist") is not None and (os.cpu_count() or 1) > 1:
        # a worker per core (up to 4): the tests are the longest activity, and alone at the end one
        # process would leave the other cores idle
        cmd[3:3] = ["-n", str(min(4, os.cpu_count() or 1))]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _parse_junit(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    tests = []
    for case in ET.parse(path).getroot().iter("testcase"):
        reqs = [p.get("value", "") for p in case.iter("property") if p.get("name") == "requirement"]
        methods = [p.get("value", "") for p in case.iter("property") if p.get("name") == "method"]
        outcome = "passed"
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        elif case.find("skipped") is not None:
            outcome = "skipped"
        nodeid = f"{case.get('classname', '')}::{case.get('name', '')}"
        method = methods[0] if methods else ("stateful" if "stateful" in nodeid.lower() else "unit")
        tests.append({"nodeid": nodeid, "outcome": outcome, "requirements": sorted(set(reqs)), "method": method})
    return sorted(tests, key=lambda t: t["nodeid"])


def _git() -> dict[str, Any]:
    def run(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": run("rev-parse", "HEAD") or "unknown", "dirty": bool(run("status", "--porcelain"))}


def _packages() -> dict[str, str]:
    from importlib.metadata import distributions

    return dict(sorted({(d.metadata["Name"] or "?").lower(): d.version for d in distributions()}.items()))


def collect(opts: Options, say: Progress = print) -> dict[str, Any]:
    from controller.table import TABLE, check_table
    from proofs.contracts import REQUIREMENTS as CONTRACT_REQS
    from proofs.contracts import finish_crosshair, start_crosshair
    from proofs.evidence.package import clean
    from proofs.prove import run
    from proofs.report import run_to_json

    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    clean(out)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    cat = load()
    check_table()
    items: list[dict[str, Any]] = []
    tests_proc = _start_tests(out) if opts.tests and opts.junit is None else None
    if tests_proc is not None:
        say("tests      started in the background (pytest -m req)")
    elif opts.junit is not None:
        say(f"tests      results taken from {opts.junit}")
    else:
        say("tests      skipped")
    crosshair = start_crosshair(5)
    t0 = time.perf_counter()
    say("proofs     Z3 k-induction over the real transition table ...")
    proofs = run()
    timings["proofs"] = time.perf_counter() - t0
    proved = sum(v.verdict == "proved" for v in proofs.verdicts)
    say(f"proofs     {proved}/{len(proofs.verdicts)} proved ({timings['proofs']:.0f} s)")
    for v in proofs.verdicts:
        verdict = "pass" if v.verdict == "proved" else ("fail" if v.verdict == "counterexample" else "unknown")
        claim = (f"proved for every reachable state and valid configuration (k={v.k})" if v.verdict == "proved"
                 else v.detail)
        items.append(_item("proof", v.id, verdict, claim, "proof", v.reqs))
    mutants: list[dict[str, Any]] = []
    pool, pending = None, None
    if opts.mutants:  # in a separate process, beside the scenarios and the bench (patches never leak)
        import multiprocessing

        from proofs.mutants import MUTANTS, _evaluate_id

        t_mut = time.perf_counter()
        say("mutants    applying every mutant in a second process, each must be refuted ...")
        pool = multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=4)
        pending = pool.map_async(_evaluate_id, [m.id for m in MUTANTS], chunksize=1)
    scenarios = _scenarios(opts, items, timings, say) if opts.scenarios else []
    bench = _bench(opts, items, timings, say) if opts.bench else {"accuracy": None, "occlusion": None,
                                                                   "plots": {"trumpet": None, "occlusion": None}}
    walk = _walk(opts, items, timings, say)
    _inspections(items)
    if pool is not None and pending is not None:
        for r in pending.get():
            mutants.append({"id": r.id, "text": r.text, "killed": r.killed, "by": r.by})
        pool.close()
        pool.join()
        timings["mutants"] = time.perf_counter() - t_mut
        say(f"mutants    {sum(m['killed'] for m in mutants)}/{len(mutants)} killed ({timings['mutants']:.0f} s)")
    contracts = finish_crosshair(crosshair, 5)
    timings["crosshair"] = contracts.seconds
    say(f"contracts  CrossHair: {contracts.claim}")
    failures = set(contracts.failures)
    for fn, reqs in sorted(CONTRACT_REQS.items()):
        broken = any(f":{fn}" in line or f" {fn}(" in line for line in failures)
        verdict = "fail" if broken or contracts.error else "pass"
        items.append(_item("contract", f"crosshair:{fn}", verdict, contracts.claim, "contract", reqs))
    tests: list[dict[str, Any]] = []
    if tests_proc is not None or opts.junit is not None:
        t0 = time.perf_counter()
        if tests_proc is not None:
            log, _ = tests_proc.communicate()
            (out / "pytest.log").write_text(log)
        else:
            assert opts.junit is not None
            (out / "junit.xml").write_bytes(opts.junit.read_bytes())
        tests = _parse_junit(out / "junit.xml")
        timings["tests_wait"] = time.perf_counter() - t0
        failed = sum(t["outcome"] == "failed" for t in tests)
        say(f"tests      {len(tests)} tests carrying requirement ids, {failed} failed")
        for t in tests:
            if not t["requirements"]:
                continue
            method = t["method"]
            verdict = {"passed": "pass", "failed": "fail"}.get(t["outcome"], "skipped")
            items.append(_item("test", t["nodeid"], verdict, f"pytest {t['outcome']}", method, t["requirements"]))
    evidence = build(cat, items, proofs, contracts, mutants, tests, scenarios, bench, walk, TABLE)
    evidence["results"]["proofs_json"] = run_to_json(proofs, contracts)["results"]
    timings["total"] = time.perf_counter() - t_all
    evidence["environment"] = {
        "python": platform.python_version(), "platform": platform.platform(), "packages": _packages(),
        "git": _git(), "settings": {"walk_steps": opts.walk_steps, "bmc_depth": 6, "kmax": 3,
                                     "crosshair_per_condition_s": 5, "mutant_depth": 8},
        "seeds": {"walk": opts.seed, "scenarios": 0, "bench": 0, "hypothesis": 0},
        "tools": {"z3": proofs.z3_version, "crosshair": contracts.version},
    }
    evidence["timings"] = {k: round(v, 2) for k, v in sorted(timings.items())}
    return evidence


def _scenarios(opts: Options, items: list[dict[str, Any]], timings: dict[str, float],
               say: Progress) -> list[dict[str, Any]]:
    from controller.scenario import load as load_scenario
    from controller.scenario_report import verdict
    from controller.scenario_run import run as run_scenario

    t0 = time.perf_counter()
    out = []
    for path in sorted((ROOT / "specs" / "scenarios").glob("*.toml")):
        sc = load_scenario(path)
        res = run_scenario(sc)
        failures = verdict(sc, res)
        out.append({"file": path.name, "name": sc.name, "passed": not failures, "failures": failures,
                    "requirements": sorted(sc.requirements), "alarms": sorted({a.alarm for a in res.alarms}),
                    "final_state": res.final_state})
        items.append(_item("scenario", path.name, "pass" if not failures else "fail",
                           "expectations met, no invariant or physical-truth violation" if not failures
                           else "; ".join(failures), "scenario", sc.requirements))
    timings["scenarios"] = time.perf_counter() - t0
    say(f"scenarios  {sum(s['passed'] for s in out)}/{len(out)} passed ({timings['scenarios']:.0f} s)")
    return out


def _bench(opts: Options, items: list[dict[str, Any]], timings: dict[str, float], say: Progress) -> dict[str, Any]:
    from controller import bench
    from controller.detect import PSI_KPA
    from controller.scenario_plot import plot_accuracy, plot_occlusion

    t0 = time.perf_counter()
    o = bench.BenchOptions(seed=0)
    acc = bench.accuracy(bench.ACCURACY_RATES, o)
    bol = bench.bolus_accuracy(bench.BOLUS_ML, o)
    occ = bench.occlusion(bench.OCCLUSION_RATES, o)
    plots = opts.out / "plots"
    plots.mkdir(exist_ok=True)
    plot_accuracy(acc, str(plots / "trumpet.png"))
    plot_occlusion(occ, str(plots / "occlusion.png"))
    acc_json = {"flow": bench.accuracy_json(acc), "bolus": bench.bolus_json(bol)}
    occ_json = bench.occlusion_json(occ)
    worst_mean = max(abs(float(r.get("mean_error_pct", 0.0))) for r in acc_json["flow"])  # type: ignore[arg-type]
    ok_acc = worst_mean <= 5.0
    items.append(_item("bench", "bench:accuracy", "pass" if ok_acc else "fail",
                       f"IEC 60601-2-24 trumpet method; worst mean error {worst_mean:.2f} % (limit 5 %)", "bench",
                       ["REQ-DEL-008"]))
    worst_bolus = max(float(r["bolus_ml"]) for r in occ_json if r["threshold_kpa"] <= 70)  # type: ignore[arg-type]
    worst_latency = max(int(r["latency_ms"]) for r in occ_json)  # type: ignore[call-overload]
    items.append(_item("bench", "bench:occlusion", "pass" if worst_bolus <= 0.1 and worst_latency <= 1000 else "fail",
                       f"release bolus <= {worst_bolus:.3f} mL at <= 10 psi (target 0.1 mL); alarm latency "
                       f"<= {worst_latency} ms after the criterion", "bench", ["REQ-OCC-003", "REQ-OCC-004"]))
    static = [r for r in occ_json if r["detector"] == "static"]
    settings = sorted({float(r["threshold_kpa"]) for r in static})  # type: ignore[arg-type]
    off = [abs(float(r["pressure_at_alarm_kpa"]) / float(r["threshold_kpa"]) - 1)  # type: ignore[arg-type]
           if r["pressure_at_alarm_kpa"] is not None else math.inf for r in static]
    spans = bool(static) and settings[0] <= 2 * PSI_KPA + 0.01 and settings[-1] >= 19 * PSI_KPA - 0.01
    ok_thr = spans and max(off) <= 0.1
    items.append(_item("bench", "bench:occlusion-thresholds", "pass" if ok_thr else "fail",
                       f"static alarm at every threshold setting {', '.join(f'{s:.1f}' for s in settings)} kPa "
                       f"(2 to 19 psi), pressure at alarm within {100 * max(off):.1f} % of the setting (limit 10 %)",
                       "bench", ["REQ-OCC-005"]))
    sf = bench.stopped_flow_json(bench.stopped_flow(bench.STOPPED_FLOW_RATES, o))
    ok_sf = all(r["final_state"] == "FAILSAFE" and r["time_to_alarm_ms"] is not None and not r["violations"]
                and float(r["leaked_ul"]) <= float(r["allowance_ul"]) for r in sf)  # type: ignore[arg-type]
    sf_rates = ", ".join(f"{float(r['runaway_ml_h']):g}" for r in sf)  # type: ignore[arg-type]
    items.append(_item("bench", "bench:stopped-flow", "pass" if ok_sf else "fail",
                       "a runaway motor while commanded stopped latches FAILSAFE with motor_fault at every rate "
                       f"({sf_rates} mL/h); leaked volume within "
                       "one control period plus the encoder tolerance", "bench", ["REQ-FLF-002"]))
    mf = bench.mains_failure_json(bench.mains_failure(bench.MAINS_RATES, o))
    worst_mf = max(abs(float(r["battery_rate_error_pct"])) for r in mf)  # type: ignore[arg-type]
    ok_mf = all(r["final_state"] == "ALARM" and r["depleted_after_s"] is not None and not r["violations"]
                and float(r["battery_left_min"] or 0) > 0 and float(r["pushed_after_alarm_ul"]) <= 1.0  # type: ignore[arg-type]
                for r in mf) and worst_mf <= 5.0
    items.append(_item("bench", "bench:mains-failure", "pass" if ok_mf else "fail",
                       f"on battery the rate holds (worst error {worst_mf:.2f} %, limit 5 %); battery_depleted stops "
                       "the motor while charge is left, and nothing moves after it", "bench", ["REQ-PWR-003"]))
    timings["bench"] = time.perf_counter() - t0
    say(f"bench      accuracy worst mean {worst_mean:.2f} %, occlusion bolus <= {worst_bolus:.3f} mL "
        f"({timings['bench']:.0f} s)")
    return {"accuracy": acc_json, "occlusion": occ_json, "stopped_flow": sf, "mains_failure": mf,
            "plots": {"trumpet": "plots/trumpet.png", "occlusion": "plots/occlusion.png"}}


def _walk(opts: Options, items: list[dict[str, Any]], timings: dict[str, float], say: Progress) -> dict[str, Any]:
    from proofs.walk import walk
    from specs.invariants import STATE_INVARIANTS, STEP_INVARIANTS

    t0 = time.perf_counter()
    r = walk(opts.walk_steps, opts.seed)
    timings["walk"] = time.perf_counter() - t0
    reqs = sorted({q for inv in (*STATE_INVARIANTS, *STEP_INVARIANTS) for q in inv.reqs})
    items.append(_item("walk", f"walk:seed{opts.seed}", "pass" if not r.violations else "fail",
                       f"{r.steps} random events, seed {r.seed}, every invariant checked after every step",
                       "stateful", reqs))
    say(f"walk       {r.steps} events, {len(r.violations)} violations ({timings['walk']:.0f} s)")
    return {"steps": r.steps, "seed": r.seed, "accepted": r.accepted, "states": sorted(r.states),
            "violations": r.violations}


def build(cat: Catalog, items: list[dict[str, Any]], proofs: Any, contracts: Any, mutants: list[dict[str, Any]],
          tests: list[dict[str, Any]], scenarios: list[dict[str, Any]], bench: dict[str, Any],
          walk: dict[str, Any], table: Any) -> dict[str, Any]:
    """Join evidence items to the catalog and compute every verdict (pure)."""
    from controller.state import LATCHED, STATES

    lock = read_lock()
    ids = cat.ids
    by_req: dict[str, list[dict[str, Any]]] = {r.id: [] for r in cat.requirements}
    orphaned = []
    for it in items:
        for rid in it["reqs"]:
            if rid in by_req:
                by_req[rid].append({k: v for k, v in it.items() if k != "reqs"})
            else:
                orphaned.append({"evidence": it["id"], "cites": rid})
    reqs_out = []
    for r in cat.requirements:
        ev = sorted(by_req[r.id], key=lambda e: (e["type"], e["id"]))
        covered = sorted({e["method"] for e in ev if e["verdict"] == "pass"})
        missing = [m for m in r.verification if m not in covered]
        outdated = lock.get(r.id) != r.text_sha256
        if r.status != "implemented":
            verdict = "planned"
        elif any(e["verdict"] == "fail" for e in ev):
            verdict = "failed"
        elif not ev:
            verdict = "unverified"
        elif missing or outdated or any(e["verdict"] == "unknown" for e in ev):
            verdict = "partial"
        else:
            verdict = "verified"
        reqs_out.append({"id": r.id, "title": r.title, "text": r.text, "text_sha256": r.text_sha256, "kind": r.kind,
                         "safety": r.safety, "status": r.status, "sources": list(r.sources),
                         "hazards": list(r.hazards), "decisions": list(r.decisions),
                         "verification": list(r.verification), "rationale": r.rationale, "evidence": ev,
                         "methods_covered": covered, "methods_missing": missing, "outdated": outdated,
                         "verdict": verdict})
    vmap = {r["id"]: r["verdict"] for r in reqs_out}
    hazards = []
    for h in cat.hazards:
        unsupported = [c for c in h.controls if vmap.get(c) != "verified"]
        implemented_gap = [c for c in unsupported if vmap.get(c) != "planned"]
        verdict = ("failed" if any(vmap.get(c) == "failed" for c in h.controls)
                   else "supported" if not unsupported
                   else "partial" if not implemented_gap  # every gap is a planned control: shown, not claimed
                   else "unsupported")
        hazards.append({"id": h.id, "title": h.title, "category": h.category, "harm": h.harm,
                        "severity": h.severity, "causes": list(h.causes), "controls": list(h.controls),
                        "verdict": verdict, "unsupported_controls": unsupported})
    claimed = [r for r in reqs_out if r["safety"] and r["status"] == "implemented"]
    failed = sorted(r["id"] for r in claimed if r["verdict"] == "failed")
    unverified = sorted(r["id"] for r in claimed if r["verdict"] != "verified" and r["verdict"] != "failed")
    n_tests_failed = sum(t["outcome"] == "failed" for t in tests)
    ok = not failed and not unverified and n_tests_failed == 0 and all(m["killed"] for m in mutants) \
        and all(s["passed"] for s in scenarios) and not walk["violations"]
    proved = sum(v.verdict == "proved" for v in proofs.verdicts)
    planned = [r["id"] for r in reqs_out if r["status"] != "implemented"]
    summary = (f"{'PASS' if ok else 'FAIL'}: {len(claimed) - len(failed) - len(unverified)} of {len(claimed)} "
               f"implemented safety requirements verified; {len(planned)} planned requirements not claimed")
    edges = []
    for row in table:
        for s in row.sources:
            d = row.dest_for(s)
            if d != s:
                edges.append({"source": s, "dest": d, "label": row.label})
    from proofs.report import _trace_json, cex_toml

    cexs = [{"obligation": v.id, "scenario": cex_toml(v), "trace": _trace_json(v.trace)}
            for v in proofs.verdicts if v.trace]
    return {"format": "pumpctl-evidence/1", "results": {
        "verdict": {"pass": ok, "summary": summary, "safety_requirements": len(claimed),
                    "verified": len(claimed) - len(failed) - len(unverified), "failed": failed,
                    "unverified": unverified, "planned": sorted(planned),
                    "obligations": {"proved": proved, "total": len(proofs.verdicts)},
                    "mutants": {"killed": sum(m["killed"] for m in mutants), "total": len(mutants)},
                    "scenarios": {"passed": sum(s["passed"] for s in scenarios), "total": len(scenarios)},
                    "tests": {"passed": sum(t["outcome"] == "passed" for t in tests), "failed": n_tests_failed,
                              "total": len(tests)}},
        "requirements": reqs_out, "hazards": hazards,
        "decisions": [{"id": d.id, "topic": d.topic, "options": list(d.options), "decision": d.decision,
                       "reason": d.reason, "requirements": list(d.requirements)} for d in cat.decisions],
        "mutants": sorted(mutants, key=lambda m: m["id"]), "tests": tests, "scenarios": scenarios, "bench": bench,
        "walk": walk,
        "coverage": {"covered": sorted(r["id"] for r in reqs_out if r["verdict"] == "verified"),
                     "uncovered": sorted(r["id"] for r in reqs_out if not r["evidence"]),
                     "orphaned": sorted(orphaned, key=lambda o: (o["cites"], o["evidence"])),
                     "outdated": sorted(r["id"] for r in reqs_out if r["outdated"])},
        "table": {"rows": len(table), "states": list(STATES), "latched": list(LATCHED),
                  "edges": sorted(edges, key=lambda e: (e["source"], e["dest"], e["label"]))},
        "counterexamples": cexs,
        "known_ids": sorted(ids),
    }}
