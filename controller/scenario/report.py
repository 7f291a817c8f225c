"""What a scenario run produced: JSON, the ``[expect]`` verdict and a one-screen summary.

Theory of operation
-------------------
``to_json`` turns a ``Result`` into the documented JSON (``name``,
``final_state``, ``delivered_ml``, ``alarms``, ``refusals``, ``boluses``,
``unintended_bolus_ml``, ``samples``; plus the physical truth, occlusion latencies,
invariant and physical-truth checks, every program the core accepted with ``basic_infusion``
(no drug selected: the care area's limits, ``care_area``; or the pump's alone without a
library), the times of every ``new_line`` and how the run was simulated: ``simulation.mode``
(``skipping`` or ``period_by_period``), the control periods the controller ran, the blocks of
quiet periods and the periods inside them, the core steps). ``verdict`` compares a result with the scenario's
``[expect]`` table and returns every failed expectation as a sentence.

Rules
1. An invariant violation or a physical-truth violation always fails the verdict, whatever
   ``[expect]`` says.
2. Volumes in the JSON are the physical truth (``delivered_ml``: what reached the patient);
   what the core accounted is ``accounted_ml``. Times are seconds from the start.
3. The JSON never contains NaN or the wall-clock time, so two runs compare equal.
4. The JSON keys are a public interface: keys are added, never renamed or dropped.
"""

from __future__ import annotations

import math

from controller.scenario.model import Scenario
from controller.scenario.run import ProgramRecord, Result


def _f(x: float | None, places: int = 6) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(x, places)


def _finite(x: object) -> object:
    return None if isinstance(x, float) and not math.isfinite(x) else x


def to_json(res: Result) -> dict[str, object]:
    p = res.plant
    assert p is not None
    releases = [{"at_s": r.t_ms / 1000, "site": r.site, "bolus_ml": _f(r.bolus_ul / 1000),
                 "pressure_kpa": _f(r.pressure_kpa, 3)} for r in p.releases]
    return {
        "name": res.name,
        "scenario": res.path,
        "seed": res.seed,
        "duration_s": res.duration_ms / 1000,
        "control_period_ms": res.control_period_ms,
        "final_state": res.final_state,
        "delivered_ml": _f(p.delivered_ul / 1000),
        "accounted_ml": _f(res.accounted_ml),
        "pushed_ml": _f(p.pushed_ul / 1000),
        "primed_ml": _f(p.line.to_waste / 1000),
        "relieved_ml": _f(p.relieved_ul / 1000),
        "unintended_bolus_ml": _f(sum(r.bolus_ul for r in p.releases) / 1000),
        "max_pressure_kpa": _f(p.max_kpa, 3),
        "air_passed_ul": _f(p.line.air_passed, 3),
        "alarms": [{"at_s": a.at_ms / 1000, "alarm": a.alarm, "priority": a.priority,
                    "cleared_at_s": a.cleared_ms / 1000 if a.cleared_ms is not None else None,
                    "pressure_kpa": _f(a.pressure_kpa, 3)} for a in res.alarms],
        "refusals": [{"at_s": t / 1000, "event": e, "reason": r} for t, e, r in res.refusals],
        "boluses": [{"at_s": t / 1000, "kind": k, "volume_ml": _f(v)} for t, k, v in res.boluses],
        "programs": [{"at_s": r.at_ms / 1000, "basic_infusion": r.basic, "care_area": r.care_area,
                      "drug": r.drug, "entry_code": r.entry_code} for r in res.programs],
        "new_lines": [{"at_s": t / 1000} for t in res.new_lines],
        "occlusions": [{k: _finite(v) for k, v in o.items()} for o in res.occlusions],  # a failed sensor's NaN
        "occlusion_releases": releases,
        "power": [{"at_s": t / 1000, "what": w} for t, w in res.power],
        "simulation": {
            "mode": "skipping" if res.skipping else "period_by_period", "control_periods": res.periods,
            "core_steps": res.steps, "blocks": res.blocks, "periods_in_blocks": res.block_periods,
        },
        "invariants": {
            "checked": res.checked, "core_steps": res.steps, "violations": res.n_invariant_violations,
            "first": [{"at_s": t / 1000, "event": e, "state": s, "broken": b}
                      for t, e, s, b in res.invariant_violations],
        },
        "physical_truth": {
            "violations": res.n_physical_violations,
            "first": [{"at_s": t / 1000, "what": w} for t, w in res.physical_violations],
        },
        "samples": [{"t_s": t, "state": s, "rate_ml_h": _f(r, 4), "delivered_ml": _f(d), "accounted_ml": _f(a),
                     "pressure_kpa": _f(pk, 3), "sensed_kpa": _f(sk, 3)} for t, s, r, d, a, pk, sk in res.samples],
    }


