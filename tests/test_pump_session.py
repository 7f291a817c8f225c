"""The one session assembly (``controller.runtime.session``) on the simulated pump: boot, the library
gate, programs, the guard, restore and restart, and the seams each runner plugs in (the campaign's
wrapped driver from the first period, the SDC session's safety horizon).

Everything runs on a ``SimClock`` and a ``SimPump``: a few milliseconds each.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from controller.campaign.faults import FaultDraw, LinkWindow
from controller.campaign.link import FaultyLink
from controller.campaign.plan import Settings, plan_infusion
from controller.campaign.runner import CampaignRunner
from controller.clinical.programs import build_program
from controller.core import alarms as A
from controller.core.events import ev
from controller.core.limits import Limits
from controller.drivers.base import PumpDriver
from controller.drivers.clocks import SimClock
from controller.drivers.sim import SimPump
from controller.errors import ConfigurationError
from controller.log.errors import LogWriteError
from controller.log.eventlog import EventLog
from controller.runtime.logstore import LogStore
from controller.runtime.session import (
    SAFETY_HORIZON_MS,
    GateConfig,
    Hooks,
    LogSession,
    PumpSession,
    open_log,
)
from controller.scenario.model import load
from controller.scenario.run import Runner
from controller.sdc.pumps import simulated
from controller.sdc.roles import RoleMap
from controller.sdc.session import Session
from tests.store.helpers import EXAMPLE, TODAY, example_key

BASIC = {"rate_ml_h": 36, "vtbi_ml": 20, "reservoir_ml": 30}
MORPHINE = {"drug": "morphine", "dose": 1, "dose_unit": "mg/h", "vtbi_ml": 20, "reservoir_ml": 30}
HEPARIN_SOFT = {"drug": "heparin", "weight_kg": 70, "vtbi_ml": 100, "rate_ml_h": 20}  # above the soft maximum
CONTINUOUS = Path(__file__).resolve().parent / "recovery" / "scenarios" / "continuous.toml"


class Seen:
    """What the hooks saw, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def hooks(self, **kw: Any) -> Hooks:
        return Hooks(on_step=(lambda s: self.calls.append(("step", s.event.kind, s.accepted)),),
                     on_boot=lambda restored: self.calls.append(("boot", restored)),
                     on_alarm=lambda a, p, m: self.calls.append(("alarm", a, p)),
                     on_alarm_cleared=lambda a: self.calls.append(("cleared", a)), **kw)

    def kinds(self, what: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == what]


def pump_session(logs: LogSession | None = None, gate: GateConfig | None = None, seen: Seen | None = None,
                 **kw: Any) -> tuple[PumpSession, SimPump]:
    clock = SimClock()
    plant = SimPump(clock=clock)
    hooks = seen.hooks() if seen is not None else Hooks()
    session = PumpSession(plant, clock, Limits(), logs.store if logs is not None else None, gate_config=gate,
                          hooks=kw.pop("hooks", hooks), **kw)
    return session, plant


