"""The IEC 62366 use-error analysis, from ``specs/use_errors.toml`` and this run's verdicts.

Theory of operation
-------------------
Each use error names the hazards it can lead to and its controls (a requirement, how it acts:
prevent, detect or inform, and how). ``analysis`` joins each control to its requirement's
verdict in this run; a control whose requirement is not in ``specs/requirements.toml`` yet is
shown as *planned* (never claimed, never a crash), and an unknown hazard is a finding. A use
error is *controlled* when at least one prevent or detect control is verified, *partly
controlled* when only inform controls are, *not controlled* otherwise.

Rules
1. Tolerant: missing data gives findings, not exceptions.
2. Verdicts are the collector's; this module only joins them.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

USE_ERRORS = Path(__file__).resolve().parents[2] / "specs" / "use_errors.toml"


def read(path: Path = USE_ERRORS) -> list[dict[str, Any]]:
    return list(tomllib.loads(path.read_text(encoding="utf-8")).get("use_error", [])) if path.is_file() else []


def analysis(results: Mapping[str, Any], rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    rows = read() if rows is None else rows
    reqs = {str(r["id"]): r for r in results.get("requirements") or []}
    hazards = {str(h["id"]) for h in results.get("hazards") or []}
    out, findings = [], []
    for ue in rows:
        uid = str(ue.get("id", "?"))
        controls = []
        for c in ue.get("controls") or []:
            rid = str(c.get("requirement", "?"))
            req = reqs.get(rid)
            verdict = str(req.get("verdict")) if req else "planned"
            if req is None:
                findings.append(f"{uid}: control {rid} is not yet in specs/requirements.toml (shown as planned)")
            controls.append({"requirement": rid, "acts": str(c.get("acts", "?")), "how": str(c.get("how", "")),
                             "verdict": verdict, "defined": req is not None,
                             "title": str(req.get("title", "")) if req else "planned requirement"})
        for h in ue.get("hazards") or []:
            if h not in hazards:
                findings.append(f"{uid}: hazard {h} is not in specs/hazards.toml")
        strong = [c for c in controls if c["verdict"] == "verified" and c["acts"] in ("prevent", "detect")]
        weak = [c for c in controls if c["verdict"] == "verified"]
        status = "controlled" if strong else "partly controlled" if weak else "not controlled"
        out.append({"id": uid, "task": ue.get("task", ""), "error": ue.get("error", ""), "kind": ue.get("kind", ""),
                    "hazards": list(ue.get("hazards") or []), "controls": controls, "status": status,
                    "residual": ue.get("residual", "")})
    return {"use_errors": out, "findings": findings,
            "counts": {s: sum(u["status"] == s for u in out) for s in ("controlled", "partly controlled",
                                                                       "not controlled")}}