def verdict(sc: Scenario, res: Result) -> list[str]:
    """Every failed expectation, as a sentence (empty: the scenario passed)."""
    x = sc.expect
    out: list[str] = []
    p = res.plant
    assert p is not None
    if res.n_invariant_violations:
        t0, kind, state, broken = res.invariant_violations[0]
        out.append(f"{res.n_invariant_violations} invariant violations, first at {t0 / 1000:g} s: {broken}"
                   f" after {kind} in {state}")
    if res.n_physical_violations:
        out.append(f"{res.n_physical_violations} physical-truth violations, first: {res.physical_violations[0][1]}")
    if x.final_state is not None and res.final_state != x.final_state:
        out.append(f"final_state {res.final_state}, expected {x.final_state}")
    raised = {a.alarm for a in res.alarms}
    out += [f"alarm {a} was never raised" for a in x.alarms if a not in raised]
    out += [f"alarm {a} was raised" for a in x.not_alarms if a in raised]
    codes = {r.split(":", 1)[0] for _, _, r in res.refusals}
    out += [f"no refusal {c!r} (refusals: {sorted(codes)})" for c in x.refusals if c not in codes]
    if x.max_refusals is not None and len(res.refusals) > x.max_refusals:
        out.append(f"{len(res.refusals)} refusals, at most {x.max_refusals} expected: {res.refusals[:3]}")
    for kind, n in x.boluses.items():
        got = sum(1 for _, k, _ in res.boluses if k == kind)
        if got != n:
            out.append(f"{got} {kind} boluses, expected {n}")
    delivered = p.delivered_ul / 1000
    if x.min_delivered_ml is not None and delivered < x.min_delivered_ml:
        out.append(f"delivered {delivered:.4f} mL < {x.min_delivered_ml} mL")
    if x.max_delivered_ml is not None and delivered > x.max_delivered_ml:
        out.append(f"delivered {delivered:.4f} mL > {x.max_delivered_ml} mL")
    bolus = sum(r.bolus_ul for r in p.releases) / 1000
    if x.max_unintended_bolus_ml is not None and bolus > x.max_unintended_bolus_ml:
        out.append(f"unintended bolus {bolus:.4f} mL > {x.max_unintended_bolus_ml} mL")
    if x.max_pressure_kpa is not None and p.max_kpa > x.max_pressure_kpa:
        out.append(f"max pressure {p.max_kpa:.2f} kPa > {x.max_pressure_kpa} kPa")
    for alarm, within in x.alarm_within_s.items():
        at = next((a.at_ms for a in res.alarms if a.alarm == alarm), None)
        if at is None or at / 1000 > within:
            out.append(f"alarm {alarm} not raised by {within:g} s (first: {None if at is None else at / 1000})")
    for reason, n in x.min_occlusion_detections.items():
        got = sum(1 for o in res.occlusions if o["reason"] == reason)
        if got < n:
            out.append(f"{got} occlusion detections by {reason}, at least {n} expected")
    return out


def _label(r: ProgramRecord) -> str:
    if not r.basic:
        return f"{r.drug or 'library drug'} (library entry {r.entry_code})"
    if r.care_area is None:
        return "BASIC INFUSION, no drug selected (no library: pump limits only)"
    return f"BASIC INFUSION, no drug selected (care area {r.care_area}'s limits)"


def summary(sc: Scenario, res: Result, failures: list[str]) -> str:
    p = res.plant
    assert p is not None
    mode = (f"quiet periods skipped ({res.block_periods} of {res.periods} periods in {res.blocks} blocks)"
            if res.skipping else "period by period")
    lines = [
        f"{res.name}: {res.duration_ms / 1000:g} s simulated in {res.wall_s:.2f} s wall "
        f"({res.duration_ms / 1000 / max(res.wall_s, 1e-9):,.0f}x), period {res.control_period_ms} ms, "
        f"seed {res.seed}, {mode}",
        f"  final state {res.final_state}; delivered {p.delivered_ul / 1000:.4f} mL"
        f" (accounted {res.accounted_ml:.4f} mL); max pressure {p.max_kpa:.1f} kPa",
    ]
    for r in res.programs:
        lines.append(f"  {r.at_ms / 1000:10.1f} s  program: {_label(r)}")
    for t in res.new_lines:
        lines.append(f"  {t / 1000:10.1f} s  new patient line: the dose history of the old one ends")
    for a in res.alarms:
        cleared = f", cleared {a.cleared_ms / 1000:g} s" if a.cleared_ms is not None else ""
        lines.append(f"  {a.at_ms / 1000:10.1f} s  alarm {a.alarm} ({a.priority}){cleared}")
    for t, e, why in res.refusals[:20]:
        lines.append(f"  {t / 1000:10.1f} s  refused {e}: {why}")
    if len(res.refusals) > 20:
        lines.append(f"  ... {len(res.refusals) - 20} more refusals")
    for o in res.occlusions:
        lines.append(f"  occlusion {o['site']} by {o['reason']} at {o['criterion_at_s']} s,"
                     f" alarm latency {o['latency_ms']} ms")
    for rel in p.releases:
        lines.append(f"  release at {rel.t_ms / 1000:g} s: unintended bolus {rel.bolus_ul / 1000:.4f} mL")
    inv = (f"{res.n_invariant_violations} invariant violations in {res.steps} core steps" if res.checked
           else f"invariants not checked ({res.steps} core steps)")
    lines.append(f"  {inv}; {res.n_physical_violations} physical-truth violations")
    lines += [f"  FAIL {f}" for f in failures]
    lines.append("  PASS" if not failures else f"  {len(failures)} expectation(s) failed")
    return "\n".join(lines)
