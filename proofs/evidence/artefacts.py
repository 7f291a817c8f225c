"""Machine-readable artefacts of ``pumpctl verify``: SARIF, CycloneDX SBOM, sha256 manifest.

Theory of operation
-------------------
- ``write_sarif``: the proof results as SARIF 2.1.0, so code-scanning tools show a refuted
  obligation where it is defined. One run; the driver is ``pumpctl prove`` (with z3, and
  CrossHair when known, as tool extensions); one rule per proof obligation; one result per
  counterexample (kind ``fail``) or unknown verdict (kind ``open``: the tool could not
  decide, which SARIF spells with level ``none``), located at the line of
  ``specs/invariants.py`` or ``proofs/auxiliary.py`` (then any ``proofs/*.py``) that names
  the obligation id.
- ``write_sbom``: the running environment as a CycloneDX 1.5 JSON SBOM from
  ``importlib.metadata``: every installed distribution with name, version, purl and declared
  licenses; the project itself is ``metadata.component``.
- ``write_manifest``: ``manifest.sha256`` in the exact ``sha256sum`` format over every input
  file and every artefact in the output directory. Check it **from the repository root**::

      sha256sum -c evidence/manifest.sha256

  Paths are relative to the root (``specs/requirements.toml``, ``evidence/report.html``);
  a file outside the root (an ``--out`` elsewhere) is listed by absolute path, which
  resolves from any directory.

Rules
1. Deterministic: sorted keys and entries, no timestamps, a serial number derived from the
   content. Same inputs, same bytes, so the artefacts can be hashed and compared.
2. Honest: an unknown verdict is reported as undecided, never as a failure or a pass; a
   license is reported only when the distribution declares one.
3. The manifest never lists itself, and names are escaped exactly as GNU ``sha256sum``
   does (a leading backslash, then ``\\\\``, ``\\n``, ``\\r``), so ``sha256sum -c`` reads
   every line back.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import platform
import re
import sys
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from proofs.evidence.render_view import actor_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "pumpctl"
MANIFEST = "manifest.sha256"
_DEFINED_IN = ("specs/invariants.py", "proofs/auxiliary.py")


def _dump(obj: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- SARIF

def locate(obligation: str, root: Path = ROOT) -> tuple[str, int | None]:
    """(repository-relative file, 1-based line) where an obligation id is defined."""
    candidates = list(_DEFINED_IN) + sorted(p.relative_to(root).as_posix() for p in (root / "proofs").glob("*.py")
                                            if p.relative_to(root).as_posix() not in _DEFINED_IN)
    for needle in (f'"{obligation}"', obligation):
        for rel in candidates:
            f = root / rel
            if not f.is_file():
                continue
            for n, text in enumerate(f.read_text(encoding="utf-8").splitlines(), start=1):
                if needle in text:
                    return rel, n
    return _DEFINED_IN[0], None


def _trace_text(trace: list[Mapping[str, Any]]) -> str:
    lines = []
    for i, st in enumerate(trace):
        e = st.get("event")
        if e:
            actor = actor_name(e.get("actor"))
            what = f"{e.get('kind', '?')} by {actor}"
        else:
            what = "power-on"
        lines.append(f"{i:2d}. {what} -> {st.get('state', '?')}, rate {st.get('rate', '?')} uL/h, "
                     f"delivered {st.get('delivered_vu', '?')} vu")
    return "\n".join(lines)


def sarif(evidence: Mapping[str, Any], root: Path = ROOT) -> dict[str, Any]:
    r = evidence.get("results") or {}
    env = evidence.get("environment") or {}
    tools = env.get("tools") or {}
    obligations = list(r.get("obligations") or [])
    rules, results = [], []
    for i, ob in enumerate(obligations):
        oid, text = str(ob.get("obligation", "?")), str(ob.get("text", ""))
        reqs = [str(x) for x in ob.get("requirements") or []]
        safety = bool(ob.get("safety", True))
        rules.append({"id": oid, "name": oid, "shortDescription": {"text": text or oid},
                      "fullDescription": {"text": f"{oid}: {text} (requirements: {', '.join(reqs) or 'none'})"},
                      "defaultConfiguration": {"level": "error" if safety else "warning"},
                      "properties": {"requirements": reqs, "safety": safety}})
        verdict = ob.get("verdict")
        if verdict not in ("counterexample", "unknown"):
            continue
        rel, line = locate(oid, root)
        region = {"region": {"startLine": line}} if line else {}
        trace = ob.get("trace") or []
        if verdict == "counterexample":
            head = f"{oid} refuted: {text}. {ob.get('detail', '')}".strip()
            kind, level = "fail", "error" if safety else "warning"
        else:
            head = f"{oid} undecided (no proof, no counterexample): {text}. {ob.get('detail', '')}".strip()
            kind, level = "open", "none"
        body = head + (f"\nRequirements: {', '.join(reqs)}." if reqs else "")
        if trace:
            body += f"\nTrace from power-on (replayed on the runtime: {ob.get('replayed')}):\n" + _trace_text(trace)
        props: dict[str, Any] = {"requirements": reqs, "verdict": verdict, "k": ob.get("k"),
                                 "replayed": ob.get("replayed")}
        if ob.get("scenario"):
            props["scenario"] = ob["scenario"]
        results.append({"ruleId": oid, "ruleIndex": i, "kind": kind, "level": level, "message": {"text": body},
                        "locations": [{"physicalLocation": {
                            "artifactLocation": {"uri": rel, "uriBaseId": "SRCROOT"}, **region}}],
                        "properties": props})
    extensions = [{"name": name, "version": str(tools[key])} for name, key in (("z3", "z3"), ("CrossHair", "crosshair"))
                  if tools.get(key)]
    driver = {"name": "pumpctl prove", "version": _project_version(), "rules": rules,
              "properties": {"z3": str(tools.get("z3", "unknown"))}}
    git = env.get("git") or {}
    run: dict[str, Any] = {
        "tool": {"driver": driver, "extensions": extensions},
        "originalUriBaseIds": {"SRCROOT": {"description": {"text": "the repository root"}}},
        "results": results,
        "invocations": [{"executionSuccessful": True}],
        "properties": {"commit": git.get("commit"), "dirty": git.get("dirty")},
    }
    return {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0", "runs": [run]}


def write_sarif(evidence: Mapping[str, Any], path: Path, root: Path = ROOT) -> Path:
    return _dump(sarif(evidence, root), Path(path))


# ---------------------------------------------------------------------------- SBOM

def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def purl(name: str, version: str) -> str:
    """pkg:pypi purl: lower-case name with '_' as '-', version percent-encoded where needed."""
    v = "".join(c if c.isalnum() or c in ".-_~" else f"%{ord(c):02X}" for c in version)
    return f"pkg:pypi/{_norm(name)}@{v}"


def _licenses(meta: Any) -> list[dict[str, Any]]:
    expr = (meta.get("License-Expression") or "").strip()
    if expr:
        return [{"expression": expr}]
    names: list[str] = []
    lic = (meta.get("License") or "").strip()
    # the License field sometimes holds the whole license text: only a short one-line value names it
    if lic and "\n" not in lic and len(lic) <= 80 and lic.upper() not in ("UNKNOWN", "NONE"):
        names.append(lic)
    for c in meta.get_all("Classifier") or []:
        if c.startswith("License ::") and c.count("::") >= 2:
            names.append(c.split("::")[-1].strip())
    return [{"license": {"name": n}} for n in sorted(set(names))]


def _component(dist: md.Distribution, kind: str = "library") -> dict[str, Any]:
    meta = dist.metadata
    name, version = str(meta["Name"]), str(dist.version)
    c: dict[str, Any] = {"type": kind, "bom-ref": purl(name, version), "name": name, "version": version,
                         "purl": purl(name, version)}
    lic = _licenses(meta)
    if lic:
        c["licenses"] = lic
    return c


def _project_version() -> str:
    try:
        return md.version(PROJECT)
    except md.PackageNotFoundError:
        return "unknown"


def sbom() -> dict[str, Any]:
    seen: dict[str, md.Distribution] = {}
    for dist in md.distributions():  # in sys.path order: the first of a name is the one imported
        name = dist.metadata["Name"] if dist.metadata else None
        if name and _norm(str(name)) not in seen:
            seen[_norm(str(name))] = dist
    project = seen.pop(PROJECT, None)
    components = sorted((_component(d) for d in seen.values()), key=lambda c: (_norm(c["name"]), c["version"]))
    if project is not None:
        me = _component(project, "application")
    else:
        me = {"type": "application", "bom-ref": purl(PROJECT, "unknown"), "name": PROJECT, "version": "unknown",
              "purl": purl(PROJECT, "unknown")}
    metadata = {"component": me,
                "tools": {"components": [{"type": "application", "name": "pumpctl verify (proofs/artefacts.py)",
                                          "version": me["version"]}]},
                "properties": [{"name": "python", "value": platform.python_version()},
                               {"name": "python:implementation", "value": sys.implementation.name},
                               {"name": "platform", "value": platform.platform()}]}
    content = json.dumps({"metadata": metadata, "components": components}, sort_keys=True)
    serial = uuid.uuid5(uuid.NAMESPACE_URL, "pumpctl-sbom:" + hashlib.sha256(content.encode()).hexdigest())
    return {"bomFormat": "CycloneDX", "specVersion": "1.5", "serialNumber": f"urn:uuid:{serial}", "version": 1,
            "metadata": metadata, "components": components}


def write_sbom(path: Path) -> Path:
    return _dump(sbom(), Path(path))


# ------------------------------------------------------------------------ manifest

def input_files(root: Path = ROOT) -> list[Path]:
    """The files a verification result depends on: specs, controller, proofs, tests, build config."""
    patterns = ("pyproject.toml", "specs/**/*.toml", "specs/**/*.py", "controller/**/*.py", "proofs/**/*.py",
                "proofs/evidence/templates/*", "tests/**/*.py", "tests/**/*.toml")
    found = {p for pat in patterns for p in root.glob(pat) if p.is_file() and "__pycache__" not in p.parts}
    return sorted(found)


def _shown(p: Path, root: Path) -> str:
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return p.as_posix()  # outside the root: absolute, resolves from anywhere


def _line(digest: str, name: str) -> str:
    if any(c in name for c in "\\\n\r"):
        escaped = name.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        return f"\\{digest}  {escaped}"
    return f"{digest}  {name}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(out_dir: Path, inputs: Iterable[Path], root: Path) -> Path:
    """Write ``out_dir/manifest.sha256`` over the inputs and every artefact in ``out_dir``.

    Inputs may be absolute or relative to ``root``; a missing input is an error (a manifest
    that silently skips a file would certify less than it claims)."""
    root, out_dir = Path(root).resolve(), Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / MANIFEST
    files: dict[str, Path] = {}
    for p in inputs:
        full = (p if p.is_absolute() else root / p).resolve()
        if not full.is_file():
            raise FileNotFoundError(f"manifest input {p} does not exist (resolved to {full})")
        files[_shown(full, root)] = full
    for p in sorted(out_dir.rglob("*")):
        if p.is_file() and p != manifest:
            files[_shown(p.resolve(), root)] = p
    lines = [_line(sha256_file(files[name]), name) for name in sorted(files)]
    manifest.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return manifest
