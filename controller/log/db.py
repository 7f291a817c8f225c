"""The event log's storage: SQLite schema and record hashing.

Theory of operation
-------------------
A log is one SQLite file in WAL mode with ``synchronous=FULL``: a transaction that has
committed is in the write-ahead log on disk, so neither a killed process nor a power cut
loses it. Tables:

- ``record``: the hash chain, one row per record (seq, t_ms, at_ms, kind, payload, prev, hash);
- ``archive``: fault records copied out of ``record`` when retention prunes them;
- ``head``: one row, the seq and hash of the newest record, written in the same transaction
  as the record, so that losing the newest records (truncation) is visible;
- ``meta``: the format name and the log's identity.

A record's hash is ``SHA-256(prev || body)`` where ``prev`` is the previous record's hash
(32 raw bytes; 32 zero bytes before the first record) and ``body`` is the canonical JSON
of ``{"at_ms", "kind", "payload", "seq", "t_ms"}`` built from the stored payload text, so a
verifier hashes exactly the bytes that are stored and never has to re-serialise anything.

Rules
1. Every ``sqlite3.Error`` leaves this package as a typed error (``controller.log.errors``):
   ``LogFileError`` (a ``ConfigurationError``) when a file cannot be opened or is not a log,
   ``LogWriteError`` when an append fails (REQ-LOG-004: the shell raises a LOW alarm and
   delivery continues).
2. Tables are STRICT, so a writer bug cannot store a wrongly typed column; the verifier still
   checks types, because an attacker can rebuild the tables.
3. A read-only open never creates or changes a file.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.log.errors import FORMAT, LogFileError

GENESIS = "0" * 64
COLUMNS = "seq, t_ms, at_ms, kind, payload, prev, hash"
_TABLE = "(seq INTEGER PRIMARY KEY, t_ms INTEGER NOT NULL, at_ms INTEGER NOT NULL, kind TEXT NOT NULL," \
         " payload TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL) STRICT"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT",
    f"CREATE TABLE IF NOT EXISTS record {_TABLE}",
    f"CREATE TABLE IF NOT EXISTS archive {_TABLE}",
    "CREATE TABLE IF NOT EXISTS head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL,"
    " hash TEXT NOT NULL, t_ms INTEGER NOT NULL) STRICT",
    "CREATE INDEX IF NOT EXISTS record_kind ON record (kind, seq)",
)
REQUIRED_TABLES = frozenset({"meta", "record", "archive", "head"})


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    t_ms: int  # the log's own monotonic time: never decreases, also across restarts
    at_ms: int  # the caller's timestamp, as given
    kind: str
    payload_json: str  # canonical JSON text, exactly as hashed
    prev: str
    hash: str

    @property
    def payload(self) -> dict[str, Any]:
        value = json.loads(self.payload_json)
        return value if isinstance(value, dict) else {"value": value}

    def line(self) -> str:
        return f"{self.seq:8d} {self.t_ms:12d} {self.at_ms:12d}  {self.kind:20s} {self.payload_json}"


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    hash: str
    t_ms: int


def record_body(seq: int, t_ms: int, at_ms: int, kind: str, payload: bytes) -> bytes:
    """Canonical JSON of the record (keys sorted) around the stored payload bytes."""
    head = f'{{"at_ms":{at_ms},"kind":{json.dumps(kind, ensure_ascii=False)},"payload":'.encode()
    return head + payload + f',"seq":{seq},"t_ms":{t_ms}}}'.encode()


def record_hash(prev: str, body: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev) + body).hexdigest()


def row_to_record(row: tuple[Any, ...]) -> Record:
    return Record(*row)


def connect(path: str | Path, *, readonly: bool) -> sqlite3.Connection:
    """Open (and for a writer, create) a log; raises LogFileError for anything but a log."""
    p = Path(path)
    if readonly and not p.is_file():
        raise LogFileError(p, "no such file")
    try:
        if readonly:
            conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False)
        else:
            conn = sqlite3.connect(p, isolation_level=None, timeout=10.0)
    except (sqlite3.Error, OSError, ValueError) as exc:
        raise LogFileError(p, f"cannot open: {exc}") from None
    try:
        if not readonly:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise LogFileError(p, f"cannot switch to WAL mode (got {mode})")
            conn.execute("PRAGMA synchronous=FULL")
            _create(conn, p)
        _check_schema(conn, p)
    except LogFileError:
        conn.close()
        raise
    except sqlite3.Error as exc:
        conn.close()
        raise LogFileError(p, f"unreadable: {exc}", "the file is corrupt or not an SQLite database") from None
    return conn


def _create(conn: sqlite3.Connection, p: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables & REQUIRED_TABLES and tables:
            raise LogFileError(p, f"an SQLite database with other tables ({', '.join(sorted(tables))})",
                               "refusing to add an event log to someone else's database")
        for stmt in SCHEMA:
            conn.execute(stmt)
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('format', ?)", (FORMAT,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _check_schema(conn: sqlite3.Connection, p: Path) -> None:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = REQUIRED_TABLES - tables
    if missing:
        raise LogFileError(p, f"missing table {sorted(missing)[0]}", "not a pumpctl event log")
    row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    if row is None or row[0] != FORMAT:
        raise LogFileError(p, f"format is {row[0] if row else 'missing'!r}, not {FORMAT!r}")
    for table in ("record", "archive"):
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        if cols != [c.strip() for c in COLUMNS.split(",")]:
            raise LogFileError(p, f"table {table} has columns {cols}")


def read_head(conn: sqlite3.Connection) -> Head | None:
    row = conn.execute("SELECT seq, hash, t_ms FROM head WHERE id = 1").fetchone()
    return None if row is None else Head(row[0], row[1], row[2])
