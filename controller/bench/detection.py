"""Occlusion-detector measurements: trend vs static speed, and the false-alarm campaign.

Theory of operation
-------------------
Both drive the simulated pump directly (``SimPump`` with its sensing layer, no controller
core), polled every control period exactly as the shell polls it, so they measure the very
code the controller runs on, at a fraction of the cost of the full stack:

- ``time_to_alarm``: run at a rate until settled, close the stopcock, and report when the
  sensing layer raises the downstream occlusion, and by which criterion;
- ``false_alarm_campaign``: hours of *normal* infusion - the patient's venous wander, posture
  steps and motion artifacts, sensor noise, syringe and cassette mechanisms, rate changes,
  stops and restarts at rates from 0.1 to 999 mL/h - and count every occlusion event (each
  one is a false alarm), with the largest trend excess and static median seen (the margins).

Rules
1. Deterministic: a (seed, rate, mechanism) triple always gives the same run.
2. Figures, never asserts; the tests and ``benchmarks/false_alarms.py`` judge them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from controller.core.commands import SetFlow
from controller.drivers.clocks import SimClock
from controller.drivers.sim import SimPump
from controller.plant.params import PlantParams
from controller.sensing.detect import PSI_KPA, SensingConfig

CAMPAIGN_RATES = (0.1, 0.5, 1.0, 5.0, 25.0, 100.0, 500.0, 999.0)
BIG = 10**15


def time_to_alarm(rate_ml_h: float, trend: bool, threshold_kpa: float = 10 * PSI_KPA, seed: int = 0,
                  period_ms: int = 100, params: PlantParams | None = None, settle_s: float = 300.0,
                  limit_s: float = 6 * 3600.0) -> tuple[float | None, str | None]:
    """Seconds from occlusion to the downstream occlusion event, and the criterion that fired."""
    clock = SimClock()
    pump = SimPump(params or PlantParams(), SensingConfig(occlusion_threshold_kpa=threshold_kpa, occlusion_trend=trend),
                   seed=seed, clock=clock)
    pump.request(SetFlow(round(rate_ml_h * 1000), BIG))
    end = round(settle_s * 1000)
    while clock.t_ms < end:
        clock.t_ms += period_ms
        pump.poll(clock.t_ms)
    pump.occlude("downstream")
    t0 = clock.t_ms
    while clock.t_ms - t0 < limit_s * 1000:
        clock.t_ms += period_ms
        for e in pump.poll(clock.t_ms):
            if e.kind == "occlusion" and e.site == 0:
                return (clock.t_ms - t0) / 1000, pump.sensing.log[-1].reason
    return None, None


@dataclass
class Campaign:
    hours: float = 0.0
    polls: int = 0
    false_alarms: list[tuple[str, float, str, float, str]] = field(default_factory=list)  # mech, rate, kind, t_h, why
    max_excess_kpa: dict[str, float] = field(default_factory=dict)  # per rate: trend excess seen
    max_static_kpa: dict[str, float] = field(default_factory=dict)  # per rate: static median seen

    def merge(self, other: Campaign) -> None:
        self.hours += other.hours
        self.polls += other.polls
        self.false_alarms += other.false_alarms
        for mine, theirs in ((self.max_excess_kpa, other.max_excess_kpa), (self.max_static_kpa, other.max_static_kpa)):
            for k, v in theirs.items():
                mine[k] = max(mine.get(k, v), v)


def normal_infusion(rate_ml_h: float, hours: float, seed: int, mechanism: str = "syringe", period_ms: int = 100,
                    cfg: SensingConfig | None = None, params: PlantParams | None = None) -> Campaign:
    """One pump infusing normally at ``rate_ml_h`` (with stops, restarts and rate changes)."""
    rng = random.Random(f"campaign:{seed}:{rate_ml_h}:{mechanism}")
    clock = SimClock()
    p = replace(params or PlantParams(), mechanism=mechanism)
    pump = SimPump(p, cfg or SensingConfig(), seed=rng.randrange(2**31), clock=clock)
    key = f"{rate_ml_h:g}"
    out = Campaign(hours=hours)
    end = round(hours * 3_600_000)
    max_excess = max_static = 0.0
    down = pump.sensing.down
    next_change = 0
    while clock.t_ms < end:
        if clock.t_ms >= next_change:
            u = rng.random()
            if u < 0.75:
                rate = rate_ml_h  # the prescribed rate
            elif u < 0.85:
                rate = 0.0  # a stop (pause, bag change)
            elif u < 0.95:
                rate = min(999.0, max(0.1, rate_ml_h * rng.choice((0.5, 2.0, 4.0))))  # titration
            else:
                rate = min(999.0, rate_ml_h + 100.0)  # a bolus on top
            pump.request(SetFlow(round(rate * 1000), BIG))
            next_change = clock.t_ms + round(rng.uniform(60.0, 7200.0 if rate == rate_ml_h else 600.0) * 1000)
        clock.t_ms += period_ms
        for e in pump.poll(clock.t_ms):
            if e.kind == "occlusion":
                why = pump.sensing.log[-1].reason if pump.sensing.log else "?"
                out.false_alarms.append((mechanism, rate_ml_h, f"occlusion site {e.site}", clock.t_ms / 3.6e6, why))
                pump.sensing.reset()  # count it and carry on, as a clinician would after checking the line
                down = pump.sensing.down
        ex = down.excess()
        if ex > max_excess:
            max_excess = ex
        if down.m2 > max_static:
            max_static = down.m2
        out.polls += 1
    out.max_excess_kpa[key] = max_excess
    out.max_static_kpa[key] = max_static
    return out


def false_alarm_campaign(hours: float, seed: int = 0, period_ms: int = 100,
                         rates: tuple[float, ...] = CAMPAIGN_RATES,
                         mechanisms: tuple[str, ...] = ("syringe", "cassette")) -> Campaign:
    """``hours`` of normal infusion split evenly over rates and mechanisms."""
    total = Campaign()
    share = hours / (len(rates) * len(mechanisms))
    for mech in mechanisms:
        for r in rates:
            total.merge(normal_infusion(r, share, seed, mech, period_ms))
    return total
