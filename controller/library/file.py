"""Drug library files: header, digest, signature, expiry and schema (REQ-SEC-001, REQ-SEC-002).

Theory of operation
-------------------
A library file (TOML or JSON) has three parts::

    [library]                       # header: who, which version, valid when
    name = "General ward"
    version = "2026.11-1"
    issued = 2026-11-01             # TOML date or "YYYY-MM-DD"
    expires = 2027-11-01            # stale on and after this day
    [[drug]]                        # entries in the schema of controller/clinical/drugs.py
    ...
    [integrity]                     # written by `pumpctl library sign`
    digest = "sha256:<hex>"         # SHA-256 of the canonical content (everything but [integrity])
    algorithm = "hmac-sha256"       # or "ed25519"; absent when only sealed
    key_id = "<16 hex>"
    signature = "<hex>"             # over b"pumpctl-drug-library-v1\\0" + the digest text

The digest is over the canonical JSON (``controller.log.canonical``) of the parsed content, so
comments and formatting do not matter, a TOML file and its JSON translation have the same
digest, and a verifier never trusts the writer's serialisation. ``load_library_file`` checks,
in this order: readable and parseable, digest, signature, header, expiry, drug schema - so an
attacker's content is never interpreted before it is authenticated (when a key is set).

Rules
1. Every refusal is a ``LibraryError`` subclass naming the field, value and allowed range.
2. A digest is always required, and so is a signature by the configured key: a library with no
   key to verify it is refused (``LibraryUnsigned``) unless the caller passes the explicit
   development flag ``allow_unsigned``, which the gate logs and the display shows (REQ-SEC-001).
3. The validated data is exactly the digested data (dates become ISO text in both).
4. Numbers are bounded before ``controller.clinical.drugs`` sees them (at most 30 significant digits,
   exponent within +-30, magnitude below 1e15), so a hostile "1e999999999" cannot make exact
   arithmetic run for ever.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from controller.clinical.drugs import Library
from controller.errors import ConfigurationError
from controller.library.errors import (
    LibraryBadSignature,
    LibraryCorrupt,
    LibraryExpired,
    LibrarySchemaError,
    LibraryUnsigned,
)
from controller.library.keys import ALGORITHMS, Key, load_key
from controller.log.canonical import canonical_bytes

MAX_BYTES = 4 * 1024 * 1024
DOMAIN = b"pumpctl-drug-library-v1\x00"
TOP_KEYS = ("library", "drug", "care_area", "integrity")
HEADER_REQUIRED = ("name", "version", "issued", "expires")
HEADER_KEYS = (*HEADER_REQUIRED, "description", "publisher")
INTEGRITY_KEYS = ("digest", "algorithm", "key_id", "signature")
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}\Z")
HEX_RE = re.compile(r"[0-9a-f]+\Z")
MAX_DIGITS, MAX_EXP, MAX_MAGNITUDE = 30, 30, 10**15


@dataclass(frozen=True, slots=True)
class LibraryDocument:
    """A parsed file, not yet trusted."""

    content: dict[str, Any]  # everything but [integrity], dates as ISO text
    integrity: dict[str, str] | None
    text: str
    fmt: str  # "toml" or "json"
    source: str
    digest: str  # "sha256:<hex>" of the canonical content, as computed here


@dataclass(frozen=True, slots=True)
class LibraryHeader:
    name: str
    version: str
    issued: date
    expires: date
    description: str = ""


@dataclass(frozen=True, slots=True)
class LibraryInfo:
    header: LibraryHeader
    digest: str
    algorithm: str | None  # of a *verified* signature
    key_id: str | None
    source: str

    @property
    def identity(self) -> str:
        """What the display shows and every program's log entry records (REQ-SEC-002)."""
        signed = f", signed {self.algorithm} key {self.key_id}" if self.key_id else ", unsigned"
        return f"{self.header.name} v{self.header.version} ({self.digest[:19]}{signed})"


@dataclass(frozen=True, slots=True)
class LoadedLibrary:
    library: Library
    info: LibraryInfo


