"""One campaign infusion, planned from (campaign seed, index) alone.

Theory of operation
-------------------
``infusion_seed(S, i)`` derives the i-th infusion's seed from the campaign seed with SHA-256,
so an infusion is the same whichever worker, process, machine or job count runs it, and any
one of them can be replayed alone. ``plan_infusion(S, i, settings)`` then draws, from that
seed only:

1. the *slot*: index i takes ``SLOTS[i % len(SLOTS)]``, so every fault kind, a fault-free
   control group (``none``) and a ``compound`` slot (2-3 different faults in one infusion)
   come round in turn and a campaign of N infusions holds each within one of N / len(SLOTS);
2. the infusion: duration (log-uniform in the settings' range), mechanism, program, people;
3. the faults (``controller.campaign.faults``) and whether this infusion is one of the
   sampled ones checked on every step (``full_check``) and logged to an EventLog (``log``).

``scenario(plan, settings)`` builds a ``controller.scenario.model.Scenario`` through the same
parser a scenario file goes through, so everything the campaign runs passed the scenario
validation (ranges, programs, event fields).

Rules
1. Deterministic: a plan is a pure function of (S, i, settings).
2. ``Settings`` is validated on construction (``ConfigurationError`` naming the field, the
   value and the allowed range).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from controller.campaign.faults import COMPOUNDABLE, FAULT_KINDS, FaultContext, FaultDraw, LinkWindow, draw_fault
from controller.campaign.programs import ProgramDraw, log_uniform, people_events, random_program
from controller.core.limits import Limits
from controller.errors import ConfigurationError
from controller.scenario.model import Scenario, parse

SLOTS: tuple[str, ...] = ("none", *FAULT_KINDS, "compound")
DEFAULTS_WHY = (
    "the pump's own 100 ms control period and 1 s max_tick_ms, what a pump runs, with quiet periods skipped "
    "in blocks (the simulator's skipping mode: the same alarms, states and volumes as period by period, at a "
    "cost that grows with what happens, not with the number of periods); a check_step costs about 1 ms, hence "
    "every step of 2 % of the infusions and every non-quiet step of all of them")
SEED_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Settings:
    """How every infusion of a campaign is simulated (reported with the figures)."""

    control_period_ms: int = 100  # the pump's; see DEFAULTS_WHY
    max_tick_ms: int | None = None  # None: the pump's default (Limits, 1 s), or the control period if longer
    watchdog_ms: int | None = None  # None: max(3000, 3 x control period)
    skip: bool = True  # quiet periods in blocks (False: every period through the core; the same results)
    min_hours: float = 0.25
    max_hours: float = 12.0
    check_fraction: float = 0.02  # share of infusions checked on every step (all: every non-quiet step)
    log_fraction: float = 0.05  # share of infusions written to an EventLog and verified
    sample_s: int = 60  # the runner's sample interval (its samples stay bounded in memory)

    def __post_init__(self) -> None:
        _range("control_period_ms", self.control_period_ms, 100, 2_000)
        _range("max_tick_ms", self.tick_ms, self.control_period_ms, 10_000)
        _range("watchdog_ms", self.watchdog, 2 * self.control_period_ms, 60_000)
        _range("min_hours", self.min_hours, 0.01, 24.0)
        _range("max_hours", self.max_hours, self.min_hours, 24.0)
        _range("check_fraction", self.check_fraction, 0.0, 1.0)
        _range("log_fraction", self.log_fraction, 0.0, 1.0)
        _range("sample_s", self.sample_s, 1, 3_600)
        if self.sample_s * 1000 % self.control_period_ms:
            raise ConfigurationError("sample_s", self.sample_s, f"a multiple of the control period "
                                     f"({self.control_period_ms} ms)")

    @property
    def tick_ms(self) -> int:
        return max(Limits().max_tick_ms, self.control_period_ms) if self.max_tick_ms is None else self.max_tick_ms

    @property
    def watchdog(self) -> int:
        return max(3_000, 3 * self.control_period_ms) if self.watchdog_ms is None else self.watchdog_ms

    def describe(self) -> dict[str, Any]:
        return {"control_period_ms": self.control_period_ms, "max_tick_ms": self.tick_ms,
                "watchdog_ms": self.watchdog, "infusion_hours": [self.min_hours, self.max_hours],
                "check_fraction": self.check_fraction, "log_fraction": self.log_fraction,
                "sample_s": self.sample_s, "mode": "skipping" if self.skip else "period_by_period",
                "why_defaults": DEFAULTS_WHY}


def _range(name: str, value: float, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ConfigurationError(name, value, f"{lo:g} to {hi:g}")


@dataclass(frozen=True, slots=True)
class InfusionPlan:
    campaign_seed: int
    index: int
    seed: int
    slot: str
    duration_ms: int
    mechanism: str
    program: ProgramDraw
    start_ms: int
    faults: tuple[FaultDraw, ...]
    full_check: bool
    log: bool
    events: tuple[dict[str, Any], ...] = field(default=())
    plant: dict[str, Any] = field(default_factory=dict)

    @property
    def links(self) -> tuple[LinkWindow, ...]:
        return tuple(w for f in self.faults for w in f.links)

    @property
    def first_fault_ms(self) -> int:
        return min((f.at_ms for f in self.faults), default=0)


def infusion_seed(campaign_seed: int, index: int) -> int:
    """The seed of infusion ``index`` (independent of how the campaign is split up)."""
    digest = hashlib.sha256(f"pumpctl-campaign:{campaign_seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & SEED_MAX


def slot_of(index: int) -> str:
    return SLOTS[index % len(SLOTS)]


def planned_ms(campaign_seed: int, index: int, settings: Settings) -> int:
    """The infusion's duration, without drawing the rest of the plan (cheap, for scheduling)."""
    rng = random.Random(infusion_seed(campaign_seed, index))
    return _duration(rng, settings)


