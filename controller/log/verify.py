"""Check an event log's hash chain and name the first bad record (REQ-LOG-002).

Theory of operation
-------------------
The walk reads the records in seq order as raw bytes and, for each one, checks

1. its columns have the right types (``malformed`` otherwise);
2. it follows its predecessor without a gap in seq (``deleted``);
3. its hash equals SHA-256(prev || body) of what is stored (content integrity);
4. its ``prev`` equals its predecessor's hash (the link), and time does not go backwards.

The first record must chain to the anchor: to the genesis (seq 1, 32 zero bytes) when no
rotation has happened, else to ``last_pruned_hash`` of the newest ``rotation`` record
(``controller.log.retention``). After the walk, the ``head`` row (written with every record)
must name the last record, or records were cut off the end (``truncated``), and the fault
archive must match the digest the newest rotation record holds.

When a check fails the walker says *why*, because "record 7 is bad" is not enough to act on:
a record whose hash matches its content under a different seq was renumbered - it chains
to the record two back (``inserted``), to a later record (``reordered``), or to a record
that no longer exists (``deleted``); a record that chains to nothing while its own hash is
right means its predecessor was ``edited`` and rehashed.

Rules
1. Read only; never raises for a bad chain: the result says what is wrong. A file that SQLite
   itself cannot read raises ``LogFileError``.
2. The reported record is the *first* one, in seq order, at which the chain stops being what
   the writer wrote.
3. Honest about limits: a chain rewritten from the first record on, with a matching head row,
   verifies; only a head hash kept elsewhere (``expect_head``) catches that.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from controller.errors import ConfigurationError
from controller.log.db import GENESIS, read_head, record_body, record_hash
from controller.log.errors import LogFileError
from controller.log.retention import archive_digest

HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_SELECT = ("SELECT seq, t_ms, at_ms, CAST(kind AS BLOB), CAST(payload AS BLOB), CAST(prev AS BLOB),"
           " CAST(hash AS BLOB) FROM {table} {where} ORDER BY seq")


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int | None
    what: str  # malformed, deleted, inserted, reordered, edited, truncated, anchor, archive, rewritten
    detail: str

    def __str__(self) -> str:
        where = f"record {self.seq}" if self.seq is not None else "log"
        return f"{where}: {self.what}: {self.detail}"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    records: int
    first_seq: int | None
    head_seq: int | None
    head_hash: str | None
    archived: int
    problem: Problem | None = None

    def __str__(self) -> str:
        if self.problem is not None:
            return f"NOT INTACT: {self.problem}"
        return (f"intact: {self.records} records (seq {self.first_seq}..{self.head_seq}), {self.archived} archived "
                f"faults; head {self.head_hash}")


@dataclass(frozen=True, slots=True)
class _Row:
    seq: int
    t_ms: int
    at_ms: int
    kind: str
    payload: bytes
    prev: str
    hash: str

    def hash_with_seq(self, seq: int) -> str:
        return record_hash(self.prev, record_body(seq, self.t_ms, self.at_ms, self.kind, self.payload))

    @property
    def intact(self) -> bool:
        return self.hash_with_seq(self.seq) == self.hash


def _row(raw: tuple[object, ...]) -> _Row | str:
    """The typed row, or what is malformed about it."""
    seq, t_ms, at_ms, kind, payload, prev, digest = raw
    for name, v in (("seq", seq), ("t_ms", t_ms), ("at_ms", at_ms)):
        if type(v) is not int:
            return f"{name} is {type(v).__name__}, not an integer"
    for name, v in (("kind", kind), ("payload", payload), ("prev", prev), ("hash", digest)):
        if not isinstance(v, bytes):
            return f"{name} is {type(v).__name__}, not text"
    assert isinstance(kind, bytes) and isinstance(payload, bytes) and isinstance(prev, bytes)
    assert isinstance(digest, bytes) and type(seq) is int and type(t_ms) is int and type(at_ms) is int
    try:
        k, p, h = kind.decode(), prev.decode("ascii"), digest.decode("ascii")
    except UnicodeDecodeError:
        return "kind, prev or hash is not valid text"
    if not HEX64.match(p) or not HEX64.match(h):
        return "prev or hash is not 64 lowercase hex digits"
    return _Row(seq, t_ms, at_ms, k, payload, p, h)


def _rows(conn: sqlite3.Connection, table: str, where: str = "", args: tuple[object, ...] = ()) -> Iterator[
        tuple[int | None, _Row | str]]:
    for raw in conn.execute(_SELECT.format(table=table, where=where), args):
        r = _row(tuple(raw))
        yield (raw[0] if isinstance(raw[0], int) else None), r


def _seq_of_hash(conn: sqlite3.Connection, digest: str) -> int | None:
    row = conn.execute("SELECT seq FROM record WHERE hash = ? ORDER BY seq LIMIT 1", (digest,)).fetchone()
    return None if row is None else int(row[0])


def _next(conn: sqlite3.Connection, seq: int) -> _Row | None:
    raw = conn.execute(_SELECT.format(table="record", where="WHERE seq > ?") + " LIMIT 1", (seq,)).fetchone()
    r = _row(tuple(raw)) if raw is not None else None
    return r if isinstance(r, _Row) else None


def _renumbered_from(r: _Row) -> int | None:
    for d in (-1, 1, -2, 2, -3, 3):
        if r.seq + d > 0 and r.hash_with_seq(r.seq + d) == r.hash:
            return r.seq + d
    return None


def _diagnose_content(conn: sqlite3.Connection, r: _Row, p1: _Row | None, p2: _Row | None) -> Problem:
    """``r``'s hash does not match its content: renumbered (and why) or edited."""
    orig = _renumbered_from(r)
    if orig is None:
        nxt = _next(conn, r.seq)
        if (p1 is not None and nxt is not None and nxt.prev == p1.hash and nxt.seq == r.seq + 1
                and nxt.hash_with_seq(nxt.seq - 1) == nxt.hash):
            return Problem(r.seq, "inserted", f"record {nxt.seq} (originally {nxt.seq - 1}) chains to record "
                                              f"{p1.seq}: record {r.seq} was inserted before it")
        return Problem(r.seq, "edited", "its content does not match its hash")
    if p2 is not None and p1 is not None and r.prev == p2.hash:
        return Problem(p1.seq, "inserted", f"record {r.seq} (originally {orig}) chains to record {p2.seq}: "
                                           f"record {p1.seq} was inserted before it")
    later = _seq_of_hash(conn, r.prev)
    if later is not None and later > r.seq:
        return Problem(r.seq, "reordered", f"record {r.seq} (originally {orig}) chains to record {later}, "
                                           "which comes after it")
    if later is None:
        return Problem(r.seq, "deleted", f"record {r.seq} was {orig} and chains to a record that is gone: "
                                         "records were deleted and the rest renumbered")
    return Problem(r.seq, "edited", f"its seq was changed from {orig}")


