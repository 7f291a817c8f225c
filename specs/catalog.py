"""The specification as data: requirements, hazards and decisions, loaded and cross-checked.

Theory of operation
-------------------
``specs/requirements.toml``, ``hazards.toml`` and ``decisions.toml`` are the project's safety
specification (our own words, citing the sources). ``load`` reads them, refuses malformed
entries with the file, the entry and the field named, and checks the links: every hazard a
requirement names exists and names it back as a control, every decision exists, ids are
unique. Each requirement's text is hashed, so evidence can tell when a requirement changed
after its evidence was last reviewed (``evidence.lock``: id -> text hash).

Rules
1. Ids are stable and never reused; the loader refuses duplicates.
2. Links are symmetric (requirement <-> hazard) or the load fails naming both ends.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from controller.errors import ConfigurationError

SPECS = Path(__file__).resolve().parent
METHODS = ("proof", "contract", "stateful", "scenario", "unit", "bench", "inspection")


@dataclass(frozen=True, slots=True)
class Requirement:
    id: str
    title: str
    text: str
    kind: str
    safety: bool
    sources: tuple[str, ...]
    hazards: tuple[str, ...]
    verification: tuple[str, ...]
    decisions: tuple[str, ...]
    rationale: str
    status: str

    @property
    def text_sha256(self) -> str:
        return hashlib.sha256(f"{self.title}\n{self.text}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Hazard:
    id: str
    title: str
    category: str
    harm: str
    severity: str
    causes: tuple[str, ...]
    controls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    id: str
    topic: str
    options: tuple[str, ...]
    decision: str
    reason: str
    requirements: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Catalog:
    requirements: tuple[Requirement, ...]
    hazards: tuple[Hazard, ...]
    decisions: tuple[Decision, ...]

    def requirement(self, rid: str) -> Requirement:
        for r in self.requirements:
            if r.id == rid:
                return r
        raise KeyError(rid)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(r.id for r in self.requirements)


def _read(path: Path, table: str) -> list[dict[str, object]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError("file", str(path), "a readable TOML file", str(exc)) from None
    rows = data.get(table, [])
    if not isinstance(rows, list):
        raise ConfigurationError(table, type(rows).__name__, f"an array of [[{table}]] tables", source=str(path))
    return rows


def _str(row: dict[str, object], key: str, where: str, default: str | None = None) -> str:
    v = row.get(key, default)
    if not isinstance(v, str):
        raise ConfigurationError(f"{where}.{key}", v, "a string")
    return v


def _strs(row: dict[str, object], key: str, where: str) -> tuple[str, ...]:
    v = row.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ConfigurationError(f"{where}.{key}", v, "a list of strings")
    return tuple(v)


def load(root: Path = SPECS) -> Catalog:
    reqs = []
    for row in _read(root / "requirements.toml", "requirement"):
        w = f"requirements.toml:{row.get('id', '?')}"
        verification = _strs(row, "verification", w)
        bad = [m for m in verification if m not in METHODS]
        if bad:
            raise ConfigurationError(f"{w}.verification", bad, ", ".join(METHODS))
        safety = row.get("safety", False)
        if not isinstance(safety, bool):
            raise ConfigurationError(f"{w}.safety", safety, "true or false")
        reqs.append(Requirement(_str(row, "id", w), _str(row, "title", w), _str(row, "text", w),
                                _str(row, "kind", w, "INV"), safety, _strs(row, "sources", w),
                                _strs(row, "hazards", w), verification, _strs(row, "decisions", w),
                                _str(row, "rationale", w, ""), _str(row, "status", w, "planned")))
    hazards = []
    for row in _read(root / "hazards.toml", "hazard"):
        w = f"hazards.toml:{row.get('id', '?')}"
        hazards.append(Hazard(_str(row, "id", w), _str(row, "title", w), _str(row, "category", w),
                              _str(row, "harm", w), _str(row, "severity", w), _strs(row, "causes", w),
                              _strs(row, "controls", w)))
    decisions = []
    for row in _read(root / "decisions.toml", "decision"):
        w = f"decisions.toml:{row.get('id', '?')}"
        decisions.append(Decision(_str(row, "id", w), _str(row, "topic", w), _strs(row, "options", w),
                                  _str(row, "decision", w), _str(row, "reason", w), _strs(row, "requirements", w)))
    cat = Catalog(tuple(reqs), tuple(hazards), tuple(decisions))
    check_links(cat)
    return cat


def check_links(cat: Catalog) -> None:
    for kind, ids in (("requirement", [r.id for r in cat.requirements]), ("hazard", [h.id for h in cat.hazards]),
                      ("decision", [d.id for d in cat.decisions])):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ConfigurationError(f"{kind} id", dup[0], "unique ids", "an id may appear once")
    haz = {h.id: h for h in cat.hazards}
    decs = {d.id for d in cat.decisions}
    for r in cat.requirements:
        for h in r.hazards:
            if h not in haz:
                raise ConfigurationError(f"{r.id}.hazards", h, "an id from hazards.toml")
            if r.id not in haz[h].controls:
                raise ConfigurationError(f"{h}.controls", list(haz[h].controls), f"a list containing {r.id}",
                                         f"{r.id} names {h} as a hazard it controls")
        for d in r.decisions:
            if d not in decs:
                raise ConfigurationError(f"{r.id}.decisions", d, "an id from decisions.toml")
    for hazard in cat.hazards:
        for c in hazard.controls:
            if c not in cat.ids:
                raise ConfigurationError(f"{hazard.id}.controls", c, "an id from requirements.toml")
            if hazard.id not in cat.requirement(c).hazards:
                raise ConfigurationError(f"{c}.hazards", list(cat.requirement(c).hazards),
                                         f"a list containing {hazard.id}", f"{hazard.id} names {c} as a control")
    for decision in cat.decisions:
        for rid in decision.requirements:
            if rid not in cat.ids:
                raise ConfigurationError(f"{decision.id}.requirements", rid, "an id from requirements.toml")
