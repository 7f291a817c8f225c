"""The evidence collector behind ``pumpctl verify``.

Theory of operation
-------------------
``collect`` runs every verification activity once and joins the outcomes to the
specification (``specs.catalog``). On two cores the activities are spread so that no core
idles while another has a queue:

- in the background from the start: the requirement-tagged pytest run (a worker per core),
  CrossHair, and the mutation campaign (one spawned process: a mutant's patches never leak; each
  mutant's recorded counterexample is checked on the mutated encoding and runtime, and searched
  for only when it does not check: ``proofs.witness``);
- from this process: the Z3 proofs (the inductive step split over two processes, the horizon
  and edge proofs in processes of their own beside the well-formedness check, so no core idles
  while the proofs finish), then the scenario suite and the bench on the simulated pump, the
  seeded random walk and the inspections;
- then the join (``build``), the scope section and the records (risk file, use errors,
  IEC 62304, cybersecurity), which only read what was produced.

Every evidence item names the requirement ids it supports, the verification method it is and
its strength (``scope``). A requirement is *verified* when every method its entry asks for has
counted, passing evidence, nothing about it failed and its text still hashes to what
``specs/evidence.lock`` recorded when its evidence was last reviewed (otherwise *outdated*).

Progress: ``say(line)`` hears each activity's result, ``step(task, done, total, note)`` each
task's start, items and end (``controller.cli.progress``); the background tasks end when they
end (a thread waits for each process), so the time said for each is its own, beside the others.

Rules
1. ``results`` holds verdicts only (sorted, no times, no paths outside the repo): two runs on
   the same commit give the same ``results`` bytes. Times go to ``timings``.
2. Nothing is inferred that was not run: a skipped activity leaves its methods missing.
"""

from __future__ import annotations

import json
import multiprocessing
import platform
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pumpctl.proofs.evidence import activities
from pumpctl.proofs.evidence.build import LOCK, build, read_lock
from pumpctl.specs.catalog import Catalog, load

ROOT = Path(__file__).resolve().parents[2]
Progress = Callable[[str], None]
Step = activities.Step
SETTINGS = {"bmc_depth": 6, "kmax": 3, "crosshair_per_condition_s": 5, "mutant_depth": 8}
write_inspections_lock = activities.write_inspections_lock
__all__ = ["LOCK", "Options", "collect", "read_lock", "write_inspections_lock", "write_lock"]


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


def write_lock(cat: Catalog) -> None:
    LOCK.write_text(json.dumps({r.id: r.text_sha256 for r in cat.requirements}, indent=1, sort_keys=True) + "\n")


def _git(root: Path = ROOT) -> dict[str, Any]:
    """The commit, whether the tree has uncommitted changes, and the tag at HEAD (annotated or not)."""
    def run(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": run("rev-parse", "HEAD") or "unknown", "dirty": bool(run("status", "--porcelain")),
            "tag": run("describe", "--tags", "--exact-match") or None}


def _packages() -> dict[str, str]:
    from importlib.metadata import distributions

    return dict(sorted({(d.metadata["Name"] or "?").lower(): d.version for d in distributions()}.items()))


def evaluate_mutant(mutant_id: str) -> dict[str, Any]:
    """One mutant, in the pool's process; a mutant that crashes the engine is a surviving mutant with
    the error as its reason (never a crash of the whole run, never a kill)."""
    from pumpctl.proofs.mutants import MUTANTS, _evaluate_with_recorded

    text = next((m.text for m in MUTANTS if m.id == mutant_id), "?")
    try:
        r = _evaluate_with_recorded(mutant_id)
    except Exception as exc:  # reported as evidence, not raised: the run must still say what it found
        return {"id": mutant_id, "text": text, "killed": False, "by": [],
                "error": f"{type(exc).__name__}: {exc}"}
    return {"id": r.id, "text": r.text, "killed": r.killed, "by": list(r.by), "how": r.how, "note": r.note}


