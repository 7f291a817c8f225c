"""Aggregate campaign results per fault kind, and print or serialise the figures.

Theory of operation
-------------------
Each infusion ends in exactly one *outcome*, the first that applies of:

1. ``error``: the simulation itself crashed (a campaign failure);
2. ``post_failed``: the power-on self-test failed and the pump stayed FAILED;
3. ``failsafe``: the controller latched FAILSAFE at some point (it may have been power-cycled
   back into service later: ``failsafe_recovered`` counts those);
4. ``off``: the pump ended switched off (battery exhausted, mains never back);
5. ``restored``: the pump came back from a power loss, from its snapshot;
6. ``alarm``: an alarm other than the routine ones (``ROUTINE_ALARMS``) was raised at or
   after the first fault;
7. ``refused``: a clinician's action was refused after the first fault while the pump was not
   delivering (stopped, paused, in alarm, latched or off): the fault kept therapy from going
   on. A scheduled reaction refused while the pump runs (nothing to acknowledge or resume)
   and patient bolus requests refused by lockout or hourly count are routine, not counted;
8. ``no_effect``: none of these - the fault was masked, harmless, or happened while nothing
   it could affect was going on.

``aggregate`` tallies outcomes, final states, alarms and refusal reasons per fault kind (the
infusions with that kind as their only fault; ``compound`` infusions have their own row,
``none`` is the fault-free control group) and per (kind, variant), and sums the campaign
totals: simulated hours, steps checked, violations, event-log checks.

Rules
1. Pure: results in, figures out; the same results give the same figures, bit for bit.
2. Every figure is labelled with what it is: "N infusions", "checked steps of all steps",
   "simulated hours" (time actually simulated, not planned).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from controller.campaign.faults import FAULT_KINDS, GROUPS
from controller.campaign.plan import SLOTS
from controller.campaign.runner import InfusionResult

OUTCOMES = ("error", "post_failed", "failsafe", "off", "restored", "alarm", "refused", "no_effect")
HEADS = (*OUTCOMES[1:], "FS>ok", "inv", "phys")  # table columns after the totals
ROUTINE_ALARMS = frozenset({"vtbi_complete", "near_end", "reservoir_low", "paused_too_long", "callback"})
ROUTINE_REFUSALS = frozenset({"patient_bolus"})
DELIVERING = frozenset({"RUNNING", "BOLUS", "KVO", "PRIMING"})
MAX_VIOLATIONS = 20
H = 3_600_000


def fault_alarms(r: InfusionResult) -> list[str]:
    first = r.first_fault_ms
    return [a for a, t in r.alarms if t >= first and a not in ROUTINE_ALARMS]


def clinician_refusals(r: InfusionResult) -> list[tuple[str, str, str, int]]:
    """Refusals of a clinician's action while the pump was not delivering, from the first fault on."""
    return [x for x in r.refusals_after if x[0] not in ROUTINE_REFUSALS and x[2] not in DELIVERING]


def screw_explained(r: InfusionResult) -> bool:
    """Every physical violation of ``r`` is a therapy overrun within the syringe lead screw's
    peak-to-peak error, the term the runner's tolerance omits (see campaign_runner rule 3)."""
    return (r.physical_violations > 0 and r.physical_violations == r.therapy_overruns
            and r.therapy_over_ul <= r.screw_pp_ul)


def outcome(r: InfusionResult) -> str:
    if r.error:
        return "error"
    if r.final_state == "FAILED":
        return "post_failed"
    if r.failsafe_ms is not None:
        return "failsafe"
    if r.final_state == "OFF":
        return "off"
    if r.restored:
        return "restored"
    if fault_alarms(r):
        return "alarm"
    if clinician_refusals(r):
        return "refused"
    return "no_effect"


