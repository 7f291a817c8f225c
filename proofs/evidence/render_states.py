"""The state diagram of the transition table, laid out in pure Python as inline SVG.

Theory of operation
-------------------
The evidence's ``table`` section lists the states and one edge per (source, dest) with the
triggers and guards as its label. The layout is a small deterministic layered drawing
(Graphviz is not available and not wanted as a dependency):

1. *Universal sinks* first: a state that every other state can enter (FAILSAFE, reached on
   motor_fault / watchdog from anywhere) would draw a dozen crossing arrows. As in UML, it
   is drawn once: a dashed frame around all the other states with one arrow to the sink.
2. Layers are BFS depths from the first state (the initial state); states not reached that
   way go in a last layer. Each layer has one slot more than the widest layer; the states
   of each small layer are assigned to slots exhaustively to minimise edge crossings,
   edges running through other states and edge length (two sweeps; ties keep the table's
   order).
3. Edges are quadratic curves; an edge whose straight line would cross another state, or
   that shares its endpoints with the reverse edge, bends until it is clear.
4. Labels show the triggers only (guards stripped, duplicates removed) at the curve's
   midpoint on a white halo, nudged off earlier labels; a long trigger list shared by
   several edges is drawn as a letter key listed under the diagram. The full labels are in
   the report's transition table and in each edge's tooltip.

Rules
1. Deterministic: the same table gives the same bytes.
2. Latched states are red and say "latched"; the initial state has the start dot.
3. Nothing from the table is dropped: every edge is drawn or folded into the sink arrow.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from typing import Any

from pumpctl.proofs.evidence import svg

_NW, _NH, _LAYER = 132, 42, 165  # node width/height, layer pitch
_Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def short_label(label: str) -> str:
    """Triggers only: 'tick[a & b] / stop / tick[c]' -> 'tick / stop'."""
    seen: list[str] = []
    for part in str(label).split(" / "):
        name = re.sub(r"\[.*\]", "", part).strip()
        if name and name not in seen:
            seen.append(name)
    return " / ".join(seen)


def merge_edges(raw: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """One edge per (source, dest), its row labels joined with ' / ' (the collector lists one
    edge per table row and source); first-seen order, duplicate labels dropped."""
    merged: dict[tuple[str, str], list[str]] = {}
    for s, t, label in raw:
        labels = merged.setdefault((s, t), [])
        if label not in labels:
            labels.append(label)
    return [(s, t, " / ".join(labels)) for (s, t), labels in merged.items()]


def _sinks(states: list[str], edges: list[tuple[str, str, str]]) -> list[str]:
    if len(states) < 4:
        return []
    out = []
    for d in states:
        sources = {s for s, t, _ in edges if t == d and s != d}
        if sources >= set(states) - {d}:
            out.append(d)
    return out[:1]  # one frame only: two universal sinks cannot both be drawn this way


def _place(states: list[str], edges: list[tuple[str, str, str]]) -> tuple[dict[str, tuple[int, int]], int]:
    """(layer, slot) of every state, and the number of slots per layer (the widest layer + 1,
    so every layer has a free slot for edges to pass through)."""
    succ: dict[str, list[str]] = {s: [] for s in states}
    for s, t, _ in edges:
        if t not in succ[s]:
            succ[s].append(t)
    depth = {states[0]: 0} if states else {}
    queue = list(depth)
    while queue:
        s = queue.pop(0)
        for t in succ[s]:
            if t not in depth:
                depth[t] = depth[s] + 1
                queue.append(t)
    last = max(depth.values(), default=-1) + 1
    layers: list[list[str]] = [[] for _ in range(max(last, 0) + 1)]
    for s in states:
        layers[depth.get(s, last)].append(s)
    layers = [layer for layer in layers if layer]
    k = max((len(layer) for layer in layers), default=0) + 1
    row = {s: i for i, layer in enumerate(layers) for s in layer}
    slot = {s: j + (k - len(layer)) // 2 for layer in layers for j, s in enumerate(layer)}
    links = sorted({(a, b) if a < b else (b, a) for a, b, _ in edges if a != b})
    for _sweep in range(2):
        for layer in layers:
            if len(layer) > 5:
                continue  # 6! x 7 slots is too many to try; keep the table's order
            best, best_cost = dict(slot), _cost(row, slot, links, k)
            for perm in itertools.permutations(range(k), len(layer)):
                trial = {**slot, **dict(zip(layer, perm, strict=True))}
                c = _cost(row, trial, links, k)
                if c < best_cost - 1e-9:
                    best, best_cost = trial, c
            slot = best
    used = sorted(set(slot.values()))  # drop slot columns no layer ended up using
    return {s: (row[s], used.index(slot[s])) for s in states}, len(used)


def _cost(row: dict[str, int], slot: dict[str, int], links: list[tuple[str, str]], k: int) -> float:
    """Crossings of straight centre-to-centre segments, a heavier cost for a segment that runs
    through a third state (the bend search can avoid it, but not for free), and a little for
    horizontal length so that edges stay short."""
    xy = {s: ((slot[s] + 0.5) / k, float(row[s])) for s in row}
    segs = [(xy[a], xy[b], a, b) for a, b in links]
    near = 0.45 / k

    def ccw(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    cost = 0.0
    for i, (p1, p2, a1, b1) in enumerate(segs):
        cost += 0.3 * abs(p1[0] - p2[0])
        for p3, p4, a2, b2 in segs[i + 1:]:
            if a1 in (a2, b2) or b1 in (a2, b2):
                continue
            if ccw(p1, p2, p3) * ccw(p1, p2, p4) < 0 and ccw(p3, p4, p1) * ccw(p3, p4, p2) < 0:
                cost += 1
        lo, hi = min(p1[1], p2[1]), max(p1[1], p2[1])
        for s, (x, y) in xy.items():
            if lo < y < hi and s != a1 and s != b1:
                t = (y - p1[1]) / (p2[1] - p1[1])
                if abs(p1[0] + t * (p2[0] - p1[0]) - x) < near:
                    cost += 3
            elif y == p1[1] == p2[1] and s != a1 and s != b1 and min(p1[0], p2[0]) < x < max(p1[0], p2[0]):
                cost += 3  # a same-layer edge straight through a neighbour
    return cost


def _keys(labels: list[str]) -> dict[str, str]:
    """Long trigger lists shared by several edges get a letter, listed once under the diagram."""
    counts = {lab: labels.count(lab) for lab in labels}
    shared = [lab for lab in dict.fromkeys(labels) if counts[lab] > 1 and len(lab) > 22]
    return {lab: chr(ord("A") + i) if i < 26 else str(i) for i, lab in enumerate(shared)}


def _clip(c: tuple[float, float], toward: tuple[float, float], pad: float = 2) -> tuple[float, float]:
    """Where the ray from a node centre toward a point leaves the node's box."""
    dx, dy = toward[0] - c[0], toward[1] - c[1]
    if dx == 0 and dy == 0:
        return c
    sx = (_NW / 2 + pad) / abs(dx) if dx else math.inf
    sy = (_NH / 2 + pad) / abs(dy) if dy else math.inf
    s = min(sx, sy)
    return c[0] + dx * s, c[1] + dy * s


