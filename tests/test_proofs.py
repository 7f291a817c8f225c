"""The proofs are about the code that runs: the real table is proved, broken code is refuted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pumpctl.proofs.cex import load, replay
from pumpctl.proofs.mutants import MUTANTS, applied, evaluate
from pumpctl.proofs.prove import run
from pumpctl.proofs.report import cex_toml

REGRESSIONS = Path(__file__).parent / "regressions"


@pytest.fixture(scope="module")
def real_run():  # type: ignore[no-untyped-def]
    return run()


@pytest.mark.slow  # pumpctl verify runs the proofs itself; this keeps them in the plain test run
@pytest.mark.req("REQ-DEL-001", "REQ-DEL-002", "REQ-DEL-004", "REQ-DEL-007", "REQ-DOS-004", "REQ-DOS-005",
                 "REQ-BOL-002", "REQ-BOL-003", "REQ-BOL-004", "REQ-ALM-002", "REQ-ALM-004", "REQ-ALM-005",
                 "REQ-ALM-006", "REQ-FLT-001", "REQ-FLT-004", "REQ-ROL-001", "REQ-DRG-003", "REQ-PRM-002",
                 "REQ-RES-001")
def test_every_obligation_is_proved_for_the_real_table(real_run) -> None:  # type: ignore[no-untyped-def]
    not_proved = [(v.id, v.verdict, v.detail) for v in real_run.verdicts if v.verdict != "proved"]
    assert not not_proved
    assert len(real_run.verdicts) >= 30


@pytest.mark.slow
def test_table_is_well_formed(real_run) -> None:  # type: ignore[no-untyped-def]
    wf = real_run.wellformed
    assert wf.unsat_rows == [] and wf.unreachable == []
    assert set(wf.witnesses) == {"POST", "FAILED", "IDLE", "READY", "PRIMING", "RUNNING", "BOLUS", "PAUSED", "KVO",
                                 "STOPPED", "ALARM", "FAILSAFE"}
    assert any("on tick" in o for o in wf.overlaps)  # the determinism report lists order-resolved overlaps


@pytest.mark.req("REQ-DOS-004", "REQ-DOS-005")
def test_classic_overdose_is_refuted_with_a_replayable_trace(tmp_path: Path) -> None:
    """Window limit checked only when a bolus starts while basal keeps running (Open PCA EC24)."""
    from pumpctl.proofs.engine import Engine

    m = next(m for m in MUTANTS if m.id == "M01-window-at-bolus-only")
    with applied(m) as table:
        found = Engine(table=table).bmc(8, only=["STEP-DOS-004"])
        v = found["STEP-DOS-004"]
        assert v.verdict == "counterexample" and v.replayed
        last = v.trace[-1].vars
        used = last.flow.wcur[0] + last.win[0].total, last.flow.wcur[1] + last.win[1].total
        assert any(u > lim > 0 for u, lim in zip(used, last.prog.lim_vol, strict=True))
        path = tmp_path / "cex.toml"
        path.write_text(cex_toml(v))
        assert "STEP-DOS-004" in replay(load(path), table).broken
    assert replay(load(path)).broken == []  # the real controller survives the same events


@pytest.mark.parametrize("mutant_id", ["M05-window-skips-update", "M14-no-hourly-count"])
def test_sample_mutants_are_killed(mutant_id: str) -> None:
    r = evaluate(next(m for m in MUTANTS if m.id == mutant_id))
    assert r.killed and r.replayed, r


@pytest.mark.parametrize("path", sorted(REGRESSIONS.glob("*.toml")), ids=lambda p: p.stem)
def test_regression_scenarios_are_safe_on_the_real_controller(path: Path) -> None:
    sc = load(path)
    assert sc.expect_broken, "a regression scenario records what it once broke"
    result = replay(sc)
    assert result.broken == []


def test_crosshair_finds_a_broken_contract(tmp_path: Path) -> None:
    src = tmp_path / "broken_contract.py"
    src.write_text(
        "from fractions import Fraction\n"
        "from controller.core.units import ml_h_to_rate\n\n\n"
        "def rate_rounds_up(num: int, den: int) -> int:\n"
        '    """\n    pre: 1 <= den <= 7 and 0 <= num <= 20\n'
        "    post: __return__ * den >= num * 1000\n"
        '    """\n'
        "    return ml_h_to_rate(Fraction(num, den), 'r')\n")
    # a small domain and a long budget: CrossHair's budget is wall time, and on a starved CI machine
    # (tests on every core) 20 s once ran out before the first counterexample (1/3 mL/h) was tried
    proc = subprocess.run([sys.executable, "-m", "crosshair", "check", "--analysis_kind=PEP316",
                           "--per_condition_timeout=240", "--per_path_timeout=60", str(src)],
                          capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent, timeout=600)
    assert proc.returncode == 1 and "error: false when calling rate_rounds_up" in proc.stdout, proc.stdout


def test_every_contract_condition_is_valid_python() -> None:
    """A syntax error in a docstring condition would make CrossHair report a bogus failure."""
    import ast
    import inspect

    import pumpctl.proofs.contracts as C

    seen = 0
    for name in C.FUNCTIONS:
        doc = inspect.getdoc(getattr(C, name)) or ""
        for line in doc.splitlines():
            if line.startswith(("pre:", "post:")):
                ast.parse(line.split(":", 1)[1].strip(), mode="eval")
                seen += 1
    assert seen >= 2 * len(C.FUNCTIONS) - 1
