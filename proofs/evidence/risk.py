"""The ISO 14971 risk file, generated from ``specs/`` and this run's verdicts.

Theory of operation
-------------------
``specs/risk.toml`` holds the policy (probability and severity scales, the acceptability
matrix, how far a control's evidence lowers a probability), the plan and the benefit-risk
statement, and per hazard each cause with its controls and its probability before control.
``risk_file`` joins that with ``specs/hazards.toml`` (severity, the causes' words) and the
requirement verdicts of this run:

- a control reduces its cause's probability only when its requirement is *verified*, by
  ``policy.reduction`` for the strength of that evidence (proved > tested > simulated);
  the best control of a cause counts;
- a cause's residual risk is (severity, probability after) in the matrix; a hazard's is its
  worst cause; the overall residual risk is the worst hazard;
- every mismatch is shown, never dropped: a cause in hazards.toml with no analysis, an
  analysed cause hazards.toml no longer has, a control that is not (yet) a requirement
  (listed as planned), a control hazards.toml does not trace to the hazard.

Rules
1. Nothing here raises on incomplete data: the gaps are the findings of the risk file.
2. The probability after control is derived, never typed: the file claims what the evidence shows.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RISK_FILE = Path(__file__).resolve().parents[2] / "specs" / "risk.toml"
CLASS_ORDER = {"A": 0, "ALARP": 1, "U": 2}
TESTED = {"stateful", "unit", "contract"}


def read(path: Path = RISK_FILE) -> dict[str, Any]:
    return dict(tomllib.loads(path.read_text(encoding="utf-8"))) if path.is_file() else {}


def strength(req: Mapping[str, Any] | None) -> str:
    """How strong the evidence of a control is, for the reduction policy."""
    if req is None or req.get("verdict") != "verified":
        return "none"
    covered = set(req.get("methods_covered") or [])
    if "proof" in covered:
        return "proved"
    if covered & TESTED:
        return "tested"
    return "simulated"


def _cls(policy: Mapping[str, Any], severity: str, p: int) -> str:
    row = (policy.get("acceptability") or {}).get(severity) or ["U"] * 5
    return str(row[min(max(p, 1), 5) - 1])


def _control(rid: str, reqs: Mapping[str, Mapping[str, Any]], traced: set[str]) -> dict[str, Any]:
    req = reqs.get(rid)
    s = strength(req)
    return {"id": rid, "title": str(req.get("title", "")) if req else "not yet in specs/requirements.toml",
            "verdict": str(req.get("verdict")) if req else "planned", "strength": s,
            "defined": req is not None, "traced": rid in traced}


def risk_file(results: Mapping[str, Any], data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    data = read() if data is None else data
    policy = dict(data.get("policy") or {})
    reduction = {k: int(v) for k, v in (policy.get("reduction") or {}).items()}
    reqs = {str(r["id"]): r for r in results.get("requirements") or []}
    analysed = {str(h.get("id")): h for h in data.get("hazard") or []}
    hazards, findings = [], []
    for hz in results.get("hazards") or []:
        hid, sev = str(hz["id"]), str(hz["severity"])
        causes_in_spec = list(hz.get("causes") or [])
        rows = {str(c.get("cause")): c for c in (analysed.get(hid) or {}).get("cause") or []}
        traced = set(hz.get("controls") or [])
        causes = []
        for text in causes_in_spec:
            c = rows.get(text)
            if c is None:
                findings.append(f"{hid}: cause not analysed in specs/risk.toml: {text}")
                causes.append({"cause": text, "analysed": False, "p_before": 5, "p_after": 5, "controls": [],
                               "before": _cls(policy, sev, 5), "after": _cls(policy, sev, 5), "best": None})
                continue
            p0 = int(c.get("p_before", 5))
            controls = [_control(str(rid), reqs, traced) for rid in c.get("controls") or []]
            best = max(controls, key=lambda k: reduction.get(k["strength"], 0), default=None)
            p1 = max(1, p0 - (reduction.get(best["strength"], 0) if best else 0))
            causes.append({"cause": text, "analysed": True, "p_before": p0, "p_after": p1, "controls": controls,
                           "before": _cls(policy, sev, p0), "after": _cls(policy, sev, p1),
                           "best": best["id"] if best and reduction.get(best["strength"], 0) else None})
            for k in controls:
                if not k["defined"]:
                    findings.append(f"{hid}: control {k['id']} is not yet a requirement (planned)")
                elif not k["traced"]:
                    findings.append(f"{hid}: control {k['id']} is not in the hazard's controls in hazards.toml")
        for text in rows:
            if text not in causes_in_spec:
                findings.append(f"{hid}: analysed cause is not in hazards.toml: {text}")
        mapped = {k["id"] for c in causes for k in c["controls"]}
        for rid in sorted(traced - mapped):
            findings.append(f"{hid}: control {rid} is mapped to no cause")
        worst = max(causes, key=lambda c: (CLASS_ORDER[c["after"]], c["p_after"]), default=None)
        hazards.append({"id": hid, "title": hz.get("title"), "severity": sev, "verdict": hz.get("verdict"),
                        "causes": causes, "residual_p": worst["p_after"] if worst else 5,
                        "residual": worst["after"] if worst else "U",
                        "initial": max((c["before"] for c in causes), key=CLASS_ORDER.__getitem__, default="U")})
    for hid in analysed:
        if hid not in {h["id"] for h in hazards}:
            findings.append(f"{hid}: analysed in specs/risk.toml but not a hazard")
    counts = {k: sum(h["residual"] == k for h in hazards) for k in CLASS_ORDER}
    overall = max((h["residual"] for h in hazards), key=CLASS_ORDER.__getitem__, default="U")
    return {"policy": policy, "plan": dict(data.get("plan") or {}),
            "benefit_risk": dict(data.get("benefit_risk") or {}),
            "hazards": hazards, "findings": findings, "residual_counts": counts, "overall": overall,
            "report": _report(hazards, counts, overall, findings, data)}


def _report(hazards: list[dict[str, Any]], counts: Mapping[str, int], overall: str, findings: list[str],
            data: Mapping[str, Any]) -> list[str]:
    n_causes = sum(len(h["causes"]) for h in hazards)
    unacceptable = [h["id"] for h in hazards if h["residual"] == "U"]
    lines = [f"{len(hazards)} hazards and {n_causes} causes analysed; every cause has at least one control"
             if all(c["controls"] for h in hazards for c in h["causes"]) else
             f"{len(hazards)} hazards and {n_causes} causes; some causes have no control (see findings)",
             f"residual risk per hazard: {counts.get('A', 0)} acceptable, {counts.get('ALARP', 0)} ALARP, "
             f"{counts.get('U', 0)} unacceptable",
             f"overall residual risk: {overall}" + (f" (unacceptable: {', '.join(unacceptable)})" if unacceptable
                                                   else ""),
             f"{len(findings)} finding(s) in the risk file (mismatches between the analysis and the specification)",
             str((data.get("benefit_risk") or {}).get("statement", "no benefit-risk statement recorded"))]
    return lines
