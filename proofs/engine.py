"""Proof engine: bounded model checking from power-on plus k-induction, with traces.

Theory of operation
-------------------
Obligations are the invariants of ``specs.invariants`` plus the auxiliary ones of
``proofs.auxiliary``; all of them are proved *together*:

1. **Inductive step, k = 1, row by row.** Assume every obligation in an arbitrary frame
   (state and variables free, every valid configuration); for each row instance of the table
   (and for "no row fires"), ask Z3 whether the row can fire and break some obligation in the
   state it leads to. The row's result is the real effect evaluated on the frame's terms, so
   each query is small. Unsat for every row: the conjunction is inductive.
2. **Base case.** Bounded model checking from power-on (``encode.init``) for ``depth`` steps
   on one incremental solver: any obligation broken within that many events is a real
   counterexample, returned as a trace and replayed through the runtime controller.
3. **k-induction** (k > 1, on frames) for obligations whose one-step induction failed without
   a real counterexample (a counterexample to induction that may be unreachable).

Verdicts are honest: ``proved`` (with the k that closed it), ``counterexample`` (with the
trace), or ``unknown`` (with the reason, e.g. the timeout hit). Nothing is dropped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import z3

from controller.core import Controller
from controller.events import KINDS, Actor, Event
from controller.state import STATES, Vars, initial_vars
from controller.table import TABLE, Row
from proofs import encode as E
from proofs.auxiliary import AUXILIARY
from specs.invariants import STATE_INVARIANTS, STEP_INVARIANTS, At, StateInv, StepInv

Inv = StateInv | StepInv


@dataclass
class TraceStep:
    state: str
    event: Event | None  # the event that led here (None for the initial state)
    vars: Vars


@dataclass
class Verdict:
    id: str
    reqs: tuple[str, ...]
    text: str
    safety: bool
    verdict: str  # proved | counterexample | unknown
    k: int | None = None
    seconds: float = 0.0
    detail: str = ""
    trace: list[TraceStep] = field(default_factory=list)
    replayed: bool | None = None  # the counterexample reproduced on the runtime controller


def obligations() -> list[Inv]:
    return [*AUXILIARY, *STATE_INVARIANTS, *STEP_INVARIANTS]


def holds_after(inv: Inv, f: E.Frame, s: E.StepVars, dest: Any, post: Vars) -> Any:
    if isinstance(inv, StateInv):
        return inv.pred(dest, post)
    return inv.pred(f.st, f.v, s.e, dest, post)


def _bool(x: object) -> z3.BoolRef:
    return x if isinstance(x, z3.BoolRef) else z3.BoolVal(bool(x))


@dataclass
class Engine:
    table: tuple[Row, ...] = TABLE
    timeout_ms: int = 30_000
    invs: list[Inv] = field(default_factory=obligations)

    def __post_init__(self) -> None:
        self.f0 = E.new_frame(0)
        self.e0 = E.new_event(0)
        self.g0 = E.new_frame(1)
        self.relation, self.fired = E.transition(self.f0, self.e0, self.g0, self.table)

    def step_relation(self, f: E.Frame, s: E.StepVars, g: E.Frame) -> z3.BoolRef:
        """The generic relation, renamed onto frames f -> g by event s (one C++ substitution)."""
        pairs = [*zip(self.f0.leaves, f.leaves, strict=True), *zip(self.e0.leaves, s.leaves, strict=True),
                 *zip(self.g0.leaves, g.leaves, strict=True)]
        return z3.substitute(self.relation, *pairs)

    # --- inductive step, k = 1 -------------------------------------------------------------
    def inductive_step(self, assumed: Sequence[Inv] | None = None,
                       goals: Sequence[Inv] | None = None) -> dict[str, tuple[bool, str, float]]:
        """Per obligation in ``assumed`` (default: all): (holds after every row when all of ``assumed``
        hold before, first failing row if not, seconds spent). Sound only for the whole set: see
        ``houdini``."""
        invs = list(self.invs if assumed is None else assumed)
        f, s = self.f0, self.e0
        sol = z3.Solver()
        sol.set("timeout", self.timeout_ms)
        sol.add(E.domain(f), E.event_domain(s))
        for inv in invs:
            if isinstance(inv, StateInv):
                sol.add(_bool(inv.pred(f.st, f.v)))
        targets = list(invs if goals is None else goals)
        result: dict[str, tuple[bool, str, float]] = {inv.id: (True, "", 0.0) for inv in targets}
        refused = z3.Not(z3.Or(*(x.fire for x in self.fired)))
        cases = [(x.fire, At(x.dest), x.result, f"row {x.row} from {x.source}") for x in self.fired]
        cases.append((refused, f.st, f.v, "refused event"))
        for fire, dest, post, label in cases:
            t0 = time.perf_counter()
            sol.push()
            sol.add(fire)
            goal_terms = {inv.id: _bool(holds_after(inv, f, s, dest, post)) for inv in targets}
            sol.push()
            sol.add(z3.Not(z3.And(*goal_terms.values())))
            verdict = sol.check()
            sol.pop()
            if verdict != z3.unsat:
                for inv_id, goal in goal_terms.items():
                    sol.push()
                    sol.add(z3.Not(goal))
                    r = sol.check()
                    sol.pop()
                    if r != z3.unsat:
                        ok, first, spent = result[inv_id]
                        why = "counterexample to induction" if r == z3.sat else f"unknown ({sol.reason_unknown()})"
                        result[inv_id] = (False, first or f"{label}: {why}", spent)
            sol.pop()
            spent_case = time.perf_counter() - t0
            for inv_id in goal_terms:
                ok, first, spent = result[inv_id]
                result[inv_id] = (ok, first, spent + spent_case / len(goal_terms))
        return result

    def houdini(self) -> tuple[list[Inv], dict[str, str], float]:
        """The largest subset of the obligations that is inductive together (Houdini): drop every
        obligation whose step fails, re-check the rest without it, until nothing fails.
        Returns (inductive set, first failure of each dropped obligation, seconds)."""
        t0 = time.perf_counter()
        kept = list(self.invs)
        dropped: dict[str, str] = {}
        while True:
            step = self.inductive_step(kept)
            failing = {i for i, (ok, _, _) in step.items() if not ok}
            for inv_id in failing:
                dropped[inv_id] = step[inv_id][1]
            if not failing:
                return kept, dropped, time.perf_counter() - t0
            kept = [inv for inv in kept if inv.id not in failing]

    def check_restore(self, assumed: Sequence[Inv]) -> tuple[bool, str]:
        """REC-001: restoring a snapshot of any state that satisfies ``assumed`` (with the odometer
        anywhere the write-ahead rule allows) gives a POST state satisfying every state obligation,
        and no dose window goes over its limit on the volume the restore adds."""
        from controller import windows
        from controller.program import N_WINDOWS
        from controller.recovery import bound_ok, restore

        f = self.f0
        pushed = z3.Int("restore.pushed_to")
        sol = z3.Solver()
        sol.set("timeout", self.timeout_ms)
        sol.add(E.domain(f), _bool(bound_ok(f.v, pushed)))
        for inv in assumed:
            if isinstance(inv, StateInv):
                sol.add(_bool(inv.pred(f.st, f.v)))
        for state in STATES:
            post = restore(f.v, state, pushed)
            goals = [_bool(inv.pred(At("POST"), post)) for inv in self.invs if isinstance(inv, StateInv)]
            for j in range(N_WINDOWS):
                before = windows.used(f.v.flow.wcur[j], f.v.win[j])
                after = windows.used(post.flow.wcur[j], post.win[j])
                goals.append(z3.Implies(z3.And(f.v.prog.lim_vol[j] > 0, after > before), after <= f.v.prog.lim_vol[j]))
            sol.push()
            sol.add(f.st.term == E.STATE_CODE[state], z3.Not(z3.And(*goals)))
            r = sol.check()
            sol.pop()
            if r != z3.unsat:
                return False, f"restoring a snapshot taken in {state}: {r}"
        return True, f"restore of every state ({len(STATES)}) re-establishes every state obligation"

    # --- base case: bounded model checking from power-on -------------------------------------
    def bmc(self, depth: int, only: Sequence[str] | None = None) -> dict[str, Verdict]:
        """Search for real counterexamples of length <= depth; returns the ones found."""
        frames = [E.new_frame(100)]
        steps: list[E.StepVars] = []
        sol = z3.Solver()
        sol.set("timeout", self.timeout_ms)
        sol.add(E.domain(frames[0]), E.init(frames[0]))
        found: dict[str, Verdict] = {}
        wanted = [inv for inv in self.invs if only is None or inv.id in only]
        for d in range(depth + 1):
            if all(inv.id in found for inv in wanted):
                break
            if d > 0:
                s = E.new_event(100 + d)
                g = E.new_frame(100 + d)
                sol.add(E.event_domain(s), E.domain(g), self.step_relation(frames[-1], s, g))
                steps.append(s)
                frames.append(g)
            for inv in wanted:
                if inv.id in found or (isinstance(inv, StepInv) and d == 0):
                    continue
                if isinstance(inv, StateInv):
                    goal = inv.pred(frames[d].st, frames[d].v)
                else:
                    goal = inv.pred(frames[d - 1].st, frames[d - 1].v, steps[-1].e, frames[d].st, frames[d].v)
                sol.push()
                sol.add(z3.Not(_bool(goal)))
                t0 = time.perf_counter()
                r = sol.check()
                if r == z3.sat:
                    trace = self._trace(sol.model(), frames, steps)
                    found[inv.id] = Verdict(inv.id, inv.reqs, inv.text, inv.safety, "counterexample", d,
                                            time.perf_counter() - t0, f"broken after {d} events", trace,
                                            replay(trace, self.table, inv))
                sol.pop()
        return found

    def _trace(self, m: z3.ModelRef, frames: list[E.Frame], steps: list[E.StepVars]) -> list[TraceStep]:
        template = initial_vars()
        out = []
        for i, f in enumerate(frames):
            state = STATES[m.eval(f.st.term, model_completion=True).as_long()]  # type: ignore[union-attr]
            v = E.concrete(template, f.v, m)
            event = None if i == 0 else concrete_event(m, steps[i - 1])
            out.append(TraceStep(state, event, v))
        return out

    # --- k-induction on frames -----------------------------------------------------------
    def k_induction(self, inv: Inv, k: int, lemmas: Sequence[Inv] = ()) -> str:
        """'proved' if the obligation follows from k consecutive states satisfying it and the
        already proved ``lemmas``, else why not."""
        frames = [E.new_frame(200)]
        sol = z3.Solver()
        sol.set("timeout", self.timeout_ms)
        sol.add(E.domain(frames[0]))
        steps = []
        for i in range(1, k + 1):
            s = E.new_event(200 + i)
            g = E.new_frame(200 + i)
            sol.add(E.event_domain(s), E.domain(g), self.step_relation(frames[-1], s, g))
            steps.append(s)
            frames.append(g)
        for i in range(k):
            for other in [*lemmas, inv]:
                if isinstance(other, StateInv):
                    sol.add(_bool(other.pred(frames[i].st, frames[i].v)))
                elif i > 0:
                    sol.add(_bool(other.pred(frames[i - 1].st, frames[i - 1].v, steps[i - 1].e, frames[i].st,
                                             frames[i].v)))
        goal = (inv.pred(frames[k].st, frames[k].v) if isinstance(inv, StateInv)
                else inv.pred(frames[k - 1].st, frames[k - 1].v, steps[-1].e, frames[k].st, frames[k].v))
        sol.add(z3.Not(_bool(goal)))
        r = sol.check()
        return "proved" if r == z3.unsat else ("counterexample to induction" if r == z3.sat
                                              else f"unknown ({sol.reason_unknown()})")


def concrete_event(m: z3.ModelRef, s: E.StepVars) -> Event:
    kind = KINDS[m.eval(s.e.kind.term, model_completion=True).as_long()]  # type: ignore[union-attr]
    tmpl = E.EVENT_TEMPLATE
    values = {f: E.concrete(getattr(tmpl, f), getattr(s.e, f), m) for f in E.SymEvent._fields[1:]}
    values["actor"] = Actor(values["actor"])
    return Event(kind, **values)


def replay(trace: list[TraceStep], table: tuple[Row, ...], inv: Inv) -> bool:
    """Run the trace's events on the runtime controller (same table); True if it ends in the
    same state and variables and the obligation is broken there too."""
    first = trace[0]
    c = Controller(first.vars.cfg, vars=first.vars, state=first.state, table=table)
    prev_state, prev_vars = c.state, c.vars
    for step in trace[1:]:
        assert step.event is not None
        prev_state, prev_vars = c.state, c.vars
        c.handle(step.event)
    last = trace[-1]
    if c.state != last.state or c.vars != last.vars:
        return False
    if isinstance(inv, StateInv):
        return not inv.pred(At(c.state), c.vars)
    return not inv.pred(At(prev_state), prev_vars, last.event, At(c.state), c.vars)  # type: ignore[arg-type]
