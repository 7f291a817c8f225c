"""Z3 encoding of the transition table, built by running the real guards and effects on terms.

Theory of operation
-------------------
``symbolic(template, name)`` mirrors any value of the core (NamedTuple records, frozen
dataclasses, tuples, ints, bools) with fresh Z3 constants of the same shape. A *frame* is a
symbolic state (an Int coding the state name) plus symbolic variables; a step adds a
symbolic event whose every field is free - kind, actor, tick length, payload, even the
program and the limits it carries.

``transition`` then evaluates, for every (source state, trigger) group of
``controller.core.table.TABLE`` and in table order, each row's guard and effect on those terms
(the very functions the runtime calls; ``controller.core.logic`` dispatches to Z3). A row fires
when the state and trigger match, its guard holds and no earlier row of the group fired -
the first-match rule of ``transitions``. When nothing fires the state and variables stay
unchanged (a refusal changes nothing). Time is included as ticks of every allowed length.

Two things beyond the table are part of the relation, because a patient depends on them:

- a *power cycle* (pseudo-event ``power_cycle``, payload ``volume`` = the odometer the
  mechanism reached, anywhere the write-ahead rule allows): the state becomes POST with
  ``controller.core.recovery.restore`` of the variables - the very function the shell calls;
- the timeline *ghosts* of ``specs.timeline`` (one per dose-window ring), updated from the
  motor commands of each step, so the dose-window claim is over real delivery.

Rules
1. Nothing here re-states a guard or an effect: a change to the table changes the proof.
2. Every symbolic value is created through ``symbolic`` so its Z3 names are traceable.
3. The model of a frame is read back into the very records the runtime uses (``concrete``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, NamedTuple, cast

import z3

from controller.core import logic, recovery
from controller.core.events import KINDS, Actor, Event
from controller.core.limits import Limits, limits_ok
from controller.core.program import N_WINDOWS
from controller.core.recovery import bound_ok
from controller.core.state import NEVER, STATES, Vars, initial_vars
from controller.core.table import TABLE, Row, rows_for
from pumpctl.specs.timeline import NOTHING_STARTED, POWER_CYCLE, Ghosts, ghost_step, initial_ghosts

logic.register_backend(z3.If, z3.And, z3.Or, z3.Not)

STATE_CODE = {s: i for i, s in enumerate(STATES)}
PROOF_KINDS: tuple[str, ...] = (*KINDS, POWER_CYCLE)
KIND_CODE = {k: i for i, k in enumerate(PROOF_KINDS)}
POWER_ROW = -1  # the row index of a power-cycle firing


def symbolic(template: Any, name: str, leaves: list[z3.ExprRef]) -> Any:
    """A value shaped like ``template`` whose leaves are fresh Z3 constants (appended to ``leaves``)."""
    if isinstance(template, bool):
        leaf = z3.Bool(name)
        leaves.append(leaf)
        return leaf
    if isinstance(template, int):
        leaf = z3.Int(name)
        leaves.append(leaf)
        return leaf
    if isinstance(template, tuple) and hasattr(template, "_fields"):
        return type(template)(*(symbolic(getattr(template, f), f"{name}.{f}", leaves) for f in template._fields))
    if isinstance(template, tuple):
        return tuple(symbolic(x, f"{name}[{i}]", leaves) for i, x in enumerate(template))
    if is_dataclass(template) and not isinstance(template, type):
        return type(template)(**{f.name: symbolic(getattr(template, f.name), f"{name}.{f.name}", leaves)
                                 for f in fields(template)})
    raise TypeError(f"cannot make {name} symbolic: {type(template).__name__}")


def concrete(template: Any, sym: Any, model: z3.ModelRef) -> Any:
    """Read the value of ``sym`` (shaped like ``template``) out of a model."""
    if isinstance(sym, bool) or (isinstance(sym, int) and isinstance(template, int)):
        return sym  # a leaf a row's effect left concrete
    if isinstance(template, bool):
        return z3.is_true(model.eval(sym, model_completion=True))
    if isinstance(template, int):
        return model.eval(sym, model_completion=True).as_long()
    if isinstance(template, tuple) and hasattr(template, "_fields"):
        return type(template)(*(concrete(getattr(template, f), getattr(sym, f), model) for f in template._fields))
    if isinstance(template, tuple):
        return tuple(concrete(t, s, model) for t, s in zip(template, sym, strict=True))
    if is_dataclass(template) and not isinstance(template, type):
        return type(template)(**{f.name: concrete(getattr(template, f.name), getattr(sym, f.name), model)
                                 for f in fields(template)})
    if isinstance(template, (str, type(None))):
        return template
    raise TypeError(type(template).__name__)


class StrictBool(z3.BoolRef):  # type: ignore[misc]
    """A Z3 Boolean with no Python truth value: z3's own ``__bool__`` answers an ``==`` by comparing
    the two terms structurally (so ``kind in (...)`` would silently be False); this one raises."""

    def __bool__(self) -> bool:
        raise TypeError("a symbolic comparison has no Python truth value: use controller.core.logic "
                        "(all_of, any_of, ite), not if/and/or/in, on a symbolic event kind")


def _strict(b: z3.BoolRef) -> StrictBool:
    return StrictBool(b.as_ast(), b.ctx)


class SymKind:
    """The event kind as a Z3 Int; compares with kind names the way the runtime's str does.

    Only ``==`` and ``!=`` against a kind name are defined; every other use (``in``, ordering,
    truth value, comparing with something that is not a known kind) raises, so a guard can never
    silently fall back to a Python answer."""

    def __init__(self, term: z3.ArithRef) -> None:
        self.term = term

    def _code(self, other: object) -> int:
        if not isinstance(other, str) or other not in KIND_CODE:
            raise TypeError(f"a symbolic event kind compares only with a kind name, not {other!r}")
        return KIND_CODE[other]

    def __eq__(self, other: object) -> z3.BoolRef:
        return _strict(self.term == self._code(other))

    def __ne__(self, other: object) -> z3.BoolRef:
        return _strict(self.term != self._code(other))

    def __bool__(self) -> bool:
        raise TypeError("a symbolic event kind has no truth value: compare it with == or != to a kind name")

    def __contains__(self, item: object) -> bool:
        raise TypeError("use logic.any_of(e.kind == k for k in kinds), not 'in', with a symbolic event kind")

    def __iter__(self) -> Any:
        raise TypeError("a symbolic event kind is not a sequence")

    def __lt__(self, other: object) -> bool:
        raise TypeError("a symbolic event kind has no order")

    __le__ = __gt__ = __ge__ = __lt__

    def __hash__(self) -> int:
        return hash(self.term)


class SymEvent(NamedTuple):
    """Duck-typed like ``controller.core.events.Event`` (whose constructor refuses Z3 terms)."""

    kind: Any
    actor: Any
    dt_ms: Any
    volume: Any
    rate: Any
    duration_ms: Any
    level: Any
    flag: Any
    site: Any
    program: Any
    limits: Any


@dataclass
class SymState:
    """The state name as a Z3 Int; ``is_`` is the StateView of specs.invariants."""

    term: z3.ArithRef

    def is_(self, *names: str) -> z3.BoolRef:
        return z3.Or(*(self.term == STATE_CODE[n] for n in names))


@dataclass
class Frame:
    st: SymState
    v: Vars
    leaves: list[z3.ExprRef]
    gh: Ghosts


@dataclass
class StepVars:
    e: SymEvent
    leaves: list[z3.ExprRef]


def as_event(e: SymEvent) -> Event:
    """The symbolic event where the dual-use guards and effects take an ``Event`` (DESIGN.md: the
    same functions run on ints and on Z3 terms; the type checker sees only the run-time type)."""
    return cast(Event, e)


EVENT_TEMPLATE = Event("tick")


GHOST_TEMPLATE: Ghosts = initial_ghosts((0,) * N_WINDOWS)


def new_frame(i: int, template: Vars | None = None) -> Frame:
    leaves: list[z3.ExprRef] = []
    st = z3.Int(f"s{i}.state")
    v = symbolic(template or initial_vars(), f"s{i}", leaves)
    gh = symbolic(GHOST_TEMPLATE, f"s{i}.ghost", leaves)
    return Frame(SymState(st), v, [st, *leaves], gh)


def new_event(i: int) -> StepVars:
    leaves: list[z3.ExprRef] = []
    e = EVENT_TEMPLATE
    kind = z3.Int(f"e{i}.kind")
    sym = SymEvent(
        SymKind(kind),
        *(symbolic(getattr(e, f), f"e{i}.{f}", leaves) for f in SymEvent._fields[1:]),
    )
    return StepVars(sym, [kind, *leaves])


def domain(f: Frame) -> z3.BoolRef:
    """Type constraints of a frame: the state code is a state."""
    return z3.And(0 <= f.st.term, f.st.term < len(STATES))


def event_domain(s: StepVars, power: bool = True) -> z3.BoolRef:
    """The kind is an event kind (or a power cycle, unless ``power`` is False), the actor an actor."""
    e = s.e
    top = len(PROOF_KINDS) if power else len(KINDS)
    return z3.And(0 <= e.kind.term, e.kind.term < top, 0 <= e.actor, e.actor <= int(max(Actor)))


def init(f: Frame) -> z3.BoolRef:
    """Power-on: POST, nothing delivered, no program, any configuration the pump accepts; each
    ghost watches a window starting anywhere, with nothing seen yet."""
    ghosts = z3.And(*(z3.And(g.got == 0, g.top == 0, z3.Not(g.free)) for g in f.gh.win),
                    logic.same(f.gh.started, NOTHING_STARTED), f.gh.last_in == NEVER, f.gh.rearms_ok)
    return z3.And(f.st.term == STATE_CODE["POST"], limits_ok(f.v.cfg), logic.same(f.v, initial_vars_sym(f.v.cfg)),
                  ghosts)


def frame_values(state: str, v: Vars, gh: Ghosts) -> list[Any]:
    """A concrete (state, variables, ghosts) as values in the order of a frame's leaves."""
    return [STATE_CODE[state], *flatten(v), *flatten(gh)]


