"""The bench's figures as text tables and JSON (``controller.bench.procedures`` runs them).

Rules
1. Tables are for people (fixed columns, one run a line, violations flagged); JSON keeps every
   figure, rounded only where the measurement itself is coarser.
"""

from __future__ import annotations

from controller.bench.procedures import (
    WINDOWS_MIN,
    AccuracyRun,
    BolusRun,
    MainsFailureRun,
    OcclusionRun,
    StoppedFlowRun,
)
from controller.sensing.detect import PSI_KPA


def mains_failure_json(runs: list[MainsFailureRun]) -> list[dict[str, object]]:
    return [{"rate_ml_h": r.rate_ml_h, "battery_rate_error_pct": round(r.battery_rate_error_pct, 3),
             "depleted_after_s": r.depleted_after_s,
             "battery_left_min": None if r.battery_left_min is None else round(r.battery_left_min, 2),
             "pushed_after_alarm_ul": round(r.pushed_after_alarm_ul, 3), "final_state": r.final_state,
             "violations": r.violations} for r in runs]


def mains_failure_table(runs: list[MainsFailureRun]) -> str:
    lines = ["mains failure with 20 min of battery (mains lost after 5 min)",
             "rate mL/h  error on battery %  battery_depleted after s  battery left min  pushed after uL  state"]
    lines += [f"{r.rate_ml_h:9g}  {r.battery_rate_error_pct:+17.3f}  "
              f"{'-' if r.depleted_after_s is None else f'{r.depleted_after_s:.0f}':>24}  "
              f"{'-' if r.battery_left_min is None else f'{r.battery_left_min:.1f}':>16}  "
              f"{r.pushed_after_alarm_ul:15.3f}  {r.final_state}"
              + (f"  [{r.violations} violations]" if r.violations else "") for r in runs]
    return "\n".join(lines)


def stopped_flow_json(runs: list[StoppedFlowRun]) -> list[dict[str, object]]:
    return [{"runaway_ml_h": r.runaway_ml_h, "control_period_ms": r.control_period_ms,
             "time_to_alarm_ms": r.time_to_alarm_ms, "final_state": r.final_state,
             "leaked_ul": round(r.leaked_ul, 3), "allowance_ul": round(r.allowance_ul, 3),
             "violations": r.violations} for r in runs]


def accuracy_table(runs: list[AccuracyRun]) -> str:
    head = "rate mL/h   A %    start-up %  " + "  ".join(f"{p:>2d} min max/min %" for p in WINDOWS_MIN)
    lines = ["IEC 60601-2-24 flow accuracy (simulated; 30 s gravimetric samples, 120 min)", head]
    for r in runs:
        cells = "  ".join(f"{mx:+6.2f}/{mn:+6.2f}   " for mx, mn in zip(r.ep_max, r.ep_min, strict=True))
        lines.append(f"{r.rate_ml_h:9g} {r.mean_error_pct:+7.3f} {r.startup_error_pct:+9.3f}    {cells}"
                     + (f"  [{r.violations} violations]" if r.violations else ""))
    return "\n".join(lines)


def bolus_table(runs: list[BolusRun]) -> str:
    lines = ["bolus volume accuracy (patient bolus at 100 mL/h, no basal, weighed to 60 s after its end)"]
    lines += [f"  {r.volume_ml:6g} mL bolus: {r.measured_ml:.4f} mL delivered ({r.error_pct:+.2f} %)"
              + (f"  [{r.violations} violations]" if r.violations else "") for r in runs]
    return "\n".join(lines)


def stopped_flow_table(runs: list[StoppedFlowRun]) -> str:
    lines = ["flow while the motor is commanded stopped (runaway driver stage 30 s into a pause)",
             "runaway mL/h  alarm after ms  final state  leaked uL  allowance uL"]
    lines += [f"{r.runaway_ml_h:12g}  {'-' if r.time_to_alarm_ms is None else r.time_to_alarm_ms:>13}  "
              f"{r.final_state:11s}  {r.leaked_ul:9.3f}  {r.allowance_ul:12.3f}"
              + (f"  [{r.violations} violations]" if r.violations else "") for r in runs]
    return "\n".join(lines)