def _plain(value: object) -> object:
    """TOML values as JSON values: dates and times become ISO text (rule 3)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    return value


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def parse_document(text: str, fmt: str, source: str) -> LibraryDocument:
    try:
        raw: object = tomllib.loads(text) if fmt == "toml" else json.loads(text, parse_constant=_reject_constant)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError) as exc:
        raise LibraryCorrupt("library file", source, f"valid {fmt.upper()}", f"cannot parse: {exc}",
                             source=source) from None
    if not isinstance(raw, dict):
        raise LibraryCorrupt("library file", type(raw).__name__, "a table/object at the top level", source=source)
    data = _plain(raw)
    assert isinstance(data, dict)
    for k in data:
        if k not in TOP_KEYS:
            fix = "move it into [library]" if k in HEADER_KEYS else ""
            raise LibrarySchemaError(k, data[k] if not isinstance(data[k], (dict, list)) else "...",
                                     "top-level keys " + ", ".join(TOP_KEYS), fix, source=source)
    integrity = data.pop("integrity", None)
    if integrity is not None and (not isinstance(integrity, dict)
                                  or not all(isinstance(v, str) for v in integrity.values())):
        raise LibraryCorrupt("integrity", "...", "a table of text values: " + ", ".join(INTEGRITY_KEYS),
                             source=source)
    try:
        canonical = canonical_bytes(data, "library")
    except ConfigurationError as exc:
        raise LibrarySchemaError.wrap(exc, source) from None
    return LibraryDocument(data, integrity, text, fmt, source, "sha256:" + hashlib.sha256(canonical).hexdigest())


def read_document(path: str | Path) -> LibraryDocument:
    p = Path(path)
    source = str(p)
    try:
        with p.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise LibraryCorrupt("library file", source, "a readable file", str(exc), source=source) from None
    if len(data) > MAX_BYTES:
        raise LibraryCorrupt("library file", f"more than {MAX_BYTES} bytes", f"at most {MAX_BYTES} bytes",
                             source=source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LibraryCorrupt("library file", source, "UTF-8 text", str(exc), source=source) from None
    fmt = "json" if p.suffix.lower() == ".json" or (p.suffix.lower() != ".toml" and text.lstrip()[:1] == "{") \
        else "toml"
    return parse_document(text, fmt, source)


def signed_message(digest: str) -> bytes:
    return DOMAIN + digest.encode("ascii")


def check_integrity(doc: LibraryDocument, key: Key | None,
                    allow_unsigned: bool = False) -> tuple[str | None, str | None]:
    """Digest, then signature by the configured key; (algorithm, key id) of what verified.
    Without a key only ``allow_unsigned`` (a development flag) lets a sealed library through."""
    src, integ = doc.source, doc.integrity or {}
    extra = sorted(set(integ) - set(INTEGRITY_KEYS))
    if extra:
        raise LibraryCorrupt(f"integrity.{extra[0]}", integ[extra[0]], ", ".join(INTEGRITY_KEYS), source=src)
    given = integ.get("digest")
    if given is None:
        raise LibraryCorrupt("integrity.digest", None, "sha256:<64 hex digits>",
                             "the file is not sealed: run pumpctl library sign FILE --key K", source=src)
    if not DIGEST_RE.match(given) or given != doc.digest:
        raise LibraryCorrupt("integrity.digest", given, doc.digest + " (the digest of the content)",
                             "the content was modified or damaged after it was sealed: get a fresh copy", source=src)
    if key is None:
        if allow_unsigned:
            return None, None  # rule 2: development only; the gate logs it
        raise LibraryUnsigned("integrity.signature", integ.get("signature"), "a library verified by a configured key",
                              "this pump trusts only signed libraries: configure the pharmacy key (--key), or pass "
                              "the development flag --allow-unsigned-library (logged)", source=src)
    alg, kid, sig = integ.get("algorithm"), integ.get("key_id"), integ.get("signature")
    if sig is None:
        raise LibraryUnsigned("integrity.signature", None, f"a {key.algorithm} signature by key {key.key_id}",
                              "this pump requires signed libraries: pumpctl library sign FILE --key K", source=src)
    if alg not in ALGORITHMS or alg != key.algorithm:
        raise LibraryBadSignature("integrity.algorithm", alg, f"{key.algorithm} (the algorithm of the configured key)",
                                  source=src)
    if kid != key.key_id:
        raise LibraryBadSignature("integrity.key_id", kid, f"{key.key_id} (the configured key)",
                                  "signed by another key: sign it with the key this pump trusts", source=src)
    if not HEX_RE.match(sig) or not key.verify(signed_message(doc.digest), sig):
        raise LibraryBadSignature("integrity.signature", sig[:16] + "...", f"a valid {alg} signature by key {kid}",
                                  "the signature does not match: the file was altered or the key is wrong",
                                  source=src)
    return key.algorithm, key.key_id


def _date(value: object, field: str, source: str) -> date:
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise LibrarySchemaError(field, value, "a date YYYY-MM-DD", source=source)


def parse_header(doc: LibraryDocument) -> LibraryHeader:
    src, h = doc.source, doc.content.get("library")
    if not isinstance(h, dict):
        raise LibrarySchemaError("library", "missing" if h is None else type(h).__name__,
                                 "a [library] table with " + ", ".join(HEADER_REQUIRED), source=src)
    for k in h:
        if k not in HEADER_KEYS:
            raise LibrarySchemaError(f"library.{k}", h[k], "keys " + ", ".join(HEADER_KEYS), source=src)
    for k in ("name", "version", "description"):
        v = h.get(k, "" if k == "description" else None)
        if not isinstance(v, str) or (k != "description" and not v.strip()) or len(v) > 200:
            raise LibrarySchemaError(f"library.{k}", v, "text of 1 to 200 characters", source=src)
    issued, expires = _date(h.get("issued"), "library.issued", src), _date(h.get("expires"), "library.expires", src)
    if expires <= issued:
        raise LibrarySchemaError("library.expires", expires.isoformat(), f"after library.issued ({issued})",
                                 source=src)
    return LibraryHeader(h["name"].strip(), h["version"].strip(), issued, expires, h.get("description", ""))


def today_utc(now: date | datetime | None) -> date:
    if now is None:
        return datetime.now(UTC).date()
    if isinstance(now, datetime):
        return (now.astimezone(UTC) if now.tzinfo else now).date()
    return now


def check_dates(header: LibraryHeader, today: date, source: str) -> None:
    if today < header.issued:
        raise LibraryExpired("library.issued", header.issued.isoformat(), f"on or before today ({today})",
                             "not valid yet: check the pump's date", source=source)
    if today >= header.expires:
        raise LibraryExpired("library.expires", header.expires.isoformat(), f"after today ({today})",
                             "the library is stale: load the current library from pharmacy", source=source)


def _guard_numbers(value: object, field: str, source: str) -> None:
    """Rule 4, plus types ``controller.clinical.drugs`` would trip over (it hashes route names)."""
    if isinstance(value, dict):
        for k, v in value.items():
            _guard_numbers(v, f"{field}.{k}", source)
    elif isinstance(value, list):
        if field.endswith(".routes") and not all(isinstance(r, str) for r in value):
            raise LibrarySchemaError(field, value, "a list of route names", source=source)
        for i, v in enumerate(value):
            _guard_numbers(v, f"{field}[{i}]", source)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) >= MAX_MAGNITUDE:
        raise LibrarySchemaError(field, value, f"a number below {MAX_MAGNITUDE:.0e}", source=source)
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            return
        if d.is_finite():
            t = d.as_tuple()
            exp = t.exponent if isinstance(t.exponent, int) else 0
            if len(t.digits) > MAX_DIGITS or abs(exp) > MAX_EXP or abs(d) >= MAX_MAGNITUDE:
                raise LibrarySchemaError(field, value, f"a number of at most {MAX_DIGITS} digits below "
                                         f"{MAX_MAGNITUDE:.0e}", source=source)


def build_library(doc: LibraryDocument, header: LibraryHeader) -> Library:
    drugs = doc.content.get("drug", [])
    if not isinstance(drugs, list) or not drugs:
        raise LibrarySchemaError("drug", "missing" if not drugs else type(drugs).__name__,
                                 "a non-empty array of [[drug]] tables", source=doc.source)
    for i, d in enumerate(drugs):
        name = d.get("drug") if isinstance(d, dict) else None
        _guard_numbers(d, f"drug[{i}]" if not isinstance(name, str) else str(name), doc.source)
    areas = doc.content.get("care_area", [])
    _guard_numbers(areas, "care_area", doc.source)
    try:
        return Library.from_data({"drug": drugs, "care_area": areas, "version": header.version}, source=doc.source)
    except ConfigurationError as exc:
        raise LibrarySchemaError.wrap(exc, doc.source) from None


def load_library_file(path: str | Path, key: Key | str | Path | None = None,
                      now: date | datetime | None = None, *, allow_unsigned: bool = False) -> LoadedLibrary:
    """Read, authenticate and validate a library file; raises a LibraryError naming the cause."""
    k = key if isinstance(key, Key) or key is None else load_key(key)
    doc = read_document(path)
    alg, kid = check_integrity(doc, k, allow_unsigned)
    header = parse_header(doc)
    check_dates(header, today_utc(now), doc.source)
    library = build_library(doc, header)
    return LoadedLibrary(library, LibraryInfo(header, doc.digest, alg, kid, doc.source))


def load_library(path: str | Path, key: Key | str | Path | None = None,
                 now: date | datetime | None = None, *, allow_unsigned: bool = False) -> Library:
    """The validated ``Library`` (see ``load_library_file`` for its identity)."""
    return load_library_file(path, key, now, allow_unsigned=allow_unsigned).library
