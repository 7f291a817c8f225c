"""Shared fixtures; requirement ids of each test land in the JUnit XML as properties, and so
does what the test's core steps reached (``specs.checker.recording``), so the evidence can credit
a stateful test only for the requirements its run actually exercised."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("verify", max_examples=100, deadline=None, derandomize=True, print_blob=False,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _record_requirements(request: pytest.FixtureRequest, record_property) -> Iterator[None]:  # type: ignore[no-untyped-def]
    import tempfile

    from pumpctl.specs.checker import COVERAGE_DIR, merge_children, recording

    reqs = [req for marker in request.node.iter_markers("req") for req in marker.args]
    for req in reqs:
        record_property("requirement", req)
    for marker in request.node.iter_markers("method"):  # the verification method this test is evidence of
        record_property("method", marker.args[0])
    if not reqs:
        yield
        return
    with recording() as cov, tempfile.TemporaryDirectory(prefix="pumpctl-coverage-") as children:
        os.environ[COVERAGE_DIR] = children  # child processes (pumpctl runs) record and write here
        try:
            yield
        finally:
            del os.environ[COVERAGE_DIR]
        merge_children(cov, children)
    if cov.steps:
        record_property("coverage", json.dumps(cov.to_json(), separators=(",", ":")))
    hyp = getattr(request.node.cls, "settings", None) or getattr(
        getattr(request.node, "obj", None), "_hypothesis_internal_use_settings", None)
    if isinstance(hyp, settings):
        record_property("examples", hyp.max_examples)
