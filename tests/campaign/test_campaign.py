"""Small real campaigns: every fault kind, checked figures, determinism across executors."""

from __future__ import annotations

import dataclasses
import importlib.util

import pytest

from controller.campaign.faults import FAULT_KINDS, FaultDraw
from controller.campaign.plan import InfusionPlan, Settings, plan_infusion
from controller.campaign.pool import run_campaign
from controller.campaign.report import to_json
from controller.campaign.runner import CampaignRunner, InfusionResult, run_infusion
from controller.scenario.run import therapy_tolerance_ul
from tests.campaign.helpers import TINY, TINY_HOURS, TINY_SEED, small_campaign, tiny_local


@pytest.mark.req("REQ-FLT-002", "REQ-FLT-003", "REQ-OVI-001", "REQ-REC-001", "REQ-DRV-001", "REQ-LOG-002")
def test_small_campaign_with_every_fault_kind() -> None:
    c = small_campaign()
    rep, t = c.report, c.report.totals
    assert t.simulated_h >= 20 and t.infusions == len(c.results)
    kinds = {r.kind: r for r in rep.kinds}
    for k in FAULT_KINDS:
        assert kinds[k].injected >= 1 and kinds[k].infusions >= 1, k
    assert kinds["none"].infusions >= 1 and kinds["compound"].infusions >= 1
    # the safety claims: no invariant broken, logs complete, physical truth holds, no crash (the
    # campaign's three findings - NaN temperature, flow in FAILSAFE, lead-screw tolerance - are
    # fixed and pinned by the tests below)
    assert t.invariant_violations == 0 and t.logs_intact == t.logs, rep.violations
    assert t.physical_infusions == 0, rep.violations
    assert t.errors == 0 and not any(_nan_temperature_crash(r) for r in c.results), rep.violations
    assert t.logs >= 5 and t.logs_intact == t.logs and t.log_steps == t.log_steps_accounted > 0
    assert 0 < t.checked_steps < t.steps and t.full_check_infusions >= 5
    # how faults end, where the answer does not depend on timing
    post = kinds["self_test_fail"]
    assert post.count("post_failed") == post.infusions and dict(post.final_states) == {"FAILED": post.infusions}
    assert kinds["motor_runaway"].failsafe >= 1 and ("motor_fault", kinds["motor_runaway"].failsafe) in \
        kinds["motor_runaway"].alarms
    assert dict(kinds["door_open"].alarms).get("door_open", 0) >= 1
    assert kinds["power_cycle"].restored >= 1
    assert sum(r.link_refused for r in c.results) > 0 and sum(r.link_silenced for r in c.results) > 0
    data = to_json(rep)
    assert data["totals"]["simulated_h"] == t.simulated_h and len(data["kinds"]) == len(rep.kinds)


def _nan_temperature_crash(r: InfusionResult) -> bool:
    return "cannot convert float NaN to integer" in r.error and ("sensor_invalid", "temperature") in {
        (k, v) for k, v, _ in r.faults}


@pytest.mark.req("REQ-TMP-001", "REQ-FLT-004")
def test_an_invalid_temperature_sensor_does_not_crash_the_loop() -> None:
    s = Settings(check_fraction=1.0, log_fraction=0.0)
    base = plan_infusion(0, 0, s)
    events = (
        {"at_ms": 1_000, "type": "program", "rate_ml_h": 25.0, "vtbi_ml": 100.0, "reservoir_ml": 120.0},
        {"at_ms": 3_000, "type": "start"},
        {"at_ms": 60_000, "type": "sensor_fault", "sensor": "temperature", "mode": "invalid"},
    )
    faults = (FaultDraw("sensor_invalid", "temperature", 60_000),)
    plan = dataclasses.replace(base, duration_ms=300_000, events=events, faults=faults,
                               plant={"mechanism": "syringe"}, full_check=True, log=False)
    r = CampaignRunner(plan, s).run_plan()
    assert r.error == "" and r.invariant_violations == 0


def test_stopping_early_counts_only_simulated_time() -> None:
    c = small_campaign()
    early = [r for r in c.results if r.stopped_early]
    assert early and all(r.simulated_ms < r.planned_ms for r in early)
    assert all(r.final_state in ("FAILSAFE", "FAILED", "OFF") for r in early)
    assert c.report.totals.simulated_h == round(sum(r.simulated_ms for r in c.results) / 3_600_000, 3)
    # the prefix rule: the last infusion is the one that reached the target
    assert sum(r.simulated_ms for r in c.results[:-1]) < 20 * 3_600_000


def test_same_figures_for_one_and_two_workers() -> None:  # the tool's determinism: no requirement's evidence
    one = tiny_local()
    two = run_campaign(TINY_HOURS, TINY_SEED, TINY, jobs=2)
    assert one.executor == "in-process" and two.executor.startswith("process pool")
    assert one.results == two.results
    assert one.report == two.report


def test_an_infusion_replays_alone() -> None:
    c = tiny_local()
    for r in (c.results[0], c.results[-1]):
        assert run_infusion(TINY_SEED, r.index, TINY) == r


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="dask.distributed not installed")
def test_dask_cluster_gives_the_same_figures() -> None:  # the tool's determinism: no requirement's evidence
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1",
                      dashboard_address=None) as cluster:  # type: ignore[no-untyped-call]
        remote = run_campaign(TINY_HOURS, TINY_SEED, TINY, scheduler=cluster.scheduler_address)
    local = tiny_local()
    assert remote.executor.startswith("dask scheduler tcp://127.0.0.1")
    assert remote.results == local.results
    assert remote.report == local.report


