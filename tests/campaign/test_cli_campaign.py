"""``pumpctl campaign``: argument errors exit 2 naming the argument and its range; a tiny run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from controller.cli import main


@pytest.mark.req("REQ-PRG-002")
@pytest.mark.parametrize(("argv", "needle"), [
    (["--hours", "0"], "argument --hours: 0 is out of range; allowed: 0.01 to 1e+07"),
    (["--hours", "ten"], "argument --hours: 'ten' is not a number; allowed: 0.01 to 1e+07"),
    (["--hours", "nan"], "argument --hours: nan is out of range"),
    (["--hours", "1", "--seed", "-1"], "argument --seed: -1 is out of range; allowed: 0 to 9.22337e+18"),
    (["--hours", "1", "--seed", "1.5"], "argument --seed: '1.5' is not a whole number"),
    (["--hours", "1", "--jobs", "0"], "argument --jobs: 0 is out of range; allowed: 1 to 1024"),
    (["--hours", "1", "--control-period-ms", "50"], "argument --control-period-ms: 50 is out of range; allowed: "
                                                    "100 to 2000"),
    (["--hours", "1", "--max-tick-ms", "20000"], "argument --max-tick-ms: 20000 is out of range; allowed: 100 to "
                                                 "10000"),
    (["--hours", "1", "--check-fraction", "1.5"], "argument --check-fraction: 1.5 is out of range; allowed: 0 to 1"),
    (["--hours", "1", "--log-fraction", "-0.1"], "argument --log-fraction: -0.1 is out of range; allowed: 0 to 1"),
    (["--hours", "1", "--max-infusion-h", "30"], "argument --max-infusion-h: 30 is out of range; allowed: 0.01 to 24"),
    ([], "the following arguments are required: --hours"),
])
def test_bad_arguments_exit_2_naming_the_argument_and_range(argv: list[str], needle: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["campaign", *argv])
    assert info.value.code == 2
    assert needle in capsys.readouterr().err


@pytest.mark.req("REQ-PRG-002")
@pytest.mark.parametrize(("argv", "needle"), [
    (["--control-period-ms", "2000", "--max-tick-ms", "1000"], "max_tick_ms = 1000 is not allowed; allowed: 2000 to "
                                                                "10000"),
    (["--min-infusion-h", "5", "--max-infusion-h", "1"], "max_hours = 1.0 is not allowed; allowed: 5 to 24"),
])
def test_inconsistent_arguments_exit_2_naming_the_field(argv: list[str], needle: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["campaign", "--hours", "1", *argv]) == 2
    assert needle in capsys.readouterr().err


@pytest.mark.req("REQ-LOG-002")
def test_tiny_campaign_prints_the_table_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, lines = tmp_path / "c.json", tmp_path / "c.jsonl"
    code = main(["campaign", "--hours", "0.5", "--seed", "3", "--jobs", "1", "--min-infusion-h", "0.05",
                 "--max-infusion-h", "0.1", "--log-fraction", "1", "--json", str(out), "--results", str(lines),
                 "--progress-s", "0"])
    text = capsys.readouterr().out
    data = json.loads(out.read_text())
    t = data["totals"]
    assert code == (0 if t["ok"] else 1)
    assert "simulated hours" in text and "by variant" in text and "clock_jump" in text
    assert t["simulated_h"] >= 0.5 and t["logs"] == t["infusions"] == t["logs_intact"]
    assert data["settings"]["control_period_ms"] == 100 and data["settings"]["max_tick_ms"] == 1000
    assert data["settings"]["mode"] == "skipping"
    assert data["run"]["executor"] == "in-process" and data["run"]["speed_x"] > 0
    rows = [json.loads(x) for x in lines.read_text().splitlines()]
    assert [r["index"] for r in rows] == list(range(t["infusions"]))


@pytest.mark.req("REQ-PRG-002")
def test_scheduler_without_dask_exits_2_with_the_fix(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    assert main(["campaign", "--hours", "1", "--scheduler", "tcp://127.0.0.1:8786"]) == 2
    err = capsys.readouterr().err
    assert "--scheduler" in err and "dask[distributed]" in err
