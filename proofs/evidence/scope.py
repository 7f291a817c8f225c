"""Scope: how strong each claim is, and what the proofs cover and what they do not.

Theory of operation
-------------------
Every evidence item gets a *strength* label, one of

- ``proved``: Z3 k-induction over the real transition table, for every reachable state and
  every configuration that passes validation;
- ``bounded``: a bounded search found nothing (CrossHair per-condition timeout, BMC depth of
  an undecided obligation) or found a counterexample within its bound (a killed mutant);
- ``refuted``: a counterexample from power-on, replayed on the runtime;
- ``examples``: N examples (Hypothesis, a seeded random walk, example-based unit tests);
- ``simulated``: run on the simulated pump or the NE-1000 emulator, never on hardware;
- ``inspected``: a recorded human review;

and a one-line *scope* that says what was run ("20000 random events, seed 1"). The section
"What is proved, and what is not" is built from the evidence itself (obligations, settings,
which modules the encoder executes) plus ``specs/scope.toml``: one ``[[package]]`` per package
of ``controller/`` saying what of it is proved and what is not, and what covers the rest. Every
controller module is owned by one package on a dot boundary (``layout.owns``); a module no
package owns is listed as "not described", one that two packages own as "described twice".

Rules
1. A label never claims more than the method gives: ``unknown`` is bounded, never proved.
2. Every bench and scenario item is ``simulated``, whatever its claim says; so is every test
   under a ``[[simulated_tests]]`` folder.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pumpctl.proofs.evidence.layout import FACADE, Parts, owners

SCOPE_FILE = Path(__file__).resolve().parents[2] / "specs" / "scope.toml"
STRENGTHS = ("proved", "bounded", "refuted", "examples", "simulated", "inspected")


def read_scope(path: Path = SCOPE_FILE) -> dict[str, Any]:
    if not path.is_file():
        return {}
    return dict(tomllib.loads(path.read_text(encoding="utf-8")))


def packages(data: Mapping[str, Any]) -> Parts:
    """(item, module names) of every described package, in the file's order."""
    return [(str(r["item"]), tuple(r.get("modules") or [])) for r in data.get("package") or []]


def _simulated_test(nodeid: str, data: Mapping[str, Any]) -> str:
    path = nodeid.replace("::", ".").replace("/", ".")  # JUnit gives tests.sdc.test_x::name, pytest tests/sdc/...
    for row in data.get("simulated_tests") or []:
        folder = str(row.get("prefix", "")).strip("/").replace("/", ".") + "."  # tests/sim/ is not tests/simx/
        if path.startswith(folder):
            return str(row.get("what", "the simulated pump"))
    return ""


def label(item: Mapping[str, Any], settings: Mapping[str, Any], data: Mapping[str, Any]) -> tuple[str, str]:
    """(strength, scope) of one evidence item."""
    kind, verdict = item.get("type"), item.get("verdict")
    if kind == "proof":
        if verdict == "pass":
            return "proved", item.get("scope_detail") or "k-induction over the table, every valid configuration"
        if verdict == "fail":
            return "refuted", "counterexample from power-on, replayed on the runtime controller"
        return "bounded", f"no counterexample up to depth {settings.get('bmc_depth', '?')}; not proved"
    if kind == "contract":
        return "bounded", f"CrossHair symbolic search, {settings.get('crosshair_per_condition_s', '?')} s per condition"
    if kind == "mutation":
        return "bounded", f"counterexample within depth {settings.get('mutant_depth', '?')}, replayed on the runtime"
    if kind == "walk":
        return "examples", f"{settings.get('walk_steps', '?')} random events, seed {item.get('seed', '?')}"
    if kind in ("scenario", "bench"):
        return "simulated", "on the simulated pump (controller/drivers/sim), not on hardware"
    if kind == "inspection":
        return "inspected", "a recorded review of the files named, valid while they are unchanged"
    if kind == "test":
        sim = _simulated_test(str(item.get("id", "")), data)
        n = item.get("examples")
        what = f"up to {n} Hypothesis examples, derandomized" if n else "example-based pytest test"
        if sim:
            return "simulated", f"{what}, on {sim}"
        return "examples", what
    return "examples", ""


def _proved_modules(layout: Mapping[str, Any]) -> list[str]:
    return sorted(m for m, info in (layout.get("modules") or {}).items() if info.get("proved"))


def section(results: Mapping[str, Any], settings: Mapping[str, Any], layout: Mapping[str, Any],
            data: Mapping[str, Any]) -> dict[str, Any]:
    """The 'What is proved, and what is not' section, as data."""
    obligations = list(results.get("obligations") or [])
    proved = [o for o in obligations if o.get("verdict") == "proved"]
    ks = sorted({int(o["k"]) for o in proved if isinstance(o.get("k"), int)})
    kinds: dict[str, int] = {}
    for o in obligations:
        prefix = str(o.get("obligation", "?")).split("-", 1)[0]
        kinds[prefix] = kinds.get(prefix, 0) + 1
    ch = results.get("crosshair") or {}
    per_condition = settings.get("crosshair_per_condition_s")
    table = results.get("table") or {}
    relation = (f"{len(proved)} of {len(obligations)} obligations ("
                + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
                + f") proved over the real transition table ({table.get('rows', '?')} rows, "
                f"{len(table.get('states') or [])} states): the guards, the effects and the settle step the "
                "runtime executes, the power-on rows that restore a saved program (REC-001), for every "
                "configuration that passes validation")
    assumptions = [
        "the configuration passed validation (controller/core/validation.py LIMIT_CHECKS and program_ok): "
        "the proofs quantify over every such configuration and say nothing about any other",
        "time arrives as ticks of 1 ms to max_tick_ms (at most 10 s): a longer stall is the watchdog's case",
        f"k-induction up to k={settings.get('kmax', '?')} (k used: {', '.join(map(str, ks)) or 'none'}); "
        f"counterexamples searched to depth {settings.get('bmc_depth', '?')} from power-on",
        f"mutants must be refuted within depth {settings.get('mutant_depth', '?')}",
        f"CrossHair: no counterexample within {ch.get('per_condition_timeout_s', per_condition)} s "
        f"per condition on {len(ch.get('functions') or [])} contract functions (a bounded search, not a proof)",
        "Python integers are unbounded and the encoder uses unbounded integers: no overflow is modelled, "
        "none can occur in the runtime either",
    ]
    parts = packages(data)
    core = _proved_modules(layout)
    mods = sorted(m for m in (layout.get("modules") or {}) if m.startswith("controller.") or m == FACADE)
    owned = {m: owners(m, parts) for m in mods}
    outside = []
    for row in data.get("package") or []:
        name = str(row["item"])
        present = [m for m in mods if owned[m] == [name]]
        outside.append({"part": name, "what": row.get("what", ""), "proved": row.get("proved", ""),
                        "not_proved": row.get("not_proved", ""), "covered_by": row.get("covered_by", ""),
                        "modules": list(row.get("modules") or []), "proved_count": sum(m in core for m in present),
                        "present": [m for m in present if m not in core]})
    unlisted = sorted(m for m in mods if not owned[m])
    twice = sorted(f"{m} ({', '.join(owned[m])})" for m in mods if len(owned[m]) > 1)
    return {"relation": relation, "assumptions": assumptions, "proved_modules": core, "outside": outside,
            "outside_unlisted": unlisted, "described_twice": twice,
            "not_covered": list(data.get("not_covered") or []),
            "strengths": [[s, str((data.get("strengths") or {}).get(s, s))] for s in STRENGTHS]}  # in order
