"""The core's boundary refuses non-integer state as it refuses non-integer events (issue 10 point 5):
``Controller`` validates the limits it is given and every leaf of handed-in variables (a restore)."""

from __future__ import annotations

import pytest

from controller.core.limits import Limits
from controller.core.machine import Controller
from controller.core.state import initial_vars
from controller.errors import ConfigurationError


def test_limits_with_a_float_are_refused_naming_the_field() -> None:
    with pytest.raises(ConfigurationError, match=r"max_rate = 1\.5"):
        Controller(Limits(max_rate=1.5))  # type: ignore[arg-type]


def test_limits_out_of_range_are_refused_with_the_allowed_range() -> None:
    with pytest.raises(ConfigurationError, match=r"change_factor .*2 to 10"):
        Controller(Limits(change_factor=1))


@pytest.mark.parametrize("path", ["flow.odo", "line.last_rate", "marks.confirmed"])
def test_handed_in_variables_with_a_float_leaf_are_refused_naming_it(path: str) -> None:
    v = initial_vars()
    record, name = path.split(".")
    v = v._replace(**{record: getattr(v, record)._replace(**{name: 2.5})})
    with pytest.raises(ConfigurationError, match=f"vars.{path} = 2.5"):
        Controller(vars=v)


def test_valid_limits_and_variables_are_accepted() -> None:
    assert Controller().state == "POST"
    assert Controller(Limits(max_rate=100 * 1000)).vars.cfg.max_rate == 100 * 1000
    assert Controller(vars=initial_vars(), state="IDLE").state == "IDLE"