def _duration(rng: random.Random, s: Settings) -> int:
    hours = log_uniform(rng, s.min_hours, s.max_hours) if s.max_hours > s.min_hours else s.min_hours
    period = s.control_period_ms
    return max(period, round(hours * 3_600_000 / period) * period)


def plan_infusion(campaign_seed: int, index: int, settings: Settings) -> InfusionPlan:
    seed = infusion_seed(campaign_seed, index)
    rng = random.Random(seed)
    duration = _duration(rng, settings)  # first draw: planned_ms() repeats it
    slot = slot_of(index)
    kinds: list[str] = []
    if slot == "compound":
        kinds = rng.sample(COMPOUNDABLE, rng.choice((2, 2, 3)))
    elif slot != "none":
        kinds = [slot]
    mechanism = "cassette" if rng.random() < 0.3 or "occlusion_upstream" in kinds else "syringe"
    draw = random_program(rng, duration)
    people, start = people_events(rng, draw, duration)
    ctx = FaultContext(start, duration, mechanism, draw.reservoir_ml, draw.rate_ml_h, settings.control_period_ms,
                       settings.watchdog)
    faults = tuple(draw_fault(rng, k, ctx) for k in kinds)
    full_check = rng.random() < settings.check_fraction
    log = rng.random() < settings.log_fraction
    plant: dict[str, Any] = {"mechanism": mechanism}
    for f in faults:
        plant.update(f.plant)
    events = [e for e in (*people, *(e for f in faults for e in f.events)) if e["at_ms"] <= duration]
    events.sort(key=lambda e: e["at_ms"])  # stable: people before faults at the same ms
    return InfusionPlan(campaign_seed, index, seed, slot, duration, mechanism, draw, start, faults, full_check, log,
                        tuple(events), plant)


def scenario_dict(plan: InfusionPlan, settings: Settings) -> dict[str, Any]:
    """The plan as a scenario table (what a scenario TOML file would hold)."""
    return {
        "name": f"campaign seed {plan.campaign_seed} infusion {plan.index} ({plan.slot})",
        "duration_s": plan.duration_ms / 1000,
        "control_period_ms": settings.control_period_ms,
        "seed": plan.seed,
        "sample_interval_s": settings.sample_s,
        "watchdog_ms": settings.watchdog,
        "check_invariants": False,  # the campaign runner checks (sampled, see campaign_runner)
        "period_by_period": not settings.skip,
        "pump": {"max_tick_ms": settings.tick_ms},
        "plant": plan.plant,
        "event": [{"at_s": e["at_ms"] / 1000, **{k: v for k, v in e.items() if k != "at_ms"}} for e in plan.events],
    }


def scenario(plan: InfusionPlan, settings: Settings) -> Scenario:
    return parse(scenario_dict(plan, settings), source=f"campaign:{plan.campaign_seed}:{plan.index}")
