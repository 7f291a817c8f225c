"""The runtime invariant checker: every invariant of ``specs/invariants.py`` on one real step,
and the coverage of what the checked steps reached.

Theory of operation
-------------------
``check_step`` is the one place every stateful check passes through (the random walk, the
scenario runner, the fault campaign, the stateful and driver tests): it evaluates the state
invariants after a step and the step invariants across it with the very predicates the proofs
prove, and reports a refused event that changed anything. Inside ``recording()`` every checked
step is also noted in a ``Coverage`` (states, rows, triggers accepted and refused, alarm
causes), so the evidence can say what a test reached; a child process started with
``PUMPCTL_COVERAGE_DIR`` writes its coverage there at exit.

It lives in ``specs`` (beside the invariants it evaluates), below every layer that runs it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from controller.core.alarms import CATALOG
from controller.core.machine import Step
from pumpctl.specs.invariants import STATE_INVARIANTS, STEP_INVARIANTS, At


@dataclass
class Coverage:
    """What the recorded steps reached (rule 2: rows are table indices)."""

    steps: int = 0
    states: set[str] = field(default_factory=set)
    rows: set[int] = field(default_factory=set)
    accepted: set[str] = field(default_factory=set)  # "trigger@source"
    refused: set[str] = field(default_factory=set)  # "trigger@source"
    causes: set[tuple[bool, ...]] = field(default_factory=set)  # raw cause flags, named in to_json
    named_alarms: set[str] = field(default_factory=set)  # alarms merged from another process, by name

    def note(self, before_state: str, step: Step) -> None:
        self.steps += 1
        self.states.add(step.state)
        if step.accepted:
            self.accepted.add(f"{step.event.kind}@{before_state}")
            if step.row is not None:
                self.rows.add(step.row)
        else:
            self.refused.add(f"{step.event.kind}@{before_state}")
        self.causes.add(step.vars.alarm.cause)

    def alarms(self) -> list[str]:
        return sorted({a.id for flags in self.causes for a, on in zip(CATALOG, flags, strict=False) if on}
                      | self.named_alarms)

    def to_json(self) -> dict[str, Any]:
        return {"steps": self.steps, "states": sorted(self.states), "rows": sorted(self.rows),
                "accepted": sorted(self.accepted), "refused": sorted(self.refused), "alarms": self.alarms()}

    def merge(self, other: dict[str, Any]) -> None:
        """Add what another run (a child process) reached, from its ``to_json``."""
        self.steps += int(other.get("steps", 0))
        self.states |= set(other.get("states") or [])
        self.rows |= {int(i) for i in other.get("rows") or []}
        self.accepted |= set(other.get("accepted") or [])
        self.refused |= set(other.get("refused") or [])
        self.named_alarms |= set(other.get("alarms") or [])


_RECORDING: list[Coverage] = []
COVERAGE_DIR = "PUMPCTL_COVERAGE_DIR"


def _record_this_process() -> None:
    """In a child process started with PUMPCTL_COVERAGE_DIR: record everything, write it at exit."""
    where = os.environ.get(COVERAGE_DIR)
    if not where:
        return
    cov = Coverage()
    _RECORDING.append(cov)

    def write() -> None:
        if cov.steps:
            path = os.path.join(where, f"coverage-{os.getpid()}.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(cov.to_json(), f)

    atexit.register(write)


def merge_children(cov: Coverage, where: str) -> int:
    """Merge the coverage files child processes wrote into ``where``; how many there were."""
    n = 0
    for name in sorted(os.listdir(where)):
        if name.startswith("coverage-") and name.endswith(".json"):
            with open(os.path.join(where, name), encoding="utf-8") as f:
                cov.merge(json.load(f))
            n += 1
    return n


@contextlib.contextmanager
def recording() -> Iterator[Coverage]:
    """Record what every ``check_step`` inside the block reached (nested blocks all record)."""
    cov = Coverage()
    _RECORDING.append(cov)
    try:
        yield cov
    finally:
        _RECORDING.remove(cov)


_record_this_process()


def check_step(before_state: str, step: Step, before_vars: object) -> list[str]:
    """Invariant ids broken by ``step`` (state invariants after it, step invariants across it)."""
    for cov in _RECORDING:
        cov.note(before_state, step)
    broken = [inv.id for inv in STATE_INVARIANTS if not inv.pred(At(step.state), step.vars)]
    if step.accepted:
        broken += [inv.id for inv in STEP_INVARIANTS
                   if not inv.pred(At(before_state), before_vars, step.event, At(step.state), step.vars)]  # type: ignore[arg-type]
    else:
        if step.vars is not before_vars or step.state != before_state:
            broken.append("REFUSAL-CHANGED-STATE")
    return broken
