"""One life of a simulated infusion for the SIGKILL campaign (``test_power_loss.py``).

Usage: ``python -m tests.recovery.child SCENARIO DB [--resume]``. The same ``Runner`` as
``pumpctl simulate SCENARIO --log DB [--resume]``, plus what the campaign needs to check the
truth after the parent kills this process:

- the plant's true volume, printed the moment it moves: the plant dies with this process, so
  the parent carries the true volume across restarts;
- after a restart, the state the pump came back in (before anyone touches it), then the
  clinician's restart (acknowledge, resume) and, for a PCA program, a patient bolus pressed at
  once, whose answer the parent checks against the restored lockout.

Protocol: one line per ``os.write`` (atomic on a pipe), so a line is either all there or not:

    S <seq>                          a transaction committed; <seq> is its highest record
    T <therapy_ul> <total_ul> <t_ms> the plant moved; cumulative true volumes of this life
    A <state> <alarm,alarm|->        booted (restored and self-tested), before any action
    B <accepted 0|1> <reason|->      the patient bolus pressed right after the restart
    V <invariant> <physical>         the runner's violation counts, whenever they change
    D                                the scenario ran to its end

Ordering argument (why the truth printed is the truth at the kill): the plant moves only in
``SimPump._physics``; the wrapper below prints right after each move, before control returns
to the shell, and every commit comes from the shell afterwards. A kill before the print loses
a move that nothing durable depended on: it is as if the power failed just before it.
"""

from __future__ import annotations

import os
import sys

from controller.core import alarms as A
from controller.core.events import ev
from controller.core.state import THERAPY
from controller.log.eventlog import EventLog
from controller.runtime.logstore import LogStore, latest
from controller.scenario.model import load
from controller.scenario.run import Runner

CHUNK_MS = 5_000


def emit(line: str) -> None:
    os.write(1, (line + "\n").encode())


def main(argv: list[str]) -> int:
    path, db, resume = argv[0], argv[1], "--resume" in argv[2:]
    sc = load(path)
    log = EventLog(db)  # as pumpctl simulate --log opens it
    store = LogStore(log, clock=lambda: 0, on_commit=lambda recs: emit(f"S {recs[-1].seq}"))
    runner = Runner(sc, store=store, resume=latest(log) if resume else None)
    plant, truth = runner.plant, [0.0, 0.0]
    physics = plant._physics

    def watched(now_ms: int) -> None:
        before = plant.pushed_ul
        physics(now_ms)
        moved = plant.pushed_ul - before
        if moved:
            if runner.on and runner.ctl.state in THERAPY:
                truth[0] += moved
            truth[1] += moved
            emit(f"T {truth[0]!r} {truth[1]!r} {now_ms}")

    plant._physics = watched  # type: ignore[method-assign]
    v = runner.ctl.vars
    alarms = ",".join(A.IDS[i] for i, on in enumerate(v.alarm.active) if on) or "-"
    emit(f"A {runner.ctl.state} {alarms}")
    if runner.res.restore is not None and runner.ctl.state == "PAUSED":  # the clinician checked the infusion
        runner._call(lambda: runner.shell.submit(ev("acknowledge")))
        runner._call(lambda: runner.shell.submit(ev("resume")))
        if runner.ctl.vars.prog.pca_vol > 0 and runner.ctl.state == "RUNNING":
            step = runner._call(lambda: runner.shell.submit(ev("patient_bolus")))
            if step is not None:
                emit(f"B {int(step.accepted)} {(step.reason or '-').split(':')[0]}")
    seen = (0, 0)
    while runner.t < sc.duration_ms:  # in slices, to report violations while the life lasts
        runner.advance(runner.t + CHUNK_MS)
        counts = (runner.res.n_invariant_violations, runner.res.n_physical_violations)
        if counts != seen:
            seen = counts
            emit(f"V {counts[0]} {counts[1]}")
    runner.finish()
    log.close()
    emit("D")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
