"""The evidence report: one self-contained HTML file (and a PDF when WeasyPrint is there).

Theory of operation
-------------------
``render_html`` turns the evidence dictionary (``pumpctl-evidence/1``, built by
``proofs/evidence.py``) into ``report.html``: a jinja2 template (``templates/``) fed with
the evidence itself plus a few derived views (``render_view``) and the diagrams, which are
inline SVG generated in Python (``render_case``, ``render_states``). Plots produced by the
bench are PNG files next to the evidence; they are embedded as ``data:`` URIs. The result
opens from a USB stick on an air-gapped reviewer's laptop: no network, no JavaScript, no
fonts or styles from anywhere but the file itself.

``render_pdf`` prints that same HTML with WeasyPrint when it is importable, so the PDF is
the HTML and never a second rendering of the evidence.

Rules
1. Everything is escaped by jinja2's autoescape; the only ``Markup`` inserted is SVG built
   by ``proofs.svg``, which escapes every text it emits.
2. Self-contained: no ``src``/``href`` leaves the page (in-page ``#anchors`` only); an image
   that is not a PNG, or is missing, is reported as such in words, never linked.
3. Deterministic: no clock, no randomness; the same evidence renders the same bytes, so the
   report can sit in ``manifest.sha256`` and be compared between runs.
4. Tolerant: a missing section renders as "none" or "not produced", never as a crash;
   verdicts are the collector's, presented here, not recomputed.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined, Environment, FileSystemLoader
from markupsafe import Markup

from pumpctl.proofs.evidence import render_view as view
from pumpctl.proofs.evidence.render_case import anchor, hazard_svg, overview_svg
from pumpctl.proofs.evidence.render_states import merge_edges, short_label, state_svg

TEMPLATES = Path(__file__).parent / "templates"
_PNG = b"\x89PNG\r\n\x1a\n"


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=ChainableUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(
        req_cls=lambda v: view.cls_of(view.REQ_CLASS, v), haz_cls=lambda v: view.cls_of(view.HAZ_CLASS, v),
        ev_cls=lambda v: view.cls_of(view.EV_CLASS, v), obl_cls=lambda v: view.cls_of(view.OBL_CLASS, v),
        strength_cls=lambda v: view.cls_of(view.STRENGTH_CLASS, v), risk_cls=lambda v: view.cls_of(view.RISK_CLASS, v),
        short_id=view.short_id, short_label=short_label, ml=view.ml, id_segments=view.id_segments)
    env.globals["anchor"] = anchor
    return env


def embed_png(rel: object, out_dir: Path) -> dict[str, str | None]:
    """A bench plot as a data URI, or the reason it is not there, in words."""
    if not rel:
        return {"uri": None, "path": None, "note": "not produced"}
    p = Path(str(rel))
    p = p if p.is_absolute() else out_dir / p
    if not p.is_file():
        return {"uri": None, "path": str(rel), "note": f"not produced ({rel} is missing)"}
    data = p.read_bytes()
    if not data.startswith(_PNG):
        return {"uri": None, "path": str(rel), "note": f"not embedded: {rel} is not a PNG file"}
    return {"uri": "data:image/png;base64," + base64.b64encode(data).decode("ascii"), "path": str(rel), "note": ""}


def _counterexamples(r: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every counterexample, from the dedicated list and from any refuted obligation not in it."""
    obligations = view.index(r.get("obligations") or [], "obligation")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    extra = [o for o in r.get("obligations") or [] if o.get("verdict") == "counterexample"]
    for c in list(r.get("counterexamples") or []) + extra:
        oid = str(c.get("obligation", "?"))
        if oid in seen:
            continue
        seen.add(oid)
        ob = obligations.get(oid, {})
        out.append({"obligation": oid, "text": ob.get("text", ""), "requirements": ob.get("requirements") or [],
                    "detail": ob.get("detail", ""), "replayed": ob.get("replayed"),
                    "scenario": c.get("scenario") or "", "rows": view.trace_rows(c.get("trace") or [])})
    return out


