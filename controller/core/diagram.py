"""State diagram generated from the transition table (Mermaid or Graphviz dot).

Rules
1. Everything drawn comes from ``controller.core.table.TABLE``; nothing is typed twice.
2. Internal rows (the state stays) are left out unless asked for; rows between the same two
   states are merged into one edge with their labels joined.
"""

from __future__ import annotations

from collections import defaultdict

from controller.core.state import LATCHED, STATES
from controller.core.table import TABLE, Row


def _edges(internal: bool, table: tuple[Row, ...]) -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in table:
        for s in r.sources:
            d = r.dest_for(s)
            if d == s and not internal:
                continue
            if r.label not in edges[(s, d)]:
                edges[(s, d)].append(r.label)
    return edges


def mermaid(internal: bool = False, table: tuple[Row, ...] = TABLE) -> str:
    lines = ["stateDiagram-v2", "    [*] --> POST"]
    for (s, d), labels in sorted(_edges(internal, table).items()):
        lines.append(f"    {s} --> {d}: {' / '.join(labels)}")
    for s in LATCHED:
        lines.append(f"    note right of {s}: latched")
    return "\n".join(lines) + "\n"


def dot(internal: bool = False, table: tuple[Row, ...] = TABLE) -> str:
    lines = ["digraph pump {", "  rankdir=LR;", '  node [shape=box, style=rounded, fontname="Helvetica"];',
             '  start [shape=point];', "  start -> POST;"]
    for s in STATES:
        extra = ", peripheries=2, color=red" if s in LATCHED else ""
        lines.append(f'  {s} [label="{s}"{extra}];')
    for (s, d), labels in sorted(_edges(internal, table).items()):
        label = "\\n".join(labels).replace('"', "'")
        lines.append(f'  {s} -> {d} [label="{label}", fontsize=9];')
    lines.append("}")
    return "\n".join(lines) + "\n"
