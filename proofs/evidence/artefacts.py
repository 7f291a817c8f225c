"""Machine-readable artefacts of ``pumpctl verify``: SARIF and the sha256 manifest (the SBOM is
``proofs.evidence.sbom``, the manifest's signature ``proofs.evidence.signing``).

Theory of operation
-------------------
- ``write_sarif``: the proof and contract results as SARIF 2.1.0, so code-scanning tools show
  every obligation where it is defined. One run; the driver is ``pumpctl prove`` (with z3, and
  CrossHair when known, as tool extensions); one rule per proof obligation and one per
  CrossHair contract; one result per rule: ``pass`` for a proved obligation or a contract
  without counterexample, ``fail`` for a counterexample, ``open`` for an undecided verdict
  (SARIF spells pass and open with level ``none``), located at the line of
  ``specs/invariants.py``, ``proofs/auxiliary.py`` (then any ``proofs/*.py``) or
  ``proofs/contracts.py`` that defines it.
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
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pumpctl.proofs.evidence.render_view import actor_name

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


def _contract_line(fn: str, root: Path) -> int | None:
    f = root / "proofs" / "contracts.py"
    if not f.is_file():
        return None
    for n, text in enumerate(f.read_text(encoding="utf-8").splitlines(), start=1):
        if text.startswith(f"def {fn}("):
            return n
    return None


def _rules(r: Mapping[str, Any], root: Path) -> list[dict[str, Any]]:
    """One rule per proof obligation and per CrossHair contract, with what its result is."""
    rules = []
    for ob in r.get("obligations") or []:
        oid, text = str(ob.get("obligation", "?")), str(ob.get("text", ""))
        reqs = [str(x) for x in ob.get("requirements") or []]
        safety = bool(ob.get("safety", True))
        verdict = str(ob.get("verdict"))
        kind = {"proved": "pass", "counterexample": "fail"}.get(verdict, "open")
        rel, line = locate(oid, root)
        if kind == "pass":
            body = f"{oid} proved (k={ob.get('k')}) for every reachable state and valid configuration: {text}"
        elif kind == "fail":
            body = f"{oid} refuted: {text}. {ob.get('detail', '')}".strip()
        else:
            body = f"{oid} undecided (no proof, no counterexample): {text}. {ob.get('detail', '')}".strip()
        rules.append({"id": oid, "text": text, "reqs": reqs, "safety": safety, "kind": kind, "file": rel,
                      "line": line, "body": body, "ob": ob, "tool": "z3"})
    ch = r.get("crosshair") or {}
    fns = [str(f) for f in ch.get("functions") or []]
    contract_items = {str(e.get("id")): e for q in r.get("requirements") or [] for e in q.get("evidence") or []
                      if e.get("type") == "contract"}
    for fn in fns:
        short = fn.rsplit(".", 1)[-1]
        item = contract_items.get(f"crosshair:{short}") or contract_items.get(f"crosshair:{fn}") or {}
        failed = any(short in str(line) for line in ch.get("failures") or []) or (not ch.get("ok") and not item)
        kind = "fail" if failed or item.get("verdict") == "fail" else "pass"
        reqs = sorted({str(q.get("id")) for q in r.get("requirements") or [] for e in q.get("evidence") or []
                       if e.get("type") == "contract" and str(e.get("id")).endswith(f":{short}")})
        claim = str(ch.get("claim") or "not run")
        rules.append({"id": f"crosshair:{short}", "text": f"contract {fn}", "reqs": reqs, "safety": True,
                      "kind": kind, "file": "proofs/contracts.py", "line": _contract_line(short, root),
                      "body": f"contract {fn}: {claim}" if kind == "pass" else f"contract {fn} FAILED: "
                      + "; ".join(str(x) for x in ch.get("failures") or [] if short in str(x)), "ob": {},
                      "tool": "CrossHair"})
    return rules


def sarif(evidence: Mapping[str, Any], root: Path = ROOT) -> dict[str, Any]:
    r = evidence.get("results") or {}
    env = evidence.get("environment") or {}
    tools = env.get("tools") or {}
    rules, results = [], []
    for i, rule in enumerate(_rules(r, root)):
        oid, reqs, safety, kind = rule["id"], rule["reqs"], rule["safety"], rule["kind"]
        rules.append({"id": oid, "name": oid, "shortDescription": {"text": rule["text"] or oid},
                      "fullDescription": {"text": f"{oid}: {rule['text']} (requirements: {', '.join(reqs) or 'none'})"},
                      "defaultConfiguration": {"level": "error" if safety else "warning"},
                      "properties": {"requirements": reqs, "safety": safety, "tool": rule["tool"]}})
        level = ("error" if safety else "warning") if kind == "fail" else "none"
        ob = rule["ob"]
        trace = ob.get("trace") or []
        body = rule["body"] + (f"\nRequirements: {', '.join(reqs)}." if reqs else "")
        if trace:
            body += f"\nTrace from power-on (replayed on the runtime: {ob.get('replayed')}):\n" + _trace_text(trace)
        props: dict[str, Any] = {"requirements": reqs, "verdict": ob.get("verdict", kind), "k": ob.get("k"),
                                 "replayed": ob.get("replayed")}
        if ob.get("scenario"):
            props["scenario"] = ob["scenario"]
        region = {"region": {"startLine": rule["line"]}} if rule["line"] else {}
        results.append({"ruleId": oid, "ruleIndex": i, "kind": kind, "level": level, "message": {"text": body},
                        "locations": [{"physicalLocation": {
                            "artifactLocation": {"uri": rule["file"], "uriBaseId": "SRCROOT"}, **region}}],
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


def _project_version() -> str:
    from importlib import metadata

    try:
        return metadata.version(PROJECT)
    except metadata.PackageNotFoundError:
        return "unknown"


def write_sarif(evidence: Mapping[str, Any], path: Path, root: Path = ROOT) -> Path:
    return _dump(sarif(evidence, root), Path(path))


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
