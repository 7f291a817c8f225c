"""Where each wire fact comes from: the protocol tables' item type and their documentation rows.

Theory of operation
-------------------
Every pump protocol module keeps its facts in one machine-readable table (``PROTOCOL``), one
``Item`` per fact, each saying whether it was checked against a public manual (and which one,
a key of the module's ``SOURCES``), taken from public third-party code (``secondary``), or
assumed. A lab with a real pump corrects an item there and nowhere else; docs/hardware.md
carries a copy of each table (``markdown_rows``), kept in step by a test.

Rules
1. ``status`` is one of ``STATUSES``; a checked item names its source, a secondary one names
   the third-party source it was read in, an assumed one names none.
2. The rows render the value as code and escape the table separator, so the copy in the docs
   parses back to the same (key, status) pairs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

STATUSES = ("checked", "secondary", "assumed")


@dataclass(frozen=True, slots=True)
class Item:
    key: str
    value: str
    meaning: str
    status: str  # "checked" (against SOURCES[source]), "secondary" (third-party code) or "assumed"
    source: str = ""
    note: str = ""


def checked(key: str, value: str, meaning: str, source: str, note: str = "") -> Item:
    return Item(key, value, meaning, "checked", source, note)


def secondary(key: str, value: str, meaning: str, source: str = "THIRD_PARTY", note: str = "") -> Item:
    return Item(key, value, meaning, "secondary", source, note)


def assumed(key: str, value: str, meaning: str, note: str = "") -> Item:
    return Item(key, value, meaning, "assumed", "", note)


def markdown_rows(items: Iterable[Item]) -> list[str]:
    """The docs table: | key | value | meaning (note) | status | source |."""
    rows = ["| key | value | meaning | status | source |", "| --- | --- | --- | --- | --- |"]
    for i in items:
        meaning = f"{i.meaning} ({i.note})" if i.note else i.meaning
        value = i.value.replace("|", "\\|")
        rows.append(f"| `{i.key}` | `{value}` | {meaning.replace('|', '/')} | {i.status} | {i.source or '-'} |")
    return rows
