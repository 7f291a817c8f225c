"""Hypothesis stateful test through the serial stack, for every pump family: core + Shell + driver + emulator.

Random clinician events, random time, random pump faults (stall, power reset) and random
communication faults (one lost or garbled reply, noise) and, planned for a random moment of
most runs, a lasting one: every reply lost, every reply garbled, every reply late, or the
cable pulled. After every step:

- every invariant of specs/invariants.py holds on every core step (``specs.checker.check_step``
  via ``CheckedController``), refusals included;
- physical truth: what the emulated plunger really pushed never exceeds the largest cap the
  core ever gave the motor, nor the program's VTBI (tolerance: 0 uL - the pump stops at or
  below every cap, see docs/hardware.md);
- a lasting communication fault puts the controller in FAILSAFE within ``CORE_BOUND_MS`` and
  has the plunger standing within ``MOTOR_BOUND_MS`` of the fault (simulated time).

One machine per pump family (``helpers.KITS``: NE-1000, Harvard Pump 11 Elite) and kind of
lasting fault (and one whose link stays up). The claim is "N runs per machine
(``NE1000_STATEFUL_EXAMPLES``, default 4, derandomized) of up to 25 steps, no violation", not a
proof.
"""

from __future__ import annotations

import os
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from controller.clinical.programs import build_program
from controller.core.commands import Command, RelievePressure, SetFlow
from controller.core.events import ev
from controller.core.limits import Limits
from controller.core.units import VU_PER_UL
from controller.drivers.clocks import SimClock
from controller.drivers.pty_emulator import Fault
from controller.runtime.shell import Shell
from tests.drivers.helpers import HARVARD, NE1000, PERIOD_MS, CheckedController, Kit

REQUEST = {"rate_ml_h": 360, "vtbi_ml": 2, "reservoir_ml": 10, "end_action": "stop",
           "bolus_ml": 0.1, "bolus_rate_ml_h": 360, "lockout_s": 2}
CONFIG = {"reply_timeout_ms": 30, "comm_loss_ms": 300}  # short waits: faults cost wall time
CORE_BOUND_MS = CONFIG["comm_loss_ms"] + PERIOD_MS
LASTING = [Fault("drop"), Fault("garble"), Fault("slow", arg=100), Fault("unplug")]
TRANSIENT = [Fault("drop", arg=1), Fault("garble", arg=1), Fault("noise"), Fault("heal")]
USER = ["pause", "resume", "stop", "start", "acknowledge", "silence", "patient_bolus"]


