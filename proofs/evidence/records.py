"""The regulatory records of one run, built after the verdicts: scope, risk, use errors,
IEC 62304, cybersecurity.

Theory of operation
-------------------
``records`` reads only what the run produced (the ``results`` and the environment of the
evidence dictionary) plus ``specs/`` and the repository layout, and returns the sections
``scope``, ``risk``, ``use_errors``, ``iec62304`` and ``security`` that go into
``results`` beside the verdicts. Environment-dependent facts (installed versions, hashes of
installed distributions) go under ``records_env`` in the evidence, outside ``results``, so
``results`` stays byte-stable for a commit.

Rules
1. Records never change a verdict; they present it.
2. A section whose data file is missing renders as "not recorded", never fails the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pumpctl.proofs.evidence import iec62304, layout, risk, scope, security, use_errors
from pumpctl.proofs.evidence import sbom as sbom_mod


def records(evidence: Mapping[str, Any], settings: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the sections for ``results``, the host-dependent part for ``environment['records']``)."""
    results = evidence["results"]
    env = evidence.get("environment") or {}
    lay = layout.scan()
    scope_data = scope.read_scope()
    sc = scope.section(results, settings, lay, scope_data)
    rf = risk.risk_file(results)
    rec = iec62304.records(results, lay, scope_data, sc)
    stable = {"scope": sc, "risk": rf, "use_errors": use_errors.analysis(results), "iec62304": rec,
              "security": security.security_file(results, rf["policy"])}
    host = {**iec62304.environment(env, rec["soup"]), "sbom": sbom_mod.summary(),
            "vulnerability_review": security.environment()}
    return stable, host
