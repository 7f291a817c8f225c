"""Scenario files: malformed input is refused with the file, the field and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.errors import ConfigurationError
from controller.scenario.events import EVENT_TYPES
from controller.scenario.model import load

SUITE = Path(__file__).resolve().parents[2] / "specs" / "scenarios"

GOOD = """
name = "ok"
duration_s = 10
[[event]]
at_s = 1
type = "program"
rate_ml_h = 25
vtbi_ml = 10
[[event]]
at_s = 2
type = "start"
"""


def _write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _refused(tmp_path: Path, text: str) -> ConfigurationError:
    p = _write(tmp_path, text)
    with pytest.raises(ConfigurationError) as exc:
        load(p)
    assert exc.value.source == str(p), "the error names the file"
    assert str(p) in str(exc.value)
    return exc.value


def test_a_good_file_loads(tmp_path: Path) -> None:
    sc = load(_write(tmp_path, GOOD))
    assert sc.name == "ok" and sc.duration_ms == 10_000 and sc.control_period_ms == 100
    assert [e.type for e in sc.events] == ["program", "start"]
    assert sc.events[0].program is not None


@pytest.mark.req("REQ-PRG-002")
@pytest.mark.parametrize(("text", "field", "allowed"), [
    ("duration_s = 10", "name", "non-empty"),
    ('name = "x"', "duration_s", "seconds"),
    ('name = "x"\nduration_s = -1', "duration_s", "from 0.001"),
    ('name = "x"\nduration_s = 10\ncontrol_period_ms = 0', "control_period_ms", "from 1 to 2000"),
    ('name = "x"\nduration_s = 10\ncontrol_period_ms = 2.5', "control_period_ms", "whole number"),
    ('name = "x"\nduration_s = 10\nseed = true', "seed", "whole number"),
    ('name = "x"\nduration_s = 10\nspeed = 3', "speed", "one of the keys"),
    ('name = "x"\nduration_s = nan', "duration_s", "number"),
    ('name = "x"\nduration_s = 10\n[pump]\nmax_rate_ml_h = 5000', "pump.max_rate_ml_h", "1200"),
    ('name = "x"\nduration_s = 10\n[pump]\nkvo_rate_ml_h = -1', "pump.kvo_rate_ml_h", ">= 0"),
    ('name = "x"\nduration_s = 10\n[pump]\nmax_rate = 100', "pump.max_rate", "max_rate_ml_h"),
    ('name = "x"\nduration_s = 10\n[pump]\nocclusion_threshold_kpa = 200', "pump.occlusion_threshold_kpa", "137"),
    ('name = "x"\nduration_s = 10\n[pump]\nbubble_limit_ul = { venous = 5 }', "pump.bubble_limit_ul.venous", "routes"),
    ('name = "x"\nduration_s = 10\n[pump]\nbattery_low_min = 3\nbattery_depleted_min = 5',
     "pump.battery_depleted_min", "< battery_low_min"),
    ('name = "x"\nduration_s = 10\n[plant]\ncompliance_ml_per_kpa = 0', "plant.compliance_ml_per_kpa", "0.0005"),
    ('name = "x"\nduration_s = 10\n[plant]\nmechanism = "peristaltic"', "plant.mechanism", "syringe, cassette"),
    ('name = "x"\nduration_s = 10\n[plant]\ncompliance = 0.01', "plant.compliance", "compliance_ml_per_kpa"),
    ('name = "x"\nduration_s = 10\n[plant]\non_mains = 1', "plant.on_mains", "true or false"),
    ('name = "x"\nduration_s = 10\n[[event]]\ntype = "start"', "event[0].at_s", "time in seconds"),
    ('name = "x"\nduration_s = 10\n[[event]]\nat_s = 11\ntype = "start"', "event[0].at_s", "duration_s"),
    ('name = "x"\nduration_s = 10\n[[event]]\nat_s = 1\ntype = "explode"', "event[0].type", "occlude_downstream"),
    ('name = "x"\nduration_s = 10\n[[event]]\nat_s = 1\ntype = "start"\nactor = "nurse"', "event[0].actor",
     "clinician"),
    ('name = "x"\nduration_s = 10\n[[event]]\nat_s = 1\ntype = "start"\nrate_ml_h = 3', "event[0].rate_ml_h",
     "one of the keys"),
    ('name = "x"\nduration_s = 10\n[[event]]\nat_s = 1\ntype = "clinician_bolus"\nduration_s = 60',
     "event[0].volume_ml", "from 0.001"),
    ('name = "x"\nduration_s = 10\n[[event]]\nat_s = 1\ntype = "air_bubble"\nvolume_ul = "big"',
     "event[0].volume_ul", "a number"),
    ('name = "x"\nduration_s = 10\n[[event]]\nat_s = 1\ntype = "sensor_fault"\nsensor = "door"\nmode = "melted"',
     "event[0].mode", "stuck, noisy, out_of_range, invalid, disconnected"),
    ('name = "x"\nduration_s = 10\n[[event]]\nat_s = 1\ntype = "sensor_fault"\nsensor = "nose"\nmode = "stuck"',
     "event[0].sensor", "downstream_pressure"),
    ('name = "x"\nduration_s = 10\n[[event]]\nat_s = 1\ntype = "occlude_upstream"', "event[0].type", "syringe"),
    ('name = "x"\nduration_s = 10\n[[event]]\nat_s = 1\ntype = "program"\nrate_ml_h = 25', "event[0].vtbi_ml",
     "a number"),
    ('name = "x"\nduration_s = 10\n[[event]]\nat_s = 1\ntype = "program"\nrate_ml_h = -25\nvtbi_ml = 5',
     "event[0].rate_ml_h", ">= 0"),
    ('name = "x"\nduration_s = 10\n[[event]]\nat_s = 1\ntype = "program"\nrate_ml_h = 2000\nvtbi_ml = 5',
     "event[0].rate_ml_h", "999"),
    ('name = "x"\nduration_s = 10\n[[event]]\nat_s = 1\ntype = "program"\nrate_ml_h = 20\nvtbi_ml = 5\nvtbi = 3',
     "event[0].vtbi", "vtbi_ml"),
    ('name = "x"\nduration_s = 10\n[[event]]\nat_s = 1\ntype = "program"\nrate_ml_h = 20\nvtbi_ml = 5\n'
     'expect_refused = true', "event[0].expect_refused", "false"),
    ('name = "x"\nduration_s = 10\n[[event]]\nat_s = 1\ntype = "program"\ndrug = "heparin"\nrate_ml_h = 20\n'
     'vtbi_ml = 5', "event[0].drug", "no library"),
    ('name = "x"\nduration_s = 10\n[expect]\nfinal_state = "HAPPY"', "expect.final_state", "RUNNING"),
    ('name = "x"\nduration_s = 10\n[expect]\nalarms = ["fire"]', "expect.alarms", "occlusion_downstream"),
    ('name = "x"\nduration_s = 10\n[expect]\nboluses = { loading = 1 }', "expect.boluses.loading", "patient"),
    ('name = "x"\nduration_s = 10\n[expect]\nmax_delivered = 3', "expect.max_delivered", "max_delivered_ml"),
    ('name = "x"\nduration_s = 10\n[expect]\nalarm_within_s = { door_open = -1 }', "expect.alarm_within_s.door_open",
     "from 0"),
    ('name = "x"\nduration_s = 100000\nsample_interval_s = 0.1', "sample_interval_s", "bounded in memory"),
    ('name = "x"\nduration_s = 10\nlibrary = "nowhere.toml"', "library", "readable"),
    ('name = "x"\nduration_s = 10\nlibrary = "x.toml"\n[[drug]]\ndrug = "a"\nconcentration = 1', "library", "not both"),
    ('name = "x"\nduration_s = 10\n[[drug]]\ndrug = "a"\nconcentration = 0', "a.concentration", "more than 0"),
])
def test_malformed_scenario_names_file_field_and_allowed(tmp_path: Path, text: str, field: str, allowed: str) -> None:
    err = _refused(tmp_path, text)
    assert err.field == field, str(err)
    assert allowed in str(err), str(err)


def test_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    err = _refused(tmp_path, 'name = "x"\nduration_s = = 3\n')
    assert err.field == "toml" and "line 2" in str(err)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as exc:
        load(tmp_path / "absent.toml")
    assert "absent.toml" in str(exc.value) and exc.value.field == "file"


def test_expect_refused_program_becomes_a_refusal(tmp_path: Path) -> None:
    sc = load(_write(tmp_path, 'name = "x"\nduration_s = 10\n[[event]]\nat_s = 1\ntype = "program"\n'
                               'rate_ml_h = 2000\nvtbi_ml = 5\nexpect_refused = true\n'))
    e = sc.events[0]
    assert e.program is None and e.refusal is not None and e.refusal.startswith("invalid_program:")


def test_events_are_sorted_by_time_then_file_order(tmp_path: Path) -> None:
    sc = load(_write(tmp_path, 'name = "x"\nduration_s = 10\n[[event]]\nat_s = 5\ntype = "stop"\n'
                               '[[event]]\nat_s = 1\ntype = "pause"\n[[event]]\nat_s = 5\ntype = "start"\n'))
    assert [(e.at_s, e.type) for e in sc.events] == [(1, "pause"), (5, "stop"), (5, "start")]


def test_every_event_type_is_dispatched_by_the_runner() -> None:
    import inspect

    from controller.scenario import run as scenario_run
    from controller.scenario import world as scenario_world

    src = (inspect.getsource(scenario_run.Runner.apply) + inspect.getsource(scenario_run.Runner.advance)
           + inspect.getsource(scenario_world.apply_world))
    from controller.scenario.events import CORE_TYPES

    for kind in EVENT_TYPES:
        assert kind in CORE_TYPES or f'"{kind}"' in src, f"event type {kind} has no handler in the runner"


def test_the_standard_suite_loads() -> None:
    files = sorted(SUITE.glob("*.toml"))
    assert len(files) >= 30
    for f in files:
        sc = load(f)
        assert sc.expect != type(sc.expect)(), f"{f.name} has no [expect] table"
        assert sc.description, f"{f.name} has no description"
