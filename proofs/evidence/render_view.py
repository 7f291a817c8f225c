"""View model for the evidence report: verdict classes, evidence summaries, matrix cells.

Theory of operation
-------------------
The evidence dictionary (``pumpctl-evidence/1``) is data; the report needs a few derived
views of it: which colour class a verdict gets, how a handful of evidence items read as one
cell ("FAIL 1/3"), which method column an item belongs to, how a trace step reads. They live
here, in plain functions, so the template stays declarative and the diagrams and the tables
agree on every word and colour.

Rules
1. Colour is never the only signal: every ``Cell`` carries the verdict as text, and the ids of
   its items with their strength as printed text (never only in a hover title). An id is
   printed whole: never broken inside a name (``id_segments`` says where a long one may break).
2. Missing keys and empty lists are normal (a partial run, an old collector): every accessor
   tolerates them and says "none" rather than failing.
3. Nothing here decides a verdict; it only presents the collector's verdicts. The one
   judgement made here is the colour of a requirement inside a hazard argument: red when
   the hazard lists it as an unsupported control, even if its own verdict is "partial".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from controller.core.events import Actor
from controller.core.units import VU_PER_ML

REQ_CLASS = {"verified": "ok", "failed": "bad", "unverified": "bad", "partial": "warn", "planned": "na"}
HAZ_CLASS = {"supported": "ok", "partial": "warn", "unsupported": "bad", "failed": "bad"}
EV_CLASS = {"pass": "ok", "fail": "bad", "unknown": "warn", "skipped": "na"}
STRENGTH_CLASS = {"proved": "ok", "bounded": "info", "refuted": "bad", "examples": "na", "simulated": "warn",
                  "inspected": "na"}
RISK_CLASS = {"A": "ok", "ALARP": "warn", "U": "bad", "n/a": "na"}
OBL_CLASS = {"proved": "ok", "counterexample": "bad", "unknown": "warn"}

# matrix columns: the verification methods a requirement can require (specs/README.md)
METHODS = ("proof", "contract", "stateful", "unit", "scenario", "bench", "inspection")
TYPES = ("proof", "contract", "test", "scenario", "bench", "mutation", "walk", "inspection")
_SHORT = re.compile(r"^tests\.")
# an item without a method lands in the column its type most plainly supports
_TYPE_METHOD = {"proof": "proof", "mutation": "proof", "contract": "contract", "test": "unit", "walk": "stateful",
                "scenario": "scenario", "bench": "bench", "inspection": "inspection"}


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    cls: str  # ok | bad | warn | na | none
    title: str = ""
    required: bool = False
    items: tuple[tuple[str, str, str], ...] = ()  # (id, verdict, strength), printed in the cell


def short_id(ident: object) -> str:
    """A test node id without the leading 'tests.' package (still unique), for narrow cells."""
    return _SHORT.sub("", str(ident))


_BREAK = re.compile(r"(?<=/)|(?<=::)")


def id_segments(ident: object) -> list[str]:
    """An id in the pieces a printed line may break between: after a ``/`` or a ``::``, never
    inside a name (``tests/drivers/`` ``test_x.py::`` ``test_name``); each piece is printed
    whole (``white-space: nowrap``)."""
    return [p for p in _BREAK.split(str(ident)) if p]


def cls_of(table: Mapping[str, str], verdict: object) -> str:
    return table.get(str(verdict), "na")


def method_of(item: Mapping[str, Any]) -> str:
    m = str(item.get("method") or "")
    return m if m in METHODS else _TYPE_METHOD.get(str(item.get("type", "")), "inspection")


def summarise(items: list[Mapping[str, Any]]) -> Cell:
    """Many evidence items as one verdict; the worst verdict decides the wording."""
    n = len(items)
    count = {v: sum(1 for i in items if i.get("verdict") == v) for v in ("pass", "fail", "unknown", "skipped")}
    title = "; ".join(f"{i.get('id', '?')}: {i.get('verdict', '?')}" for i in items)
    if n == 0:
        return Cell("none", "none")
    if count["fail"]:
        return Cell(f"FAIL {count['fail']}/{n}", "bad", title)
    if count["unknown"]:
        return Cell(f"unknown {count['unknown']}/{n}", "warn", title)
    if count["pass"] == 0:
        return Cell(f"skipped {n}", "na", title)
    extra = f" (+{count['skipped']} skipped)" if count["skipped"] else ""
    return Cell(f"pass {count['pass']}{extra}", "ok", title)


def by_type(req: Mapping[str, Any]) -> list[tuple[str, Cell]]:
    """Evidence of one requirement grouped by evidence type, in a fixed order."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for item in req.get("evidence") or []:
        groups.setdefault(str(item.get("type", "other")), []).append(item)
    order = [t for t in TYPES if t in groups] + sorted(t for t in groups if t not in TYPES)
    return [(t, summarise(groups[t])) for t in order]