def _diagnose_link(conn: sqlite3.Connection, r: _Row, p1: _Row, p2: _Row | None) -> Problem:
    """``r`` is intact but does not chain to ``p1``."""
    if p2 is not None and r.prev == p2.hash:
        return Problem(p1.seq, "inserted", f"record {r.seq} chains to record {p2.seq}: record {p1.seq} was inserted")
    later = _seq_of_hash(conn, r.prev)
    if later is not None and later > r.seq:
        return Problem(r.seq, "reordered", f"record {r.seq} chains to record {later}, which comes after it")
    return Problem(p1.seq, "edited", f"record {p1.seq} was changed and rehashed: record {r.seq} chained to "
                                     f"hash {r.prev[:16]}..., record {p1.seq} now has {p1.hash[:16]}...")


@dataclass(frozen=True, slots=True)
class _Anchor:
    first_seq: int  # the seq the chain must start at
    first_prev: str  # the hash the first record must chain to
    rotation: dict[str, object] | None  # the newest rotation record's payload
    rotation_seq: int | None
    known: bool  # False when the newest rotation record is itself damaged: the walk reports it


def _anchor(conn: sqlite3.Connection) -> _Anchor:
    raw = conn.execute(_SELECT.format(table="record", where="WHERE kind = 'rotation'").replace(
        "ORDER BY seq", "ORDER BY seq DESC LIMIT 1")).fetchone()
    if raw is None:
        return _Anchor(1, GENESIS, None, None, True)
    r = _row(tuple(raw))
    if not isinstance(r, _Row) or not r.intact:
        return _Anchor(1, GENESIS, None, raw[0] if isinstance(raw[0], int) else None, False)
    try:
        p = json.loads(r.payload)
        return _Anchor(int(p["pruned_through_seq"]) + 1, str(p["last_pruned_hash"]), p, r.seq, True)
    except (ValueError, TypeError, KeyError):
        return _Anchor(1, GENESIS, None, r.seq, False)


Walk = tuple[int, _Row | None, int | None, Problem | None, dict[str, object] | None]