def run_for(session: PumpSession, ms: int, period_ms: int = 100) -> None:
    clock = session.clock
    assert isinstance(clock, SimClock)
    for _ in range(ms // period_ms):
        clock.advance(period_ms)
        session.step()


def kinds(db: Path) -> list[str]:
    log = EventLog(db)
    try:
        return [r.kind for r in log.records()]
    finally:
        log.close()


# --- boot -----------------------------------------------------------------------------------------


def test_boot_runs_the_first_period_then_asks_the_self_test() -> None:
    seen = Seen()
    session, plant = pump_session(seen=seen)
    asked: list[int | None] = []

    def self_test() -> bool:
        asked.append(session.shell.last_ms)  # the first period has started the loop's clock
        return plant.self_test()

    report = session.boot(self_test)
    assert report.self_test and report.state == "IDLE" and not report.restored and report.library is None
    assert asked == [0] and session.ctl.state == "IDLE"
    assert seen.calls[0] == ("boot", False) and ("step", "self_test", True) in seen.calls
    assert session.shell.persist is None  # no log and no after_persist: nothing to persist


def test_a_failed_self_test_latches_failed() -> None:
    session, _ = pump_session()
    assert session.boot(lambda: False).state == "FAILED"
    assert session.ctl.vars.alarm.active[A.SELF_TEST_FAILED]


# --- the library gate -----------------------------------------------------------------------------


def test_the_library_is_loaded_after_the_self_test_and_programs_go_through_the_gate(tmp_path: Path) -> None:
    seen = Seen()
    with open_log(tmp_path / "log.db", kind="run") as logs:
        session, _ = pump_session(logs, GateConfig(EXAMPLE, example_key(), today=lambda: TODAY), seen)
        report = session.boot(lambda: True)
        assert report.library is not None and report.library.ok and session.gate is not None
        out = session.program(MORPHINE)
        assert out.accepted and out.code == "ok" and out.built is not None and out.built.entry is not None
        assert out.gate is not None and out.gate.ok and session.ctl.state == "READY"
    recorded = kinds(tmp_path / "log.db")
    assert recorded.index("library_loaded") > max(i for i, k in enumerate(recorded) if k == "event_accepted"
                                                  and i < recorded.index("library_loaded"))  # after the self-test
    assert "program_checked" in recorded and not seen.kinds("alarm")


def test_a_refused_library_keeps_every_program_from_the_core(tmp_path: Path) -> None:
    bad = tmp_path / "lib.toml"
    bad.write_text(EXAMPLE.read_text().replace("hard_max = 4 }", "hard_max = 40 }"))  # changed after signing
    seen = Seen()
    with open_log(tmp_path / "log.db", kind="run") as logs:
        session, _ = pump_session(logs, GateConfig(bad, example_key(), today=lambda: TODAY), seen)
        report = session.boot(lambda: True)
        assert report.library is not None and not report.library.ok
        assert seen.kinds("alarm") == [("alarm", "drug_library", "medium")]  # raised once, by the session
        steps = len(seen.kinds("step"))
        out = session.program(MORPHINE)
        assert not out.reached_core and out.code == "no_library" and out.step is None
        assert len(seen.kinds("step")) == steps and session.ctl.state == "IDLE"  # nothing reached the core
        assert seen.kinds("alarm") == [("alarm", "drug_library", "medium")]  # still raised: not again
    recorded = kinds(tmp_path / "log.db")
    assert "library_rejected" in recorded and "program_refused" in recorded and "alarm_raised" in recorded


def test_a_good_load_clears_the_gate_alarm_through_the_hook(tmp_path: Path) -> None:
    seen = Seen()
    session, _ = pump_session(None, GateConfig(None, example_key(), today=lambda: TODAY), seen)
    session.boot(lambda: True)
    assert not session.program(MORPHINE).reached_core  # no library yet
    assert session.load_library(EXAMPLE).ok
    assert seen.kinds("alarm") == [("alarm", "drug_library", "medium")]
    assert seen.kinds("cleared") == [("cleared", "drug_library")]


# --- programs without a gate, and the soft-limit policy --------------------------------------------


def test_a_program_without_a_gate_is_built_at_the_edge_or_refused_there() -> None:
    session, _ = pump_session()
    session.boot(lambda: True)
    bad = session.program({"rate_ml_h": -1, "vtbi_ml": 1})
    assert bad.code == "program" and "rate_ml_h" in bad.message and not bad.reached_core
    built = build_program(BASIC, Limits())
    out = session.program(built)
    assert out.accepted and out.built is built and session.ctl.vars.prog == built.program
    assert session.ctl.state == "READY"


def test_the_soft_limit_policy_is_the_callers() -> None:
    config = GateConfig(EXAMPLE, example_key(), today=lambda: TODAY)
    refused, _ = pump_session(None, config)
    refused.boot(lambda: True)
    out = refused.program(HEPARIN_SOFT, confirm_soft=False)
    assert out.code == "soft_limits" and out.built is not None and out.built.soft and out.step is None
    assert refused.ctl.state == "IDLE"
    confirmed, _ = pump_session(None, config)
    confirmed.boot(lambda: True)
    out = confirmed.program(HEPARIN_SOFT, confirm_soft=True)
    assert out.accepted and confirmed.ctl.vars.marks.confirmed  # confirmed in the core too
    as_is, _ = pump_session(None, config)
    as_is.boot(lambda: True)
    assert as_is.program(HEPARIN_SOFT).accepted and not as_is.ctl.vars.marks.confirmed  # left to the core


# --- the guard: the same outcome for every caller ----------------------------------------------------


def _break_snapshots(store: LogStore, warnings: list[str]) -> None:
    def full(*args: object, **kw: object) -> Any:
        raise LogWriteError("disk full (test)")

    store.warn = warnings.append
    store.log.append_snapshot = full  # type: ignore[method-assign]


def _pump_session_caller(tmp_path: Path) -> tuple[PumpSession, Any]:
    logs = open_log(tmp_path / "log.db", kind="run")
    session, _ = pump_session(logs)
    session.boot(lambda: True)
    session.program(build_program(BASIC, Limits()))
    return session, logs


def _runner_caller(tmp_path: Path) -> tuple[PumpSession, Any]:
    logs = open_log(tmp_path / "log.db", kind="simulate")
    runner = Runner(load(CONTINUOUS), store=logs.store)
    while runner.ctl.state != "READY":  # the scenario programs at its own time
        runner.advance(runner.t + 1_000)
    return runner.session, logs


def _sdc_caller(tmp_path: Path) -> tuple[PumpSession, Any]:
    roles = RoleMap.parse({"client": [{"subject_cn": "clinician-01", "role": "clinician"}]})
    s = Session(simulated, SimClock(), tmp_path / "log.db", roles, request={"rate_ml_h": 36, "vtbi_ml": 20},
                auto=False)
    s._boot()  # on this thread, which then owns the log and the pump as the session's own thread would
    return s.pump, s._logs


@pytest.mark.req("REQ-LOG-004")
@pytest.mark.parametrize("caller", [_pump_session_caller, _runner_caller, _sdc_caller],
                         ids=["pumpctl run", "simulator", "sdc"])
def test_a_snapshot_that_cannot_be_written_stops_flow_the_same_way_for_every_caller(caller: Any,
                                                                                    tmp_path: Path) -> None:
    session, logs = caller(tmp_path)
    try:
        assert session.ctl.state == "READY" and session.store is not None
        warnings: list[str] = []
        _break_snapshots(session.store, warnings)
        assert session.submit(ev("start")) is None  # the cap it was to protect is never sent
        assert session.ctl.state == "FAILSAFE" and session.ctl.vars.alarm.active[A.MOTOR_FAULT]
        assert session.shell.hold and session.shell.stopped_for is not None and session.store.degraded
        assert session.driver.measured_vu() in (None, 0)  # nothing moved
        assert any(w.startswith("ERROR: event log") for w in warnings)
        faults = [r.payload for r in session.store.log.records("fault") if r.payload["fault"] == "persist_failed"]
        assert len(faults) == 1 and faults[0]["state"] == "RUNNING"  # started; noted before the core latched
        assert session.step() is not None  # after that, snapshot failures only warn
    finally:
        session.shutdown()
        logs.close()


def test_shell_stop_flow_stops_the_mechanism_before_the_note_and_the_core_after() -> None:
    session, plant = pump_session()
    session.boot(lambda: True)
    session.program(build_program(BASIC, Limits()))
    session.submit(ev("start"))
    run_for(session, 1_000)
    assert plant.mech.rate > 0
    order: list[str] = []
    step = session.shell.stop_flow("test", lambda: order.append(f"{session.ctl.state} {plant.mech.rate}"))
    assert order == ["RUNNING 0"] and step.accepted and step.state == "FAILSAFE"
    assert session.shell.hold and session.shell.stopped_for == "test"


# --- restore, restart, and the log's rules ---------------------------------------------------------


def test_restore_from_the_log_then_restart_only_when_confirmed(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    with open_log(db, kind="run") as logs:
        first, _ = pump_session(logs, horizon_ms=4_000)  # as pumpctl run --log: the cap sent runs 4 s ahead
        first.boot(lambda: True)
        first.program(build_program(BASIC, Limits()))
        first.submit(ev("start"))
        run_for(first, 2_000)
        delivered = first.ctl.vars.flow.delivered
        assert first.ctl.state == "RUNNING" and delivered > 0
    seen = Seen()
    with open_log(db, kind="run", resume=True) as logs:
        assert logs.snapshot is not None and logs.snapshot.state == "RUNNING"
        again, _ = pump_session(logs, seen=seen)
        report = again.boot(lambda: True, logs.snapshot)
        assert report.restored and report.restore is not None and report.restore["from"] == logs.snapshot.seq
        assert seen.calls[0] == ("boot", True)
        assert again.ctl.state == "PAUSED" and again.ctl.vars.alarm.active[A.POWER_LOSS]
        assert again.ctl.vars.flow.delivered >= delivered  # never counts less than the pump may have pushed
        assert again.restart(False).code == "unconfirmed" and again.ctl.state == "PAUSED"
        restart = again.restart(True)
        assert restart.restarted and again.ctl.state == "RUNNING"
    assert kinds(db).count("restore") == 1


def test_open_log_has_one_rule_for_no_snapshot_and_for_another_kind(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    EventLog(db).close()
    with pytest.raises(ConfigurationError, match="a log that holds a snapshot"):
        open_log(db, kind="run", resume=True)
    told: list[str] = []
    with open_log(db, kind="simulate", resume=True, if_empty=told.append) as logs:
        assert logs.snapshot is None and told and "no snapshot to resume from" in told[0]
    with open_log(db, kind="sdc") as logs:  # a session that never resumes writes snapshots all the same
        session, _ = pump_session(logs)
        session.boot(lambda: True)
        session.program(build_program(BASIC, Limits()))
    for kind in ("run", "simulate"):
        with pytest.raises(ConfigurationError, match=r"context\.kind") as err:
            open_log(db, kind=kind, resume=True)
        assert "pumpctl sdc serve" not in str(err.value) and kind in str(err.value)
    assert open_log(None, kind="run").store is None


# --- the seams: the campaign's link, the SDC session's horizon ---------------------------------------


def test_a_wrapped_driver_is_in_place_from_the_first_period() -> None:
    clock = SimClock()
    plant = SimPump(clock=clock)
    links: list[FaultyLink] = []

    def wrap(driver: PumpDriver) -> PumpDriver:
        links.append(FaultyLink(driver, clock, (LinkWindow(0, 1_000, "silent"),)))
        return links[-1]

    session = PumpSession(plant, clock, Limits(), hooks=Hooks(wrap_driver=wrap))
    session.boot(plant.self_test)
    (link,) = links
    assert session.driver is link and session.shell.driver is link
    assert link.silenced_polls == 1  # the boot's first period was polled through the link


def test_the_campaigns_fault_link_sees_the_boot() -> None:
    settings = Settings(min_hours=0.05, max_hours=0.1, check_fraction=0.0, log_fraction=0.0)
    plan = plan_infusion(7, 0, settings)  # slot 0: no fault; give it a silent link from the start
    silent = FaultDraw("link_silent", "boot", 0, links=(LinkWindow(0, 1_000, "silent"),))
    runner = CampaignRunner(dataclasses.replace(plan, faults=(silent,)), settings)
    assert runner.link is not None and runner.shell.driver is runner.link
    assert runner.link.silenced_polls == 1


def test_the_campaign_logs_through_a_log_store(tmp_path: Path) -> None:
    settings = Settings(min_hours=0.05, max_hours=0.1, check_fraction=0.0, log_fraction=1.0)
    plan = plan_infusion(7, 1, settings)
    assert plan.log
    runner = CampaignRunner(plan, settings, tmp_path)
    assert runner.store is not None and runner.store.log.path == tmp_path / "events.db"
    result = runner.run_plan()
    assert result.log is not None and result.log.ok
    assert "snapshot" in kinds(tmp_path / "events.db")


def test_the_sdc_session_runs_with_the_safety_horizon(tmp_path: Path) -> None:
    roles = RoleMap.parse({"client": [{"subject_cn": "clinician-01", "role": "clinician"}]})
    s = Session(simulated, SimClock(), tmp_path / "log.db", roles, request={"rate_ml_h": 36, "vtbi_ml": 20},
                auto=False)
    s.start()
    try:
        assert s.call(lambda: s.shell.horizon_ms) == SAFETY_HORIZON_MS
        s.call(lambda: s.pump.submit(ev("start")))
        s.advance(2_000)
        v, sent = s.call(lambda: (s.shell.ctl.vars, s.shell.sent_cap))
        assert v.flow.rate > 0 and sent < v.flow.cap  # the VTBI is not sent at once
        assert sent - v.flow.odo <= v.flow.rate * SAFETY_HORIZON_MS
        snaps = s.call(lambda: s.store.log.records("snapshot"))
        assert snaps and snaps[-1].payload["context"] == {"kind": "sdc"}
    finally:
        s.stop()
