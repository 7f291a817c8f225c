"""Mechanically generated mutants: an independent campaign beside the project's own list.

Theory of operation
-------------------
The hand-written mutants of ``proofs.mutants`` are the faults the authors thought of. This
module generates faults nobody chose: it walks the source of the guards, effects, flow, windows,
program, recovery and annunciation code and, for every function, produces one mutant per site of

- a comparison swapped to its neighbour (``<`` / ``<=``, ``>`` / ``>=``, ``==`` / ``!=``);
- ``minimum`` / ``maximum`` swapped;
- one conjunct dropped from an ``all_of`` (one disjunct from an ``any_of``);
- one operand dropped from an addition (``a + b`` -> ``a``: a window or counter update skipped);
- an off-by-one on the right of a comparison (``a >= b`` -> ``a >= b + 1``).

A mutant replaces the code of that one function object in place (``__code__``), so every caller
- the runtime controller and the Z3 encoder alike - runs it. Each is then judged, in its own
process, first by a test battery (the worked examples, a seeded random walk with every invariant
checked at run time, and a red-team sample), then, if it survives, by the proofs (bounded model
checking from power-on over every obligation; a kill is a counterexample that replays on the
mutated runtime). A survivor is either
argued equivalent in ``specs/mutants_equivalent.toml`` or reported as a gap. The results are
written to ``specs/mutation-campaign.json`` with a hash of every mutated source file, so the
evidence report can tell a current campaign from an outdated one without re-running it.

Rules
1. Ids are stable across edits elsewhere: ``module.function:operator:source of the node`` (with
   ``#n`` for a repeat within the function).
2. Only functions the runtime and the proofs both execute are mutated (not the specs).
3. A kill needs a replayed counterexample or a failing test; "suspected" is never a kill.
"""

from __future__ import annotations
import __future__

import ast
import copy
import hashlib
import importlib
import json
import multiprocessing
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "specs" / "mutation-campaign.json"
EQUIVALENT = ROOT / "specs" / "mutants_equivalent.toml"
TARGETS: dict[str, tuple[str, ...]] = {
    "controller.core.guards": ("tick_ok", "tick_ok_or_quiet", "post_timed_out", "no_stop_condition", "vtbi_left",
                          "reservoir_has_volume",
                          "line_disconnected", "prime_volume_ok", "lockout_over", "boluses_last_hour",
                          "under_hourly_count", "room_for", "clin_bolus_ok", "third_repeat", "bubble_limit",
                          "air_stops", "reservoir_empties", "vtbi_completes", "bolus_ends", "prime_completes",
                          "history_fits", "needs_confirmation", "comparable", "big_change", "by_clinician",
                          "by_patient_or_clinician", "ticks_fit_windows", "clin_bolus_on"),
    "controller.core.effects": ("load_program", "started", "patient_bolus", "clinician_bolus", "silence",
                           "count_stop_ack", "air", "start_prime", "end_bolus"),
    "controller.core.flow": ("reservoir_used", "reservoir_left", "window_allowance", "dose_allowance", "waiting",
                        "step_finite", "basal_rate", "bolus_active", "kvo_limited", "therapy_rate",
                        "therapy_budget", "command", "moved_in", "advance"),
    "controller.core.windows": ("used", "advance", "reset"),
    "controller.core.program": ("rate_cap", "kvo_rate", "maintenance_rate", "soft_exceeded", "dose_step"),
    "controller.core.recovery": ("restore", "bound_ok"),
    "controller.core.annunciation": ("battery_low", "battery_depleted", "overheated", "container_low", "air_over",
                                "derived_causes", "next_active", "acknowledge", "clearable"),
}
_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
_NAMES = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


@dataclass(frozen=True)
class Site:
    id: str
    module: str
    function: str
    line: int
    col: int
    op: str  # swap, minmax, drop-conjunct, drop-disjunct, drop-addend, off-by-one
    text: str
    index: int  # which candidate within the function (walk order)


def _function_node(module: str, name: str) -> tuple[ast.FunctionDef, str]:
    mod = importlib.import_module(module)
    path = Path(mod.__file__ or "")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node, str(path)
    raise KeyError(f"{module}.{name}")


