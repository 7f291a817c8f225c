"""Retention: prune the oldest records without breaking the chain (REQ-LOG-003).

Theory of operation
-------------------
A hash chain can only lose a *prefix* and stay checkable: what remains still links record to
record, and only its first link points at a record that is gone. ``prune`` therefore deletes
every record older than the retention period (measured in the log's own time ``t_ms``,
which never decreases), and the caller appends, in the same transaction, a ``rotation``
record at the head saying where the chain now starts:

- ``pruned_through_seq`` and ``last_pruned_hash``: the surviving first record must have
  seq ``pruned_through_seq + 1`` and chain to ``last_pruned_hash``; anything else is a
  deletion the rotation did not make;
- running totals of pruned records and of dropped faults;
- the fault archive's count and digest (SHA-256 over the archived records' hashes in seq
  order). Fault records leaving the chain are copied to ``archive`` first, and the archive
  keeps the newest ``keep_faults`` of them, so at least that many faults outlive the
  30 days of events. An archived record still carries its own hash, so an edit of its
  content shows; an edit that also recomputes that hash changes the digest, which the
  newest rotation record - itself a chained record - fixes.

Rules
1. Runs inside the caller's write transaction; all of it commits with the rotation record
   or none of it does.
2. Never prunes the newest ``snapshot`` record: the recovery layer must always find one.
3. Oldest first, always: a rotation never leaves a gap in the middle of the chain.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any

from controller.log.db import COLUMNS, Head

Payload = dict[str, Any]


def archive_digest(hashes: list[str]) -> str:
    h = hashlib.sha256()
    for x in hashes:
        h.update(bytes.fromhex(x))
    return h.hexdigest()


def latest_rotation(conn: sqlite3.Connection) -> tuple[int, Payload] | None:
    row = conn.execute("SELECT seq, payload FROM record WHERE kind = 'rotation' ORDER BY seq DESC LIMIT 1").fetchone()
    if row is None:
        return None
    value = json.loads(row[1])
    return row[0], value if isinstance(value, dict) else {}


def prune(conn: sqlite3.Connection, head: Head, retention_ms: int, keep_faults: int) -> Payload | None:
    """Delete the records older than ``head.t_ms - retention_ms``; the rotation payload, or None."""
    cutoff = head.t_ms - retention_ms
    last = conn.execute("SELECT max(seq) FROM record WHERE t_ms < ?", (cutoff,)).fetchone()[0]
    if last is None:
        return None
    snapshot = conn.execute("SELECT max(seq) FROM record WHERE kind = 'snapshot'").fetchone()[0]
    if snapshot is not None:
        last = min(last, snapshot - 1)  # rule 2
    first = conn.execute("SELECT min(seq) FROM record").fetchone()[0]
    if first is None or last < first:
        return None
    last_hash = conn.execute("SELECT hash FROM record WHERE seq = ?", (last,)).fetchone()[0]
    before = latest_rotation(conn)
    prev: Payload = before[1] if before else {}
    pruned = conn.execute("SELECT count(*) FROM record WHERE seq <= ?", (last,)).fetchone()[0]
    moved = conn.execute(f"INSERT INTO archive ({COLUMNS}) SELECT {COLUMNS} FROM record"
                         " WHERE seq <= ? AND kind = 'fault'", (last,)).rowcount
    total = conn.execute("SELECT count(*) FROM archive").fetchone()[0]
    drop = max(0, total - keep_faults)
    if drop:
        conn.execute("DELETE FROM archive WHERE seq IN (SELECT seq FROM archive ORDER BY seq LIMIT ?)", (drop,))
    conn.execute("DELETE FROM record WHERE seq <= ?", (last,))
    hashes = [r[0] for r in conn.execute("SELECT hash FROM archive ORDER BY seq")]
    return {
        "pruned_through_seq": last, "last_pruned_hash": last_hash, "pruned": pruned,
        "pruned_total": int(prev.get("pruned_total", 0)) + pruned, "cutoff_t_ms": cutoff,
        "retention_ms": retention_ms, "keep_faults": keep_faults, "faults_archived": moved,
        "faults_dropped_total": int(prev.get("faults_dropped_total", 0)) + drop,
        "archive_count": len(hashes), "archive_digest": archive_digest(hashes),
    }
