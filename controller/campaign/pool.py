"""The fault campaign: many randomized simulated infusions with injected faults, in parallel.

Theory of operation
-------------------
``run_campaign(hours, seed)`` runs infusions 0, 1, 2, ... of campaign ``seed`` until their
*simulated* time reaches ``hours``, and aggregates them (``controller.campaign.report``).

- An infusion is a *work unit* (``Unit``): (campaign seed, index, settings) is all a worker
  needs; the infusion's own seed is derived from it (``campaign_plan.infusion_seed``). So a
  result never depends on which worker ran it, how many there were, or in which order they
  finished.
- Units run in *waves*. The first wave plans enough infusions for the target by their planned
  durations; infusions that latch early simulate less than planned, so later waves top up
  using the ratio seen so far. The campaign is then the shortest *prefix* 0..K-1 whose
  simulated time reaches the target: extra infusions of the last wave are discarded. The
  prefix depends only on per-index results, hence the figures are identical for any
  ``jobs`` and for a Dask cluster.
- Executors: in this process (``jobs=1``), a process pool on this machine
  (``concurrent.futures``, forkserver), or a ``dask.distributed`` cluster (``scheduler``
  address): the same ``run_unit`` function on the same units. Dask is imported only then;
  its workers must have the same pumpctl sources installed (they import this module), and
  the figures match bit for bit when they also run the same Python.

Rules
1. Deterministic: same (hours, seed, settings), same report, whatever the executor.
2. Wall time and speed are measured here and reported apart from the deterministic figures.
3. A wave that adds no simulated time ends the campaign (every infusion crashing cannot loop
   forever); crashes are reported as errors and fail the campaign.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Protocol

from controller.campaign.plan import Settings, planned_ms
from controller.campaign.report import Report, aggregate
from controller.campaign.runner import InfusionResult, run_infusion
from controller.errors import ConfigurationError

H_MS = 3_600_000
MAX_WAVES = 50
HOURS_RANGE = (0.01, 10_000_000.0)
Progress = Callable[[int, int, float], None]  # (infusions done, simulated ms, wall s)


@dataclass(frozen=True, slots=True)
class Unit:
    campaign_seed: int
    index: int
    settings: Settings


def run_unit(unit: Unit) -> tuple[InfusionResult, float]:
    """Run one infusion; (result, wall seconds). Module-level so that any executor can ship it."""
    t0 = time.perf_counter()
    result = run_infusion(unit.campaign_seed, unit.index, unit.settings)
    return result, time.perf_counter() - t0


class Executor(Protocol):
    name: str

    def run(self, units: Sequence[Unit]) -> Iterator[tuple[InfusionResult, float]]: ...

    def close(self) -> None: ...


class InProcess:
    name = "in-process"

    def run(self, units: Sequence[Unit]) -> Iterator[tuple[InfusionResult, float]]:
        for u in units:
            yield run_unit(u)

    def close(self) -> None:
        pass


class LocalPool:
    def __init__(self, jobs: int) -> None:
        self.name = f"process pool, {jobs} workers"
        self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("forkserver"))

    def run(self, units: Sequence[Unit]) -> Iterator[tuple[InfusionResult, float]]:
        futures = [self.pool.submit(run_unit, u) for u in units]
        for f in as_completed(futures):
            yield f.result()

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


class DaskCluster:
    """dask.distributed, imported by name: an optional dependency (the ``campaign`` extra)."""

    def __init__(self, address: str) -> None:
        self.dd: Any = importlib.import_module("distributed")
        self.name = f"dask scheduler {address}"
        self.client: Any = self.dd.Client(address, timeout=30)

    def run(self, units: Sequence[Unit]) -> Iterator[tuple[InfusionResult, float]]:
        futures = self.client.map(run_unit, list(units), pure=False)
        for f in self.dd.as_completed(futures):
            out: tuple[InfusionResult, float] = f.result()
            f.release()
            yield out

    def close(self) -> None:
        self.client.close()


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def executor(jobs: int | None = None, scheduler: str | None = None) -> Executor:
    if scheduler is not None:
        try:
            return DaskCluster(scheduler)
        except ImportError:
            raise ConfigurationError("--scheduler", scheduler, "a dask.distributed scheduler address, with dask "
                                     "installed", "pip install 'dask[distributed]' (the campaign extra)") from None
        except OSError as exc:  # unreachable or timed out (TimeoutError is an OSError)
            raise ConfigurationError("--scheduler", scheduler, "a reachable dask.distributed scheduler "
                                     "(tcp://host:port)", str(exc)) from None
    n = default_jobs() if jobs is None else jobs
    return InProcess() if n == 1 else LocalPool(n)


@dataclass(frozen=True, slots=True)
class Campaign:
    report: Report
    results: tuple[InfusionResult, ...]
    wall_s: float
    cpu_s: float  # sum of the infusions' own wall times (all workers)
    computed: int  # infusions run, including those past the prefix
    executor: str
    waves: int
    run: dict[str, Any] = field(default_factory=dict)


def run_campaign(hours: float, seed: int, settings: Settings | None = None, *, jobs: int | None = None,
                 scheduler: str | None = None, progress: Progress | None = None) -> Campaign:
    """Run the campaign (see the module docstring)."""
    lo, hi = HOURS_RANGE
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not lo <= hours <= hi:
        raise ConfigurationError("hours", hours, f"{lo:g} to {hi:g}")
    s = settings or Settings()
    target = round(hours * H_MS)
    ex = executor(jobs, scheduler)
    t0 = time.perf_counter()
    results: dict[int, InfusionResult] = {}
    cpu, n, waves, sim = 0.0, 0, 0, 0
    try:
        while sim < target and waves < MAX_WAVES:
            planned_done = sum(r.planned_ms for r in results.values())
            ratio = max(0.2, sim / planned_done) if planned_done else 1.0
            need = (target - sim) / ratio * 1.02
            units: list[Unit] = []
            while need > 0 or not units:
                units.append(Unit(seed, n, s))
                need -= planned_ms(seed, n, s)
                n += 1
            before = sim
            for r, wall in ex.run(units):
                results[r.index] = r
                cpu += wall
                sim += r.simulated_ms
                if progress is not None:
                    progress(len(results), sim, time.perf_counter() - t0)
            waves += 1
            if sim == before:
                break
    finally:
        ex.close()
    wall = time.perf_counter() - t0
    prefix: list[InfusionResult] = []
    acc = 0
    for i in range(n):
        prefix.append(results[i])
        acc += results[i].simulated_ms
        if acc >= target:
            break
    report = aggregate(prefix, seed, hours, s.describe())
    run = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "executor": ex.name, "waves": waves,
           "infusions_computed": n, "infusions_discarded": n - len(prefix),
           "simulated_h_computed": round(sim / H_MS, 3),  # discarded infusions included: the throughput
           "speed_x": round(sim / 1000 / wall, 1) if wall > 0 else None,
           "speed_per_worker_x": round(sim / 1000 / cpu, 1) if cpu > 0 else None}
    return Campaign(report, tuple(prefix), wall, cpu, n, ex.name, waves, run)
