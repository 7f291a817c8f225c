"""SIGKILL a process that writes records in a tight loop; nothing it reported committed is lost.

The child appends batches (1 to 4 records, one transaction each) and prints the last seq of
each batch *after* the commit returned. The parent kills it at a random moment (seeded), then
checks that the log verifies, that every seq the child printed is in the log, and that no
batch is half-written. 50 kills, about 15 s.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controller.log.db import connect
from controller.log.verify import verify_connection

ROOT = Path(__file__).resolve().parents[2]
KILLS = 50
CHILD = """
import os, sys
from controller.log.eventlog import EventLog

pid = os.urandom(8).hex()  # unique per child (a pid can be reused)
log = EventLog(sys.argv[1], rotate_every=0)
batch = 0
while True:
    batch += 1
    n = 1 + batch % 4
    recs = log.append_many([("note", {"pid": pid, "batch": batch, "n": n, "j": j}) for j in range(n)], batch)
    print(recs[-1].seq, flush=True)
"""


pytestmark = pytest.mark.method("stateful")  # a fault-injection campaign over event sequences


def _run_once(db: Path, delay_s: float) -> list[int]:
    """Start a writer, let it write for ``delay_s`` after its first commit, SIGKILL it."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None
    out = b""
    deadline = time.monotonic() + 20
    while b"\n" not in out and time.monotonic() < deadline:  # wait for the first commit
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            out += os.read(proc.stdout.fileno(), 4096)
        if proc.poll() is not None:
            break
    time.sleep(delay_s)
    os.kill(proc.pid, signal.SIGKILL)
    rest, err = proc.communicate(timeout=20)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    lines = (out + rest).split(b"\n")
    return [int(x) for x in lines[:-1] if x.strip()]  # the last piece may be a partial line: never claimed


@pytest.mark.req("REQ-LOG-001", "REQ-LOG-002", "REQ-LOG-003")
def test_sigkill_never_loses_a_committed_record(tmp_path: Path) -> None:
    rng = random.Random(20261122)
    db = tmp_path / "kill.db"
    claimed: set[int] = set()
    for round_ in range(KILLS):
        claimed |= set(_run_once(db, rng.uniform(0.0, 0.12)))
        conn = connect(db, readonly=True)
        try:
            result = verify_connection(conn)
            assert result.ok, f"kill {round_}: {result}"
            seqs = {r[0] for r in conn.execute("SELECT seq FROM record")}
            assert claimed <= seqs, f"kill {round_}: lost {sorted(claimed - seqs)[:5]}"
            batches: dict[tuple[str, int, int], list[int]] = {}
            for (payload,) in conn.execute("SELECT payload FROM record WHERE kind = 'note'"):
                p = json.loads(payload)
                batches.setdefault((p["pid"], p["batch"], p["n"]), []).append(p["j"])
            assert all(sorted(js) == list(range(n)) for (_, _, n), js in batches.items()), "a half-written batch"
        finally:
            conn.close()
    assert len(claimed) >= KILLS  # every child committed at least once before it was killed
    print(f"\n{KILLS} SIGKILLs, {len(claimed)} committed batches claimed, all present; chain verifies")