def _proof_items(proofs: Any, items: activities.Items) -> None:
    for v in proofs.verdicts:
        verdict = "pass" if v.verdict == "proved" else ("fail" if v.verdict == "counterexample" else "unknown")
        table = v.k is not None  # k-induction over the table; k None: a validity over every value (shortcuts, edge)
        claim = ((f"proved for every reachable state and valid configuration (k={v.k})" if table
                  else f"proved for every value of its inputs ({v.detail})") if v.verdict == "proved" else v.detail)
        items.append(activities.item("proof", v.id, verdict, claim, "proof", v.reqs,
                            scope_detail=f"k-induction (k={v.k}) over the real table, every valid configuration"
                            if table else "Z3 validity over every value of its inputs, on the code the runtime runs"))


def _mutant_items(mutants: list[dict[str, Any]], proofs: Any, items: activities.Items) -> None:
    """A killed mutant is evidence that the obligations that refuted it can fail (their requirements)."""
    reqs_of = {v.id: list(v.reqs) for v in proofs.verdicts}
    for m in mutants:
        reqs = sorted({r for ob in m["by"] for r in reqs_of.get(ob, [])})
        how = ("its recorded counterexample checked step by step on the mutated encoding and runtime"
               if m.get("how") == "witness" else "a counterexample found in this run and replayed on the runtime")
        claim = (f"mutant '{m['text']}' refuted by {', '.join(m['by'])}: {how}" if m["killed"]
                 else f"mutant '{m['text']}' could not be evaluated: {m['error']}" if m.get("error")
                 else f"mutant '{m['text']}' SURVIVED: no obligation refuted it")
        items.append(activities.item("mutation", m["id"], "pass" if m["killed"] else "fail", claim, "mutation", reqs))


def _contract_items(contracts: Any, items: activities.Items) -> None:
    from pumpctl.proofs.contracts import REQUIREMENTS as CONTRACT_REQS

    for fn, reqs in sorted(CONTRACT_REQS.items()):
        broken = any(f":{fn}" in line or f" {fn}(" in line for line in contracts.failures)
        verdict = "fail" if broken or contracts.error else "pass"
        items.append(activities.item("contract", f"crosshair:{fn}", verdict, contracts.claim, "contract", reqs))


