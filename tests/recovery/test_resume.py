"""The log as the durable store, in-process: what is recorded, and resuming a scenario from it.

A "crash" here abandons a ``Runner`` (its log connection is closed without the final record)
and resumes with a new ``EventLog`` on the same file, as a restarted process would. The
SIGKILL campaign (``test_power_loss.py``) does the same with real processes and real kills.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.cli import main
from controller.core import alarms as A
from controller.core.events import ev
from controller.core.recovery import restore
from controller.core.units import VU_PER_UL
from controller.errors import ConfigurationError
from controller.log.eventlog import EventLog
from controller.runtime.logstore import LogStore, latest, parse_snapshot, reached
from controller.scenario.model import load
from controller.scenario.run import Runner
from tests.recovery.campaign import expected_after

HERE = Path(__file__).resolve().parent
CONTINUOUS = HERE / "scenarios" / "continuous.toml"
PCA = HERE / "scenarios" / "pca.toml"
WINDOW = HERE / "scenarios" / "window.toml"


def start(path: Path, db: Path, until_ms: int) -> tuple[Runner, EventLog]:
    log = EventLog(db)
    runner = Runner(load(path), store=LogStore(log, clock=lambda: 0))
    runner.advance(until_ms)
    return runner, log


def crash(log: EventLog) -> None:
    log._conn.close()  # no closing record: the process died


def resume(path: Path, db: Path) -> tuple[Runner, EventLog]:
    log = EventLog(db)
    return Runner(load(path), store=LogStore(log, clock=lambda: 0), resume=latest(log)), log


def clinician_restart(r: Runner) -> None:
    r._call(lambda: r.shell.submit(ev("acknowledge")))
    r._call(lambda: r.shell.submit(ev("resume")))


@pytest.mark.req("REQ-LOG-001")
def test_every_core_step_and_every_snapshot_is_in_the_log(tmp_path: Path) -> None:
    runner, log = start(PCA, tmp_path / "log.db", 400_000)
    res, store = runner.finish(), runner.store
    assert store is not None and store.failures == 0
    log.close()
    log = EventLog(tmp_path / "log.db")
    recs = log.records()
    steps = [r for r in recs if r.kind in ("event_accepted", "event_refused")]
    elided = sum(r.payload.get("elided_ticks", {}).get("count", 0) for r in recs)
    assert len(steps) + elided == res.steps == store.steps  # quiet ticks are counted, not dropped
    assert [r.payload["event"]["kind"] for r in steps].count("patient_bolus") == 7  # presses to 400 s
    snaps = [r for r in recs if r.kind == "snapshot"]
    assert len(snaps) == store.snapshots > 100
    last = parse_snapshot(snaps[-1])
    assert runner.snapshot == (last.state, last.vars, last.sent_cap)  # the log holds what the shell persisted
    assert last.context["t_ms"] <= 400_000 and last.context["scenario"] == runner.sc.name
    assert log.verify().ok


@pytest.mark.req("REQ-REC-001", "REQ-REC-003", "REQ-LOG-001")
def test_resume_restores_the_newest_snapshot_and_comes_back_paused(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    _, log = start(CONTINUOUS, db, 60_000)
    crash(log)
    snap = latest(EventLog(db))
    assert snap is not None and snap.state == "RUNNING" and snap.sent_cap > snap.vars.flow.odo
    runner, log = resume(CONTINUOUS, db)
    r = runner.res.restore
    assert r is not None and runner.res.resumed_from == r["from"] == snap.seq
    assert r["after"] == expected_after(snap)  # the extra up to the cap sent counts as delivered
    restored = restore(snap.vars, snap.state, reached(snap.vars, snap.sent_cap))
    assert runner.ctl.vars.flow == restored.flow and runner.ctl.vars.prog == snap.vars.prog
    assert runner.ctl.state == "PAUSED" and runner.ctl.vars.alarm.active[A.POWER_LOSS]  # never RUNNING
    assert runner.t == runner.clock.t_ms == snap.context["t_ms"] <= 60_000  # the scenario clock resumes there
    assert runner.plant.mech.pos == 0 and runner.shell.odo_offset == r["after"]["odo_vu"]  # new plant, new odometer
    delivered = runner.ctl.vars.flow.delivered
    res = runner.run()
    assert res.final_state == "PAUSED" and runner.ctl.vars.flow.delivered == delivered  # nobody restarted it
    assert runner.plant.pushed_ul == 0.0
    log.close()
    kinds = [x.kind for x in EventLog(db).records()]
    sessions = [i for i, k in enumerate(kinds) if k == "session"]
    assert kinds.count("restore") == 1 and len(sessions) == 2 and kinds.index("restore") > sessions[1]


@pytest.mark.req("REQ-REC-001")
def test_a_crash_during_the_restart_restores_the_same_totals_again(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    _, log = start(CONTINUOUS, db, 30_000)
    crash(log)
    first, log = resume(CONTINUOUS, db)
    crash(log)  # right after the restore: the POST snapshot and the PAUSED one are in the log
    second, log = resume(CONTINUOUS, db)
    assert first.res.restore is not None and second.res.restore is not None
    assert second.res.restore["after"] == first.res.restore["after"]
    assert second.ctl.state == "PAUSED" and second.ctl.vars.alarm.active[A.POWER_LOSS]
    log.close()


@pytest.mark.req("REQ-REC-002")
def test_a_patient_bolus_right_after_a_resume_inside_the_lockout_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    _, log = start(PCA, db, 20_000)  # the bolus pressed at 10 s is running
    crash(log)
    runner, log = resume(PCA, db)
    v = runner.ctl.vars
    assert v.bolus.times[0] == 10_000 and v.prog.lockout_ms == 120_000
    clinician_restart(runner)
    assert runner.ctl.state == "RUNNING"
    step = runner.shell.submit(ev("patient_bolus"))
    assert not step.accepted and step.reason is not None and step.reason.startswith("lockout")
    runner.advance(131_000)  # the lockout ends 120 s after the bolus, in core time
    step = runner.shell.submit(ev("patient_bolus"))
    assert step.accepted and runner.ctl.state == "BOLUS"
    log.close()


@pytest.mark.req("REQ-REC-002")
def test_a_full_dose_window_stays_full_after_a_resume(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    before, log = start(WINDOW, db, 300_000)  # the 2 mL window filled at about 240 s
    assert before.ctl.vars.alarm.active[A.DOSE_LIMIT]
    truth_ul = before.plant.pushed_ul
    crash(log)
    runner, log = resume(WINDOW, db)
    assert runner.ctl.vars.alarm.active[A.DOSE_LIMIT] and runner.ctl.vars.alarm.active[A.POWER_LOSS]
    clinician_restart(runner)
    runner.advance(420_000)
    assert truth_ul + runner.plant.pushed_ul <= 2000 + 3  # nothing more flowed: KVO counts in the window too
    assert runner.ctl.vars.flow.delivered + runner.ctl.vars.flow.kvo_vol <= 2000 * VU_PER_UL
    log.close()


@pytest.mark.req("REQ-REC-001")
def test_resume_refuses_a_log_of_another_scenario(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    _, log = start(CONTINUOUS, db, 10_000)
    crash(log)
    with pytest.raises(ConfigurationError) as err:
        resume(PCA, db)
    assert "context.scenario" in str(err.value) and "campaign: PCA" in str(err.value)


def test_a_malformed_snapshot_is_refused_naming_the_field(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log.db")
    good = latest_or_fail(tmp_path)
    log.append_snapshot({**good, "sent_cap": -1}, 1)
    with pytest.raises(ConfigurationError, match=r"snapshot record \d+\.sent_cap = -1"):
        latest(log)
    log.append_snapshot({**good, "vars": {"flow": {}}}, 2)
    with pytest.raises(ConfigurationError, match=r"snapshot record \d+\.vars"):
        latest(log)


def latest_or_fail(tmp_path: Path) -> dict[str, object]:
    _, log = start(CONTINUOUS, tmp_path / "src.db", 5_000)
    rec = log.latest_snapshot()
    assert rec is not None
    return rec.payload


@pytest.mark.req("REQ-REC-003", "REQ-LOG-001")
def test_simulate_cli_log_and_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "log.db"
    _, log = start(CONTINUOUS, db, 60_000)
    crash(log)
    assert main(["simulate", str(CONTINUOUS), "--log", str(db), "--resume"]) == 0
    out = capsys.readouterr().out
    assert "resumed from snapshot" in out and "power_loss alarm on" in out and "final state PAUSED" in out
    assert "snapshots, 0 failed writes" in out and "ms wall per core step" in out
    assert main(["log", "verify", str(db)]) == 0


def test_simulate_cli_refuses_bad_log_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "log.db")
    assert main(["simulate", str(CONTINUOUS), "--resume"]) == 2
    assert "--resume needs --log" in capsys.readouterr().err
    assert main(["simulate", str(CONTINUOUS), str(PCA), "--log", db]) == 2
    assert "--log takes exactly one" in capsys.readouterr().err
    _, log = start(CONTINUOUS, Path(db), 5_000)
    crash(log)
    assert main(["simulate", str(PCA), "--log", db, "--resume"]) == 2
    assert "context.scenario" in capsys.readouterr().err
    short = tmp_path / "short.toml"
    short.write_text('name = "short"\nduration_s = 2\n')
    assert main(["simulate", str(short), "--log", str(tmp_path / "empty.db"), "--resume", "-q"]) == 0
    assert "no snapshot to resume from" in capsys.readouterr().out
