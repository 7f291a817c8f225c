"""Proof engine: bounded model checking from power-on plus k-induction, with traces.

Theory of operation
-------------------
Obligations are the invariants of ``specs.invariants``, the timeline obligations of
``specs.timeline`` (over ghosts), the power-cycle obligation REC-001 and the auxiliary ones of
``proofs.auxiliary``; all of them are proved *together*, over a relation that includes power
cycles (``proofs.encode``):

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
trace, replayed step by step on the runtime), or ``unknown`` (with the reason, e.g. the
timeout hit). ``unknown`` from any query - base case, bounded check, step - is never taken
for ``proved``; an inductive step whose assumptions admit no state at all is an error
(``VacuousStep``), not a proof. Nothing is dropped.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3

from controller.core import recovery
from controller.core.events import Actor, Event
from controller.core.limits import Limits
from controller.core.machine import Controller
from controller.core.recovery import PowerCycle
from controller.core.state import STATES, Vars, initial_vars
from controller.core.table import TABLE, Row
from pumpctl.proofs import encode as E
from pumpctl.proofs.auxiliary import AUXILIARY
from pumpctl.specs.invariants import REC_001, STATE_INVARIANTS, STEP_INVARIANTS, At, StateInv, StepInv
from pumpctl.specs.timeline import POWER_CYCLE, TIMELINE_INVARIANTS, Ghosts, TimelineInv, ghost_step

Inv = StateInv | StepInv | TimelineInv


JOINT_TIMEOUT_MS = 3_000  # the all-goals query per row; past it, each goal on its own (never weaker)
# A goal still unknown after its wall-clock tries gets a last one with a budget of Z3 resource units
# (rlimit) and no wall clock, so a loaded machine reaches the verdict an idle one reaches: a CI run
# with the mutants and CrossHair beside the step ended with TL-AUX and INV-DOS-008 unknown after
# 7 minutes (idle: every goal decided in 45 s). RLIMIT_PER_MS is about the median rate of the step's
# queries on this 2-core machine (1-5 M units a second); the budget is 4 x timeout_ms of that (the
# hardest goal of the real table takes 5 s idle; 4 x 30 s keeps a mutant's hard goal from costing more).
RLIMIT_PER_MS = 4_000
NO_TIMEOUT = 4_294_967_295  # Z3's default: no wall-clock limit


class VacuousStep(Exception):
    """The inductive step's assumptions are unsatisfiable: every "proved" would be vacuous."""


@dataclass
class TraceStep:
    state: str
    event: Event | PowerCycle | None  # the event that led here (None for the initial state)
    vars: Vars
    ghosts: Ghosts | tuple[()] = ()  # () when a trace carries no ghosts


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
    return [*AUXILIARY, *STATE_INVARIANTS, *TIMELINE_INVARIANTS, *STEP_INVARIANTS, REC_001]


def pre_holds(inv: Inv, st: Any, v: Vars, gh: Ghosts) -> Any:
    """A state-like obligation on one frame (None for a step obligation)."""
    if isinstance(inv, StateInv):
        return inv.pred(st, v)
    if isinstance(inv, TimelineInv):
        return inv.pred(st, v, gh)
    return None


def holds_after(inv: Inv, f: E.Frame, s: E.StepVars, x: E.Fired | None, dest: Any, post: Vars,
                post_gh: Ghosts) -> Any:
    """The obligation after a step (``x`` None: the refused-event case, nothing changed)."""
    if isinstance(inv, StepInv):
        if x is not None and x.power and not inv.power:
            return True  # a claim about controller steps only
        return inv.pred(f.st, f.v, E.as_event(s.e), dest, post)
    return pre_holds(inv, dest, post, post_gh)


def _full(gh: Ghosts | tuple[()]) -> Ghosts:
    """The ghosts of a trace step that must carry them (every step the engine builds does)."""
    if not isinstance(gh, Ghosts):
        raise ValueError("this trace step carries no ghosts")
    return gh


