"""The regulatory records: one honest verdict, risk file, use errors, IEC 62304, cybersecurity, signature."""

from __future__ import annotations

import contextlib
import copy
import importlib.metadata as md
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pumpctl.proofs.evidence import iec62304, layout, risk, security, signing, use_errors
from pumpctl.proofs.evidence.build import assurance, headline
from tests.evidence.sample import build


@pytest.fixture(scope="module")
def evidence() -> dict[str, Any]:
    return build(None)


def _hz(hid: str, severity: str, verdict: str) -> dict[str, Any]:
    return {"id": hid, "severity": severity, "verdict": verdict}


def test_the_headline_states_both_results_with_the_gaps_by_severity() -> None:
    case = assurance([_hz("HAZ-A", "critical", "partial"), _hz("HAZ-B", "catastrophic", "partial"),
                      _hz("HAZ-C", "catastrophic", "supported"), _hz("HAZ-D", "serious", "partial")])
    assert case["status"] == "partial" and case["supported"] == 1
    assert list(case["by_severity"]) == ["catastrophic", "critical", "serious"]  # worst first
    line = headline(True, 74, 74, case, 12)
    assert line == ("PASS: 74 of 74 implemented safety requirements verified; assurance case PARTIAL: 1 of 4 hazard "
                    "claims supported (not supported: catastrophic HAZ-B; critical HAZ-A; serious HAZ-D); "
                    "12 planned requirements not claimed")
    assert assurance([_hz("HAZ-A", "minor", "unsupported")])["status"] == "not supported"
    assert assurance([_hz("HAZ-A", "minor", "supported")])["status"] == "supported"
    assert assurance([])["status"] == "not supported"


def _results(verdict: str, covered: list[str]) -> dict[str, Any]:
    return {"requirements": [{"id": "REQ-X", "title": "x", "verdict": verdict, "methods_covered": covered,
                              "hazards": ["HAZ-1"]}],
            "hazards": [{"id": "HAZ-1", "title": "h", "severity": "catastrophic", "verdict": "supported",
                         "causes": ["c1", "c2"], "controls": ["REQ-X"]}]}


RISK = {"policy": {"acceptability": {"catastrophic": ["ALARP", "U", "U", "U", "U"]},
                   "reduction": {"proved": 3, "tested": 2, "simulated": 1, "none": 0}},
        "hazard": [{"id": "HAZ-1", "cause": [{"cause": "c1", "p_before": 5, "controls": ["REQ-X"]},
                                             {"cause": "gone", "p_before": 2, "controls": ["REQ-NEW"]}]}]}


@pytest.mark.parametrize(("verdict", "covered", "p_after", "residual"),
                         [("verified", ["proof", "stateful"], 2, "U"), ("verified", ["unit"], 3, "U"),
                          ("partial", ["proof"], 5, "U")])
def test_the_probability_after_control_follows_the_evidence(verdict: str, covered: list[str], p_after: int,
                                                            residual: str) -> None:
    rf = risk.risk_file(_results(verdict, covered), RISK)
    c1 = rf["hazards"][0]["causes"][0]
    assert (c1["p_before"], c1["p_after"], c1["after"]) == (5, p_after, residual)
    assert c1["best"] == ("REQ-X" if verdict == "verified" else None)


def test_the_risk_file_reports_every_mismatch_instead_of_dropping_it() -> None:
    rf = risk.risk_file(_results("verified", ["proof"]), RISK)
    hz = rf["hazards"][0]
    assert [c["analysed"] for c in hz["causes"]] == [True, False]  # c2 has no analysis: shown, at P5
    assert any("cause not analysed in specs/risk.toml: c2" in f for f in rf["findings"])
    assert any("analysed cause is not in hazards.toml: gone" in f for f in rf["findings"])


def test_the_real_risk_file_covers_every_hazard_cause_and_control(evidence: dict[str, Any]) -> None:
    rf = evidence["results"]["risk"]
    assert {h["id"] for h in rf["hazards"]} == {h["id"] for h in evidence["results"]["hazards"]}
    real = risk.risk_file({"requirements": [], "hazards": _real_hazards()})
    assert not [f for f in real["findings"] if "not analysed" in f or "mapped to no cause" in f
                or "not in hazards.toml" in f]
    assert real["overall"] in ("A", "ALARP", "U") and real["report"]


def _real_hazards() -> list[dict[str, Any]]:
    from pumpctl.specs.catalog import load

    return [{"id": h.id, "title": h.title, "severity": h.severity, "verdict": "?", "causes": list(h.causes),
             "controls": list(h.controls)} for h in load().hazards]


