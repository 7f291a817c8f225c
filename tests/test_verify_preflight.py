"""``pumpctl verify`` says up front what it cannot do, in one line, exit 2, before minutes of work:
outside a source checkout, and with a package of its extras missing."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.cli import main
from controller.cli import verify as verify_cli
from pumpctl.proofs.evidence import activities


def without(*modules: str) -> Callable[[str], Any]:
    def find_spec(name: str) -> Any:
        return None if name in modules else importlib.util.find_spec(name)

    return find_spec


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """If a check let the run through, fail at once instead of running minutes of proofs."""

    def refuse(*args: object, **kwargs: object) -> dict[str, Any]:
        raise AssertionError("verify started working although a check should have stopped it")

    monkeypatch.setattr("pumpctl.proofs.evidence.collect.collect", refuse)


@pytest.mark.parametrize("argv", [[], ["--accept-texts"], ["--no-tests", "--junit", "x.xml"]])
def test_outside_a_checkout_it_says_what_it_needs(argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str], no_work: None) -> None:
    (tmp_path / "specs").mkdir()  # what a wheel installs: the packages, not the tests nor the review records
    monkeypatch.setattr(activities, "ROOT", tmp_path)
    assert main(["verify", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert f"needs a source checkout of pumpctl, and {tmp_path} is not one" in err
    assert "pyproject.toml, tests, specs/evidence.lock missing" in err
    assert "pip install -e '.[dev]' && pumpctl verify" in err and "pumpctl prove, mutate, simulate, bench" in err


def test_the_repository_is_a_checkout() -> None:
    assert verify_cli.checkout_problem(activities.ROOT) is None


@pytest.mark.parametrize(("argv", "missing", "named", "extras"), [
    ([], ("matplotlib",), ["matplotlib (the bench plots)"], "report"),
    ([], ("z3", "pytest"), ["z3 (the Z3 proofs)", "pytest (the requirement-tagged tests)"], "dev,verify"),
    (["--no-bench"], ("matplotlib", "jinja2"), ["jinja2 (the report)"], "report"),
    (["--junit", "junit.xml"], ("hypothesis", "crosshair"), ["crosshair (the CrossHair contracts)"], "verify"),
])
def test_missing_packages_are_named_with_their_extras_before_any_work(
        argv: list[str], missing: tuple[str, ...], named: list[str], extras: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], no_work: None) -> None:
    monkeypatch.setattr(verify_cli, "find_spec", without(*missing))
    assert main(["verify", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert err.startswith("pumpctl verify: needs ") and f"pip install 'pumpctl[{extras}]'" in err
    for name in named:
        assert name in err
    skipped = {"--no-bench": "matplotlib", "--junit": "hypothesis"}
    for flag, module in skipped.items():
        if flag in argv:
            assert module not in err  # not needed for what was asked


def test_every_file_a_run_wrote_is_listed_and_nothing_else(tmp_path: Path) -> None:
    from pumpctl.proofs.evidence.package import generated_files

    for name in ("report.html", "junit.xml", "pytest.log", "plots/trumpet.png", "counterexamples/cex-X.toml",
                 "notes.txt", "old/report.html"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert [p.relative_to(tmp_path).as_posix() for p in generated_files(tmp_path)] == [
        "report.html", "junit.xml", "pytest.log", "counterexamples/cex-X.toml", "plots/trumpet.png"]
