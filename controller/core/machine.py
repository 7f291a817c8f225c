"""The pure controller core: ``handle(event) -> Step``.

Theory of operation
-------------------
``Controller`` runs ``controller.core.table.TABLE`` with the ``transitions`` package: every row
becomes one ``transitions`` transition per source state, with the row's guard as its only
condition and the row's effect as its ``before`` callback, added in table order so that
``transitions``' first-passing-guard rule is the table's rule. ``handle``

1. refuses an ill-formed event (``events.check_event``) without touching anything;
2. triggers the event; if no row fires, returns a rejected ``Step`` whose reason is the
   first failing condition of the most general row for that state and trigger;
3. otherwise returns the new state and variables and the commands derived from the
   difference (``commands.commands_between``).

Rules
1. No I/O, no clock, no logging, no randomness, no floats: a test enforces the imports.
2. A refused event changes nothing (the variables are immutable; the state is untouched).
3. Any exception inside a guard or effect latches FAILSAFE with the motor stopped and the
   watchdog alarm raised - the one transition not in the table, by design (DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from enum import IntEnum
from typing import Any

from transitions import Machine

from controller.core import alarms as A
from controller.core import annunciation as AN
from controller.core.commands import Command, StopMotor, commands_between
from controller.core.events import Event, check_event
from controller.core.limits import Limits, validate_limits
from controller.core.state import STATES, Vars, initial_vars
from controller.core.table import TABLE, Row, rows_for
from controller.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class Step:
    accepted: bool
    event: Event
    source: str
    state: str
    vars: Vars
    commands: tuple[Command, ...] = ()
    reason: str | None = None
    row: int | None = None  # index in the table of the row that fired

    @property
    def rejected(self) -> bool:
        return not self.accepted


def _check_leaves(x: object, where: str) -> None:
    """Every leaf of a state record is an exact int or bool: floats never enter the core (rule 1)."""
    if isinstance(x, tuple):
        names = getattr(x, "_fields", None)
        for i, y in enumerate(x):
            _check_leaves(y, f"{where}.{names[i]}" if names else f"{where}[{i}]")
    elif is_dataclass(x) and not isinstance(x, type):
        for f in fields(x):
            _check_leaves(getattr(x, f.name), f"{where}.{f.name}")
    elif type(x) not in (int, bool) and not isinstance(x, IntEnum):
        raise ConfigurationError(where, x, "integers (and booleans) in core units")


def latch_row(table: tuple[Row, ...], source: str) -> Row:
    """The watchdog row that takes ``source`` to FAILSAFE (the table's checks make one exist)."""
    return next(r for r in table if r.trigger == "watchdog" and source in r.sources)


class _Model:
    """The object ``transitions`` drives; it only holds the state name."""

    state: str


class Controller:
    """One pump's controller. Not thread-safe: one shell loop owns it."""

    def __init__(self, limits: Limits | None = None, *, vars: Vars | None = None, state: str = "POST",
                 table: tuple[Row, ...] = TABLE) -> None:
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        if vars is not None:
            _check_leaves(vars, "vars")  # a restored or handed-in state: integers only, like every event
            validate_limits(vars.cfg, source="Controller(vars=...)")
        elif limits is not None:
            validate_limits(limits, source="Controller(limits=...)")
        self.table = table
        self.vars: Vars = vars if vars is not None else initial_vars(limits)
        self._model = _Model()
        self._fired: tuple[int, Vars] | None = None
        self._event: Event | None = None
        self.machine = Machine(
            model=self._model, states=list(STATES), initial=state, auto_transitions=False,
            ignore_invalid_triggers=True, send_event=False,
        )
        for index, row in enumerate(table):
            for source in row.sources:
                self.machine.add_transition(
                    row.trigger, source, row.dest if row.dest is not None else None,
                    conditions=[self._guard(row, source)], before=[self._effect(index, row, source)],
                )
        self._triggers: dict[str, Any] = {t: getattr(self._model, t) for t in {r.trigger for r in table}}
        self._accepts = frozenset((s, r.trigger) for r in table for s in r.sources)

    @property
    def state(self) -> str:
        return self._model.state

    def _guard(self, row: Row, source: str) -> Any:
        conds = tuple(c.pred for c in row.conds)

        def guard(e: Event) -> bool:
            v = self.vars
            for pred in conds:  # noqa: SIM110 - a plain loop is the fastest early exit
                if not pred(v, e, source):
                    return False
            return True

        return guard

    def _effect(self, index: int, row: Row, source: str) -> Any:
        def effect(e: Event) -> None:
            self._fired = (index, row.apply(self.vars, e, source))

        return effect

    def handle(self, e: Event) -> Step:
        """Process one event; see the module docstring."""
        problem = check_event(e)
        old, source = self.vars, self._model.state
        if problem is not None:
            return Step(False, e, source, source, old, (), f"bad_event: {problem}")
        if (source, e.kind) not in self._accepts:
            return Step(False, e, source, source, old, (), self.explain(source, e))
        self._fired = None
        try:
            self._triggers[e.kind](e)
        except Exception as exc:
            return self._latch_failsafe(e, source, f"internal_fault: {type(exc).__name__}: {exc}")
        if self._fired is None:
            return Step(False, e, source, source, old, (), self.explain(source, e))
        index, new = self._fired
        self.vars = new
        return Step(True, e, source, self._model.state, new, commands_between(old, new), None, index)

    def explain(self, state: str, e: Event) -> str:
        """Why ``e`` is refused in ``state``: the first failing condition of the last row."""
        rows = rows_for(state, e.kind, self.table)
        if not rows:
            return f"not_allowed_in_state: {e.kind} is not accepted in {state}"
        for c in rows[-1].conds:
            if not c.pred(self.vars, e, state):
                return c.reason
        return "no_row_fired"

    def _latch_failsafe(self, e: Event, source: str, reason: str) -> Step:
        """Rule 3. The latch is the table's own watchdog row (so the latched state is one the proofs
        cover, bolus ended and alarms settled); only if that itself fails (a double fault) does it fall
        back to the bare minimum: motor stopped, watchdog raised."""
        old = self.vars
        try:
            new = latch_row(self.table, source).apply(old, Event("watchdog"), source)
        except Exception:
            a = AN.set_cause(old.alarm, A.WATCHDOG, True)
            active = a.active[: A.WATCHDOG] + (True,) + a.active[A.WATCHDOG + 1 :]
            new = old._replace(flow=old.flow._replace(rate=0, cap=old.flow.odo),
                               alarm=a._replace(active=active, silence_until=old.flow.clock))
        flow = new.flow
        self.vars = new
        self.machine.set_state("FAILSAFE", model=self._model)
        cmds = (StopMotor(flow.odo),) + tuple(c for c in commands_between(old, new) if not isinstance(c, StopMotor))
        return Step(True, e, source, "FAILSAFE", new, cmds, reason, None)