def test_a_use_error_control_that_is_not_a_requirement_is_planned_and_never_claimed(evidence: dict[str, Any]) -> None:
    results = copy.deepcopy(evidence["results"])  # the sample's requirements
    rows = [{"id": "UE-X", "task": "t", "error": "e", "hazards": ["HAZ-OVR-002"],
             "controls": [{"requirement": "REQ-XXX-999", "acts": "detect", "how": "not written yet"},
                          {"requirement": "REQ-DEL-001", "acts": "inform", "how": "verified, but only informs"}]},
            {"id": "UE-Y", "task": "t", "error": "e", "hazards": ["HAZ-OVR-002"],
             "controls": [{"requirement": "REQ-LOG-001", "acts": "prevent", "how": "planned in the sample"}]}]
    out = use_errors.analysis(results, rows)
    ue = {u["id"]: u for u in out["use_errors"]}
    missing = ue["UE-X"]["controls"][0]
    assert missing["verdict"] == "planned" and not missing["defined"]
    assert any("REQ-XXX-999 is not yet in specs/requirements.toml" in f for f in out["findings"])
    assert ue["UE-X"]["status"] == "partly controlled"  # an inform control alone never controls
    assert ue["UE-Y"]["controls"][0]["defined"] and ue["UE-Y"]["status"] == "not controlled"  # planned: nothing


def test_the_real_use_errors_are_controlled_by_implemented_requirements() -> None:
    """specs/use_errors.toml joined with specs/requirements.toml: the 10x error inside the limits
    (UE-001) and the library bypass through basic mode (UE-005) are controlled by implemented
    requirements, and every control named is a requirement."""
    from pumpctl.specs.catalog import load

    cat = load()
    status = {r.id: r.status for r in cat.requirements}
    # as a run where every implemented requirement is verified (the verdicts themselves are the run's)
    reqs = [{"id": r.id, "title": r.title, "verdict": "verified" if r.status == "implemented" else "planned"}
            for r in cat.requirements]
    out = use_errors.analysis({"requirements": reqs, "hazards": _real_hazards()})
    assert out["findings"] == []  # every control is a requirement, every hazard a hazard
    ue = {u["id"]: u for u in out["use_errors"]}
    for uid, needed in (("UE-001", {"REQ-USE-001", "REQ-DRG-002"}), ("UE-005", {"REQ-USE-001", "REQ-DRG-006"})):
        controls = {c["requirement"]: c for c in ue[uid]["controls"]}
        assert needed <= set(controls), uid
        for rid in needed:
            assert status[rid] == "implemented" and controls[rid]["defined"], (uid, rid)
            assert controls[rid]["acts"] in ("prevent", "detect"), (uid, rid)
        assert ue[uid]["status"] == "controlled", uid
    # the decisions the lead took for the change factor are what the analysis says (DEC-038)
    ten_x = next(c for c in ue["UE-001"]["controls"] if c["requirement"] == "REQ-USE-001")["how"]
    assert "last started" in ten_x and "not the last program loaded" in ten_x
    assert "no change-factor check" in ue["UE-002"]["residual"] and "VTBI" in ue["UE-002"]["residual"]
    assert "basic infusion" in next(c for c in ue["UE-005"]["controls"] if c["requirement"] == "REQ-USE-001")["how"]


def test_security_traces_req_sec_003_to_haz_sec_001(evidence: dict[str, Any]) -> None:
    from pumpctl.specs.catalog import load

    reqs = [{"id": r.id, "title": r.title, "hazards": list(r.hazards),
             "verdict": "planned" if r.status != "implemented" else "verified"} for r in load().requirements]
    sec = security.security_file({"requirements": reqs, "hazards": _real_hazards()},
                                 evidence["results"]["risk"]["policy"])
    assert "REQ-SEC-003 -> HAZ-SEC-001" in sec["traces"]
    t = {x["id"]: x for x in sec["threats"]}
    assert {"EP-SERIAL", "EP-LIBRARY", "EP-LOG", "EP-CLI", "EP-SDC", "EP-NETWORK"} <= {
        e["id"] for e in sec["entry_points"]}
    assert t["T-004"]["severity"] == "catastrophic"
    sec003 = next(c for c in t["T-004"]["controls"] if c["id"] == "REQ-SEC-003")
    assert sec003["verdict"] == "planned" and "HAZ-SEC-001" in sec003["traced_to"]  # traced in specs/, both ways
    assert t["T-010"]["status"] == "no control"  # the Dask scheduler: tooling, said so, never counted as controlled
    assert not [f for f in sec["findings"] if "not traced" in f]


