"""The report opened in a real headless browser (Debian's Chromium), as a reviewer would.

Skipped where Chromium is not installed. The screenshot must be a real page: large enough,
many colours, and the red of the FAIL banner where the verdict is (top left). Printed to PDF
(as a reviewer files it), the report must keep its headline and every appendix, and in the
traceability matrix every id as one whole token (never wrapped inside), each evidence item
followed by its own strength label.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from pumpctl.proofs.evidence.render import print_with_chromium
from pumpctl.proofs.evidence.render_view import short_id

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium not installed (apt-get install chromium)")


def screenshot(html: Path, png: Path, profile: Path, size: str = "1400,2400") -> subprocess.CompletedProcess[str]:
    # every flag that could reach the network is off: the page must render from the file alone
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={size}", html.resolve().as_uri()]
    return subprocess.run(args, capture_output=True, text=True, timeout=180, env={**os.environ, "HOME": str(profile)})


def test_the_report_renders_in_chromium(tmp_path: Path, sample: tuple[dict[str, Any], Path, str]) -> None:
    _, out, _ = sample
    png = tmp_path / "report.png"
    result = screenshot(out / "report.html", png, tmp_path / "profile")
    assert result.returncode == 0 and png.exists(), result.stderr[-2000:]
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 50_000
    image = pytest.importorskip("PIL.Image")
    with image.open(png) as im:
        rgb = im.convert("RGB")
        assert rgb.size == (1400, 2400)
        colours = rgb.getcolors(maxcolors=1 << 20) or []
        assert len(colours) > 200  # text, diagrams, tiles: not a blank or single-colour page
        white = max(colours)[0]
        assert white < 0.95 * 1400 * 2400
        # the FAIL banner: #8b1a1a text on #fdecea, in the top-left corner
        banner = rgb.crop((0, 0, 300, 200))
        px = banner.tobytes()
        reds = sum(1 for i in range(0, len(px), 3) if px[i] > 120 and px[i + 1] < 60 and px[i + 2] < 60)
        assert reds > 200
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def test_the_report_printed_to_pdf_keeps_the_headline_appendices_scope_labels_and_every_id(
        tmp_path: Path, sample: tuple[dict[str, Any], Path, str]) -> None:
    pypdf = pytest.importorskip("pypdf")
    evidence, out, _ = sample
    pdf = tmp_path / "report.pdf"
    assert print_with_chromium(out / "report.html", pdf, CHROMIUM)  # what pumpctl verify --pdf runs
    assert pdf.read_bytes().startswith(b"%PDF")
    # NFKC: the PDF's fonts set "fi" as one ligature glyph
    text = unicodedata.normalize("NFKC", " ".join(" ".join((page.extract_text() or "").split())
                                                  for page in pypdf.PdfReader(pdf).pages))
    assert "FAIL: 4 of 7 implemented safety requirements verified; assurance case FAILED" in text
    for heading in ("Appendix: requirements and evidence in full", "A. Requirements", "B. Proof obligations",
                    "C. Contracts", "D. Mutation campaign", "E. Scenarios", "F. Tests with requirement ids",
                    "G. Random walk", "H. Decisions", "What is proved, and what is not", "Risk file (ISO 14971)",
                    "Use-error analysis (IEC 62366)", "IEC 62304 records", "Cybersecurity file"):
        assert heading in text, heading
    assert "depth ?" not in text
    # the matrix, read as printed: every id a whole token (no "REQ-DEL-" / "001", no "test_wind" / "ow")
    # and every evidence item followed by its own [strength] label, in its own requirement's line
    tokens = text[text.index("4. Traceability matrix"): text.index("5. Evidence credited by coverage")].split()
    reqs = evidence["results"]["requirements"]
    starts = [tokens.index(q["id"]) for q in reqs]  # each requirement id printed whole
    assert starts == sorted(starts)
    for q, start, end in zip(reqs, starts, [*starts[1:], len(tokens)], strict=True):
        row = tokens[start:end]
        for e in q["evidence"]:
            label = ([f"({e['verdict']})"] if e["verdict"] != "pass" else []) + [f"[{e['strength']}]"]
            ident = short_id(e["id"])
            assert any(row[i:i + 1 + len(label)] == [ident, *label] for i in range(len(row))), (q["id"], ident, row)
    for ob in evidence["results"]["obligations"]:
        assert ob["obligation"] in text.split()
