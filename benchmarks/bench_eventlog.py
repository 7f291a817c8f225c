"""Event log timings: durable appends per second, verify and rotation time (figures, never asserts).

    python benchmarks/bench_eventlog.py [--dir DIR] [--n 100000]

Appends use the real settings (WAL, synchronous=FULL, one transaction per record or per step),
so the first figures are bound by the disk's fsync rate, which is printed for comparison.
``--dir`` picks the file system (the default is the system temp dir; /dev/shm shows the
CPU-bound cost without fsync).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controller.log.db import connect
from controller.log.eventlog import EventLog
from controller.log.verify import verify_connection


def fsync_rate(d: Path, n: int = 200) -> float:
    p = d / "fsync.bin"
    fd = os.open(p, os.O_WRONLY | os.O_CREAT)
    t = time.perf_counter()
    for _ in range(n):
        os.write(fd, b"x" * 256)
        os.fsync(fd)
    os.close(fd)
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--n", type=int, default=100_000, help="records for the verify timing")
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(dir=args.dir, prefix="bench-eventlog-"))
    print(f"directory {d}; raw write+fsync: {fsync_rate(d):,.0f}/s")

    log = EventLog(d / "a.db", rotate_every=0)
    n = 500
    t = time.perf_counter()
    for i in range(n):
        log.append("note", {"i": i, "state": "RUNNING", "rate": 25000}, i)
    dt = time.perf_counter() - t
    print(f"append, 1 record per transaction:   {n / dt:8,.0f} records/s ({1000 * dt / n:.2f} ms each)")

    t = time.perf_counter()
    for i in range(n // 5):
        log.append_many([("note", {"i": i, "j": j}) for j in range(5)], n + i)
    dt = time.perf_counter() - t
    print(f"append_many, 5 records/transaction: {n / dt:8,.0f} records/s ({5000 * dt / n:.2f} ms per step)")

    t = time.perf_counter()
    batch = 1000
    for i in range(args.n // batch):
        log.append_many([("note", {"i": i, "j": j, "pad": "x" * 40}) for j in range(batch)], 10**6 + i)
    dt = time.perf_counter() - t
    print(f"append_many, {batch} records/transaction: {args.n / dt:8,.0f} records/s")
    head = log.head()
    log.close()

    conn = connect(d / "a.db", readonly=True)
    t = time.perf_counter()
    result = verify_connection(conn)
    dt = time.perf_counter() - t
    conn.close()
    print(f"verify {result.records:,} records: {dt:.2f} s ({result.records / dt:,.0f} records/s), ok={result.ok}")
    print(f"file size {os.path.getsize(d / 'a.db') / 1e6:.1f} MB for {head.seq:,} records")

    log = EventLog(d / "a.db", retention_ms=1, rotate_every=0)
    log.append("note", {}, 0)
    t = time.perf_counter()
    rot = log.rotate()
    dt = time.perf_counter() - t
    print(f"rotate (prune {rot.payload['pruned'] if rot else 0:,} records): {dt:.2f} s")
    log.close()


if __name__ == "__main__":
    main()
