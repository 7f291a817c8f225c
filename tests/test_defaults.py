"""Defaults a clinician would expect (issue 10 point 6): a default is valid for every valid setting
of everything else - the bolus rate under every drug, route and basal, the route of a drug never
given intravenously, and the pump's own defaults (prime rate) under every configuration."""

from __future__ import annotations

from dataclasses import fields, replace
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.clinical.drugs import Library
from controller.clinical.programs import DEFAULT_BOLUS_RATE_ML_H, build_program, default_bolus_rate
from controller.core.commands import SetFlow
from controller.core.events import ev
from controller.core.limits import LIMIT_CHECKS, PUMP_MAX_RATE, ROUTE_NAMES, Limits, validate_limits, with_settings
from controller.core.machine import Controller
from controller.core.program import max_step_rate, rate_cap
from controller.core.units import RATE_PER_ML_H
from controller.errors import ConfigurationError
from tests.clinical_strategies import example_libraries

ML_H = RATE_PER_ML_H
DEFAULT = DEFAULT_BOLUS_RATE_ML_H * ML_H
PUMPS = (Limits(), Limits(max_rate=100 * ML_H, prime_rate=100 * ML_H), Limits(max_rate=100 * ML_H))


def _request(e: Any, route: str, basal: Fraction) -> dict[str, Any]:
    req: dict[str, Any] = {"drug": e.drug, "care_area": e.care_area, "route": route, "rate_ml_h": basal,
                           "vtbi_ml": 50, "bolus_ml": Fraction(1, 2), "lockout_s": 600}
    if e.dose_unit.per_body == "kg" or not e.weight.empty:
        req["weight_kg"] = 70
    return req


def _cases() -> list[tuple[Library, Any, str, Limits]]:
    return [(lib, e, route, limits) for lib in example_libraries() for e in lib.entries for route in e.routes
            for limits in PUMPS]


@pytest.mark.req("REQ-BOL-001", "REQ-DEL-002")
@pytest.mark.parametrize("lib, entry, route, limits", _cases(),
                         ids=[f"{e.drug}-{r}-{lim.max_rate // ML_H}" for _, e, r, lim in _cases()])
def test_the_default_bolus_rate_fits_every_example_entry_route_and_basal(lib: Library, entry: Any, route: str,
                                                                         limits: Limits) -> None:
    """Morphine PCA (rate hard max 10 mL/h), the epidural cap (25 mL/h), a 100 mL/h pump: the
    default is what the caps leave on top of the basal, at most 100 mL/h; refused, naming
    bolus_rate_ml_h, only when nothing is left."""
    built_any = 0
    for basal in (Fraction(0), Fraction(1, 2), Fraction(3), Fraction(10), Fraction(25), Fraction(99)):
        try:
            built = build_program(_request(entry, route, basal), limits, lib)
        except ConfigurationError as exc:
            if exc.field == "bolus_rate_ml_h":
                assert "leaves none" in exc.allowed and exc.value is None
                continue
            assert exc.field != "bolus_rate_ml_h" and "bolus" not in exc.field, str(exc)  # not the default's fault
            continue
        p = built.program
        room = rate_cap(p, limits) - max_step_rate(p)
        assert p.pca_rate == min(DEFAULT, room) > 0
        assert max_step_rate(p) + p.pca_rate <= rate_cap(p, limits)
        built_any += 1
    if limits.max_rate >= (entry.rate.hard_max or 0) * ML_H:  # a pump this entry was written for
        assert built_any, "no basal at all accepted a default bolus"


@pytest.mark.req("REQ-BOL-001", "REQ-DEL-002")
@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(max_rate=st.integers(1, 1200).map(lambda x: x * ML_H), route=st.sampled_from(sorted(ROUTE_NAMES)),
       route_cap=st.integers(1, 1200).map(lambda x: x * ML_H), basal=st.fractions(0, 1200, max_denominator=1000),
       bolus=st.sampled_from([Fraction(1, 10), Fraction(1), Fraction(5)]))
def test_the_default_bolus_rate_is_valid_for_every_valid_pump_and_basal(max_rate: int, route: str, route_cap: int,
                                                                        basal: Fraction, bolus: Fraction) -> None:
    caps = list(Limits().route_max_rate)
    caps[ROUTE_NAMES[route]] = route_cap
    limits = validate_limits(Limits(max_rate=max_rate, route_max_rate=tuple(caps)))
    req: dict[str, Any] = {"rate_ml_h": basal, "vtbi_ml": 100, "bolus_ml": bolus, "lockout_s": 60, "route": route}
    cap = min(max_rate, route_cap)
    basal_uh = int(basal * ML_H)
    if basal_uh > cap or 0 < basal_uh < limits.min_rate:
        return  # the basal itself is refused: not a default's business
    try:
        built = build_program(req, limits)
    except ConfigurationError as exc:
        assert exc.field == "bolus_rate_ml_h" and basal_uh == cap, str(exc)  # nothing left on top
        return
    assert built.program.pca_rate == min(DEFAULT, cap - basal_uh) == default_bolus_rate(built.program, limits)