def _runaway_after_slip() -> tuple[InfusionPlan, Settings]:
    """Encoder stuck (slip: FAILSAFE), encoder back, then the driver stage runs away in FAILSAFE."""
    s = Settings(check_fraction=1.0, log_fraction=0.0)
    base = plan_infusion(0, 0, s)
    events = (
        {"at_ms": 1_000, "type": "program", "rate_ml_h": 25.0, "vtbi_ml": 100.0, "reservoir_ml": 120.0},
        {"at_ms": 3_000, "type": "start"},
        {"at_ms": 60_000, "type": "sensor_fault", "sensor": "encoder", "mode": "stuck"},
        {"at_ms": 120_000, "type": "sensor_fault", "sensor": "encoder", "mode": "ok"},
        {"at_ms": 200_000, "type": "motor_runaway", "rate_ml_h": 20.0},
    )
    faults = (FaultDraw("sensor_stuck", "encoder", 60_000), FaultDraw("motor_runaway", "10-100 mL/h", 200_000))
    plan = dataclasses.replace(base, duration_ms=600_000, events=events, faults=faults,
                               plant={"mechanism": "syringe"}, full_check=True, log=False)
    return plan, s


@pytest.mark.req("REQ-OVI-001", "REQ-FLT-004")
def test_the_stop_flow_check_flags_volume_pushed_while_stopped() -> None:
    plan, s = _runaway_after_slip()
    runner = CampaignRunner(plan, s)
    runner.advance(30_000)  # running
    tol = therapy_tolerance_ul(runner.plant, s.control_period_ms, 0.0, float("inf"))
    runner._stop_flow("RUNNING", 10 * tol)  # flow while running: not a stop-flow episode
    runner._stop_flow("PAUSED", tol / 2)
    assert runner.res.n_physical_violations == 0
    runner._stop_flow("PAUSED", tol)
    runner._stop_flow("ALARM", tol)  # flagged once per episode
    assert runner.res.n_physical_violations == 1
    assert "stop-flow state PAUSED" in runner.res.physical_violations[0][1]
    runner._stop_flow("RUNNING", 1.0)
    runner._stop_flow("OFF", 2 * tol)  # a new episode
    assert runner.res.n_physical_violations == 2


@pytest.mark.req("REQ-OVI-001", "REQ-DEL-004")
def test_flow_caught_up_late_is_charged_to_the_state_it_ran_in() -> None:
    """A silent link or a hung loop delays the plant's (lazy) physics: the flow from before a pause
    is only computed when the pause's stop command reaches the plant. It is RUNNING flow."""
    s = Settings(check_fraction=1.0, log_fraction=0.0)
    base = plan_infusion(0, 0, s)
    events = (
        {"at_ms": 1_000, "type": "program", "rate_ml_h": 180.0, "vtbi_ml": 100.0, "reservoir_ml": 120.0},
        {"at_ms": 3_000, "type": "start"},
        {"at_ms": 100_000, "type": "loop_stall", "duration_s": 50.0},
        {"at_ms": 104_000, "type": "pause"},  # 4 s of RUNNING flow computed only now
    )
    plan = dataclasses.replace(base, duration_ms=300_000, events=events, faults=(), plant={"mechanism": "syringe"},
                               full_check=True, log=False)
    r = CampaignRunner(plan, s).run_plan()
    assert r.failsafe_ms is not None  # the hung loop tripped the watchdog
    assert r.physical_violations == 0 and r.stop_flow_max_ul < 1.0, r.physical_examples


@pytest.mark.req("REQ-FLT-004", "REQ-ALM-004")
def test_no_flow_in_failsafe_after_a_slip_and_a_runaway() -> None:
    plan, s = _runaway_after_slip()
    r = CampaignRunner(plan, s).run_plan()
    assert r.failsafe_ms is not None and r.failsafe_ms < 200_000
    assert r.physical_violations == 0, r.physical_examples


@pytest.mark.req("REQ-DEL-001", "REQ-OVI-001")
def test_therapy_volume_within_the_stated_tolerance_after_priming() -> None:
    from tests.campaign.helpers import SMALL

    r = run_infusion(4242, 130, SMALL)  # primes 6.6 mL, then 4.7 mL at 71.6 mL/h
    assert r.physical_violations == 0, (r.physical_examples, r.therapy_over_ul, r.screw_pp_ul)


def test_the_proposed_shell_fix_removes_the_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    """The diff proposed for controller/runtime/shell.py (cut motor power on entering FAILSAFE or FAILED)."""
    import controller.scenario.run as sr
    from controller.core.events import Event
    from controller.core.machine import Step
    from controller.runtime.shell import Shell

    class FixedShell(Shell):
        def submit(self, e: Event) -> Step:
            before = self.ctl.state
            step = super().submit(e)
            if step.accepted and step.state in ("FAILSAFE", "FAILED") and step.state != before:
                self.driver.safe_stop()
            return step

    monkeypatch.setattr(sr, "Shell", FixedShell)
    plan, s = _runaway_after_slip()
    r = CampaignRunner(plan, s).run_plan()
    assert r.failsafe_ms is not None and r.physical_violations == 0 and r.invariant_violations == 0
