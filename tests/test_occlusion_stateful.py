"""Hypothesis stateful test of the occlusion alarms: downstream and upstream stay separate alarms,
each follows its own sensor, and either one stops the flow at once with HIGH priority.

A model keeps, per site, whether the last report was an occlusion; after every step the core's
two cause flags must equal it (clearing one site never clears the other), every invariant of
specs/ holds (``check_step``), and an occlusion reported while flowing ends the step in ALARM
with no flow commanded. The run's coverage is recorded like every stateful test's, so it counts
only for the occlusion requirements its steps reached.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from controller.core import alarms as A
from controller.core.events import Event, ev, tick
from controller.core.machine import Controller
from controller.core.state import FLOWING
from pumpctl.specs.checker import check_step
from tests.helpers import program

SITES = {0: A.OCC_DOWN, 1: A.OCC_UP}


class OcclusionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.c = Controller()
        self.occluded = {0: False, 1: False}
        self._do(ev("self_test", flag=True))

    def _do(self, e: Event) -> None:
        before_state, before_vars = self.c.state, self.c.vars
        step = self.c.handle(e)
        broken = check_step(before_state, step, before_vars)
        assert not broken, f"{broken} after {e} in {before_state}"
        if e.kind in ("occlusion", "occlusion_clear") and step.accepted:
            self.occluded[int(e.site)] = e.kind == "occlusion"  # type: ignore[call-overload]
            if e.kind == "occlusion" and before_state in FLOWING:
                assert step.state == "ALARM" and step.vars.flow.rate == 0, "an occlusion while flowing stops at once"

    @precondition(lambda self: self.c.state in ("IDLE", "READY", "STOPPED"))
    @rule()
    def program_and_start(self) -> None:
        self._do(ev("program", program=program(reservoir_vol=200_000_000_000)))
        self._do(ev("start"))

    @rule(site=st.sampled_from([0, 1, 2]))
    def occlusion(self, site: int) -> None:
        self._do(ev("occlusion", site=site))

    @rule(site=st.sampled_from([0, 1]))
    def occlusion_clear(self, site: int) -> None:
        self._do(ev("occlusion_clear", site=site))

    @rule(kind=st.sampled_from(["acknowledge", "resume", "start", "stop", "pause"]))
    def clinician(self, kind: str) -> None:
        self._do(ev(kind))

    @rule(n=st.integers(1, 20))
    def time_passes(self, n: int) -> None:
        for _ in range(n):
            self._do(tick(1000))

    @invariant()
    def each_site_is_its_own_alarm(self) -> None:
        cause = self.c.vars.alarm.cause
        for site, index in SITES.items():
            assert cause[index] == self.occluded[site], f"site {site}: cause {cause[index]}, sensor {self.occluded}"
            assert A.CATALOG[index].priority == A.Priority.HIGH and A.CATALOG[index].response == A.Response.STOP

    @invariant()
    def no_flow_while_an_occlusion_is_present(self) -> None:
        if any(self.occluded.values()):
            assert self.c.state not in FLOWING and self.c.vars.flow.rate == 0


TestOcclusion = pytest.mark.req("REQ-OCC-001", "REQ-OCC-002")(OcclusionMachine.TestCase)
TestOcclusion.settings = settings(max_examples=int(os.environ.get("PUMP_STATEFUL_EXAMPLES", "40")),
                                  stateful_step_count=30, deadline=None)


def test_the_separation_check_fails_when_clearing_one_site_clears_both() -> None:
    """The check can fail: a table whose occlusion_clear clears both causes is caught."""
    from dataclasses import replace

    from controller.core.table import TABLE

    def clear_both(v, e, s):  # type: ignore[no-untyped-def]
        cause = list(v.alarm.cause)
        cause[A.OCC_DOWN] = cause[A.OCC_UP] = False
        return v._replace(alarm=v.alarm._replace(cause=tuple(cause)))

    broken = tuple(replace(r, change=clear_both) if r.trigger == "occlusion_clear" else r for r in TABLE)
    m = OcclusionMachine()
    m.c = Controller(table=broken)
    m.occluded = {0: False, 1: False}
    m._do(ev("self_test", flag=True))
    m.occlusion(0)
    m.occlusion(1)
    m.occlusion_clear(0)
    with pytest.raises(AssertionError, match="site 1"):
        m.each_site_is_its_own_alarm()
