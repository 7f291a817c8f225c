"""The run-time shortcuts of the core, proved exact against the encoded path (Z3).

Theory of operation
-------------------
The core is dual-use: the proofs read the same functions the runtime runs. Where the runtime
takes a shortcut the proofs do not read, the shortcut is stated here as a theorem over *every*
value (a validity, not a claim about reachable states), and ``pumpctl prove`` reports it as an
obligation beside the others:

- ``EQV-ALM-001`` ``annunciation.refresh(..., settled=True)`` returns the stored alarm record
  when the derived causes are unchanged. Exact because: whenever the stored active flags are the
  fixpoint of ``next_active`` for the state (the auxiliary invariant ``AUX-ALM`` proves this of
  every reachable state, and a settled step leaves the alarms untouched) and the derived causes
  equal the stored ones, the full symbolic refresh gives back exactly the stored record (causes,
  active flags and silence deadline). Checked for every state.
- ``EQV-ALM-002`` the run-time rule tables ``_NEXT`` and ``_RISES`` equal ``next_active`` and
  ``rises`` on Z3 booleans, for every input (latching and not).

Other former shortcuts are gone rather than proved: ``windows.advance`` and ``windows.reset``
compute each branch once (``logic.branch``: at run time only the branch taken), and
``logic.replace_at`` (unused) was removed.
"""

from __future__ import annotations

import time

import z3

from controller.core import alarms as A
from controller.core import annunciation as AN
from controller.core.logic import same
from controller.core.state import STATES
from pumpctl.proofs import encode as E
from pumpctl.proofs.auxiliary import _causes_match
from pumpctl.proofs.engine import Verdict

REFRESH_ID = "EQV-ALM-001"
TABLES_ID = "EQV-ALM-002"
IDS = (REFRESH_ID, TABLES_ID)
REQS = ("REQ-ALM-004", "REQ-ALM-005")


def _valid(goal: z3.BoolRef, assume: z3.BoolRef, timeout_ms: int) -> tuple[str, str]:
    """(verdict, detail) of ``assume => goal`` over all values."""
    verdict, detail, _ = _check(goal, assume, timeout_ms)
    return verdict, detail


def _check(goal: z3.BoolRef, assume: z3.BoolRef, timeout_ms: int) -> tuple[str, str, z3.ModelRef | None]:
    sol = z3.Solver()
    sol.set("timeout", timeout_ms)
    sol.add(assume)
    if sol.check() != z3.sat:  # a vacuous premise would prove anything
        return "unknown", "the premise admits no value: nothing is proved", None
    sol.add(z3.Not(goal))
    r = sol.check()
    if r == z3.unsat:
        return "proved", "", None
    if r == z3.sat:
        return "counterexample", f"counterexample: {sol.model()}", sol.model()
    return "unknown", f"unknown ({sol.reason_unknown()})", None


def refresh_settled(timeout_ms: int = 30_000, states: tuple[str, ...] = STATES) -> Verdict:
    t0 = time.perf_counter()
    f = E.new_frame(900)
    failed: list[str] = []
    for s in states:
        premise = z3.And(E.domain(f), E._b(_causes_match(f.v, s)))
        verdict, detail = _valid(E._b(same(AN.refresh(f.v, s), f.v.alarm)), premise, timeout_ms)
        if verdict != "proved":
            failed.append(f"{s}: {verdict} {detail}".strip())
    text = ("the settled shortcut of annunciation.refresh is exact: with the active flags a fixpoint for the state "
            "and the derived causes unchanged, the full refresh returns the stored alarm record")
    return _verdict(REFRESH_ID, text, failed, len(states), time.perf_counter() - t0)


def rule_tables(timeout_ms: int = 30_000) -> Verdict:
    t0 = time.perf_counter()
    c, a, o = z3.Bools("cause active allowed")
    failed: list[str] = []
    replayed = True
    for latch in (False, True):
        looked_up = z3.BoolVal(False)
        for key, value in AN._NEXT.items():
            if key[3] is latch:
                looked_up = z3.If(z3.And(c == key[0], a == key[1], o == key[2]), z3.BoolVal(value), looked_up)
        verdict, detail, model = _check(looked_up == E._b(AN.next_active(c, a, o, latch)), z3.BoolVal(True),
                                        timeout_ms)
        if verdict != "proved":
            failed.append(f"next_active latching={latch}: {verdict} {detail}".strip())
        if model is not None:  # replay on the run time: the table entry and the rule on plain booleans
            key = (*(z3.is_true(model.eval(x, model_completion=True)) for x in (c, a, o)), latch)
            replayed = replayed and AN._NEXT[key] is not AN.next_active(*key)
    rises = z3.BoolVal(False)
    for (n, old), value in AN._RISES.items():
        rises = z3.If(z3.And(c == n, a == old), z3.BoolVal(value), rises)
    verdict, detail, model = _check(rises == E._b(AN.rises(c, a)), z3.BoolVal(True), timeout_ms)
    if verdict != "proved":
        failed.append(f"rises: {verdict} {detail}".strip())
    if model is not None:
        pair = tuple(z3.is_true(model.eval(x, model_completion=True)) for x in (c, a))
        replayed = replayed and AN._RISES[pair] is not AN.rises(*pair)
    text = (f"the run-time rule tables of annunciation (_NEXT, _RISES) equal next_active and rises for every input "
            f"({A.N_ALARMS} alarms share them)")
    return _verdict(TABLES_ID, text, failed, 3, time.perf_counter() - t0, replayed)


def _verdict(inv_id: str, text: str, failed: list[str], cases: int, seconds: float,
             replayed: bool | None = None) -> Verdict:
    """``replayed``: a counterexample was reproduced on the run-time values (None: not replayable)."""
    if not failed:
        return Verdict(inv_id, REQS, text, True, "proved", None, seconds, f"valid for every value ({cases} cases)")
    kind = "counterexample" if any(": counterexample" in x for x in failed) else "unknown"
    return Verdict(inv_id, REQS, text, True, kind, None, seconds, "; ".join(failed),
                   replayed=replayed if kind == "counterexample" else None)


def verdicts(timeout_ms: int = 30_000) -> list[Verdict]:
    return [refresh_settled(timeout_ms), rule_tables(timeout_ms)]