@dataclass(frozen=True, slots=True)
class Row:
    """The figures of one fault kind (or one variant of it)."""

    kind: str
    variant: str
    group: str
    infusions: int  # with this as their only fault (or in this slot)
    injected: int  # injections of this kind, compound infusions included
    simulated_h: float
    outcomes: tuple[tuple[str, int], ...]
    final_states: tuple[tuple[str, int], ...]
    alarms: tuple[tuple[str, int], ...]  # infusions raising each non-routine alarm after the fault
    refusals: tuple[tuple[str, int], ...]  # infusions with each clinician refusal reason after the fault
    failsafe: int
    failsafe_recovered: int
    restored: int
    invariant_violations: int
    physical_violations: int
    errors: int

    def count(self, name: str) -> int:
        return dict(self.outcomes).get(name, 0)


def _row(kind: str, variant: str, rs: Sequence[InfusionResult], injected: int) -> Row:
    outcomes, finals, alarms, refusals = Counter[str](), Counter[str](), Counter[str](), Counter[str]()
    for r in rs:
        outcomes[outcome(r)] += 1
        finals[r.final_state or "ERROR"] += 1
        alarms.update(set(fault_alarms(r)))
        refusals.update({f"{e} in {state}: {reason}" for e, reason, state, _ in clinician_refusals(r)})
    return Row(
        kind, variant, "control" if kind == "none" else GROUPS.get(kind, kind), len(rs), injected,
        round(sum(r.simulated_ms for r in rs) / H, 3),
        tuple((o, outcomes[o]) for o in OUTCOMES if outcomes[o]), tuple(sorted(finals.items())),
        tuple(alarms.most_common()), tuple(refusals.most_common()),
        sum(r.failsafe_ms is not None for r in rs),
        sum(r.failsafe_ms is not None and r.final_state not in ("FAILSAFE", "OFF", "") for r in rs),
        sum(r.restored > 0 for r in rs), sum(r.invariant_violations for r in rs),
        sum(r.physical_violations for r in rs), sum(bool(r.error) for r in rs),
    )


@dataclass(frozen=True, slots=True)
class Totals:
    infusions: int
    simulated_h: float
    planned_h: float
    stopped_early: int
    state_h: tuple[tuple[str, float], ...]  # controller time per state; OFF = simulated - powered
    steps: int
    checked_steps: int
    full_check_infusions: int
    invariant_violations: int
    physical_violations: int
    physical_infusions: int  # infusions with at least one physical-truth violation
    screw_explained: int  # of those: therapy overruns within the lead screw error (tolerance gap)
    therapy_over_max_ul: float  # largest therapy excess beyond the runner's tolerance
    errors: int
    stop_flow_max_ul: float
    delivered_l: float
    logs: int
    log_records: int
    log_steps: int
    log_steps_accounted: int
    logs_intact: int
    link_refused: int
    link_silenced: int

    @property
    def checked_fraction(self) -> float:
        return self.checked_steps / self.steps if self.steps else 0.0

    @property
    def ok(self) -> bool:
        return self.physical_violations == 0 and self.ok_but_physical

    @property
    def ok_but_physical(self) -> bool:
        return (self.invariant_violations == 0 and self.errors == 0 and self.logs_intact == self.logs
                and self.log_steps == self.log_steps_accounted)

    @property
    def ok_but_screw_term(self) -> bool:
        """Everything holds once the runner's tolerance includes the lead-screw term."""
        return self.ok_but_physical and self.physical_infusions == self.screw_explained


@dataclass(frozen=True, slots=True)
class Report:
    seed: int
    target_h: float
    settings: dict[str, Any]
    totals: Totals
    kinds: tuple[Row, ...]
    variants: tuple[Row, ...]
    violations: tuple[dict[str, Any], ...]


