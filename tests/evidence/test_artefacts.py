"""SARIF, SBOM, manifest and its signature: structurally valid, deterministic, checkable by real tools."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pumpctl.proofs.evidence.artefacts import ROOT, input_files, locate, sarif, write_manifest, write_sarif
from pumpctl.proofs.evidence.sbom import purl, sbom, write_sbom
from tests.evidence.sample import build

needs_sha256sum = pytest.mark.skipif(shutil.which("sha256sum") is None, reason="GNU sha256sum not installed")


# --------------------------------------------------------------------------- SARIF

@pytest.fixture(scope="module")
def evidence() -> dict[str, Any]:
    return build(None)


def test_sarif_has_the_required_structure(tmp_path: Path, evidence: dict[str, Any]) -> None:
    doc = json.loads(write_sarif(evidence, tmp_path / "proofs.sarif").read_text())
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    assert len(doc["runs"]) == 1
    run = doc["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "pumpctl prove" and driver["version"]
    assert {"name": "z3", "version": "4.13.0"} in run["tool"]["extensions"]
    obligations = evidence["results"]["obligations"]
    contracts = [f"crosshair:{f.rsplit('.', 1)[-1]}" for f in evidence["results"]["crosshair"]["functions"]]
    assert [r["id"] for r in driver["rules"]] == [o["obligation"] for o in obligations] + contracts
    for rule, ob in zip(driver["rules"], obligations, strict=False):
        assert rule["shortDescription"]["text"] == ob["text"]
        assert rule["properties"]["requirements"] == ob["requirements"]
    for result in run["results"]:
        assert {"ruleId", "ruleIndex", "message", "locations", "kind", "level"} <= set(result)
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"]
        loc = result["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uriBaseId"] in run["originalUriBaseIds"]


def test_sarif_has_a_result_for_every_rule_passes_included(evidence: dict[str, Any]) -> None:
    run = sarif(evidence)["runs"][0]
    results = {r["ruleId"]: r for r in run["results"]}
    assert set(results) == {r["id"] for r in run["tool"]["driver"]["rules"]}
    assert {"INV-DEL-001", "INV-ALM-004", "STEP-DOS-004", "AUX-FLOW", "crosshair:command"} <= set(results)
    for oid in ("INV-DEL-001", "crosshair:command"):
        assert (results[oid]["kind"], results[oid]["level"]) == ("pass", "none")
    assert "proved (k=1)" in results["INV-DEL-001"]["message"]["text"]
    cex = results["STEP-DOS-004"]
    assert (cex["kind"], cex["level"]) == ("fail", "error")
    assert "4. tick by system -> RUNNING" in cex["message"]["text"] and "REQ-DOS-004" in cex["message"]["text"]
    assert cex["properties"]["scenario"].startswith("# STEP-DOS-004")
    unknown = results["AUX-FLOW"]
    assert (unknown["kind"], unknown["level"]) == ("open", "none")  # undecided is neither pass nor fail
    assert "undecided" in unknown["message"]["text"]


@pytest.mark.parametrize(("obligation", "file"), [("INV-DEL-001", "specs/invariants.py"),
                                                   ("STEP-DOS-004", "specs/invariants.py"),
                                                   ("AUX-FLOW", "proofs/auxiliary.py")])
def test_sarif_locations_point_at_the_definition(obligation: str, file: str) -> None:
    rel, line = locate(obligation)
    assert rel == file and line is not None
    assert f'"{obligation}"' in (ROOT / rel).read_text().splitlines()[line - 1]


def test_an_unknown_obligation_id_still_gets_a_location() -> None:
    assert locate("NO-SUCH-OBLIGATION") == ("specs/invariants.py", None)


# ---------------------------------------------------------------------------- SBOM

def test_sbom_lists_the_environment_with_purls(tmp_path: Path) -> None:
    doc = json.loads(write_sbom(tmp_path / "sbom.json").read_text())
    assert (doc["bomFormat"], doc["specVersion"], doc["version"]) == ("CycloneDX", "1.5", 1)
    assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", doc["serialNumber"])
    me = doc["metadata"]["component"]
    assert me["name"] == "pumpctl" and me["purl"].startswith("pkg:pypi/pumpctl@")
    names = [c["name"].lower() for c in doc["components"]]
    assert "pumpctl" not in names and {"jinja2", "transitions", "z3-solver"} <= set(names)
    refs = [c["bom-ref"] for c in doc["components"]]
    assert len(refs) == len(set(refs))
    for c in doc["components"]:
        assert c["type"] == "library" and c["version"]
        assert c["purl"] == c["bom-ref"] and re.fullmatch(r"pkg:pypi/[a-z0-9-]+@[A-Za-z0-9.\-_~%]+", c["purl"])
        lic = c.get("licenses", [])
        assert len(lic) <= 1 or all("license" in x for x in lic)  # one expression, or named licenses
        for x in lic:
            assert x.get("expression") or x["license"].get("name") or x["license"].get("id")
    assert any("licenses" in c for c in doc["components"])
    assert [c["name"].lower().replace("_", "-") for c in doc["components"]] == sorted(
        c["name"].lower().replace("_", "-") for c in doc["components"])


def test_sbom_is_deterministic(tmp_path: Path) -> None:
    assert write_sbom(tmp_path / "a.json").read_bytes() == write_sbom(tmp_path / "b.json").read_bytes()


def test_sbom_splits_runtime_from_tooling_with_hashes_and_a_graph() -> None:
    everything, runtime, tooling = sbom("all"), sbom("runtime"), sbom("tooling")
    names = {part: {c["name"].lower() for c in doc["components"]} for part, doc in
             (("all", everything), ("runtime", runtime), ("tooling", tooling))}
    assert "transitions" in names["runtime"] and "six" in names["runtime"]  # a runtime dependency's dependency
    assert not {"z3-solver", "crosshair-tool", "jinja2", "pytest", "hypothesis"} & names["runtime"]
    assert {"z3-solver", "pytest"} <= names["tooling"] and not names["runtime"] & names["tooling"]
    assert names["all"] == names["runtime"] | names["tooling"]
    for c in everything["components"]:
        assert c["scope"] == ("required" if c["name"].lower() in names["runtime"] else "excluded")
        if "hashes" in c:
            assert re.fullmatch(r"[0-9a-f]{64}", c["hashes"][0]["content"]) and c["hashes"][0]["alg"] == "SHA-256"
    assert all("hashes" in c for c in runtime["components"])
    graph = {d["ref"]: d["dependsOn"] for d in everything["dependencies"]}
    transitions = next(c["bom-ref"] for c in everything["components"] if c["name"].lower() == "transitions")
    six = next(c["bom-ref"] for c in everything["components"] if c["name"].lower() == "six")
    assert six in graph[transitions]
    assert transitions in graph[everything["metadata"]["component"]["bom-ref"]]
    refs = {c["bom-ref"] for c in everything["components"]} | {everything["metadata"]["component"]["bom-ref"]}
    assert all(set(v) <= refs for v in graph.values())


def test_purls_are_normalised() -> None:
    assert purl("Jinja2", "3.1.6") == "pkg:pypi/jinja2@3.1.6"
    assert purl("typing_extensions", "4.0+local") == "pkg:pypi/typing-extensions@4.0%2Blocal"


# ------------------------------------------------------------------------ manifest

def _tree(root: Path) -> tuple[Path, list[Path]]:
    (root / "specs").mkdir(parents=True)
    (root / "controller").mkdir()
    (root / "specs" / "requirements.toml").write_text("[[requirement]]\nid = 'REQ-1'\n")
    (root / "controller" / "core.py").write_text("x = 1\n")
    out = root / "evidence"
    (out / "bench").mkdir(parents=True)
    (out / "report.html").write_text("<p>report</p>\n")
    (out / "bench" / "trumpet.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (out / "odd name.json").write_text("{}\n")
    return out, [Path("specs/requirements.toml"), root / "controller" / "core.py"]


def _check(cwd: Path, manifest: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sha256sum", "-c", str(manifest)], cwd=cwd, capture_output=True, text=True, timeout=60)


@needs_sha256sum
def test_manifest_checks_with_sha256sum_and_catches_a_flipped_byte(tmp_path: Path) -> None:
    out, inputs = _tree(tmp_path)
    manifest = write_manifest(out, inputs, tmp_path)
    lines = manifest.read_text().splitlines()
    assert all(re.fullmatch(r"[0-9a-f]{64}  \S.*", line) for line in lines)
    assert [line[66:] for line in lines] == ["controller/core.py", "evidence/bench/trumpet.png",
                                             "evidence/odd name.json", "evidence/report.html",
                                             "specs/requirements.toml"]
    ok = _check(tmp_path, Path("evidence/manifest.sha256"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    png = out / "bench" / "trumpet.png"
    data = bytearray(png.read_bytes())
    data[20] ^= 0x01
    png.write_bytes(bytes(data))
    bad = _check(tmp_path, Path("evidence/manifest.sha256"))
    assert bad.returncode != 0 and "evidence/bench/trumpet.png: FAILED" in bad.stdout


@needs_sha256sum
def test_manifest_outside_the_root_uses_absolute_paths(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _, inputs = _tree(root)
    out = tmp_path / "elsewhere"
    out.mkdir()
    (out / "report.html").write_text("r\n")
    manifest = write_manifest(out, inputs, root)
    assert f"  {(out / 'report.html').resolve().as_posix()}" in manifest.read_text()
    assert _check(root, manifest).returncode == 0


@needs_sha256sum
def test_manifest_escapes_names_like_sha256sum(tmp_path: Path) -> None:
    out, inputs = _tree(tmp_path)
    (out / "back\\slash.txt").write_text("a\n")
    (out / "new\nline.txt").write_text("b\n")
    manifest = write_manifest(out, inputs, tmp_path)
    lines = manifest.read_text().splitlines()
    assert any(line.startswith("\\") and line.endswith("  evidence/new\\nline.txt") for line in lines)
    assert any(line.startswith("\\") and line.endswith("  evidence/back\\\\slash.txt") for line in lines)
    result = _check(tmp_path, Path("evidence/manifest.sha256"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_manifest_refuses_a_missing_input_and_never_lists_itself(tmp_path: Path) -> None:
    out, inputs = _tree(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"specs/gone\.toml"):
        write_manifest(out, [*inputs, Path("specs/gone.toml")], tmp_path)
    text = write_manifest(out, inputs, tmp_path).read_text()
    text_again = write_manifest(out, inputs, tmp_path).read_text()
    assert "manifest.sha256" not in text and text == text_again


def test_input_files_cover_specs_sources_and_proofs() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in input_files()}
    assert {"pyproject.toml", "specs/requirements.toml", "specs/hazards.toml", "specs/invariants.py",
            "controller/core/table.py", "proofs/evidence/render.py",
            "proofs/evidence/templates/report.html.j2"} <= names
    assert not [n for n in names if "__pycache__" in n]