def _bool(x: object) -> z3.BoolRef:
    return x if isinstance(x, z3.BoolRef) else z3.BoolVal(bool(x))


def _unsat(r: z3.CheckSatResult) -> bool:
    return bool(r == z3.unsat)


@dataclass
class Engine:
    table: tuple[Row, ...] = TABLE
    timeout_ms: int = 30_000
    invs: list[Inv] = field(default_factory=obligations)
    extra_assumptions: list[z3.BoolRef] = field(default_factory=list)  # for tests that inject a fault

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

    def solver(self) -> z3.Solver:
        sol = z3.Solver()
        sol.set("timeout", self.timeout_ms)
        sol.add(*self.extra_assumptions)
        return sol

    def agrees(self, pre: TraceStep, post: TraceStep) -> bool:
        """The encoded transition relation holds between the runtime's concrete pre-state, event and
        post-state (and their ghosts): every leaf of the relation is replaced by its concrete value
        and the result must simplify to true. This checks the encoder and the runtime against each
        other directly (tests/test_z3_conformance.py), not each against a third interpreter; a step
        the runtime took by a shortcut the encoding does not have shows up as false. A power cycle
        is the relation's power row (``pushed_to`` as the event's volume)."""
        return self.ground(self.relation, pre, post)

    def ground(self, formula: z3.BoolRef, pre: TraceStep, post: TraceStep | None = None) -> bool:
        """The truth of ``formula`` (over the generic frames ``f0``, ``e0``, ``g0``) with ``pre`` as
        ``f0``, ``post`` as ``g0`` and ``post``'s event as ``e0`` (``post`` None: ``f0`` only)."""
        sides = [(self.f0.leaves, E.frame_values(pre.state, pre.vars, _full(pre.ghosts)))]
        if post is not None:
            e = post.event
            if e is None:
                raise ValueError("a step of a trace carries the event that led to it")
            sides += [(self.e0.leaves, event_values(e)),
                      (self.g0.leaves, E.frame_values(post.state, post.vars, _full(post.ghosts)))]
        pairs = [(leaf, z3.BoolVal(bool(value)) if z3.is_bool(leaf) else z3.IntVal(int(value)))
                 for leaves, values in sides for leaf, value in zip(leaves, values, strict=True)]
        verdict = z3.simplify(z3.substitute(formula, *pairs))
        if z3.is_true(verdict) or z3.is_false(verdict):
            return bool(z3.is_true(verdict))
        sol = self.solver()  # not decided by simplification alone (it always is on ground terms so far)
        sol.add(verdict)
        return bool(sol.check() == z3.sat)

    def broken_by(self, inv: Inv, pre: TraceStep, post: TraceStep) -> bool:
        """The obligation's own formula (the bounded check's goal, ``_goal_at``) is false after this step."""
        return not self.ground(_bool(self._goal_at(inv, [self.f0, self.g0], [self.e0], 1)), pre, post)

    def at_power_on(self, first: TraceStep) -> bool:
        """``first`` is a power-on frame of the encoding (``encode.init``, any valid configuration)."""
        return self.ground(z3.And(E.domain(self.f0), E.init(self.f0)), first)

    # --- inductive step, k = 1 -------------------------------------------------------------
    def inductive_step(self, assumed: Sequence[Inv] | None = None,
                       goals: Sequence[Inv] | None = None, jobs: int = 1) -> dict[str, tuple[bool, str, float]]:
        """Per obligation in ``assumed`` (default: all): (holds after every row when all of ``assumed``
        hold before, first failing row if not, seconds spent). Sound only for the whole set: see
        ``houdini``. Raises ``VacuousStep`` when the assumptions admit no state and event at all,
        and reports ``unknown`` as a failure (never as proved).

        ``jobs`` > 1 splits the row cases over that many fresh processes, each encoding the table
        again from the source, so code changed in this process would not be seen there:
        ``_parallel_ok`` refuses a private table, injected assumptions or private obligations, and
        a function patched in place (a mutant) cannot be detected, so only the callers that run the
        unpatched code ask for jobs (``pumpctl prove`` and ``pumpctl verify``, whose mutants run in
        processes of their own; ``proofs.prove.run`` defaults to one). The verdicts and the first
        failing row are the same as with one process."""
        invs = list(self.invs if assumed is None else assumed)
        targets = list(invs if goals is None else goals)
        sol = self._step_solver(invs)
        cases = self._step_cases()
        if jobs > 1 and self._parallel_ok(invs, targets):
            import multiprocessing

            # each process encodes once, then takes the next case when it is free; the ticks
            # (the hard cases, seconds each) go first so that no process is left with a long tail
            def is_tick(x: E.Fired | None) -> bool:
                return x is not None and not x.power and self.table[x.row].trigger == "tick"

            order = sorted(range(len(cases)), key=lambda i: (not is_tick(cases[i][5]), i))
            init = (self.timeout_ms, [inv.id for inv in invs], [inv.id for inv in targets])
            with multiprocessing.get_context("spawn").Pool(jobs, initializer=_step_worker_init, initargs=init) as pool:
                parts = list(pool.imap_unordered(_step_worker_case, order, chunksize=1))
        else:
            parts = self._check_cases(sol, cases, targets, range(len(cases)))
        result: dict[str, tuple[bool, str, float]] = {inv.id: (True, "", 0.0) for inv in targets}
        for _, failures, spent_case in sorted(parts):
            for inv_id, why in failures.items():
                ok, first, spent = result[inv_id]
                result[inv_id] = (False, first or why, spent)
            for inv_id in result:
                ok, first, spent = result[inv_id]
                result[inv_id] = (ok, first, spent + spent_case / len(targets))
        return result

    def _parallel_ok(self, invs: Sequence[Inv], targets: Sequence[Inv]) -> bool:
        known = {inv.id: inv for inv in obligations()}
        return (self.table is TABLE and not self.extra_assumptions
                and all(known.get(inv.id) is inv for inv in [*invs, *targets]))

    def _step_solver(self, invs: Sequence[Inv]) -> z3.Solver:
        f, s = self.f0, self.e0
        sol = self.solver()
        sol.add(E.domain(f), E.event_domain(s))
        for inv in invs:
            pre = pre_holds(inv, f.st, f.v, f.gh)
            if pre is not None:
                sol.add(_bool(pre))
        vacuity = self.decide(sol)  # out of time on a loaded machine: decided by work instead
        if vacuity != z3.sat:
            raise VacuousStep(f"vacuous inductive step: its assumptions are {vacuity}, no state satisfies them "
                              f"({sol.reason_unknown() if vacuity == z3.unknown else 'unsat'}); nothing is proved")
        return sol

    def _step_cases(self) -> list[tuple[z3.BoolRef, Any, Vars, Ghosts, str, E.Fired | None]]:
        f, s = self.f0, self.e0
        refused = z3.And(z3.Not(z3.Or(*(x.fire for x in self.fired))),
                         s.e.kind.term != E.KIND_CODE[POWER_CYCLE])  # encode: no refused power cycle
        cases: list[tuple[z3.BoolRef, Any, Vars, Ghosts, str, E.Fired | None]] = [
            (x.fire, At(x.dest), x.result, x.ghosts, f"{x.label(self.table)} from {x.source}", x) for x in self.fired]
        cases.append((refused, f.st, f.v, f.gh, "refused event", None))
        return cases

    def _generic_goals(self, targets: Sequence[Inv]) -> dict[str, z3.BoolRef]:
        """Each obligation after a step, built once over the generic post-frame ``g0``: a row case
        then only renames ``g0``'s leaves onto the row's result (one C++ substitution), instead of
        rebuilding the obligation's term in Python for every row (two thirds of the step's time)."""
        f, s, g = self.f0, self.e0, self.g0
        return {inv.id: _bool(holds_after(inv, f, s, None, g.st, g.v, g.gh)) for inv in targets}

    def _onto_case(self, dest: Any, post: Vars, post_gh: Ghosts) -> list[tuple[z3.ExprRef, z3.ExprRef]]:
        """The renaming of ``g0``'s leaves onto one case's post-state (its state and result)."""
        state = dest.term if isinstance(dest, E.SymState) else z3.IntVal(E.STATE_CODE[dest.name])
        values = [state, *E.flatten((post, post_gh))]
        return [(leaf, value if isinstance(value, z3.ExprRef) else
                 z3.BoolVal(bool(value)) if z3.is_bool(leaf) else z3.IntVal(int(value)))
                for leaf, value in zip(self.g0.leaves, values, strict=True)]

    def _check_cases(self, sol: z3.Solver, cases: Sequence[tuple[z3.BoolRef, Any, Vars, Ghosts, str, E.Fired | None]],
                     targets: Sequence[Inv], indices: Iterable[int],
                     generic: dict[str, z3.BoolRef] | None = None) -> list[tuple[int, dict[str, str], float]]:
        """Per case index: the obligations that fail after it (with the reason) and the seconds."""
        generic = self._generic_goals(targets) if generic is None else generic
        out: list[tuple[int, dict[str, str], float]] = []
        for index in indices:
            fire, dest, post, post_gh, label, x = cases[index]
            t0 = time.perf_counter()
            failures: dict[str, str] = {}
            sol.push()
            sol.add(fire)
            # a claim about controller steps says nothing of a power cycle (holds_after's rule)
            live = [inv for inv in targets
                    if not (isinstance(inv, StepInv) and x is not None and x.power and not inv.power)]
            pairs = self._onto_case(dest, post, post_gh)
            sol.push()
            sol.add(z3.Not(z3.substitute(z3.And(*(generic[inv.id] for inv in live)), *pairs)))
            sol.set("timeout", min(self.timeout_ms, JOINT_TIMEOUT_MS))  # joint first, briefly: usually unsat
            verdict = sol.check()
            sol.set("timeout", self.timeout_ms)
            sol.pop()
            if verdict != z3.unsat:  # a failure or a hard case: one goal at a time (much easier for Z3)
                for inv in live:
                    sol.push()
                    sol.add(z3.Not(z3.substitute(generic[inv.id], *pairs)))
                    r = sol.check()
                    if r == z3.unknown:  # a loaded machine: once more with four times the time
                        sol.set("timeout", 4 * self.timeout_ms)
                        r = sol.check()
                        sol.set("timeout", self.timeout_ms)
                    if r == z3.unknown:  # then by work done, not by time; past that budget, unknown
                        r = self._by_work(sol, 4 * self.timeout_ms)
                    sol.pop()
                    if r != z3.unsat:
                        why = "counterexample to induction" if r == z3.sat else f"unknown ({sol.reason_unknown()})"
                        failures[inv.id] = f"{label}: {why}"
            sol.pop()
            out.append((index, failures, time.perf_counter() - t0))
        return out

    def decide(self, sol: z3.Solver) -> z3.CheckSatResult:
        """``sol.check()``; past its wall-clock limit (a loaded machine), once more bounded by work
        (``_by_work``), so a verdict does not depend on what else the machine was doing."""
        r = sol.check()
        return self._by_work(sol, 4 * self.timeout_ms) if r == z3.unknown else r

    def _by_work(self, sol: z3.Solver, budget_ms: int) -> z3.CheckSatResult:
        """``sol.check()`` within ``budget_ms`` of idle-machine work (rlimit), with no wall-clock limit."""
        sol.set("timeout", NO_TIMEOUT)
        sol.set("rlimit", budget_ms * RLIMIT_PER_MS)
        try:
            return sol.check()
        finally:
            sol.set("rlimit", 0)
            sol.set("timeout", self.timeout_ms)

    def houdini(self, jobs: int = 1) -> tuple[list[Inv], dict[str, str], float]:
        """The largest subset of the obligations that is inductive together (Houdini): drop every
        obligation whose step fails, re-check the rest without it, until nothing fails.
        Returns (inductive set, first failure of each dropped obligation, seconds)."""
        t0 = time.perf_counter()
        kept = list(self.invs)
        dropped: dict[str, str] = {}
        while True:
            step = self.inductive_step(kept, jobs=jobs)
            failing = {i for i, (ok, _, _) in step.items() if not ok}
            for inv_id in failing:
                dropped[inv_id] = step[inv_id][1]
            if not failing:
                return kept, dropped, time.perf_counter() - t0
            kept = [inv for inv in kept if inv.id not in failing]

    # --- base case: bounded model checking from power-on -------------------------------------
    def bmc(self, depth: int, only: Sequence[str] | None = None, first: bool = False,
            prefix: Sequence[TraceStep] = ()) -> dict[str, Verdict]:
        """Search for real counterexamples of length <= depth. Returns the counterexamples found and,
        for an obligation whose query came back ``unknown``, an ``unknown`` verdict (never silence).
        ``first``: stop at the first counterexample that replays (a mutant needs only one).
        ``prefix``: a concrete run from power-on (``run_prefix``) whose last state the search starts
        from; a counterexample is then the prefix followed by the search's events, and is replayed
        whole from power-on (so a deep fault costs the solver only its last few events)."""
        frames = [E.new_frame(100)]
        steps: list[E.StepVars] = []
        sol = self.solver()
        if prefix:
            last = prefix[-1]
            sol.add(E.domain(frames[0]), E.pinned(frames[0], last.state, last.vars, _full(last.ghosts)))
        else:
            sol.add(E.domain(frames[0]), E.init(frames[0]))
        found: dict[str, Verdict] = {}
        order = {inv_id: i for i, inv_id in enumerate(only or ())}  # ``only``'s order: the intended one first
        wanted = sorted((inv for inv in self.invs if only is None or inv.id in only),
                        key=lambda inv: order.get(inv.id, 0))
        for d in range(depth + 1):
            if all(inv.id in found for inv in wanted):
                break
            if d > 0:
                s = E.new_event(100 + d)
                g = E.new_frame(100 + d)
                sol.add(E.event_domain(s), E.domain(g), self.step_relation(frames[-1], s, g))
                steps.append(s)
                frames.append(g)
            if first and any(v.verdict == "counterexample" and v.replayed for v in found.values()):
                break
            for inv in wanted:
                if inv.id in found or (isinstance(inv, StepInv) and d == 0):
                    continue
                goal = self._goal_at(inv, frames, steps, d)
                sol.push()
                sol.add(z3.Not(_bool(goal)))
                t0 = time.perf_counter()
                r = sol.check()
                if r == z3.sat:
                    found_trace = self._trace(sol.model(), frames, steps)
                    trace = [*prefix, *found_trace[1:]] if prefix else found_trace
                    n = len(trace) - 1
                    found[inv.id] = Verdict(inv.id, inv.reqs, inv.text, inv.safety, "counterexample", n,
                                            time.perf_counter() - t0, f"broken after {n} events", trace,
                                            replay(trace, self.table, inv))
                    if first and found[inv.id].replayed:
                        sol.pop()
                        return found
                elif r == z3.unknown:
                    found[inv.id] = Verdict(inv.id, inv.reqs, inv.text, inv.safety, "unknown", None,
                                            time.perf_counter() - t0,
                                            f"bounded check at depth {d}: unknown ({sol.reason_unknown()})")
                sol.pop()
        return found

    def _goal_at(self, inv: Inv, frames: list[E.Frame], steps: list[E.StepVars], d: int) -> Any:
        f = frames[d]
        if not isinstance(inv, StepInv):
            return pre_holds(inv, f.st, f.v, f.gh)
        p, e = frames[d - 1], steps[d - 1].e
        goal = inv.pred(p.st, p.v, E.as_event(e), f.st, f.v)
        return goal if inv.power else z3.Or(e.kind.term == E.KIND_CODE[POWER_CYCLE], _bool(goal))

    def _trace(self, m: z3.ModelRef, frames: list[E.Frame], steps: list[E.StepVars]) -> list[TraceStep]:
        template = initial_vars()
        out = []
        for i, f in enumerate(frames):
            state = STATES[m.eval(f.st.term, model_completion=True).as_long()]
            v = E.concrete(template, f.v, m)
            gh = E.concrete(E.GHOST_TEMPLATE, f.gh, m)
            event = None if i == 0 else concrete_event(m, steps[i - 1])
            out.append(TraceStep(state, event, v, gh))
        return out

    # --- k-induction on frames -----------------------------------------------------------
    def k_induction(self, inv: Inv, k: int, lemmas: Sequence[Inv] = ()) -> str:
        """'proved' if the obligation follows from k consecutive states satisfying it and the
        already proved ``lemmas``, else why not (``unknown`` is never 'proved')."""
        frames = [E.new_frame(200)]
        sol = self.solver()
        sol.add(E.domain(frames[0]))
        steps: list[E.StepVars] = []
        for i in range(1, k + 1):
            s = E.new_event(200 + i)
            g = E.new_frame(200 + i)
            sol.add(E.event_domain(s), E.domain(g), self.step_relation(frames[-1], s, g))
            steps.append(s)
            frames.append(g)
        for i in range(k):
            for other in [*lemmas, inv]:
                if not isinstance(other, StepInv):
                    sol.add(_bool(pre_holds(other, frames[i].st, frames[i].v, frames[i].gh)))
                elif i > 0:
                    sol.add(_bool(self._goal_at(other, frames, steps, i)))
        if sol.check() != z3.sat:
            return "unknown (the k-induction assumptions are vacuous)"
        sol.add(z3.Not(_bool(self._goal_at(inv, frames, steps, k))))
        r = sol.check()
        return "proved" if r == z3.unsat else ("counterexample to induction" if r == z3.sat
                                              else f"unknown ({sol.reason_unknown()})")