def occlusion_table(runs: list[OcclusionRun]) -> str:
    lines = ["IEC 60601-2-24 occlusion (simulated; stopcock closed after 5 min, released 60 s after the alarm)",
             "rate mL/h  threshold kPa (psi)  detector  time to alarm s  P at alarm kPa  latency ms  "
             "bolus w/o relief mL  relieved mL  bolus mL"]
    for r in runs:
        tta = f"{r.time_to_alarm_s:15.1f}" if r.time_to_alarm_s is not None else "   no alarm    "
        pa = f"{r.pressure_at_alarm_kpa:14.2f}" if r.pressure_at_alarm_kpa is not None else " " * 14
        lat = f"{r.latency_ms:10d}" if r.latency_ms is not None else " " * 10
        st = f"{r.stored_at_alarm_ml:19.4f}" if r.stored_at_alarm_ml is not None else " " * 19
        lines.append(f"{r.rate_ml_h:9g}  {r.threshold_kpa:8.2f} ({r.threshold_kpa / PSI_KPA:4.1f})    "
                     f"{r.detector:8s}  {tta}  {pa}  {lat}  {st}  {r.relieved_ml:11.4f}  {r.bolus_ml:8.4f}"
                     + (f"  [{r.violations} violations]" if r.violations else ""))
    for rate in sorted({r.rate_ml_h for r in runs}):
        for thr in sorted({r.threshold_kpa for r in runs}):
            pair = {r.detector: r for r in runs if r.rate_ml_h == rate and r.threshold_kpa == thr}
            s, tr = pair.get("static"), pair.get("trend")
            if s and tr and s.time_to_alarm_s and tr.time_to_alarm_s:
                lines.append(f"trend vs static at {rate:g} mL/h, {thr:.1f} kPa: {tr.time_to_alarm_s:.0f} s vs "
                             f"{s.time_to_alarm_s:.0f} s ({tr.time_to_alarm_s / s.time_to_alarm_s:.3f} of the time)")
    return "\n".join(lines)


def accuracy_json(runs: list[AccuracyRun]) -> list[dict[str, object]]:
    return [{"rate_ml_h": r.rate_ml_h, "mean_error_pct": round(r.mean_error_pct, 4),
             "startup_error_pct": round(r.startup_error_pct, 4),
             "trumpet": [{"window_min": p, "ep_max_pct": round(mx, 4), "ep_min_pct": round(mn, 4)}
                         for p, mx, mn in zip(r.windows_min, r.ep_max, r.ep_min, strict=True)],
             "startup": [{"t_min": t, "flow_ml_h": round(q, 5)} for t, q in zip(r.t_min, r.flow_ml_h, strict=True)],
             "violations": r.violations} for r in runs]


def bolus_json(runs: list[BolusRun]) -> list[dict[str, object]]:
    return [{"volume_ml": r.volume_ml, "measured_ml": r.measured_ml, "error_pct": round(r.error_pct, 4),
             "violations": r.violations} for r in runs]


def occlusion_json(runs: list[OcclusionRun]) -> list[dict[str, object]]:
    return [{"rate_ml_h": r.rate_ml_h, "threshold_kpa": round(r.threshold_kpa, 3), "detector": r.detector,
             "time_to_alarm_s": r.time_to_alarm_s, "pressure_at_alarm_kpa": r.pressure_at_alarm_kpa,
             "detected_by": r.detected_by, "latency_ms": r.latency_ms, "stored_at_alarm_ml": r.stored_at_alarm_ml,
             "relieved_ml": round(r.relieved_ml, 5), "bolus_ml": r.bolus_ml, "violations": r.violations}
            for r in runs]
