"""The exit-code convention of ``pumpctl`` (README, "Exit codes, errors and progress"): every error
on stderr naming the option or field, the value and what is allowed; nothing on stdout; 2 for
bad input, 70 for a bug, 130 for Ctrl-C."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from controller.cli import main
from controller.cli.registry import COMMANDS

ROOT = Path(__file__).resolve().parents[1]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("argv", "needles"), [
    (["bench", "occlusion", "--rates", "nan"], ["--rates = 'nan'", "from 0.1 to 999 mL/h"]),
    (["bench", "occlusion", "--rates", "0"], ["--rates = '0'", "0 is out of range"]),
    (["bench", "accuracy", "--rates", "25,inf"], ["--rates = '25,inf'", "inf is out of range"]),
    (["bench", "accuracy", "--rates", "-5"], ["--rates = '-5'", "from 0.1 to 999 mL/h"]),
    (["bench", "stopped-flow", "--rates", "1300"], ["--rates = '1300'", "from 0.1 to 1200 mL/h"]),
    (["bench", "mains-failure", "--rates", "fast"], ["--rates = 'fast'", "'fast' is not a number"]),
    (["bench", "accuracy", "--control-period-ms", "0"], ["--control-period-ms = 0", "1 to 2000"]),
    (["bench", "stopped-flow", "--plot", "x.png"], ["--plot = 'x.png'", "only with accuracy and occlusion"]),
    (["bench", "accuracy", "--json", "/no/such/folder/x.json"], ["--json = '/no/such/folder/x.json'",
                                                                 "/no/such/folder does not exist"]),
    (["prove", "--depth", "-1"], ["--depth = -1", "0 or more"]),
    (["prove", "--only", "NOPE", "--no-crosshair"], ["--only = 'NOPE'", "REC-001", "EQV-ALM-001", "EDGE-RND-001"]),
    (["mutate", "--jobs", "0"], ["--jobs = 0", "1 or more"]),
    (["mutate", "--list"], ["--list = True", "only with --generated"]),
    (["mutate", "--only", "NOPE"], ["--only = 'NOPE'", "M01-window-at-bolus-only"]),
    (["verify", "--walk-steps", "0"], ["--walk-steps = 0", "1 or more"]),
    (["verify", "--junit", "/no/such.xml"], ["--junit = '/no/such.xml'", "a readable file"]),
    (["table", "--state", "NOPE"], ["--state 'NOPE' is not a state"]),
])
def test_bad_input_exits_2_with_the_message_on_stderr_only(argv: list[str], needles: list[str],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2
    assert out == ""
    for needle in needles:
        assert needle in err
    assert err.startswith(f"pumpctl {argv[0]}: ") and "Traceback" not in err
    assert "event[" not in err and "vtbi_ml" not in err  # the user's option, never an internal field


def test_check_signature_of_a_folder_without_a_manifest_is_bad_input(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["verify", "--check-signature", str(tmp_path)], capsys)
    assert (code, out) == (2, "")
    assert "--check-signature" in err and "manifest.sha256" in err


def test_a_non_utf8_scenario_names_the_file_and_the_byte(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'name = "x"\n\xff\xfe = 1\n')
    code, out, err = run(["simulate", str(bad)], capsys)
    assert (code, out) == (2, "")
    assert str(bad) in err and "byte 11 (0xff) is not UTF-8" in err and "Traceback" not in err


CORE = 'name = "cex"\nmode = "core"\n{top}\n[[event]]\nat_ms = {at}\ntype = "self_test"\nflag = true\n{tail}'


@pytest.mark.parametrize(("top", "at", "tail", "needle"), [
    ("expect = 3", "0", "", "expect = 3 is not allowed; allowed: a table"),
    ("", "0", "[expect]\nnope = 1\n", "expect.nope = 1 is not allowed; allowed: one of broken, final_state"),
    ("", "0", "[expect]\nbroken = [1]\n", "expect.broken = [1] is not allowed; allowed: a list of ids"),
    ("", "0", '[expect]\nbroken = "STEP"\n', "expect.broken = 'STEP' is not allowed; allowed: a list of ids"),
    ("", "0", '[expect]\nfinal_state = "NOWHERE"\n', "expect.final_state = 'NOWHERE' is not allowed"),
    ("", '"soon"', "", "event[0].at_ms = 'soon' is not allowed; allowed: a whole number, 0 or more"),
    ("", "-1", "", "event[0].at_ms = -1 is not allowed"),
    ("duration_s = -1", "0", "", "duration_s = -1 is not allowed"),
    ('requirements = "REQ-DEL-001"', "0", "", "requirements = 'REQ-DEL-001' is not allowed"),
    ("colour = 1", "0", "", "colour = 1 is not allowed; allowed: one of name, mode"),
])
def test_a_malformed_core_scenario_is_a_typed_error(top: str, at: str, tail: str, needle: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cex.toml"
    path.write_text(CORE.format(top=top, at=at, tail=tail))
    code, out, err = run(["simulate", str(path)], capsys)
    assert (code, out) == (2, "")
    assert f"{path}: {needle}" in err and "Traceback" not in err


def test_a_well_formed_core_scenario_still_replays(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cex.toml"
    path.write_text(CORE.format(top="", at="0", tail='[expect]\nbroken = ["INV-DEL-001"]\nfinal_state = "IDLE"\n'))
    code, out, _ = run(["simulate", str(path)], capsys)
    assert code == 0 and "final state IDLE" in out


def _patched(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def handler(args: argparse.Namespace) -> int:
        raise exc

    add, _, help_text = COMMANDS["table"]
    monkeypatch.setitem(COMMANDS, "table", (add, handler, help_text))


def test_a_bug_is_an_internal_error_with_its_traceback_and_exit_70(monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _patched(monkeypatch, ZeroDivisionError("division by zero"))
    code, out, err = run(["table"], capsys)
    assert (code, out) == (70, "")
    first = err.splitlines()[0]
    assert first == ("pumpctl table: internal error (a bug in pumpctl, not in your input): ZeroDivisionError: "
                     "division by zero")
    assert "Traceback (most recent call last)" in err


def test_a_module_that_is_no_extra_is_a_bug_too(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    _patched(monkeypatch, ModuleNotFoundError("No module named 'nowhere'", name="nowhere"))
    assert run(["table"], capsys)[0] == 70


@pytest.mark.parametrize(("exc", "code", "needle"), [
    (KeyboardInterrupt(), 130, "pumpctl table: interrupted"),
    (FileNotFoundError(2, "No such file or directory", "/no/such/out.json"), 2,
     "pumpctl table: /no/such/out.json: No such file or directory"),
    (ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib"), 2,
     "needs the 'report' extra (matplotlib is not installed): pip install 'pumpctl[report]'"),
])
def test_interrupts_paths_and_extras(exc: BaseException, code: int, needle: str, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    _patched(monkeypatch, exc)
    got, out, err = run(["table"], capsys)
    assert (got, out) == (code, "")
    assert needle in err and "Traceback" not in err


def test_the_installed_command_keeps_the_convention() -> None:
    """End to end in a fresh process: the message on stderr, nothing on stdout, status 2."""
    r = subprocess.run([sys.executable, "-m", "controller.cli", "bench", "occlusion", "--rates", "nan"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.strip() == ("pumpctl bench: --rates = 'nan' is not allowed; allowed: comma-separated numbers "
                                "from 0.1 to 999 mL/h. nan is out of range")


def test_help_lists_every_bench_procedure_and_library_verb(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["bench", "--help"], ["library", "--help"], ["log", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        out = capsys.readouterr().out
        if argv[0] in ("--help", "bench"):
            assert all(p in out for p in ("accuracy", "occlusion", "stopped-flow", "mains-failure"))
        if argv[0] in ("--help", "library"):
            assert all(v in out for v in ("check", "sign", "seal", "keygen"))
        if argv[0] == "log":
            assert "show" in out and "verify" in out
        assert "flow accuracy or occlusion" not in out


def test_a_program_outside_the_soft_limits_unconfirmed_is_a_refusal_exit_1(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Refused by the pump's checks, like a library refusal: 1, not a usage error; the pump never moves."""
    from datetime import UTC, datetime, timedelta

    from controller.drivers.ne1000.emulator import EmulatorServer
    from tests.recovery.test_library_cli import dated_library
    from tests.store.helpers import HMAC_KEY_FILE

    now = datetime.now(UTC)
    lib = dated_library(tmp_path / "lib.toml", now - timedelta(days=2), now + timedelta(days=300))
    program = tmp_path / "p.toml"
    program.write_text('drug = "morphine"\ndose = 3\ndose_unit = "mg/h"\nvtbi_ml = 20\nreservoir_ml = 30\n')
    with EmulatorServer() as emu:
        code = main(["run", "--port", emu.port, "--program", str(program), "--library", str(lib), "--key",
                     str(HMAC_KEY_FILE), "--period-ms", "50", "--duration", "0.5"])
        truth = emu.truth()
    err = capsys.readouterr().err
    assert code == 1 and "soft limit" in err and "--confirm-soft-limits" in err
    assert truth.infused_ul == 0 and not truth.moving
