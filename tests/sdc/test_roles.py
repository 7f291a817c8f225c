"""Certificate -> role -> actor: a network client is never a patient, and bad maps get typed errors."""

from __future__ import annotations

import pytest

from controller.core.events import Actor
from controller.errors import ConfigurationError
from controller.sdc.roles import Identity, Role, RoleMap, actor

FP = "sha256:" + "ab" * 32
WHO = Identity("clinician-01", "pumpctl test CA", "1234", FP)


@pytest.mark.req("REQ-SEC-005", "REQ-ROL-001")
@pytest.mark.parametrize("role", ["patient", "system"])
def test_a_patient_or_system_role_is_refused_at_load(role: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        RoleMap.parse({"client": [{"subject_cn": "x", "role": role}]})
    assert info.value.field == "client[0].role"
    assert "never" in str(info.value)


@pytest.mark.req("REQ-SEC-005")
def test_no_role_maps_to_patient_or_system() -> None:
    assert {actor(r) for r in Role} == {None, Actor.CLINICIAN, Actor.ADMIN}
    assert actor(None) is None and actor(Role.MONITOR) is None


@pytest.mark.req("REQ-SEC-005")
def test_fingerprint_wins_over_subject_and_unknown_clients_get_no_role() -> None:
    rm = RoleMap.parse({"client": [{"subject_cn": "clinician-01", "role": "monitor"},
                                   {"fingerprint": FP.upper().replace("SHA256", "sha256"), "role": "clinician"}]})
    assert rm.role(WHO) == Role.CLINICIAN
    assert rm.role(Identity("clinician-01", "CA", "9", "sha256:" + "cd" * 32)) == Role.MONITOR
    assert rm.role(Identity("someone", "CA", "9", "sha256:" + "cd" * 32)) is None
    assert rm.role(None) is None


@pytest.mark.parametrize(("entry", "field"), [
    ({"subject_cn": "a", "role": "nurse"}, "client[0].role"),
    ({"subject_cn": "a", "fingerprint": FP, "role": "admin"}, "client[0]"),
    ({"role": "admin"}, "client[0]"),
    ({"fingerprint": "md5:00", "role": "admin"}, "client[0].fingerprint"),
    ({"subject_cn": "a", "role": "admin", "colour": "red"}, "client[0].colour"),
])
def test_bad_entries_name_the_field(entry: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        RoleMap.parse({"client": [entry]})
    assert info.value.field == field


def test_conflicting_roles_for_one_certificate_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        RoleMap.parse({"client": [{"subject_cn": "a", "role": "admin"}, {"subject_cn": "a", "role": "monitor"}]})


def test_identity_reads_a_peer_certificate() -> None:
    cert = {"subject": ((("organizationName", "H"),), (("commonName", "clinician-01"),)),
            "issuer": ((("commonName", "pumpctl test CA"),),), "serialNumber": "0A"}
    who = Identity.from_peer(cert, b"der")
    assert who is not None and who.subject_cn == "clinician-01" and who.issuer_cn == "pumpctl test CA"
    assert who.fingerprint.startswith("sha256:") and len(who.fingerprint) == 71
    assert Identity.from_peer(None, None) is None and Identity.from_peer({}, b"x") is None