def by_type_strength(req: Mapping[str, Any]) -> list[tuple[str, Cell, set[str]]]:
    """``by_type`` with the strengths of each group's items (the assurance-case table prints them)."""
    strengths: dict[str, set[str]] = {}
    for item in req.get("evidence") or []:
        if item.get("strength"):
            strengths.setdefault(str(item.get("type", "other")), set()).add(str(item["strength"]))
    return [(t, c, strengths.get(t, set())) for t, c in by_type(req)]


def matrix_row(req: Mapping[str, Any]) -> list[Cell]:
    """One row of the traceability matrix: a cell per method column."""
    required = set(req.get("verification") or [])
    groups: dict[str, list[Mapping[str, Any]]] = {m: [] for m in METHODS}
    for item in req.get("evidence") or []:
        groups[method_of(item)].append(item)
    cells = []
    for m in METHODS:
        items, need = groups[m], m in required
        if items:
            c = summarise(items)
            shown = tuple((short_id(i.get("id", "?")), str(i.get("verdict", "?")), str(i.get("strength", "")))
                          for i in sorted(items, key=lambda i: str(i.get("id"))))
            cells.append(Cell(c.text, c.cls, c.title, need, shown))
        elif need and req.get("status") == "planned":
            cells.append(Cell("planned", "na", "required; the requirement is planned", True))
        elif need:
            cells.append(Cell("MISSING", "bad", f"{m} is required and no {m} evidence exists", True))
        else:
            cells.append(Cell("", "none"))
    return cells


def index(items: Iterable[Mapping[str, Any]], key: str = "id") -> dict[str, Mapping[str, Any]]:
    return {str(i.get(key)): i for i in items}


def actor_name(actor: object) -> str:
    """The trace stores the actor as its ``controller.core.events.Actor`` value."""
    if isinstance(actor, int) and actor in Actor.__members__.values():
        return Actor(actor).name.lower()
    return str(actor)


def ml(vu: object) -> str:
    """Volume units to mL, exact to 6 decimals (rounded down: a display never inflates)."""
    if not isinstance(vu, int):
        return "?"
    q = Fraction(vu, VU_PER_ML)
    whole = int(q * 1_000_000) if q >= 0 else -int(-q * 1_000_000)
    return f"{whole / 1_000_000:.6f}"


def trace_rows(trace: list[Mapping[str, Any]]) -> list[dict[str, str]]:
    rows = []
    for i, st in enumerate(trace or []):
        e = st.get("event")
        what = "power-on" if not e else f"{e.get('kind', '?')} ({actor_name(e.get('actor'))})"
        rows.append({"step": str(i), "event": what, "state": str(st.get("state", "?")),
                     "rate": str(st.get("rate", "?")), "delivered_vu": str(st.get("delivered_vu", "?")),
                     "delivered_ml": ml(st.get("delivered_vu"))})
    return rows


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list | tuple):
        if v and all(isinstance(x, Mapping) for x in v):
            return f"{len(v)} records (plotted)" if len(v) > _INLINE_MAX else f"{len(v)} records"
        return ", ".join(_fmt(x) for x in v) if len(v) <= 12 else f"{len(v)} values: " + ", ".join(
            _fmt(x) for x in v[:12]) + ", …"
    if isinstance(v, Mapping):
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items())
    return "none" if v is None else str(v)


