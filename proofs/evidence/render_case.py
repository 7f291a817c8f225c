"""The safety assurance case as GSN-like inline SVG diagrams.

Theory of operation
-------------------
The argument is read straight off the evidence: the top goal ("the controller is acceptably
safe") is argued over each hazard in ``specs/hazards.toml``; each hazard claim ("HAZ-x is
adequately controlled") is argued over the requirements that control it; each requirement
is supported by its evidence (proofs, contracts, tests, scenarios, bench, mutation, walk,
inspection). Two kinds of diagram come out:

- ``overview_svg``: the top goal, its strategy and every hazard claim in a grid (each box
  links to its detail diagram);
- ``hazard_svg``: one hazard claim, left to right: goal -> strategy -> requirement goals ->
  evidence solutions, one solution node per evidence type with its summary verdict, and a
  dashed red node for every required method that has no evidence.

GSN shapes: goals are rectangles, strategies parallelograms, solutions rounded pills (the
circle of GSN, stretched to hold text), context a rounded rectangle; "supported by" is a
solid arrow.

Rules
1. Any unsupported or failed claim or requirement is red and says so in words.
2. A control id that is not a requirement is drawn red as "not found", never dropped.
3. Layout is a pure function of the evidence (fixed sizes, given order): same evidence,
   same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pumpctl.proofs.evidence import svg
from pumpctl.proofs.evidence.render_view import HAZ_CLASS, REQ_CLASS, by_type, cls_of, method_of

_GW, _SW, _RW, _PW = 230, 150, 300, 180  # goal, strategy, requirement widths; widest solution pill
_GAP, _PGAP, _ROW, _RH, _PH = 36, 16, 54, 44, 26  # column gap, pill gap, row pitch, box heights


def anchor(kind: str, ident: object) -> str:
    """In-page anchor ids shared with the HTML template (haz-HAZ-OVR-001, req-REQ-DEL-001)."""
    return f"{kind}-{ident}"


def _hazard_goal(hz: Mapping[str, Any], x: float, y: float, w: float, h: float) -> list[str]:
    c = cls_of(HAZ_CLASS, hz.get("verdict"))
    fill, stroke, ink = svg.PALETTE[c]
    claim = svg.wrap(f"{hz.get('title', '')} is adequately controlled", svg.fits(11, w - 16), 4)
    meta = f"harm: {hz.get('harm', '?')} · {hz.get('severity', '?')}"
    out = [svg.rect(x, y, w, h, fill=fill, stroke=stroke, width=2 if c == "bad" else 1.5),
           svg.text(x + 8, y + 16, [f"G: {hz.get('id', '?')}"], size=12, anchor="start", colour=ink, weight="bold"),
           svg.text(x + 8, y + 32, claim, size=11, anchor="start", colour="#212529"),
           svg.text(x + 8, y + h - 24, svg.wrap(meta, svg.fits(10, w - 16), 1), size=10, anchor="start",
                    colour="#495057"),
           svg.text(x + 8, y + h - 8, [str(hz.get("verdict", "?")).upper()], size=11, anchor="start", colour=ink,
                    weight="bold")]
    return out


def _req_goal(rid: str, req: Mapping[str, Any] | None, red: bool, x: float, y: float) -> list[str]:
    if req is None:
        c, head, title = "bad", f"{rid} · NOT FOUND", "control cites no known requirement"
    else:
        verdict = str(req.get("verdict", "?"))
        c = "bad" if red else cls_of(REQ_CLASS, verdict)
        flags = " · outdated" if req.get("outdated") else ""
        head, title = f"{rid} · {verdict.upper()}{flags}", str(req.get("title", ""))
    fill, stroke, ink = svg.PALETTE[c]
    body = [svg.rect(x, y, _RW, _RH, fill=fill, stroke=stroke, width=2 if c == "bad" else 1.5),
            svg.text(x + 8, y + 17, svg.wrap(head, svg.fits(11, _RW - 16), 1), size=11, anchor="start",
                     colour=ink, weight="bold"),
            svg.text(x + 8, y + 34, svg.wrap(title, svg.fits(11, _RW - 16), 1), size=11, anchor="start")]
    return [svg.link(anchor("req", rid), svg.tooltip(f"{rid}: {title}") + "".join(body))]


def _pills(req: Mapping[str, Any] | None, x: float, cy: float, marker: str) -> tuple[list[str], float]:
    """The solution nodes of one requirement, chained left to right; returns (svg, right edge)."""
    nodes: list[tuple[str, str, bool, str]] = []  # label, class, dashed, tooltip
    if req is not None:
        for kind, cell in by_type(req):
            nodes.append((f"{kind}: {cell.text}", cell.cls, False, cell.title))
        present = {method_of(e) for e in req.get("evidence") or []}
        for m in req.get("methods_missing") or []:
            # a method with failing evidence already shows as a red FAIL node; "missing" is for none at all
            if req.get("status") != "planned" and m not in present:
                nodes.append((f"missing: {m}", "bad", True, f"required method {m} has no evidence"))
        if not nodes:
            planned = req.get("status") == "planned"
            nodes.append(("planned" if planned else "no evidence", "na" if planned else "bad", True, ""))
    out: list[str] = []
    px = x
    for i, (label, c, dashed, tip) in enumerate(nodes):
        fill, stroke, ink = svg.PALETTE[c if c in svg.PALETTE else "na"]
        w = min(_PW, max(64, len(label) * 10 * svg.CHAR_W + 18))  # pills fit their text: more fit per row
        prev = x - _GAP + 6 if i == 0 else px - _PGAP
        out.append(svg.line(prev, cy, px - 1, cy, marker=marker))
        out.append(f"<g>{svg.tooltip(tip or label)}"
                   + svg.rect(px, cy - _PH / 2, w, _PH, fill=fill, stroke=stroke, rx=_PH / 2, dash=dashed)
                   + svg.text(px + w / 2, cy + 4, svg.wrap(label, svg.fits(10, w - 12), 1), size=10,
                              colour=ink, weight="bold" if c == "bad" else "normal") + "</g>")
        px += w + _PGAP
    return out, px - _PGAP


def hazard_svg(hz: Mapping[str, Any], reqs: Mapping[str, Mapping[str, Any]]) -> str:
    """One hazard claim argued over its controls, down to the evidence."""
    hid = str(hz.get("id", "?"))
    controls = [str(c) for c in hz.get("controls") or []]
    unsupported = {str(c) for c in hz.get("unsupported_controls") or []}
    marker = f"gsn-arrow-{hid}"
    rows = max(1, len(controls))
    height = max(rows * _ROW, 150) + 16
    gx, sx = 8, 8 + _GW + _GAP
    rx = sx + _SW + _GAP
    px0 = rx + _RW + _GAP
    cy = height / 2
    gh = 118
    body = _hazard_goal(hz, gx, cy - gh / 2, _GW, gh)
    body.append(svg.line(gx + _GW, cy, sx + 2, cy, marker=marker))
    strategy = svg.wrap(f"Argue over the {len(controls)} requirement(s) that control {hid}", svg.fits(10.5, _SW - 28),
                        4)
    body += [svg.parallelogram(sx, cy - 34, _SW, 68, fill="#ffffff", stroke="#495057"),
             svg.text(sx + _SW / 2, cy - 34 + 34 - 6.5 * (len(strategy) - 1) + 4, strategy, size=10.5,
                      colour="#343a40")]
    top = cy - rows * _ROW / 2
    right: float = px0
    if not controls:
        fill, stroke, ink = svg.PALETTE["bad"]
        body += [svg.line(sx + _SW, cy, rx, cy, marker=marker),
                 svg.rect(rx, cy - _RH / 2, _RW, _RH, fill=fill, stroke=stroke, dash=True, width=2),
                 svg.text(rx + _RW / 2, cy + 4, ["no controlling requirement: UNSUPPORTED"], size=11, colour=ink,
                          weight="bold")]
        right = rx + _RW
    for i, rid in enumerate(controls):
        ry = top + i * _ROW + (_ROW - _RH) / 2
        rcy = ry + _RH / 2
        mid = sx + _SW + _GAP / 2
        body.append(svg.path(f"M{svg.num(sx + _SW - 7)},{svg.num(cy)} H{svg.num(mid)} V{svg.num(rcy)} "
                             f"H{svg.num(rx - 1)}", marker=marker))
        req = reqs.get(rid)
        # a planned control is shown (grey, "planned"), never claimed; anything else unsupported is red
        red = req is None or (rid in unsupported and req.get("verdict") != "planned")
        body += _req_goal(rid, req, red, rx, ry)
        pills, edge = _pills(req, px0, rcy, marker)
        body += pills
        right = max(right, edge)
    width = right + 8
    label = f"Assurance argument for {hid}: {hz.get('title', '')} ({hz.get('verdict', '?')})"
    return svg.document(width, height, body, label=label, defs=[svg.arrowhead(marker)])


def overview_svg(hazards: list[Mapping[str, Any]], *, cols: int = 5) -> str:
    """Top goal -> strategy -> every hazard claim, as a grid; boxes link to the detail."""
    bw, bh, gap = 250, 66, 16
    width = 16 + cols * bw + (cols - 1) * gap + 16
    supported = sum(1 for h in hazards if h.get("verdict") == "supported")
    ok = supported == len(hazards) and hazards
    fill, stroke, ink = svg.PALETTE["ok" if ok else "bad"]
    g0 = svg.wrap("G0: The infusion pump controller is acceptably safe: every identified hazard is adequately "
                  "controlled", 62, 2)
    verdict = f"{supported} of {len(hazards)} hazard claims supported" + ("" if ok else " · NOT SUPPORTED")
    gx = width / 2 - 210
    body = [svg.rect(gx, 8, 420, 66, fill=fill, stroke=stroke, width=2),
            svg.text(width / 2, 28, g0, size=12, weight="bold", colour="#212529"),
            svg.text(width / 2, 64, [verdict], size=11, weight="bold", colour=ink)]
    # context: where the hazards and the requirements come from
    cx = gx + 420 + 40
    body += [svg.rect(cx, 14, 300, 54, fill="#ffffff", stroke="#495057", rx=20),
             svg.text(cx + 150, 36, ["C0: hazards by FDA infusion-pump cause", "category (specs/hazards.toml)"],
                      size=10.5, colour="#343a40"),
             svg.line(gx + 420, 41, cx, 41, dash=True)]
    sy = 98
    body += [svg.line(width / 2, 74, width / 2, sy - 1, marker="gsn-arrow-top"),
             svg.parallelogram(width / 2 - 190, sy, 380, 40, fill="#ffffff", stroke="#495057"),
             svg.text(width / 2, sy + 24, ["S0: argue over each hazard claim (one per hazard)"], size=11,
                      colour="#343a40")]
    y0 = sy + 40 + 34
    rows = (len(hazards) + cols - 1) // cols
    if hazards:
        body.append(svg.line(width / 2, sy + 40, width / 2, y0 - 18))
        body.append(svg.line(10, y0 - 18, 10, y0 - 18 + (rows - 1) * (bh + 34)))
    for r in range(rows):  # one bus per row, as long as the row (the first also meets the trunk)
        in_row = min(cols, len(hazards) - r * cols)
        end = 16 + (in_row - 1) * (bw + gap) + bw / 2
        y = y0 + r * (bh + 34) - 18
        body.append(svg.line(10, y, max(end, width / 2) if r == 0 else end, y))
    for i, hz in enumerate(hazards):
        r, c = divmod(i, cols)
        x, y = 16 + c * (bw + gap), y0 + r * (bh + 34)
        body.append(svg.line(x + bw / 2, y - 18, x + bw / 2, y - 1, marker="gsn-arrow-top"))
        hc = cls_of(HAZ_CLASS, hz.get("verdict"))
        f, s, k = svg.PALETTE[hc]
        hid = str(hz.get("id", "?"))
        box = (svg.tooltip(f"{hid}: {hz.get('title', '')} is adequately controlled ({hz.get('verdict', '?')})")
               + svg.rect(x, y, bw, bh, fill=f, stroke=s, width=2 if hc == "bad" else 1.5)
               + svg.text(x + 8, y + 17, [f"{hid} · {str(hz.get('verdict', '?')).upper()}"], size=11, anchor="start",
                          colour=k, weight="bold")
               + svg.text(x + 8, y + 34, svg.wrap(str(hz.get("title", "")), svg.fits(10.5, bw - 16), 2), size=10.5,
                          anchor="start"))
        body.append(svg.link(anchor("haz", hid), box))
    height = y0 + max(rows, 1) * (bh + 34) - 20
    if not hazards:
        body.append(svg.text(width / 2, y0 + 10, ["no hazards in the evidence: the top goal is unsupported"],
                             size=12, colour=svg.PALETTE["bad"][2], weight="bold"))
    return svg.document(width, height, body, label="Assurance case overview: " + verdict,
                        defs=[svg.arrowhead("gsn-arrow-top")])
