"""Recorded counterexamples of the project's mutants: found once by search, checked in every run.

Theory of operation
-------------------
Finding a counterexample to an obligation on a mutant is a search (bounded model checking from
power-on: seconds to half a minute a mutant); checking one is not. A *witness* is what the search
found, written down (``specs/mutant-witnesses.json``): the obligation it breaks, the events (a core
scenario, ``proofs.cex``), the configuration and where the proof's ghost windows start. Checking it,
in the mutant's process with the mutant applied (``check``):

1. the runtime controller (the mutated table and code) runs the events from power-on - or from the
   end of the mutant's own concrete prefix, as the search does - giving each step's state, variables
   and ghosts (``engine.run_events``);
2. the first frame is a power-on frame of the encoding (``encode.init``: any valid configuration;
   a prefix's end is pinned as the search pins it) and every step is admitted by the *mutated*
   encoding's transition relation (``Engine.agrees``: each leaf replaced by its concrete value
   simplifies to true);
3. the obligation's own Z3 formula is false after the last step (``Engine.broken_by``), and the
   runtime breaks it there too (``engine.replay``, the search's rule 3).

Then the trace is a model of the bounded model checking query of that obligation at its depth on the
mutated encoding: the proof fails on the mutant exactly as when the search finds the trace, and the
mutant is killed with the same claim. A witness that does not check (the code or the encoding
changed) is evidence of nothing: the mutant is searched again and the result says so
(``mutants.evaluate``); ``pumpctl mutate --record-witnesses`` writes what the search found, and
``tests/test_witnesses.py`` fails while a recorded witness does not check.

An edge mutant's witness is the CrossHair counterexample call(s): checked by calling the mutated
compile code and evaluating the contract's ``post:`` conditions (``mutants._breaks_contract``).

Rules
1. A witness kills only when every step is checked against the mutated encoding and the runtime
   breaks the obligation: no step is skipped, none is taken on trust from the file.
2. The file is data, never code: events are read by ``proofs.cex`` (typed errors), a call's
   arguments only as literals (``mutants._breaks_contract``), for a contract the mutant names.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

from controller.core.events import Event
from controller.core.limits import Limits
from controller.core.recovery import PowerCycle
from controller.core.state import initial_vars
from controller.core.table import Row
from controller.errors import ConfigurationError
from pumpctl.proofs import cex
from pumpctl.proofs.encode import GHOST_TEMPLATE
from pumpctl.proofs.engine import Engine, TraceStep, Verdict, obligations, replay, run_events, run_prefix
from pumpctl.specs.timeline import Ghosts, initial_ghosts

FILE = Path(__file__).resolve().parents[1] / "specs" / "mutant-witnesses.json"
FORMAT = "pumpctl-mutant-witnesses/1"


def load(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """The recorded witnesses by mutant id ({} when there is no file; default ``FILE``)."""
    path = FILE if path is None else path
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError("file", str(path), "a JSON file of recorded witnesses", str(exc)) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigurationError("format", data.get("format") if isinstance(data, dict) else data, FORMAT,
                                 source=str(path))
    if not isinstance(data.get("witnesses"), dict):
        raise ConfigurationError("witnesses", data.get("witnesses"), "a table of witnesses by mutant id",
                                 source=str(path))
    return {str(k): w for k, w in data["witnesses"].items() if isinstance(w, dict)}


def save(witnesses: dict[str, dict[str, Any]], path: Path | None = None) -> None:
    text = json.dumps({"format": FORMAT, "witnesses": dict(sorted(witnesses.items()))}, indent=1, sort_keys=True)
    (FILE if path is None else path).write_text(text + "\n")


def record(v: Verdict, prefix_len: int) -> dict[str, Any]:
    """A witness of the counterexample ``v`` (from power-on, or after ``prefix_len`` prefix events)."""
    events = [s.event for s in v.trace[prefix_len + 1:] if s.event is not None]
    text = cex.to_toml(f"witness {v.id}", events, v.trace[0].vars.cfg, [v.id], v.trace[-1].state,
                       note=f"{v.id}: {v.text} (a mutant's counterexample, recorded by pumpctl mutate)")
    gh = v.trace[0].ghosts
    starts = [g.start for g in gh.win] if prefix_len == 0 and isinstance(gh, Ghosts) else []
    return {"obligation": v.id, "after_prefix": prefix_len > 0, "ghost_starts": starts, "scenario": text}


def record_calls(calls: list[tuple[str, str]]) -> dict[str, Any]:
    return {"calls": [[name, args] for name, args in calls]}


def check(w: dict[str, Any], eng: Engine, table: tuple[Row, ...],
          prefix: tuple[Limits, list[Event]] | None) -> tuple[Verdict | None, str]:
    """The verdict the witness earns on this (mutated) engine and table, or None and why not."""
    invs = {inv.id: inv for inv in obligations()}
    inv = invs.get(str(w.get("obligation")))
    if inv is None:
        return None, f"names no obligation ({w.get('obligation')!r})"
    try:
        sc = cex.loads(str(w["scenario"]), "specs/mutant-witnesses.json")
    except (ConfigurationError, KeyError) as exc:
        return None, f"unreadable: {exc}"
    events: list[Event | PowerCycle] = list(sc.events)
    if bool(w.get("after_prefix")) != (prefix is not None):
        return None, "recorded for a search with a different prefix"
    if prefix is not None:
        try:
            head = run_prefix(*prefix, table=table)
        except ValueError as exc:
            return None, f"the mutant's prefix no longer runs: {exc}"
        first = head[-1]
    else:
        raw = w.get("ghost_starts", [])
        if not isinstance(raw, list) or not all(type(x) is int for x in raw):
            return None, f"ghost window starts {raw!r} are not a list of whole numbers (ms)"
        starts = tuple(raw)
        if len(starts) != len(GHOST_TEMPLATE.win):
            return None, f"{len(starts)} ghost window starts, the proofs have {len(GHOST_TEMPLATE.win)}"
        head = [TraceStep("POST", None, initial_vars(sc.limits), initial_ghosts(starts))]
        first = head[0]
        if not eng.at_power_on(first):
            return None, "its first frame is not a power-on frame of the encoding"
    if not events:
        return None, "no events"
    try:
        steps = run_events(first, events, table)
    except Exception as exc:  # any way a recorded trace fails to run means: search instead
        return None, f"does not run on this code: {type(exc).__name__}: {exc}"
    for i, (pre, post) in enumerate(pairwise(steps)):
        if not eng.agrees(pre, post):
            return None, f"step {i + 1} ({post.event}) is not a step of the mutated encoding"
    if not eng.broken_by(inv, steps[-2], steps[-1]):
        return None, f"{inv.id} holds after the last step"
    trace = [*head, *steps[1:]] if prefix is not None else steps
    if not replay(trace, table, inv):
        return None, f"the runtime does not break {inv.id} on it"
    n = len(trace) - 1
    return Verdict(inv.id, inv.reqs, inv.text, inv.safety, "counterexample", n, 0.0,
                   f"broken after {n} events (recorded witness, checked)", trace, True), ""
