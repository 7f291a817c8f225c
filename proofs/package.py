"""Writing the evidence package: evidence.json (byte-stable results), report, SARIF, SBOM,
manifest.

Rules
1. ``evidence.json`` is written with sorted keys and a fixed layout; ``results`` holds no
   time, path or host-dependent value, so two runs on one commit give identical results.
2. The manifest is written last and covers every input and every other artefact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def inputs() -> list[Path]:
    """The files the evidence is about: specifications, the controller and the proof tooling."""
    pats = ["specs/*.toml", "specs/*.py", "specs/evidence.lock", "specs/scenarios/*.toml",
            "specs/scenarios/libraries/*.toml", "controller/*.py", "controller/drivers/*.py", "proofs/*.py",
            "pyproject.toml"]
    return sorted({p for pat in pats for p in ROOT.glob(pat) if p.is_file()})


def write_package(evidence: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "evidence.json", out / "results.json"]
    written[0].write_text(dump(evidence))
    written[1].write_text(dump(evidence["results"]))  # the byte-stable part alone, easy to diff
    try:
        from proofs import artefacts, render
    except ImportError:  # the presentation layer is optional in a minimal install
        return written
    written.append(render.render_html(evidence, out))
    pdf = out / "report.pdf"
    if render.render_pdf(written[-1], pdf):
        written.append(pdf)
    artefacts.write_sarif(evidence, out / "counterexamples.sarif")
    artefacts.write_sbom(out / "sbom.cdx.json")
    written += [out / "counterexamples.sarif", out / "sbom.cdx.json"]
    artefacts.write_manifest(out, inputs(), ROOT)
    written.append(out / "manifest.sha256")
    return written
