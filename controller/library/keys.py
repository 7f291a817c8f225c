"""Keys that sign drug libraries: HMAC-SHA256 (stdlib) or Ed25519 (optional ``cryptography``).

Theory of operation
-------------------
A key file holds one key:

- ``hmac-sha256:<hex>`` - a shared secret of at least 16 bytes; the same file signs and checks,
  so it must be as protected on the pump as at the pharmacy (REQ-SEC-004);
- an Ed25519 PEM key - the private key (PKCS#8) signs, the public key (SubjectPublicKeyInfo)
  checks; the pump needs only the public one, so a stolen pump cannot sign libraries.

Each key has a ``key_id`` (16 hex digits of a SHA-256 over the public part, or over the HMAC
secret with a domain prefix) written next to the signature, so a refusal can say "signed by
key A, this pump trusts key B" instead of only "bad signature".

Rules
1. The algorithm comes from the configured key, never from the file being checked: a file
   cannot talk the checker into another algorithm (no algorithm confusion).
2. Ed25519 without ``cryptography`` raises ``SignatureUnavailable``; it never passes.
3. Signatures are compared in constant time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from controller.errors import ConfigurationError
from controller.library.errors import SignatureUnavailable

HMAC = "hmac-sha256"
ED25519 = "ed25519"
ALGORITHMS = (HMAC, ED25519)
MIN_HMAC_BYTES = 16
KEY_FORMAT = f"a key file: '{HMAC}:<at least {2 * MIN_HMAC_BYTES} hex digits>' or an Ed25519 PEM key"
_HMAC_RE = re.compile(rf"{HMAC}:([0-9a-fA-F]+)\Z")


def _crypto(what: str) -> tuple[ModuleType, ModuleType]:
    """(ed25519 module, serialization module), or SignatureUnavailable (rule 2)."""
    try:
        ed = importlib.import_module("cryptography.hazmat.primitives.asymmetric.ed25519")
        ser = importlib.import_module("cryptography.hazmat.primitives.serialization")
    except ImportError:
        raise SignatureUnavailable(what, ED25519, "an available algorithm",
                                   "Ed25519 is unavailable: install the optional 'cryptography' package "
                                   "(pip install cryptography) or use an hmac-sha256 key") from None
    return ed, ser


@dataclass(frozen=True, slots=True)
class Key:
    algorithm: str
    key_id: str
    secret: bytes  # HMAC secret, or Ed25519 raw private key; empty for a public key
    public: bytes = b""  # Ed25519 raw public key

    @property
    def can_sign(self) -> bool:
        return bool(self.secret)

    def sign(self, message: bytes) -> str:
        if not self.can_sign:
            raise ConfigurationError("--key", f"{self.algorithm} public key {self.key_id}", "a private key",
                                     "sign with the Ed25519 private key; pumps hold only the public key")
        if self.algorithm == HMAC:
            return hmac.new(self.secret, message, hashlib.sha256).hexdigest()
        ed, _ = _crypto("signature.algorithm")
        return str(ed.Ed25519PrivateKey.from_private_bytes(self.secret).sign(message).hex())

    def verify(self, message: bytes, signature: str) -> bool:
        try:
            sig = bytes.fromhex(signature)
        except ValueError:
            return False
        if self.algorithm == HMAC:
            return hmac.compare_digest(hmac.new(self.secret, message, hashlib.sha256).digest(), sig)
        ed, _ = _crypto("signature.algorithm")
        exceptions = importlib.import_module("cryptography.exceptions")
        try:
            ed.Ed25519PublicKey.from_public_bytes(self.public).verify(sig, message)
        except (exceptions.InvalidSignature, ValueError):
            return False
        return True


def _id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def hmac_key(secret: bytes) -> Key:
    if len(secret) < MIN_HMAC_BYTES:
        raise ConfigurationError("--key", f"{len(secret)} bytes", f"at least {MIN_HMAC_BYTES} bytes of secret")
    return Key(HMAC, _id(b"pumpctl-hmac-key-id\0" + secret), secret)


def parse_key(data: bytes, source: str = "--key") -> Key:
    text = data.decode("utf-8", errors="replace").strip()
    m = _HMAC_RE.match(text)
    if m is not None:
        if len(m.group(1)) % 2:
            raise ConfigurationError(source, "an odd number of hex digits", KEY_FORMAT)
        return hmac_key(bytes.fromhex(m.group(1)))
    if text.startswith("-----BEGIN"):
        return _ed25519(data, source)
    raise ConfigurationError(source, text[:24] + ("..." if len(text) > 24 else ""), KEY_FORMAT)


def _ed25519(data: bytes, source: str) -> Key:
    ed, ser = _crypto(source)
    raw, pub = ser.Encoding.Raw, ser.PublicFormat.Raw
    loaded: Any
    try:
        if b"PRIVATE KEY" in data:
            loaded = ser.load_pem_private_key(data, password=None)
            if not isinstance(loaded, ed.Ed25519PrivateKey):
                raise ValueError("not an Ed25519 key")
            public = loaded.public_key().public_bytes(raw, pub)
            secret = loaded.private_bytes(raw, ser.PrivateFormat.Raw, ser.NoEncryption())
            return Key(ED25519, _id(public), secret, public)
        loaded = ser.load_pem_public_key(data)
        if not isinstance(loaded, ed.Ed25519PublicKey):
            raise ValueError("not an Ed25519 key")
        public = loaded.public_bytes(raw, pub)
        return Key(ED25519, _id(public), b"", public)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(source, "a PEM key", f"an Ed25519 PEM key ({exc})") from None


def load_key(path: str | Path) -> Key:
    p = Path(path)
    try:
        data = p.read_bytes()[:65536]
    except OSError as exc:
        raise ConfigurationError("--key", str(p), "a readable key file", str(exc)) from None
    return parse_key(data, f"--key {p}")


def generate(algorithm: str) -> tuple[bytes, bytes | None]:
    """A new key: (private key file, public key file or None for HMAC)."""
    if algorithm == HMAC:
        return f"{HMAC}:{secrets.token_hex(32)}\n".encode(), None
    if algorithm != ED25519:
        raise ConfigurationError("--algorithm", algorithm, ", ".join(ALGORITHMS))
    ed, ser = _crypto("--algorithm")
    k = ed.Ed25519PrivateKey.generate()
    private = k.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    public = k.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
    return bytes(private), bytes(public)