def _real_security() -> dict[str, Any]:
    from pumpctl.specs.catalog import load

    reqs = [{"id": r.id, "title": r.title, "hazards": list(r.hazards),
             "verdict": "planned" if r.status != "implemented" else "verified"} for r in load().requirements]
    return security.security_file({"requirements": reqs, "hazards": _real_hazards()},
                                  risk.risk_file({"requirements": [], "hazards": []})["policy"])


def test_the_sdc_provider_is_a_runtime_entry_point_with_its_threats_controlled_and_traced() -> None:
    sec = _real_security()
    ep = {e["id"]: e for e in sec["entry_points"]}
    assert ep["EP-SDC"]["runtime"] and "mutual TLS" in ep["EP-SDC"]["name"]
    assert "no network interface" not in sec["model"]["boundary"] and "SDC" in sec["model"]["boundary"]
    sdc = [t for t in sec["threats"] if t["entry_point"] == "EP-SDC"]
    text = " ".join(f"{t['stride']}: {t['threat']}" for t in sdc)
    for kind in ("spoofing", "tampering", "replay", "denial of service", "authorised but wrong client",
                 "patient or system role"):
        assert kind in text, kind
    for t in sdc:
        if t["hazards"]:  # every threat with a patient hazard is controlled by requirements traced to it
            assert t["controls"] and all(c["traced_to"] for c in t["controls"]), t["id"]
    assert all("REQ-SEC-005" in {c["id"] for c in t["controls"]} for t in sdc if t["hazards"] and
               t["stride"] != "denial of service")
    assert "REQ-SEC-005 -> HAZ-USE-001" in sec["traces"] and "REQ-ROL-003 -> HAZ-USE-001" in sec["traces"]
    assert not sec["findings"]


def test_every_path_the_security_and_soup_files_name_exists() -> None:
    from pumpctl.proofs.evidence.iec62304 import ROOT

    named = set()
    for name in ("security.toml", "soup.toml"):
        text = (ROOT / "specs" / name).read_text()
        named |= set(re.findall(r"\b((?:controller|specs|proofs|tests|docs)/[\w./-]*\w)", text))
    assert "controller/drivers/harvard" in named and "controller/sdc" in named
    assert not sorted(p for p in named if not (ROOT / p).exists())


def test_the_vulnerability_review_goes_stale_when_a_version_changes() -> None:
    # the record as if reviewed on this host (the host's versions move with every new release on
    # PyPI, so the real record's status is a fact about the host, reported, never asserted here)
    data = copy.deepcopy(security.read())
    versions = data["vulnerability_review"]["versions"]
    for name in versions:
        with contextlib.suppress(md.PackageNotFoundError):
            versions[name] = md.version(name)
    assert security.environment(data)["status"] == "current"
    stale = copy.deepcopy(data)
    stale["vulnerability_review"]["versions"]["transitions"] = "0.0.1"
    env = security.environment(stale)
    assert env["status"].startswith("outdated") and "transitions: reviewed 0.0.1" in env["changed"][0]


def test_the_core_segregation_is_checked_from_the_code_and_can_fail() -> None:
    lay = layout.scan()
    seg = layout.segregation(lay)
    assert seg["ok"] and "controller.core.table" in seg["core"] and "controller.runtime.shell" not in seg["core"]
    broken = copy.deepcopy(lay)
    broken["modules"]["controller.core.guards"]["imports"].append("controller.log.db")
    broken["modules"]["controller.core.flow"]["soup"].append("pyserial")
    bad = layout.segregation(broken)
    assert not bad["ok"] and len(bad["breaches"]) == 2


def test_the_soup_list_is_the_runtime_and_names_who_imports_it() -> None:
    lay = layout.scan()
    soup = {s["name"]: s for s in iec62304.soup_list(lay)}
    assert {"transitions", "pyserial", "cryptography"} <= set(soup)
    assert not {"z3-solver", "crosshair-tool", "jinja2", "matplotlib", "pytest"} & set(soup)
    assert soup["transitions"]["imported_by"] == ["controller.core.machine"]
    assert soup["transitions"]["anomalies"] and soup["pyserial"]["anomalies"]