def _candidates(fn: ast.FunctionDef) -> Iterator[tuple[ast.AST, str, str]]:
    """(node, operator kind, description) in a fixed walk order."""
    for node in ast.walk(fn):
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _SWAP:
            op = type(node.ops[0])
            yield node, "swap", f"{_NAMES[op]} -> {_NAMES[_SWAP[op]]}"
            if op in (ast.Lt, ast.LtE, ast.Gt, ast.GtE):
                yield node, "off-by-one", f"right side of {_NAMES[op]} plus one"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if name in ("minimum", "maximum"):
                yield node, "minmax", f"{name} -> {'maximum' if name == 'minimum' else 'minimum'}"
            elif name in ("all_of", "any_of") and len(node.args) >= 2 and not any(
                    isinstance(a, ast.Starred) for a in node.args):
                for i in range(len(node.args)):
                    yield node, f"drop-{'conjunct' if name == 'all_of' else 'disjunct'}-{i}", \
                        f"{name} without argument {i}"
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            yield node, "drop-addend", "a + b -> a"


def sites() -> list[Site]:
    out = []
    for module, names in TARGETS.items():
        for name in names:
            fn, _ = _function_node(module, name)
            seen: dict[str, int] = {}
            for k, (node, op, text) in enumerate(_candidates(fn)):
                line, col = getattr(node, "lineno", 0), getattr(node, "col_offset", 0)
                base = f"{module.split('.')[-1]}.{name}:{op}:{ast.unparse(node)}"
                seen[base] = seen.get(base, 0) + 1
                sid = base if seen[base] == 1 else f"{base}#{seen[base]}"
                out.append(Site(sid, module, name, line, col, op, f"{module}.{name} line {line}: {text}", k))
    return out


class _Mutate(ast.NodeTransformer):
    def __init__(self, index: int) -> None:
        self.index = index

    def mutate(self, fn: ast.FunctionDef) -> ast.FunctionDef:
        target, op, _ = list(_candidates(fn))[self.index]
        self.target, self.op = target, op
        return self.visit(fn)  # type: ignore[no-any-return]

    def generic_visit(self, node: ast.AST) -> ast.AST:
        node = super().generic_visit(node)
        if node is not self.target:
            return node
        op = self.op
        if op == "swap" and isinstance(node, ast.Compare):
            node.ops = [_SWAP[type(node.ops[0])]()]
        elif op == "off-by-one" and isinstance(node, ast.Compare):
            node.comparators = [ast.BinOp(node.comparators[0], ast.Add(), ast.Constant(1))]
        elif op == "minmax" and isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            node.func = ast.Name("maximum" if node.func.id == "minimum" else "minimum", ast.Load())
        elif op.startswith("drop-") and isinstance(node, ast.Call):
            i = int(op.rsplit("-", 1)[1])
            node.args = node.args[:i] + node.args[i + 1:]
        elif op == "drop-addend" and isinstance(node, ast.BinOp):
            return node.left
        return node


def _original(module: str, name: str) -> Callable[..., Any]:
    obj = getattr(importlib.import_module(module), name)
    fn: Callable[..., Any] = obj.pred if hasattr(obj, "pred") else obj  # a guard condition holds its predicate
    return fn


def apply(site: Site) -> Callable[[], None]:
    """Install the mutant (replace the function's code in place); returns the undo."""
    fn_node, path = _function_node(site.module, site.function)
    mutated = _Mutate(site.index).mutate(copy.deepcopy(fn_node))
    mutated.decorator_list = []
    tree = ast.fix_missing_locations(ast.Module(body=[mutated], type_ignores=[]))
    target = _original(site.module, site.function)
    scope = dict(target.__globals__)
    exec(compile(tree, path, "exec", flags=__future__.annotations.compiler_flag, dont_inherit=True), scope)
    old = target.__code__
    target.__code__ = scope[site.function].__code__
    return lambda: setattr(target, "__code__", old)


@dataclass
class Outcome:
    id: str
    text: str
    verdict: str  # killed-by-proof | killed-by-test | survived
    by: str
    seconds: float


def _tests() -> str:
    """The test battery every mutant meets first: the empty string when everything passes."""
    import sys

    if str(ROOT) not in sys.path and (ROOT / "tests" / "redteam.py").exists():
        sys.path.insert(0, str(ROOT))  # the battery lives in the repository's tests/ (not in the wheel)
    try:
        from tests.redteam import run_sequence
        from tests.test_core_examples import EXAMPLES
    except ImportError as exc:
        raise RuntimeError("the generated campaign needs a source checkout: its test battery is tests/redteam.py "
                           f"and tests/test_core_examples.py ({exc})") from exc
    from pumpctl.proofs.walk import walk

    for fn in EXAMPLES:
        try:
            fn()
        except Exception as exc:
            return f"example {fn.__name__}: {type(exc).__name__}"
    for seed in (1, 2):
        w = walk(3000, seed)
        if w.violations:
            return f"walk seed {seed}: {w.violations[0]}"
    for seed in range(40):
        life = run_sequence(seed)
        if life.violations:
            return f"red team seed {seed}: {life.violations[0]}"
    return ""


