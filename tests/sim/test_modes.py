"""The two modes of the simulator give the same run: the whole scenario suite (specs/scenarios),
once period by period (the reference: every control period through the core) and once skipping
quiet periods in blocks (``Shell.skip``, ``SimPump.poll_block``; the default).

Required: the same alarms (ids, priorities, times), final state, refusals, boluses, programs,
power events and occlusion detections, and a delivered volume within one control period of flow.
What holds, and is checked too: the whole JSON report is the same, samples included (the block
path computes each period with the same arithmetic on the same noise), while the skipping run
needs fewer core steps, each of them still checked against every invariant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.core.units import VU_PER_ML
from controller.scenario.model import load
from controller.scenario.report import to_json
from controller.scenario.run import Runner

SUITE = Path(__file__).resolve().parents[2] / "specs" / "scenarios"
FILES = sorted(SUITE.glob("*.toml"))
REQUIRED = ("final_state", "alarms", "refusals", "boluses", "programs", "new_lines", "power", "occlusions")


def both(name: str) -> tuple[dict[str, Any], dict[str, Any], float]:
    sc = load(SUITE / name)
    ref = Runner(sc, skip=False)
    a = to_json(ref.run())
    b = to_json(Runner(sc, skip=True).run())
    v = ref.ctl.vars  # one control period of flow at the fastest rate the program ran (the pump's max bounds it)
    one_period_ml = max(v.cfg.max_rate, v.flow.rate) * sc.control_period_ms / VU_PER_ML
    return a, b, one_period_ml


@pytest.mark.slow
@pytest.mark.parametrize("name", [f.name for f in FILES])
def test_skipping_gives_the_period_by_period_run(name: str) -> None:
    a, b, one_period_ml = both(name)
    assert a["simulation"]["mode"] == "period_by_period" and b["simulation"]["mode"] == "skipping"
    for key in REQUIRED:
        assert a[key] == b[key], f"{name}: {key} differs"
    assert abs(a["delivered_ml"] - b["delivered_ml"]) <= one_period_ml
    assert a["invariants"]["checked"] and b["invariants"]["checked"]
    assert a["invariants"]["violations"] == b["invariants"]["violations"] == 0
    assert b["invariants"]["core_steps"] <= a["invariants"]["core_steps"]
    assert a["simulation"]["control_periods"] == b["simulation"]["control_periods"]
    # beyond the requirement: everything else is the same too, bit for bit
    rest = {k for k in a if k not in ("simulation", "invariants")}
    assert {k: a[k] for k in rest} == {k: b[k] for k in rest}, f"{name}: the reports differ beyond the core steps"


def test_the_suite_skips() -> None:
    """The default is the skipping mode, and a scenario can ask for the other."""
    sc = load(SUITE / "continuous_kvo.toml")
    r = Runner(sc)
    res = r.run()
    assert r.skip and res.skipping and res.blocks > 0 and res.block_periods > res.periods // 2
    assert res.steps * 10 < res.periods  # far fewer core steps than control periods
    assert not Runner(sc, skip=False).skip
