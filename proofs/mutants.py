"""Mutation check: break the guarded code on purpose and require the proofs to catch it.

Theory of operation
-------------------
Each ``Mutant`` is a small, safety-relevant fault of the kind reviewers worry about - a cap
dropped, a comparison off by one, minimum and maximum swapped, a window update skipped, a
guard removed, a state that forgets to stop the motor. Applying one patches the module
attribute the runtime looks up, or swaps a row of the table, inside a context that restores
everything afterwards. ``evaluate`` then runs the proof engine on the mutated code and counts
the mutant *killed* when some obligation is refuted by a real counterexample from power-on
(replayed on the mutated runtime controller). A mutant whose only effect is a failed
inductive step is reported as "suspected", not killed.

Rules
1. Every mutant here is meant to be unsafe; an equivalent mutant is a bug in this list.
2. Patches target the namespace where the name is looked up at call time.
3. A mutant is killed only by a counterexample that replays on the mutated runtime (for an edge
   mutant: a CrossHair counterexample call that breaks the contract when called here).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from controller.clinical import dosebounds as DB
from controller.core import annunciation as AN
from controller.core import commands as C
from controller.core import effects as EF
from controller.core import flow as F
from controller.core import guards as G
from controller.core import logic
from controller.core import program as P
from controller.core import recovery as R
from controller.core import windows as W
from controller.core.events import Actor, Event, tick
from controller.core.limits import PUMP_MAX_VTBI, Limits
from controller.core.logic import ite, maximum, minimum, pick
from controller.core.table import TABLE, Row

Patch = tuple[object, str, object]


@dataclass(frozen=True)
class Mutant:
    id: str
    text: str
    patches: Callable[[], list[Patch]]
    table: Callable[[tuple[Row, ...]], tuple[Row, ...]] = lambda t: t
    expect: tuple[str, ...] = ()  # obligations expected to refute it (searched first; any obligation counts)
    contracts: tuple[str, ...] = ()  # an edge mutant: the CrossHair contracts that must refute it instead
    depth: int = 8  # BMC depth of the search from power-on (a fault that needs more events asks for more)
    # a deep fault: concrete events from power-on (run on the mutated runtime) after which the search
    # starts; the counterexample is the prefix plus what the search finds, replayed whole from power-on
    prefix: Callable[[], tuple[Limits, list[Event]]] | None = None


@contextlib.contextmanager
def applied(m: Mutant) -> Iterator[tuple[Row, ...]]:
    saved = []
    try:
        for target, name, value in m.patches():
            saved.append((target, name, getattr(target, name)))
            setattr(target, name, value)
        yield m.table(TABLE)
    finally:
        for target, name, value in reversed(saved):
            setattr(target, name, value)


def _swap_cond(old: G.Cond, new: G.Cond) -> Callable[[tuple[Row, ...]], tuple[Row, ...]]:
    return lambda t: tuple(replace(r, conds=tuple(new if c is old else c for c in r.conds)) for r in t)


def _drop_cond(cond: G.Cond, trigger: str) -> Callable[[tuple[Row, ...]], tuple[Row, ...]]:
    return lambda t: tuple(replace(r, conds=tuple(c for c in r.conds if c is not cond)) if r.trigger == trigger
                           else r for r in t)


def _redirect(trigger: str, source: str, dest: str | None) -> Callable[[tuple[Row, ...]], tuple[Row, ...]]:
    def change(t: tuple[Row, ...]) -> tuple[Row, ...]:
        out = []
        for r in t:
            if r.trigger == trigger and source in r.sources:
                rest = tuple(s for s in r.sources if s != source)
                if rest:
                    out.append(replace(r, sources=rest))
                out.append(replace(r, sources=(source,), dest=dest))
            else:
                out.append(r)
        return tuple(out)

    return change


_orig_budget = F.therapy_budget
_orig_kvo = P.kvo_rate
_orig_advance = W.advance


def _budget_without_windows(v: Any, rate: int) -> int:
    f, p = v.flow, v.prog
    res = F.reservoir_left(v)
    step_left = ite(F.step_finite(p, f.step), maximum(0, pick(f.step, p.step_vol) - f.step_done), res)
    bolus_left = ite(F.bolus_active(v), rate * (v.bolus.until - f.clock), res)
    return maximum(0, minimum(p.vtbi - f.delivered, res, step_left, bolus_left))


def _budget_without_reservoir(v: Any, rate: int) -> int:
    big = v.prog.vtbi
    f, p = v.flow, v.prog
    return maximum(0, minimum(p.vtbi - f.delivered, F.dose_allowance(v, big)))


def _rate_cap_no_route(p: Any, c: Any) -> int:
    return minimum(c.max_rate, p.rate_hard_max)


def _lockout_off_by_one(v: Any, e: Any, s: str) -> Any:
    return v.flow.clock - v.bolus.times[0] >= v.prog.lockout_ms - 1


def _overheat_strict(v: Any, e: Any, s: str) -> Any:
    return e.level > v.cfg.overheat_c10


def _container_low_strict(v: Any, rate: int, c: Any) -> Any:
    return logic.all_of(rate > 0, F.reservoir_left(v) < rate * c.near_end_ms)


def _ack_ignores_cause(a: Any) -> Any:
    return a._replace(active=tuple(False for _ in a.active))


def _advance_skips_current(cur: int, ring: Any, clock: int, dt: int, rate: int, moved: int) -> Any:
    new_cur, new_ring = _orig_advance(cur, ring, clock, dt, rate, 0)
    return new_cur, new_ring


# --- the edge (compiled library bounds, program checks) and the line's dose history -------------

_orig_load = EF.load_program
_orig_restore = R.restore
_orig_compile = DB.compile_entry


def _load_moves_reference(v: Any, e: Any, s: str) -> Any:
    """The large-change reference taken at load (the first design): every program loaded becomes
    the rate the next one is compared with, started or not."""
    out = _orig_load(v, e, s)
    return out._replace(line=out.line._replace(last_rate=P.maintenance_rate(e.program), last_entry=e.program.drug))


def _history_fits_if_empty(v: Any, p: Any, j: int) -> Any:
    """An earlier rule: an empty ring may start any new window (it forgets what a longer window
    still covers once a shorter one has aged out)."""
    free = W.used(v.flow.wcur[j], v.win[j]) == 0
    same = logic.all_of(p.drug == v.line.entry, logic.any_of(p.lim_vol[j] == 0, p.lim_bucket_ms[j] == v.win[j].bucket))
    return logic.any_of(free, same)


def _without_check(name: str) -> Callable[[], list[Patch]]:
    """The program checks without the one(s) named ``name``: a check a careless edit dropped."""
    def patches() -> list[Patch]:
        kept = tuple(c for c in P.PROGRAM_CHECKS if c.field != name or c not in P.LIBRARY_CHECKS)
        assert len(kept) < len(P.PROGRAM_CHECKS), name
        return [(P, "PROGRAM_CHECKS", kept)]
    return patches


def _load_forgets(v: Any, e: Any, s: str) -> Any:
    out = _orig_load(v, e, s)
    rings = tuple(W.reset(0, r, out.flow.clock, r.bucket, True)[1] for r in out.win)
    return out._replace(win=rings, flow=out.flow._replace(wcur=(0,) * len(rings)))


def _restore_forgets(v: Any, state: str, pushed_to: int) -> Any:
    out = _orig_restore(v, state, pushed_to)
    return out._replace(flow=out.flow._replace(wcur=v.flow.wcur))


def _compile_with(**change: Any) -> Callable[..., Any]:
    def compiled(entry: Any, patient: Any, limits: Any) -> Any:
        c = _orig_compile(entry, patient, limits)
        b = c.bounds
        values = {k: (getattr(b, v) if isinstance(v, str) else v) for k, v in change.items()}
        return replace(c, bounds=replace(b, **values))
    return compiled


def _site(site_id: str) -> Callable[[], list[Patch]]:
    """A generated mutant (``proofs.mutagen``) as a hand-written one: one function's code replaced."""
    def patches() -> list[Patch]:
        from pumpctl.proofs import mutagen

        site = next(x for x in mutagen.sites() if x.id == site_id)
        target = mutagen._original(site.module, site.function)
        undo = mutagen.apply(site)
        new = target.__code__
        undo()
        return [(target, "__code__", new)]
    return patches


