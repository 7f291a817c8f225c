"""The event log: what a step writes, atomicity, refusals, time, snapshots, retention."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import pytest

from controller import Controller, ev, tick
from controller.clinical.programs import build_program
from controller.core.limits import Limits
from controller.errors import ConfigurationError
from controller.log.db import GENESIS, record_body
from controller.log.errors import LogFileError, LogWriteError
from controller.log.eventlog import DAY_MS, EventLog
from tests.store.helpers import TODAY, example_key, filled_log, raw


def _kinds(log: EventLog) -> list[str]:
    return [r.kind for r in log.records()]


@pytest.mark.req("REQ-LOG-001", "REQ-LOG-002")
def test_records_are_chained_with_sha256_of_prev_and_canonical_record(tmp_path: Path) -> None:
    log = filled_log(tmp_path / "a.db", 5)
    recs = log.records()
    assert [r.seq for r in recs] == list(range(1, len(recs) + 1))
    assert recs[0].kind == "log_created" and recs[0].prev == GENESIS
    for prev, r in itertools.pairwise(recs):
        assert r.prev == prev.hash
        body = json.dumps({"at_ms": r.at_ms, "kind": r.kind, "payload": r.payload, "seq": r.seq, "t_ms": r.t_ms},
                          sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert body == record_body(r.seq, r.t_ms, r.at_ms, r.kind, r.payload_json.encode())
        assert r.hash == hashlib.sha256(bytes.fromhex(r.prev) + body).hexdigest()
    assert log.verify().ok


def _run_pump(log: EventLog) -> Controller:
    """A short infusion with a soft-limit override, a configuration change, alarms and a fault."""
    from controller.library.file import load_library
    from tests.store.helpers import EXAMPLE

    lib = load_library(EXAMPLE, example_key(), TODAY)
    ctl = Controller(Limits())
    t = 0

    def step(e: object, dt: int = 1) -> None:
        nonlocal t
        t += dt
        log.record_step(ctl.handle(e), t)  # type: ignore[arg-type]

    step(ev("self_test", flag=True))
    step(ev("configure", limits=Limits(kvo_rate=500)))
    built = build_program({"drug": "morphine", "dose": 3, "dose_unit": "mg/h", "vtbi_ml": 20}, Limits(), lib)
    assert built.needs_confirmation
    step(ev("program", program=built.program))
    step(ev("start"))  # refused: the soft limit is not confirmed yet
    step(ev("confirm_soft_limit"))
    step(ev("start"))
    for _ in range(30):
        step(tick(1000), 1000)
    step(ev("occlusion", site=0))
    step(ev("motor_fault"))
    step(ev("start"))  # refused in FAILSAFE
    return ctl


@pytest.mark.req("REQ-LOG-001")
def test_record_step_writes_events_commands_alarms_overrides_config_and_faults(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "a.db")
    _run_pump(log)
    kinds = _kinds(log)
    for k in ("event_accepted", "event_refused", "command", "alarm_raised", "soft_limit_override",
              "configuration_change", "fault"):
        assert k in kinds, k
    refused = log.records("event_refused")
    assert refused and all(r.payload["reason"] for r in refused)
    assert refused[0].payload["event"]["kind"] == "start"
    commands = {r.payload["command"] for r in log.records("command")}
    assert {"SetFlow", "StopMotor", "RelievePressure", "Annunciate"} <= commands
    assert {r.payload["alarm"] for r in log.records("alarm_raised")} >= {"occlusion_downstream", "motor_fault"}
    program = next(r for r in log.records("event_accepted") if r.payload["event"]["kind"] == "program")
    assert program.payload["event"]["program"]["needs_confirm"] is True
    assert log.records("fault")[0].payload["fault"] == "motor_fault"
    # quiet ticks are elided but counted: the 30 s of ticks left a trace in the next record
    elided = [r.payload["elided_ticks"] for r in log.records() if "elided_ticks" in r.payload]
    assert sum(e["count"] for e in elided) > 0
    assert log.verify().ok


@pytest.mark.req("REQ-LOG-001")
def test_a_step_is_one_transaction_stop_command_first(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "a.db", elide_quiet_ticks=False)
    ctl = Controller(Limits())
    log.record_step(ctl.handle(ev("self_test", flag=True)), 0)
    built = build_program({"rate_ml_h": 25, "vtbi_ml": 10}, Limits())
    log.record_step(ctl.handle(ev("program", program=built.program)), 1)
    log.record_step(ctl.handle(ev("start")), 2)
    recs = log.record_step(ctl.handle(ev("door_open")), 3)
    assert [r.kind for r in recs][:2] == ["event_accepted", "command"]
    assert recs[1].payload["command"] == "StopMotor"  # the stop reaches the log first, as the motor
    assert len({r.t_ms for r in recs}) == 1 and [r.seq for r in recs] == list(range(recs[0].seq, recs[-1].seq + 1))


@pytest.mark.req("REQ-LOG-002", "REQ-LOG-004")
def test_a_failed_write_commits_nothing_and_is_a_typed_error(tmp_path: Path) -> None:
    log = filled_log(tmp_path / "a.db", 3)
    con = raw(tmp_path / "a.db")  # a fault injected below the log: the 2nd record of a step fails
    con.execute("CREATE TRIGGER boom BEFORE INSERT ON record WHEN NEW.kind = 'boom' "
                "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
    con.close()
    before = log.head()
    with pytest.raises(LogWriteError, match="nothing written"):
        log.append_many([("note", {"x": 1}), ("boom", {})], at_ms=5000)
    assert log.head() == before and log.verify().ok
    assert log.append("note", {"after": True}, 5001).seq == before.seq + 1  # the log still works


@pytest.mark.req("REQ-LOG-002", "REQ-PRG-002")
@pytest.mark.parametrize(("kind", "payload", "at_ms", "field"), [
    ("Bad Kind", {}, 5000, "kind"),
    ("rotation", {}, 5000, "kind"),
    ("session", {}, 5000, "kind"),
    ("note", {"x": float("nan")}, 5000, "payload.x"),
    ("note", {1: "int key"}, 5000, "payload"),
    ("note", ["not", "a", "mapping"], 5000, "payload"),
    ("note", {"x": object()}, 5000, "payload.x"),
    ("note", {}, -1, "at_ms"),
    ("note", {}, True, "at_ms"),
    ("note", {}, 5, "at_ms"),  # goes backwards: the last timestamp was 1290
])
def test_a_refused_append_changes_nothing(tmp_path: Path, kind: str, payload: object, at_ms: object,
                                          field: str) -> None:
    log = filled_log(tmp_path / "a.db", 30)
    before = log.head()
    with pytest.raises(ConfigurationError) as exc:
        log.append(kind, payload, at_ms)  # type: ignore[arg-type]
    assert exc.value.field == field
    assert log.head() == before and log.verify().ok


@pytest.mark.req("REQ-LOG-001")
def test_log_time_never_goes_backwards_across_restarts(tmp_path: Path) -> None:
    with EventLog(tmp_path / "a.db") as log:
        log.append("note", {}, 1_000)
        last = log.append("note", {}, 61_000)
    assert last.t_ms == 60_000  # the session started at t 0 (at_ms 1000); deltas are kept
    with EventLog(tmp_path / "a.db") as log:  # the caller's monotonic clock restarted at 7
        first = log.append("note", {}, 7)
        later = log.append("note", {}, 1_007)
        assert first.t_ms == 60_000 and later.t_ms == 61_000 and first.at_ms == 7
        sessions = log.records("session")
        assert [s.payload["t_ms_resumed"] for s in sessions] == [0, 60_000]
        assert log.verify().ok


def test_clock_is_read_only_when_the_caller_passes_none(tmp_path: Path) -> None:
    with EventLog(tmp_path / "a.db") as log:
        a, b = log.append("note", {}), log.append("note", {})
        assert 0 <= a.at_ms <= b.at_ms


@pytest.mark.req("REQ-LOG-003")
def test_snapshots_latest_is_returned_checked_and_never_pruned(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "a.db", retention_ms=1_000, rotate_every=0)
    assert log.latest_snapshot() is None
    log.append_snapshot({"delivered_vu": 1}, 0)
    snap = log.append_snapshot({"delivered_vu": 2, "program": {"vtbi": 5}}, 10)
    for i in range(20):
        log.append("note", {"i": i}, 100 + 1000 * i)
    assert log.rotate() is not None
    latest = log.latest_snapshot()
    assert latest is not None and latest.seq == snap.seq and latest.payload["delivered_vu"] == 2
    assert log.records()[0].seq == snap.seq  # pruning stopped just before the newest snapshot
    assert log.verify().ok
    con = raw(tmp_path / "a.db")
    con.execute("UPDATE record SET payload = '{\"delivered_vu\":0}' WHERE seq = ?", (snap.seq,))
    con.close()
    with pytest.raises(LogFileError, match="edited"):
        log.latest_snapshot()


@pytest.mark.req("REQ-LOG-003", "REQ-LOG-002")
def test_retention_prunes_oldest_first_and_the_chain_still_verifies(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "a.db", retention_ms=5_000, keep_faults=3, rotate_every=0)
    for i in range(40):
        log.append_many([("note", {"i": i})] + ([("fault", {"n": i})] if i % 4 == 0 else []), 1_000 * i)
    rot = log.rotate()
    assert rot is not None and rot.kind == "rotation"
    p = rot.payload
    first = log.records()[0]
    assert first.seq == p["pruned_through_seq"] + 1 and first.prev == p["last_pruned_hash"]
    assert all(r.t_ms >= log.head().t_ms - 5_000 for r in log.records() if r.kind != "rotation")
    assert p["archive_count"] == 3 and p["faults_dropped_total"] > 0
    result = log.verify()
    assert result.ok and result.archived == 3, result
    assert log.rotate() is None  # nothing more is old enough
    for i in range(40, 60):  # a second rotation prunes the first rotation record too
        log.append("note", {"i": i}, 1_000 * i)
    assert log.rotate() is not None and log.verify().ok


@pytest.mark.req("REQ-LOG-003")
def test_30_days_of_events_and_1000_faults_are_kept(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "a.db", rotate_every=0)  # defaults: 30 days, 1000 faults
    hour = DAY_MS // 24
    for h in range(0, 40 * 24, 6):  # 40 days, a batch every 6 hours
        faults = [("fault", {"h": h, "j": j}) for j in range(40)] if h < 9 * 24 else []
        log.append_many([("note", {"h": h}), *faults], h * hour)
    log.rotate()
    head_t = log.head().t_ms
    notes = [r for r in log.records("note")]
    assert notes[0].t_ms < head_t - 30 * DAY_MS + 6 * hour  # everything of the last 30 days is there
    assert all(r.payload["h"] * hour >= head_t - 30 * DAY_MS for r in notes)  # older events are gone
    result = log.verify()
    assert result.ok and result.archived == 1000  # 1440 faults were written, all older than 30 days


@pytest.mark.req("REQ-LOG-003")
def test_auto_rotation_runs_every_n_records(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "a.db", retention_ms=100, rotate_every=5)
    for i in range(12):
        log.append("note", {"i": i}, 1_000 * i)
    assert log.records("rotation") and log.rotation_error is None and log.verify().ok


@pytest.mark.req("REQ-LOG-003")
def test_a_rotation_that_prunes_nothing_still_waits_rotate_every_appends(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing old enough to prune: the next attempt is rotate_every appends later, not at every
    append (each attempt scans the table; at every append a long run slowed to a crawl)."""
    from controller.log import eventlog

    calls = []
    real = eventlog.prune
    monkeypatch.setattr(eventlog, "prune", lambda *a: calls.append(1) or real(*a))
    log = EventLog(tmp_path / "a.db", rotate_every=5)  # 30 days of retention: nothing to prune
    for i in range(23):
        log.append("note", {"i": i}, 1_000 * i)
    assert len(calls) == 4 and not log.records("rotation") and log.verify().ok


