"""The pumpctl command line: diagram, table and argument errors."""

from __future__ import annotations

import pytest

from controller.cli import main
from controller.core.state import STATES


def test_diagram_mermaid_has_every_state(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagram"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("stateDiagram-v2")
    for s in STATES:
        assert s in out
    assert "RUNNING --> BOLUS: patient_bolus[" in out


def test_diagram_dot(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagram", "--format", "dot", "--internal"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("digraph pump {") and "FAILSAFE" in out and out.rstrip().endswith("}")
    assert "RUNNING -> RUNNING" in out


def test_bad_format_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["diagram", "--format", "svg"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_table_filters_by_state(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", "--state", "BOLUS"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and all("BOLUS" in line for line in lines)
    assert main(["table", "--state", "NOPE"]) == 2


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"pumpctl {version('pumpctl')}"


def test_prove_only_names_the_shortcut_obligations_among_the_allowed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prove", "--only", "NO-SUCH-1", "--no-crosshair"]) == 2
    out, err = capsys.readouterr()
    assert "EQV-ALM-001" in err and "REC-001" in err and out == ""


def test_a_missing_extra_is_named_in_one_line() -> None:
    """In a fresh interpreter where importing z3 fails (this one has imported the proofs already, and
    taking them out of sys.modules here would leave two copies of the package behind for later tests)."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['z3'] = None\n"
            "from controller.cli import main\n"
            "sys.exit(main(['prove', '--no-crosshair']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "needs the 'verify' extra" in proc.stderr and "pip install 'pumpctl[verify]'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr  # one line, no traceback
