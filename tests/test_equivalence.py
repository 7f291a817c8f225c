"""The transitions-driven core and a ten-line reference interpreter of the table agree."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.events import Event, ev
from controller.core.machine import Controller
from controller.core.state import Vars, initial_vars
from controller.core.table import rows_for
from tests import strategies as S
from tests.helpers import pca_program


def reference_step(state: str, v: Vars, e: Event) -> tuple[bool, str, Vars, int | None]:
    """First row (in table order) whose guard holds fires; otherwise nothing changes."""
    from controller.core.table import TABLE

    for row in rows_for(state, e.kind):
        if row.guard(v, e, state):
            return True, row.dest_for(state), row.apply(v, e, state), TABLE.index(row)
    return False, state, v, None


PRELUDE = [ev("self_test", flag=True), ev("program", program=pca_program()), ev("start")]


@pytest.mark.req("REQ-DEL-001", "REQ-FLT-004")
@settings(max_examples=200, deadline=None)
@given(st.lists(S.events(), min_size=1, max_size=60), st.booleans())
def test_transitions_core_matches_reference(events: list[Event], prelude: bool) -> None:
    c = Controller()
    state, v = "POST", initial_vars()
    for e in (PRELUDE if prelude else []) + events:
        step = c.handle(e)
        accepted, state, v, row = reference_step(state, v, e)
        assert step.accepted == accepted, (e, step.reason)
        assert step.state == state and c.state == state
        assert step.vars == v
        assert step.row == row