@pytest.mark.req("REQ-LOG-002")
def test_two_writers_on_one_file_keep_one_chain(tmp_path: Path) -> None:
    a, b = EventLog(tmp_path / "a.db"), EventLog(tmp_path / "a.db")
    for i in range(10):
        (a if i % 2 else b).append("note", {"i": i}, i)
    assert a.verify().ok and len(a.records("note")) == 10


def test_constructor_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="retention_ms"):
        EventLog(tmp_path / "a.db", retention_ms=0)
    (tmp_path / "other.db").touch()
    con = raw(tmp_path / "other.db")
    con.execute("CREATE TABLE customers (id INTEGER)")
    con.close()
    with pytest.raises(LogFileError, match="other tables"):
        EventLog(tmp_path / "other.db")


@pytest.mark.req("REQ-LOG-002")
def test_verify_reads_one_snapshot_while_a_writer_appends(tmp_path: Path) -> None:
    import threading

    from controller.log.db import connect
    from controller.log.verify import verify_connection

    writer = filled_log(tmp_path / "a.db", 5)
    writer.append_many([("note", {"i": i}) for i in range(3000)], 10**6)  # a walk long enough to race
    stop = threading.Event()

    def write() -> None:
        with EventLog(tmp_path / "a.db") as log:
            i = 0
            while not stop.is_set():
                i += 1
                log.append_many([("note", {"i": i})] * 3, i)

    t = threading.Thread(target=write)
    t.start()
    try:
        conn = connect(tmp_path / "a.db", readonly=True)
        results = [verify_connection(conn) for _ in range(5)]  # without one read snapshot: "truncated"
        conn.close()
    finally:
        stop.set()
        t.join()
    assert all(r.ok for r in results), [str(r) for r in results if not r.ok][:1]
    writer.close()