def collect(opts: Options, say: Progress = print, step: Step = activities.quiet) -> dict[str, Any]:
    from controller.core.alarms import CATALOG
    from controller.core.table import TABLE, check_table
    from pumpctl.proofs.evidence.package import clean
    from pumpctl.proofs.evidence.records import records
    from pumpctl.proofs.prove import run
    from pumpctl.proofs.report import run_to_json

    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    clean(out)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    cat = load()
    check_table()
    items: activities.Items = []
    stop: list[Callable[[], object]] = []  # kills the background work if this run is interrupted
    with ThreadPoolExecutor(2) as waiters:  # a thread waits for each background process (its own time)
        try:
            tests_run = _start_tests(opts, waiters, say, step, stop)
            contracts_run = _start_contracts(waiters, step, stop)
            mutants_run = _start_mutants(opts, step, timings, stop)
            t0 = time.perf_counter()
            proofs = run(progress=step, jobs=2)  # the step and the side proofs in processes: no core idles at the end
            timings["proofs"] = time.perf_counter() - t0
            say(f"proofs: {sum(v.verdict == 'proved' for v in proofs.verdicts)}/{len(proofs.verdicts)} proved")
            _proof_items(proofs, items)
            scenarios = activities.scenarios(items, timings, say, step) if opts.scenarios else []
            bench = activities.bench(out, items, timings, say, step) if opts.bench else {
                "accuracy": None, "occlusion": None, "plots": {"trumpet": None, "occlusion": None}}
            walk = activities.walk(opts.walk_steps, opts.seed, items, timings, say, step)
            activities.inspections(items)
            mutants = mutants_run()
            if opts.mutants:
                searched = [m["id"] for m in mutants if m.get("how") != "witness"]
                say(f"mutants: {sum(m['killed'] for m in mutants)}/{len(mutants)} killed" + (
                    f"; {len(searched)} searched, their recorded witness did not check ({', '.join(searched)}): "
                    "pumpctl mutate --record-witnesses" if searched else ", every recorded witness checked"))
            _mutant_items(mutants, proofs, items)
            contracts = contracts_run.result()
            timings["crosshair"] = contracts.seconds  # its result was said when it ended
            _contract_items(contracts, items)
            tests = _finish_tests(opts, tests_run, timings, say)
            activities.test_items(tests, items)
        except BaseException:  # Ctrl-C or a failure: no process left running, no thread left waiting
            for kill in stop:
                kill()
            raise
    proofs_json = run_to_json(proofs, contracts)
    settings = {"walk_steps": opts.walk_steps, **SETTINGS}
    runs = {"tests": tests, "mutants": mutants, "scenarios": scenarios, "walk": walk,
            "obligations": proofs_json["results"]}
    results = build(cat, items, runs, TABLE, CATALOG, settings)
    results.update(_run_sections(proofs, proofs_json, mutants, tests, scenarios, bench, walk, TABLE))
    evidence: dict[str, Any] = {"format": "pumpctl-evidence/2", "results": results}
    evidence["environment"] = {
        "python": platform.python_version(), "platform": platform.platform(), "packages": _packages(),
        "git": _git(), "settings": settings,
        "seeds": {"walk": opts.seed, "scenarios": 0, "bench": 0, "hypothesis": 0},
        "tools": {"z3": proofs.z3_version, "crosshair": contracts.version},
    }
    t0 = time.perf_counter()
    step("records", 0, 1, "risk file, use errors, IEC 62304, cybersecurity")
    stable, host = records(evidence, settings)
    results.update(stable)
    evidence["environment"]["records"] = host
    timings["records"] = time.perf_counter() - t0
    step("records", 1, 1, "")
    timings["total"] = time.perf_counter() - t_all
    evidence["timings"] = {k: round(v, 2) for k, v in sorted(timings.items())}
    return evidence


def _start_tests(opts: Options, waiters: ThreadPoolExecutor, say: Progress, step: Step,
                 stop: list[Callable[[], object]]) -> Future[tuple[str, str]] | None:
    """The requirement-tagged pytest run in the background (unless skipped or taken from --junit)."""
    if not opts.tests or opts.junit is not None:
        say(f"tests: results taken from {opts.junit}" if opts.junit is not None else "tests: skipped")
        return None
    step("tests", 0, 1, "pytest -m req in the background")
    proc = activities.start_tests(opts.out)
    stop.append(proc.kill)
    done = waiters.submit(proc.communicate)
    done.add_done_callback(lambda f: step("tests", 1, 1, f"pytest exit status {proc.returncode}"))
    return done


def _finish_tests(opts: Options, tests_run: Future[tuple[str, str]] | None, timings: dict[str, float],
                  say: Progress) -> list[dict[str, Any]]:
    if tests_run is None and opts.junit is None:
        return []
    t0 = time.perf_counter()
    if tests_run is not None:
        log, _ = tests_run.result()
        (opts.out / "pytest.log").write_text(log)
    else:
        assert opts.junit is not None
        (opts.out / "junit.xml").write_bytes(opts.junit.read_bytes())
    tests = activities.parse_junit(opts.out / "junit.xml")
    timings["tests_wait"] = time.perf_counter() - t0
    say(f"tests: {len(tests)} tests carrying requirement ids, {sum(t['outcome'] == 'failed' for t in tests)} failed")
    return tests