_INLINE_MAX = 12  # a nested list of records this short gets its own table; a longer one is a plotted series
_IDENTITY = re.compile(r"(^|_)(id|name|label|rate|detector|volume|window|case)(_|$)")


def _records(rows: list[Mapping[str, Any]], title: str) -> list[dict[str, Any]]:
    """A list of records as one table, plus a sub-table for each short nested list of records."""
    cols: list[str] = []
    for r in rows:
        cols += [str(k) for k in r if str(k) not in cols]
    block = {"title": title, "kv": None, "columns": cols,
             "rows": [[_fmt(r.get(c)) if c in r else "" for c in cols] for r in rows]}
    subs: list[dict[str, Any]] = []
    for r in rows:
        scalars = [(str(k), v) for k, v in r.items() if not isinstance(v, list | tuple | Mapping)]
        # name the row by what identifies it (a rate, a detector), not by its first key in sorted order
        named = [kv for kv in scalars if _IDENTITY.search(kv[0])] or scalars
        name = f"{named[0][0]} {_fmt(named[0][1])}" if named else "row"
        for k, v in r.items():
            if isinstance(v, list | tuple) and v and len(v) <= _INLINE_MAX and all(isinstance(x, Mapping) for x in v):
                subs += _records(list(v), f"{title} · {name} · {k}")
    return [block, *subs]


def figures(d: object, title: str) -> list[dict[str, Any]]:
    """Free-form bench figures as tables: scalars as key/value rows, lists of records as
    tables (short nested lists get their own table, long series say they are plotted)."""
    if d is None:
        return []
    if isinstance(d, list | tuple) and d and all(isinstance(x, Mapping) for x in d):
        return _records(list(d), title)
    if not isinstance(d, Mapping):
        return [{"title": title, "kv": [("value", _fmt(d))], "columns": [], "rows": []}]
    kv = [(str(k), _fmt(v)) for k, v in d.items() if not (isinstance(v, Mapping) or (
        isinstance(v, list | tuple) and v and all(isinstance(x, Mapping) for x in v)))]
    out = [{"title": title, "kv": kv, "columns": [], "rows": []}] if kv else []
    for k, v in d.items():
        if isinstance(v, Mapping) or (isinstance(v, list | tuple) and v and all(isinstance(x, Mapping) for x in v)):
            out += figures(v, f"{title} · {k}")
    return out


def tiles(verdict: Mapping[str, Any]) -> list[dict[str, str]]:
    """The counts of the one-screen verdict, each with its own pass/fail colour."""

    def frac(part: object, whole: object) -> tuple[str, str]:
        p, w = (x if isinstance(x, int) else 0 for x in (part, whole))
        return f"{p} / {w}", ("ok" if p == w and w > 0 else "na" if w == 0 else "bad")

    failed, unverified = verdict.get("failed") or [], verdict.get("unverified") or []
    out = []
    s, c = frac(verdict.get("verified"), verdict.get("safety_requirements"))
    out.append({"label": "safety requirements verified", "value": s, "cls": c})
    out.append({"label": "safety requirements failed", "value": str(len(failed)), "cls": "bad" if failed else "ok"})
    out.append({"label": "safety requirements unverified", "value": str(len(unverified)),
                "cls": "bad" if unverified else "ok"})
    for label, key, part in (("proof obligations proved", "obligations", "proved"),
                             ("mutants killed", "mutants", "killed"),
                             ("scenarios passed", "scenarios", "passed"), ("tests passed", "tests", "passed")):
        sec = verdict.get(key) or {}
        s, c = frac(sec.get(part), sec.get("total"))
        if key == "tests" and c == "bad" and not sec.get("failed"):
            c = "warn"  # the shortfall is skipped tests, not failures: say so with amber, not red
        out.append({"label": label, "value": s, "cls": c})
    return out
