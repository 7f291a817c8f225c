"""The pumpctl command line: diagram, table and argument errors."""

from __future__ import annotations

import pytest

from controller.cli import main
from controller.state import STATES


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