def _start_contracts(waiters: ThreadPoolExecutor, step: Step, stop: list[Callable[[], object]]) -> Future[Any]:
    from pumpctl.proofs.contracts import finish_crosshair, start_crosshair

    step("contracts", 0, 1, "CrossHair in the background")
    per_condition = SETTINGS["crosshair_per_condition_s"]
    started = start_crosshair(per_condition)
    if started[0] is not None:
        stop.append(started[0].kill)
    done = waiters.submit(finish_crosshair, started, per_condition)
    done.add_done_callback(lambda f: step("contracts", 1, 1, f"CrossHair: {f.result().claim}" if f.exception() is None
                                          else f"failed: {f.exception()}"))
    return done


def _start_mutants(opts: Options, step: Step, timings: dict[str, float],
                   stop: list[Callable[[], object]]) -> Callable[[], list[dict[str, Any]]]:
    """Every mutant in one spawned process from the start (patches never leak into this one);
    returns the function that waits for them, in the order of ``MUTANTS``."""
    if not opts.mutants:
        return list
    from pumpctl.proofs.mutants import MUTANTS

    ids = [m.id for m in MUTANTS]
    got: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()

    def each(m: dict[str, Any]) -> None:  # in the pool's result thread
        got[m["id"]] = m
        if len(got) == len(ids):
            timings["mutants"] = time.perf_counter() - t0
        step("mutants", len(got), len(ids), f"{m['id']} {'killed' if m['killed'] else 'SURVIVED'}")

    step("mutants", 0, len(ids), "in a second process, each must be refuted")
    pool = multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=8)
    stop.append(pool.terminate)
    pending = [pool.apply_async(evaluate_mutant, (i,), callback=each) for i in ids]

    def wait() -> list[dict[str, Any]]:
        for p in pending:
            p.get()
        pool.close()
        pool.join()
        return [got[i] for i in ids]

    return wait


def _generated_campaign() -> dict[str, Any] | None:
    """The recorded generated mutation campaign (``pumpctl mutate --generated --record``), with
    whether it is current (every mutated source unchanged since it ran). Not re-run by verify: it
    costs minutes per mutant; an outdated record is shown as outdated, never as current."""
    from pumpctl.proofs import mutagen

    data, current = mutagen.recorded()
    if data is None:
        return None
    keep = ("mutants", "sites", "killed_by_proof", "killed_by_test", "survivors", "equivalent", "unexplained")
    return {**{k: data.get(k) for k in keep}, "current": current,
            "outcomes": [{k: o[k] for k in ("id", "text", "verdict", "by")} for o in data.get("outcomes", [])]}


def _run_sections(proofs: Any, proofs_json: dict[str, Any], mutants: list[dict[str, Any]],
                  tests: list[dict[str, Any]], scenarios: list[dict[str, Any]], bench: dict[str, Any],
                  walk: dict[str, Any], table: Any) -> dict[str, Any]:
    """What each activity produced, in full, for the appendices (every one renders what is here)."""
    from controller.core.state import LATCHED, STATES
    from pumpctl.proofs.report import _trace_json, cex_toml

    edges = sorted(({"source": s, "dest": row.dest_for(s), "label": row.label}
                    for row in table for s in row.sources if row.dest_for(s) != s),
                   key=lambda e: (e["source"], e["dest"], e["label"]))
    return {"obligations": proofs_json["results"], "crosshair": proofs_json.get("crosshair"),
            "wellformed": proofs_json.get("wellformed"),
            "mutants": sorted(mutants, key=lambda m: m["id"]),
            "generated_mutants": _generated_campaign(),
            "tests": [{k: v for k, v in t.items() if k != "coverage"} | {"coverage": t["coverage"]} for t in tests],
            "scenarios": scenarios, "bench": bench, "walk": walk,
            "table": {"rows": len(table), "states": list(STATES), "latched": list(LATCHED), "edges": edges,
                      "labels": [f"{r.label}@{'/'.join(r.sources)}" for r in table]},
            "counterexamples": [{"obligation": v.id, "scenario": cex_toml(v), "trace": _trace_json(v.trace)}
                                for v in proofs.verdicts if v.trace]}
