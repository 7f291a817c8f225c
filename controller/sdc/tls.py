"""Mutual TLS for the SDC provider and consumer: contexts, and a throwaway PKI for trying it out.

Theory of operation
-------------------
``contexts(cert, key, ca)`` builds the two ``ssl`` contexts an SDC participant needs: the
server one (the provider's HTTPS endpoint; the consumer's notification sink) and the client
one (the consumer's requests; the provider's notifications). Both present the participant's
own certificate and require the peer's to chain to ``ca``: no certificate, an unknown CA or
a self-signed certificate fails the handshake, so such a peer never sends one byte of SOAP.
Host names are not checked (SDC endpoints are addressed by IP and endpoint reference); the
peer's identity is its certificate, mapped to a role by ``controller.sdc.roles``.

``make_pki(folder)`` writes a throwaway hospital CA, a provider (pump) certificate, clinician,
monitor, admin and stranger (no role) client certificates, and two that must be refused: one from an unknown CA
and one self-signed - for tests and for ``pumpctl sdc certs``. It needs ``cryptography``
(the ``signing`` extra). Keys are unencrypted: never use these files in a hospital.

Rules
1. TLS 1.2 is the minimum; the peer certificate is always required (``CERT_REQUIRED``).
2. A missing or unreadable file is a ``ConfigurationError`` naming the option.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from controller.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class Contexts:
    server: ssl.SSLContext
    client: ssl.SSLContext


def contexts(cert: Path, key: Path, ca: Path) -> Contexts:
    """Server and client contexts presenting ``cert`` and requiring a peer certificate from ``ca``."""
    for option, path in (("--cert", cert), ("--key", key), ("--ca", ca)):
        if not Path(path).is_file():
            raise ConfigurationError(option, str(path), "a readable PEM file")
    out = []
    for protocol in (ssl.PROTOCOL_TLS_SERVER, ssl.PROTOCOL_TLS_CLIENT):
        ctx = ssl.SSLContext(protocol)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED
        try:
            ctx.load_cert_chain(certfile=str(cert), keyfile=str(key))
            ctx.load_verify_locations(cafile=str(ca))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigurationError("--cert/--key/--ca", f"{cert}, {key}, {ca}", "a matching PEM certificate, key "
                                     "and CA", str(exc)) from None
        out.append(ctx)
    return Contexts(server=out[0], client=out[1])


@dataclass(frozen=True, slots=True)
class Pki:
    folder: Path
    ca: Path
    pump: tuple[Path, Path]  # (certificate, key) of the provider
    clinician: tuple[Path, Path]
    monitor: tuple[Path, Path]
    admin: tuple[Path, Path]
    stranger: tuple[Path, Path]  # signed by the hospital CA, but named in no role map
    unknown_ca: tuple[Path, Path]  # signed by a CA the pump does not trust
    self_signed: tuple[Path, Path]
    roles: Path  # a role map naming clinician, monitor and admin by subject CN


def make_pki(folder: str | Path, days: int = 30) -> Pki:
    """Write a throwaway PKI into ``folder`` (see the module docstring)."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:  # pragma: no cover - the signing extra is part of dev
        raise ConfigurationError("cryptography", None, "installed: pip install 'pumpctl[signing]'") from None
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pumpctl test hospital (throwaway)")])

    def write(stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
        c, k = out / f"{stem}.pem", out / f"{stem}.key"
        c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
        k.chmod(0o600)
        return c, k

    def issue(cn: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None, ca: bool = False
              ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        issuer_name, issuer_key = issuer if issuer is not None else (name(cn), key)
        b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(issuer_name).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now)
             .not_valid_after(now + dt.timedelta(days=days))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            b = (b.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                              x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                 critical=False)
                 .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                       ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        else:
            b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                              data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                              crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        return b.sign(issuer_key, hashes.SHA256()), key

    ca_cert, ca_key = issue("pumpctl test CA", None, ca=True)
    ca_path = out / "ca.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    hospital = (ca_cert.subject, ca_key)
    rogue_cert, rogue_key = issue("unknown CA", None, ca=True)
    pki = Pki(out, ca_path, write("pump", *issue("pump-01", hospital)),
              write("clinician", *issue("clinician-01", hospital)), write("monitor", *issue("monitor-01", hospital)),
              write("admin", *issue("admin-01", hospital)), write("stranger", *issue("visitor-01", hospital)),
              write("unknown-ca", *issue("clinician-01", (rogue_cert.subject, rogue_key))),
              write("self-signed", *issue("clinician-01", None)), out / "roles.toml")
    pki.roles.write_text('# who may do what over the network (controller/sdc/roles.py); a patient is never a role\n'
                         '[[client]]\nsubject_cn = "clinician-01"\nrole = "clinician"\n\n'
                         '[[client]]\nsubject_cn = "monitor-01"\nrole = "monitor"\n\n'
                         '[[client]]\nsubject_cn = "admin-01"\nrole = "admin"\n', encoding="utf-8")
    return pki