def _bubble_limit_iv(v: Any) -> Any:
    return pick(0, v.cfg.bubble_limit_nl)


def _confirmed_ignores_change(v: Any, e: Any, s: str) -> Any:
    return logic.any_of(logic.not_(v.prog.needs_confirm), v.marks.confirmed)


def _silence_too_long(v: Any, e: Any, s: str) -> Any:
    return v._replace(alarm=v.alarm._replace(silence_until=v.flow.clock + 10 * v.cfg.silence_ms))


def _intermittent_dose_given() -> tuple[Limits, list[Event]]:
    """Self-test, a 1 mL dose at 100 mL/h every minute, start, and the dose given (36 s of 1 s ticks
    and 23 s of waiting at the default 1 s tick): the next dose is due at the next tick (M38 needs 63 events
    from power-on at the default tick; the search from here needs one or two)."""
    from controller.core.program import Kind, Program
    from controller.core.units import RATE_PER_ML_H as ML_H
    from controller.core.units import VU_PER_ML as ML

    prog = Program(loaded=True, route=0, n_steps=1, step_rate=(100 * ML_H, 0, 0, 0), step_vol=(ML, 0, 0, 0),
                   kind=Kind.INTERMITTENT, interval_ms=60_000, vtbi=10 * ML, rate_hard_max=500 * ML_H,
                   reservoir_vol=50 * ML)
    clin = Actor.CLINICIAN
    events = [Event("self_test", flag=True), Event("program", clin, program=prog), Event("start", clin)]
    return Limits(), [*events, *(tick(1_000) for _ in range(59))]


