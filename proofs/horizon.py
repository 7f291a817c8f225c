"""The quiet horizon, proved: a long quiet tick is exactly the short ticks it replaces (Z3).

Theory of operation
-------------------
``controller.core.horizon`` gives, for a state, the longest tick during which nothing can happen
but the linear counters, and the table accepts such a tick whatever its length
(``guards.tick_ok_or_quiet``). A simulator then skips quiet control periods with one long tick
(DEC-040). That is exact only if time is additive inside the horizon; this module proves it
for every state of the table, over the real row functions:

- ``EQV-TCK-001`` every tick of 1 ms up to ``horizon(v, state)`` is ``quiet``, for every value
  (a validity: the horizon's division never overshoots the guard's products);
- ``EQV-TCK-002`` tick additivity: in every reachable state (the proved obligations assumed),
  for every ``a, b >= 1`` with ``quiet(v, state, a + b)``, the state's common tick row fires for
  ``a``, then for ``b``, and for ``a + b``; ``b`` is quiet after ``a``; and the two paths end in
  the same variables, leaf for leaf. By induction, one tick of ``k x p`` within the horizon
  equals ``k`` ticks of ``p``: skipping periods is exact by proof, not by hope.

Rules
1. Each claim is checked per state (the row functions branch on the concrete state).
2. A premise that admits nothing is reported, never taken as proved.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import z3

from controller.core.events import Actor
from controller.core.flow import COUNTED, Mode, mode_of, moved_in
from controller.core.horizon import horizon, quiet
from controller.core.logic import ite
from controller.core.state import STATES, Vars
from controller.core.table import TABLE, Row, rows_for
from pumpctl.proofs import encode as E
from pumpctl.proofs.engine import Engine, Inv, Verdict

SOUND_ID = "EQV-TCK-001"
ADDITIVE_ID = "EQV-TCK-002"
IDS = (SOUND_ID, ADDITIVE_ID)
REQS = ("REQ-CFG-002", "REQ-DEL-003")


def _tick(i: int, dt: z3.ArithRef) -> tuple[E.StepVars, z3.BoolRef]:
    s = E.new_event(i)
    return s, z3.And(s.e.kind.term == E.KIND_CODE["tick"], s.e.actor == int(Actor.SYSTEM), s.e.dt_ms == dt)


def common_row(state: str, table: tuple[Row, ...] = TABLE) -> Row:
    """The state's first tick row: the common internal one (table rule 1)."""
    return rows_for(state, "tick", table)[0]


def _run(sol: z3.Solver, goals: Sequence[z3.BoolRef], timeout_ms: int) -> tuple[str, str]:
    """Every goal on the premise in ``sol``, one at a time, in order; each goal proved is then
    assumed for the ones after it (a lemma: sound, since it holds wherever the premise does)."""
    sol.set("timeout", timeout_ms)
    if sol.check() != z3.sat:
        return "unknown", "the premise admits no state: nothing is proved"
    for i, goal in enumerate(goals):
        sol.push()
        sol.add(z3.Not(goal))
        r = sol.check()
        if r == z3.unknown:  # a loaded machine: once more with four times the time, then unknown
            sol.set("timeout", 4 * timeout_ms)
            r = sol.check()
            sol.set("timeout", timeout_ms)
        sol.pop()
        if r == z3.sat:
            return "counterexample", f"counterexample to part {i}"
        if r != z3.unsat:
            return "unknown", f"part {i}: unknown ({sol.reason_unknown()})"
        sol.add(goal)
    return "proved", ""


def horizon_sound(timeout_ms: int = 30_000, states: Sequence[str] = STATES) -> Verdict:
    t0 = time.perf_counter()
    f = E.new_frame(950)
    dt = z3.Int("tck.dt")
    failed = []
    for s in states:
        sol = z3.Solver()
        sol.add(E.domain(f), f.st.term == E.STATE_CODE[s], dt >= 1, E._b(dt <= horizon(f.v, s)))
        verdict, detail = _run(sol, [E._b(quiet(f.v, s, dt))], timeout_ms)
        if verdict != "proved":
            failed.append(f"{s}: {verdict} {detail}".strip())
    text = "every tick of 1 ms up to the quiet horizon is quiet (the horizon never overshoots the tick guard)"
    return _verdict(SOUND_ID, text, failed, len(states), time.perf_counter() - t0, "valid for every value")


