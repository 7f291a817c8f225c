"""The independent red team (``tests/redteam.py``) finds nothing on the real controller, and finds
each of the six defects issue 10 reported - and two more of their classes - when that defect is
put back the way the old code had it.

The batch here is CI-sized; ``benchmarks/bench_redteam.py`` runs a larger seeded one and prints
the figures (acceptance rates, windows reached, violations).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import tests.redteam as redteam
from controller.clinical import dosebounds, programs
from controller.clinical.programs import build_program
from controller.core import effects, recovery, windows
from controller.core import units as U
from controller.core.libbounds import LibBounds
from controller.core.limits import Limits
from controller.core.program import N_BUCKETS, N_WINDOWS, Program
from controller.core.table import TABLE
from controller.library import file as libfile
from controller.library.gate import LibraryGate
from controller.library.sign import sign_file
from tests.redteam import run_sequence
from tests.store.helpers import TODAY, copy_example

CHUNKS, PER_CHUNK = 20, 40  # 800 sequences in the suite; benchmarks/bench_redteam.py runs more
FIGURES = ("patient_boluses_accepted", "clinician_boluses_accepted", "window_keys_at_90pct", "new_lines",
           "lines_with_several_drugs", "accepted_basic", "power_cycles", "soft_to_confirm")


@pytest.mark.req("REQ-DRG-002", "REQ-DRG-003", "REQ-DRG-005", "REQ-DRG-006", "REQ-DOS-004", "REQ-DOS-006",
                 "REQ-DOS-007", "REQ-BOL-005", "REQ-REC-001", "REQ-USE-001")
@pytest.mark.method("stateful")
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_no_library_bound_or_window_is_ever_exceeded(chunk: int) -> None:
    stats: Counter[str] = Counter()
    for seed in range(chunk * PER_CHUNK, (chunk + 1) * PER_CHUNK):
        life = run_sequence(seed)
        assert not life.violations, (seed, life.violations[:5])
        stats.update(life.stats)
        stats["delivering_lives"] += bool(life.stats["delivering_ticks"])
    assert stats["delivering_lives"] > PER_CHUNK // 2, "the red team must actually deliver in most sequences"
    missing = [f for f in FIGURES if not stats[f]]
    assert not missing, f"the red team no longer reaches {missing} in seeds {chunk * PER_CHUNK}.. ({dict(stats)})"


def _first_violation(*words: str, seeds: int = 300, **kw: Any) -> list[str]:
    """The violations of the first life that has one naming all of ``words``."""
    for seed in range(seeds):
        found = [v for v in run_sequence(seed, **kw).violations if all(w in v for w in words)]
        if found:
            return found
    return []


# --- the six defects of issue 10, put back ----------------------------------------------------

_compile = dosebounds.compile_entry


def _rate_mode_bypass(entry: Any, patient: Any, limits: Any) -> Any:
    """Defect 1: the dose hard max is not converted into a rate bound (only the rate's own holds)."""
    c = _compile(entry, patient, limits)
    return replace(c, bounds=replace(c.bounds, dose_rate_max=c.bounds.rate_max))


def _clinician_cap_from_program(entry: Any, patient: Any, limits: Any) -> Any:
    """Defect 2: the clinician bolus has no library maximum; the program's own is taken."""
    c = _compile(entry, patient, limits)
    return replace(c, bounds=replace(c.bounds, clin_bolus_max=LibBounds().clin_bolus_max,
                                     clin_bolus_soft_max=LibBounds().clin_bolus_soft_max))


def _put_back_defect_3(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 3: the clinician's windows take the slots first and the library's goes into a free slot
    only (the old ``_windows``); the core is not told of the library window (as the old core was not)."""
    real: dict[str, int] = {}

    def compile_entry(entry: Any, patient: Any, limits: Any) -> Any:
        c = _compile(entry, patient, limits)
        real.update(vol=c.bounds.win_vol, bucket=c.bounds.win_bucket_ms)
        return replace(c, bounds=replace(c.bounds, win_vol=0))

    def old_windows(req: Mapping[str, object], lib_vol: int, lib_bucket: int) -> tuple[tuple[int, ...], ...]:
        vols, buckets = [0] * N_WINDOWS, list(Program().lim_bucket_ms)
        given: list[tuple[int, int] | None] = []
        for vname, wname in (("limit_ml", "limit_window_s"), ("limit2_ml", "limit2_window_s")):
            vol = req.get(vname)
            given.append(None if vol is None else (U.ml_to_vu(vol, vname),
                                                   U.s_to_ms(U.to_fraction(req[wname], wname) / N_BUCKETS, wname)))
        if real.get("vol"):
            library = (real["vol"], real["bucket"])
            if given[1] is None:
                given[1] = library
            elif given[0] is None:
                given[0] = library
        for j, g in enumerate(given):
            if g is not None:
                vols[j], buckets[j] = g
        return tuple(vols), tuple(buckets)

    monkeypatch.setattr(dosebounds, "compile_entry", compile_entry)
    monkeypatch.setattr(programs, "_windows", old_windows)


_load = effects.load_program


def _history_dropped(v: Any, e: Any, s: str) -> Any:
    """Defect 4: a reprogram restarts the dose windows (history belonged to a program slot)."""
    out = _load(v, e, s)
    rings = tuple(windows.reset(0, r, out.flow.clock, r.bucket, True)[1] for r in out.win)
    return out._replace(win=rings, flow=out.flow._replace(wcur=(0,) * len(rings)))


_restore = recovery.restore


def _restore_forgets(v: Any, state: str, pushed_to: int) -> Any:
    """Defect 4's class at power loss: the volume pushed after the snapshot misses the dose windows."""
    out = _restore(v, state, pushed_to)
    return out._replace(flow=out.flow._replace(wcur=v.flow.wcur))


def _interval_zero_is_continuous(req: Mapping[str, object], limits: Limits, library: Any = None,
                                 care_area: str = "general") -> Any:
    """Defect 5: ``interval_s = 0`` took the program as having no interval, so the dose step ran on
    as a continuous infusion until the VTBI."""
    if req.get("kind") == "intermittent" and req.get("interval_s") == 0:
        req = {k: v for k, v in req.items() if k not in ("kind", "dose_ml", "interval_s")}
    return build_program(req, limits, library, care_area)


@pytest.mark.parametrize(("defect", "words"), [
    ("1 rate-mode bypass", ("dose hard max",)),
    ("1 weight hard limit skipped", ("weight",)),
    ("2 clinician bolus ignores the library", ("clinician",)),
    ("3 clinician drops the library window", ("in one", "window")),
    ("4 reprogram forgets delivered dose", ("in one", "window")),
    ("4 restore forgets the pushed volume", ("in one", "window")),
    ("5 interval_s = 0 becomes continuous", ("interval_s",)),
])
def test_the_red_team_catches_each_defect(defect: str, words: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each defect is put back the way the old code had it; the red team must report it (and the
    suite's batch above shows it finds nothing on the real code)."""
    kw: dict[str, Any] = {}
    soft_off = (lambda *a: [])  # the edge's own clinical-unit checks, which would hide the core's bound
    if defect.startswith("1 rate"):
        monkeypatch.setattr(dosebounds, "compile_entry", _rate_mode_bypass)
        monkeypatch.setattr(programs, "soft_checks", soft_off)
    elif defect.startswith("1 weight"):
        monkeypatch.setattr(dosebounds, "_patient", lambda entry, patient: ())
    elif defect.startswith("2"):
        monkeypatch.setattr(dosebounds, "compile_entry", _clinician_cap_from_program)
        monkeypatch.setattr(programs, "soft_checks", soft_off)
    elif defect.startswith("3"):
        _put_back_defect_3(monkeypatch)
    elif defect.startswith("4 reprogram"):
        kw["table"] = tuple(replace(r, change=_history_dropped) if r.trigger == "program" else r for r in TABLE)
    elif defect.startswith("4 restore"):
        kw["restore_fn"] = _restore_forgets
    else:
        monkeypatch.setattr(redteam, "build_program", _interval_zero_is_continuous)
    found = _first_violation(*words, **kw)
    assert found, f"the red team missed defect {defect}"


def _tampered_library_findings(tmp: Path) -> list[str]:
    """Defect 6's own check: the issue's attack - three hard maxima raised tenfold, resealed with a
    bare digest - against a pump with no key configured. What got through, if anything."""
    lib = copy_example(tmp)
    text = lib.read_text()
    for old, new in (("dose = { soft_max = 2, hard_max = 4 }", "dose = { soft_max = 2, hard_max = 40 }"),
                     ("bolus_ml = { soft_max = 2, hard_max = 3 }", "bolus_ml = { soft_max = 2, hard_max = 30 }"),
                     ("rate_ml_h = { hard_max = 10 }\nlimit_ml", "rate_ml_h = { hard_max = 100 }\nlimit_ml")):
        assert old in text
        text = text.replace(old, new, 1)
    lib.write_text(text)
    sign_file(lib, None)  # resealed: a digest that matches, no signature
    gate = LibraryGate(None, today=lambda: TODAY)
    found = []
    if gate.load(lib).ok:
        found.append("a resealed, unsigned library loaded with no key configured")
    if gate.program({"drug": "morphine", "rate_ml_h": 35, "bolus_ml": 20, "bolus_rate_ml_h": 60, "lockout_s": 600,
                     "vtbi_ml": 100},
                    Limits()).ok:
        found.append("a morphine program at 35 mg/h with 20 mL boluses was accepted (library: 4 mg/h, 3 mL)")
    return found


def test_an_unsigned_tampered_library_never_loads_and_is_caught_when_put_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 6: on the real code the attack gets nothing through; with the old integrity check (no
    key configured: the signature is not asked for) it gets both the library and the program in."""
    for d in ("now", "old"):
        (tmp_path / d).mkdir()
    assert _tampered_library_findings(tmp_path / "now") == []
    real = libfile.check_integrity

    def old_check(doc: Any, key: Any, allow_unsigned: bool = False) -> Any:
        return real(doc, key, True) if key is None else real(doc, key, allow_unsigned)

    monkeypatch.setattr(libfile, "check_integrity", old_check)
    assert len(_tampered_library_findings(tmp_path / "old")) == 2