def _totals(rs: Sequence[InfusionResult]) -> Totals:
    state: Counter[str] = Counter()
    for r in rs:
        state.update(dict(r.state_ms))
    sim = sum(r.simulated_ms for r in rs)
    state["OFF"] = sim - sum(state.values())
    logs = [r.log for r in rs if r.log is not None]
    return Totals(
        len(rs), round(sim / H, 3), round(sum(r.planned_ms for r in rs) / H, 3), sum(r.stopped_early for r in rs),
        tuple((s, round(ms / H, 3)) for s, ms in sorted(state.items(), key=lambda x: -x[1]) if ms),
        sum(r.steps for r in rs), sum(r.checked_steps for r in rs), sum(r.full_check for r in rs),
        sum(r.invariant_violations for r in rs), sum(r.physical_violations for r in rs),
        sum(r.physical_violations > 0 for r in rs), sum(screw_explained(r) for r in rs),
        round(max((r.therapy_over_ul for r in rs if r.therapy_overruns), default=0.0), 6),
        sum(bool(r.error) for r in rs),
        max((r.stop_flow_max_ul for r in rs), default=0.0), round(sum(r.delivered_ml for r in rs) / 1000, 3),
        len(logs), sum(g.records for g in logs), sum(g.steps for g in logs), sum(g.accounted for g in logs),
        sum(g.intact for g in logs), sum(r.link_refused for r in rs), sum(r.link_silenced for r in rs),
    )


def aggregate(results: Iterable[InfusionResult], seed: int, target_h: float, settings: dict[str, Any]) -> Report:
    rs = sorted(results, key=lambda r: r.index)
    injected = Counter(k for r in rs for k, _, _ in r.faults)
    by_slot: dict[str, list[InfusionResult]] = {s: [] for s in SLOTS}
    by_variant: dict[tuple[str, str], list[InfusionResult]] = {}
    for r in rs:
        by_slot.setdefault(r.slot, []).append(r)
        if r.slot not in ("none", "compound") and r.faults:
            by_variant.setdefault((r.slot, r.faults[0][1]), []).append(r)
    kinds = tuple(_row(s, "*", by_slot[s], injected.get(s, 0)) for s in SLOTS)
    order = {k: i for i, k in enumerate(FAULT_KINDS)}
    variants = tuple(_row(k, v, by_variant[(k, v)], 0)
                     for k, v in sorted(by_variant, key=lambda kv: (order.get(kv[0], 99), kv[1])))
    bad = []
    for r in rs:
        if r.invariant_violations or r.physical_violations or r.error or (r.log is not None and not r.log.ok):
            bad.append({"index": r.index, "seed": r.seed, "slot": r.slot, "faults": [list(f) for f in r.faults],
                        "invariants": list(r.invariant_examples), "physical": list(r.physical_examples),
                        "screw_explained": screw_explained(r), "therapy_over_ul": r.therapy_over_ul,
                        "screw_pp_ul": r.screw_pp_ul,
                        "error": r.error, "log": asdict(r.log) if r.log is not None else None})
    return Report(seed, target_h, settings, _totals(rs), kinds, variants, tuple(bad[:MAX_VIOLATIONS]))


def to_json(report: Report) -> dict[str, Any]:
    t = report.totals
    return {
        "claim": claim(report),
        "seed": report.seed, "target_hours": report.target_h, "settings": report.settings,
        "totals": {**asdict(t), "checked_fraction": round(t.checked_fraction, 6), "ok": t.ok,
                   "ok_but_screw_term": t.ok_but_screw_term,
                   "state_h": dict(t.state_h)},
        "kinds": [_row_json(r) for r in report.kinds],
        "variants": [_row_json(r) for r in report.variants],
        "violations": list(report.violations),
    }


def _row_json(r: Row) -> dict[str, Any]:
    d = asdict(r)
    for k in ("outcomes", "final_states", "alarms", "refusals"):
        d[k] = dict(getattr(r, k))
    return d