def pinned(f: Frame, state: str, v: Vars, gh: Ghosts) -> z3.BoolRef:
    """Frame f is exactly this concrete (state, variables, ghosts): every leaf equal to its value."""
    values = frame_values(state, v, gh)
    if len(values) != len(f.leaves):
        raise ValueError(f"a concrete state has {len(values)} leaves, the frame {len(f.leaves)}")
    return z3.And(*(leaf == value for leaf, value in zip(f.leaves, values, strict=True)))


def initial_vars_sym(cfg: Limits) -> Vars:
    return initial_vars(cfg)


@dataclass(frozen=True)
class Fired:
    row: int  # index in the table, or POWER_ROW for a power cycle
    source: str
    fire: z3.BoolRef
    dest: str
    result: Vars
    ghosts: Ghosts
    kind: str

    @property
    def power(self) -> bool:
        return self.row == POWER_ROW

    def label(self, table: tuple[Row, ...]) -> str:
        return f"power cycle from {self.source}" if self.power else f"row {self.row} ({table[self.row].label})"


def row_instances(table: tuple[Row, ...] = TABLE) -> Iterable[tuple[str, str, list[tuple[int, Row]]]]:
    index = {id(r): i for i, r in enumerate(table)}
    groups = sorted({(s, r.trigger) for r in table for s in r.sources})
    for s, k in groups:
        yield s, k, [(index[id(r)], r) for r in rows_for(s, k, table)]


