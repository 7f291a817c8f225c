"""``pumpctl run --log DB [--resume [--confirm-resume]]`` against each pump family's emulator.

The emulator keeps its own truth (what its plunger pushed since it started), which survives the
controller: a resume must never count less than that. Wall-clock tests, a few seconds each;
every wait polls a condition with a deadline.
"""

from __future__ import annotations

import os
import signal
from fractions import Fraction
from pathlib import Path

import pytest

from controller.cli import main
from controller.core.units import VU_PER_UL
from controller.log.eventlog import EventLog
from controller.runtime.logstore import latest
from tests.drivers.helpers import KITS, Kit, wait_for
from tests.drivers.test_hwcli import LONG_PROGRAM, pumpctl


def restores(db: Path) -> list[dict[str, object]]:
    log = EventLog(db)
    try:
        assert log.verify().ok
        return [r.payload for r in log.records("restore")]
    finally:
        log.close()


@pytest.fixture(params=KITS, ids=lambda k: k.name)
def kit(request: pytest.FixtureRequest) -> Kit:
    chosen: Kit = request.param
    return chosen


@pytest.mark.req("REQ-REC-001", "REQ-REC-003", "REQ-LOG-001")
def test_run_logs_then_resume_comes_back_paused_and_restarts_only_when_confirmed(
        kit: Kit, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    program, db = tmp_path / "p.toml", tmp_path / "log.db"
    program.write_text(LONG_PROGRAM)
    driver = ["--driver", kit.name]
    with kit.emulator() as emu:
        assert main(["run", *driver, "--port", emu.port, "--program", str(program), "--log", str(db),
                     "--period-ms", "50", "--duration", "1", "--print-every", "5"]) == 0
        first = emu.truth().infused_ul
        assert first > 0 and not emu.truth().moving
        snap = latest(EventLog(db))
        assert snap is not None and snap.state == "RUNNING" and snap.context == {"kind": "run", "port": emu.port}
        assert snap.sent_cap - snap.vars.flow.odo <= snap.vars.flow.rate * 30_000  # the 30 s horizon
        capsys.readouterr()
        assert main(["run", *driver, "--port", emu.port, "--log", str(db), "--resume"]) == 0
        out = capsys.readouterr().out
        assert "restored: state=PAUSED alarms=power_loss" in out and "the pump stays stopped" in out
        assert emu.truth().infused_ul == first and not emu.truth().moving
        (r,) = restores(db)
        assert Fraction(r["after"]["delivered_vu"], VU_PER_UL) >= first  # type: ignore[index]
        assert main(["run", *driver, "--port", emu.port, "--log", str(db), "--resume", "--confirm-resume",
                     "--period-ms", "50", "--duration", "1", "--print-every", "5"]) == 0
        out = capsys.readouterr().out
        assert "end: state=RUNNING" in out and emu.truth().infused_ul > first and not emu.truth().moving
    assert len(restores(db)) == 2


@pytest.mark.req("REQ-REC-001", "REQ-LOG-002")
def test_a_killed_run_resumes_counting_at_least_what_the_pump_pushed(kit: Kit, tmp_path: Path) -> None:
    program, db = tmp_path / "p.toml", tmp_path / "log.db"
    program.write_text(LONG_PROGRAM)
    silence = "--safe-timeout" if kit.name == "ne1000" else "--leg-s"
    with kit.emulator() as emu:
        proc = pumpctl("run", "--driver", kit.name, "--port", emu.port, "--program", str(program), "--log", str(db),
                       "--period-ms", "50", silence, "1")
        try:
            assert wait_for(lambda: emu.truth().infused_ul > 2, timeout_s=15), proc.stderr.read() if proc.stderr else ""
            os.kill(proc.pid, signal.SIGKILL)  # the controller dies; the pump's own stop (SAF 1, 1 s leg) acts
            proc.wait(timeout=10)
        finally:
            proc.kill()
            proc.wait()
        assert wait_for(lambda: not emu.truth().moving, timeout_s=5)
        pushed = emu.truth().infused_ul
        assert main(["run", "--driver", kit.name, "--port", emu.port, "--log", str(db), "--resume"]) == 0
    (r,) = restores(db)
    assert r["state_before"] == "RUNNING" and r["power_loss_alarm"] is True
    assert Fraction(r["after"]["delivered_vu"], VU_PER_UL) >= pushed  # type: ignore[index]


@pytest.mark.parametrize(("args", "field"), [
    (["--log", "x.db", "--resume", "--program", "p.toml"], "--resume"),
    (["--resume"], "--resume"),
    (["--confirm-resume", "--program", "p.toml"], "--confirm-resume"),
    (["--key", "k", "--program", "p.toml"], "--key"),
    ([], "--program"),
    (["--horizon-s", "0.1", "--program", "p.toml"], "--horizon-s"),
])
def test_run_refuses_option_mixes(args: list[str], field: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.toml").write_text(LONG_PROGRAM)
    assert main(["run", "--port", "/dev/null", *args]) == 2
    assert field in capsys.readouterr().err


def test_resume_needs_a_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    EventLog(tmp_path / "empty.db").close()
    assert main(["run", "--port", "/dev/null", "--log", str(tmp_path / "empty.db"), "--resume"]) == 2
    assert "a log that holds a snapshot" in capsys.readouterr().err
