"""Writing the evidence package: evidence.json (byte-stable results), report, SARIF, SBOMs,
manifest and its signature.

Rules
1. ``evidence.json`` is written with sorted keys and a fixed layout; ``results`` holds no
   time, path or host-dependent value, so two runs on one commit give identical results.
2. The manifest is written after every other artefact and covers them all and every input;
   its signature and public key come last and are not in it (they sign it).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


GENERATED = ("evidence.json", "results.json", "report.html", "report.pdf", "proofs.sarif", "sbom.cdx.json",
             "sbom-runtime.cdx.json", "sbom-tooling.cdx.json", "manifest.sha256", "manifest.sha256.sig",
             "manifest.pub.pem", "junit.xml", "pytest.log")
GENERATED_DIRS = ("plots", "counterexamples")


def clean(out: Path) -> None:
    """Remove what an earlier run generated, so the manifest never certifies a stale file."""
    for name in GENERATED:
        (out / name).unlink(missing_ok=True)
    for name in GENERATED_DIRS:
        shutil.rmtree(out / name, ignore_errors=True)


def generated_files(out: Path) -> list[Path]:
    """Every file this run wrote in ``out`` (``clean`` removed them all before it started): the
    package, the plots, the counterexamples, the test run's JUnit XML and log."""
    files = [out / name for name in GENERATED if (out / name).is_file()]
    return files + sorted(p for d in GENERATED_DIRS for p in (out / d).rglob("*") if p.is_file())


def write_package(evidence: dict[str, Any], out: Path, sign_key: Path | None = None,
                  pdf: bool = False) -> list[Path]:
    """evidence.json, results.json, report.html (+ PDF when a renderer is there), SARIF, SBOMs, the
    manifest over every input and artefact, and its Ed25519 signature."""
    from pumpctl.proofs.evidence import signing
    from pumpctl.proofs.evidence.artefacts import input_files, write_manifest, write_sarif
    from pumpctl.proofs.evidence.render import render_html, render_pdf
    from pumpctl.proofs.evidence.sbom import write_sboms

    out.mkdir(parents=True, exist_ok=True)
    signer = signing.signer(sign_key)
    evidence["environment"]["signature"] = (
        {"algorithm": "ed25519", "key_id": signer.key_id, "ephemeral": signer.ephemeral, "source": signer.source,
         "public_key": signer.public_pem.decode(), "files": [signing.SIG, signing.PUB]} if signer is not None
        else {"algorithm": None, "note": "not signed: the optional 'cryptography' package is not installed"})
    written = [out / "evidence.json", out / "results.json"]
    written[0].write_text(dump(evidence))
    written[1].write_text(dump(evidence["results"]))  # the byte-stable part alone, easy to diff
    cex = out / "counterexamples"
    for c in evidence["results"].get("counterexamples") or []:
        cex.mkdir(exist_ok=True)
        (cex / f"cex-{c['obligation']}.toml").write_text(c["scenario"])
    html = render_html(evidence, out)
    written.append(html)
    if render_pdf(html, out / "report.pdf", use_chromium=pdf):
        written.append(out / "report.pdf")
    write_sarif(evidence, out / "proofs.sarif")
    written += [out / "proofs.sarif", *write_sboms(out)]
    write_manifest(out, input_files(ROOT), ROOT)
    written.append(out / "manifest.sha256")
    if signer is not None:
        written += signing.sign(out, signer)
    return written