def firings(f: Frame, s: StepVars, table: tuple[Row, ...] = TABLE) -> list[Fired]:
    """Every row instance with the condition under which it fires and its result, then one power
    cycle per state (the shell's restore, from the system, within the write-ahead bound)."""
    out: list[Fired] = []
    for source, kind, rows in row_instances(table):
        here = z3.And(f.st.term == STATE_CODE[source], s.e.kind.term == KIND_CODE[kind])
        none_before: z3.BoolRef = z3.BoolVal(True)
        for index, row in rows:
            g = row.guard(f.v, as_event(s.e), source)
            guard = g if isinstance(g, z3.BoolRef) else z3.BoolVal(bool(g))
            result = row.apply(f.v, as_event(s.e), source)
            out.append(Fired(index, source, z3.And(here, none_before, guard), row.dest_for(source), result,
                             ghost_step(f.gh, source, kind, f.v, s.e.dt_ms, result), kind))
            none_before = z3.And(none_before, z3.Not(guard))
    for source in STATES:
        pushed = s.e.volume
        fire = z3.And(f.st.term == STATE_CODE[source], s.e.kind.term == KIND_CODE[POWER_CYCLE],
                      s.e.actor == int(Actor.SYSTEM), _b(bound_ok(f.v, pushed)))
        result = recovery.restore(f.v, source, pushed)  # looked up at call time: a mutant patches one place
        out.append(Fired(POWER_ROW, source, fire, "POST", result,
                         ghost_step(f.gh, source, POWER_CYCLE, f.v, 0, result, pushed), POWER_CYCLE))
    return out