def _case_rows(hazards: list[Mapping[str, Any]], reqs: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The assurance case as a table: one row per (hazard claim, controlling requirement)."""
    rows = []
    for hz in hazards:
        unsupported = set(hz.get("unsupported_controls") or [])
        controls = list(hz.get("controls") or []) or [None]
        for i, rid in enumerate(controls):
            req = reqs.get(str(rid)) if rid else None
            evidence = [f"{t}: {c.text} [{', '.join(sorted(st))}]" if st else f"{t}: {c.text}"
                        for t, c, st in view.by_type_strength(req)] if req else []
            present = {view.method_of(e) for e in (req.get("evidence") or [])} if req else set()
            missing = [m for m in (req.get("methods_missing") or []) if m not in present] \
                if req and req.get("status") != "planned" else []
            verdict = str(req.get("verdict")) if req else ("not found" if rid else "no control")
            red = rid in unsupported or req is None
            rows.append({"hazard": hz, "first": i == 0, "span": len(controls), "rid": rid, "req": req,
                         "verdict": verdict, "cls": "bad" if red else view.cls_of(view.REQ_CLASS, verdict),
                         "evidence": evidence, "missing": missing})
    return rows


def _case(verdict: Mapping[str, Any], hazards: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The assurance-case half of the verdict (recomputed only for evidence that predates it)."""
    case = verdict.get("assurance")
    if case:
        return dict(case)
    from pumpctl.proofs.evidence.build import assurance

    return assurance([dict(h) for h in hazards])


def context(evidence: Mapping[str, Any], out_dir: Path) -> dict[str, Any]:
    r: Mapping[str, Any] = evidence.get("results") or {}
    reqs = list(r.get("requirements") or [])
    by_id = view.index(reqs)
    hazards = list(r.get("hazards") or [])
    verdict = r.get("verdict") or {}
    plots = (r.get("bench") or {}).get("plots") or {}
    env = evidence.get("environment") or {}
    return {
        "ev": evidence, "r": r, "env": env, "verdict": verdict, "tiles": view.tiles(verdict),
        "passed": bool(verdict.get("pass")), "reqs": reqs, "hazards": hazards,
        "overview_svg": Markup(overview_svg(hazards)),
        "hazard_svgs": [(hz, Markup(hazard_svg(hz, by_id))) for hz in hazards],
        "case_rows": _case_rows(hazards, by_id),
        "methods": view.METHODS,
        "matrix": [(q, view.matrix_row(q)) for q in reqs],
        "evidence_of": {str(q.get("id")): view.by_type(q) for q in reqs},
        "state_svg": Markup(state_svg(r.get("table") or {})),
        "transitions": merge_edges([(str(e.get("source")), str(e.get("dest")), str(e.get("label", "")))
                                    for e in (r.get("table") or {}).get("edges") or []]),
        "plots": {k: embed_png(plots.get(k), out_dir) for k in ("trumpet", "occlusion")},
        "bench_figures": {k: view.figures((r.get("bench") or {}).get(k), k) for k in ("accuracy", "occlusion")},
        "cexes": _counterexamples(r),
        "packages": sorted((env.get("packages") or {}).items(), key=lambda kv: str(kv[0]).lower()),
        "case": _case(verdict, hazards), "scope": r.get("scope") or {}, "risk": r.get("risk") or {},
        "use_errors": r.get("use_errors") or {}, "iec": r.get("iec62304") or {}, "security": r.get("security") or {},
        "host": env.get("records") or {}, "signature": env.get("signature") or {},
        "credited": [q for q in reqs if q.get("refused")],
        "commit": str((env.get("git") or {}).get("commit") or "unknown"),
        "dirty": (env.get("git") or {}).get("dirty"),
    }


def render_html(evidence: dict[str, Any], out_dir: Path) -> Path:
    """Write ``out_dir/report.html`` from the evidence and return its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html = _env().get_template("report.html.j2").render(**context(evidence, out_dir))
    path = out_dir / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> str | None:
    import shutil

    return next((p for p in (shutil.which(n) for n in CHROMIUM) if p), None)


def print_with_chromium(html_path: Path, pdf_path: Path, browser: str) -> bool:
    """Print the HTML report to PDF with headless Chromium (no network, a throw-away profile)."""
    import os
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pumpctl-chromium-") as profile:
        args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", "--no-pdf-header-footer", f"--print-to-pdf={pdf_path.resolve()}",
                html_path.resolve().as_uri()]
        r = subprocess.run(args, capture_output=True, text=True, timeout=300, env={**os.environ, "HOME": profile})
    return r.returncode == 0 and pdf_path.is_file()


def render_pdf(html_path: Path, pdf_path: Path, *, use_chromium: bool = False) -> bool:
    """Print the HTML report to PDF: with headless Chromium when asked (``pumpctl verify --pdf``) and
    installed, else with WeasyPrint when importable; False (and no file) when neither is there.

    Import failures of every kind mean "unavailable": WeasyPrint raises OSError, not
    ImportError, when its Pango/HarfBuzz system libraries are missing. Errors while
    rendering are real errors and propagate.
    """
    browser = chromium() if use_chromium else None
    if browser is not None:
        return print_with_chromium(html_path, pdf_path, browser)
    try:
        import weasyprint  # type: ignore[import-not-found, unused-ignore]
    except (ImportError, OSError):
        return False
    weasyprint.HTML(filename=str(html_path)).write_pdf(str(pdf_path))
    return True