def concrete_event(m: z3.ModelRef, s: E.StepVars) -> Event | PowerCycle:
    kind = E.PROOF_KINDS[m.eval(s.e.kind.term, model_completion=True).as_long()]
    tmpl = E.EVENT_TEMPLATE
    values = {f: E.concrete(getattr(tmpl, f), getattr(s.e, f), m) for f in E.SymEvent._fields[1:]}
    if kind == POWER_CYCLE:
        return PowerCycle(values["volume"])
    values["actor"] = Actor(values["actor"])
    return Event(kind, **values)


def run_prefix(cfg: Limits, events: Sequence[Event], table: tuple[Row, ...] = TABLE) -> list[TraceStep]:
    """A concrete run from power-on on the runtime (the table given), as trace steps with ghosts;
    every event must be accepted (a prefix that is refused proves nothing about the fault)."""
    c = Controller(cfg, table=table)
    gh = E.GHOST_TEMPLATE
    out = [TraceStep(c.state, None, c.vars, gh)]
    for e in events:
        s0, v0 = c.state, c.vars
        step = c.handle(e)
        if not step.accepted:
            raise ValueError(f"prefix event {e.kind} refused in {s0}: {step.reason}")
        gh = ghost_step(gh, s0, e.kind, v0, e.dt_ms, c.vars)
        out.append(TraceStep(c.state, e, c.vars, gh))
    return out


