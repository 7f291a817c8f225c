"""Tiny SVG toolkit for the evidence report: escaped text, wrapped labels, boxes, arrows.

Theory of operation
-------------------
The report's diagrams (assurance case, state machine) are generated in pure Python as
strings of inline SVG, so the report needs no Graphviz, no JavaScript and no network.
Everything here returns SVG *fragments* as ``str``; the caller joins them and wraps them
with ``document``. Text width is estimated (no font metrics are available without a
renderer), so labels are wrapped and truncated on a conservative per-character width.

Rules
1. Every piece of text that reaches SVG goes through ``esc``: the fragments are later
   marked safe for jinja2, so this module is where escaping happens.
2. Presentation is given as attributes, not CSS classes, so a diagram renders the same in a
   browser, in WeasyPrint and when copied out of the report on its own.
3. Colours come from ``PALETTE`` only; every coloured node also carries its verdict as text
   (colour is never the only signal).
4. Output is deterministic: coordinates are rounded, nothing depends on dict order that is
   not already fixed by the caller.
"""

from __future__ import annotations

import html
import textwrap

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
CHAR_W = 0.6  # average glyph width / font size for DejaVu Sans; errs wide so text fits

# (fill, stroke, text) per verdict class; the same classes as the HTML's .v-* styles
PALETTE: dict[str, tuple[str, str, str]] = {
    "ok": ("#e6f4ea", "#1e7e34", "#14532d"),
    "bad": ("#fdecea", "#c62828", "#8b1a1a"),
    "warn": ("#fff4e0", "#b26a00", "#6b4000"),
    "na": ("#f1f3f5", "#868e96", "#343a40"),
    "info": ("#e8f0fe", "#1a56b0", "#0b2e6b"),
}


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def num(x: float) -> str:
    """Coordinates rounded to 0.1 px: stable output, no float noise in the file."""
    r = round(x, 1)
    return str(int(r)) if r == int(r) else str(r)


def fits(font_size: float, width: float) -> int:
    """How many characters fit on one line of ``width`` px."""
    return max(4, int(width / (font_size * CHAR_W)))


def wrap(text: str, chars: int, max_lines: int) -> list[str]:
    """Wrap to at most ``max_lines`` lines, ending with an ellipsis when text was cut."""
    lines = textwrap.wrap(" ".join(str(text).split()), chars, break_on_hyphens=False) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        lines[-1] = (last[: chars - 1].rstrip() if len(last) >= chars else last) + "…"
    return [line if len(line) <= chars else line[: chars - 1] + "…" for line in lines]


def text(x: float, y: float, lines: list[str], *, size: float = 12, anchor: str = "middle",
         colour: str = "#212529", weight: str = "normal", line_height: float = 1.25) -> str:
    """A multi-line text block whose first baseline is at ``y``."""
    spans = "".join(
        f'<tspan x="{num(x)}" dy="{num(0 if i == 0 else size * line_height)}">{esc(line)}</tspan>'
        for i, line in enumerate(lines))
    return (f'<text x="{num(x)}" y="{num(y)}" font-family="{FONT}" font-size="{num(size)}" '
            f'text-anchor="{anchor}" fill="{colour}" font-weight="{weight}">{spans}</text>')


def rect(x: float, y: float, w: float, h: float, *, fill: str, stroke: str, width: float = 1.5,
         rx: float = 0, dash: bool = False) -> str:
    d = ' stroke-dasharray="6 4"' if dash else ""
    return (f'<rect x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(h)}" rx="{num(rx)}" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{num(width)}"{d}/>')


def parallelogram(x: float, y: float, w: float, h: float, *, fill: str, stroke: str, skew: float = 14) -> str:
    """GSN strategy node."""
    pts = [(x + skew, y), (x + w, y), (x + w - skew, y + h), (x, y + h)]
    p = " ".join(f"{num(a)},{num(b)}" for a, b in pts)
    return f'<polygon points="{p}" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'


def line(x1: float, y1: float, x2: float, y2: float, *, colour: str = "#495057", marker: str | None = None,
         width: float = 1.3, dash: bool = False) -> str:
    m = f' marker-end="url(#{esc(marker)})"' if marker else ""
    d = ' stroke-dasharray="5 4"' if dash else ""
    return (f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}" stroke="{colour}" '
            f'stroke-width="{num(width)}"{d}{m}/>')


def path(d: str, *, colour: str = "#495057", marker: str | None = None, width: float = 1.3) -> str:
    m = f' marker-end="url(#{esc(marker)})"' if marker else ""
    return f'<path d="{esc(d)}" fill="none" stroke="{colour}" stroke-width="{num(width)}"{m}/>'


def arrowhead(marker_id: str, colour: str = "#495057", *, hollow: bool = False) -> str:
    """Marker definition; ids must be unique in the HTML page, so callers prefix them."""
    fill = "#ffffff" if hollow else colour
    return (f'<marker id="{esc(marker_id)}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" '
            f'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{fill}" '
            f'stroke="{colour}" stroke-width="1"/></marker>')


def tooltip(title: str) -> str:
    return f"<title>{esc(title)}</title>"


def link(href: str, body: str) -> str:
    """An in-page link (``#anchor`` only: the report never points off the page)."""
    return f'<a href="#{esc(href)}">{body}</a>'


def document(width: float, height: float, body: list[str], *, label: str, defs: list[str] | None = None) -> str:
    """Wrap fragments into an inline <svg> of its natural size.

    Scaling down to the container is the page stylesheet's job (``max-width: 100%``): an
    inline ``style`` on the <svg> makes WeasyPrint mis-size the box, the stylesheet does not.
    """
    d = f"<defs>{''.join(defs)}</defs>" if defs else ""
    # no xmlns: inline SVG in HTML5 does not need it, and the page carries no URLs at all
    return (f'<svg viewBox="0 0 {num(width)} {num(height)}" '
            f'width="{num(width)}" height="{num(height)}" role="img" aria-label="{esc(label)}">'
            f'{tooltip(label)}{d}{"".join(body)}</svg>')