@pytest.mark.req("REQ-BOL-001")
def test_morphine_pca_gets_the_room_under_its_rate_cap() -> None:
    lib = example_libraries()[0]
    built = build_program({"drug": "morphine", "rate_ml_h": 1, "vtbi_ml": 50, "bolus_ml": 1, "lockout_s": 600},
                          Limits(), lib)
    assert built.program.pca_rate == 9 * ML_H  # 10 mL/h rate hard max less the 1 mL/h basal (was 100: refused)
    pca_only = build_program({"drug": "morphine", "rate_ml_h": 0, "vtbi_ml": 50, "bolus_ml": 1, "lockout_s": 600},
                             Limits(), lib)
    assert pca_only.program.pca_rate == 10 * ML_H
    with pytest.raises(ConfigurationError) as exc:
        build_program({"drug": "morphine", "rate_ml_h": 10, "vtbi_ml": 50, "bolus_ml": 1, "lockout_s": 600},
                      Limits(), lib)
    assert exc.value.field == "bolus_rate_ml_h" and "10 mL/h" in exc.value.allowed


@pytest.mark.req("REQ-RTE-001")
def test_a_drug_never_given_intravenously_needs_its_route_said() -> None:
    """The default route, intravenous, is not guessed into another: the refusal names the field."""
    lib = Library.from_data({"drug": [
        {"drug": "bupi", "concentration": 1, "concentration_unit": "mg/mL", "dose_unit": "mg/h",
         "routes": ["epidural"]}]})
    with pytest.raises(ConfigurationError) as exc:
        build_program({"drug": "bupi", "rate_ml_h": 5, "vtbi_ml": 50}, Limits(), lib)
    assert exc.value.field == "route" and exc.value.value is None and "say which route" in exc.value.allowed
    built = build_program({"drug": "bupi", "rate_ml_h": 5, "vtbi_ml": 50, "route": "epidural"}, Limits(), lib)
    assert built.program.route == ROUTE_NAMES["epidural"]


@pytest.mark.req("REQ-CFG-001", "REQ-PRM-001")
@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(st.integers(1, PUMP_MAX_RATE // ML_H))
def test_the_default_prime_rate_is_capped_by_any_configured_max_rate(max_ml_h: int) -> None:
    """The issue's case: max_rate 100 mL/h with the default prime rate 600 mL/h is accepted, and
    priming runs at no more than max_rate."""
    limits = validate_limits(Limits(max_rate=max_ml_h * ML_H))
    ctl = Controller(limits)
    ctl.handle(ev("self_test", flag=True))
    ctl.handle(ev("program", program=build_program({"rate_ml_h": Fraction(1, 10), "vtbi_ml": 10}, limits).program))
    step = ctl.handle(ev("prime", volume=2 * 3_600_000_000, flag=True))  # 2 mL, line disconnected
    assert step.accepted, step.reason
    flows = [c for c in step.commands if isinstance(c, SetFlow)]
    assert flows and all(0 < c.rate <= limits.max_rate for c in flows)


def _own_range_values(name: str) -> list[int]:
    """Values of one field that pass its own range check (the defaults of the others unchanged)."""
    own = [c for c in LIMIT_CHECKS if c.field == name]
    probes = {1, 2, 5, 10, 30, 60, 100, 120, 300, 400, 420, 449, 450, 500, 550, 1_000, 10_000, 30_000, 60_000,
              100_000, 600_000, 1_200_000, 3_600_000}
    return sorted(x for x in probes if all(c.pred(replace(Limits(), **{name: x})) for c in own))


SCALARS = [f.name for f in fields(Limits) if isinstance(getattr(Limits(), f.name), int)]
@pytest.mark.req("REQ-CFG-001")
@pytest.mark.parametrize("name", SCALARS)
def test_every_pump_default_is_valid_for_every_valid_setting_of_one_other_field(name: str) -> None:
    """A user sets one field; every default of the others (a dependent one lowered just enough,
    ``limits.with_settings``) is valid with it. Without the dependent defaults, battery_low_min
    1..5 (battery_depleted_min defaults to 5) and overheat_c10 400..450 (temp_max_c10 defaults
    to 450) were refused."""
    for x in _own_range_values(name):
        validate_limits(with_settings({name: x}))


@pytest.mark.req("REQ-CFG-001")
def test_a_dependent_default_is_lowered_only_when_needed_and_never_overrides_a_setting() -> None:
    assert with_settings({"battery_low_min": 3}).battery_depleted_min == 2
    assert with_settings({"battery_low_min": 30}).battery_depleted_min == Limits().battery_depleted_min
    assert with_settings({"overheat_c10": 420}).temp_max_c10 == 419
    both = with_settings({"battery_low_min": 3, "battery_depleted_min": 4})  # the user's own: judged, not fixed
    assert both.battery_depleted_min == 4
    with pytest.raises(ConfigurationError, match="battery_depleted_min"):
        validate_limits(both)
    with pytest.raises(ConfigurationError, match="battery_depleted_min"):  # without the rule: the old refusal
        validate_limits(replace(Limits(), battery_low_min=3))
