"""Why a drug library file was refused: one error type per cause (REQ-SEC-001).

Theory of operation
-------------------
A shell shows the cause to the person who has to fix it and logs it, so each refusal is its
own ``ConfigurationError`` subclass with the field, the value found and what is allowed:

- ``LibraryCorrupt``: unreadable, not TOML/JSON, no digest, or the digest does not match the
  content (modified or damaged after it was sealed);
- ``LibraryUnsigned``: a key is configured and the file carries no signature;
- ``LibraryBadSignature``: wrong key, wrong algorithm, or the signature does not verify;
- ``SignatureUnavailable``: Ed25519 is needed but the optional ``cryptography`` package is
  not installed - reported, never treated as a pass;
- ``LibraryExpired``: stale (on or after ``expires``) or not yet valid (before ``issued``);
- ``LibrarySchemaError``: the header or a drug entry breaks the schema (``controller.clinical.drugs``).

Rules
1. Every cause has its own class and a stable ``code`` for logs and tests.
2. The message names the field, the value and the allowed range, and how to fix it.
"""

from __future__ import annotations

from controller.errors import ConfigurationError


class LibraryError(ConfigurationError):
    code = "library_error"


class LibraryCorrupt(LibraryError):
    code = "corrupt"


class LibraryUnsigned(LibraryError):
    code = "unsigned"


class LibraryBadSignature(LibraryError):
    code = "bad_signature"


class SignatureUnavailable(LibraryError):
    code = "signature_unavailable"


class LibraryExpired(LibraryError):
    code = "expired"


class LibrarySchemaError(LibraryError):
    code = "schema"

    @classmethod
    def wrap(cls, exc: ConfigurationError, source: str) -> LibrarySchemaError:
        """The same field, value and allowed range as ``exc``, as a library refusal."""
        return cls(exc.field, exc.value, exc.allowed, exc.fix, source=exc.source or source)