def _short_window_aged_out() -> tuple[Limits, list[Event]]:
    """Self-test, a program with a 4 h window in slot 0 and a 1 h window in slot 1, 2 min of
    delivery, stop, and 70 min of quiet ticks: slot 1's ring is empty again, slot 0's still counts.
    A program that now moves the 4 h limit into slot 1 must not start it empty (M40)."""
    from controller.core.horizon import horizon
    from controller.core.machine import Controller
    from controller.core.program import Program
    from controller.core.units import MS_PER_MIN
    from controller.core.units import RATE_PER_ML_H as ML_H
    from controller.core.units import VU_PER_ML as ML

    prog = Program(loaded=True, route=0, n_steps=1, step_rate=(100 * ML_H, 0, 0, 0), vtbi=50 * ML,
                   rate_hard_max=500 * ML_H, reservoir_vol=60 * ML, lim_vol=(10 * ML, 5 * ML),
                   lim_bucket_ms=(20 * MS_PER_MIN, 5 * MS_PER_MIN))
    clin = Actor.CLINICIAN
    events = [Event("self_test", flag=True), Event("program", clin, program=prog), Event("start", clin),
              *(tick(1_000) for _ in range(120)), Event("stop", clin)]
    c = Controller(Limits())
    for e in events:
        c.handle(e)
    waited = 0
    while waited < 70 * MS_PER_MIN:  # quiet ticks as long as the horizon allows (DEC-040)
        dt = max(1, min(horizon(c.vars, c.state), 70 * MS_PER_MIN - waited))
        events.append(tick(dt))
        c.handle(events[-1])
        waited += dt
    return Limits(), events


def _therapy_rate_uncapped(v: Any) -> Any:
    intended = F.basal_rate(v) + ite(F.bolus_active(v), v.bolus.rate, 0)
    return ite(F.kvo_limited(v), minimum(intended, P.kvo_rate(v.prog, v.cfg)), intended)


