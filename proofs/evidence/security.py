"""The cybersecurity file: threat model, security risk assessment, SBOM, vulnerability review.

Theory of operation
-------------------
``specs/security.toml`` holds the boundary and assets, the entry points (serial link, library
provisioning, event log, command line, the IEEE 11073 SDC provider, the campaign's network
tooling, the evidence package), the threats (STRIDE
category, exploitability 1..3, the hazards they lead to, the requirements that control them)
and the vulnerability review of the runtime SOUP. ``security_file`` joins it with this run:

- each threat's security risk uses the risk file's acceptability matrix, with its worst
  hazard's severity and its exploitability standing for probability (1 -> P2, 2 -> P3,
  3 -> P4); a threat is lowered one step when at least one of its controls is *verified* in
  this run (planned controls lower nothing and are listed);
- the trace requirement -> hazard of every control is checked against ``specs/`` (a control
  not traced to the threat's hazards is a finding);
- the vulnerability review is *current* only while every reviewed version is the one installed;
- the SBOM summary (runtime and tooling parts) and the signature of the manifest come from
  ``sbom`` and ``signing``.

Rules
1. A threat without a control says so; it is never counted as controlled.
2. Tolerant of missing data: findings, not exceptions.
"""

from __future__ import annotations

import importlib.metadata as md
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SECURITY = Path(__file__).resolve().parents[2] / "specs" / "security.toml"
SEVERITY_RANK = {"catastrophic": 4, "critical": 3, "serious": 2, "minor": 1}


def read(path: Path = SECURITY) -> dict[str, Any]:
    return dict(tomllib.loads(path.read_text(encoding="utf-8"))) if path.is_file() else {}


def _cls(policy: Mapping[str, Any], severity: str | None, p: int) -> str:
    if severity is None:
        return "n/a"
    row = (policy.get("acceptability") or {}).get(severity) or ["U"] * 5
    return str(row[min(max(p, 1), 5) - 1])


def _review(data: Mapping[str, Any]) -> dict[str, Any]:
    rev = dict(data.get("vulnerability_review") or {})
    changed = []
    for name, reviewed in sorted((rev.get("versions") or {}).items()):
        try:
            now = md.version(name)
        except md.PackageNotFoundError:
            now = "not installed"
        if now != reviewed and now != "not installed":
            changed.append(f"{name}: reviewed {reviewed}, installed {now}")
    rev["changed"] = changed
    rev["status"] = "current" if not changed else "outdated: re-review the changed versions"
    return rev


def environment(data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The host-dependent part: is the vulnerability review still about the installed versions?"""
    return _review(read() if data is None else data)


def security_file(results: Mapping[str, Any], policy: Mapping[str, Any],
                  data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    data = read() if data is None else data
    reqs = {str(r["id"]): r for r in results.get("requirements") or []}
    hazards = {str(h["id"]): h for h in results.get("hazards") or []}
    entry = {str(e["id"]): e for e in data.get("entry_point") or []}
    threats, findings = [], []
    for t in data.get("threat") or []:
        tid = str(t.get("id", "?"))
        hz = [hazards[h] for h in t.get("hazards") or [] if h in hazards]
        for h in t.get("hazards") or []:
            if h not in hazards:
                findings.append(f"{tid}: hazard {h} is not in specs/hazards.toml")
        severity = max((str(h["severity"]) for h in hz), key=lambda s: SEVERITY_RANK.get(s, 0), default=None)
        expl = int(t.get("exploitability", 3))
        controls = []
        for rid in t.get("controls") or []:
            req = reqs.get(rid)
            traced = sorted(h for h in t.get("hazards") or [] if req and h in (req.get("hazards") or []))
            if req is None:
                findings.append(f"{tid}: control {rid} is not yet a requirement (planned)")
            elif not traced and t.get("hazards"):
                findings.append(f"{tid}: control {rid} is not traced to any of {', '.join(t['hazards'])}")
            controls.append({"id": rid, "verdict": str(req.get("verdict")) if req else "planned",
                             "title": str(req.get("title", "")) if req else "planned requirement",
                             "traced_to": traced})
        verified = [c for c in controls if c["verdict"] == "verified"]
        p0 = expl + 1
        p1 = max(1, p0 - 1) if verified else p0
        if t.get("entry_point") not in entry:
            findings.append(f"{tid}: entry point {t.get('entry_point')} is not in the threat model")
        threats.append({"id": tid, "entry_point": t.get("entry_point"), "stride": t.get("stride"),
                        "threat": t.get("threat"), "exploitability": expl, "hazards": list(t.get("hazards") or []),
                        "severity": severity or "n/a (no patient hazard)", "controls": controls,
                        "before": _cls(policy, severity, p0), "after": _cls(policy, severity, p1),
                        "note": t.get("note", ""),
                        "status": "controlled" if verified else ("no control" if not controls else "controls planned "
                                                                 "or unverified")})
    traces = sorted({(c["id"], h) for t in threats for c in t["controls"] for h in t["hazards"]})
    return {"model": dict(data.get("model") or {}), "entry_points": list(entry.values()), "threats": threats,
            "findings": findings, "traces": [f"{c} -> {h}" for c, h in traces],
            "review": dict(data.get("vulnerability_review") or {})}
