"""IEC 62304 records, generated from the repository and this run.

Theory of operation
-------------------
``records`` assembles what clause 5 to 9 ask to have on file:

- the software safety class and its reasoning, and the development plan (``specs/iec62304.toml``);
- the architecture: one software item per package (``layout.items``, the packages described in
  ``specs/scope.toml``, plus ``specs`` and ``proofs``), their sizes, how many of their modules
  the proofs execute, the items each uses, the SOUP each imports, and the segregation of the pure core (the
  modules the proofs execute import nothing but the standard library, ``transitions`` and
  each other - checked from the code);
- the SOUP list of what the runtime ships (``specs/soup.toml``): name, installed version (or
  "not installed"), required function, interface, known anomalies;
- problem reports: the recorded ones (``specs/problems.toml``) and, opened automatically, every
  failure of this run (failed requirement, failed test or scenario, surviving mutant);
- configuration items: per software item its files with one digest over them, the tools and
  the commit; every file's own hash is in ``manifest.sha256``;
- release notes for the version (tagged, or untagged at the commit) with the residual
  anomalies: open problems, hazards not supported, planned requirements, SOUP anomalies. The
  version is the checkout's (``pyproject.toml``); the tag is the one at HEAD (``git describe
  --tags --exact-match``), with what an annotated tag records (tagger, date, message); a tag
  that does not name the version, a lightweight tag, uncommitted changes or a stale install
  are listed as reasons the build is not the tagged release (``tagged_release`` is false).

Rules
1. Facts of the code are computed, never typed: items, sizes, imports, versions, digests.
2. Missing data files give empty sections with a note, never an exception.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import subprocess
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pumpctl.proofs.evidence.layout import items as architecture_items
from pumpctl.proofs.evidence.layout import segregation
from pumpctl.proofs.evidence.scope import packages

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"


def _toml(name: str) -> dict[str, Any]:
    p = SPECS / name
    return dict(tomllib.loads(p.read_text(encoding="utf-8"))) if p.is_file() else {}


def _version(name: str) -> str:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "not installed"


def soup_list(layout: Mapping[str, Any]) -> list[dict[str, Any]]:
    mods = layout.get("modules") or {}
    out = []
    for s in _toml("soup.toml").get("soup", []):
        name = str(s.get("name"))
        users = sorted(m for m, i in mods.items() if any(x.lower() == name.lower() for x in i.get("soup") or []))
        out.append({"name": name, "extra": s.get("extra") or "(core dependency)",
                    "function": s.get("function", ""), "requirements": s.get("requirements", ""),
                    "interface": s.get("interface", ""), "imported_by": users,
                    "anomalies": list(s.get("anomalies") or [])})
    return out


def _auto_problems(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every failure of this run, as an open problem report."""
    out = []
    for r in results.get("requirements") or []:
        if r.get("verdict") == "failed":
            bad = [e["id"] for e in r.get("evidence") or [] if e.get("verdict") == "fail"]
            out.append({"problem": f"{r['id']} failed: {', '.join(bad)}", "requirements": [r["id"]]})
    for t in results.get("tests") or []:
        if t.get("outcome") == "failed":
            out.append({"problem": f"test failed: {t['nodeid']}", "requirements": list(t.get("requirements") or [])})
    for s in results.get("scenarios") or []:
        if not s.get("passed"):
            out.append({"problem": f"scenario failed: {s['file']}: {'; '.join(s.get('failures') or [])}",
                        "requirements": list(s.get("requirements") or [])})
    for m in results.get("mutants") or []:
        if not m.get("killed"):
            what = f"could not be evaluated: {m['error']}" if m.get("error") else "survived"
            out.append({"problem": f"mutant {what}: {m['id']} ({m.get('text', '')})", "requirements": []})
    return [{"id": f"PR-RUN-{i:03d}", "found_by": "this pumpctl verify run", "status": "open", "cause": "",
             "resolution": "", "commit": "", "verified_by": [], **p} for i, p in enumerate(out, start=1)]


def _digest(files: list[str]) -> str:
    h = hashlib.sha256()
    for f in sorted(files):
        p = ROOT / f
        h.update(f.encode() + b"\0" + (hashlib.sha256(p.read_bytes()).digest() if p.is_file() else b"missing"))
    return h.hexdigest()