MUTANTS: tuple[Mutant, ...] = (
    Mutant("M01-window-at-bolus-only", "the classic overdose: dose windows checked only when a bolus starts, "
           "basal keeps running past the limit", lambda: [(F, "therapy_budget", _budget_without_windows)],
           expect=("INV-DOS-004",)),
    Mutant("M02-drop-route-cap", "route rate caps dropped everywhere (validation, guards, motor command)",
           lambda: [(P, "rate_cap", _rate_cap_no_route), (F, "rate_cap", _rate_cap_no_route),
                    (G, "rate_cap", _rate_cap_no_route)], expect=("INV-DEL-002",)),
    Mutant("M03-vtbi-off-by-one", "motor budget one unit past the VTBI",
           lambda: [(F, "therapy_budget", lambda v, rate: minimum(_orig_budget(v, rate) + 1,
                                                                   v.prog.vtbi - v.flow.delivered + 1))],
           expect=("INV-DEL-001",)),
    Mutant("M04-budget-max-not-min", "motor budget takes the largest allowance instead of the smallest",
           lambda: [(F, "minimum", maximum)], expect=("INV-DEL-001",)),
    Mutant("M05-window-skips-update", "delivery not added to the dose windows",
           lambda: [(W, "advance", _advance_skips_current)], expect=("STEP-DOS-005",)),
    Mutant("M06-alarm-keeps-running", "ALARM state keeps the therapy motor command",
           lambda: [(F, "MODE_OF", {**F.MODE_OF, "ALARM": F.Mode.THERAPY})], expect=("INV-DEL-004",)),
    Mutant("M07-door-open-no-stop", "door opened while running does not leave RUNNING", lambda: [],
           _redirect("door_open", "RUNNING", None), expect=("STEP-ALM-004",)),
    Mutant("M08-start-unconfirmed", "start ignores a pending soft-limit confirmation", lambda: [],
           _drop_cond(G.confirmed, "start"), expect=("INV-DRG-003",)),
    Mutant("M09-patient-programs", "program event accepted from any actor", lambda: [],
           _drop_cond(G.by_clinician, "program"), expect=("STEP-ROL-001",)),
    Mutant("M10-bolus-during-alarm", "patient bolus allowed while an alarm is active", lambda: [],
           _drop_cond(G.no_alarm, "patient_bolus"), expect=("INV-BOL-004",)),
    Mutant("M11-kvo-max-not-min", "KVO rate takes the larger of configured and programmed rate",
           lambda: [(P, "kvo_rate", lambda p, c: maximum(c.kvo_rate, pick(p.n_steps - 1, p.step_rate))),
                    (F, "kvo_rate", lambda p, c: maximum(c.kvo_rate, pick(p.n_steps - 1, p.step_rate)))],
           expect=("INV-DEL-007",)),
    Mutant("M12-silence-too-long", "audio pause ten times the configured length", lambda: [],
           lambda t: tuple(replace(r, change=_silence_too_long) if r.trigger == "silence" else r for r in t),
           expect=("INV-ALM-006",)),
    Mutant("M13-ack-ignores-cause", "acknowledge clears latched alarms whose cause persists",
           lambda: [(AN, "acknowledge", _ack_ignores_cause)], expect=("STEP-ALM-005",)),
    Mutant("M14-no-hourly-count", "patient bolus count per hour not checked", lambda: [],
           _drop_cond(G.under_hourly_count, "patient_bolus"), expect=("STEP-BOL-003",)),
    Mutant("M15-lockout-off-by-one", "lockout compared one millisecond early", lambda: [],
           _swap_cond(G.lockout_over, G.Cond("lockout_over", _lockout_off_by_one, G.lockout_over.reason)),
           expect=("STEP-BOL-002",)),
    Mutant("M16-failed-self-test-boots", "a failed self-test leads to IDLE", lambda: [],
           lambda t: tuple(replace(r, dest="IDLE") if r.trigger == "self_test" and r.dest == "FAILED" else r
                           for r in t), expect=("INV-FLT-001",)),
    Mutant("M17-failsafe-escapes", "a watchdog in FAILSAFE returns to IDLE", lambda: [],
           _redirect("watchdog", "FAILSAFE", "IDLE"), expect=("STEP-FLT-004",)),
    Mutant("M18-kvo-not-counted", "KVO volume not counted in the dose windows",
           lambda: [(F, "COUNTED", (F.Mode.THERAPY,))], expect=("STEP-DOS-005",)),
    Mutant("M19-bolus-rate-uncapped", "basal + bolus rate not clamped to the caps",
           lambda: [(F, "therapy_rate", _therapy_rate_uncapped)], expect=("INV-DEL-002",)),
    Mutant("M20-reservoir-ignored", "motor budget ignores the container volume",
           lambda: [(F, "therapy_budget", _budget_without_reservoir)], expect=("INV-RES-001",)),
    Mutant("M21-stop-alarm-allows-start", "start ignores stop-flow alarm causes", lambda: [],
           _drop_cond(G.no_stop_condition, "start"), expect=("STEP-ALM-004",)),
    Mutant("M22-overheat-off-by-one", "a mechanism exactly at the overheat threshold keeps running", lambda: [],
           _swap_cond(G.overheats, G.Cond("overheats", _overheat_strict, G.overheats.reason)),
           expect=("INV-TMP-001",)),
    Mutant("M23-container-low-late", "the low-container alarm waits until strictly less than the near-end time is left",
           lambda: [(AN, "container_low", _container_low_strict)], expect=("INV-RES-002",)),
    Mutant("M24-rate-mode-bypass", "the dose hard max is not compiled into the rate bound: a dose-based drug "
           "programmed by rate or VTBI + duration escapes its limit",
           lambda: [(DB, "compile_entry", _compile_with(dose_rate_max="rate_max"))],
           contracts=("dose_bound_toward_less_drug",)),
    Mutant("M25-clinician-cap-from-program", "the clinician-bolus maximum is the program's own, not held to the "
           "library's", _without_check("clin_bolus_max"), expect=("INV-LIB-001",)),
    Mutant("M26-history-dropped-on-reprogram", "a reprogram restarts the dose windows",
           lambda: [], lambda t: tuple(replace(r, change=_load_forgets) if r.trigger == "program" else r for r in t),
           expect=("STEP-LIB-004", "TL-AUX")),
    Mutant("M27-restore-forgets-windows", "a restore does not count what moved after the snapshot in the dose "
           "windows", lambda: [(R, "restore", _restore_forgets)], expect=("REC-001", "TL-AUX")),
    Mutant("M28-library-window-replaced", "the library's window slot may be replaced or loosened by the "
           "clinician's own", _without_check("lim_vol[0]"), expect=("INV-LIB-001",)),
    Mutant("M29-dose-rate-unchecked", "the core does not hold the steps to the library's dose-rate bound",
           _without_check("step_rate[0]"), expect=("INV-LIB-001",)),
    Mutant("M30-soft-limit-unflagged", "a program over a soft bound need not ask for a confirmation",
           _without_check("needs_confirm"), expect=("INV-DRG-003",)),
    Mutant("M31-large-change-unconfirmed", "a tenfold rate change starts without a confirmation",
           lambda: [], _swap_cond(G.confirmed, G.Cond("confirmed", _confirmed_ignores_change, G.confirmed.reason)),
           expect=("INV-USE-001",)),
    Mutant("M32-clinician-cap-not-compiled", "the edge gives the clinician bolus no library maximum",
           lambda: [(DB, "compile_entry",
                     _compile_with(clin_bolus_max=PUMP_MAX_VTBI, clin_bolus_soft_max=PUMP_MAX_VTBI))],
           contracts=("bolus_bounds_from_the_library",)),
    Mutant("M33-library-window-not-compiled", "the edge drops the library's dose window",
           lambda: [(DB, "compile_entry", _compile_with(win_vol=0))], contracts=("library_window_kept",)),
    Mutant("M34-patient-clinician-bolus", "a patient can start a clinician bolus (the row's actor guard removed)",
           lambda: [], _drop_cond(G.by_clinician, "clinician_bolus"), expect=("STEP-ROL-004",)),
    Mutant("M35-prime-while-connected", "priming starts without the line confirmed disconnected", lambda: [],
           _drop_cond(G.line_disconnected, "prime"), expect=("STEP-PRM-001",)),
    Mutant("M36-epidural-gets-iv-air-limit", "every route gets the intravenous air-in-line limit",
           lambda: [(G, "bubble_limit", _bubble_limit_iv), (EF, "bubble_limit", _bubble_limit_iv)],
           expect=("STEP-AIR-003",)),
    Mutant("M37-relief-too-large", "the pressure relief backs off ten times the bound",
           lambda: [(C, "RELIEF_MAX_VU", 10 * C.RELIEF_MAX_VU)], expect=("STEP-REV-001",)),
    Mutant("M38-intermittent-restart-late", "the next intermittent dose waits until strictly after its interval",
           _site("flow.advance:swap:clock2 >= cycle_start + p.interval_ms"), expect=("INV-UND-001",),
           depth=3, prefix=_intermittent_dose_given),
    Mutant("M39-change-reference-at-load", "the large-change check compares with the last program *loaded*, so a "
           "tenfold program sent twice (or stepped up over programs never started) starts unconfirmed",
           lambda: [], lambda t: tuple(replace(r, change=_load_moves_reference) if r.trigger == "program" else r
                                       for r in t),
           expect=("INV-USE-001",)),
    Mutant("M40-empty-ring-starts-any-window", "a dose-window ring that merely holds nothing may start a longer "
           "window, forgetting drug that window still covers", lambda: [(G, "history_fits", _history_fits_if_empty)],
           expect=("INV-DOS-009",), depth=2, prefix=_short_window_aged_out),
)


