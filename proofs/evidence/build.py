"""The join: evidence items to the specification, and every verdict (pure).

Theory of operation
-------------------
``build`` receives the items every activity produced and the specification, and decides:

1. which item counts for which requirement (``credit``: stateful and random items by their
   coverage, the rest as tagged); refused items are kept beside the requirement with the
   reason;
2. each requirement's verdict: *verified* when every method its entry asks for has counted,
   passing evidence, nothing about it failed and its text is unchanged since review
   (``specs/evidence.lock``); *partial*, *unverified*, *failed*, or *planned* otherwise;
3. each hazard claim: *supported* when every control is verified, *partial* when the only
   gaps are planned controls (shown, never claimed), *unsupported* or *failed* otherwise;
4. the one verdict, which states both results: the requirements (this decides the exit code,
   as before) and the assurance case with the hazards not supported, worst severity first.

Rules
1. ``results`` holds verdicts only: sorted, no times, no host paths; two runs on one commit give
   the same bytes.
2. Nothing is inferred that was not run: a skipped activity leaves its methods missing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pumpctl.proofs.evidence import credit, scope

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "specs" / "evidence.lock"
SEVERITY = ("catastrophic", "critical", "serious", "minor")


def read_lock() -> dict[str, str]:
    return dict(json.loads(LOCK.read_text())) if LOCK.exists() else {}


def _requirement_verdict(r: Any, ev: list[dict[str, Any]], missing: list[str], outdated: bool) -> str:
    if r.status != "implemented":
        return "planned"
    if any(e["verdict"] == "fail" for e in ev):
        return "failed"
    if not ev:
        return "unverified"
    if missing or outdated or any(e["verdict"] == "unknown" for e in ev):
        return "partial"
    return "verified"


def _hazard_verdict(controls: list[str], vmap: Mapping[str, str]) -> tuple[str, list[str]]:
    unsupported = [c for c in controls if vmap.get(c) != "verified"]
    gap = [c for c in unsupported if vmap.get(c) != "planned"]
    verdict = ("failed" if any(vmap.get(c) == "failed" for c in controls)
               else "supported" if not unsupported
               else "partial" if not gap  # every gap is a planned control: shown, not claimed
               else "unsupported")
    return verdict, unsupported


def assurance(hazards: list[dict[str, Any]]) -> dict[str, Any]:
    """The top goal G0 over every hazard claim, with the claims not supported by severity."""
    supported = [h for h in hazards if h["verdict"] == "supported"]
    by: dict[str, list[str]] = {s: [] for s in SEVERITY}
    for h in hazards:
        if h["verdict"] != "supported":
            by.setdefault(str(h["severity"]), []).append(h["id"])
    status = ("supported" if hazards and len(supported) == len(hazards)
              else "failed" if any(h["verdict"] == "failed" for h in hazards)
              else "not supported" if any(h["verdict"] == "unsupported" for h in hazards) or not hazards
              else "partial")
    return {"status": status, "supported": len(supported), "total": len(hazards),
            "by_severity": {k: sorted(v) for k, v in by.items() if v},
            "partial": sorted(h["id"] for h in hazards if h["verdict"] == "partial"),
            "unsupported": sorted(h["id"] for h in hazards if h["verdict"] in ("unsupported", "failed"))}


def headline(ok: bool, verified: int, claimed: int, case: Mapping[str, Any], planned: int) -> str:
    gaps = "; ".join(f"{sev} {', '.join(ids)}" for sev, ids in case["by_severity"].items())
    case_text = (f"assurance case {str(case['status']).upper()}: {case['supported']} of {case['total']} hazard "
                 f"claims supported" + (f" (not supported: {gaps})" if gaps else ""))
    return (f"{'PASS' if ok else 'FAIL'}: {verified} of {claimed} implemented safety requirements verified; "
            f"{case_text}; {planned} planned requirements not claimed")


def credit_items(cat: Any, items: list[dict[str, Any]], table: Any, catalog: Any
                 ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]], list[dict[str, str]]]:
    """(counted, refused, orphaned): per requirement, the items that count and those refused."""
    tg = credit.targets([r.id for r in cat.requirements], table, catalog, credit.read_extra())
    counted: dict[str, list[dict[str, Any]]] = {r.id: [] for r in cat.requirements}
    refused: dict[str, list[dict[str, Any]]] = {r.id: [] for r in cat.requirements}
    orphaned = []
    for it in items:
        shown = {k: v for k, v in it.items() if k not in ("reqs", "coverage")}
        for rid in it["reqs"]:
            if rid not in counted:
                orphaned.append({"evidence": it["id"], "cites": rid})
                continue
            ok, why = credit.judge(it, tg.get(rid))
            (counted if ok else refused)[rid].append({**shown, "credit": why})
    return counted, refused, orphaned


def label_items(items: list[dict[str, Any]], settings: Mapping[str, Any]) -> None:
    data = scope.read_scope()
    for it in items:
        it["strength"], it["scope"] = scope.label(it, settings, data)


def build(cat: Any, items: list[dict[str, Any]], runs: Mapping[str, Any], table: Any, catalog: Any,
          settings: Mapping[str, Any]) -> dict[str, Any]:
    """Join evidence items to the catalog and compute every verdict (pure but for the lock file)."""
    label_items(items, settings)
    lock = read_lock()
    counted, refused, orphaned = credit_items(cat, items, table, catalog)
    reqs_out = []
    for r in cat.requirements:
        ev = sorted(counted[r.id], key=lambda e: (e["type"], e["id"]))
        covered = sorted({e["method"] for e in ev if e["verdict"] == "pass"})
        missing = [m for m in r.verification if m not in covered]
        outdated = lock.get(r.id) != r.text_sha256
        reqs_out.append({"id": r.id, "title": r.title, "text": r.text, "text_sha256": r.text_sha256, "kind": r.kind,
                         "safety": r.safety, "status": r.status, "sources": list(r.sources),
                         "hazards": list(r.hazards), "decisions": list(r.decisions),
                         "verification": list(r.verification), "rationale": r.rationale, "evidence": ev,
                         "refused": sorted(refused[r.id], key=lambda e: (e["type"], e["id"])),
                         "methods_covered": covered, "methods_missing": missing, "outdated": outdated,
                         "verdict": _requirement_verdict(r, ev, missing, outdated)})
    vmap = {r["id"]: r["verdict"] for r in reqs_out}
    hazards = []
    for h in cat.hazards:
        verdict, unsupported = _hazard_verdict(list(h.controls), vmap)
        hazards.append({"id": h.id, "title": h.title, "category": h.category, "harm": h.harm,
                        "severity": h.severity, "causes": list(h.causes), "controls": list(h.controls),
                        "verdict": verdict, "unsupported_controls": unsupported})
    claimed = [r for r in reqs_out if r["safety"] and r["status"] == "implemented"]
    failed = sorted(r["id"] for r in claimed if r["verdict"] == "failed")
    unverified = sorted(r["id"] for r in claimed if r["verdict"] not in ("verified", "failed"))
    tests, mutants, scenarios = runs["tests"], runs["mutants"], runs["scenarios"]
    n_tests_failed = sum(t["outcome"] == "failed" for t in tests)
    ok = (not failed and not unverified and n_tests_failed == 0 and all(m["killed"] for m in mutants)
          and all(s["passed"] for s in scenarios) and not runs["walk"]["violations"])
    planned = sorted(r["id"] for r in reqs_out if r["status"] != "implemented")
    case = assurance(hazards)
    n_verified = len(claimed) - len(failed) - len(unverified)
    obligations = runs["obligations"]
    head = {"pass": ok, "summary": headline(ok, n_verified, len(claimed), case, len(planned)),
            "requirements": {"pass": ok, "verified": n_verified, "total": len(claimed)}, "assurance": case,
            "safety_requirements": len(claimed), "verified": n_verified, "failed": failed,
            "unverified": unverified, "planned": planned,
            "obligations": {"proved": sum(o["verdict"] == "proved" for o in obligations), "total": len(obligations)},
            "mutants": {"killed": sum(m["killed"] for m in mutants), "total": len(mutants)},
            "scenarios": {"passed": sum(s["passed"] for s in scenarios), "total": len(scenarios)},
            "tests": {"passed": sum(t["outcome"] == "passed" for t in tests), "failed": n_tests_failed,
                      "total": len(tests)},
            "refused": sum(len(v) for v in refused.values())}
    return {"verdict": head, "requirements": reqs_out, "hazards": hazards,
            "decisions": [{"id": d.id, "topic": d.topic, "options": list(d.options), "decision": d.decision,
                           "reason": d.reason, "requirements": list(d.requirements)} for d in cat.decisions],
            "coverage": {"covered": sorted(r["id"] for r in reqs_out if r["verdict"] == "verified"),
                         "uncovered": sorted(r["id"] for r in reqs_out if not r["evidence"]),
                         "orphaned": sorted(orphaned, key=lambda o: (o["cites"], o["evidence"])),
                         "outdated": sorted(r["id"] for r in reqs_out if r["outdated"]),
                         "refused": sorted({r["id"] for r in reqs_out if r["refused"]})},
            "known_ids": sorted(cat.ids)}
