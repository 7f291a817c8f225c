"""REQ-LOG-004: a log that cannot be written. Step records: warn, raise the LOW ``event_log``
alarm, therapy goes on unchanged. Snapshots (the recovery record): flow stops with an alarm,
and the cap the failed snapshot was to protect is never sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.core import alarms as A
from controller.core.machine import Step
from controller.log.db import Record
from controller.log.errors import LogWriteError
from controller.log.eventlog import EventLog, Payload
from controller.runtime.logstore import LogStore, latest
from controller.scenario.model import load
from controller.scenario.run import Runner

CONTINUOUS = Path(__file__).resolve().parent / "scenarios" / "continuous.toml"


class FlakyLog(EventLog):
    """Writes fail (as on a full or dead disk) for the kinds and the range of calls given."""

    def __init__(self, path: Path, steps: range = range(0), snapshots: range = range(0)) -> None:
        super().__init__(path)
        self.fail_steps, self.fail_snapshots = steps, snapshots
        self.n_steps = self.n_snapshots = 0

    def record_step(self, step: Step, at_ms: int | None = None) -> tuple[Record, ...]:
        self.n_steps += 1
        if self.n_steps in self.fail_steps:
            raise LogWriteError(f"event log {self.path}: write failed, nothing written: disk I/O error (injected)")
        return super().record_step(step, at_ms)

    def append_snapshot(self, payload: Payload, at_ms: int | None = None) -> Record:
        self.n_snapshots += 1
        if self.n_snapshots in self.fail_snapshots:
            raise LogWriteError(f"event log {self.path}: write failed, nothing written: disk full (injected)")
        return super().append_snapshot(payload, at_ms)


@pytest.mark.req("REQ-LOG-004")
def test_failed_step_records_warn_and_therapy_goes_on_unchanged(tmp_path: Path) -> None:
    sc = load(CONTINUOUS)
    plain = Runner(sc, skip=False)  # a run with a durable log goes period by period: compare like with like
    plain.advance(160_000)  # past the VTBI (at 152 s): into KVO
    warnings: list[str] = []
    log = FlakyLog(tmp_path / "log.db", steps=range(5, 40))
    runner = Runner(sc, store=LogStore(log, clock=lambda: 0, warn=warnings.append))
    runner.advance(160_000)
    assert runner.store is not None and runner.store.failures == 35 and not runner.store.degraded
    assert runner.ctl.state == plain.ctl.state == "KVO"
    assert runner.ctl.vars == plain.ctl.vars and runner.res.steps == plain.res.steps  # the same therapy
    assert ("event_log", "low") in {(a.alarm, a.priority) for a in runner.res.alarms}
    assert len(warnings) == 2 and "therapy continues (REQ-LOG-004)" in warnings[0]  # once, then "written again"
    assert "step record written again (35 failed writes" in warnings[1]
    assert log.verify().ok  # what was written still verifies


@pytest.mark.req("REQ-LOG-004", "REQ-REC-001")
def test_a_failed_snapshot_stops_flow_before_the_cap_it_protects_is_sent(tmp_path: Path) -> None:
    warnings: list[str] = []
    log = FlakyLog(tmp_path / "log.db", snapshots=range(30, 10**9))  # from the 30th on: the disk is full
    runner = Runner(load(CONTINUOUS), store=LogStore(log, clock=lambda: 0, warn=warnings.append))
    runner.advance(60_000)
    assert runner.ctl.state == "FAILSAFE" and runner.ctl.vars.alarm.active[A.MOTOR_FAULT]
    assert runner.store is not None and runner.store.degraded and runner.shell.hold
    durable = latest(log)
    assert durable is not None
    mech = runner.plant.mech
    assert mech.pos <= durable.sent_cap and mech.cap <= durable.sent_cap  # never sent past the durable snapshot
    pushed = runner.plant.pushed_ul
    runner.run()
    assert runner.plant.pushed_ul == pushed and runner.ctl.state == "FAILSAFE"  # stopped for good
    assert any(r.payload.get("fault") == "persist_failed" for r in log.records("fault"))
    assert "flow stopped (motor_fault, REQ-LOG-004)" in warnings[1]
    assert log.verify().ok
