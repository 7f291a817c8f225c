"""A realistic ``pumpctl-evidence/1`` dictionary for testing the report and the artefacts.

Theory of operation
-------------------
``build(out_dir)`` returns evidence shaped exactly like the collector's output, small
enough to reason about and covering every case the report must show:

- a verified requirement, a failed one (a proof counterexample and a failing test), a
  partial one (a required method missing), an unverified one (no evidence), an outdated
  one (text changed since review), a planned one, and a non-safety one;
- hazards supported, unsupported and failed, and one control id that is not a requirement;
- an orphaned evidence item (cites an id that is not a requirement);
- a counterexample with its trace and scenario TOML;
- the real transition table's edges (as ``pumpctl diagram`` prints them);
- a trumpet plot PNG written into ``out_dir`` (the occlusion plot is deliberately missing);
- a test id as long as the longest real ones (``LONG_TEST``), every setting the report prints
  (``mutant_depth`` included) and the planned requirements in the verdict;
- a stateful item refused for lack of coverage, strength labels on every item, and the
  records (scope, risk file, use errors, IEC 62304, cybersecurity) built by the real builders
  from this evidence and the real ``specs/`` data.

Hostile strings (``<script>``, ampersands, quotes) sit in claims and titles so the tests
can check that everything is escaped.

Rules
1. Deterministic: no clock, no randomness; the same call gives the same dict.
2. Only the plot touches the file system, and only inside ``out_dir``.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

HOSTILE = "<script>alert('x')</script> & \"quoted\""
# as long as the longest real test ids (116 characters): it must print whole, never broken inside a name
LONG_TEST = ("tests/drivers/test_harvard_protocol.py::"
             "test_commands_carry_the_address_with_a_colon_and_refuse_what_the_wire_cannot_carry")

CEX_TOML = """# STEP-DOS-004: delivery never takes a dose window above its limit (found by pumpctl prove)
name = "counterexample STEP-DOS-004"
mode = "core"
duration_s = 1

[pump]
max_rate = 1192056
max_tick_ms = 302

[[event]]
at_ms = 0
type = "self_test"
actor = "system"
flag = true

[[event]]
at_ms = 0
type = "program"
actor = "admin"
[event.program]
loaded = true
step_rate = [1192053, 0, 0, 0]
lim_vol = [2, 2]

[[event]]
at_ms = 0
type = "start"
actor = "clinician"

[[event]]
at_ms = 0
type = "tick"
actor = "system"
dt_ms = 302