def run_events(first: TraceStep, events: Sequence[Event | PowerCycle], table: tuple[Row, ...]) -> list[TraceStep]:
    """The runtime's own steps from ``first`` through ``events``: the controller for events (a refused
    event changes nothing, ghosts included), ``recovery.restore`` and a new controller for a power
    cycle, and the ghosts recomputed along the way (``specs.timeline.ghost_step`` on concrete values)."""
    c = Controller(first.vars.cfg, vars=first.vars, state=first.state, table=table)
    gh = first.ghosts
    out = [first]
    for e in events:
        s0, v0 = c.state, c.vars
        if isinstance(e, PowerCycle):
            c = Controller(v0.cfg, vars=recovery.restore(v0, s0, e.pushed_to), state="POST", table=table)
            gh = ghost_step(gh, s0, POWER_CYCLE, v0, 0, c.vars, e.pushed_to) if gh else gh
        elif c.handle(e).accepted:
            gh = ghost_step(gh, s0, e.kind, v0, e.dt_ms, c.vars) if gh else gh
        out.append(TraceStep(c.state, e, c.vars, gh))
    return out


def run_trace(trace: list[TraceStep], table: tuple[Row, ...]) -> list[tuple[str, Vars, Ghosts | tuple[()]]]:
    """The runtime's own (state, vars, ghosts) after each step of the trace's events (``run_events``)."""
    events = [step.event for step in trace[1:]]
    assert all(e is not None for e in events)
    return [(s.state, s.vars, s.ghosts) for s in run_events(trace[0], events, table)]  # type: ignore[arg-type]


