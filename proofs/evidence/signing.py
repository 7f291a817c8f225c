"""The signed manifest: Ed25519 over ``manifest.sha256``, with the project's signing keys.

Theory of operation
-------------------
``manifest.sha256`` lists the SHA-256 of every input and artefact of a verify run. Signing it
signs them all. ``signer`` takes the Ed25519 private key given with ``pumpctl verify
--sign-key FILE`` (a PEM key, as ``controller.library.keys`` reads them for drug libraries), or makes
an *ephemeral* key for this run when none is given. ``sign`` writes, next to the manifest,

- ``manifest.sha256.sig``: the 64-byte raw Ed25519 signature of the manifest's bytes;
- ``manifest.pub.pem``: the public key (SubjectPublicKeyInfo PEM).

Anyone can check it without pumpctl::

    openssl pkeyutl -verify -pubin -inkey manifest.pub.pem -rawin \\
        -in manifest.sha256 -sigfile manifest.sha256.sig
    sha256sum -c evidence/manifest.sha256          # from the repository root

or with ``pumpctl verify --check-signature DIR [--trusted-key PUB]``. The signature proves
that the files are the ones the key's holder signed; with an ephemeral key that holder is this
run, so the public key must reach the reviewer by a trusted path (or be compared with the key
id in the report); with a release key (``--sign-key``) it is the project.

Rules
1. The signature covers the manifest's exact bytes; neither the signature nor the public key is
   listed in the manifest (they are made after it).
2. Without ``cryptography`` nothing is signed and the report says so; it never passes silently.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from controller.errors import ConfigurationError
from controller.library import keys as libkeys
from controller.library.errors import SignatureUnavailable

SIG = "manifest.sha256.sig"
PUB = "manifest.pub.pem"


@dataclass(frozen=True)
class Signer:
    key: libkeys.Key
    public_pem: bytes
    ephemeral: bool
    source: str

    @property
    def key_id(self) -> str:
        return self.key.key_id


def _public_pem(raw: bytes) -> bytes:
    ed = importlib.import_module("cryptography.hazmat.primitives.asymmetric.ed25519")
    ser = importlib.import_module("cryptography.hazmat.primitives.serialization")
    return bytes(ed.Ed25519PublicKey.from_public_bytes(raw).public_bytes(ser.Encoding.PEM,
                                                                         ser.PublicFormat.SubjectPublicKeyInfo))


def signer(key_file: Path | None = None) -> Signer | None:
    """The release key from ``key_file``, or an ephemeral one; None when Ed25519 is unavailable."""
    try:
        if key_file is not None:
            key = libkeys.load_key(key_file)
            if key.algorithm != libkeys.ED25519 or not key.can_sign:
                raise ConfigurationError("--sign-key", str(key_file), "an Ed25519 private key (PEM)")
            return Signer(key, _public_pem(key.public), False, str(key_file))
        private, public = libkeys.generate(libkeys.ED25519)
    except SignatureUnavailable:
        return None
    assert public is not None
    return Signer(libkeys.parse_key(private, "ephemeral key"), public, True, "ephemeral key made for this run")


def sign(out: Path, s: Signer, manifest: str = "manifest.sha256") -> list[Path]:
    data = (out / manifest).read_bytes()
    (out / SIG).write_bytes(bytes.fromhex(s.key.sign(data)))
    (out / PUB).write_bytes(s.public_pem)
    return [out / SIG, out / PUB]


def check(out: Path, trusted: Path | None = None, manifest: str = "manifest.sha256") -> tuple[bool, str]:
    """(ok, message): the manifest's signature against the trusted key (default: the one beside it)."""
    pub_file = trusted or out / PUB
    try:
        key = libkeys.parse_key(pub_file.read_bytes(), str(pub_file))
        sig = (out / SIG).read_bytes()
        data = (out / manifest).read_bytes()
    except OSError as exc:
        return False, f"cannot read the signed manifest: {exc}"
    if key.algorithm != libkeys.ED25519:
        return False, f"{pub_file}: not an Ed25519 public key"
    if not key.verify(data, sig.hex()):
        return False, f"signature does NOT match {manifest} for key {key.key_id}"
    return True, f"signature of {manifest} verified with Ed25519 key {key.key_id} ({pub_file})"
