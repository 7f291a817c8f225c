"""The independent red team (``tests/redteam.py``) finds nothing on the real controller, and finds
each class of defect issue 10 reported when that defect is put back on purpose."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from controller.clinical import dosebounds
from controller.core import effects, recovery, windows
from controller.core.libbounds import LibBounds
from tests.redteam import run_sequence

CHUNKS, PER_CHUNK = 20, 100  # 2,000 sequences in the suite; benchmarks/bench_redteam.py runs more


@pytest.mark.req("REQ-DRG-002", "REQ-DRG-005", "REQ-DRG-006", "REQ-DOS-004", "REQ-DOS-006", "REQ-DOS-007",
                 "REQ-BOL-005", "REQ-REC-001", "REQ-USE-001")
@pytest.mark.method("stateful")
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_no_library_bound_or_window_is_ever_exceeded(chunk: int) -> None:
    events = delivering = 0
    for seed in range(chunk * PER_CHUNK, (chunk + 1) * PER_CHUNK):
        life = run_sequence(seed)
        assert not life.violations, (seed, life.violations[:5])
        events += life.events
        delivering += bool(life.segments)
    assert delivering > PER_CHUNK // 2, "the red team must actually deliver in most sequences"


def _first_violation(seeds: range, **kw: Any) -> list[str]:
    for seed in seeds:
        life = run_sequence(seed, **kw)
        if life.violations:
            return life.violations
    return []


_compile = dosebounds.compile_entry


def _rate_mode_bypass(entry: Any, patient: Any, limits: Any) -> Any:
    """Defect 1 put back: the dose hard max is not converted into the rate bound."""
    c = _compile(entry, patient, limits)
    return replace(c, bounds=replace(c.bounds, dose_rate_max=c.bounds.rate_max))


def _clinician_cap_from_program(entry: Any, patient: Any, limits: Any) -> Any:
    """Defect 2 put back: the clinician bolus has no library maximum."""
    c = _compile(entry, patient, limits)
    return replace(c, bounds=replace(c.bounds, clin_bolus_max=LibBounds().clin_bolus_max,
                                     clin_bolus_soft_max=LibBounds().clin_bolus_soft_max))


_load = effects.load_program


def _history_dropped(v: Any, e: Any, s: str) -> Any:
    """Defect 4 put back: a reprogram restarts the dose windows."""
    out = _load(v, e, s)
    rings = tuple(windows.reset(0, r, out.flow.clock, r.bucket, True)[1] for r in out.win)
    return out._replace(win=rings, flow=out.flow._replace(wcur=(0,) * len(rings)))


_restore = recovery.restore


def _restore_forgets(v: Any, state: str, pushed_to: int) -> Any:
    """A restore that does not add the volume pushed after the snapshot to the dose windows."""
    out = _restore(v, state, pushed_to)
    return out._replace(flow=out.flow._replace(wcur=v.flow.wcur))


def _window_dropped(entry: Any, patient: Any, limits: Any) -> Any:
    """Defect 3's class put back: the library's window does not reach the program."""
    c = _compile(entry, patient, limits)
    return replace(c, bounds=replace(c.bounds, win_vol=0))


@pytest.mark.parametrize("defect", ["rate_mode_bypass", "clinician_cap", "window_dropped", "history_dropped",
                                    "restore_forgets"])
def test_the_red_team_catches_each_defect_class(defect: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each defect is put back the way a careless change would; the red team must report it."""
    kw: dict[str, Any] = {}
    edge = {"rate_mode_bypass": _rate_mode_bypass, "clinician_cap": _clinician_cap_from_program,
            "window_dropped": _window_dropped}
    if defect in edge:
        monkeypatch.setattr(dosebounds, "compile_entry", edge[defect])
        monkeypatch.setattr("controller.clinical.programs.soft_checks", lambda *a: [])  # the edge's own clinical checks
    elif defect == "history_dropped":
        from controller.core.table import TABLE

        kw["table"] = tuple(replace(r, change=_history_dropped) if r.trigger == "program" else r for r in TABLE)
    else:
        kw["restore_fn"] = _restore_forgets
    found = _first_violation(range(400), **kw)
    assert found, f"the red team missed the {defect} defect"
