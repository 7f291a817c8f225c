"""Shared bits of the store tests: the example library, its test key, a fixed date, DB helpers."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import date
from pathlib import Path

from controller.library.keys import Key, load_key
from controller.log.eventlog import EventLog

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "specs" / "libraries" / "example.toml"
KEYS = Path(__file__).resolve().parent / "keys"
HMAC_KEY_FILE = KEYS / "example-hmac.key"  # test-only key that signed specs/libraries/example.toml
TODAY = date(2027, 1, 15)  # inside the example library's validity (2026-11-01 .. 2027-11-01)


def example_key() -> Key:
    return load_key(HMAC_KEY_FILE)


def copy_example(dst_dir: Path, name: str = "lib.toml") -> Path:
    dst = dst_dir / name
    shutil.copyfile(EXAMPLE, dst)
    return dst


def filled_log(path: Path, n: int = 30, **kw: object) -> EventLog:
    """A log with ``n`` note records (one transaction each, like a real shell)."""
    log = EventLog(path, **kw)  # type: ignore[arg-type]
    for i in range(n):
        log.append("note", {"i": i}, at_ms=1000 + 10 * i)
    return log


def raw(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection, as an attacker with the file would use."""
    return sqlite3.connect(path, isolation_level=None)
