"""The bench: IEC 60601-2-24 style flow-accuracy and occlusion tests on the simulated pump.

Theory of operation
-------------------
Both procedures drive the real controller, shell and simulated pump (``scenario_run``), and
measure only what a test lab could: the volume that reached the "balance" (the patient side
of the line) and the pump's alarms.

**Accuracy** (``accuracy``), per rate (minimum, intermediate, maximum): start the infusion,
weigh the outflow every 30 s for 120 min (a 0.1 mg balance, water). The first hour is the
start-up curve (flow per 30 s interval against time). From the second hour, for observation
windows of P = 2, 5, 11, 19 and 31 min, every window of P minutes that fits gives a
percentage error ``Ep = 100/m x sum((Qi - r) / r)`` over its m intervals; the trumpet curve is
the largest and smallest Ep per P. The overall mean error ``A`` compares the mean flow of the
second hour with the set rate.

**Bolus volume** (``bolus_accuracy``), at the minimum and maximum bolus: a PCA-only program
(no basal), one patient bolus, weighed until 60 s after it ends.

**Occlusion** (``occlusion``), per rate (minimum, intermediate) and downstream threshold
(minimum 2 psi, 10 psi, maximum 19 psi), once with the static threshold only and once with
the pressure-trend detector: run 5 min, close a stopcock on the patient side, and wait for
the alarm; record the time from occlusion to alarm, the true pressure at the alarm and the
detector's latency from its criterion to the alarm (REQ-OCC-003). Let pressure relief
finish (60 s), open the stopcock and weigh what flows in the next 120 s with the pump
stopped: the unintended bolus (REQ-OCC-004). The bolus without relief (the volume stored at
the alarm, compliance x pressure rise) is reported next to it.

**Flow while stopped** (``stopped_flow``), per runaway rate (minimum, intermediate, maximum):
run 60 s at 25 mL/h, pause, and 30 s later let the motor's driver stage fail on at that rate
while the motor is commanded stopped; record the time from the fault to the motor_fault alarm,
the state the pump ends in (FAILSAFE expected) and the volume the mechanism displaced after the
fault, against the allowance of one control period plus the encoder's overtravel tolerance
(REQ-FLF-002).

**Mains failure** (``mains_failure``), per rate (minimum, intermediate, maximum): with 20 min of
battery, run 5 min on mains, then lose mains; weigh the outflow over minutes 6 to 13 (on
battery, before any battery alarm) against the set rate, record when battery_depleted stops the
pump and how much the mechanism pushed after that alarm (REQ-PWR-003).

The figures become tables and JSON in ``controller.bench.output``.

Rules
1. Figures only: the bench asserts nothing; tests and reports judge them.
2. Each run is an ordinary scenario (parsed by ``controller.scenario.model``), seeded, reproducible.
3. ``RATE_RANGE`` is what each procedure can run (the pump's program rates; for flow while
   stopped the runaway rates the mechanism can reach); the CLI checks ``--rates`` against it.
4. ``progress(task, done, total, note)``, when given, hears each run as it ends
   (``controller.cli.progress``): ``done == 0`` starts the task, ``done == total`` ends it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from controller.core.limits import PUMP_MAX_RATE, Limits
from controller.core.units import RATE_PER_ML_H, VU_PER_ML
from controller.scenario.model import parse
from controller.scenario.run import Runner
from controller.sensing.detect import PSI_KPA

Step = Callable[[str, int, int, str], None]
T = TypeVar("T")
R = TypeVar("R")

ACCURACY_RATES = (1.0, 25.0, 999.0)
BOLUS_ML = (0.1, 10.0)  # minimum and maximum patient bolus measured (REQ-DEL-008, FDA 2014)
OCCLUSION_RATES = (1.0, 25.0)
STOPPED_FLOW_RATES = (1.0, 100.0, 1200.0)
MAINS_RATES = (1.0, 25.0, 999.0)  # runaway rates: minimum, intermediate, the event's maximum
THRESHOLDS_PSI = (2.0, 10.0, 19.0)  # minimum, default, maximum setting (REQ-OCC-005: below 20 psi)
_PUMP = Limits()
PROGRAM_RATES = (_PUMP.min_rate / RATE_PER_ML_H, _PUMP.max_rate / RATE_PER_ML_H)  # mL/h a program may run at
MAX_PROGRAM_ML = _PUMP.max_vtbi / VU_PER_ML
RATE_RANGE = {"accuracy": PROGRAM_RATES, "occlusion": PROGRAM_RATES, "mains-failure": PROGRAM_RATES,
              "stopped-flow": (0.1, PUMP_MAX_RATE / RATE_PER_ML_H)}  # a runaway: the mechanism's ceiling
SAMPLE_S = 30
WINDOWS_MIN = (2, 5, 11, 19, 31)
BALANCE_ML = 1e-4  # 0.1 mg of water
# The outlet runs into a beaker on a balance at atmospheric pressure: no patient, so no venous
# pressure, wander, posture steps or artifacts (they move volume in and out of the line
# compliance and would be measured as flow error).
BENCH_PLANT: tuple[tuple[str, object], ...] = (
    ("venous_kpa", 0.0), ("wander_kpa", 0.0), ("posture_per_h", 0.0), ("artifacts_per_h", 0.0),
)


@dataclass(frozen=True, slots=True)
class BenchOptions:
    mechanism: str = "syringe"
    control_period_ms: int = 100
    seed: int = 0
    check: bool = False
    plant: tuple[tuple[str, object], ...] = ()  # extra [plant] settings


@dataclass(frozen=True, slots=True)
class AccuracyRun:
    rate_ml_h: float
    t_min: tuple[float, ...]  # end of each 30 s interval
    flow_ml_h: tuple[float, ...]  # measured flow over each interval
    windows_min: tuple[int, ...]
    ep_max: tuple[float, ...]
    ep_min: tuple[float, ...]
    mean_error_pct: float  # A, second hour
    startup_error_pct: float  # first hour total against the set rate
    violations: int


@dataclass(frozen=True, slots=True)
class BolusRun:
    volume_ml: float
    measured_ml: float
    error_pct: float
    violations: int


@dataclass(frozen=True, slots=True)
class OcclusionRun:
    rate_ml_h: float
    threshold_kpa: float
    detector: str  # static or trend
    time_to_alarm_s: float | None
    pressure_at_alarm_kpa: float | None
    detected_by: str | None
    latency_ms: int | None
    stored_at_alarm_ml: float | None  # the bolus there would be without relief
    relieved_ml: float
    bolus_ml: float  # measured after release
    violations: int
    trace: tuple[tuple[float, float], ...] = field(default=())  # (t_s from occlusion, true kPa)


def _base(name: str, duration_s: float, opts: BenchOptions, sample_s: float, pump: dict[str, object],
          events: list[dict[str, object]]) -> dict[str, object]:
    return {
        "name": name, "duration_s": duration_s, "control_period_ms": opts.control_period_ms, "seed": opts.seed,
        "sample_interval_s": sample_s, "check_invariants": opts.check,
        "plant": {"mechanism": opts.mechanism, **dict(BENCH_PLANT), **dict(opts.plant)}, "pump": pump,
        "event": events,
    }


def _program(rate: float, hours: float) -> dict[str, object]:
    """A program that lasts ``hours`` at ``rate``, within the largest volume a program may have."""
    return {"at_s": 0, "type": "program", "rate_ml_h": rate, "vtbi_ml": round(min(rate * hours + 1, MAX_PROGRAM_ML), 3),
            "reservoir_ml": round(min(rate * hours * 1.2 + 5, MAX_PROGRAM_ML), 3)}


def _each(task: str, items: list[T], run: Callable[[T], R], label: Callable[[T], str],
          progress: Step | None) -> list[R]:
    """Run every item in order, telling ``progress`` (rule 4)."""
    out: list[R] = []
    if progress is not None:
        progress(task, 0, len(items), "")
    for x in items:
        out.append(run(x))
        if progress is not None:
            progress(task, len(out), len(items), label(x))
    return out


def accuracy(rates: tuple[float, ...] = ACCURACY_RATES, opts: BenchOptions | None = None,
             progress: Step | None = None) -> list[AccuracyRun]:
    o = opts or BenchOptions()
    return _each("bench accuracy", list(rates), lambda r: _accuracy_one(r, o), lambda r: f"{r:g} mL/h", progress)


def _accuracy_one(rate: float, o: BenchOptions) -> AccuracyRun:
    total_s = 120 * 60
    raw = _base(f"accuracy {rate:g} mL/h", total_s, o, SAMPLE_S, {},
                [_program(rate, 2.5), {"at_s": 0, "type": "start"}])
    runner = Runner(parse(raw, f"<bench accuracy {rate:g} mL/h>"))
    res = runner.run()
    weights = [round(d / BALANCE_ML) * BALANCE_ML for (_, _, _, d, _, _, _) in res.samples]
    times = [t for (t, *_rest) in res.samples]
    flows = [(weights[i] - weights[i - 1]) * 3600 / (times[i] - times[i - 1]) for i in range(1, len(weights))]
    n_half = len(flows) // 2
    second = flows[n_half:]
    ep_max, ep_min = [], []
    for p_min in WINDOWS_MIN:
        m = p_min * 60 // SAMPLE_S
        errs = [100.0 / m * sum((q - rate) / rate for q in second[j:j + m]) for j in range(len(second) - m + 1)]
        ep_max.append(max(errs))
        ep_min.append(min(errs))
    mean_second = (weights[-1] - weights[n_half]) * 3600 / (times[-1] - times[n_half])
    first_hour = (weights[n_half] - weights[0]) * 3600 / (times[n_half] - times[0])
    return AccuracyRun(rate, tuple(t / 60 for t in times[1:]), tuple(flows), WINDOWS_MIN, tuple(ep_max),
                       tuple(ep_min), 100.0 * (mean_second - rate) / rate, 100.0 * (first_hour - rate) / rate,
                       res.n_invariant_violations + res.n_physical_violations)


def bolus_accuracy(volumes: tuple[float, ...] = BOLUS_ML, opts: BenchOptions | None = None,
                   progress: Step | None = None) -> list[BolusRun]:
    """A PCA-only program (no basal): one patient bolus at 100 mL/h, weighed until 60 s after it ends."""
    o = opts or BenchOptions()
    return _each("bench bolus", list(volumes), lambda v: _bolus_one(v, o), lambda v: f"{v:g} mL", progress)


def _bolus_one(v: float, o: BenchOptions) -> BolusRun:
    run_s = 60 + v / 100 * 3600 + 60
    raw = _base(f"bolus {v:g} mL", run_s, o, 10.0, {},
                [{"at_s": 0, "type": "program", "rate_ml_h": 0, "vtbi_ml": v * 2, "reservoir_ml": v * 3,
                  "bolus_ml": v, "lockout_s": 3600}, {"at_s": 0, "type": "start"},
                 {"at_s": 60, "type": "patient_bolus"}])
    res = Runner(parse(raw, f"<bench bolus {v:g} mL>")).run()
    assert res.plant is not None
    measured = round(res.plant.delivered_ul / 1000 / BALANCE_ML) * BALANCE_ML
    return BolusRun(v, measured, 100.0 * (measured - v) / v, res.n_invariant_violations + res.n_physical_violations)


def occlusion(rates: tuple[float, ...] = OCCLUSION_RATES, opts: BenchOptions | None = None,
              thresholds_psi: tuple[float, ...] = THRESHOLDS_PSI,
              detectors: tuple[str, ...] = ("static", "trend"), progress: Step | None = None) -> list[OcclusionRun]:
    o = opts or BenchOptions()
    runs = [(r, psi, d) for r in rates for psi in thresholds_psi for d in detectors]
    return _each("bench occlusion", runs, lambda x: _occlusion_one(x[0], x[1] * PSI_KPA, x[2], o),
                 lambda x: f"{x[0]:g} mL/h, {x[1]:g} psi, {x[2]}", progress)


def _occlusion_one(rate: float, thr: float, detector: str, o: BenchOptions) -> OcclusionRun:
    settle_ms, relief_ms, collect_ms = 300_000, 60_000, 120_000
    compliance = float(dict(o.plant).get("compliance_ml_per_kpa", 0.01))  # type: ignore[arg-type]
    expected_ms = compliance * thr / (rate / 3_600_000)  # static time to threshold (ms)
    horizon = settle_ms + int(2 * expected_ms) + 1_200_000
    raw = _base(f"occlusion {rate:g} mL/h {thr:.1f} kPa {detector}", (horizon + relief_ms + collect_ms) / 1000, o, 10.0,
                {"occlusion_threshold_kpa": round(thr, 2), "occlusion_trend": detector == "trend"},
                [_program(rate, 12.0), {"at_s": 0, "type": "start"}])
    run = Runner(parse(raw, f"<bench occlusion {rate:g} mL/h>"))
    run.advance(settle_ms)
    plant = run.plant
    relieved0 = plant.relieved_ul
    plant.occlude("downstream")
    trace: list[tuple[float, float]] = []
    alarm = None
    t = settle_ms
    while t < horizon and alarm is None:
        t += 1000
        run.advance(t)
        trace.append(((t - settle_ms) / 1000, plant.pressure_kpa))
        alarm = next((a for a in run.res.alarms if a.alarm == "occlusion_downstream" and a.at_ms >= settle_ms), None)
    det = next((d for d in plant.sensing.log if d.site == "downstream" and d.reason != "clear"
                and d.t_ms >= settle_ms), None)
    t_rel = (alarm.at_ms if alarm is not None else t) + relief_ms
    for tt in range(t + 1000, t_rel + 1, 1000):
        run.advance(tt)
        trace.append(((tt - settle_ms) / 1000, plant.pressure_kpa))
    run.advance(t_rel)
    plant.release("downstream")
    w0 = plant.delivered_ul
    for tt in range(t_rel + 1000, t_rel + collect_ms + 1, 1000):
        run.advance(tt)
        trace.append(((tt - settle_ms) / 1000, plant.pressure_kpa))
    bolus = round((plant.delivered_ul - w0) / 1000 / BALANCE_ML) * BALANCE_ML
    res = run.finish()
    stored = None
    if alarm is not None:
        stored = compliance * max(0.0, alarm.pressure_kpa - plant.params.venous_kpa)
    return OcclusionRun(
        rate_ml_h=rate, threshold_kpa=thr, detector=detector,
        time_to_alarm_s=(alarm.at_ms - settle_ms) / 1000 if alarm is not None else None,
        pressure_at_alarm_kpa=alarm.pressure_kpa if alarm is not None else None,
        detected_by=det.reason if det is not None else None,
        latency_ms=alarm.at_ms - det.t_ms if alarm is not None and det is not None else None,
        stored_at_alarm_ml=stored, relieved_ml=(plant.relieved_ul - relieved0) / 1000, bolus_ml=bolus,
        violations=res.n_invariant_violations + res.n_physical_violations, trace=tuple(trace),
    )


@dataclass(frozen=True, slots=True)
class StoppedFlowRun:
    runaway_ml_h: float
    control_period_ms: int
    time_to_alarm_ms: int | None
    final_state: str
    leaked_ul: float  # displaced by the mechanism after the fault
    allowance_ul: float  # one control period at the runaway rate + the overtravel tolerance + one step
    violations: int


def stopped_flow(rates: tuple[float, ...] = STOPPED_FLOW_RATES, opts: BenchOptions | None = None,
                 progress: Step | None = None) -> list[StoppedFlowRun]:
    o = opts or BenchOptions()
    return _each("bench stopped-flow", list(rates), lambda r: _stopped_flow_one(r, o),
                 lambda r: f"runaway {r:g} mL/h", progress)


def _stopped_flow_one(rate: float, o: BenchOptions) -> StoppedFlowRun:
    pause_ms, fault_ms, end_ms = 60_000, 90_000, 150_000
    raw = _base(f"flow while stopped, runaway {rate:g} mL/h", end_ms / 1000, o, 10.0, {},
                [_program(25.0, 1.0), {"at_s": 0, "type": "start"}, {"at_s": pause_ms / 1000, "type": "pause"},
                 {"at_s": fault_ms / 1000, "type": "motor_runaway", "rate_ml_h": rate}])
    run = Runner(parse(raw, f"<bench stopped flow {rate:g} mL/h>"))
    run.advance(fault_ms - 1)
    pushed0 = run.plant.pushed_ul
    run.advance(end_ms)
    leaked = run.plant.pushed_ul - pushed0
    res = run.finish()
    alarm = next((a for a in res.alarms if a.alarm == "motor_fault"), None)
    step_ul = run.plant.params.ul_per_step
    allowance = rate * o.control_period_ms / 3600.0 + (run.plant.sensing.cfg.overtravel_steps + 1) * step_ul
    return StoppedFlowRun(rate, o.control_period_ms, alarm.at_ms - fault_ms if alarm is not None else None,
                          res.final_state, leaked, allowance, res.n_invariant_violations + res.n_physical_violations)


@dataclass(frozen=True, slots=True)
class MainsFailureRun:
    rate_ml_h: float
    battery_rate_error_pct: float  # outflow over minutes 6-13 (on battery) against the set rate
    depleted_after_s: float | None  # from mains loss to the battery_depleted alarm
    battery_left_min: float | None  # true charge left when the alarm stopped the pump
    pushed_after_alarm_ul: float  # mechanism movement after the alarm
    final_state: str
    violations: int


def mains_failure(rates: tuple[float, ...] = MAINS_RATES, opts: BenchOptions | None = None,
                  progress: Step | None = None) -> list[MainsFailureRun]:
    o = opts or BenchOptions()
    return _each("bench mains-failure", list(rates), lambda r: _mains_failure_one(r, o), lambda r: f"{r:g} mL/h",
                 progress)


def _mains_failure_one(rate: float, o: BenchOptions) -> MainsFailureRun:
    loss_ms, w0_ms, w1_ms, end_ms = 300_000, 360_000, 780_000, 1_500_000
    raw = _base(f"mains failure {rate:g} mL/h", end_ms / 1000, o, 60.0, {},
                [_program(rate, 1.0), {"at_s": 0, "type": "start"}, {"at_s": loss_ms / 1000, "type": "mains_loss"}])
    raw["plant"] = {**raw["plant"], "battery_min": 20.0}  # type: ignore[dict-item]
    run = Runner(parse(raw, f"<bench mains failure {rate:g} mL/h>"))
    run.advance(w0_ms)
    d0 = run.plant.delivered_ul
    run.advance(w1_ms)
    measured_ml_h = (run.plant.delivered_ul - d0) / 1000 / ((w1_ms - w0_ms) / 3_600_000)
    alarm_at, left, pushed_at = None, None, 0.0
    t = w1_ms
    while t < end_ms:
        t = min(end_ms, t + 1_000)
        run.advance(t)
        if alarm_at is None and any(a.alarm == "battery_depleted" for a in run.res.alarms):
            alarm_at, left, pushed_at = t, run.plant.battery, run.plant.pushed_ul
    res = run.finish()
    first = next((a.at_ms for a in res.alarms if a.alarm == "battery_depleted"), None)
    return MainsFailureRun(
        rate, 100.0 * (measured_ml_h - rate) / rate, None if first is None else (first - loss_ms) / 1000,
        left, 0.0 if alarm_at is None else run.plant.pushed_ul - pushed_at, res.final_state,
        res.n_invariant_violations + res.n_physical_violations)