@dataclass
class MutantResult:
    id: str
    text: str
    killed: bool
    by: list[str]
    suspected: list[str]
    seconds: float
    replayed: bool
    how: str = "search"  # witness: a recorded counterexample checked; search: found in this run
    note: str = ""  # why a recorded witness was not used (then it was searched)
    witness: dict[str, Any] | None = None  # what the search found, for specs/mutant-witnesses.json


def evaluate(m: Mutant, depth: int = 8, timeout_ms: int = 120_000,
             witnesses: dict[str, dict[str, Any]] | None = None) -> MutantResult:
    """The mutant's recorded witness is checked first (``proofs.witness``: every step against the
    mutated encoding and runtime); without one that checks, one inductive pass on the mutated table
    finds the obligations it breaks and BMC from power-on looks for a real counterexample to one of
    them (first found wins). An edge mutant (code before the core: the library compiler) is refuted
    by its CrossHair contracts instead."""
    from pumpctl.proofs import witness as WI
    from pumpctl.proofs.engine import Engine, run_prefix

    recorded = (witnesses or {}).get(m.id)
    if m.contracts:
        return evaluate_edge(m, recorded=recorded)

    t0 = time.perf_counter()
    note = "" if recorded is not None or witnesses is None else "no recorded witness"
    with applied(m) as table:
        eng = Engine(table=table, timeout_ms=timeout_ms)
        if recorded is not None:
            v, note = WI.check(recorded, eng, table, None if m.prefix is None else m.prefix())
            if v is not None:
                return MutantResult(m.id, m.text, True, [v.id], [], time.perf_counter() - t0, True, "witness")
        if m.expect:  # the obligation written against this fault: a counterexample from it suffices
            prefix = () if m.prefix is None else run_prefix(*m.prefix(), table=table)
            found = {k: v for k, v in eng.bmc(m.depth if prefix else max(depth, m.depth), only=list(m.expect),
                                              first=True, prefix=prefix).items()
                     if v.verdict == "counterexample" and v.replayed}
            if found:
                first = found[sorted(found)[0]]
                return MutantResult(m.id, m.text, True, sorted(found), [], time.perf_counter() - t0, True,
                                    note=note, witness=WI.record(first, len(prefix) - 1 if prefix else 0)
                                    if first.trace else None)
        base = eng.bmc(0)
        step = eng.inductive_step()
        suspects = [i for i, (ok, _, _) in step.items() if not ok and i not in base]
        found = {k: v for k, v in base.items() if v.verdict == "counterexample" and v.replayed}
        for inv_id in suspects:
            if found:
                break
            found.update({k: v for k, v in eng.bmc(depth, only=[inv_id]).items()
                          if v.verdict == "counterexample" and v.replayed})
    by = sorted(found)  # rule 3: only a counterexample that replays on the runtime kills
    return MutantResult(m.id, m.text, bool(by), by, [s for s in suspects if s not in found],
                        time.perf_counter() - t0, bool(by), note=note,
                        witness=WI.record(found[by[0]], 0) if by and found[by[0]].trace else None)