def event_values(e: Event | PowerCycle) -> list[Any]:
    """An event as values in the order of an event's leaves (a power cycle: ``pushed_to`` as volume)."""
    if isinstance(e, PowerCycle):
        tmpl = E.EVENT_TEMPLATE
        return [E.KIND_CODE[POWER_CYCLE], *(leaf for name in E.SymEvent._fields[1:] for leaf in E.flatten(
            e.pushed_to if name == "volume" else int(Actor.SYSTEM) if name == "actor" else getattr(tmpl, name)))]
    return [E.KIND_CODE[e.kind], *(leaf for name in E.SymEvent._fields[1:] for leaf in E.flatten(getattr(e, name)))]


def replay(trace: list[TraceStep], table: tuple[Row, ...], inv: Inv) -> bool:
    """Run the trace's events on the runtime (same table); True if every step ends in the same state
    and variables (and ghosts) as the trace, and the obligation is broken at the end there too."""
    states = run_trace(trace, table)
    for (state, v, gh), want in zip(states, trace, strict=True):
        if state != want.state or v != want.vars or (want.ghosts and gh != want.ghosts):
            return False
    state, v, gh = states[-1]
    if isinstance(inv, StepInv):
        p_state, p_vars, _ = states[-2]
        return not inv.pred(At(p_state), p_vars, trace[-1].event, At(state), v)  # type: ignore[arg-type]
    if isinstance(inv, TimelineInv):
        return not pre_holds(inv, At(state), v, _full(gh))
    return not pre_holds(inv, At(state), v, E.GHOST_TEMPLATE)  # a state obligation reads no ghosts


_WORKER: tuple[Engine, z3.Solver, list[Any], list[Inv], dict[str, z3.BoolRef]] | None = None


def _step_worker_init(timeout_ms: int, assumed: list[str], goals: list[str]) -> None:
    """A process's part of the inductive step (``Engine.inductive_step`` with ``jobs``): encode once."""
    global _WORKER
    eng = Engine(timeout_ms=timeout_ms)
    by_id = {inv.id: inv for inv in eng.invs}
    sol = eng._step_solver([by_id[i] for i in assumed])
    targets = [by_id[i] for i in goals]
    _WORKER = (eng, sol, eng._step_cases(), targets, eng._generic_goals(targets))


def _step_worker_case(index: int) -> tuple[int, dict[str, str], float]:
    assert _WORKER is not None, "the step worker was not initialised"
    eng, sol, cases, targets, generic = _WORKER
    return eng._check_cases(sol, cases, targets, [index], generic)[0]
