"""Shared settings and one small campaign per session (the slow part, run once)."""

from __future__ import annotations

from functools import cache

from controller.campaign.plan import Settings
from controller.campaign.pool import Campaign, run_campaign

# short infusions so that a few simulated hours hold every fault kind several times;
# a generous share of fully checked and logged infusions
SMALL = Settings(min_hours=0.05, max_hours=0.3, check_fraction=0.25, log_fraction=0.25)
TINY = Settings(min_hours=0.05, max_hours=0.15, check_fraction=0.3, log_fraction=0.3)
TINY_HOURS, TINY_SEED = 1.5, 20260


@cache
def small_campaign() -> Campaign:
    """20 simulated hours, every fault kind (the round robin of slots guarantees it), 2 workers."""
    return run_campaign(20, 4242, SMALL, jobs=2)


@cache
def tiny_local() -> Campaign:
    return run_campaign(TINY_HOURS, TINY_SEED, TINY, jobs=1)
