"""``pumpctl simulate`` and ``pumpctl bench`` end to end: exit codes, JSON keys, PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.cli import main

SUITE = Path(__file__).resolve().parents[2] / "specs" / "scenarios"
PNG = b"\x89PNG\r\n\x1a\n"


def test_simulate_writes_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    assert main(["simulate", str(SUITE / "occlusion_downstream.toml"), "--json", str(out), "--plot", str(png)]) == 0
    assert "PASS" in capsys.readouterr().out
    data = json.loads(out.read_text())
    for key in ("name", "final_state", "delivered_ml", "alarms", "refusals", "boluses", "unintended_bolus_ml",
                "samples"):
        assert key in data
    assert set(data["alarms"][0]) >= {"at_s", "alarm", "priority", "cleared_at_s"}
    assert set(data["samples"][0]) >= {"t_s", "state", "rate_ml_h", "delivered_ml", "pressure_kpa"}
    assert data["invariants"]["violations"] == 0 and data["expect"]["passed"]
    assert 0 < data["unintended_bolus_ml"] <= 0.1
    assert png.read_bytes().startswith(PNG)


def test_simulate_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nduration_s = 10\n[plant]\ncompliance_ml_per_kpa = -1\n')
    assert main(["simulate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "plant.compliance_ml_per_kpa" in err and "allowed" in err
    failing = tmp_path / "fail.toml"
    failing.write_text('name = "x"\nduration_s = 5\n[expect]\nfinal_state = "RUNNING"\n')
    assert main(["simulate", str(failing), "--json", "-", "-q"]) == 1
    out = capsys.readouterr().out
    assert "final_state IDLE, expected RUNNING" in out
    assert main(["simulate", str(failing), str(failing), "--plot", str(tmp_path / "x.png")]) == 2


def test_bench_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png, js = tmp_path / "acc.png", tmp_path / "acc.json"
    assert main(["bench", "accuracy", "--rates", "25", "--control-period-ms", "1000", "--plot", str(png),
                 "--json", str(js)]) == 0
    assert "trumpet" not in capsys.readouterr().err
    assert png.read_bytes().startswith(PNG)
    data = json.loads(js.read_text())
    assert data["flow"][0]["trumpet"][0]["window_min"] == 2
    assert [b["volume_ml"] for b in data["bolus"]] == [0.1, 10.0]
    png2 = tmp_path / "occ.png"
    assert main(["bench", "occlusion", "--rates", "25", "--plot", str(png2), "--json", "-"]) == 0
    out = capsys.readouterr().out
    assert "trend vs static at 25 mL/h" in out
    assert png2.read_bytes().startswith(PNG)
    assert main(["bench", "occlusion", "--rates", "fast"]) == 2


def test_simulate_modes_and_a_failed_sensor_in_json(tmp_path: Path) -> None:
    """The JSON says how the run was simulated; a detection from a failed sensor has no reading (null)."""
    out = tmp_path / "r.json"
    path = str(SUITE / "sensor_pressure_invalid.toml")
    assert main(["simulate", path, "--json", str(out), "-q"]) == 0
    skipped = json.loads(out.read_text())
    assert skipped["simulation"]["mode"] == "skipping" and skipped["simulation"]["blocks"] > 0
    assert [o["sensed_kpa"] for o in skipped["occlusions"]][:1] == [None]
    assert main(["simulate", path, "--json", str(out), "-q", "--period-by-period"]) == 0
    stepped = json.loads(out.read_text())
    assert stepped["simulation"]["mode"] == "period_by_period" and stepped["simulation"]["blocks"] == 0
    assert stepped["invariants"]["core_steps"] > 5 * skipped["invariants"]["core_steps"]
    assert {k: v for k, v in stepped.items() if k not in ("simulation", "invariants")} == \
        {k: v for k, v in skipped.items() if k not in ("simulation", "invariants")}
