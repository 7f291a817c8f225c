"""The durable, hash-chained event log (REQ-LOG-001..004).

Theory of operation
-------------------
``EventLog`` appends records to an SQLite file (``controller.log.db``: WAL, synchronous=FULL)
and chains them: each record's hash covers the previous record's hash, so any edit, deletion,
insertion or reordering shows when the chain is checked (``verify``, ``controller.log.verify``).

- ``append(kind, payload, at_ms)`` writes one record in one transaction; when ``append``
  returns, the record is on disk and survives SIGKILL and power loss.
- ``record_step(step, at_ms)`` writes what one core ``Step`` means (``controller.log.steps``):
  the event accepted or refused (with the reason), every command, alarm raises and clears,
  overrides, configuration changes and faults - all in one transaction, so the log never
  holds half a step. Quiet ticks (accepted, no command, no state change) are elided and
  counted into the next record's ``elided_ticks``.
- ``append_snapshot(payload, at_ms)`` / ``latest_snapshot()``: checkpoints for the recovery
  layer; retention never prunes the newest one.
- Time: ``at_ms`` is the caller's monotonic clock (read from ``time.monotonic_ns`` only when
  the caller passes None). A process restart restarts that clock, so the log keeps its own
  time ``t_ms``: it continues from the newest record and advances by the caller's deltas.
  The unpowered interval counts as zero, so "30 days" of retention is 30 days of operation,
  which is never less than 30 calendar days.
- Retention: every ``rotate_every`` records (or on ``rotate()``) records older than
  ``retention_ms`` are pruned oldest-first with a ``rotation`` anchor record
  (``controller.log.retention``); faults are archived and at least ``keep_faults`` survive.

Rules
1. A refused append (bad kind, payload, timestamp; or a failed write) changes nothing: the
   checks run before the transaction, and a failed transaction is rolled back; in-memory
   state changes only after COMMIT.
2. Timestamps never go backwards within one session (``ConfigurationError`` otherwise).
3. Kinds the log writes itself (``log_created``, ``session``, ``rotation``) cannot be appended.
4. A failure to write raises ``LogWriteError`` (REQ-LOG-004: the shell raises a LOW alarm and
   delivery continues); an auto-rotation failure never fails the append that triggered it
   and is kept in ``rotation_error`` until a rotation succeeds.
"""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from controller.core.machine import Step
from controller.errors import ConfigurationError
from controller.log.canonical import canonical_json
from controller.log.db import (
    COLUMNS,
    GENESIS,
    Head,
    Record,
    connect,
    read_head,
    record_body,
    record_hash,
    row_to_record,
)
from controller.log.errors import FORMAT, LogFileError, LogWriteError
from controller.log.retention import prune
from controller.log.steps import quiet_tick, step_records
from controller.log.verify import VerifyResult, verify_connection

DAY_MS = 86_400_000
RETENTION_MS = 30 * DAY_MS  # REQ-LOG-003
KEEP_FAULTS = 1000  # REQ-LOG-003
RESERVED = frozenset({"log_created", "session", "rotation"})
KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,39}\Z")
MAX_AT_MS = 2**62
Payload = Mapping[str, Any]


def check_kind(kind: object) -> str:
    if not isinstance(kind, str) or not KIND_RE.match(kind):
        raise ConfigurationError("kind", kind, "a lowercase name: a letter, then up to 39 letters, digits or _")
    if kind in RESERVED:
        raise ConfigurationError("kind", kind, f"any name except {', '.join(sorted(RESERVED))} (the log writes those)")
    return kind


