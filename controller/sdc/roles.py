"""Who is on the other end of the TLS connection, and which actor that makes them.

Theory of operation
-------------------
Mutual TLS (``controller.sdc.tls``) lets only clients whose certificate chains to the
hospital CA complete a handshake. ``Identity.from_peer`` reads the verified certificate of
the connection (subject and issuer common names, serial number, SHA-256 fingerprint of the
DER bytes). ``RoleMap`` maps an identity to a role, by fingerprint first (one certificate)
and then by subject common name (what the CA issued); ``actor`` turns the role into the
core's ``Actor``:

- ``clinician`` -> ``Actor.CLINICIAN``, ``admin`` -> ``Actor.ADMIN``: remote commands go to
  the core with that actor, and the table's role guards decide (REQ-ROL-001..002);
- ``monitor``: may read and subscribe, never command;
- no certificate, or a certificate the map does not name: no command (REQ-SEC-003).

Rules
1. A patient role is never granted to a network client: a map naming ``patient`` (or
   ``system``) is refused at load with a typed error, and no role maps to ``Actor.PATIENT``
   or ``Actor.SYSTEM``.
2. Bad map files get a ``ConfigurationError`` naming the entry, the field, the value and what
   is allowed; nothing is half-loaded.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from controller.core.events import Actor
from controller.errors import ConfigurationError


class Role(StrEnum):
    MONITOR = "monitor"
    CLINICIAN = "clinician"
    ADMIN = "admin"


ACTOR: dict[Role, Actor] = {Role.CLINICIAN: Actor.CLINICIAN, Role.ADMIN: Actor.ADMIN}
NEVER = {"patient": "a network client is never a patient (REQ-ROL-001, REQ-SEC-003)",
         "system": "a network client is never the pump itself: sensor and timer events are the SYSTEM's (REQ-ROL-003)"}


@dataclass(frozen=True, slots=True)
class Identity:
    subject_cn: str
    issuer_cn: str
    serial: str
    fingerprint: str  # "sha256:" + hex of the DER certificate

    @staticmethod
    def from_peer(cert: Mapping[str, Any] | None, der: bytes | None) -> Identity | None:
        """The identity of a verified peer certificate (``SSLSocket.getpeercert``), or None."""
        if not cert or not der:
            return None
        return Identity(_cn(cert.get("subject", ())), _cn(cert.get("issuer", ())), str(cert.get("serialNumber", "")),
                        "sha256:" + hashlib.sha256(der).hexdigest())

    def as_log(self) -> dict[str, str]:
        return {"subject_cn": self.subject_cn, "issuer_cn": self.issuer_cn, "serial": self.serial,
                "fingerprint": self.fingerprint}


def _cn(name: object) -> str:
    """The commonName of an ``ssl`` distinguished name (a tuple of RDN tuples)."""
    if isinstance(name, tuple):
        for rdn in name:
            for attr in rdn if isinstance(rdn, tuple) else ():
                if isinstance(attr, tuple) and len(attr) == 2 and attr[0] == "commonName":
                    return str(attr[1])
    return ""


@dataclass(frozen=True, slots=True)
class RoleMap:
    by_fingerprint: Mapping[str, Role]
    by_subject: Mapping[str, Role]

    def role(self, who: Identity | None) -> Role | None:
        if who is None:
            return None
        found = self.by_fingerprint.get(who.fingerprint.lower())
        return found if found is not None else self.by_subject.get(who.subject_cn)

    @staticmethod
    def load(path: str | Path) -> RoleMap:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError("--roles", str(path), "a readable TOML file", str(exc)) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError("--roles", str(path), "valid TOML", str(exc)) from None
        return RoleMap.parse(data)

    @staticmethod
    def parse(data: Mapping[str, Any]) -> RoleMap:
        unknown = sorted(set(data) - {"client"})
        if unknown:
            raise ConfigurationError(unknown[0], data[unknown[0]], "only [[client]] tables")
        entries = data.get("client", [])
        if not isinstance(entries, list):
            raise ConfigurationError("client", type(entries).__name__, "an array of [[client]] tables")
        by_fp: dict[str, Role] = {}
        by_cn: dict[str, Role] = {}
        for i, entry in enumerate(entries):
            where = f"client[{i}]"
            if not isinstance(entry, dict):
                raise ConfigurationError(where, entry, "a table with role and fingerprint or subject_cn")
            extra = sorted(set(entry) - {"role", "fingerprint", "subject_cn", "comment"})
            if extra:
                raise ConfigurationError(f"{where}.{extra[0]}", entry[extra[0]],
                                         "role, fingerprint, subject_cn or comment")
            raw = entry.get("role")
            if raw in NEVER:
                raise ConfigurationError(f"{where}.role", raw, ", ".join(r.value for r in Role), NEVER[str(raw)])
            if raw not in {r.value for r in Role}:
                raise ConfigurationError(f"{where}.role", raw, ", ".join(r.value for r in Role))
            role = Role(str(raw))
            fp, cn = entry.get("fingerprint"), entry.get("subject_cn")
            if (fp is None) == (cn is None):
                raise ConfigurationError(where, entry, "exactly one of fingerprint and subject_cn")
            key = str(fp if fp is not None else cn)
            if fp is not None:
                key = key.lower()
                if not key.startswith("sha256:") or len(key) != 71 or any(c not in "0123456789abcdef" for c in key[7:]):
                    raise ConfigurationError(f"{where}.fingerprint", fp, '"sha256:" and 64 hex digits')
            table = by_fp if fp is not None else by_cn
            if key in table and table[key] != role:
                raise ConfigurationError(where, key, "one role per certificate", f"already {table[key].value}")
            table[key] = role
        return RoleMap(by_fp, by_cn)


def actor(role: Role | None) -> Actor | None:
    """The core actor of a role; None for no role or ``monitor`` (read only)."""
    return None if role is None else ACTOR.get(role)