class PumpOverSerial(RuleBasedStateMachine):
    kit: Kit = NE1000  # set by each subclass below
    lasting: Fault | None = None

    def __init__(self) -> None:
        super().__init__()
        self.clock = SimClock()
        self.motor_bound_ms = max(CORE_BOUND_MS, self.kit.silence_ms(**CONFIG))
        self.emu = self.kit.emulator(self.kit.firmware(), clock=self.clock.now_ms).start()
        self.driver = self.kit.driver(self.emu.port, **CONFIG).open(0)
        self.ctl = CheckedController()
        self.shell = Shell(self.ctl, self.driver, self.clock)
        self.max_cap = 0
        self.shell.on_command.append(self._carried_out)
        self.shell.step()
        self.program = build_program(REQUEST, Limits()).program
        for e in (ev("self_test", flag=True), ev("program", program=self.program), ev("start")):
            self.shell.submit(e)
        self.fault: tuple[int, Fault] | None = None  # (when, what) once a lasting fault is injected
        self.planned: tuple[int, Fault] | None = None

    def _carried_out(self, cmd: Command) -> None:
        if isinstance(cmd, SetFlow):
            self.max_cap = max(self.max_cap, cmd.cap)
        elif isinstance(cmd, RelievePressure):
            self.driver.relieve(cmd.max_vu)

    def teardown(self) -> None:
        """A run that ended before its planned fault gets it now, and every faulty run is followed
        past the bound, with the invariants checked each period."""
        self._inject_planned()
        if self.fault is not None:
            for _ in range(self.motor_bound_ms // PERIOD_MS + 1):
                self.time_passes(1)
                self.every_core_step_keeps_every_invariant()
                self.the_plunger_never_passes_a_cap_or_the_vtbi()
                self.a_lasting_comm_fault_ends_in_a_safe_stop_within_the_bound()
        event(f"ended in {self.ctl.state}")  # --hypothesis-show-statistics shows what was covered
        event(f"lasting fault: {self.fault[1].kind if self.fault else 'none'}")
        if self.ctl.vars.flow.delivered >= self.program.vtbi:
            event("VTBI delivered")
        try:
            self.shell.shutdown()
        finally:
            self.emu.stop()
        assert self.emu.crash is None, self.emu.crash

    @initialize(at_periods=st.integers(1, 40))
    def plan_the_lasting_comm_fault(self, at_periods: int) -> None:
        """The link goes for good at a random moment (injected as time passes)."""
        if self.lasting is not None:
            self.planned = (at_periods * PERIOD_MS, self.lasting)

    def _inject_planned(self) -> None:
        if self.planned is not None:
            event(f"comm fault {self.planned[1].kind} in {self.ctl.state}")
            self.emu.inject(self.planned[1])
            self.fault, self.planned = (self.clock.t_ms, self.planned[1]), None

    @rule(periods=st.integers(1, 30))
    def time_passes(self, periods: int) -> None:
        for _ in range(periods):
            if self.planned is not None and self.clock.t_ms >= self.planned[0]:
                self._inject_planned()
            self.clock.advance(PERIOD_MS)
            self.shell.step()

    @rule(kind=st.sampled_from(USER))
    def clinician(self, kind: str) -> None:
        self.shell.submit(ev(kind))

    @precondition(lambda self: self.fault is None)
    @rule(fault=st.sampled_from(TRANSIENT))
    def comm_glitch(self, fault: Fault) -> None:
        self.emu.inject(fault)

    @rule(fault=st.sampled_from([Fault("stall"), Fault("heal"), Fault("reset"), Fault("slip", arg=50)]))
    def pump_fault(self, fault: Fault) -> None:
        if self.fault is None or fault.kind != "heal":
            event(f"pump fault {fault.kind} in {self.ctl.state}")
            self.emu.inject(fault)

    @invariant()
    def every_core_step_keeps_every_invariant(self) -> None:
        assert not self.ctl.broken, self.ctl.broken[:3]

    @invariant()
    def the_plunger_never_passes_a_cap_or_the_vtbi(self) -> None:
        pushed = self.emu.truth().infused_ul
        assert pushed <= Fraction(self.max_cap, VU_PER_UL), (float(pushed), self.max_cap / VU_PER_UL)
        assert pushed <= Fraction(self.program.vtbi, VU_PER_UL)

    @invariant()
    def a_lasting_comm_fault_ends_in_a_safe_stop_within_the_bound(self) -> None:
        if self.fault is None:
            return
        since = self.clock.t_ms - self.fault[0]
        if since >= CORE_BOUND_MS:
            assert self.ctl.state == "FAILSAFE", (self.fault, since, self.ctl.state)
        if since >= self.motor_bound_ms:
            assert not self.emu.truth().moving, (self.fault, since)


SETTINGS = settings(
    max_examples=int(os.environ.get("NE1000_STATEFUL_EXAMPLES", "4")), stateful_step_count=25, deadline=None,
    derandomize=True,  # the same runs every time: a failure here is a regression, not bad luck
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
REQS = ("REQ-FLT-002", "REQ-FLT-003", "REQ-OVI-001", "REQ-OCC-001", "REQ-DEL-001", "REQ-DRV-001")
FRAMES = {"ne1000": "REQ-DRV-003", "harvard": "REQ-DRV-004"}  # CRC-checked frames / no checksum at all


def _machine(name: str, kit: Kit, fault: Fault | None) -> type:
    machine = type(name, (PumpOverSerial,), {"kit": kit, "lasting": fault})
    case = pytest.mark.req(*REQS, FRAMES[kit.name])(machine.TestCase)
    case.settings = SETTINGS
    return case


TestLinkStaysUp = _machine("LinkStaysUp", NE1000, None)
TestRepliesLost = _machine("RepliesLost", NE1000, LASTING[0])
TestRepliesGarbled = _machine("RepliesGarbled", NE1000, LASTING[1])
TestRepliesLate = _machine("RepliesLate", NE1000, LASTING[2])
TestCablePulled = _machine("CablePulled", NE1000, LASTING[3])
TestHarvardLinkStaysUp = _machine("HarvardLinkStaysUp", HARVARD, None)
TestHarvardRepliesLost = _machine("HarvardRepliesLost", HARVARD, LASTING[0])
TestHarvardRepliesGarbled = _machine("HarvardRepliesGarbled", HARVARD, LASTING[1])
TestHarvardRepliesLate = _machine("HarvardRepliesLate", HARVARD, LASTING[2])
TestHarvardCablePulled = _machine("HarvardCablePulled", HARVARD, LASTING[3])