def _evaluate_id(mutant_id: str, witnesses: dict[str, dict[str, Any]] | None = None) -> MutantResult:
    return evaluate(next(m for m in MUTANTS if m.id == mutant_id), witnesses=witnesses)


def _evaluate_with_recorded(mutant_id: str) -> MutantResult:
    """With the recorded witnesses; a file that cannot be read means every mutant is searched
    (its results say so), never that a mutant survived."""
    from controller.errors import ConfigurationError
    from pumpctl.proofs import witness as WI

    try:
        recorded = WI.load()
    except ConfigurationError as exc:
        r = _evaluate_id(mutant_id, {})
        r.note = f"the witness file cannot be read: {exc}"
        return r
    return _evaluate_id(mutant_id, recorded)


def run_campaign(only: list[str] | None = None, jobs: int = 2,
                 progress: Callable[[MutantResult, int, int], None] | None = None,
                 search: bool = False) -> list[MutantResult]:
    """Evaluate mutants in ``jobs`` spawned processes (``jobs`` 1: here, one after the other;
    ``applied`` undoes each mutant's patches before the next, and a pool process is replaced after
    8), in the order of ``MUTANTS``; ``progress(result, done, total)`` hears each one as it ends.
    ``search``: ignore the recorded witnesses and search every mutant (what ``--record-witnesses``
    records)."""
    import multiprocessing

    ids = [m.id for m in MUTANTS if not only or m.id in only]
    results: list[MutantResult] = []
    work = _evaluate_id if search else _evaluate_with_recorded

    def done(r: MutantResult) -> None:
        results.append(r)
        if progress is not None:
            progress(r, len(results), len(ids))

    if jobs == 1:
        for i in ids:
            done(work(i))
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(jobs, maxtasksperchild=8) as pool:
            for r in pool.imap_unordered(work, ids, chunksize=1):
                done(r)
    return sorted(results, key=lambda r: ids.index(r.id))