def judge(site_id: str, depth: int = 3) -> Outcome:
    """Judge one mutant (run in its own process: the patch never leaks).

    The test battery runs first (seconds); a mutant it does not catch goes to the proofs: bounded
    model checking from power-on over every obligation to ``depth`` events, killed only by a
    counterexample that replays on the mutated runtime. (The order is a cost decision: a bounded
    search over all obligations costs about a minute a mutant on this machine, the tests ten
    seconds; the figures are reported as "by test" and "by proof of the test survivors".)"""
    from pumpctl.proofs import shortcuts
    from pumpctl.proofs.engine import Engine

    site = next(s for s in sites() if s.id == site_id)
    t0 = time.perf_counter()
    undo = apply(site)
    try:
        failed = _tests()
        if failed:
            return Outcome(site.id, site.text, "killed-by-test", failed, time.perf_counter() - t0)
        try:
            # the run-time shortcuts first (a second): a mutant of a rule the runtime looks up in a
            # table is invisible to every run, and the tables are proved equal to the rule
            found = {v.id: v for v in shortcuts.verdicts() if v.verdict == "counterexample" and v.replayed}
            if not found:
                eng = Engine(timeout_ms=60_000)
                found = {k: v for k, v in eng.bmc(depth, first=True).items()
                         if v.verdict == "counterexample" and v.replayed}
        except Exception as exc:  # an encoder that cannot run the mutant has refuted nothing
            return Outcome(site.id, site.text, "survived", f"proofs could not run ({type(exc).__name__}: {exc})",
                           time.perf_counter() - t0)
        if found:
            return Outcome(site.id, site.text, "killed-by-proof", ", ".join(sorted(found)), time.perf_counter() - t0)
        return Outcome(site.id, site.text, "survived", "", time.perf_counter() - t0)
    finally:
        undo()


def source_hashes() -> dict[str, str]:
    return {m: hashlib.sha256(Path(importlib.import_module(m).__file__ or "").read_bytes()).hexdigest()
            for m in TARGETS}


def equivalent() -> dict[str, str]:
    """Survivors argued equivalent (id -> reason), from specs/mutants_equivalent.toml."""
    if not EQUIVALENT.exists():
        return {}
    rows = tomllib.loads(EQUIVALENT.read_text(encoding="utf-8")).get("mutant", [])
    return {str(r["id"]): str(r["reason"]) for r in rows}


def sample(n: int) -> list[str]:
    """A deterministic, stratified sample of n site ids: modules take turns, each in hash order.

    The order depends only on the ids (sha256), so the same code gives the same sample, and every
    mutated module is represented however small n is."""
    by_module: dict[str, list[str]] = {}
    for s in sites():
        by_module.setdefault(s.module, []).append(s.id)
    queues = [sorted(ids, key=lambda i: hashlib.sha256(i.encode()).hexdigest()) for ids in by_module.values()]
    out: list[str] = []
    while len(out) < n and any(queues):
        for q in queues:
            if q and len(out) < n:
                out.append(q.pop(0))
    return out


def campaign(jobs: int = 2, only: list[str] | None = None, progress: Callable[[Outcome, int, int], None] | None = None
             ) -> dict[str, Any]:
    every = sites()
    ids = [s.id for s in every if not only or s.id in only]
    clean = _tests()  # a battery that fails on the unmutated code would "kill" every mutant
    if clean:
        raise RuntimeError(f"the test battery fails on the unmutated code ({clean}): no mutant can be judged")
    ctx = multiprocessing.get_context("spawn")
    outcomes: list[Outcome] = []
    with ctx.Pool(jobs, maxtasksperchild=1) as pool:
        for o in pool.imap(judge, ids, chunksize=1):
            outcomes.append(o)
            if progress is not None:
                progress(o, len(outcomes), len(ids))
    eq = equivalent()
    survivors = [o.id for o in outcomes if o.verdict == "survived"]
    return {
        "format": 1, "sources": source_hashes(), "mutants": len(outcomes), "sites": len(every),
        "killed_by_proof": sum(o.verdict == "killed-by-proof" for o in outcomes),
        "killed_by_test": sum(o.verdict == "killed-by-test" for o in outcomes),
        "survivors": survivors, "equivalent": {i: eq[i] for i in survivors if i in eq},
        "unexplained": [i for i in survivors if i not in eq],
        "outcomes": [asdict(o) for o in outcomes],
    }


def write(results: dict[str, Any]) -> None:
    RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def recorded() -> tuple[dict[str, Any] | None, bool]:
    """The recorded campaign and whether it is current (every mutated source unchanged)."""
    if not RESULTS.exists():
        return None, False
    data = json.loads(RESULTS.read_text(encoding="utf-8"))
    return data, data.get("sources") == source_hashes()
