"""The alarm catalog and annunciation: priorities as decided, highest first, and dose carried over."""

from __future__ import annotations

import pytest

from controller.core import alarms as A
from controller.core.annunciation import annunciated
from controller.core.events import ev
from controller.core.state import Alarms
from tests.helpers import ML, ML_H, must, program, refused, run_for, running

# DEC-016 (specs/decisions.toml): the IEC 60601-1-8 harm x onset decision for every alarm
DECIDED = {
    "motor_fault": ("HIGH", "STOP", True), "watchdog": ("HIGH", "STOP", True),
    "self_test_failed": ("HIGH", "STOP", True), "occlusion_downstream": ("HIGH", "STOP", True),
    "occlusion_upstream": ("HIGH", "STOP", True), "air_in_line": ("HIGH", "STOP", True),
    "air_accumulated": ("HIGH", "STOP", True), "door_open": ("HIGH", "STOP", True),
    "battery_depleted": ("HIGH", "STOP", True), "reservoir_empty": ("MEDIUM", "STOP", True),
    "dose_limit": ("MEDIUM", "KVO", True), "vtbi_complete": ("MEDIUM", "CONTINUE", False),
    "paused_too_long": ("MEDIUM", "CONTINUE", False), "callback": ("MEDIUM", "CONTINUE", False),
    "power_loss": ("MEDIUM", "CONTINUE", True), "near_end": ("LOW", "CONTINUE", False),
    "low_battery": ("LOW", "CONTINUE", False), "overheat": ("MEDIUM", "STOP", True),
    "temperature_range": ("LOW", "CONTINUE", False), "reservoir_low": ("LOW", "CONTINUE", False),
    "repeated_stops": ("MEDIUM", "STOP", False),
}


@pytest.mark.req("REQ-ALM-001", "REQ-ALM-008", "REQ-OCC-002")
def test_catalog_matches_the_recorded_priority_decisions() -> None:
    got = {a.id: (a.priority.name, a.response.name, a.latching) for a in A.CATALOG}
    assert got == DECIDED
    assert all(a.text and a.reqs for a in A.CATALOG)
    assert len(set(A.IDS)) == len(A.IDS)


@pytest.mark.req("REQ-ALM-002")
def test_the_highest_priority_active_alarm_is_annunciated_ties_by_rank() -> None:
    def with_active(*ids: str) -> Alarms:
        active = tuple(i in ids for i in A.IDS)
        return Alarms(active, active, 0)

    assert annunciated(with_active()) == -1
    assert A.IDS[annunciated(with_active("low_battery", "door_open", "near_end"))] == "door_open"
    assert A.IDS[annunciated(with_active("callback", "reservoir_empty"))] == "reservoir_empty"  # rank
    for i in range(A.N_ALARMS):
        for j in range(A.N_ALARMS):
            k = annunciated(with_active(A.IDS[i], A.IDS[j]))
            assert A.PRIORITY[k] == max(A.PRIORITY[i], A.PRIORITY[j]) and k == min(i, j)


@pytest.mark.req("REQ-DOS-006")
def test_reprogramming_carries_the_delivered_dose_into_the_new_windows() -> None:
    """The dose history belongs to the line: a reprogram keeps the ring as it was, and one asking
    for another window length over a ring that still counts is refused (DEC-035)."""
    c = running(program(step_rate=(10 * ML_H, 0, 0, 0), vtbi=100 * ML, lim_vol=(5 * ML, 0),
                        lim_bucket_ms=(300_000, 1_200_000)))
    run_for(c, 20 * 60_000)
    used = c.vars.flow.wcur[0] + c.vars.win[0].total
    assert used > 3 * ML
    must(c.handle(ev("stop")))
    refused(c.handle(ev("program", program=program(step_rate=(10 * ML_H, 0, 0, 0), vtbi=100 * ML,
                                                   lim_vol=(5 * ML, 0), lim_bucket_ms=(60_000, 1_200_000)))),
            "window_history")
    ring = c.vars.win[0]
    must(c.handle(ev("program", program=program(step_rate=(10 * ML_H, 0, 0, 0), vtbi=100 * ML,
                                                 lim_vol=(5 * ML, 0), lim_bucket_ms=(300_000, 1_200_000)))))
    assert c.vars.win[0] is ring and c.vars.flow.wcur[0] + c.vars.win[0].total == used  # nothing forgotten
    must(c.handle(ev("start")))
    run_for(c, 5 * 60_000)
    assert c.vars.flow.delivered <= 5 * ML - used + ML // 1000


@pytest.mark.req("REQ-REV-001", "REQ-OCC-004")
def test_the_only_reverse_motion_is_one_bounded_relief_per_downstream_occlusion() -> None:
    from controller.core.commands import RELIEF_MAX_VU, RelievePressure

    c = running(program())
    up = must(c.handle(ev("occlusion", site=1)))
    assert not any(isinstance(x, RelievePressure) for x in up.commands)  # upstream: nothing to relieve
    down = must(c.handle(ev("occlusion", site=0)))
    reliefs = [x for x in down.commands if isinstance(x, RelievePressure)]
    assert reliefs == [RelievePressure(RELIEF_MAX_VU)] and RELIEF_MAX_VU <= 2 * ML
    again = must(c.handle(ev("occlusion", site=0)))  # still occluded: no second back-off
    assert not any(isinstance(x, RelievePressure) for x in again.commands)
    assert c.vars.flow.rate == 0


@pytest.mark.req("REQ-ALM-004", "REQ-ALM-005")
def test_the_run_time_shortcut_of_refresh_agrees_with_the_full_rule() -> None:
    """refresh(settled=True) may skip recomputing the flags when the causes did not change; on
    every state a random walk reaches, after a tick, it must give exactly the full result."""
    import random

    from controller.core.annunciation import refresh
    from controller.core.effects import tick as tick_change
    from controller.core.events import tick
    from controller.core.machine import Controller
    from pumpctl.proofs.walk import sample_event

    rng = random.Random(7)
    c = Controller()
    checked = 0
    for _ in range(3000):
        c.handle(sample_event(rng, c.vars.cfg))
        ticked = tick_change(c.vars, tick(rng.choice([1, 100, 1000])), c.state)
        full = refresh(ticked, c.state, settled=False)
        fast = refresh(ticked, c.state, settled=True)
        assert fast == full
        checked += 1
    assert checked == 3000
