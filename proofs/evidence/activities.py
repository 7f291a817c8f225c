"""The verification activities ``pumpctl verify`` runs beside the proofs, each as evidence items.

Theory of operation
-------------------
Each function runs one activity and appends its evidence items (type, id, verdict, claim,
method, requirement ids): the scenario suite and the IEC 60601-2-24 style bench on the
simulated pump, the seeded random walk (with its coverage), the recorded inspections, and
the requirement-tagged pytest run, whose JUnit XML carries each test's requirement ids,
method, coverage and number of examples as properties (``tests/conftest.py``).

Each activity reports its result through ``say(line)`` and its items through
``step(task, done, total, note)`` (``controller.cli.progress``); the time each took is said by
the progress reporter, beside the activities that ran at the same time.

Rules
1. A claim says what was run and where: every bench and scenario claim says "simulated pump".
2. A skipped activity adds no item: its methods stay missing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import subprocess
import sys
import time
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
INSPECTIONS = ROOT / "specs" / "inspections.toml"
INSPECTIONS_LOCK = ROOT / "specs" / "inspections.lock"
Progress = Callable[[str], None]
Step = Callable[[str, int, int, str], None]
Items = list[dict[str, Any]]


def quiet(task: str, done: int, total: int, note: str) -> None:
    """A ``Step`` that reports nothing."""


def item(kind: str, ident: str, verdict: str, claim: str, method: str,
         reqs: tuple[str, ...] | list[str], **extra: Any) -> dict[str, Any]:
    return {"type": kind, "id": ident, "verdict": verdict, "claim": claim, "method": method,
            "reqs": sorted(set(reqs)), **extra}


def _file_hashes(files: list[str]) -> dict[str, str]:
    out = {}
    for f in files:
        p = ROOT / f
        out[f] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "missing"
    return out


def read_inspections() -> list[dict[str, Any]]:
    if not INSPECTIONS.exists():
        return []
    return list(tomllib.loads(INSPECTIONS.read_text()).get("inspection", []))


def write_inspections_lock() -> None:
    lock = {i["id"]: _file_hashes(list(i.get("files", []))) for i in read_inspections()}
    INSPECTIONS_LOCK.write_text(json.dumps(lock, indent=1, sort_keys=True) + "\n")


def inspections(items: Items) -> None:
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
        items.append(item("inspection", str(insp["id"]), verdict, claim, "inspection", list(insp["requirements"])))


def tests_command(junit: Path) -> tuple[list[str], dict[str, str]]:
    """The requirement-tagged pytest run verify starts (``benchmarks/bench_tests_floor.py`` times it too)."""
    env = dict(os.environ, HYPOTHESIS_PROFILE="verify", PYTHONHASHSEED="0")
    # The scenario suite under pytest (tests/sim/test_suite.py) runs the very files the scenario
    # step runs and records: here it would only repeat them (no requirement loses a method).
    cmd = [sys.executable, "-m", "pytest", "-m", "req and not slow", f"--junitxml={junit}", "-q",
           "-p", "no:cacheprovider", "-o", "junit_family=xunit1",
           f"--ignore={ROOT / 'tests' / 'sim' / 'test_suite.py'}", str(ROOT / "tests")]
    if importlib.util.find_spec("xdist") is not None and (os.cpu_count() or 1) > 1:
        # a worker per core (up to 4): the tests are the longest activity
        cmd[3:3] = ["-n", str(min(4, os.cpu_count() or 1)), "--dist", "worksteal"]
    return cmd, env


def start_tests(out: Path) -> subprocess.Popen[str]:
    cmd, env = tests_command(out / "junit.xml")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def parse_junit(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    tests = []
    for case in ET.parse(path).getroot().iter("testcase"):
        props = [(p.get("name"), p.get("value", "")) for p in case.iter("property")]
        reqs = [v for k, v in props if k == "requirement"]
        methods = [v for k, v in props if k == "method"]
        coverage = next((json.loads(v) for k, v in props if k == "coverage"), None)
        examples = next((int(v) for k, v in props if k == "examples" and v.isdigit()), None)
        outcome = "passed"
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        elif case.find("skipped") is not None:
            outcome = "skipped"
        nodeid = f"{case.get('classname', '')}::{case.get('name', '')}"
        method = methods[0] if methods else ("stateful" if "stateful" in nodeid.lower() else "unit")
        tests.append({"nodeid": nodeid, "outcome": outcome, "requirements": sorted(set(reqs)), "method": method,
                      "coverage": coverage, "examples": examples})
    return sorted(tests, key=lambda t: t["nodeid"])


def test_items(tests: list[dict[str, Any]], items: Items) -> None:
    for t in tests:
        if not t["requirements"]:
            continue
        verdict = {"passed": "pass", "failed": "fail"}.get(t["outcome"], "skipped")
        items.append(item("test", t["nodeid"], verdict, f"pytest {t['outcome']}", t["method"], t["requirements"],
                          coverage=t["coverage"], examples=t["examples"]))


def scenarios(items: Items, timings: dict[str, float], say: Progress, step: Step = quiet) -> list[dict[str, Any]]:
    from controller.scenario.model import load as load_scenario
    from controller.scenario.report import verdict
    from controller.scenario.run import run as run_scenario
    from pumpctl.specs.checker import recording

    t0 = time.perf_counter()
    out: list[dict[str, Any]] = []
    files = sorted((ROOT / "specs" / "scenarios").glob("*.toml"))
    step("scenarios", 0, len(files), "the suite on the simulated pump")
    for path in files:
        sc = load_scenario(path)
        with recording() as cov:
            res = run_scenario(sc)
        failures = verdict(sc, res)
        out.append({"file": path.name, "name": sc.name, "passed": not failures, "failures": failures,
                    "requirements": sorted(sc.requirements), "alarms": sorted({a.alarm for a in res.alarms}),
                    "final_state": res.final_state, "states": sorted(cov.states)})
        items.append(item("scenario", path.name, "pass" if not failures else "fail",
                          "on the simulated pump: expectations met, no invariant or physical-truth violation"
                          if not failures else "; ".join(failures), "scenario", sc.requirements))
        step("scenarios", len(out), len(files), f"{path.name} {'passed' if not failures else 'FAILED'}")
    timings["scenarios"] = time.perf_counter() - t0
    say(f"scenarios: {sum(s['passed'] for s in out)}/{len(out)} passed on the simulated pump")
    return out


def bench(out_dir: Path, items: Items, timings: dict[str, float], say: Progress, step: Step = quiet
          ) -> dict[str, Any]:
    from controller.bench import output, procedures
    from controller.bench.plot import plot_accuracy, plot_occlusion
    from controller.sensing.detect import PSI_KPA

    t0 = time.perf_counter()
    o = procedures.BenchOptions(seed=0)
    acc = procedures.accuracy(procedures.ACCURACY_RATES, o, step)
    bol = procedures.bolus_accuracy(procedures.BOLUS_ML, o, step)
    occ = procedures.occlusion(procedures.OCCLUSION_RATES, o, progress=step)
    plots = out_dir / "plots"
    plots.mkdir(exist_ok=True)
    step("bench plots", 0, 1, "trumpet and occlusion curves (matplotlib)")
    plot_accuracy(acc, str(plots / "trumpet.png"))
    plot_occlusion(occ, str(plots / "occlusion.png"))
    step("bench plots", 1, 1, "plots/trumpet.png, plots/occlusion.png")
    acc_json = {"flow": output.accuracy_json(acc), "bolus": output.bolus_json(bol)}
    occ_json = output.occlusion_json(occ)
    sim = "simulated pump, IEC 60601-2-24 style procedure"
    worst_mean = max(abs(float(r.get("mean_error_pct", 0.0))) for r in acc_json["flow"])  # type: ignore[arg-type]
    items.append(item("bench", "bench:accuracy", "pass" if worst_mean <= 5.0 else "fail",
                      f"{sim} (trumpet method): worst mean error {worst_mean:.2f} % (limit 5 %)", "bench",
                      ["REQ-DEL-008"]))
    worst_bolus = max(float(r["bolus_ml"]) for r in occ_json  # type: ignore[arg-type]
                      if float(r["threshold_kpa"]) <= 70)  # type: ignore[arg-type]
    worst_latency = max(int(r["latency_ms"]) for r in occ_json)  # type: ignore[call-overload]
    items.append(item("bench", "bench:occlusion", "pass" if worst_bolus <= 0.1 and worst_latency <= 1000 else "fail",
                      f"{sim}: release bolus <= {worst_bolus:.3f} mL at <= 10 psi (target 0.1 mL); alarm latency "
                      f"<= {worst_latency} ms after the criterion", "bench", ["REQ-OCC-003", "REQ-OCC-004"]))
    static = [r for r in occ_json if r["detector"] == "static"]
    settings = sorted({float(r["threshold_kpa"]) for r in static})  # type: ignore[arg-type]
    off = [abs(float(r["pressure_at_alarm_kpa"]) / float(r["threshold_kpa"]) - 1)  # type: ignore[arg-type]
           if r["pressure_at_alarm_kpa"] is not None else math.inf for r in static]
    spans = bool(static) and settings[0] <= 2 * PSI_KPA + 0.01 and settings[-1] >= 19 * PSI_KPA - 0.01
    items.append(item("bench", "bench:occlusion-thresholds", "pass" if spans and max(off) <= 0.1 else "fail",
                      f"{sim}: static alarm at every threshold setting {', '.join(f'{s:.1f}' for s in settings)} "
                      f"kPa (2 to 19 psi), pressure at alarm within {100 * max(off):.1f} % of the setting "
                      "(limit 10 %)", "bench", ["REQ-OCC-005"]))
    sf = output.stopped_flow_json(procedures.stopped_flow(procedures.STOPPED_FLOW_RATES, o, step))
    ok_sf = all(r["final_state"] == "FAILSAFE" and r["time_to_alarm_ms"] is not None and not r["violations"]
                and float(r["leaked_ul"]) <= float(r["allowance_ul"]) for r in sf)  # type: ignore[arg-type]
    sf_rates = ", ".join(f"{float(r['runaway_ml_h']):g}" for r in sf)  # type: ignore[arg-type]
    items.append(item("bench", "bench:stopped-flow", "pass" if ok_sf else "fail",
                      f"simulated pump: a runaway motor while commanded stopped latches FAILSAFE with motor_fault at "
                      f"every rate ({sf_rates} mL/h); leaked volume within one control period plus the encoder "
                      "tolerance", "bench", ["REQ-FLF-002"]))
    mf = output.mains_failure_json(procedures.mains_failure(procedures.MAINS_RATES, o, step))
    worst_mf = max(abs(float(r["battery_rate_error_pct"])) for r in mf)  # type: ignore[arg-type]
    ok_mf = all(r["final_state"] == "ALARM" and r["depleted_after_s"] is not None and not r["violations"]
                and float(r["battery_left_min"] or 0) > 0 and float(r["pushed_after_alarm_ul"]) <= 1.0  # type: ignore[arg-type]
                for r in mf) and worst_mf <= 5.0
    items.append(item("bench", "bench:mains-failure", "pass" if ok_mf else "fail",
                      f"simulated pump: on battery the rate holds (worst error {worst_mf:.2f} %, limit 5 %); "
                      "battery_depleted stops the motor while charge is left, and nothing moves after it", "bench",
                      ["REQ-PWR-003"]))
    timings["bench"] = time.perf_counter() - t0
    say(f"bench: simulated pump: accuracy worst mean {worst_mean:.2f} %, occlusion bolus <= {worst_bolus:.3f} mL")
    return {"accuracy": acc_json, "occlusion": occ_json, "stopped_flow": sf, "mains_failure": mf,
            "plots": {"trumpet": "plots/trumpet.png", "occlusion": "plots/occlusion.png"},
            "where": "the simulated pump (controller/drivers/sim*): not a hardware measurement"}


def walk(steps: int, seed: int, items: Items, timings: dict[str, float], say: Progress, step: Step = quiet
         ) -> dict[str, Any]:
    from pumpctl.proofs.walk import walk as run_walk
    from pumpctl.specs.invariants import STATE_INVARIANTS, STEP_INVARIANTS

    t0 = time.perf_counter()
    step("walk", 0, 1, f"{steps} random events, seed {seed}, every invariant after every step")
    r = run_walk(steps, seed)
    timings["walk"] = time.perf_counter() - t0
    step("walk", 1, 1, f"{len(r.violations)} violations")
    invariants: list[Any] = [*STATE_INVARIANTS, *STEP_INVARIANTS]
    reqs = sorted({q for inv in invariants for q in inv.reqs})
    cov = r.coverage.to_json()
    items.append(item("walk", f"walk:seed{seed}", "pass" if not r.violations else "fail",
                      f"{r.steps} random events, seed {r.seed}, every invariant checked after every step",
                      "stateful", reqs, coverage=cov, seed=seed))
    say(f"walk: {r.steps} events, {len(r.violations)} violations, {len(cov['rows'])} table rows and "
        f"{len(cov['states'])} states reached")
    return {"steps": r.steps, "seed": r.seed, "accepted": r.accepted, "states": sorted(r.states),
            "violations": r.violations, "coverage": cov}
