"""Progress a person can follow (``controller.cli.progress``): plain lines on stderr when it is not a
terminal, times since the start, parallel phases said as such, and every file written listed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from controller.cli import main
from controller.cli.progress import Progress, duration, terminal

CLOCK = r"\[\s*\d+\.\d s\] "


def lines(text: str) -> list[str]:
    return [re.sub(CLOCK, "", line) for line in text.splitlines()]


def test_plain_lines_say_the_task_items_done_of_total_and_the_time_left(capsys: pytest.CaptureFixture[str]) -> None:
    assert not terminal()  # pytest captures stderr: no live display
    with Progress() as p:
        p.step("tests", 0, 1, "pytest in the background")
        p.step("mutants", 0, 3, "each must be refuted")
        p.step("mutants", 1, 3, "M01 killed")
        p.step("mutants", 2, 3, "M02 killed")
        p.step("mutants", 3, 3, "M03 SURVIVED")
        p.step("tests", 1, 1, "12 passed")
        p.say("mutants: 2/3 killed")
        p.wrote("evidence/report.html", Path("evidence/evidence.json"), "evidence/report.html")
    out, err = capsys.readouterr()
    assert all(re.match(CLOCK, line) for line in err.splitlines())
    got = lines(err)
    assert got[0] == "tests: started: pytest in the background"
    assert got[1] == "mutants: started (3 items): each must be refuted"
    assert re.fullmatch(r"mutants: 1/3 \(33 %\) M01 killed; about \d+\.\d s left", got[2])
    assert got[4] == "mutants: 3/3 (100 %) M03 SURVIVED"
    assert re.fullmatch(r"mutants: done, took \d+\.\d s beside tests", got[5])
    assert re.fullmatch(r"tests: done, took \d+\.\d s beside mutants: 12 passed", got[6])
    assert got[7] == "mutants: 2/3 killed"
    assert out.splitlines() == ["wrote      evidence/report.html", "wrote      evidence/evidence.json"]


def test_a_sequence_is_not_said_to_run_beside_anything(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress() as p:
        for phase in ("base case", "inductive step"):
            p.step(phase, 0, 1, "")
            p.step(phase, 1, 1, "done")
    assert "beside" not in capsys.readouterr().err


def test_many_items_are_thinned_but_the_first_and_last_always_show(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress(every_s=3600) as p:
        p.step("campaign", 0, 100, "")
        for i in range(5, 101, 5):
            p.step("campaign", i, 100, f"{i} min")
        p.step("campaign", 100, 100, "late: past the target")  # after the end: adds nothing
    got = lines(capsys.readouterr().err)
    assert [line.split(" (")[0] for line in got[1:3]] == ["campaign: 5/100", "campaign: 100/100"]
    assert got[3].startswith("campaign: done, took") and len(got) == 4


def test_hidden_progress_still_lists_the_files(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress(show=False) as p:
        p.step("x", 0, 2, "")
        p.step("x", 2, 2, "")
        p.wrote("a.json")
    out, err = capsys.readouterr()
    assert err == "" and out == "wrote      a.json\n"


def test_the_live_display_leaves_a_line_per_task(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("rich")
    with Progress(live=True) as p:
        p.step("bench occlusion", 0, 2, "")
        p.step("bench occlusion", 1, 2, "1 mL/h")
        p.step("bench occlusion", 2, 2, "25 mL/h")
        p.wrote("occ.json")
    out, err = capsys.readouterr()
    assert "bench occlusion: done, took" in err and out == "wrote      occ.json\n"


def test_durations_read_as_people_say_them() -> None:
    assert [duration(s) for s in (3.25, 42, 390, 7200)] == ["3.2 s", "42 s", "6.5 min", "2.0 h"]


def test_bench_reports_each_run_and_lists_its_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    js = tmp_path / "sf.json"
    assert main(["bench", "stopped-flow", "--rates", "1,100", "--control-period-ms", "1000", "--json", str(js)]) == 0
    out, err = capsys.readouterr()
    got = lines(err)
    assert got[0] == "bench stopped-flow: started (2 items)"
    assert got[1].startswith("bench stopped-flow: 1/2 (50 %) runaway 1 mL/h; about")
    assert got[2] == "bench stopped-flow: 2/2 (100 %) runaway 100 mL/h"
    assert got[3].startswith("bench stopped-flow: done, took")
    assert "flow while the motor is commanded stopped" in out and out.splitlines()[-1] == f"wrote      {js}"
    assert js.is_file()


def test_campaign_reports_simulated_minutes_and_lists_its_files(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    out_json, out_lines = tmp_path / "c.json", tmp_path / "c.jsonl"
    code = main(["campaign", "--hours", "0.2", "--seed", "3", "--jobs", "1", "--min-infusion-h", "0.05",
                 "--max-infusion-h", "0.1", "--progress-s", "0.001", "--json", str(out_json), "--results",
                 str(out_lines), "--quiet"])
    out, err = capsys.readouterr()
    assert code in (0, 1)
    got = lines(err)
    assert got[0] == "campaign, simulated minutes: started (12 items): 0.2 simulated h, in this process"
    assert any(re.match(r"campaign, simulated minutes: \d+/12 \(\d+ %\) \d+ infusions", g) for g in got)
    assert got[-1].startswith("campaign, simulated minutes: done, took")
    assert out.splitlines()[-2:] == [f"wrote      {out_json}", f"wrote      {out_lines}"]


def test_mutate_reports_each_mutant_and_lists_its_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    js = tmp_path / "m.json"
    assert main(["mutate", "--only", "M14-no-hourly-count", "--jobs", "1", "--json", str(js)]) == 0
    out, err = capsys.readouterr()
    got = lines(err)
    assert got[0] == "mutants: started: in this process, one after the other, each mutant's patches undone after it"
    assert re.fullmatch(r"mutants: done, took .* M14-no-hourly-count killed \(its own time .*\)", got[1])
    assert "kill rate 1/1 = 100 %" in out and out.splitlines()[-1] == f"wrote      {js}"
