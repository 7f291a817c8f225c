"""Hypothesis stateful test: the core, the real Shell and the simulated pump, driven by random
user events and random faults.

After every core step every invariant of specs/invariants.py holds (the runner checks them
with specs.checker.check_step), and after every control period physical truth holds:

- no flow is commanded in a stop-flow state (the mechanism's commanded rate is 0 whenever the
  controller is in POST, FAILED, IDLE, READY, PAUSED, STOPPED, ALARM or FAILSAFE);
- the volume the mechanism actually pushed while the controller was in therapy never exceeds
  the program's VTBI plus ``therapy_tolerance_ul``: the mechanism's real volume-per-step error,
  a cassette's refill share of one stroke, two steps of quantization plus the encoder's
  overtravel allowance, and - only after a runaway fault - two control periods at the runaway
  rate (the time the overtravel check needs to cut motor power).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from controller.clinical.programs import build_program, clinician_bolus_payload
from controller.core.events import Actor
from controller.core.state import NO_FLOW
from controller.core.units import ml_to_vu
from controller.drivers.sim import SENSOR_NAMES
from controller.errors import ConfigurationError
from controller.plant.sensors import MODES
from controller.scenario.model import EventSpec, parse
from controller.scenario.run import Runner, therapy_tolerance_ul

PERIOD = 500
USER = ("start", "pause", "resume", "stop", "acknowledge", "review", "silence", "confirm_soft_limit", "patient_bolus",
        "clear")
PHYSICAL = ("door_open", "door_close", "occlude_downstream", "occlude_upstream", "release_occlusion", "air_bubble",
            "purge_air", "mains_loss", "mains_restore")
FAULTS = ("sensor_fault", "motor_runaway", "missed_steps", "motor_stall", "power_cycle", "loop_stall")
RATES = st.sampled_from([0.1, 1.0, 25.0, 120.0, 999.0])
VTBIS = st.sampled_from([0.2, 1.0, 5.0])


class SimMachine(RuleBasedStateMachine):
    runner: Runner

    @initialize(mechanism=st.sampled_from(["syringe", "cassette"]), seed=st.integers(0, 2**16))
    def boot(self, mechanism: str, seed: int) -> None:
        sc = parse({"name": "stateful", "duration_s": 30 * 86_400, "control_period_ms": PERIOD, "seed": seed,
                    "plant": {"mechanism": mechanism, "battery_min": 30.0}}, "<stateful>")
        self.runner = Runner(sc)
        self.n = 0

    def _apply(self, kind: str, values: dict[str, object] | None = None, **kw: object) -> None:
        self.n += 1
        self.runner.apply(EventSpec(self.n, self.runner.t, kind, kw.pop("actor", None), values or {}, **kw))  # type: ignore[arg-type]

    def _program(self, rate: float, vtbi: float, pca: bool, limit: bool, stop_at_end: bool) -> bool:
        req: dict[str, object] = {"rate_ml_h": rate, "vtbi_ml": vtbi, "reservoir_ml": vtbi * 1.5,
                                  "clinician_bolus_max_ml": min(vtbi, 1.0),
                                  "end_action": "stop" if stop_at_end else "kvo"}
        if pca:
            req.update(bolus_ml=min(vtbi, 0.5), lockout_s=60, rate_ml_h=min(rate, 25.0))
        if limit:
            req.update(limit_ml=vtbi / 2, limit_window_s=600)
        try:
            built = build_program(req, self.runner.sc.limits)
        except ConfigurationError:
            return False
        self._apply("program", req, program=built)
        return True

    @rule(rate=RATES, vtbi=VTBIS, pca=st.booleans(), limit=st.booleans(), stop_at_end=st.booleans())
    def program(self, rate: float, vtbi: float, pca: bool, limit: bool, stop_at_end: bool) -> None:
        self._program(rate, vtbi, pca, limit, stop_at_end)

    @precondition(lambda self: self.runner.on and self.runner.ctl.state in ("IDLE", "READY", "STOPPED"))
    @rule(rate=RATES, vtbi=VTBIS, pca=st.booleans(), limit=st.booleans(), stop_at_end=st.booleans(),
          periods=st.integers(1, 600))
    def program_start_and_run(self, rate: float, vtbi: float, pca: bool, limit: bool, stop_at_end: bool,
                              periods: int) -> None:
        if self._program(rate, vtbi, pca, limit, stop_at_end):
            self._apply("confirm_soft_limit")
            self._apply("start")
            self.runner.advance(self.runner.t + periods * PERIOD)

    @rule(kind=st.sampled_from(USER), actor=st.sampled_from([None, None, None, Actor.PATIENT, Actor.SYSTEM]))
    def user(self, kind: str, actor: int | None) -> None:
        self._apply(kind, actor=actor)

    @rule(volume=st.sampled_from([0.05, 0.5, 2.0]), duration=st.sampled_from([5.0, 60.0]))
    def clinician_bolus(self, volume: float, duration: float) -> None:
        vol, rate, dur = clinician_bolus_payload(volume, duration)
        self._apply("clinician_bolus", payload={"volume": vol, "rate": rate, "duration_ms": dur})

    @rule(volume=st.sampled_from([0.5, 30.0]), disconnected=st.booleans())
    def prime(self, volume: float, disconnected: bool) -> None:
        self._apply("prime", {"line_disconnected": disconnected}, payload={"volume": ml_to_vu(volume, "v")})

    @rule(kind=st.sampled_from(PHYSICAL), bubble=st.sampled_from([20.0, 150.0, 400.0]))
    def physical(self, kind: str, bubble: float) -> None:
        if kind == "occlude_upstream" and not self.runner.plant.has_upstream:
            return
        values: dict[str, object] = {}
        if kind == "release_occlusion":
            values = {"site": "both"}
        elif kind == "air_bubble":
            values = {"volume_ul": bubble, "upstream_ul": 0.0}
        self._apply(kind, values)

    @rule(kind=st.sampled_from(FAULTS), sensor=st.sampled_from(SENSOR_NAMES), mode=st.sampled_from(MODES),
          amount=st.sampled_from([0.05, 0.5, 1.0, 50.0, 1200.0]))
    def fault(self, kind: str, sensor: str, mode: str, amount: float) -> None:
        if kind == "sensor_fault":
            self._apply(kind, {"sensor": sensor, "mode": mode})
        elif kind == "motor_runaway":
            self._apply(kind, {"rate_ml_h": amount})
        elif kind == "missed_steps":
            self._apply(kind, {"fraction": min(amount, 1.0)})
        elif kind == "loop_stall":
            self.runner.stall_until = self.runner.t + round(min(amount, 5.0) * 1000)
        else:
            self._apply(kind)

    @rule(periods=st.integers(1, 240))
    def run_a_while(self, periods: int) -> None:
        self.runner.advance(self.runner.t + periods * PERIOD)

    @invariant()
    def invariants_and_physical_truth(self) -> None:
        r = self.runner
        res = r.res
        assert res.n_invariant_violations == 0, res.invariant_violations[:3]
        assert res.n_physical_violations == 0, res.physical_violations[:3]
        if r.on and r.ctl.state in NO_FLOW:
            assert r.plant.mech.rate == 0, f"flow commanded in {r.ctl.state}"
        tol = therapy_tolerance_ul(r.plant, PERIOD, r.runaway, r.vtbi_ul)
        assert r.therapy_ul <= r.vtbi_ul + tol, f"pushed {r.therapy_ul} uL in therapy, VTBI {r.vtbi_ul} + {tol}"


TestSimulatedPump = pytest.mark.req(
    "REQ-DEL-001", "REQ-DEL-003", "REQ-DEL-004", "REQ-ALM-004", "REQ-OCC-004", "REQ-REV-001", "REQ-FLT-002",
    "REQ-FLT-003", "REQ-FLT-004", "REQ-DOS-004", "REQ-BOL-004",
)(SimMachine.TestCase)
TestSimulatedPump.settings = settings(max_examples=int(os.environ.get("PUMP_SIM_STATEFUL_EXAMPLES", "40")),
                                      stateful_step_count=30, deadline=None)
