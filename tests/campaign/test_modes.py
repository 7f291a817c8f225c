"""The campaign in its two modes: skipping quiet periods (the default) and period by period give each
infusion the same outcome - every fault kind, the communication windows of the fault-injecting link
included (a block never reaches into a window)."""

from __future__ import annotations

import dataclasses

import pytest

from controller.campaign.faults import LinkWindow
from controller.campaign.link import FaultyLink
from controller.campaign.plan import SLOTS, plan_infusion
from controller.campaign.runner import run_infusion
from controller.core.commands import SetFlow
from controller.drivers.clocks import SimClock
from controller.drivers.sim import SimPump
from tests.campaign.helpers import SMALL

SAME = ("simulated_ms", "stopped_early", "final_state", "alarms", "failsafe_ms", "refusals", "refusals_after",
        "restored", "power_offs", "state_ms", "delivered_ml", "accounted_ml", "link_refused", "link_silenced",
        "invariant_violations", "physical_violations", "error")


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(SLOTS)))
def test_each_fault_kind_ends_the_same_both_ways(index: int) -> None:
    skip, ref = SMALL, dataclasses.replace(SMALL, skip=False)
    plan = plan_infusion(77, index, skip)
    a, b = run_infusion(77, index, ref), run_infusion(77, index, skip)
    assert {k: getattr(a, k) for k in SAME} == {k: getattr(b, k) for k in SAME}, plan.slot
    assert a.error == "" and b.steps <= a.steps
    if a.log is not None and b.log is not None:
        assert a.log.ok and b.log.ok


def test_a_block_stops_before_a_link_window() -> None:
    clock, plant = SimClock(), SimPump(seed=1)
    plant.request(SetFlow(50_000, 10**15))
    assert plant.poll(100)  # the first poll samples the battery and the temperature
    link = FaultyLink(plant, clock, (LinkWindow(5_000, 6_000, "silent", ""), LinkWindow(9_950, 12_000, "refuse",
                                                                                          "busy")))
    assert link.poll_block(100, 100, 1000) == (48, [])  # periods up to 4.9 s: the one at 5.0 s is in the window
    clock.t_ms = 4_900
    assert link.poll_block(4_900, 100, 1000) is None  # the next period is in the window: the shell polls it
    plant.poll(6_000)
    assert link.poll_block(6_000, 100, 1000) == (39, [])  # 9.9 s: the refuse window opens at 9.95 s
    assert link.silenced_polls == 0 and link.refused == 0