def claim(report: Report) -> str:
    t, s = report.totals, report.settings
    if t.ok:
        verdict = "no invariant broken, no physical-truth violation, every sampled log intact and complete"
    elif t.ok_but_screw_term:
        verdict = (f"no invariant broken, every sampled log intact and complete; PHYSICAL-TRUTH CHECK FAILED in "
                   f"{t.physical_infusions} infusions, all therapy overruns at most {t.therapy_over_max_ul:.3f} uL "
                   f"beyond the runner's stated tolerance and within the syringe lead-screw error it omits")
    else:
        verdict = "FAILURES FOUND (see violations)"
    return (f"{t.infusions} simulated infusions, {t.simulated_h:.1f} simulated hours, campaign seed {report.seed}, "
            f"control period {s['control_period_ms']} ms{_mode(s)}: {verdict}. Invariants checked on "
            f"{t.checked_steps} of "
            f"{t.steps} steps ({100 * t.checked_fraction:.2f} %: every step of {t.full_check_infusions} sampled "
            f"infusions, every non-quiet step of all); physical truth checked every control period of every "
            f"infusion; {t.logs} infusions logged and verified. Random testing, not a proof: "
            + ("no counterexample found." if t.ok else "see the violations for the counterexamples found."))


def _mode(settings: dict[str, object]) -> str:
    mode = settings.get("mode")
    return {"skipping": " (quiet periods skipped)", "period_by_period": " (period by period)"}.get(str(mode), "")


def _top(pairs: tuple[tuple[str, int], ...], n: int = 3) -> str:
    return ", ".join(f"{k} {v}" for k, v in pairs[:n]) or "-"


def table(report: Report, variants: bool = True) -> str:
    """One line per fault kind (then per variant): infusions, outcomes, violations, top alarms."""
    cols = ("kind", "group", "n", "inj", "sim h", *HEADS)
    head = (f"{cols[0]:36s} {cols[1]:11s} {cols[2]:>5s} {cols[3]:>5s} {cols[4]:>8s} "
            + " ".join(f"{c:>{max(5, len(c))}s}" for c in cols[5:]) + "  top alarms after the fault | final states")
    lines = [head, "-" * len(head)]
    for r in report.kinds:
        lines.append(_line(r.kind, r))
    if variants and report.variants:
        lines += ["", "by variant (infusions with that single fault):"]
        lines += [_line(f"  {r.kind}/{r.variant}", r) for r in report.variants]
    return "\n".join(lines)


def _line(name: str, r: Row) -> str:
    cells = [r.count(o) for o in OUTCOMES[1:]] + [r.failsafe_recovered, r.invariant_violations,
                                                  r.physical_violations]
    inj = str(r.injected) if r.variant == "*" else ""
    finals = tuple(sorted(r.final_states, key=lambda x: -x[1]))
    return (f"{name[:36]:36s} {r.group:11s} {r.infusions:5d} {inj:>5s} {r.simulated_h:8.1f} "
            + " ".join(f"{c:{max(5, len(h))}d}" for c, h in zip(cells, HEADS, strict=True))
            + f"  {_top(r.alarms)} | {_top(finals)}")


def summary(report: Report) -> str:
    t = report.totals
    states = ", ".join(f"{s} {h:.0f} h" for s, h in t.state_h)
    return "\n".join([
        claim(report),
        f"simulated {t.simulated_h:.1f} h of {t.planned_h:.1f} h planned ({t.stopped_early} infusions stopped early "
        f"once latched or off with nothing left to restart them); time by state: {states}",
        f"invariant violations {t.invariant_violations}, physical-truth violations {t.physical_violations} "
        f"(control periods) in {t.physical_infusions} infusions, of which {t.screw_explained} are therapy overruns "
        f"within the syringe lead-screw error (largest therapy excess beyond the stated tolerance "
        f"{t.therapy_over_max_ul:.3f} uL); simulation errors {t.errors}; largest volume pushed in one stop-flow "
        f"episode {t.stop_flow_max_ul:.3f} uL",
        f"event logs: {t.logs} infusions, {t.log_records} records, {t.logs_intact} chains intact, "
        f"{t.log_steps_accounted} of {t.log_steps} steps found again (records + counted quiet ticks)",
        f"link faults: {t.link_refused} requests refused, {t.link_silenced} polls silenced; "
        f"{t.delivered_l:.1f} L delivered in total",
    ])
