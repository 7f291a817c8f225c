"""Canonical JSON: one byte string per value, for hashing and signing.

Theory of operation
-------------------
A hash chain or a signature is only as good as the byte string it covers: two writers
that serialise the same value differently would disagree on its hash. ``canonical_json``
fixes one form, the RFC 8785 subset that matters here: object keys sorted, no whitespace,
UTF-8 without escapes for non-ASCII text, integers in decimal and floats by their shortest
round-trip ``repr``. Values that JSON cannot carry faithfully are refused, never coerced.

Rules
1. Only ``dict`` (string keys), ``list``/``tuple``, ``str``, ``int``, ``float``, ``bool`` and
   ``None``; anything else raises ``ConfigurationError`` naming the path of the bad value.
2. NaN and infinities, integers beyond 64 bits, unencodable text (lone surrogates) and
   nesting deeper than ``MAX_DEPTH`` are refused: each would either break the round trip
   or let a hostile input exhaust the stack.
3. The same value always gives the same bytes; ``loads(canonical_json(v)) == v`` (tuples
   come back as lists).
"""

from __future__ import annotations

import json
import math

from controller.errors import ConfigurationError

MAX_DEPTH = 32
INT_LIMIT = 2**63
ALLOWED = ("JSON values: objects with string keys, arrays, strings, integers within 64 bits, finite numbers,"
           " true/false/null")


def _check(value: object, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ConfigurationError(path, "...", f"nesting at most {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if not -INT_LIMIT <= value < INT_LIMIT:
            raise ConfigurationError(path, "a huge integer", "an integer within 64 bits")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigurationError(path, value, "a finite number", "NaN and infinity are never valid")
        return
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigurationError(path, value, "text encodable as UTF-8") from None
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigurationError(path, k, "string keys only")
            _check(k, f"{path}.<key>", depth + 1)
            _check(v, f"{path}.{k}", depth + 1)
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check(v, f"{path}[{i}]", depth + 1)
        return
    raise ConfigurationError(path, type(value).__name__, ALLOWED)


def canonical_json(value: object, path: str = "payload") -> str:
    """The canonical text of ``value``; raises ConfigurationError naming the bad part."""
    _check(value, path, 0)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_bytes(value: object, path: str = "payload") -> bytes:
    return canonical_json(value, path).encode("utf-8")
