"""Shared fixtures; requirement ids of each test land in the JUnit XML as properties."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("verify", max_examples=100, deadline=None, derandomize=True, print_blob=False,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _record_requirements(request: pytest.FixtureRequest, record_property) -> None:  # type: ignore[no-untyped-def]
    for marker in request.node.iter_markers("req"):
        for req in marker.args:
            record_property("requirement", req)
    for marker in request.node.iter_markers("method"):  # the verification method this test is evidence of
        record_property("method", marker.args[0])
