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

ROOT = Path(__file__).resolve().parents[2]


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


GENERATED = ("evidence.json", "results.json", "report.html", "report.pdf", "proofs.sarif", "sbom.cdx.json",
             "manifest.sha256", "junit.xml", "pytest.log")
GENERATED_DIRS = ("plots", "counterexamples")


def clean(out: Path) -> None:
    """Remove what an earlier run generated, so the manifest never certifies a stale file."""
    import shutil

    for name in GENERATED:
        (out / name).unlink(missing_ok=True)
    for name in GENERATED_DIRS:
        shutil.rmtree(out / name, ignore_errors=True)


def write_package(evidence: dict[str, Any], out: Path) -> list[Path]:
    """evidence.json, results.json, report.html (+ PDF when WeasyPrint is there), SARIF, SBOM, and
    the manifest over every input and artefact (written last)."""
    from proofs.evidence.artefacts import input_files, write_manifest, write_sarif, write_sbom
    from proofs.evidence.render import render_html, render_pdf

    out.mkdir(parents=True, exist_ok=True)
    written = [out / "evidence.json", out / "results.json"]
    written[0].write_text(dump(evidence))
    written[1].write_text(dump(evidence["results"]))  # the byte-stable part alone, easy to diff
    cex = out / "counterexamples"
    for c in evidence["results"]["counterexamples"]:
        cex.mkdir(exist_ok=True)
        (cex / f"cex-{c['obligation']}.toml").write_text(c["scenario"])
    html = render_html(evidence, out)
    written.append(html)
    if render_pdf(html, out / "report.pdf"):
        written.append(out / "report.pdf")
    write_sarif(evidence, out / "proofs.sarif")
    write_sbom(out / "sbom.cdx.json")
    written += [out / "proofs.sarif", out / "sbom.cdx.json"]
    write_manifest(out, input_files(ROOT), ROOT)
    written.append(out / "manifest.sha256")
    return written