def _hits(p0: tuple[float, float], c: tuple[float, float], p1: tuple[float, float], boxes: list[_Box]) -> bool:
    for k in range(1, 20):
        t = k / 20
        x = (1 - t) ** 2 * p0[0] + 2 * (1 - t) * t * c[0] + t * t * p1[0]
        y = (1 - t) ** 2 * p0[1] + 2 * (1 - t) * t * c[1] + t * t * p1[1]
        if any(b[0] - 6 <= x <= b[2] + 6 and b[1] - 6 <= y <= b[3] + 6 for b in boxes):
            return True
    return False


def _overlaps(a: _Box, b: _Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _label(x: float, y: float, lines: list[str], placed: list[_Box], nodes: list[_Box],
           n: tuple[float, float]) -> tuple[list[str], _Box]:
    w = max(len(s) for s in lines) * 10 * svg.CHAR_W + 8
    h = len(lines) * 12.5 + 4
    box = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
    for shift in (0, 16, -16, 32, -32, 48, -48, 64, -64):
        cx, cy = x + n[0] * shift, y + n[1] * shift
        cand = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        if not any(_overlaps(cand, b) for b in placed + nodes):
            box = cand
            break
    bx, by = box[0] + w / 2, box[1]
    out = [svg.rect(box[0], box[1], w, h, fill="#ffffff", stroke="none", rx=3, width=0),
           svg.text(bx, by + 12, lines, size=10, colour="#343a40")]
    return out, box


def state_svg(table: Mapping[str, Any]) -> str:
    states = [str(s) for s in table.get("states") or []]
    raw = [(str(e.get("source")), str(e.get("dest")), str(e.get("label", ""))) for e in table.get("edges") or []]
    for s, t, _ in raw:
        for name in (s, t):
            if name not in states:
                states.append(name)
    latched = {str(s) for s in table.get("latched") or []}
    edges = merge_edges(raw)
    sinks = _sinks(states, edges)
    inner = [s for s in states if s not in sinks]
    flow = [(s, t, lab) for s, t, lab in edges if t not in sinks and s not in sinks]
    place, k = _place(inner, flow)
    width = max(1100, k * 215 + 60)
    pos: dict[str, tuple[float, float]] = {s: (30 + (width - 60) * (j + 0.5) / k, 70.0 + i * _LAYER)
                                           for s, (i, j) in place.items()}
    n_layers = max((i for i, _ in place.values()), default=0) + 1
    frame_bottom = 70 + (n_layers - 1) * _LAYER + _NH / 2 + 40
    for j, s in enumerate(sinks):
        pos[s] = (width / 2 + j * 200, frame_bottom + 110)
    boxes = {s: (x - _NW / 2, y - _NH / 2, x + _NW / 2, y + _NH / 2) for s, (x, y) in pos.items()}
    marker, body, labels = "state-arrow", [], []
    keys = _keys([short_label(lab) for s, t, lab in edges if t not in sinks or s in sinks])
    placed: list[_Box] = []
    pairs = {(s, t) for s, t, _ in edges}
    for s, t, lab in edges:
        if t in sinks and s not in sinks:
            continue
        short = [f"({keys[short_label(lab)]})"] if short_label(lab) in keys else svg.wrap(short_label(lab), 22, 3)
        if s == t:
            x, y = pos[s]
            d = (f"M{svg.num(x + 30)},{svg.num(y - _NH / 2)} C{svg.num(x + 60)},{svg.num(y - _NH / 2 - 46)} "
                 f"{svg.num(x + _NW / 2 + 46)},{svg.num(y - 10)} {svg.num(x + _NW / 2 + 1)},{svg.num(y)}")
            body.append(f"<g>{svg.tooltip(f'{s} -> {t}: {lab}')}{svg.path(d, marker=marker)}</g>")
            frag, box = _label(x + _NW / 2 + 40, y - _NH / 2 - 24, short, placed, list(boxes.values()), (0, -1))
            labels += frag
            placed.append(box)
            continue
        p0, p1 = pos[s], pos[t]
        dx, dy = p1[0] - p0[0], p1[1] - p0[1]
        length = math.hypot(dx, dy) or 1
        n = (-dy / length, dx / length)
        others = [b for k, b in boxes.items() if k not in (s, t)]
        bends = [0.0, 40.0, -40.0, 80.0, -80.0, 130.0, -130.0, 190.0]
        if (t, s) in pairs or abs(dy) < 1:
            bends = [b for b in bends if b > 0] + [-b for b in bends if b > 0]
            bends[0] = 30.0 if abs(dy) >= 1 else 50.0
        bend = bends[0]
        for b in bends:
            c = ((p0[0] + p1[0]) / 2 + n[0] * b, (p0[1] + p1[1]) / 2 + n[1] * b)
            apex = 0.25 * p0[1] + 0.5 * c[1] + 0.25 * p1[1]
            if not _hits(p0, c, p1, others) and 36 < apex < frame_bottom - 14:  # stay inside the frame
                bend = b
                break
        c = ((p0[0] + p1[0]) / 2 + n[0] * bend, (p0[1] + p1[1]) / 2 + n[1] * bend)
        a, z = _clip(p0, c), _clip(p1, c, pad=3)
        d = f"M{svg.num(a[0])},{svg.num(a[1])} Q{svg.num(c[0])},{svg.num(c[1])} {svg.num(z[0])},{svg.num(z[1])}"
        body.append(f"<g>{svg.tooltip(f'{s} -> {t}: {lab}')}{svg.path(d, marker=marker)}</g>")
        mx, my = 0.25 * a[0] + 0.5 * c[0] + 0.25 * z[0], 0.25 * a[1] + 0.5 * c[1] + 0.25 * z[1]
        frag, box = _label(mx, my, short, placed, list(boxes.values()), n)
        labels += frag
        placed.append(box)
    for sink in sinks:
        froms = [lab for s, t, lab in edges if t == sink and s != sink]
        text = short_label(" / ".join(froms))
        fx, fy = pos[sink]
        body.append(svg.rect(12, 30, width - 24, frame_bottom - 30, fill="none", stroke="#868e96", rx=10, dash=True))
        body.append(svg.text(22, 48, [f"every state except {sink}"], size=11, anchor="start", colour="#495057"))
        body.append(f"<g>{svg.tooltip(f'every other state -> {sink}: ' + ' / '.join(froms))}"
                    + svg.line(fx, frame_bottom, fx, fy - _NH / 2 - 3, marker=marker, width=1.8) + "</g>")
        labels.append(svg.text(fx + 10, (frame_bottom + fy - _NH / 2) / 2 + 4, svg.wrap(text, 60, 2), size=11,
                               anchor="start", colour="#343a40"))
    nodes = []
    for s, (x, y) in pos.items():
        lat = s in latched
        fill, stroke, ink = svg.PALETTE["bad" if lat else "info"]
        lines = [s, "latched"] if lat else [s]
        nodes.append(svg.rect(x - _NW / 2, y - _NH / 2, _NW, _NH, fill=fill, stroke=stroke, rx=8,
                              width=2 if lat else 1.5)
                     + svg.text(x, y + (-2 if lat else 5), lines[:1], size=13, colour=ink, weight="bold")
                     + (svg.text(x, y + 14, lines[1:], size=10, colour=ink) if lat else ""))
    if states and states[0] in pos:
        x, y = pos[states[0]]
        nodes.append(f'<circle cx="{svg.num(x - _NW / 2 - 40)}" cy="{svg.num(y)}" r="7" fill="#212529"/>'
                     + svg.line(x - _NW / 2 - 33, y, x - _NW / 2 - 3, y, marker=marker, width=1.6))
    height = (max((p[1] for p in pos.values()), default=40) + _NH / 2 + 30) if pos else 80
    for i, (lab, key) in enumerate(keys.items()):
        labels.append(svg.text(30, height + i * 17, [f"({key})  {lab}"], size=11, anchor="start", colour="#343a40"))
    height += len(keys) * 17 + (10 if keys else 0)
    if not pos:
        nodes.append(svg.text(width / 2, 45, ["the evidence has no transition table"], size=12))
    defs = [svg.arrowhead(marker, "#495057")]
    return svg.document(width, height, body + nodes + labels, label=f"State diagram: {len(states)} states, "
                        f"{len(raw)} transitions (generated from the transition table)", defs=defs)
