"""``pumpctl emulate`` and ``pumpctl run``: the hardware mode a new user tries first, for each pump family.

Wall-clock tests (the real loop), kept to a second or two each; every wait polls a
condition with a deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import serial  # type: ignore[import-untyped]

from controller.cli import main
from controller.drivers.harvard.firmware import VERSION as HARVARD_VERSION
from controller.runtime.shell import Shell
from tests.drivers.helpers import KITS, NE1000, Kit, wait_for

ROOT = Path(__file__).resolve().parents[2]
FAST_PROGRAM = 'rate_ml_h = 360\nvtbi_ml = 0.1\nreservoir_ml = 10\nend_action = "stop"\n'  # 1 s
LONG_PROGRAM = '[program]\nrate_ml_h = 36\nvtbi_ml = 50\nreservoir_ml = 60\n'


def pumpctl(*args: str) -> subprocess.Popen[str]:
    # the same entry point as the installed `pumpctl` script (controller.cli.main)
    entry = "from controller.cli import main; raise SystemExit(main())"
    return subprocess.Popen([sys.executable, "-c", entry, *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.fixture(params=KITS, ids=lambda k: k.name)
def kit(request: pytest.FixtureRequest) -> Kit:
    chosen: Kit = request.param
    return chosen


@contextmanager
def emulating(*args: str, baud: int) -> Iterator[serial.Serial]:
    """``pumpctl emulate ARGS`` in a subprocess, a serial link to the port it prints; on leaving,
    Ctrl-C must end it with status 0."""
    proc = pumpctl("emulate", *args)
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        assert port.startswith("/dev/")
        # read_until returns at the terminator; the long timeout only matters on a starved machine
        with serial.Serial(port, baud, timeout=10) as link:
            yield link
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()


def test_emulate_prints_its_port_answers_like_a_pump_and_stops_on_ctrl_c() -> None:
    with emulating("--address", "3", "--diameter", "14.5", baud=19_200) as link:
        link.write(b"3VER\r")
        assert link.read_until(b"\x03") == b"\x0203A?R\x03"  # power-up is reported as a reset
        link.write(b"3 ver\r")
        assert link.read_until(b"\x03") == b"\x0203SNE1000V3.928\x03"
        link.write(b"3DIA\r")
        assert link.read_until(b"\x03") == b"\x0203S14.50\x03"


def test_emulate_harvard_elite_answers_the_ultra_command_set() -> None:
    with emulating("--model", "harvard-elite", "--address", "3", "--diameter", "14.5", baud=115_200) as link:
        link.write(b"3:ver\r")  # poll mode is off at power-up: the reply ends with the prompt
        assert link.read_until(b"03:") == f"\n03{HARVARD_VERSION}\n03:".encode()
        link.write(b"3:poll on\r")
        assert link.read_until(b"\x11") == b"\n03:\x11"
        link.write(b"3:diameter\r")
        assert link.read_until(b"\x11") == b"\n0314.50 mm\n03:\x11"
        link.write(b"3:irate 0.1 ul/hr\r")  # below the slowest plunger speed on this syringe
        assert link.read_until(b"\x11") == b"\n03Out of range\n03:\x11"


@pytest.mark.parametrize(("args", "field"), [
    (["--period-ms", "5"], "--period-ms"),
    (["--safe-timeout", "1", "--period-ms", "500"], "--safe-timeout"),
    (["--safe-timeout", "1", "--driver", "harvard"], "--safe-timeout"),
    (["--leg-s", "2"], "--leg-s"),
    (["--leg-s", "0.5", "--driver", "harvard"], "--leg-s"),
    (["--driver", "baxter"], "--driver"),
    (["--duration", "0"], "--duration"),
    (["--address", "100"], "address"),
    (["--address", "100", "--driver", "harvard"], "address"),
    (["--baud", "300", "--driver", "harvard"], "baudrate"),
])
def test_run_refuses_bad_arguments(args: list[str], field: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    program = tmp_path / "p.toml"
    program.write_text(FAST_PROGRAM)
    assert main(["run", "--port", "/dev/null", "--program", str(program), *args]) == 2
    assert field in capsys.readouterr().err


def test_emulate_refuses_a_model_it_does_not_know(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulate", "--model", "alaris"]) == 2
    err = capsys.readouterr().err
    assert "--model" in err and "harvard-elite" in err


def test_run_refuses_a_bad_program_naming_the_field(kit: Kit, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    program = tmp_path / "p.toml"
    program.write_text("rate_ml_h = -1\nvtbi_ml = 1\n")
    with kit.emulator() as emu:
        assert main(["run", "--driver", kit.name, "--port", emu.port, "--program", str(program)]) == 2
        assert "rate_ml_h" in capsys.readouterr().err
        assert not emu.truth().moving
    program.write_text("rate_ml_h = [")
    assert main(["run", "--port", "/dev/null", "--program", str(program)]) == 2


@pytest.mark.req("REQ-DRV-001", "REQ-DEL-003")
def test_run_delivers_a_program_in_real_time_and_leaves_the_pump_stopped(
        kit: Kit, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    program = tmp_path / "p.toml"
    program.write_text(FAST_PROGRAM)
    with kit.emulator() as emu:
        rc = main(["run", "--driver", kit.name, "--port", emu.port, "--program", str(program), "--period-ms", "50",
                   "--print-every", "0.5"])
        out = capsys.readouterr().out
        assert rc == 0, out
        assert f"pump {kit.family.version} on {emu.port}" in out
        assert "state=RUNNING" in out and "end: state=STOPPED delivered=0.100 mL" in out
        truth = emu.truth()
        assert not truth.moving and 98 <= truth.infused_ul <= 100
        if kit is NE1000:
            assert wait_for(lambda: emu.pump.saf_s == 0)  # type: ignore[attr-defined]  # handed back in basic mode


def test_a_crash_in_the_loop_still_leaves_the_pump_stopped(kit: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    program = tmp_path / "p.toml"
    program.write_text(LONG_PROGRAM)
    calls = {"n": 0}
    real_step = Shell.step

    def exploding_step(self: Shell) -> list[object]:
        calls["n"] += 1
        if calls["n"] > 5:
            raise RuntimeError("boom")
        return real_step(self)  # type: ignore[return-value]

    monkeypatch.setattr(Shell, "step", exploding_step)
    with kit.emulator() as emu:
        rc = main(["run", "--driver", kit.name, "--port", emu.port, "--program", str(program), "--period-ms", "20"])
        assert rc == 70  # a bug, said as one (the exit-code convention)
        err = capsys.readouterr().err
        assert "internal error" in err and "RuntimeError: boom" in err and "Traceback" in err
        assert emu.truth().infused_ul > 0 and not emu.truth().moving


def test_ctrl_c_during_a_run_stops_the_pump(kit: Kit, tmp_path: Path) -> None:
    program = tmp_path / "p.toml"
    program.write_text(LONG_PROGRAM)
    with kit.emulator() as emu:
        proc = pumpctl("run", "--driver", kit.name, "--port", emu.port, "--program", str(program), "--period-ms", "50")
        try:
            assert wait_for(lambda: emu.truth().moving, timeout_s=15), proc.stderr.read() if proc.stderr else ""
            proc.send_signal(signal.SIGINT)
            t_signal = time.monotonic()
            assert proc.wait(timeout=10) == 130
            assert wait_for(lambda: not emu.truth().moving, timeout_s=2)
            stopped_after = time.monotonic() - t_signal
            time.sleep(0.05)
            assert not emu.truth().moving
            if kit is NE1000:
                assert emu.pump.alarm is None  # type: ignore[attr-defined]  # stopped by STP, not by a time-out
            else:
                assert stopped_after < 1.0  # stopped by stp, well before its 2 s leg would have ended
        finally:
            proc.kill()
            proc.wait()