def _walk(conn: sqlite3.Connection) -> Walk:
    """(records, last row, first seq, first problem, newest rotation payload)."""
    a = _anchor(conn)
    p1: _Row | None = None
    p2: _Row | None = None
    count, first = 0, None

    def fail(problem: Problem) -> Walk:
        return count, p1, first, problem, a.rotation

    for seq, r in _rows(conn, "record"):
        count += 1
        if isinstance(r, str):
            return fail(Problem(seq, "malformed", r))
        if p1 is None:
            first = r.seq
            if a.known and r.seq > a.first_seq:
                return fail(Problem(a.first_seq, "deleted", f"records {a.first_seq}..{r.seq - 1} are missing from the "
                                    "start of the chain (no rotation pruned them)"))
        elif r.seq != p1.seq + 1:
            return fail(Problem(p1.seq + 1, "deleted", f"records {p1.seq + 1}..{r.seq - 1} are missing"))
        if not r.intact:
            return fail(_diagnose_content(conn, r, p1, p2))
        if p1 is None:
            if a.known and (r.seq != a.first_seq or r.prev != a.first_prev):
                anchor = "rotation anchor" if a.rotation_seq is not None else "genesis"
                return fail(Problem(r.seq, "inserted" if r.seq < a.first_seq else "anchor",
                                    f"the chain must start at record {a.first_seq} chained to "
                                    f"{a.first_prev[:16]}... (the {anchor})"))
        elif r.prev != p1.hash:
            return fail(_diagnose_link(conn, r, p1, p2))
        elif r.t_ms < p1.t_ms:
            return fail(Problem(r.seq, "edited", f"t_ms goes backwards ({p1.t_ms} -> {r.t_ms})"))
        if r.seq == a.rotation_seq and not a.known:
            return fail(Problem(r.seq, "malformed", "the newest rotation record lacks its anchor fields"))
        p2, p1 = p1, r
    return count, p1, first, None, a.rotation


def _check_archive(conn: sqlite3.Connection, rotation: dict[str, object] | None) -> tuple[int, Problem | None]:
    hashes: list[str] = []
    for seq, r in _rows(conn, "archive"):
        if isinstance(r, str):
            return len(hashes), Problem(seq, "archive", f"archived fault is malformed: {r}")
        if not r.intact:
            return len(hashes), Problem(r.seq, "archive", "archived fault's content does not match its hash (edited)")
        hashes.append(r.hash)
    want_count = int(str(rotation.get("archive_count", 0))) if rotation else 0
    want_digest = str(rotation.get("archive_digest", archive_digest([]))) if rotation else archive_digest([])
    if len(hashes) != want_count or archive_digest(hashes) != want_digest:
        return len(hashes), Problem(None, "archive", f"the fault archive holds {len(hashes)} records that do not "
                                    f"match the newest rotation record ({want_count} expected): archived faults "
                                    "were deleted, added or rehashed")
    return len(hashes), None


def check_expected_head(value: str) -> str:
    h = value.strip().lower()
    if not HEX64.match(h):
        raise ConfigurationError("--expect-head", value, "a record hash: 64 hex digits (from `pumpctl log verify`)")
    return h


def verify_connection(conn: sqlite3.Connection, expect_head: str | None = None,
                      path: str = "event log") -> VerifyResult:
    """Walk the chain; see the module docstring. Raises LogFileError only if SQLite cannot read it."""
    want = check_expected_head(expect_head) if expect_head is not None else None
    own = not conn.in_transaction  # one read transaction: a live writer cannot move the head mid-walk
    try:
        if own:
            conn.execute("BEGIN")
        try:
            count, last, first, problem, rotation = _walk(conn)
            head = read_head(conn)
            archived, archive_problem = _check_archive(conn, rotation)
            exp_seq = _seq_of_hash(conn, want) if want is not None else None
        finally:
            if own:
                conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        raise LogFileError(path, f"unreadable: {exc}", "the file is corrupt") from None
    last_seq, last_hash = (last.seq, last.hash) if last else (None, None)
    if problem is None:
        if count == 0:
            problem = Problem(None, "deleted", "the log holds no records at all")
        elif head is None:
            problem = Problem(None, "truncated", "the head row is missing")
        elif last is not None and head.seq > last.seq:
            problem = Problem(last.seq + 1, "truncated", f"records {last.seq + 1}..{head.seq} are missing from the "
                              "end of the chain (the head row names a newer record)")
        elif last is not None and (head.seq != last.seq or head.hash != last.hash):
            problem = Problem(last.seq, "inserted" if head.seq < last.seq else "edited",
                              f"the head row names record {head.seq} ({head.hash[:16]}...) but the chain ends at "
                              f"record {last.seq} ({last.hash[:16]}...)")
    if problem is None and archive_problem is not None:
        problem = archive_problem
    if problem is None and want is not None and exp_seq is None:
        problem = Problem(None, "rewritten", f"the expected head {want[:16]}... is not in the chain: the log was "
                          "rewritten or truncated (or that record was pruned by retention)")
    return VerifyResult(problem is None, count, first, last_seq, last_hash, archived, problem)
