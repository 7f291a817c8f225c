"""The SBOM: CycloneDX 1.5 JSON, split into what the runtime ships and the verification tooling.

Theory of operation
-------------------
``sbom`` reads the running environment with ``importlib.metadata``. The *runtime* part is the
SOUP of ``specs/soup.toml`` (transitions and the runtime extras' packages: pyserial for the
serial driver, cryptography for library signatures) and every distribution they require,
transitively; everything else installed is *tooling* (Z3, CrossHair, jinja2, pytest ...).
Each component carries:

- name, version, purl and declared licenses;
- ``scope``: ``required`` for the runtime, ``excluded`` for tooling (not shipped), and the
  property ``pumpctl:part`` saying which;
- a SHA-256 hash of the installed distribution's ``RECORD`` file, which itself lists the
  SHA-256 of every installed file (a wheel's own hash is not known once it is installed; the
  property ``pumpctl:hash-of`` says what was hashed);

and the document has the dependency graph (``dependencies``, from each distribution's
``Requires-Dist`` with its environment markers evaluated, extras off). ``write_sboms`` writes
the whole SBOM and the runtime and tooling parts as separate files.

Rules
1. Deterministic: sorted, no timestamps, a serial number derived from the content.
2. Honest: a license only when declared; a missing RECORD means no hash, never a made-up one.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata as md
import json
import platform
import re
import sys
import tomllib
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "pumpctl"
SOUP_FILE = ROOT / "specs" / "soup.toml"
FILES = {"all": "sbom.cdx.json", "runtime": "sbom-runtime.cdx.json", "tooling": "sbom-tooling.cdx.json"}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def purl(name: str, version: str) -> str:
    """pkg:pypi purl: lower-case name with '_' as '-', version percent-encoded where needed."""
    v = "".join(c if c.isalnum() or c in ".-_~" else f"%{ord(c):02X}" for c in version)
    return f"pkg:pypi/{norm(name)}@{v}"


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


def _requires(dist: Any) -> list[str]:
    """Names this distribution requires here (markers evaluated, extras off)."""
    cached = _REQUIRES.get(id(dist))
    if cached is not None:
        return cached
    out = []
    for spec in dist.requires or []:
        try:
            from packaging.requirements import Requirement

            req = Requirement(spec)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            out.append(norm(req.name))
        except Exception:  # no packaging, or an odd line: keep the plain, unconditional names only
            if ";" not in spec:
                out.append(norm(re.split(r"[\s<>=!~\[(]", spec.strip(), maxsplit=1)[0]))
    _REQUIRES[id(dist)] = sorted(set(out))
    return _REQUIRES[id(dist)]


_REQUIRES: dict[int, list[str]] = {}


class _Dist:
    """One installed distribution, its metadata parsed once (importlib re-reads it on every access)."""

    def __init__(self, dist: md.Distribution) -> None:
        self.dist, self.metadata, self.version = dist, dist.metadata, dist.version
        self.requires = dist.requires

    def read_text(self, name: str) -> str | None:
        return self.dist.read_text(name)


@functools.cache
def _installed() -> tuple[tuple[str, _Dist], ...]:
    seen: dict[str, _Dist] = {}
    for dist in md.distributions():  # in sys.path order: the first of a name is the one imported
        info = _Dist(dist)
        name = info.metadata["Name"] if info.metadata else None
        if name and norm(str(name)) not in seen:
            seen[norm(str(name))] = info
    return tuple(seen.items())


def installed() -> dict[str, Any]:
    return dict(_installed())


def runtime_names(dists: dict[str, Any], soup_file: Path = SOUP_FILE) -> set[str]:
    roots = {norm(str(s["name"])) for s in tomllib.loads(soup_file.read_text()).get("soup", [])} \
        if soup_file.is_file() else {"transitions"}
    out, todo = set(), sorted(roots)
    while todo:
        n = todo.pop()
        if n in out:
            continue
        out.add(n)
        if n in dists:
            todo += [r for r in _requires(dists[n]) if r not in out]
    return out


def _record_hash(dist: Any) -> str | None:
    try:
        text = dist.read_text("RECORD")
    except Exception:
        return None
    return hashlib.sha256(text.encode()).hexdigest() if text else None


def _component(dist: Any, part: str, kind: str = "library") -> dict[str, Any]:
    meta = dist.metadata
    name, version = str(meta["Name"]), str(dist.version)
    c: dict[str, Any] = {"type": kind, "bom-ref": purl(name, version), "name": name, "version": version,
                         "purl": purl(name, version), "scope": "required" if part == "runtime" else "excluded",
                         "properties": [{"name": "pumpctl:part", "value": part}]}
    digest = _record_hash(dist)
    if digest:
        c["hashes"] = [{"alg": "SHA-256", "content": digest}]
        c["properties"].append({"name": "pumpctl:hash-of", "value": "the installed distribution's RECORD file"})
    lic = _licenses(meta)
    if lic:
        c["licenses"] = lic
    return c


def sbom(part: str = "all") -> dict[str, Any]:
    """The SBOM of the environment: ``all``, or only the ``runtime`` or ``tooling`` part."""
    dists = installed()
    project = dists.pop(PROJECT, None)
    runtime = runtime_names(dists)
    parts = {n: ("runtime" if n in runtime else "tooling") for n in dists}
    chosen = {n: d for n, d in dists.items() if part == "all" or parts[n] == part}
    components = sorted((_component(d, parts[n]) for n, d in chosen.items()),
                        key=lambda c: (norm(c["name"]), c["version"]))
    ref = {n: purl(str(d.metadata["Name"]), str(d.version)) for n, d in dists.items()}
    if project is not None:
        me = _component(project, "runtime", "application")
        me.pop("scope")
    else:
        me = {"type": "application", "bom-ref": purl(PROJECT, "unknown"), "name": PROJECT, "version": "unknown",
              "purl": purl(PROJECT, "unknown")}
    deps = [{"ref": ref[n], "dependsOn": sorted(ref[r] for r in _requires(d) if r in ref)}
            for n, d in sorted(chosen.items())]
    if project is not None:  # pumpctl needs transitions, and its runtime extras need the other SOUP roots
        top = sorted(_soup_roots() & set(chosen)) if part != "tooling" else []
        deps.insert(0, {"ref": me["bom-ref"], "dependsOn": sorted(ref[n] for n in top)})
    metadata = {"component": me,
                "tools": {"components": [{"type": "application", "name": "pumpctl verify (proofs/evidence/sbom.py)",
                                          "version": me["version"]}]},
                "properties": [{"name": "python", "value": platform.python_version()},
                               {"name": "python:implementation", "value": sys.implementation.name},
                               {"name": "platform", "value": platform.platform()},
                               {"name": "pumpctl:sbom-part", "value": part}]}
    content = json.dumps({"metadata": metadata, "components": components, "dependencies": deps}, sort_keys=True)
    serial = uuid.uuid5(uuid.NAMESPACE_URL, "pumpctl-sbom:" + hashlib.sha256(content.encode()).hexdigest())
    return {"bomFormat": "CycloneDX", "specVersion": "1.5", "serialNumber": f"urn:uuid:{serial}", "version": 1,
            "metadata": metadata, "components": components, "dependencies": deps}


def _soup_roots() -> set[str]:
    if not SOUP_FILE.is_file():
        return {"transitions"}
    return {norm(str(s["name"])) for s in tomllib.loads(SOUP_FILE.read_text()).get("soup", [])}


def _dump(obj: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write_sbom(path: Path, part: str = "all") -> Path:
    return _dump(sbom(part), Path(path))


def write_sboms(out: Path) -> list[Path]:
    return [write_sbom(out / name, part) for part, name in FILES.items()]


def summary() -> dict[str, Any]:
    """Counts and the runtime components, for the report (the files hold the rest)."""
    doc = sbom("all")
    comps = doc["components"]
    runtime = [c for c in comps if c.get("scope") == "required"]
    shown = {c["bom-ref"] for c in runtime} | {doc["metadata"]["component"]["bom-ref"]}
    return {"runtime": [{"name": c["name"], "version": c["version"], "purl": c["purl"],
                         "sha256": (c.get("hashes") or [{}])[0].get("content")} for c in runtime],
            "tooling_count": len(comps) - len(runtime), "runtime_count": len(runtime),
            "edges": sum(len(d["dependsOn"]) for d in doc["dependencies"]),
            "graph": {d["ref"]: d["dependsOn"] for d in doc["dependencies"] if d["ref"] in shown},
            "files": dict(FILES)}
