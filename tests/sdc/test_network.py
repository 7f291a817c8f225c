"""The provider on 127.0.0.1 with in-process consumers: reports, remote commands as events, authentication.

One provider for the whole module (start and stop cost seconds); every test first puts the
pump back to READY with bedside commands, so the tests do not depend on their order.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytest.importorskip("sdc11073")

from sdc11073.xml_types.addressing_types import HeaderInformationBlock

from controller.cli import main
from controller.sdc.consumer import PumpConsumer
from controller.sdc.tls import contexts
from tests.sdc.helpers import PERIOD_MS, Pump, start_pump, wait_for


@pytest.fixture(scope="module")
def pump(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pump]:
    yield from start_pump(Path(tmp_path_factory.mktemp("sdc")))


@pytest.fixture
def ready(pump: Pump) -> Pump:
    pump.ready()
    return pump


def _last_call(pump: Pump) -> dict[str, object]:
    return dict(pump.records("remote_call")[-1].payload)


def test_metric_reports_arrive(ready: Pump) -> None:
    c = ready.clinician
    assert c.value("m.rate") == Decimal("2")
    assert c.value("m.drug") == "morphine" and c.value("m.concentration") == "1 mg/mL"
    assert c.activate("op.start").finished
    infused0 = c.value("m.vol.infused")
    ready.session.advance(60_000)  # one minute at 2 mL/h: 0.033 mL
    wait_for(lambda: c.value("m.vol.infused") == Decimal("0.033"))
    assert infused0 == Decimal("0") and c.value("m.state") == "RUNNING"
    assert c.value("m.rate.current") == Decimal("2")
    assert ready.monitor.value("m.vol.infused") == Decimal("0.033")  # every subscriber gets the reports


@pytest.mark.req("REQ-SEC-005")
def test_an_accepted_set_value_is_a_program_event_with_the_clinicians_actor(ready: Pump) -> None:
    r = ready.clinician.set_value("op.rate", "3")
    assert r.finished, r.message
    wait_for(lambda: ready.clinician.value("m.rate") == Decimal("3"))
    call = _last_call(ready)
    assert call["accepted"] is True and call["event"] == "program" and call["actor"] == "clinician"
    assert call["client"]["subject_cn"] == "clinician-01"  # type: ignore[index]
    step = [r.payload for r in ready.records("event_accepted")][-1]
    assert step["event"]["kind"] == "program" and step["event"]["actor"] == "clinician"


@pytest.mark.req("REQ-SEC-005")
def test_a_set_value_the_table_refuses_fails_with_the_reason_and_changes_nothing(ready: Pump) -> None:
    c = ready.clinician
    assert c.activate("op.start").finished
    before = ready.session.call(lambda: ready.session.shell.ctl.vars)
    r = c.set_value("op.rate", "3")
    assert not r.finished and r.state == "Fail" and r.error == "Oth"
    assert r.message == "not_allowed_in_state: program is not accepted in RUNNING"
    after = ready.session.call(lambda: ready.session.shell.ctl.vars)
    assert after.prog is before.prog and ready.session.request["rate_ml_h"] == 2
    assert _last_call(ready)["reason"] == r.message


@pytest.mark.req("REQ-SEC-005")
def test_the_library_hard_limit_refuses_a_remote_rate(ready: Pump) -> None:
    r = ready.clinician.set_value("op.rate", "20")  # morphine: rate hard max 10 mL/h
    assert not r.finished
    assert r.message.startswith("library_refused: program:") and "rate_ml_h" in r.message
    assert ready.clinician.value("m.rate") == Decimal("2")
    assert ready.records("program_refused")[-1].payload["request"]["rate_ml_h"] == "20"
    dose = ready.clinician.set_value("op.rate", "5")  # within 10 mL/h, but 5 mg/h over morphine's 4 mg/h dose max
    assert not dose.finished and "dose hard limit" in dose.message  # issue 10 defect 1, over the network
    assert ready.clinician.value("m.rate") == Decimal("2")


def test_bad_values_are_refused_with_the_field(ready: Pump) -> None:
    r = ready.clinician.set_value("op.vtbi", "-1")
    assert not r.finished and "vtbi_ml" in r.message


def test_activate_stop_stops_the_motor(ready: Pump) -> None:
    c, s = ready.clinician, ready.session
    assert c.activate("op.start").finished
    s.advance(PERIOD_MS)
    assert s.call(lambda: s.plant.mech.rate) == 2000
    assert c.activate("op.stop").finished
    assert s.call(lambda: (s.plant.mech.rate, s.shell.ctl.state)) == (0, "STOPPED")  # before the next period
    wait_for(lambda: c.value("m.rate.current") == Decimal("0"))


def test_an_alarm_raised_in_the_simulator_is_an_alert_in_the_same_control_period(ready: Pump) -> None:
    c, s = ready.clinician, ready.session
    assert c.activate("op.start").finished
    s.advance(PERIOD_MS)
    period = s.call(lambda: s.period)
    s.call(lambda: s.plant.set_door(True))
    view = s.advance(PERIOD_MS)  # one control period
    assert view.state == "ALARM"
    assert (period + 1, "door_open", True) in ready.provider.alert_changes
    wait_for(lambda: ("door_open", "high", "On") in c.present_alarms())
    assert c.value("m.state") == "ALARM"
    s.call(lambda: s.plant.set_door(False))
    s.advance(PERIOD_MS)
    wait_for(lambda: c.state("as.door_open").Presence.value == "Latch")  # latched until acknowledged
    assert c.activate("op.acknowledge").finished
    wait_for(lambda: c.present_alarms() == [] and c.state("as.door_open").Presence.value == "Off")


@pytest.mark.req("REQ-SEC-003", "REQ-SEC-005")
def test_a_read_only_monitor_cannot_command_and_the_refusal_is_logged(ready: Pump) -> None:
    r = ready.monitor.activate("op.start")
    assert not r.finished and r.message.startswith("not_authorized:") and "monitor" in r.message
    call = _last_call(ready)
    assert call["accepted"] is False and call["role"] == "monitor" and call["actor"] is None
    assert ready.session.call(lambda: ready.session.shell.ctl.state) == "READY"


@pytest.mark.req("REQ-SEC-003", "REQ-SEC-005")
def test_a_certificate_of_the_ca_without_a_role_cannot_command(ready: Pump) -> None:
    with PumpConsumer(ready.provider.url, contexts(*ready.pki.stranger, ready.pki.ca)) as stranger:
        assert stranger.value("m.state") == "READY"  # authenticated: may read
        r = stranger.set_value("op.rate", "4")
    assert not r.finished and "no role" in r.message
    assert _last_call(ready)["client"]["subject_cn"] == "visitor-01"  # type: ignore[index]


@pytest.mark.req("REQ-SEC-003", "REQ-SEC-005")
@pytest.mark.parametrize("who", ["unknown_ca", "self_signed"])
def test_unknown_ca_and_self_signed_clients_are_rejected_and_logged(pump: Pump, who: str) -> None:
    before = len(pump.records("tls_rejected"))
    with pytest.raises(Exception):  # noqa: B017 - the handshake fails; sdc11073 wraps it in its own errors
        PumpConsumer(pump.provider.url, contexts(*getattr(pump.pki, who), pump.pki.ca), timeout_s=3)
    wait_for(lambda: len(pump.records("tls_rejected")) > before)
    assert "certificate" in pump.records("tls_rejected")[-1].payload["error"].lower()


@pytest.mark.req("REQ-SEC-005")
def test_every_remote_call_is_in_the_hash_chained_log_with_the_client(ready: Pump) -> None:
    n = ready.session.call(lambda: ready.session.remote_calls)
    ready.clinician.activate("op.pause")  # refused in READY: logged all the same
    calls = ready.records("remote_call")
    assert ready.session.call(lambda: ready.session.remote_calls) == n + 1
    assert all(c.payload["client"]["fingerprint"].startswith("sha256:") for c in calls)
    assert calls[-1].payload["reason"].startswith("not_allowed_in_state")
    assert ready.session.call(lambda: ready.session.store.log.verify()).ok


def _activate_request(c: PumpConsumer, handle: str) -> tuple[str, bytes]:
    """The Set service's URL and the SOAP Activate request a consumer sends for ``handle``, as bytes."""
    svc = c.client.set_service_client
    request = c.client.sdc_definitions.data_model.msg_types.Activate()
    request.OperationHandleRef = handle
    header = HeaderInformationBlock(action=request.action, addr_to=svc.endpoint_reference.Address)
    return svc.endpoint_reference.Address, c.client.msg_factory.mk_soap_message(header, payload=request).serialize()