# --- edge mutants: CrossHair on the mutated code, counterexample replayed in-process ------------

_CALL = re.compile(r"error: false when calling (\w+)\((.*)\) \(which returns")


def evaluate_edge(m: Mutant, per_condition_timeout: int = 20, recorded: dict[str, Any] | None = None
                  ) -> MutantResult:
    """Run the mutant's contracts under CrossHair with the mutant applied (a generated copy of
    ``proofs.contracts`` that applies it at import), then replay each counterexample call on the
    mutated code here: killed only when a replayed call breaks a postcondition. A recorded witness
    (CrossHair's calls of an earlier run) is called first: a call that breaks a contract on the
    mutated code now kills the mutant as the search's replay does."""
    import inspect
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from pumpctl.proofs import contracts
    from pumpctl.proofs import witness as WI

    t0 = time.perf_counter()
    note = ""
    if recorded is not None:
        calls = [(str(n), str(a)) for n, a in recorded.get("calls", []) if n in m.contracts]
        with applied(m):
            broke = sorted({n for n, a in calls if _breaks_safely(getattr(contracts, n), a)})
        if broke:
            return MutantResult(m.id, m.text, True, [f"contract:{n}" for n in broke], [], time.perf_counter() - t0,
                                True, "witness")
        note = "the recorded calls break no contract on this code"
    prelude = f"from pumpctl.proofs import mutants as _mutants\n_mutants.apply_for_good({m.id!r})\n"
    src = inspect.getsource(contracts).replace("from __future__ import annotations\n",
                                               "from __future__ import annotations\n" + prelude, 1)
    with tempfile.TemporaryDirectory() as tmp:
        mod = Path(tmp) / "_mutated_contracts.py"
        mod.write_text(src)
        root = str(Path(contracts.__file__).resolve().parent.parent)
        env_path = os.pathsep.join([tmp, root, os.environ.get("PYTHONPATH", "")])
        targets = [f"_mutated_contracts.{name}" for name in m.contracts]
        proc = subprocess.run([sys.executable, "-m", "crosshair", "check", "--analysis_kind=PEP316",
                               f"--per_condition_timeout={per_condition_timeout}", *targets],
                              capture_output=True, text=True, cwd=tmp, timeout=900,
                              env={**os.environ, "PYTHONPATH": env_path})
    found = [(mt.group(1), mt.group(2)) for mt in map(_CALL.search, proc.stdout.splitlines()) if mt]
    with applied(m):
        replayed = [name for name, args in found if _breaks_contract(getattr(contracts, name), args)]
    return MutantResult(m.id, m.text, bool(replayed), sorted({f"contract:{n}" for n in replayed}),
                        [] if replayed else [f"contract:{n}" for n in m.contracts], time.perf_counter() - t0,
                        bool(replayed) and len(replayed) == len(found), note=note,
                        witness=WI.record_calls([(n, a) for n, a in found if n in replayed]) if replayed else None)


