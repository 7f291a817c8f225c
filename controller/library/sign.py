"""Seal and sign drug library files (the pharmacy side of ``controller.library.file``).

Theory of operation
-------------------
``sign_file`` reads a library, checks it exactly as a pump would (header and drug schema;
expiry is the pump's business, but a library that expires before it is issued is refused),
computes the digest of its canonical content, signs ``DOMAIN + digest`` with the key, and
writes the file back with a fresh ``[integrity]`` table:

- TOML: the original text is kept (comments, layout) and any old ``[integrity]`` table is
  cut out; the new one is appended at the end;
- JSON: the parsed object is written back with an ``integrity`` member.

The written file is read back and must give the same digest and the new integrity table,
so a layout the rewriter does not understand (an inline ``integrity = {...}``) fails here,
at the pharmacy, not on a pump.

Rules
1. Never sign what a pump would refuse for its content.
2. Writes are atomic (temp file + rename): a crash leaves the old file or the new one.
3. Without a key, ``seal`` writes the digest only (integrity against damage, not against
   an attacker); pumps with a configured key refuse such a file.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from controller.library.errors import LibraryCorrupt
from controller.library.file import (
    LibraryDocument,
    LibraryInfo,
    build_library,
    parse_document,
    parse_header,
    read_document,
    signed_message,
)
from controller.library.keys import Key

_INTEGRITY_HEADER = re.compile(r"\s*\[\s*integrity\s*\]\s*(#.*)?\Z")
_TABLE_HEADER = re.compile(r"\s*\[")


def integrity_table(doc: LibraryDocument, key: Key | None) -> dict[str, str]:
    out = {"digest": doc.digest}
    if key is not None:
        out |= {"algorithm": key.algorithm, "key_id": key.key_id, "signature": key.sign(signed_message(doc.digest))}
    return out


def _strip_toml_integrity(text: str) -> str:
    lines, out, skipping = text.splitlines(), [], False
    for line in lines:
        if _INTEGRITY_HEADER.match(line):
            skipping = True
            continue
        if skipping and _TABLE_HEADER.match(line):
            skipping = False
        if not skipping:
            out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out) + "\n"


def render(doc: LibraryDocument, integrity: dict[str, str]) -> str:
    if doc.fmt == "json":
        return json.dumps({**doc.content, "integrity": integrity}, indent=2, ensure_ascii=False) + "\n"
    body = _strip_toml_integrity(doc.text)
    table = "\n".join(f"{k} = {json.dumps(v)}" for k, v in integrity.items())
    return f"{body}\n[integrity]  # written by pumpctl library sign; do not edit\n{table}\n"


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sign_file(path: str | Path, key: Key | None, out: str | Path | None = None) -> LibraryInfo:
    """Seal (no key) or sign ``path``; writes ``out`` (default: in place). Returns what was written."""
    doc = read_document(path)
    header = parse_header(doc)
    build_library(doc, header)  # rule 1
    integrity = integrity_table(doc, key)
    text = render(doc, integrity)
    again = parse_document(text, doc.fmt, doc.source)
    if again.digest != doc.digest or again.integrity != integrity:
        raise LibraryCorrupt("integrity", "not rewritable", "a [integrity] table (or none) at the end of the file",
                             "remove the old integrity data by hand and sign again", source=doc.source)
    target = Path(out) if out is not None else Path(path)
    try:
        _write_atomic(target, text)
    except OSError as exc:
        raise LibraryCorrupt("--out", str(target), "a writable file", str(exc), source=doc.source) from None
    return LibraryInfo(header, doc.digest, key.algorithm if key else None, key.key_id if key else None, str(target))