def _post(url: str, body: bytes, tls: ssl.SSLContext) -> int:
    """One HTTPS POST of a SOAP request; the HTTP status."""
    u = urlsplit(url)
    assert u.hostname == "127.0.0.1" and u.port is not None
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=tls, timeout=10)
    try:
        conn.request("POST", u.path, body, {"Content-Type": "application/soap+xml; charset=utf-8"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.mark.req("REQ-SEC-003", "REQ-SEC-005")
def test_a_client_without_a_certificate_cannot_command_and_is_logged(ready: Pump) -> None:
    """The Activate a clinician's station sends, sent by a client that trusts the pump's CA but presents
    no certificate: the handshake fails (the provider requires one), nothing reaches the session."""
    s = ready.session
    url, start = _activate_request(ready.clinician, "op.start")
    no_cert = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    no_cert.check_hostname = False
    no_cert.load_verify_locations(cafile=str(ready.pki.ca))
    calls, rejected = s.call(lambda: s.remote_calls), len(ready.records("tls_rejected"))
    before = s.call(lambda: (s.shell.ctl.state, s.shell.ctl.vars))
    # TLS 1.3: the client's side of the handshake ends first; the provider's refusal (alert
    # CERTIFICATE_REQUIRED, or the connection closed) comes on the first read
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _post(url, start, no_cert)
    wait_for(lambda: len(ready.records("tls_rejected")) > rejected)
    record = ready.records("tls_rejected")[-1].payload
    assert record["peer"].startswith("127.0.0.1:") and "did not return a certificate" in record["error"]
    assert s.call(lambda: s.remote_calls) == calls  # no SOAP was read: no remote_call at all
    assert s.call(lambda: (s.shell.ctl.state, s.shell.ctl.vars)) == before
    assert s.call(lambda: s.plant.mech.rate) == 0
    # the same bytes from the clinician's certificate are a command: what was refused was one
    assert _post(url, start, contexts(*ready.pki.clinician, ready.pki.ca).client) == 200
    wait_for(lambda: s.call(lambda: s.remote_calls) == calls + 1)
    call = _last_call(ready)
    assert call["operation"] == "op.start" and call["accepted"] is True
    assert s.call(lambda: s.shell.ctl.state) == "RUNNING"


def test_probe_prints_an_alarm_raised_in_the_simulator(ready: Pump, capsys: pytest.CaptureFixture[str]) -> None:
    """``pumpctl sdc probe`` (in this process) on the module's provider while the door alarm is present."""
    c, s = ready.clinician, ready.session
    assert c.activate("op.start").finished
    s.advance(PERIOD_MS)
    s.call(lambda: s.plant.set_door(True))  # opened during the infusion: HIGH, flow stopped
    assert s.advance(PERIOD_MS).state == "ALARM"
    wait_for(lambda: ("door_open", "high", "On") in c.present_alarms())
    pki = ready.pki
    assert main(["sdc", "probe", ready.provider.url, "--cert", str(pki.monitor[0]), "--key", str(pki.monitor[1]),
                 "--ca", str(pki.ca)]) == 0
    out = capsys.readouterr().out
    assert "state: ALARM" in out and "rate the motor is commanded to now (0 when stopped): 0 mL/h" in out
    assert "alarms: door_open (high, signal On)" in out


@pytest.mark.req("REQ-SEC-001", "REQ-SEC-005")
def test_the_library_gates_alarm_is_an_alert_raised_and_cleared_by_remote_commands(ready: Pump) -> None:
    """The shell's drug_library alarm (not in the core's catalog) in the MDIB: the example library
    expires on 2027-11-01; a remote rate change the day after is refused as stale, with the alarm."""
    c = ready.clinician
    assert c.present_alarms() == []
    ready.calendar.day = date(2027, 11, 2)
    r = c.set_value("op.rate", "3")
    assert not r.finished and r.message.startswith("library_refused: ")
    wait_for(lambda: ("drug_library", "medium", "On") in c.present_alarms())
    assert ready.monitor.state("ac.drug_library").Presence is True
    assert c.value("m.rate") == Decimal("2")
    ready.calendar.day = date(2027, 10, 31)
    assert c.set_value("op.rate", "3").finished  # a good program clears the gate's alarm
    wait_for(lambda: c.present_alarms() == [] and c.state("as.drug_library").Presence.value == "Off")