RUNTIME_EXTRAS = ("hardware", "signing", "sdc")  # pyproject.toml extras the pump ships (not verify, report, dev ...)


def _shipped() -> set[str]:
    """Every installed distribution the runtime extras pull in, transitively (as the SBOM reads them)."""
    from packaging.requirements import Requirement

    from pumpctl.proofs.evidence.sbom import _requires, installed, norm

    dists = installed()
    roots = set()
    for spec in md.distribution("pumpctl").requires or []:
        req = Requirement(spec)
        if req.marker is None or any(req.marker.evaluate({"extra": x}) for x in RUNTIME_EXTRAS):
            roots.add(norm(req.name))
    out, todo = set(), sorted(roots)
    while todo:
        n = todo.pop()
        if n not in out and n in dists:
            out.add(n)
            todo += _requires(dists[n])
    return out


def test_every_distribution_the_runtime_ships_is_soup_in_the_sbom_and_the_review() -> None:
    from pumpctl.proofs.evidence.sbom import norm, sbom

    shipped = _shipped()
    assert {"sdc11073", "lxml", "aiohttp", "yarl", "cryptography", "pyserial"} <= shipped
    soup = {norm(s["name"]): s for s in iec62304.soup_list(layout.scan())}
    assert not sorted(shipped - set(soup))  # a new runtime dependency needs its SOUP entry
    for name in shipped:
        assert soup[name]["function"] and soup[name]["requirements"] and soup[name]["interface"], name
    runtime = {norm(c["name"]) for c in sbom("runtime")["components"]}
    tooling = {norm(c["name"]) for c in sbom("tooling")["components"]}
    assert shipped <= runtime and not shipped & tooling  # sdc11073 is runtime, never tooling
    reviewed = {norm(n) for n in security.read()["vulnerability_review"]["versions"]}
    assert set(soup) <= reviewed  # the vulnerability review covers every SOUP entry


def test_a_failure_of_the_run_opens_a_problem_report(evidence: dict[str, Any]) -> None:
    rec = evidence["results"]["iec62304"]
    open_ = [p for p in rec["problems"] if p["status"] == "open"]
    assert any("REQ-DOS-004 failed" in p["problem"] for p in open_)
    assert any("mutant survived: M09-kvo-uncapped" in p["problem"] for p in open_)
    crashed = copy.deepcopy(evidence["results"])
    crashed["mutants"].append({"id": "M99", "text": "t", "killed": False, "by": [], "error": "TypeError: x"})
    assert any("mutant could not be evaluated: TypeError: x: M99" in p["problem"]
               for p in iec62304.records(crashed, layout.scan(), {}, {})["problems"])
    assert rec["classification"]["class"] == "C" and rec["release"]["anomalies"]["open problems"]


def test_a_mutant_that_crashes_the_engine_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    import pumpctl.proofs.mutants as M
    from pumpctl.proofs.evidence.collect import evaluate_mutant

    def boom(mutant_id: str, witnesses: Any = None) -> Any:
        raise TypeError("missing 1 required positional argument")

    monkeypatch.setattr(M, "_evaluate_id", boom)
    r = evaluate_mutant(M.MUTANTS[0].id)
    assert (r["killed"], r["by"], r["text"]) == (False, [], M.MUTANTS[0].text)
    assert r["error"] == "TypeError: missing 1 required positional argument"


def test_the_signed_manifest_verifies_and_a_flipped_byte_does_not(tmp_path: Path) -> None:
    (tmp_path / "manifest.sha256").write_text("00" * 32 + "  evidence/report.html\n")
    s = signing.signer()
    assert s is not None and s.ephemeral
    signing.sign(tmp_path, s)
    ok, msg = signing.check(tmp_path)
    assert ok and s.key_id in msg
    if shutil.which("openssl"):
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "manifest.pub.pem", "-rawin", "-in",
                            "manifest.sha256", "-sigfile", "manifest.sha256.sig"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0 and "Verified Successfully" in r.stdout, r.stdout + r.stderr
    data = bytearray((tmp_path / "manifest.sha256").read_bytes())
    data[0] ^= 1
    (tmp_path / "manifest.sha256").write_bytes(bytes(data))
    ok, msg = signing.check(tmp_path)
    assert not ok and "does NOT match" in msg
    other = signing.signer()
    assert other is not None
    (tmp_path / "other.pem").write_bytes(other.public_pem)
    signing.sign(tmp_path, s)
    assert not signing.check(tmp_path, tmp_path / "other.pem")[0]  # a key the reviewer does not trust