def apply_for_good(mutant_id: str) -> None:
    """Apply a mutant's patches in this process and never restore them (a CrossHair subprocess)."""
    m = next(x for x in MUTANTS if x.id == mutant_id)
    for target, name, value in m.patches():
        setattr(target, name, value)


def _breaks_safely(fn: Callable[..., Any], args: str) -> bool:
    """``_breaks_contract`` for a recorded call: one that cannot be read or called breaks nothing."""
    try:
        return _breaks_contract(fn, args)
    except (ValueError, TypeError, SyntaxError):
        return False


def _breaks_contract(fn: Callable[..., Any], args: str) -> bool:
    """Call ``fn`` with CrossHair's counterexample arguments; True when a ``post:`` condition fails.
    The arguments are read as literals only (``ast.literal_eval``: numbers, booleans, strings,
    containers), never run as code: they may come from a file (``specs/mutant-witnesses.json``).
    Anything else is a ``ValueError``."""
    import ast
    import inspect

    call = ast.parse(f"_({args})", mode="eval").body
    if not isinstance(call, ast.Call) or any(kw.arg is None for kw in call.keywords):
        raise ValueError(f"not an argument list: {args!r}")
    try:
        a = [ast.literal_eval(x) for x in call.args]
        k = {str(kw.arg): ast.literal_eval(kw.value) for kw in call.keywords}
    except (ValueError, TypeError, SyntaxError) as exc:
        raise ValueError(f"arguments that are not literals: {args!r}") from exc
    result = fn(*a, **k)
    bound = inspect.signature(fn).bind(*a, **k)
    scope = {**fn.__globals__, **bound.arguments, "__return__": result}
    posts = [line.split(":", 1)[1].strip() for line in (inspect.getdoc(fn) or "").splitlines()
             if line.startswith("post:")]
    return any(not eval(expr, scope) for expr in posts)
