"""The MDIB and the code table, without a network: every alarm an AlertCondition, no unverified code as MDC."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from controller.core import alarms as A
from controller.core.state import STATES
from controller.library.gate import LIBRARY_ALARM, LIBRARY_ALARM_PRIORITY
from controller.runtime.logstore import LOG_ALARM, LOG_ALARM_PRIORITY
from controller.scenario.model import SHELL_ALARMS
from controller.sdc import codes
from controller.sdc.mdib import (
    METRICS,
    PM,
    PRIORITY,
    SHELL_ALERTS,
    XSI,
    alerts,
    condition_handle,
    mdib_xml,
    signal_handle,
)
from controller.sdc.operations import OPERATIONS


def _doc() -> ET.Element:
    return ET.fromstring(mdib_xml())


def _by_handle(root: ET.Element) -> dict[str, ET.Element]:
    return {el.get("Handle", ""): el for el in root.iter() if el.get("Handle")}


def unverified_as_mdc(root: ET.Element) -> list[str]:
    """Every coded value sent in the MDC system whose code is not a sourced entry of the table."""
    sourced = {c.code for c in codes.TABLE if c.status == "sourced"}
    return [f"{el.tag}:{el.get('Code')}" for el in root.iter()
            if el.get("CodingSystem") == codes.MDC and el.get("Code") not in sourced]


def test_every_catalog_alarm_is_a_condition_with_its_priority_and_a_signal() -> None:
    handles = _by_handle(_doc())
    conditions = {h for h, el in handles.items() if el.get(f"{{{XSI}}}type") == "pm:AlertConditionDescriptor"}
    assert conditions == {condition_handle(a.id) for a in A.CATALOG} | {condition_handle(a) for a in SHELL_ALARMS}
    for spec in A.CATALOG:
        cond, sig = handles[condition_handle(spec.id)], handles[signal_handle(spec.id)]
        assert cond.get("Priority") == PRIORITY[spec.priority]
        assert sig.get("ConditionSignaled") == condition_handle(spec.id)
        assert sig.get("Latching") == ("true" if spec.latching else "false")


@pytest.mark.req("REQ-SEC-001", "REQ-LOG-004")
def test_the_shells_own_alarms_are_conditions_with_the_priority_their_raisers_give_them() -> None:
    """The library gate's and the log store's alarms, with the priorities those modules raise them with."""
    handles = _by_handle(_doc())
    assert {a.id for a in SHELL_ALERTS} == set(SHELL_ALARMS)  # every alarm the shell raises (scenario model)
    raised = {LIBRARY_ALARM: LIBRARY_ALARM_PRIORITY, LOG_ALARM: LOG_ALARM_PRIORITY}
    assert set(raised) == set(SHELL_ALARMS)
    for alarm, priority in raised.items():
        cond, sig = handles[condition_handle(alarm)], handles[signal_handle(alarm)]
        assert cond.get("Priority") == {"high": "Hi", "medium": "Me", "low": "Lo"}[priority]
        assert sig.get("ConditionSignaled") == condition_handle(alarm) and sig.get("Manifestation") == "Aud"
    assert handles[signal_handle(LOG_ALARM)].get("Latching") == "true"  # latched until the pump restarts
    assert handles[signal_handle(LIBRARY_ALARM)].get("Latching") == "false"  # cleared by a good load or program
    assert not set(SHELL_ALARMS) & set(A.IDS)  # not in the core's catalog: they would be there twice


def test_a_new_catalog_alarm_appears_without_touching_the_sdc_package(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = A.AlarmSpec("brand_new_alarm", A.Priority.LOW, A.Response.CONTINUE, False, "a new alarm", ("REQ-X",))
    monkeypatch.setattr(A, "CATALOG", (*A.CATALOG, extra))
    handles = _by_handle(_doc())
    assert handles[condition_handle("brand_new_alarm")].get("Priority") == "Lo"
    code = handles[condition_handle("brand_new_alarm")].find(f"{{{PM}}}Type")
    assert code is not None and code.get("CodingSystem") == codes.LOCAL


def test_metrics_states_and_operations_are_all_there() -> None:
    handles = _by_handle(_doc())
    for m in METRICS:
        assert m.handle in handles
    values = [v.text for v in handles["m.state"].iter(f"{{{PM}}}Value")]
    assert values == list(STATES)
    for op in OPERATIONS:
        assert handles[op.handle].get("OperationTarget") == op.target
        assert op.target in handles


def test_no_unverified_code_is_sent_as_mdc_and_the_check_can_fail() -> None:
    root = _doc()
    assert unverified_as_mdc(root) == []
    for c in codes.TABLE:
        system = codes.coded(c.ref)[1]
        assert (system == codes.MDC) == (c.status == "sourced"), c.ref
        if c.status == "unverified":
            assert c.note, f"{c.ref}: an unverified code says why"
        if c.status == "sourced":
            assert c.sources, f"{c.ref}: a sourced code names its source"
    tampered = ET.fromstring(mdib_xml().replace(
        f'Code="MDC_VOL_FLUID_TBI" CodingSystem="{codes.LOCAL}"', f'Code="157884" CodingSystem="{codes.MDC}"'))
    assert unverified_as_mdc(tampered) == [f"{{{PM}}}Type:157884"]


def test_every_code_in_the_mdib_comes_from_the_table() -> None:
    allowed = {codes.coded(c.ref) for c in codes.TABLE}
    allowed |= {codes.alarm_type(a.id) for a in alerts()} | {codes.operation_type(op.handle) for op in OPERATIONS}
    sent = {(el.get("Code"), el.get("CodingSystem")) for el in _doc().iter() if el.get("CodingSystem")}
    assert sent <= allowed
    assert all(el.get("CodingSystem") for el in _doc().iter() if el.get("Code") is not None)