def linear(v: Vars, state: str, dt: int) -> Vars:
    """What a quiet tick of ``dt`` does, written out plainly (the normal form of EQV-TCK-002): the
    clock moves on, the mechanism moves ``flow.moved_in`` (the commanded rate until the cap) into the
    channel of the state (therapy, KVO or priming), the current bucket of every dose window counts
    therapy and KVO (and the line's last dose moves to the tick's end), the current step counts
    therapy; nothing else changes."""
    f, mode = v.flow, mode_of(state)
    moved = moved_in(v, dt)
    counted = moved if mode in COUNTED else 0
    therapy = moved if mode == Mode.THERAPY else 0
    flow = f._replace(clock=f.clock + dt, odo=f.odo + moved, delivered=f.delivered + therapy,
                      kvo_vol=f.kvo_vol + (moved if mode == Mode.KVO else 0),
                      primed=f.primed + (moved if mode == Mode.PRIME else 0),
                      wcur=tuple(w + counted for w in f.wcur), step_done=f.step_done + therapy,
                      last_in=ite(counted > 0, f.clock + dt, f.last_in))
    return v._replace(flow=flow)


def additive(assumed: Sequence[Inv] | None = None, timeout_ms: int = 30_000, states: Sequence[str] = STATES,
             table: tuple[Row, ...] = TABLE, engine: Engine | None = None) -> Verdict:
    """EQV-TCK-002 over the reachable states described by ``assumed`` (default: every obligation,
    which ``pumpctl prove`` proves first; it passes only the ones it proved).

    Three parts per state, each over one tick: (1) in every reachable state a quiet tick of ``dt``
    fires the state's common tick row and its result is ``linear(v, state, dt)``; (2) a quiet tick of
    ``a + b`` has a quiet first part ``a`` and a quiet second part ``b`` from ``linear(v, a)``; (3)
    ``linear`` is additive there. Since the state after a tick of a reachable state is reachable,
    (1) applies to both ticks of the split path, and both paths end in ``linear(v, a + b)``."""
    t0 = time.perf_counter()
    eng = engine if engine is not None else Engine(table=table, timeout_ms=timeout_ms)
    base = eng._step_solver(list(eng.invs if assumed is None else assumed))
    f = eng.f0
    dt, a, b = z3.Ints("tck.dt tck.a tck.b")
    e, is_tick = _tick(960, dt)
    failed = []
    for s in states:
        row = common_row(s, table)
        base.push()
        base.add(f.st.term == E.STATE_CODE[s])
        # (1) a quiet tick is the common row, and its result is the linear advance
        base.push()
        base.add(dt >= 1, is_tick, E._b(quiet(f.v, s, dt)))
        result, lin = row.apply(f.v, E.as_event(e.e), s), linear(f.v, s, dt)
        goals = [E._b(row.guard(f.v, E.as_event(e.e), s)),
                 *(E._eq(x, y) for x, y in zip(E.flatten(result), E.flatten(lin), strict=True)
                   if not E._same_ast(x, y))]
        verdict, detail = _run(base, goals, timeout_ms)
        base.pop()
        if verdict == "proved":  # (2) and (3): the split of a quiet tick, on the linear advance
            base.push()
            base.add(a >= 1, b >= 1, E._b(quiet(f.v, s, a + b)))
            mid = linear(f.v, s, a)
            goals = [E._b(quiet(f.v, s, a)), E._b(quiet(mid, s, b)),
                     *(E._eq(x, y) for x, y in zip(E.flatten(linear(mid, s, b)), E.flatten(linear(f.v, s, a + b)),
                                                   strict=True) if not E._same_ast(x, y))]
            verdict, detail = _run(base, goals, timeout_ms)
            detail = f"split: {detail}" if detail else ""
            base.pop()
        base.pop()
        if verdict != "proved":
            failed.append(f"{s}: {verdict} {detail}".strip())
    text = ("tick additivity inside the quiet horizon: in every reachable state a quiet tick fires the state's common "
            "tick row and only advances the clock and the linear counters, so a quiet tick of a + b ms leaves exactly "
            "the variables of a tick of a ms followed by one of b ms (b is quiet after a)")
    return _verdict(ADDITIVE_ID, text, failed, len(states), time.perf_counter() - t0,
                    "for every reachable state (the proved obligations assumed)")


def _verdict(inv_id: str, text: str, failed: list[str], cases: int, seconds: float, scope: str) -> Verdict:
    if not failed:
        return Verdict(inv_id, REQS, text, True, "proved", None, seconds, f"{scope} ({cases} states)")
    kind = "counterexample" if any(": counterexample" in x for x in failed) else "unknown"
    return Verdict(inv_id, REQS, text, True, kind, None, seconds, "; ".join(failed))


def verdicts(assumed: Sequence[Inv] | None = None, timeout_ms: int = 30_000,
             engine: Engine | None = None) -> list[Verdict]:
    return [horizon_sound(timeout_ms), additive(assumed, timeout_ms, engine=engine)]
