"""``pumpctl run --driver harvard`` against a separate ``pumpctl emulate --model harvard-elite`` process.

Two processes, as a user runs them: the emulator serves the Pump 11 Elite firmware on a pty and
prints its path; ``run`` drives it through pyserial with the event log on, delivers the program
to its volume and stops; the log then verifies with ``pumpctl log verify``. Wall clock, on a
machine that may be loaded: every wait has a generous deadline, and the emulator is ended with
Ctrl-C (SIGINT), which must exit 0.
"""

from __future__ import annotations

import re
import select
import signal
import subprocess
from pathlib import Path

import pytest

from controller.drivers.harvard.firmware import VERSION as HARVARD_VERSION
from controller.log.eventlog import EventLog
from tests.drivers import test_hwcli as hwcli

PROGRAM = 'rate_ml_h = 360\nvtbi_ml = 0.1\nreservoir_ml = 10\nend_action = "stop"\n'  # 100 uL/s: 1 s


def first_line(proc: subprocess.Popen[str], timeout_s: float) -> str:
    """The first line of a child's stdout, or "" if none came within the deadline (or it ended)."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    return proc.stdout.readline().strip() if ready else ""


@pytest.mark.req("REQ-DRV-001", "REQ-DEL-003")
def test_run_harvard_against_a_separate_emulator_process_delivers_and_the_log_verifies(tmp_path: Path) -> None:
    program, log = tmp_path / "program.toml", tmp_path / "run.db"
    program.write_text(PROGRAM, encoding="utf-8")
    emulator = hwcli.pumpctl("emulate", "--model", "harvard-elite")
    try:
        port = first_line(emulator, 60)
        assert emulator.stderr is not None
        assert port.startswith("/dev/"), emulator.stderr.read() if emulator.poll() is not None else "no port in 60 s"
        run = hwcli.pumpctl("run", "--driver", "harvard", "--port", port, "--program", str(program),
                            "--log", str(log), "--period-ms", "50", "--print-every", "0")  # a line a period
        try:
            out, err = run.communicate(timeout=180)
        finally:
            run.kill()
        assert run.returncode == 0, f"{out}\n{err}"
        assert f"pump {HARVARD_VERSION} on {port}" in out
        assert "state=RUNNING" in out and "end: state=STOPPED delivered=0.100 mL" in out
        # the pump's own counter, read back by the driver (every other period): it grows and never passes the cap
        pump_ml = [float(v) for v in re.findall(r"pump=([0-9.]+) mL", out)]
        assert pump_ml and pump_ml == sorted(pump_ml) and 0 < pump_ml[-1] <= 0.100
        emulator.send_signal(signal.SIGINT)
        assert emulator.wait(timeout=60) == 0
    finally:
        emulator.kill()
        emulator.wait()
    verify = hwcli.pumpctl("log", "verify", str(log))
    out, err = verify.communicate(timeout=120)
    assert verify.returncode == 0, f"{out}\n{err}"
    events = EventLog(log)
    try:
        accepted = [r.payload for r in events.records("event_accepted")]
        kinds = [a["event"]["kind"] for a in accepted]
        assert {"self_test", "program", "start"} <= set(kinds)
        assert accepted[-1]["state"] == "STOPPED" and accepted[-1]["delivered_vu"] > 0
        assert events.records("snapshot")  # the recovery snapshots of a logged run
    finally:
        events.close()