class EventLog:
    """One writer per process; safe against other writers on the same file (BEGIN IMMEDIATE)."""

    def __init__(self, path: str | Path, *, retention_ms: int = RETENTION_MS, keep_faults: int = KEEP_FAULTS,
                 rotate_every: int = 1000, elide_quiet_ticks: bool = True) -> None:
        for name, value, lo in (("retention_ms", retention_ms, 1), ("keep_faults", keep_faults, 0),
                                ("rotate_every", rotate_every, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise ConfigurationError(name, value, f"an integer >= {lo}")
        self.path = Path(path)
        self.retention_ms, self.keep_faults, self.rotate_every = retention_ms, keep_faults, rotate_every
        self.elide_quiet_ticks = elide_quiet_ticks
        self.rotation_error: str | None = None
        self._origin: tuple[int, int] | None = None  # (first at_ms of this session, t_ms it maps to)
        self._last_at: int | None = None
        self._since_rotation = 0
        self._elided = (0, 0)  # quiet ticks not yet reported: (count, ms)
        self._conn = connect(self.path, readonly=False)
        try:
            with self._reading():
                self._genesis()
        except BaseException:
            self._conn.close()
            raise

    # --- writing -------------------------------------------------------------------------

    def append(self, kind: str, payload: Payload, at_ms: int | None = None) -> Record:
        """Write one record (one transaction); returns it once it is durable."""
        return self._write([(check_kind(kind), payload)], at_ms)[0]

    def append_many(self, items: Sequence[tuple[str, Payload]], at_ms: int | None = None) -> tuple[Record, ...]:
        """Write several records in one transaction (all or none), e.g. what one shell step produced."""
        return self._write([(check_kind(kind), payload) for kind, payload in items], at_ms)

    def append_snapshot(self, payload: Payload, at_ms: int | None = None) -> Record:
        """A checkpoint for the recovery layer (never pruned while it is the newest)."""
        return self.append("snapshot", payload, at_ms)

    def record_step(self, step: Step, at_ms: int | None = None) -> tuple[Record, ...]:
        """Log one core step (see the module docstring); returns the records written."""
        if self.elide_quiet_ticks and quiet_tick(step):
            self._check_at(self._now(at_ms))
            self._elided = (self._elided[0] + 1, self._elided[1] + step.event.dt_ms)
            return ()
        items: list[tuple[str, Payload]] = list(step_records(step))
        if self._elided[0]:
            kind, first = items[0]
            items[0] = (kind, {**first, "elided_ticks": {"count": self._elided[0], "ms": self._elided[1]}})
        out = self._write(items, at_ms)
        self._elided = (0, 0)
        return out

    def rotate(self, at_ms: int | None = None) -> Record | None:
        """Prune what retention allows now; the rotation record written, or None."""
        del at_ms  # retention is measured in the log's own time (t_ms of the head)
        with self._txn() as head:
            payload = prune(self._conn, head, self.retention_ms, self.keep_faults)
            # an attempt that found nothing to prune counts too: the next one is rotate_every appends
            # away, not at every append (a full scan of the table each time, once it held that many)
            self._since_rotation = 0
            self.rotation_error = None
            if payload is None:
                return None
            rec = self._insert(head, head.t_ms, head.t_ms, "rotation", canonical_json(payload))
        return rec

    def close(self) -> None:
        if self._elided[0] and self._last_at is not None:
            with suppress(LogWriteError):  # best effort: the count of quiet ticks since the last record
                self._write([("ticks", {"elided_ticks": {"count": self._elided[0], "ms": self._elided[1]}})],
                            self._last_at)
        self._conn.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reading -------------------------------------------------------------------------

    def head(self) -> Head:
        with self._reading():
            h = read_head(self._conn)
        if h is None:
            raise LogFileError(self.path, "the head row is missing")
        return h

    def records(self, kind: str | None = None, limit: int | None = None) -> list[Record]:
        with self._reading():
            return read_records(self._conn, kind, limit)

    def latest_snapshot(self) -> Record | None:
        """The newest snapshot, checked against its own hash (LogFileError if it was edited)."""
        with self._reading():
            row = self._conn.execute(f"SELECT {COLUMNS} FROM record WHERE kind = 'snapshot'"
                                     " ORDER BY seq DESC LIMIT 1").fetchone()
        if row is None:
            return None
        rec = row_to_record(row)
        body = record_body(rec.seq, rec.t_ms, rec.at_ms, rec.kind, rec.payload_json.encode())
        if record_hash(rec.prev, body) != rec.hash:
            raise LogFileError(self.path, f"snapshot record {rec.seq} does not match its hash (edited)")
        return rec

    def verify(self, expect_head: str | None = None) -> VerifyResult:
        return verify_connection(self._conn, expect_head, str(self.path))

    # --- internals -----------------------------------------------------------------------

    def _now(self, at_ms: int | None) -> int:
        at = time.monotonic_ns() // 1_000_000 if at_ms is None else at_ms
        if isinstance(at, bool) or not isinstance(at, int) or not 0 <= at < MAX_AT_MS:
            raise ConfigurationError("at_ms", at, f"an integer from 0 to {MAX_AT_MS - 1} (monotonic milliseconds)")
        return at

    def _check_at(self, at: int) -> None:
        if self._last_at is not None and at < self._last_at:
            raise ConfigurationError("at_ms", at, f">= {self._last_at}, the last timestamp of this session",
                                     "timestamps come from a monotonic clock and never go backwards")

    @contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise LogFileError(self.path, f"unreadable: {exc}", "the file is corrupt") from None

    @contextmanager
    def _txn(self) -> Iterator[Head]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise LogWriteError(f"event log {self.path}: cannot start a write: {exc}") from None
        try:
            head = read_head(self._conn)
            yield head if head is not None else Head(0, GENESIS, 0)
            self._conn.execute("COMMIT")
        except BaseException as exc:
            with suppress(sqlite3.Error):  # the transaction may be gone already; nothing of it committed
                self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise LogWriteError(f"event log {self.path}: write failed, nothing written: {exc}") from None
            raise

    def _insert(self, head: Head, t_ms: int, at_ms: int, kind: str, payload_json: str) -> Record:
        seq = head.seq + 1
        digest = record_hash(head.hash, record_body(seq, t_ms, at_ms, kind, payload_json.encode()))
        rec = Record(seq, t_ms, at_ms, kind, payload_json, head.hash, digest)
        self._conn.execute(f"INSERT INTO record ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (seq, t_ms, at_ms, kind, payload_json, head.hash, digest))
        self._conn.execute("INSERT OR REPLACE INTO head (id, seq, hash, t_ms) VALUES (1, ?, ?, ?)",
                           (seq, digest, t_ms))
        return rec

    def _genesis(self) -> None:
        if read_head(self._conn) is not None:
            return
        with self._txn() as head:
            if head.seq == 0:
                payload = canonical_json({"format": FORMAT, "log_id": uuid.uuid4().hex})
                self._insert(head, 0, 0, "log_created", payload)

    def _write(self, items: Sequence[tuple[str, Payload]], at_ms: int | None) -> tuple[Record, ...]:
        at = self._now(at_ms)
        self._check_at(at)
        texts = [(kind, canonical_json(_plain(payload))) for kind, payload in items]
        out: list[Record] = []
        with self._txn() as head:
            origin = self._origin
            if origin is None:  # first write of this session: time continues from the head
                origin = (at, head.t_ms)
                head = _head_of(self._insert(head, head.t_ms, at, "session",
                                             canonical_json({"at_ms_origin": at, "t_ms_resumed": head.t_ms})))
            t_ms = max(head.t_ms, origin[1] + at - origin[0])
            for kind, text in texts:
                rec = self._insert(head, t_ms, at, kind, text)
                head = _head_of(rec)
                out.append(rec)
        self._origin, self._last_at = origin, at
        self._since_rotation += len(out)
        if self.rotate_every and self._since_rotation >= self.rotate_every:
            self._auto_rotate()
        return tuple(out)

    def _auto_rotate(self) -> None:
        try:
            self.rotate()
        except LogWriteError as exc:  # rule 4: the append is committed; report, retry next time
            self.rotation_error = str(exc)


def _head_of(rec: Record) -> Head:
    return Head(rec.seq, rec.hash, rec.t_ms)


def _plain(payload: object) -> dict[str, Any]:
    if not isinstance(payload, Mapping):
        raise ConfigurationError("payload", type(payload).__name__, "a mapping (a JSON object)")
    return dict(payload)


def read_records(conn: sqlite3.Connection, kind: str | None = None, limit: int | None = None) -> list[Record]:
    """The newest ``limit`` records (all without a limit), oldest first, optionally of one kind."""
    where, args = ("WHERE kind = ?", [kind]) if kind is not None else ("", [])
    args_: list[object] = list(args)
    lim = "LIMIT ?" if limit is not None else ""
    if limit is not None:
        args_.append(limit)
    rows = conn.execute(f"SELECT {COLUMNS} FROM record {where} ORDER BY seq DESC {lim}", args_).fetchall()
    return [row_to_record(r) for r in reversed(rows)]