def flatten(value: Any) -> list[Any]:
    """The leaves of a value in the order ``symbolic`` creates them."""
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return [leaf for f in value._fields for leaf in flatten(getattr(value, f))]
    if isinstance(value, tuple):
        return [leaf for x in value for leaf in flatten(x)]
    if is_dataclass(value) and not isinstance(value, type):
        return [leaf for f in fields(value) for leaf in flatten(getattr(value, f.name))]
    return [value]


def transition(f: Frame, s: StepVars, g: Frame, table: tuple[Row, ...] = TABLE) -> tuple[z3.BoolRef, list[Fired]]:
    """The relation between frame f, event s and frame g (see the module docstring).

    A fired row fixes the leaves it changes (a row that leaves a leaf as it was says nothing
    about it); a leaf no firing row changes keeps its old value. With the first-match fire
    conditions this is the table's semantics, including "a refusal changes nothing"."""
    fired = firings(f, s, table)
    pre, post = flatten((f.v, f.gh)), flatten((g.v, g.gh))
    changers: list[list[z3.BoolRef]] = [[] for _ in pre]
    parts = []
    for x in fired:
        res = flatten((x.result, x.ghosts))
        eqs = [g.st.term == STATE_CODE[x.dest]]
        for i, (old, new) in enumerate(zip(pre, res, strict=True)):
            if not _same_ast(old, new):
                eqs.append(_eq(post[i], new))
                changers[i].append(x.fire)
        parts.append(z3.Implies(x.fire, z3.And(*eqs)))
    nothing = z3.Not(z3.Or(*(x.fire for x in fired)))
    parts.append(z3.Implies(nothing, g.st.term == f.st.term))
    # a power cycle is one the write-ahead rule allows: there is no "refused" power cycle
    parts.append(z3.Implies(s.e.kind.term == KIND_CODE[POWER_CYCLE], z3.Or(*(x.fire for x in fired if x.power))))
    for i, fires in enumerate(changers):
        kept = _eq(post[i], pre[i])
        parts.append(kept if not fires else z3.Implies(z3.Not(z3.Or(*fires)), kept))
    return z3.And(*parts), fired


def _same_ast(a: Any, b: Any) -> bool:
    if isinstance(a, z3.ExprRef) and isinstance(b, z3.ExprRef):
        return bool(a.eq(b))
    return a is b or (type(a) is type(b) and a == b)


def _eq(a: Any, b: Any) -> z3.BoolRef:
    return _b(a == b)


def _b(x: object) -> z3.BoolRef:
    return x if isinstance(x, z3.BoolRef) else z3.BoolVal(bool(x))
