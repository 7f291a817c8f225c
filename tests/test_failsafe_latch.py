"""The FAILSAFE latch after an internal fault is the table's own watchdog row (issue 11, point 3).

An effect that raises at run time latches FAILSAFE. The latched variables must be exactly what the
table's watchdog row gives from the same state (the state the proofs cover), satisfy every state
invariant the proofs assume (AUX-BOL among them: the bolus is ended), and the motor must be told to
stop. Only a double fault (the watchdog row itself raising) takes the bare fallback, which still stops
the motor and raises the watchdog alarm.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from controller.core import alarms as A
from controller.core.commands import StopMotor
from controller.core.events import Event, ev, tick
from controller.core.machine import Controller, latch_row
from controller.core.table import TABLE, Row
from pumpctl.proofs.auxiliary import AUXILIARY
from pumpctl.specs.checker import check_step
from pumpctl.specs.invariants import At
from tests.helpers import pca_program, running


def _boom(v: object, e: object, s: str) -> object:
    raise ZeroDivisionError("planted")


def _faulty(*triggers: str) -> tuple[Row, ...]:
    return tuple(replace(r, change=_boom) if r.trigger in triggers else r for r in TABLE)


@pytest.mark.req("REQ-FLT-001")
@pytest.mark.parametrize("where", ["RUNNING", "BOLUS"])
def test_an_internal_fault_latches_exactly_the_watchdog_row(where: str) -> None:
    c0 = running(pca_program())
    if where == "BOLUS":
        assert c0.handle(ev("patient_bolus", None)).state == "BOLUS"
    assert c0.handle(tick(1_000)).accepted
    c = Controller(c0.vars.cfg, vars=c0.vars, state=c0.state, table=_faulty("tick"))
    before, source = c.vars, c.state
    step = c.handle(tick(1_000))
    assert step.state == c.state == "FAILSAFE" and step.reason.startswith("internal_fault: ZeroDivisionError")
    assert step.vars == latch_row(TABLE, source).apply(before, Event("watchdog"), source)
    assert isinstance(step.commands[0], StopMotor) and step.vars.flow.rate == 0
    assert not check_step(source, step, before), check_step(source, step, before)
    aux = [inv.id for inv in AUXILIARY if not inv.pred(At("FAILSAFE"), step.vars)]
    assert not aux, aux
    assert step.vars.bolus.rate == 0 and step.vars.alarm.active[A.WATCHDOG]


def test_a_double_fault_still_stops_the_motor() -> None:
    c0 = running(pca_program())
    c = Controller(c0.vars.cfg, vars=c0.vars, state=c0.state, table=_faulty("tick", "watchdog"))
    step = c.handle(tick(1_000))
    assert step.state == "FAILSAFE" and isinstance(step.commands[0], StopMotor)
    assert step.vars.flow.rate == 0 and step.vars.flow.cap == step.vars.flow.odo
    assert step.vars.alarm.active[A.WATCHDOG]
