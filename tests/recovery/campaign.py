"""The SIGKILL campaign's parent side: run lives of ``tests.recovery.child``, kill them, check.

Theory of operation
-------------------
A *chain* is one scenario and one event log: a fresh life, then lives started with
``--resume``, each killed with SIGKILL at a seeded random moment - either counted from the
spawn (so it may land during start-up, inside the restore, or in the first commits) or from
the moment the child reported it had booted - until a life runs the scenario to its end.
After every life the parent checks, from the log file itself and from what the child printed:

1. the chain verifies (``verify_connection``), and every seq the child reported committed is
   in it (REQ-LOG-001, REQ-LOG-002);
2. a restore restored exactly what ``controller.core.recovery`` says, computed here independently:
   odometer = snapshot odometer + (min(sent cap, cap) - odometer), that extra added to the
   channel of the snapshot's state and, for therapy and KVO, to every dose window; clock,
   bolus times and program kept (REQ-REC-001, REQ-REC-002);
3. the pump came back PAUSED with power_loss when something moved under the program, READY
   when nothing did, IDLE without a program - never flowing (REQ-REC-003);
4. a patient bolus pressed right after the restart, inside the restored lockout or over the
   restored hourly count, was refused (REQ-REC-002);
5. the plant's true volume, summed over all lives of the chain, never exceeds the VTBI (and,
   for the dose-window scenario, the window limit) by more than the mechanism's tolerance,
   and the restored totals never count less than the truth beyond it: nothing is delivered
   twice (REQ-REC-001); and the runner's own checks (every invariant after every step, the
   physical truth after every period) found nothing.

Tolerance: in one life the plant pushes at most its commanded steps times the true volume per
step plus the lead screw's once-per-revolution error (``screw_k``); the new plant of each
life restarts the screw's phase, so the allowance is ``screw_k`` + two steps per life.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from controller.core.flow import COUNTED, Mode, mode_of
from controller.core.units import MS_PER_H, VU_PER_UL
from controller.log.db import Record, connect
from controller.log.eventlog import read_records
from controller.log.verify import verify_connection
from controller.plant.mechanism import Mechanism
from controller.runtime.logstore import Snapshot, parse_snapshot, reached
from controller.scenario.model import Scenario, load

ROOT = Path(__file__).resolve().parents[2]
EARLY = 0.2  # share of kills timed from the spawn (start-up, restore, first commits)
EARLY_S = (0.02, 0.5)
LATE_S = (0.0, 0.35)  # after the child reported it had booted
BOOT_TIMEOUT_S = 60.0


@dataclass
class Life:
    lines: list[str]
    killed: bool
    returncode: int
    stderr: str
    early: bool = False  # the kill was timed from the spawn, not from the boot

    def last(self, tag: str) -> list[str] | None:
        for line in reversed(self.lines):
            if line.startswith(tag + " "):
                return line.split()
        return None

    @property
    def seqs(self) -> list[int]:
        return [int(x.split()[1]) for x in self.lines if x.startswith("S ")]

    @property
    def done(self) -> bool:
        return "D" in self.lines


@dataclass
class Stats:
    kills: int = 0
    early_kills: int = 0  # timed from the spawn
    kills_before_boot: int = 0  # landed in start-up, the restore or the self-test
    lives: int = 0
    restarts: int = 0
    restores_checked: int = 0
    logs_verified: int = 0
    chains: int = 0
    chains_completed: int = 0
    committed_claimed: int = 0
    bolus_checks: int = 0
    bolus_refused_lockout: int = 0
    states: dict[str, int] = field(default_factory=dict)
    max_overcount_ul: float = float("-inf")  # restored therapy total minus the plant's truth, over a chain
    min_overcount_ul: float = float("inf")
    max_overcount_step_ul: float = float("-inf")  # what one restore added to that difference
    max_therapy_margin_ul: float = float("-inf")  # truth minus VTBI (negative: under the VTBI)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()},
                          indent=1)


def run_life(scenario: Path, db: Path, resume: bool, rng: random.Random | None) -> Life:
    """Start a child; SIGKILL it at a moment drawn from ``rng`` unless it finishes first (no
    ``rng``: let it run to the end)."""
    args = [sys.executable, "-m", "tests.recovery.child", str(scenario), str(db), *(["--resume"] if resume else [])]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    early = rng is not None and rng.random() < EARLY
    delay = float("inf") if rng is None else rng.uniform(*(EARLY_S if early else LATE_S))
    deadline = time.monotonic() + (delay if early else BOOT_TIMEOUT_S)
    buf, booted, ended = b"", early, False
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, min(0.05, deadline - time.monotonic())))
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                ended = True  # the child closed stdout: it is exiting by itself
                break
            buf += chunk
            if not booted and b"\nA " in b"\n" + buf:
                booted = True
                deadline = time.monotonic() + delay
    if ended:
        proc.wait(timeout=30)
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    rest, err = proc.communicate(timeout=30)
    text = (buf + rest).decode()
    lines = text.split("\n")[:-1]  # a partial last line was never claimed
    assert not killed or rng is not None, f"the child did not finish: {err.decode()[-2000:]}"
    return Life(lines, killed and proc.returncode == -signal.SIGKILL, proc.returncode, err.decode(), early)


def mech_tolerance_ul(sc: Scenario) -> float:
    m = Mechanism(sc.plant, random.Random(0))
    return m.screw_k + 2 * m.true_ul


def expected_after(s: Snapshot) -> dict[str, object]:
    """What a restore of ``s`` must give, written out from the rule (not by calling recovery)."""
    f = s.vars.flow
    bound = reached(s.vars, s.sent_cap)
    extra = bound - f.odo
    mode = mode_of(s.state)
    return {"odo_vu": bound, "cap_vu": bound, "clock_ms": f.clock,
            "delivered_vu": f.delivered + (extra if mode == Mode.THERAPY else 0),
            "kvo_vu": f.kvo_vol + (extra if mode == Mode.KVO else 0),
            "primed_vu": f.primed + (extra if mode == Mode.PRIME else 0),
            "window_vu": [w + (extra if mode in COUNTED else 0) for w in f.wcur]}


def expected_state(s: Snapshot) -> str:
    v = s.vars
    if not v.prog.loaded:
        return "IDLE"
    return "PAUSED" if reached(v, s.sent_cap) > v.marks.odo0 else "READY"


@dataclass
class Chain:
    scenario: Path
    db: Path
    sc: Scenario
    therapy_ul: float = 0.0
    total_ul: float = 0.0
    lives: int = 0
    overcount_ul: float = 0.0

    @property
    def tol_ul(self) -> float:
        return max(1, self.lives) * mech_tolerance_ul(self.sc)


def _log(db: Path) -> tuple[sqlite3.Connection | None, int, Snapshot | None]:
    if not db.exists():
        return None, 0, None
    conn = connect(db, readonly=True)
    head = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM record").fetchone()[0]
    snaps = read_records(conn, "snapshot", 1)
    return conn, int(head), parse_snapshot(snaps[0]) if snaps else None


def check_life(chain: Chain, life: Life, head0: int, snap0: Snapshot | None, st: Stats) -> None:
    """Checks 1-5 of the module docstring for one life that started from ``snap0``."""
    conn, _, _ = _log(chain.db)
    if conn is None:
        assert not life.seqs, "the child claimed commits but there is no log file"
        return
    try:
        result = verify_connection(conn)
        assert result.ok, f"log not intact: {result}"
        st.logs_verified += 1
        present = {r[0] for r in conn.execute("SELECT seq FROM record")}
        lost = sorted(set(life.seqs) - present)
        assert not lost, f"committed records lost: {lost[:5]}"
        st.committed_claimed += len(life.seqs)
        new = [r for r in read_records(conn) if r.seq > head0]
    finally:
        conn.close()
    _check_restore(chain, life, new, snap0, st)
    assert life.last("V") is None, f"the runner saw violations (invariant, physical): {life.last('V')}"
    t = life.last("T")
    if t is not None:
        chain.therapy_ul += float(t[1])
        chain.total_ul += float(t[2])
    _check_truth(chain, st)


def _check_restore(chain: Chain, life: Life, new: list[Record], snap0: Snapshot | None, st: Stats) -> None:
    restores = [r for r in new if r.kind == "restore"]
    booted = life.last("A")
    if snap0 is None or not restores:
        assert snap0 is None or booted is None, "the child booted from a snapshot without a restore record"
        return
    r = restores[0].payload
    assert r["from"] == snap0.seq, f"restored snapshot {r['from']}, the newest was {snap0.seq}"
    want = expected_after(snap0)
    assert r["after"] == want, f"restored totals {r['after']} != {want} (snapshot {snap0.seq}, {snap0.state})"
    assert r["pushed_to_vu"] == want["odo_vu"]
    post = next(parse_snapshot(x) for x in new if x.seq == r["post_snapshot_seq"])
    v = post.vars
    assert (v.bolus.times, v.prog, v.win) == (snap0.vars.bolus.times, snap0.vars.prog, snap0.vars.win), \
        "bolus times, program or dose-window buckets not restored"
    st.restores_checked += 1
    over = want["delivered_vu"] / VU_PER_UL - chain.therapy_ul  # type: ignore[operator]
    st.max_overcount_ul = max(st.max_overcount_ul, over)
    st.max_overcount_step_ul = max(st.max_overcount_step_ul, over - chain.overcount_ul)
    chain.overcount_ul = over
    st.min_overcount_ul = min(st.min_overcount_ul, over)
    assert over >= -chain.tol_ul, f"restored {over:.3f} uL less than the plant truly pushed (tolerance {chain.tol_ul})"
    state = expected_state(snap0)
    selftest = next((x.payload for x in new if x.kind == "event_accepted" and x.seq > restores[0].seq
                     and x.payload["event"]["kind"] == "self_test"), None)
    if selftest is not None:
        assert selftest["state"] == state, f"came back {selftest['state']}, expected {state}"
    if booted is not None:
        assert booted[1] == state, f"came back {booted[1]}, expected {state}"
        assert (state == "PAUSED") <= ("power_loss" in booted[2].split(",")), "PAUSED without the power_loss alarm"
        st.states[state] = st.states.get(state, 0) + 1
    b = life.last("B")
    if b is not None:
        times, clock, prog = v.bolus.times, v.flow.clock, v.prog
        locked = clock - times[0] < prog.lockout_ms
        over_count = sum(clock - t < MS_PER_H for t in times) >= prog.pca_max_h
        st.bolus_checks += 1
        if locked or over_count:
            assert b[1] == "0", f"a patient bolus right after the restart was granted inside the lockout ({b})"
            st.bolus_refused_lockout += locked


def _check_truth(chain: Chain, st: Stats) -> None:
    vtbi_ul = 0.0
    sc = chain.sc
    for e in sc.events:
        if e.type == "program" and e.program is not None:
            vtbi_ul = e.program.program.vtbi / VU_PER_UL
    margin = chain.therapy_ul - vtbi_ul
    st.max_therapy_margin_ul = max(st.max_therapy_margin_ul, margin)
    assert margin <= chain.tol_ul, f"the plant pushed {chain.therapy_ul:.3f} uL in therapy, VTBI {vtbi_ul:.3f} uL"
    for e in sc.events:
        if e.type == "program" and e.program is not None and e.program.program.lim_vol[0] > 0:
            limit_ul = e.program.program.lim_vol[0] / VU_PER_UL
            assert chain.total_ul <= limit_ul + chain.tol_ul, \
                f"the plant pushed {chain.total_ul:.3f} uL in a dose window of {limit_ul:.3f} uL"


def run_chain(scenario: Path, db: Path, rng: random.Random, max_kills: int, st: Stats, max_lives: int = 400) -> int:
    """One chain (see the module docstring): lives killed until ``max_kills``, then a last life
    that resumes and runs the scenario to its end; returns the number of kills it used."""
    chain = Chain(scenario, db, load(scenario))
    st.chains += 1
    kills = 0
    while chain.lives < max_lives:
        conn, head0, snap0 = _log(db)
        if conn is not None:
            conn.close()
        resume = chain.lives > 0
        life = run_life(scenario, db, resume, rng if kills < max_kills else None)
        chain.lives += 1
        st.lives += 1
        st.restarts += resume
        try:
            check_life(chain, life, head0, snap0, st)
        except AssertionError as exc:
            st.failures.append(f"{scenario.name} life {chain.lives} ({db}): {exc}\n{life.stderr[-2000:]}")
            raise
        if life.killed:
            kills += 1
            st.kills += 1
            st.early_kills += life.early
            st.kills_before_boot += life.last("A") is None
        else:
            assert life.returncode == 0, f"child failed ({life.returncode}): {life.stderr[-3000:]}"
        if life.done:
            st.chains_completed += 1
            return kills
    return kills