def configuration(layout: Mapping[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    from pumpctl.proofs.evidence.artefacts import input_files

    mods = layout.get("modules") or {}
    files = [p.relative_to(ROOT).as_posix() for p in input_files(ROOT)]
    groups: dict[str, list[str]] = {}
    by_path = {info["path"]: item["item"] for item in items for m in item["modules"] for info in [mods[m]]}
    for f in files:
        key = by_path.get(f) or ("tests" if f.startswith("tests/") else "specification data (specs/)"
                                 if f.startswith("specs/") else "evidence templates" if "/templates/" in f
                                 else "build configuration" if f == "pyproject.toml" else "other")
        groups.setdefault(key, []).append(f)
    return {"items": [{"item": k, "files": len(v), "sha256": _digest(v)} for k, v in sorted(groups.items())],
            "files": len(files),
            "manifest": "manifest.sha256 lists the sha256 of each of these files and of every artefact"}


def project_version(root: Path = ROOT) -> str:
    """The version of the checkout being verified (pyproject.toml), not of whatever is installed."""
    p = root / "pyproject.toml"
    try:
        return str(tomllib.loads(p.read_text(encoding="utf-8"))["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return _version("pumpctl")


def tag_facts(tag: str | None, root: Path = ROOT) -> dict[str, Any]:
    """What the tag itself records: annotated or lightweight, tagger, date, message (first line)."""
    if not tag:
        return {}
    fmt = "%(objecttype)%00%(taggername) %(taggeremail)%00%(taggerdate:iso-strict)%00%(contents:subject)"
    try:
        out = subprocess.run(["git", "for-each-ref", f"refs/tags/{tag}", f"--format={fmt}"], cwd=root,
                             capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    kind, tagger, date, message = [*out.split("\0"), "", "", "", ""][:4]
    return {"annotated": kind == "tag", "tagger": tagger.strip(), "date": date, "message": message}


def release(git: Mapping[str, Any], root: Path = ROOT) -> dict[str, Any]:
    """The release the notes are about: the checkout's version, the tag at its commit (if any), what
    the tag records, and every reason the build is not exactly that tagged version."""
    version, tag, dirty = project_version(root), git.get("tag"), git.get("dirty")
    facts = tag_facts(tag, root)
    problems = []
    if tag and str(tag).removeprefix("v") != version:
        problems.append(f"the tag {tag} does not name the version {version} of pyproject.toml")
    if tag and not facts.get("annotated"):
        problems.append(f"{tag} is a lightweight tag: no tagger, date or message is recorded (use git tag -a)")
    if dirty:
        problems.append("the working tree has uncommitted changes: this build is not the commit"
                        + (f" tagged {tag}" if tag else "") + " (commit, then verify again)")
    installed = _version("pumpctl")
    if installed not in (version, "not installed"):
        problems.append(f"the installed pumpctl metadata says {installed}, the checkout {version}: "
                        "reinstall (pip install -e .) so the SBOM names this version")
    commit = str(git.get("commit") or "?")[:12]
    title = (f"pumpctl {version} (tag {tag}{', with uncommitted changes' if dirty else ''})" if tag else
             f"pumpctl {version}, untagged build at {commit}{' with uncommitted changes' if dirty else ''}")
    return {"version": version, "tag": tag, "commit": git.get("commit"), "dirty": dirty, "title": title,
            "tag_facts": facts, "problems": problems, "tagged_release": bool(tag) and not problems}


def environment(env: Mapping[str, Any], soup: list[dict[str, Any]], root: Path = ROOT) -> dict[str, Any]:
    """The host- and commit-dependent part: versions, the commit and tag, the release title."""
    return {"soup_versions": {s["name"]: _version(s["name"]) for s in soup},
            "release": release(env.get("git") or {}, root),
            "tools": dict(env.get("tools") or {}), "python": env.get("python")}


def release_notes(results: Mapping[str, Any], problems: list[dict[str, Any]], soup: list[dict[str, Any]],
                  scope: Mapping[str, Any]) -> dict[str, Any]:
    verdict = results.get("verdict") or {}
    hazards = [h for h in results.get("hazards") or [] if h.get("verdict") != "supported"]
    return {"verdict": verdict.get("summary", ""),
            "anomalies": {
                "open problems": [f"{p['id']}: {p['problem']}" for p in problems if p.get("status") != "closed"],
                "hazard claims not supported": [f"{h['id']} ({h['severity']}, {h['verdict']}): "
                                                f"{', '.join(h.get('unsupported_controls') or [])}" for h in hazards],
                "planned requirements (not claimed)": list(verdict.get("planned") or []),
                "SOUP known anomalies": [f"{s['name']}: {a}" for s in soup for a in s["anomalies"]],
                "outside the proofs": [f"{o.get('part')}: {o.get('not_proved') or o.get('what')}; covered by "
                                       f"{o.get('covered_by')}" for o in scope.get("outside") or []
                                       if o.get("present")],
                "not covered at all": [f"{o.get('part')}: {o.get('what')}" for o in scope.get("not_covered") or []],
            }}


def records(results: Mapping[str, Any], layout: Mapping[str, Any], scope_data: Mapping[str, Any],
            scope: Mapping[str, Any]) -> dict[str, Any]:
    data = _toml("iec62304.toml")
    described = list(scope_data.get("package") or [])
    items = architecture_items(layout, packages(scope_data),
                                runtime={str(r["item"]): bool(r.get("runtime", True)) for r in described},
                                docs={str(r["item"]): str(r.get("what", "")) for r in described})
    soup = soup_list(layout)
    problems = list(_toml("problems.toml").get("problem", [])) + _auto_problems(results)
    return {"classification": dict(data.get("classification") or {}), "plan": list(data.get("plan") or []),
            "architecture": {"items": items, "segregation": segregation(layout),
                             "soup_interfaces": [{"item": i["item"], "soup": i["soup"]} for i in items if i["soup"]]},
            "soup": soup, "problems": problems, "configuration": configuration(layout, items),
            "release": release_notes(results, problems, soup, scope)}
