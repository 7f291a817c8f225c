"""The campaign's fault generator and infusion plans: valid, complete, deterministic."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from controller.campaign.faults import FAULT_KINDS, GROUPS, FaultContext, draw_fault
from controller.campaign.plan import (
    SLOTS,
    Settings,
    infusion_seed,
    plan_infusion,
    planned_ms,
    scenario,
    slot_of,
)
from controller.campaign.programs import random_program
from controller.clinical.programs import build_program
from controller.core.limits import Limits
from controller.errors import ConfigurationError
from controller.scenario.events import EVENT_TYPES

CTX = FaultContext(start_ms=3_000, duration_ms=4 * 3_600_000, mechanism="syringe", reservoir_ml=120.0,
                   rate_ml_h=25.0, period_ms=2_000, watchdog_ms=6_000)


def test_every_fault_family_is_covered() -> None:  # the generator's catalogue: no requirement's evidence
    """Sensors (every mode), motor, line, power loss, communication and clock faults are all kinds."""
    groups = set(GROUPS.values())
    assert {"sensor", "motor", "line", "power", "comms", "clock"} <= groups
    assert {f"sensor_{m}" for m in ("stuck", "noisy", "out_of_range", "invalid", "disconnected")} <= set(FAULT_KINDS)
    assert {"motor_stall", "missed_steps", "motor_runaway", "occlusion_downstream", "occlusion_upstream",
            "air_in_line", "door_open", "power_cycle", "mains_loss", "comm_refuse", "comm_silent",
            "clock_jump"} <= set(FAULT_KINDS)
    assert SLOTS[0] == "none" and SLOTS[-1] == "compound" and set(FAULT_KINDS) <= set(SLOTS)


@pytest.mark.parametrize("kind", FAULT_KINDS)  # the generator itself: no requirement's evidence
def test_each_kind_draws_known_events_within_the_infusion(kind: str) -> None:
    rng = random.Random(kind)
    for _ in range(30):
        f = draw_fault(rng, kind, CTX)
        assert f.kind == kind and f.variant
        assert 0 <= f.at_ms < CTX.duration_ms
        for e in f.events:
            assert e["type"] in EVENT_TYPES, e
            assert e["at_ms"] >= f.at_ms
        assert (f.links != ()) == (GROUPS[kind] == "comms")
        for w in f.links:
            assert w.start_ms < w.end_ms and w.mode in ("refuse", "silent")


@pytest.mark.req("REQ-FLT-002")
def test_clock_jumps_straddle_the_watchdog() -> None:
    """below_watchdog: late by at least a period, the next period still inside the limit; above: beyond it."""
    rng = random.Random(1)
    seen: Counter[str] = Counter()
    for _ in range(200):
        f = draw_fault(rng, "clock_jump", CTX)
        seen[f.variant] += 1
        for length in f.params["lengths_ms"]:
            if f.variant == "below_watchdog":
                assert CTX.period_ms <= length and length + CTX.period_ms < CTX.watchdog_ms
            else:
                assert length > CTX.watchdog_ms
    assert seen["below_watchdog"] > 50 and seen["above_watchdog"] > 50


@pytest.mark.req("REQ-PRG-001")
def test_random_programs_are_valid_for_the_default_limits() -> None:
    rng = random.Random(7)
    kinds: Counter[str] = Counter()
    for _ in range(1500):
        draw = random_program(rng, rng.randint(600_000, 12 * 3_600_000))
        build_program(draw.request, Limits())  # raises if not valid
        kinds[draw.kind] += 1
        assert 0.1 <= draw.vtbi_ml <= 9_999
    assert set(kinds) == {"continuous", "pca", "loading", "intermittent"}


@pytest.mark.req("REQ-PRG-001")
def test_plans_pass_the_scenario_parser() -> None:
    """Everything the campaign runs goes through the same validation as a scenario file."""
    s = Settings()
    for i in range(len(SLOTS) * 12):
        plan = plan_infusion(99, i, s)
        sc = scenario(plan, s)
        assert sc.duration_ms == plan.duration_ms == planned_ms(99, i, s)
        assert sc.control_period_ms == 100 and sc.limits.max_tick_ms == 1_000 and sc.watchdog_ms == 3_000
        assert not sc.period_by_period  # the pump's control period, quiet periods skipped
        assert plan.slot == slot_of(i)
        if plan.slot == "compound":
            assert 2 <= len(plan.faults) <= 3 and len({f.kind for f in plan.faults}) == len(plan.faults)
        elif plan.slot == "none":
            assert plan.faults == ()
        else:
            assert [f.kind for f in plan.faults] == [plan.slot]
        if "occlusion_upstream" in {f.kind for f in plan.faults}:
            assert plan.mechanism == "cassette"


def test_plans_are_pure_functions_of_seed_and_index() -> None:
    s = Settings()
    assert plan_infusion(5, 17, s) == plan_infusion(5, 17, s)
    assert plan_infusion(5, 17, s) != plan_infusion(6, 17, s)
    seeds = {infusion_seed(5, i) for i in range(2_000)}
    assert len(seeds) == 2_000 and all(0 <= x < 2**63 for x in seeds)
    assert infusion_seed(5, 3) == infusion_seed(5, 3) != infusion_seed(3, 5)


def test_slots_come_round_in_turn() -> None:
    n = 5 * len(SLOTS)
    assert Counter(slot_of(i) for i in range(n)) == {s: 5 for s in SLOTS}


@pytest.mark.req("REQ-PRG-002")
@pytest.mark.parametrize(("kw", "field", "allowed"), [
    ({"control_period_ms": 50}, "control_period_ms", "100 to 2000"),
    ({"control_period_ms": 2_000, "max_tick_ms": 1_000}, "max_tick_ms", "2000 to 10000"),
    ({"check_fraction": 1.5}, "check_fraction", "0 to 1"),
    ({"min_hours": 2.0, "max_hours": 1.0}, "max_hours", "2 to 24"),
    ({"watchdog_ms": 100}, "watchdog_ms", "200 to 60000"),
    ({"control_period_ms": 2_000, "watchdog_ms": 1_000}, "watchdog_ms", "4000 to 60000"),
    ({"control_period_ms": 2_000, "sample_s": 61}, "sample_s", "a multiple of the control period"),
])
def test_settings_refuse_with_field_value_and_range(kw: dict[str, object], field: str, allowed: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings(**kw)  # type: ignore[arg-type]
    assert info.value.field == field
    assert allowed in str(info.value)
