"""Tamper with a real log file through sqlite3; verify must name the first bad record and why."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.cli import main
from controller.log.db import connect, record_body, record_hash
from controller.log.eventlog import EventLog
from controller.log.verify import verify_connection
from tests.store.helpers import filled_log, raw

N = 30  # note records; with log_created and session the chain is seq 1..32, notes at 3..32


def _rehash_from(con: sqlite3.Connection, seq: int, *, only: bool = False) -> None:
    """What a careful attacker does: recompute the hashes of records seq.. (and the head row)."""
    rows = con.execute("SELECT seq, t_ms, at_ms, kind, payload, prev, hash FROM record WHERE seq >= ? ORDER BY seq",
                       (seq - 1,)).fetchall()
    prev_hash = rows[0][6]
    for s, t, at, kind, payload, prev, _ in rows[1:]:
        prev = prev_hash if not only or s == seq else prev
        h = record_hash(prev, record_body(s, t, at, kind, payload.encode()))
        con.execute("UPDATE record SET prev = ?, hash = ? WHERE seq = ?", (prev, h, s))
        prev_hash = h
        if only:
            break
    last = con.execute("SELECT seq, hash, t_ms FROM record ORDER BY seq DESC LIMIT 1").fetchone()
    if not only:
        con.execute("UPDATE head SET seq = ?, hash = ?, t_ms = ?", last)


def _shift(con: sqlite3.Connection, from_seq: int, by: int) -> None:
    con.execute("UPDATE record SET seq = -(seq + ?) WHERE seq >= ?", (by, from_seq))
    con.execute("UPDATE record SET seq = -seq WHERE seq < 0")
    con.execute("UPDATE head SET seq = seq + ?", (by,))


def edit(con: sqlite3.Connection) -> None:
    con.execute("UPDATE record SET payload = '{\"i\":999}' WHERE seq = 10")


def edit_and_rehash(con: sqlite3.Connection) -> None:
    edit(con)
    _rehash_from(con, 10, only=True)


def edit_time(con: sqlite3.Connection) -> None:
    con.execute("UPDATE record SET at_ms = at_ms + 1 WHERE seq = 10")


def delete(con: sqlite3.Connection) -> None:
    con.execute("DELETE FROM record WHERE seq IN (10, 11)")


def delete_and_renumber(con: sqlite3.Connection) -> None:
    con.execute("DELETE FROM record WHERE seq = 10")
    con.execute("UPDATE record SET seq = seq - 1 WHERE seq > 10")
    con.execute("UPDATE head SET seq = seq - 1")


def _forged(con: sqlite3.Connection, seq: int) -> tuple[object, ...]:
    prev_hash, t = con.execute("SELECT hash, t_ms FROM record WHERE seq = ?", (seq - 1,)).fetchone()
    payload = '{"i":-1}'
    return seq, t, t, "note", payload, prev_hash, record_hash(prev_hash, record_body(seq, t, t, "note",
                                                                                       payload.encode()))


def insert(con: sqlite3.Connection) -> None:
    _shift(con, 10, 1)
    con.execute("INSERT INTO record VALUES (?, ?, ?, ?, ?, ?, ?)", _forged(con, 10))


def insert_garbage(con: sqlite3.Connection) -> None:
    _shift(con, 10, 1)
    con.execute("INSERT INTO record VALUES (10, 0, 0, 'note', '{}', ?, ?)", ("ab" * 32, "cd" * 32))


def reorder(con: sqlite3.Connection) -> None:
    con.execute("UPDATE record SET seq = -1 WHERE seq = 10")
    con.execute("UPDATE record SET seq = 10 WHERE seq = 11")
    con.execute("UPDATE record SET seq = 11 WHERE seq = -1")


def truncate_head(con: sqlite3.Connection) -> None:
    con.execute("DELETE FROM record WHERE seq > 29")


def drop_oldest(con: sqlite3.Connection) -> None:
    con.execute("DELETE FROM record WHERE seq < 4")


def append_forged_without_head(con: sqlite3.Connection) -> None:
    con.execute("INSERT INTO record VALUES (?, ?, ?, ?, ?, ?, ?)", _forged(con, 33))


def wrong_type(con: sqlite3.Connection) -> None:
    con.execute("UPDATE record SET hash = 'not hex' WHERE seq = 12")


CASES: list[tuple[Callable[[sqlite3.Connection], None], int | None, str]] = [
    (edit, 10, "edited"),
    (edit_and_rehash, 10, "edited"),
    (edit_time, 10, "edited"),
    (delete, 10, "deleted"),
    (delete_and_renumber, 10, "deleted"),
    (insert, 10, "inserted"),
    (insert_garbage, 10, "inserted"),
    (reorder, 10, "reordered"),
    (truncate_head, 30, "truncated"),
    (drop_oldest, 1, "deleted"),
    (append_forged_without_head, 33, "inserted"),
    (wrong_type, 12, "malformed"),
]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    filled_log(tmp_path / "a.db", N).close()
    return tmp_path / "a.db"


@pytest.mark.req("REQ-LOG-002")
@pytest.mark.parametrize(("tamper", "seq", "what"), CASES, ids=[c[0].__name__ for c in CASES])
def test_verify_names_the_first_bad_record(db: Path, tamper: Callable[[sqlite3.Connection], None], seq: int,
                                           what: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["log", "verify", str(db)]) == 0
    con = raw(db)
    tamper(con)
    con.close()
    conn = connect(db, readonly=True)
    result = verify_connection(conn)
    conn.close()
    assert not result.ok and result.problem is not None
    assert (result.problem.seq, result.problem.what) == (seq, what), result.problem
    capsys.readouterr()
    assert main(["log", "verify", str(db)]) == 1
    out = capsys.readouterr().out
    assert f"record {seq}: {what}" in out and "NOT INTACT" in out


@pytest.mark.req("REQ-LOG-002")
def test_a_rewritten_chain_is_caught_only_with_an_anchored_head(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conn = connect(db, readonly=True)
    head = verify_connection(conn).head_hash
    conn.close()
    assert head is not None
    con = raw(db)
    edit(con)
    _rehash_from(con, 10)  # the whole tail recomputed, head row updated: the attacker had the file
    con.close()
    assert main(["log", "verify", str(db)]) == 0  # honest limit (docs/log-and-library.md)
    assert main(["log", "verify", str(db), "--expect-head", head]) == 1
    assert "rewritten" in capsys.readouterr().out


@pytest.mark.req("REQ-LOG-002")
def test_expect_head_accepts_a_chain_that_grew(db: Path) -> None:
    conn = connect(db, readonly=True)
    head = verify_connection(conn).head_hash
    conn.close()
    assert head is not None
    with EventLog(db) as log:
        log.append("note", {"later": True}, 10**6)
    assert main(["log", "verify", str(db), "--expect-head", head.upper()]) == 0
    assert main(["log", "verify", str(db), "--expect-head", "xyz"]) == 2


@pytest.fixture
def rotated(tmp_path: Path) -> Path:
    log = EventLog(tmp_path / "r.db", retention_ms=5_000, keep_faults=4, rotate_every=0)
    for i in range(30):
        log.append_many([("note", {"i": i}), ("fault", {"i": i})], 1_000 * i)
    assert log.rotate() is not None and log.verify().ok and log.verify().archived == 4
    log.close()
    return tmp_path / "r.db"


@pytest.mark.req("REQ-LOG-002", "REQ-LOG-003")
@pytest.mark.parametrize(("sql", "what"), [
    ("UPDATE archive SET payload = '{\"i\":0}' WHERE seq = (SELECT min(seq) FROM archive)", "archive"),
    ("DELETE FROM archive WHERE seq = (SELECT min(seq) FROM archive)", "archive"),
    ("DELETE FROM record WHERE seq = (SELECT min(seq) FROM record)", "deleted"),
    ("UPDATE record SET payload = replace(payload, '\"pruned\":', '\"pruned\": ') WHERE kind = 'rotation'", "edited"),
])
def test_tampering_after_rotation_is_caught(rotated: Path, sql: str, what: str) -> None:
    con = raw(rotated)
    con.execute(sql)
    con.close()
    conn = connect(rotated, readonly=True)
    result = verify_connection(conn)
    conn.close()
    assert not result.ok and result.problem is not None and result.problem.what == what, result


@pytest.mark.req("REQ-LOG-002")
def test_a_damaged_file_is_a_typed_error_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that cannot be read as an event log is bad input (2), never "intact" (0) and not a
    chain found broken (1): nothing could be checked."""
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)
    assert main(["log", "verify", str(bad)]) == 2
    assert main(["log", "show", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert "log file" in err and "Traceback" not in err and out == ""
    assert main(["log", "verify", str(tmp_path / "missing.db")]) == 2
    con = raw(tmp_path / "x.db")
    con.execute("CREATE TABLE t (a)")
    con.close()
    assert main(["log", "verify", str(tmp_path / "x.db")]) == 2
