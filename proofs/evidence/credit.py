"""Evidence credited by coverage, not by tag.

Theory of operation
-------------------
A stateful test or a random walk is tagged with many requirement ids, because after every
step it checks every invariant. That says the invariants held *where the run went*; it says
nothing about a requirement whose states, rows or alarms the run never reached. So a passing
stateful or random item counts for a requirement only where its recorded coverage
(``specs.checker.Coverage``: states, table rows fired, triggers accepted and refused per source
state, alarm causes present) reached at least one *target* of that requirement:

- every table row that cites the requirement, directly or through one of its guards;
- every alarm of the catalog that cites it;
- the states, triggers and alarms listed for it in ``specs/coverage.toml`` (for the
  requirements that no row or alarm names, and where a row alone says too little).

A requirement that ``specs/coverage.toml`` marks ``outside`` (the event log, the serial
frames) is about a layer below every core transition: core coverage cannot judge it, so a
tagged item counts *by tag* and says so. Failures are never refused: a failing item counts
against every requirement it names, whatever it reached.

Rules
1. Only items of method ``stateful`` (and the walk) are judged; unit tests, proofs,
   contracts, scenarios and bench items count as tagged.
2. Every refusal carries its reason; the report lists counted and refused items per
   requirement.
3. Pure: the same items, table and data give the same decisions.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.errors import ConfigurationError

COVERAGE_FILE = Path(__file__).resolve().parents[2] / "specs" / "coverage.toml"
JUDGED = ("stateful",)


@dataclass(frozen=True)
class Target:
    """What a requirement is about, in the vocabulary coverage is recorded in."""

    rows: frozenset[int] = frozenset()
    alarms: frozenset[str] = frozenset()
    states: frozenset[str] = frozenset()
    accepted: frozenset[str] = frozenset()  # "trigger" or "trigger@state"
    refused: frozenset[str] = frozenset()
    outside: str = ""  # why core coverage cannot judge the requirement
    labels: Mapping[int, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.rows or self.alarms or self.states or self.accepted or self.refused)


def read_extra(path: Path = COVERAGE_FILE) -> dict[str, dict[str, Any]]:
    """``specs/coverage.toml``: [[target]] requirement, states, accepted, refused, alarms, outside, why."""
    if not path.is_file():
        return {}
    try:
        rows = tomllib.loads(path.read_text(encoding="utf-8")).get("target", [])
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError("file", str(path), "a readable TOML file", str(exc)) from None
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        rid = row.get("requirement")
        if not isinstance(rid, str):
            raise ConfigurationError("coverage.toml:target.requirement", rid, "a requirement id")
        for key in ("states", "accepted", "refused", "alarms"):
            v = row.get(key, [])
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ConfigurationError(f"coverage.toml:{rid}.{key}", v, "a list of strings")
        out[rid] = row
    return out


def targets(req_ids: Iterable[str], table: Any, catalog: Any,
            extra: Mapping[str, Mapping[str, Any]]) -> dict[str, Target]:
    """The coverage targets of every requirement, from the table, the alarm catalog and the data."""
    out = {}
    for rid in req_ids:
        rows = {i for i, row in enumerate(table)
                if rid in row.reqs or any(rid in getattr(c, "reqs", ()) for c in row.conds)}
        alarms = {a.id for a in catalog if rid in a.reqs}
        x = extra.get(rid, {})
        out[rid] = Target(frozenset(rows), frozenset(alarms | set(x.get("alarms", []))),
                          frozenset(x.get("states", [])), frozenset(x.get("accepted", [])),
                          frozenset(x.get("refused", [])), str(x.get("outside", "")),
                          {i: f"{table[i].label}@{'/'.join(table[i].sources[:3])}"
                           + ("..." if len(table[i].sources) > 3 else "") for i in rows})
    return out


def _hits(done: Iterable[str], wanted: frozenset[str]) -> set[str]:
    """'trigger' matches any source state; 'trigger@STATE' only that one."""
    done = set(done)
    return {w for w in wanted if w in done or any(d.split("@", 1)[0] == w for d in done)}


def reached(cov: Mapping[str, Any], t: Target) -> list[str]:
    """The targets of ``t`` that the coverage reached, in words."""
    rows = sorted(t.rows & set(cov.get("rows") or []))
    out = [f"row {t.labels.get(i, i)}" for i in rows]
    out += [f"alarm {a}" for a in sorted(t.alarms & set(cov.get("alarms") or []))]
    out += [f"state {s}" for s in sorted(t.states & set(cov.get("states") or []))]
    out += [f"accepted {a}" for a in sorted(_hits(cov.get("accepted") or [], t.accepted))]
    out += [f"refused {a}" for a in sorted(_hits(cov.get("refused") or [], t.refused))]
    return out


def wanted(t: Target) -> str:
    parts = []
    if t.rows:
        parts.append(f"{len(t.rows)} row(s)")
    for name, values in (("alarm", t.alarms), ("state", t.states), ("accepted", t.accepted),
                         ("refused", t.refused)):
        if values:
            parts.append(f"{name} {', '.join(sorted(values))}")
    return "; ".join(parts) or "nothing"


def judge(item: Mapping[str, Any], t: Target | None) -> tuple[bool, str]:
    """(counts, why) for one item and one requirement it names."""
    if item.get("method") not in JUDGED or item.get("verdict") == "fail":
        return True, "tagged" if item.get("verdict") != "fail" else "failed: a failure always counts"
    if item.get("verdict") != "pass":
        return True, "tagged (did not pass)"
    if t is None:
        return False, "not a known requirement"
    if t.outside:
        return True, f"by tag: core coverage cannot judge it ({t.outside})"
    cov = item.get("coverage")
    if not cov:
        return False, "refused: no coverage was recorded for this run"
    if t.empty:
        return False, "refused: no coverage target is defined for this requirement (specs/coverage.toml)"
    hit = reached(cov, t)
    if not hit:
        return False, f"refused: the run reached none of its targets ({wanted(t)})"
    total = len(t.rows) + len(t.alarms) + len(t.states) + len(t.accepted) + len(t.refused)
    shown = ", ".join(hit[:4]) + (f" and {len(hit) - 4} more" if len(hit) > 4 else "")
    return True, f"coverage reached {len(hit)} of {total} target(s): {shown}"
