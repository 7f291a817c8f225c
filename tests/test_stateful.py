"""Hypothesis stateful test: random events, valid and invalid, with every invariant checked
after every step, and refusals shown to change nothing."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from controller.core import alarms as A
from controller.core.events import Event, ev, tick
from controller.core.machine import Controller
from pumpctl.specs.checker import check_step
from pumpctl.specs.invariants import STATE_INVARIANTS, STEP_INVARIANTS
from tests import strategies as S
from tests.helpers import pca_program, program


class PumpMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.c = Controller()
        self.last_violations: list[str] = []

    def _do(self, e: Event) -> None:
        before_state, before_vars = self.c.state, self.c.vars
        step = self.c.handle(e)
        broken = check_step(before_state, step, before_vars)
        assert not broken, f"{broken} after {e} in {before_state} -> {step.state} ({step.reason})"
        if not step.accepted:
            assert self.c.vars is before_vars and self.c.state == before_state

    @initialize(walk_away=st.booleans(), extra_ms=st.integers(0, 5_000))
    def start(self, walk_away: bool, extra_ms: int) -> None:
        """About half the runs begin by booting and leaving a program unattended (the callback must
        come: REQ-PRG-003), so every run of the test reaches that alarm, not only a lucky one; the
        others begin at power-on like a pump just switched on."""
        if walk_away:
            self._do(ev("self_test", flag=True))
            self.program_and_walk_away(extra_ms)

    @rule(e=S.events())
    def any_event(self, e: Event) -> None:
        self._do(e)

    @rule(dt=st.integers(1, 1_000), n=st.integers(1, 200))
    def run_a_while(self, dt: int, n: int) -> None:
        for _ in range(n):
            self._do(tick(min(dt, self.c.vars.cfg.max_tick_ms)))

    @precondition(lambda self: self.c.state in ("IDLE", "READY", "STOPPED"))
    @rule(pca=st.booleans(), lim=st.sampled_from([(0, 0), (2_000_000_000, 0), (500_000_000, 4_000_000_000)]))
    def program_and_start(self, pca: bool, lim: tuple[int, int]) -> None:
        p = pca_program(lim_vol=lim, lim_bucket_ms=(5_000, 20_000)) if pca else program(lim_vol=lim)
        self._do(ev("program", program=p))
        self._do(ev("start"))

    @precondition(lambda self: self.c.state in ("IDLE", "READY", "STOPPED"))
    @rule(extra_ms=st.integers(0, 5_000))
    def program_and_walk_away(self, extra_ms: int) -> None:
        """A program left unattended in READY: the callback alarm comes after callback_ms (REQ-PRG-003)."""
        self._do(ev("program", program=program()))
        if self.c.state != "READY":
            return
        left = self.c.vars.cfg.callback_ms + extra_ms
        while left > 0 and self.c.state == "READY":
            dt = min(left, self.c.vars.cfg.max_tick_ms)
            self._do(tick(dt))
            left -= dt
        assert self.c.state != "READY" or self.c.vars.alarm.active[A.CALLBACK], "no callback after callback_ms"

    @precondition(lambda self: self.c.state == "POST")
    @rule(ok=st.booleans())
    def self_test(self, ok: bool) -> None:
        self._do(ev("self_test", flag=ok))

    @precondition(lambda self: self.c.state in ("RUNNING", "BOLUS"))
    @rule()
    def patient_bolus(self) -> None:
        self._do(ev("patient_bolus"))

    @precondition(lambda self: self.c.state == "RUNNING")
    @rule(site=st.sampled_from([0, 1]))
    def occlusion_cycle(self, site: int) -> None:
        """A stop-flow alarm and the clinician's response; three within 10 min need a review (REQ-OCC-006)."""
        for e in (ev("occlusion", site=site), ev("occlusion_clear", site=site), ev("acknowledge"), ev("resume")):
            self._do(e)

    @precondition(lambda self: self.c.state == "ALARM")
    @rule()
    def review(self) -> None:
        self._do(ev("review"))

    @invariant()
    def commands_match_state(self) -> None:
        v = self.c.vars
        assert v.flow.odo <= v.flow.cap


# after every step the machine checks every invariant in specs/ (check_step): it is stateful
# evidence for each requirement those invariants cite
INVARIANT_REQS = sorted({r for inv in (*STATE_INVARIANTS, *STEP_INVARIANTS) for r in inv.reqs})
TestPump = pytest.mark.req(*INVARIANT_REQS)(PumpMachine.TestCase)
TestPump.settings = settings(max_examples=int(os.environ.get("PUMP_STATEFUL_EXAMPLES", "60")),
                             stateful_step_count=40, deadline=None)