[expect]
broken = ["STEP-DOS-004"]
"""

# the real table's edges, as `pumpctl diagram` printed them when this sample was written
_EDGES = """ALARM>FAILSAFE>motor_fault / watchdog
ALARM>PAUSED>acknowledge[clearable & ack_clears_all_stops]
ALARM>STOPPED>stop
BOLUS>ALARM>tick[reservoir_empties] / door_open / occlusion[site_ok] / air[air_stops] / reservoir[flag_set]
BOLUS>FAILSAFE>motor_fault / watchdog
BOLUS>KVO>tick[vtbi_completes & end_kvo]
BOLUS>PAUSED>pause
BOLUS>RUNNING>tick[bolus_ends] / tick[tick_raises_alarm] / battery[level_nonneg & battery_alarms]
BOLUS>STOPPED>tick[vtbi_completes] / stop
FAILED>FAILSAFE>motor_fault / watchdog
IDLE>FAILSAFE>motor_fault / watchdog
IDLE>READY>program[program_valid]
KVO>ALARM>tick[reservoir_empties] / door_open / occlusion[site_ok] / air[air_stops] / reservoir[flag_set]
KVO>FAILSAFE>motor_fault / watchdog
KVO>STOPPED>stop
PAUSED>FAILSAFE>motor_fault / watchdog
PAUSED>RUNNING>resume[confirmed & no_stop_condition & vtbi_left & reservoir_has_volume]
PAUSED>STOPPED>stop
POST>FAILED>tick[post_timed_out] / self_test[self_test_failed]
POST>FAILSAFE>motor_fault / watchdog
POST>IDLE>self_test[self_test_passed]
POST>PAUSED>self_test[self_test_passed & restored_program & restored_infusion]
POST>READY>self_test[self_test_passed & restored_program]
PRIMING>ALARM>tick[reservoir_empties] / door_open / occlusion[site_ok] / air[volume_nonneg & air_stops]
PRIMING>FAILSAFE>motor_fault / watchdog
PRIMING>READY>tick[prime_completes] / stop
READY>FAILSAFE>motor_fault / watchdog
READY>IDLE>clear
READY>PRIMING>prime[has_program & line_disconnected & prime_volume_ok & no_stop_condition]
READY>RUNNING>start[confirmed & no_stop_condition & vtbi_left & reservoir_has_volume]
RUNNING>ALARM>tick[reservoir_empties] / door_open / occlusion[site_ok] / air[air_stops] / reservoir[flag_set]
RUNNING>BOLUS>patient_bolus[pca_on & no_alarm & lockout_over] / clinician_bolus[clin_bolus_on & no_alarm]
RUNNING>FAILSAFE>motor_fault / watchdog
RUNNING>KVO>tick[vtbi_completes & end_kvo]
RUNNING>PAUSED>pause
RUNNING>STOPPED>tick[vtbi_completes] / stop
STOPPED>FAILSAFE>motor_fault / watchdog
STOPPED>IDLE>clear
STOPPED>READY>program[program_valid]
STOPPED>RUNNING>start[confirmed & no_stop_condition & vtbi_left & reservoir_has_volume]"""

STATES = ["POST", "FAILED", "IDLE", "READY", "PRIMING", "RUNNING", "BOLUS", "PAUSED", "KVO", "STOPPED", "ALARM",
          "FAILSAFE"]


_STRENGTH = {"proof": "proved", "contract": "bounded", "mutation": "bounded", "scenario": "simulated",
             "bench": "simulated", "inspection": "inspected", "test": "examples", "walk": "examples"}


def _ev(type_: str, id_: str, verdict: str, claim: str, method: str) -> dict[str, str]:
    strength = "refuted" if type_ == "proof" and verdict == "fail" else _STRENGTH[type_]
    return {"type": type_, "id": id_, "verdict": verdict, "claim": claim, "method": method, "strength": strength,
            "scope": f"{strength} (sample)", "credit": "tagged"}


def _req(id_: str, title: str, verdict: str, evidence: list[dict[str, str]], verification: list[str], *,
         hazards: list[str], safety: bool = True, status: str = "implemented", outdated: bool = False,
         missing: list[str] | None = None, refused: list[dict[str, str]] | None = None) -> dict[str, Any]:
    covered = sorted({e["method"] for e in evidence if e["verdict"] == "pass"} & set(verification))
    return {"id": id_, "title": title, "text": f"The controller shall: {title.lower()}.",
            "text_sha256": "ab" * 32, "kind": "INV", "safety": safety,
            "status": status, "sources": ["GIP 1.3"], "hazards": hazards, "decisions": ["DEC-003"],
            "verification": verification, "rationale": "Sample rationale.", "evidence": evidence,
            "methods_covered": covered,
            "methods_missing": missing if missing is not None else sorted(set(verification) - set(covered)),
            "outdated": outdated, "verdict": verdict, "refused": refused or []}


def _requirements() -> list[dict[str, Any]]:
    proof = "proved for every reachable state and every valid configuration (k=1)"
    return [
        _req("REQ-DEL-001", "Never deliver more than the VTBI", "verified",
             [_ev("proof", "INV-DEL-001", "pass", proof, "proof"),
              _ev("test", "tests/test_stateful.py::TestPump::runTest", "pass", "150 examples, seed 0", "stateful"),
              _ev("test", LONG_TEST, "pass", "pytest passed", "unit"),
              _ev("mutation", "M03-vtbi-off-by-one", "pass", "mutant killed by INV-DEL-001", "proof")],
             ["proof", "stateful"], hazards=["HAZ-OVR-002"],
             refused=[{**_ev("walk", "walk:seed1", "pass", "20000 random events, seed 1", "stateful"),
                       "credit": "refused: the run reached none of its targets (6 row(s))"}]),
        _req("REQ-DOS-004", "Sliding-window dose limits hold for every window", "failed",
             [_ev("proof", "STEP-DOS-004", "fail", "counterexample from power-on in 4 events", "proof"),
              _ev("test", "tests/test_core_examples.py::test_window", "fail", "assertion failed", "unit"),
              _ev("scenario", "dose_limit.toml", "pass", "scenario passed", "scenario")],
             ["proof", "unit", "scenario"], hazards=["HAZ-OVR-002"]),
        _req("REQ-DEL-008", "Flow accuracy within 5 %", "verified",
             [_ev("bench", "trumpet", "pass", "IEC 60601-2-24 trumpet curve within ±5 %", "bench")],
             ["bench"], hazards=["HAZ-OVR-002", "HAZ-UND-001"]),
        _req("REQ-OCC-003", "Occlusion alarm latency", "partial",
             [_ev("scenario", "occlusion_downstream.toml", "pass", "alarm within 30 s at 1 mL/h", "scenario")],
             ["scenario", "bench"], hazards=["HAZ-UND-001"]),
        _req("REQ-FLT-004", "FAILSAFE is absorbing", "unverified", [], ["proof"], hazards=["HAZ-UND-001"]),
        _req("REQ-ALM-004", "Stop-flow alarms stop the motor at once " + HOSTILE, "verified",
             [_ev("proof", "INV-ALM-004", "pass", proof, "proof"),
              _ev("contract", "controller.core.flow.command", "pass", "no counterexample within 5 s per condition",
                  "contract")],
             ["proof", "contract"], hazards=["HAZ-ALM-001"], outdated=True),
        _req("REQ-ALM-003", "Alarm signal characteristics", "verified",
             [_ev("inspection", "DEC-020", "pass", "reviewed against IEC 60601-1-8 table 3", "inspection")],
             ["inspection"], hazards=["HAZ-ALM-001"], safety=False),
        _req("REQ-LOG-001", "Event and fault log", "planned", [], ["unit"], hazards=["HAZ-ALM-001"],
             status="planned", missing=[]),
    ]


def _hazards() -> list[dict[str, Any]]:
    def hz(id_: str, title: str, category: str, harm: str, severity: str, controls: list[str], verdict: str,
           unsupported: list[str]) -> dict[str, Any]:
        return {"id": id_, "title": title, "category": category, "harm": harm, "severity": severity,
                "causes": ["guard or effect error", "rounding that increases delivery"], "controls": controls,
                "verdict": verdict, "unsupported_controls": unsupported}

    return [hz("HAZ-OVR-002", "Over-infusion: the controller commands more than allowed", "software", "overdose",
               "catastrophic", ["REQ-DEL-001", "REQ-DOS-004", "REQ-DEL-008"], "failed", ["REQ-DOS-004"]),
            hz("HAZ-UND-001", "Under-infusion from an undetected occlusion", "hardware", "underdose", "serious",
               ["REQ-DEL-008", "REQ-OCC-003", "REQ-FLT-004", "REQ-XXX-999"], "unsupported",
               ["REQ-OCC-003", "REQ-FLT-004", "REQ-XXX-999"]),
            hz("HAZ-ALM-001", "Alarm not noticed", "use", "delayed therapy", "critical",
               ["REQ-ALM-004", "REQ-ALM-003", "REQ-LOG-001"], "supported", [])]


def _trace() -> list[dict[str, Any]]:
    return [{"state": "POST", "event": None, "delivered_vu": 0, "rate": 0},
            {"state": "IDLE", "event": {"kind": "self_test", "actor": 3}, "delivered_vu": 0, "rate": 0},
            {"state": "READY", "event": {"kind": "program", "actor": 2}, "delivered_vu": 0, "rate": 0},
            {"state": "RUNNING", "event": {"kind": "start", "actor": 1}, "delivered_vu": 0, "rate": 1192053},
            {"state": "RUNNING", "event": {"kind": "tick", "actor": 3}, "delivered_vu": 360000006, "rate": 1192053}]


def _png(path: Path) -> None:
    """A trumpet-like plot: matplotlib when available, else a tiny hand-made PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        rows = b"".join(b"\x00" + bytes([255 - (x * y) % 256 for x in range(64)] * 3) for y in range(48))
        chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 48, 8, 2, 0, 0, 0))
                         + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
        return
    windows = [2, 5, 11, 19, 31]
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=80)
    ax.plot(windows, [3.1, 2.2, 1.4, 1.1, 0.9], marker="o", label="max error %")
    ax.plot(windows, [-2.9, -2.0, -1.5, -1.0, -0.8], marker="o", label="min error %")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("observation window (min)")
    ax.set_ylabel("flow error (%)")
    ax.set_title("Trumpet curve, 1 mL/h (sample)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def build(out_dir: Path | None = None) -> dict[str, Any]:
    plots: dict[str, str | None] = {"trumpet": None, "occlusion": None}
    if out_dir is not None:
        (out_dir / "bench").mkdir(parents=True, exist_ok=True)
        _png(out_dir / "bench" / "trumpet.png")
        plots["trumpet"] = "bench/trumpet.png"
    reqs = _requirements()
    obligations = [
        {"obligation": "INV-DEL-001", "requirements": ["REQ-DEL-001", "REQ-DEL-003"],
         "text": "therapy delivered never exceeds the VTBI", "safety": True, "verdict": "proved", "k": 1,
         "detail": "inductive (k=1)", "replayed": None, "trace": [], "scenario": None},
        {"obligation": "INV-ALM-004", "requirements": ["REQ-ALM-004"], "text": "stop-flow alarms stop the motor",
         "safety": True, "verdict": "proved", "k": 2, "detail": "2-inductive", "replayed": None, "trace": [],
         "scenario": None},
        {"obligation": "STEP-DOS-004", "requirements": ["REQ-DOS-004"],
         "text": "delivery never takes a dose window above its limit", "safety": True, "verdict": "counterexample",
         "k": None, "detail": "counterexample from power-on in 4 events", "replayed": True, "trace": _trace(),
         "scenario": CEX_TOML},
        {"obligation": "AUX-FLOW", "requirements": ["REQ-DEL-003"], "text": "counters are ordered and add up",
         "safety": False, "verdict": "unknown", "k": None, "detail": "no counterexample up to depth 6; not inductive",
         "replayed": None, "trace": [], "scenario": None},
    ]
    results: dict[str, Any] = {
        "verdict": {"pass": False, "summary": "FAIL: 1 safety requirement failed, 1 unverified, 1 partial",
                    "safety_requirements": 7, "verified": 4, "failed": ["REQ-DOS-004"], "planned": ["REQ-LOG-001"],
                    "unverified": ["REQ-FLT-004", "REQ-OCC-003"], "obligations": {"proved": 2, "total": 4},
                    "mutants": {"killed": 2, "total": 3}, "scenarios": {"passed": 2, "total": 3},
                    "tests": {"passed": 3, "failed": 1, "total": 5}},
        "requirements": reqs,
        "hazards": _hazards(),
        "decisions": [{"id": "DEC-003", "topic": "KVO rate source", "options": ["fixed", "per program"],
                       "decision": "per program, capped by the pump limit", "reason": "sources disagree",
                       "requirements": ["REQ-DEL-007"]}],
        "obligations": obligations,
        "wellformed": {"unsat_rows": [], "unreachable": [], "overlaps": ["RUNNING tick rows 3 and 7"],
                       "witness_lengths": {"POST": 0, "IDLE": 1, "RUNNING": 3}},
        "crosshair": {"version": "0.0.99", "per_condition_timeout_s": 5, "functions": ["controller.core.flow.command"],
                      "failures": [], "claim": "no counterexample within 5 s per condition", "ok": True},
        "mutants": [{"id": "M01-window-at-bolus-only", "text": "dose windows checked only when a bolus starts",
                     "killed": True, "by": ["STEP-DOS-004"]},
                    {"id": "M03-vtbi-off-by-one", "text": "VTBI compared with >", "killed": True,
                     "by": ["INV-DEL-001"]},
                    {"id": "M09-kvo-uncapped", "text": "KVO rate not capped", "killed": False, "by": []}],
        "tests": [{"nodeid": "tests/test_stateful.py::TestPump::runTest", "outcome": "passed",
                   "requirements": ["REQ-DEL-001"]},
                  {"nodeid": "tests/test_core_examples.py::test_window", "outcome": "failed",
                   "requirements": ["REQ-DOS-004"]},
                  {"nodeid": "tests/test_core_examples.py::test_door", "outcome": "passed",
                   "requirements": ["REQ-DOR-001"]},
                  {"nodeid": "tests/test_old.py::test_legacy", "outcome": "passed", "requirements": ["REQ-OLD-999"]},
                  {"nodeid": "tests/sim/test_bench.py::test_hw", "outcome": "skipped", "requirements": []}],
        "scenarios": [{"file": "specs/scenarios/dose_limit.toml", "name": "dose limit", "passed": True, "failures": [],
                       "requirements": ["REQ-DOS-004"], "alarms": ["dose_limit"], "final_state": "KVO"},
                      {"file": "specs/scenarios/occlusion_downstream.toml", "name": "downstream occlusion",
                       "passed": True, "failures": [], "requirements": ["REQ-OCC-003"],
                       "alarms": ["occlusion_downstream"], "final_state": "ALARM"},
                      {"file": "specs/scenarios/door_open.toml", "name": "door open", "passed": False,
                       "failures": ["expected state ALARM, got RUNNING at 12 s"], "requirements": ["REQ-DOR-001"],
                       "alarms": [], "final_state": "RUNNING"}],
        "bench": {"accuracy": {
            "flow": [{"rate_ml_h": 1.0, "mean_error_pct": 0.04, "violations": 0,
                      "startup": [{"t_min": k / 2, "flow_ml_h": 1.008} for k in range(1, 41)],
                      "trumpet": [{"window_min": w, "ep_max_pct": mx, "ep_min_pct": mn}
                                  for w, mx, mn in ((2, 3.1, -2.9), (5, 2.2, -2.0), (11, 1.4, -1.5))]}],
            "bolus": [{"volume_ml": 0.1, "measured_ml": 0.09720000000000001, "error_pct": -2.8}]},
            "occlusion": [{"detector": "static", "rate_ml_h": 1.0, "time_to_alarm_s": 482.8, "bolus_ml": 0.0522},
                          {"detector": "trend", "rate_ml_h": 1.0, "time_to_alarm_s": 377.9, "bolus_ml": 0.0461}],
            "plots": plots},
        "walk": {"steps": 20000, "seed": 1, "accepted": 12345, "states": STATES, "violations": []},
        "coverage": {"covered": ["REQ-DEL-001", "REQ-DEL-008", "REQ-ALM-004", "REQ-ALM-003"],
                     "uncovered": ["REQ-FLT-004", "REQ-OCC-003", "REQ-DOS-004"],
                     "orphaned": [{"evidence": "tests/test_old.py::test_legacy", "cites": "REQ-OLD-999"}],
                     "outdated": ["REQ-ALM-004"]},
        "table": {"rows": 62, "states": STATES, "latched": ["FAILED", "FAILSAFE"],
                  "edges": [dict(zip(("source", "dest", "label"), e.split(">"), strict=True))
                            for e in _EDGES.splitlines()]},
        "counterexamples": [{"obligation": "STEP-DOS-004", "scenario": CEX_TOML, "trace": _trace()}],
    }
    from pumpctl.proofs.evidence.build import assurance, headline

    case = assurance(results["hazards"])
    results["verdict"].update(refused=1, assurance=case, summary=headline(False, 4, 7, case, 1),
                              requirements={"pass": False, "verified": 4, "total": 7})
    evidence: dict[str, Any] = {
        "format": "pumpctl-evidence/2",
        "results": results,
        "environment": {"python": "3.11.2", "platform": "Linux-6.1-x86_64", "packages": {
            "jinja2": "3.1.6", "transitions": "0.9.2", "z3-solver": "4.13.0.0", "crosshair-tool": "0.0.99"},
            "git": {"commit": "01a234d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1", "dirty": True},
            "settings": {"walk_steps": 20000, "bmc_depth": 6, "kmax": 3, "crosshair_per_condition_s": 5,
                         "mutant_depth": 8, "hypothesis_profile": "ci"},
            "seeds": {"walk": 1, "hypothesis": 0}, "tools": {"z3": "4.13.0", "crosshair": "0.0.99"}},
        "timings": {"proofs_s": 41.2, "tests_s": 33.0, "total_s": 120.5},
    }
    from pumpctl.proofs.evidence.records import records

    stable, host = records(evidence, evidence["environment"]["settings"])
    results.update(stable)
    evidence["environment"]["records"] = host
    evidence["environment"]["signature"] = {"algorithm": "ed25519", "key_id": "0123456789abcdef", "ephemeral": True,
                                            "source": "ephemeral key made for this run",
                                            "public_key": "-----BEGIN PUBLIC KEY-----\nsample\n"}
    return evidence
