"""The evidence report read like a reviewer would: verdict first, red where unsupported, every
cell with words, every counterexample in full, nothing fetched from anywhere."""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from pumpctl.proofs.evidence.render import render_html, render_pdf
from tests.evidence.conftest import parse, words
from tests.evidence.sample import CEX_TOML, HOSTILE, LONG_TEST

SECTIONS = ["verdict", "scope", "case", "matrix", "credit", "coverage", "hazards", "risk", "use-errors", "iec62304",
            "security", "states", "bench", "counterexamples", "environment", "appendix"]
RED = "#c62828"


class Matrix(HTMLParser):
    """Rows of the traceability matrix: requirement id -> [(css class, cell text)], and the line of
    evidence ids under each requirement (a ``tr class="ids"`` row) -> its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: dict[str, list[tuple[str, str]]] = {}
        self.ids: dict[str, str] = {}
        self.inside = False
        self.row: list[tuple[str, str]] | None = None
        self.row_cls = ""
        self.cell: list[str] | None = None
        self.cls = ""
        self.last = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self.inside = "matrix" in (a.get("class") or "")
        elif self.inside and tag == "tr":
            self.row, self.row_cls = [], a.get("class") or ""
        elif self.inside and tag == "td" and self.row is not None:
            self.cell, self.cls = [], a.get("class") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False
        elif tag == "td" and self.cell is not None and self.row is not None:
            self.row.append((self.cls, " ".join("".join(self.cell).split())))
            self.cell = None
        elif tag == "tr" and self.row:
            if self.row_cls == "ids":
                self.ids[self.last] = " ".join(text for _, text in self.row if text)
            else:
                self.last = self.row[0][1]
                self.rows[self.last] = self.row
            self.row = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def matrix(html: str) -> dict[str, dict[str, tuple[str, str]]]:
    m = Matrix()
    m.feed(html)
    heads = ["id", "title", "safety", "verdict", "proof", "contract", "stateful", "unit", "scenario", "bench",
             "inspection"]
    return {rid: dict(zip(heads, cells, strict=True)) for rid, cells in m.rows.items()}


def matrix_ids(html: str) -> dict[str, str]:
    m = Matrix()
    m.feed(html)
    return m.ids


def svg_of(html: str, label_start: str) -> str:
    i = html.index(f'aria-label="{label_start}')
    return html[html.rindex("<svg", 0, i): html.index("</svg>", i)]


def test_the_html_is_well_formed(sample: tuple[dict[str, Any], Path, str]) -> None:
    page = parse(sample[2])
    assert page.errors == []
    assert page.stack == ["html"] or page.stack == []  # </html> closes the root


def test_sections_come_in_the_documented_order(sample: tuple[dict[str, Any], Path, str]) -> None:
    ids = [i for i in parse(sample[2]).ids if i in SECTIONS]
    assert ids == SECTIONS


def test_the_verdict_is_first_and_complete(sample: tuple[dict[str, Any], Path, str]) -> None:
    html = sample[2]
    head = words(html[: html.index('id="scope"')])
    # both results, side by side: the requirements and the assurance case with its gaps by severity
    assert "FAIL: 4 of 7 implemented safety requirements verified; assurance case FAILED: 1 of 3 hazard claims" in head
    assert "Requirements: FAIL" in head and "Assurance case G0: FAILED: 1 of 3 hazard claims supported" in head
    assert "Not supported, catastrophic: HAZ-OVR-002" in head and "Not supported, serious: HAZ-UND-001" in head
    for figure in ("4 / 7 safety requirements verified", "1 safety requirements failed",
                   "2 safety requirements unverified", "2 / 4 proof obligations proved", "2 / 3 mutants killed",
                   "2 / 3 scenarios passed", "3 / 5 tests passed"):
        assert figure in head
    assert "01a234d5e6f7" in head and "DIRTY" in head


def test_a_passing_run_says_pass_and_still_shows_a_partial_case(tmp_path: Path,
                                                                sample: tuple[dict[str, Any], Path, str]) -> None:
    ev = copy.deepcopy(sample[0])
    ev["results"]["verdict"].update({"pass": True, "summary": "PASS: every safety requirement verified"})
    ev["results"]["verdict"]["assurance"].update(status="partial", by_severity={"critical": ["HAZ-UND-001"]})
    ev["environment"]["git"]["dirty"] = False
    html = render_html(ev, tmp_path).read_text()
    assert '<div class="banner v-ok">PASS<small>requirements</small></div>' in html and "clean" in html
    # never a PASS alone above a partial case
    assert '<div class="banner second v-warn">PARTIAL<small>assurance case</small></div>' in html
    assert "requirements PASS, assurance case PARTIAL" in html


def test_unsupported_and_failed_claims_are_red_and_say_so(sample: tuple[dict[str, Any], Path, str]) -> None:
    html = sample[2]
    und = svg_of(html, "Assurance argument for HAZ-UND-001")
    assert RED in und and "UNSUPPORTED" in und
    assert "REQ-FLT-004 · UNVERIFIED" in und and "missing: proof" in und
    assert "REQ-XXX-999 · NOT FOUND" in und
    # a partial requirement that the hazard lists as unsupported is red there, with its own word
    occ = und[und.index("REQ-OCC-003 · PARTIAL") - 600: und.index("REQ-OCC-003 · PARTIAL")]
    assert RED in occ
    ovr = svg_of(html, "Assurance argument for HAZ-OVR-002")
    assert "FAILED" in ovr and "proof: FAIL 1/1" in ovr
    ok = svg_of(html, "Assurance argument for HAZ-ALM-001")
    assert RED not in ok and "SUPPORTED" in ok
    overview = svg_of(html, "Assurance case overview")
    assert "1 of 3 hazard claims supported" in overview and "NOT SUPPORTED" in overview


def test_matrix_cells_carry_words_not_only_colour(sample: tuple[dict[str, Any], Path, str]) -> None:
    m = matrix(sample[2])
    assert set(m) == {q["id"] for q in sample[0]["results"]["requirements"]}
    # the verdict of each method as words (not only a colour, not a hover title)
    assert m["REQ-DOS-004"]["proof"] == ("cell v-bad", "FAIL 1/1 *")
    assert m["REQ-DOS-004"]["unit"] == ("cell v-bad", "FAIL 1/1 *")
    assert m["REQ-DOS-004"]["scenario"] == ("cell v-ok", "pass 1 *")
    assert m["REQ-DEL-001"]["proof"] == ("cell v-ok", "pass 2 *")
    assert m["REQ-FLT-004"]["proof"] == ("cell v-bad", "MISSING *")
    assert m["REQ-OCC-003"]["bench"] == ("cell v-bad", "MISSING *")
    assert m["REQ-LOG-001"]["unit"] == ("cell v-na", "planned *")
    assert m["REQ-ALM-003"]["inspection"] == ("cell v-ok", "pass 1 *")
    assert not [a for a in parse(sample[2]).attrs if a[0] == "td" and a[1] == "title"]  # no hover-only ids
    assert m["REQ-DEL-001"]["bench"] == ("cell none", "·")
    assert m["REQ-DOS-004"]["verdict"][1] == "failed" and "v-bad" in m["REQ-DOS-004"]["verdict"][0]
    assert "outdated" in m["REQ-ALM-004"]["title"][1]


def test_the_matrix_lists_every_item_id_with_its_own_strength(sample: tuple[dict[str, Any], Path, str]) -> None:
    ids = matrix_ids(sample[2])
    assert ids["REQ-DOS-004"] == ("proof: STEP-DOS-004 (fail) [refuted] unit: tests/test_core_examples.py::test_window "
                                  "(fail) [examples] scenario: dose_limit.toml [simulated]")
    assert ids["REQ-DEL-001"].startswith("proof: INV-DEL-001 [proved] M03-vtbi-off-by-one [bounded] stateful: ")
    assert f"unit: {LONG_TEST} [examples]" in ids["REQ-DEL-001"]
    assert ids["REQ-ALM-003"] == "inspection: DEC-020 [inspected]"
    assert "REQ-FLT-004" not in ids and "REQ-LOG-001" not in ids  # nothing counted, no line
    for q in sample[0]["results"]["requirements"]:  # every counted item, each with its own label
        for e in q["evidence"]:
            assert f"{e['id']}{' (' + e['verdict'] + ')' if e['verdict'] != 'pass' else ''} [{e['strength']}]" \
                in ids[q["id"]], e["id"]
    # each id is one unbreakable span; a long one elsewhere breaks only after / or ::
    html = sample[2]
    assert f'<span class="id">{LONG_TEST}</span>' in html
    assert ('<span class="idb"><span class="id">tests/</span><wbr><span class="id">drivers/</span><wbr>'
            '<span class="id">test_harvard_protocol.py::</span><wbr>') in html
    assert '<a class="id" href="#req-REQ-DEL-001">REQ-DEL-001</a>' in html
    css = html[html.index("<style>"): html.index("</style>")]
    assert ".id { white-space: nowrap; }" in css and "overflow-wrap: anywhere" not in css.split(".id {")[1][:80]


def test_no_setting_the_report_prints_is_unknown(sample: tuple[dict[str, Any], Path, str]) -> None:
    text = words(sample[2][sample[2].index('id="scope"'): sample[2].index('id="case"')])
    assert "depth ?" not in text and "k=?" not in text and " ? s " not in text
    assert "mutants must be refuted within depth 8" in text


def test_coverage_lists_orphans_and_outdated(sample: tuple[dict[str, Any], Path, str]) -> None:
    html = sample[2]
    cov = words(html[html.index('id="coverage"'): html.index('id="hazards"')])
    assert "tests/test_old.py::test_legacy cites REQ-OLD-999, not a requirement" in cov
    assert "REQ-ALM-004: text changed since its evidence was reviewed" in cov
    assert "3 uncovered requirements" in cov


def test_every_counterexample_is_shown_in_full(sample: tuple[dict[str, Any], Path, str]) -> None:
    html = sample[2]
    part = html[html.index('id="counterexamples"'): html.index('id="environment"')]
    pres = re.findall(r"<pre>(.*?)</pre>", part, re.S)
    assert len(pres) == 1
    assert "".join(parse(pres[0]).text) == CEX_TOML
    text = words(part)
    for row in ("0 power-on POST", "3 start (clinician) RUNNING 1192053 0 0.000000",
                "4 tick (system) RUNNING 1192053 360000006 0.100000"):
        assert row in text
    assert "replayed on the runtime: yes" in text


def test_everything_is_escaped(sample: tuple[dict[str, Any], Path, str]) -> None:
    html = sample[2]
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert HOSTILE in "".join(parse(html).text)


def test_the_page_fetches_nothing(sample: tuple[dict[str, Any], Path, str]) -> None:
    page = parse(sample[2])
    for tag, attr, value in page.attrs:
        if attr in ("src", "href", "xlink:href", "action", "srcset", "poster"):
            assert value.startswith(("#", "data:image/png;base64,")), (tag, attr, value[:60])
        assert not re.search(r"(https?|ftp|file):|url\((?!#)", value), (tag, attr, value[:60])
    assert not [a for a in page.attrs if a[0] in ("script", "link", "iframe", "object", "embed")]
    css = sample[2][sample[2].index("<style>"): sample[2].index("</style>")]
    assert "@import" not in css and "url(" not in css


def test_bench_plots_are_embedded_or_reported_missing(sample: tuple[dict[str, Any], Path, str]) -> None:
    html = sample[2]
    imgs = [v for t, a, v in parse(html).attrs if t == "img" and a == "src"]
    assert len(imgs) == 1 and imgs[0].startswith("data:image/png;base64,iVBORw0KGgo")
    assert "Plot not produced." in html


def test_bench_figures_become_tables(sample: tuple[dict[str, Any], Path, str]) -> None:
    html = sample[2]
    text = words(html[html.index('id="bench"'): html.index('id="counterexamples"')])
    assert "accuracy · flow rate_ml_h mean_error_pct violations startup trumpet" in text
    assert "1 0.04 0 40 records (plotted) 3 records" in text
    assert "accuracy · flow · rate_ml_h 1 · trumpet window_min ep_max_pct ep_min_pct 2 3.1 -2.9" in text
    assert "0.0972" in text and "0.09720000000000001" not in text
    assert "occlusion detector rate_ml_h time_to_alarm_s bolus_ml static 1 482.8 0.0522" in text


def test_state_diagram_draws_every_state_and_transition(sample: tuple[dict[str, Any], Path, str]) -> None:
    html = sample[2]
    table = sample[0]["results"]["table"]
    diagram = svg_of(html, "State diagram")
    for state in table["states"]:
        assert f">{state}</tspan>" in diagram
    drawn = re.findall(r"<title>([A-Z]+) -&gt; ([A-Z]+):", diagram)
    into_sink = [e for e in table["edges"] if e["dest"] == "FAILSAFE"]
    assert len(drawn) == len(table["edges"]) - len(into_sink)
    assert "every state except FAILSAFE" in diagram and "motor_fault / watchdog" in diagram
    assert diagram.count(">latched</tspan>") == 2


def test_environment_is_recorded(sample: tuple[dict[str, Any], Path, str]) -> None:
    html = sample[2]
    env = words(html[html.index('id="environment"'): html.index('id="appendix"')])
    for needle in ("01a234d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1", "dirty (uncommitted changes)", "3.11.2",
                   "z3-solver 4.13.0.0", "walk_steps 20000", "hypothesis 0", "crosshair 0.0.99"):
        assert needle in env


def test_rendering_is_deterministic(tmp_path: Path, sample: tuple[dict[str, Any], Path, str]) -> None:
    a = render_html(sample[0], sample[1]).read_bytes()
    b = render_html(copy.deepcopy(sample[0]), sample[1]).read_bytes()
    assert a == b


def test_empty_evidence_renders_honestly(tmp_path: Path) -> None:
    html = render_html({"format": "pumpctl-evidence/1", "results": {}, "environment": {}}, tmp_path).read_text()
    assert parse(html).errors == []
    text = words(html)
    assert "FAIL" in text and "no hazards in the evidence" in text and "no requirements in the evidence" in text
    assert "Plot not produced." in text and "No counterexample" in text


def test_a_plot_that_is_not_a_png_is_not_embedded(tmp_path: Path, sample: tuple[dict[str, Any], Path, str]) -> None:
    ev = copy.deepcopy(sample[0])
    (tmp_path / "fake.png").write_text("<svg onload=alert(1)>")
    ev["results"]["bench"]["plots"] = {"trumpet": "fake.png", "occlusion": "gone.png"}
    html = render_html(ev, tmp_path).read_text()
    assert "not embedded: fake.png is not a PNG file" in html and "not produced (gone.png is missing)" in html
    assert "data:image" not in html


def test_pdf_needs_weasyprint(tmp_path: Path, sample: tuple[dict[str, Any], Path, str]) -> None:
    html = render_html(sample[0], tmp_path)
    pdf = tmp_path / "report.pdf"
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError):
        assert render_pdf(html, pdf) is False and not pdf.exists()
        return
    assert render_pdf(html, pdf) is True
    assert pdf.read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize("verdict", ["failed", "unverified"])
def test_a_failing_requirement_colours_its_hazard_red_even_without_the_hazard_saying_so(
        tmp_path: Path, sample: tuple[dict[str, Any], Path, str], verdict: str) -> None:
    ev = copy.deepcopy(sample[0])
    req = next(q for q in ev["results"]["requirements"] if q["id"] == "REQ-ALM-003")
    req["verdict"] = verdict
    html = render_html(ev, tmp_path).read_text()
    assert RED in svg_of(html, "Assurance argument for HAZ-ALM-001")
