"""Every parser: arbitrary input gives a valid result or a typed error, never a crash or a half change.

Parsers: library files (text, bytes, mutated content), log files (random and damaged SQLite
files, for the reader and the writer), log appends, and the existing edge parsers
``build_program``, ``Library.from_data``, ``to_fraction`` and ``parse_dose_unit``. Seeds are
derandomized (deterministic runs). The ``test_fixed_*`` tests pin bugs these fuzzers found in
the edge parsers (unhashable route names, huge numbers, unbounded number text), now fixed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from controller.clinical.doses import AMOUNTS, DoseUnit, parse_dose_unit
from controller.clinical.drugs import Library
from controller.clinical.programs import build_program
from controller.core.limits import Limits
from controller.core.program import program_ok
from controller.core.units import to_fraction
from controller.errors import ConfigurationError, PumpError
from controller.library.errors import LibraryError
from controller.library.file import LibraryDocument, load_library_file, read_document
from controller.library.gate import LibraryGate
from controller.log.canonical import canonical_bytes
from controller.log.db import Record, connect
from controller.log.errors import LogFileError
from controller.log.eventlog import EventLog
from controller.log.verify import VerifyResult, verify_connection
from tests.store.helpers import EXAMPLE, ROOT, TODAY, example_key
from tests.store.strategies import FILES, FUZZ, entries, json_values, requests, scalars, small_numbers, text

KEY = example_key()
LIB = load_library_file(EXAMPLE, KEY, TODAY).library
EXAMPLE_DOC: LibraryDocument = read_document(EXAMPLE)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="pumpctl-fuzz-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


# --- library files ------------------------------------------------------------------------

def _check_gate_load(path: Path) -> None:
    gate = LibraryGate(KEY, None, today=lambda: TODAY)
    assert gate.load(EXAMPLE).ok
    before = gate.current
    result = gate.load(path)
    if result.ok:
        assert gate.current is not before and result.event is None
    else:
        assert gate.current is before, "a refused load changed the library in use"
        assert result.event is None and result.alarm is not None


@pytest.mark.req("REQ-SEC-001", "REQ-PRG-002")
@FILES
@given(body=st.one_of(text, st.text(max_size=400)), suffix=st.sampled_from([".toml", ".json", ".lib"]),
       keyed=st.booleans())
def test_library_text_gives_a_library_or_a_typed_error(scratch: Path, body: str, suffix: str, keyed: bool) -> None:
    p = scratch / f"t{suffix}"
    p.write_text(body, encoding="utf-8")
    with contextlib.suppress(LibraryError):
        load_library_file(p, KEY if keyed else None, TODAY)
    _check_gate_load(p)


@pytest.mark.req("REQ-SEC-001")
@FILES
@given(data=st.binary(max_size=300))
def test_library_bytes_give_a_typed_error(scratch: Path, data: bytes) -> None:
    p = scratch / "b.toml"
    p.write_bytes(EXAMPLE.read_bytes()[: len(data)] + data if data[:1] == b"\x00" else data)
    with pytest.raises(LibraryError):
        load_library_file(p, KEY, TODAY)


def _mutate(content: dict[str, object], data: st.DataObject) -> dict[str, object]:
    """Small, plausible edits (a number, a dropped key, a new entry) and some junk."""
    c = json.loads(json.dumps(content))
    for _ in range(data.draw(st.integers(0, 3))):
        drugs, header = c.get("drug"), c.get("library")
        where = data.draw(st.sampled_from(["number", "number", "drop", "junk", "new_entry", "header", "top"]))
        if where in ("number", "drop", "junk") and isinstance(drugs, list) and drugs and isinstance(drugs[0], dict):
            e = drugs[data.draw(st.integers(0, len(drugs) - 1))]
            if not isinstance(e, dict) or not e:
                continue
            k = data.draw(st.sampled_from(sorted(e)))
            if where == "drop":
                del e[k]
            elif where == "junk":
                e[data.draw(st.sampled_from([k, "typo"]))] = data.draw(json_values)
            elif isinstance(e[k], dict) and e[k]:
                e[k][data.draw(st.sampled_from(sorted(e[k])))] = data.draw(small_numbers)
            else:
                e[k] = data.draw(small_numbers)
        elif where == "new_entry" and isinstance(drugs, list):
            drugs.append(data.draw(entries()))
        elif where == "header" and isinstance(header, dict):
            header[data.draw(st.sampled_from(["name", "version", "issued", "expires", "x"]))] = \
                data.draw(st.one_of(json_values, st.dates().map(str)))
        elif where == "top":
            c[data.draw(st.sampled_from(["drug", "library", "version"]))] = data.draw(json_values)
    return c


@pytest.mark.req("REQ-SEC-001", "REQ-PRG-002")
@FILES
@given(data=st.data(), signed=st.booleans())
def test_sealed_mutated_libraries_load_or_name_the_problem(scratch: Path, data: st.DataObject, signed: bool) -> None:
    content = _mutate(EXAMPLE_DOC.content, data)
    try:
        digest = "sha256:" + hashlib.sha256(canonical_bytes(content)).hexdigest()
    except ConfigurationError:
        digest = "sha256:" + "0" * 64  # NaN and friends: the loader must refuse them by itself
    integrity = {"digest": digest}
    if signed:
        from controller.library.file import signed_message

        integrity |= {"algorithm": KEY.algorithm, "key_id": KEY.key_id, "signature": KEY.sign(signed_message(digest))}
    p = scratch / "m.json"
    p.write_text(json.dumps({**content, "integrity": integrity}), encoding="utf-8")
    try:
        loaded = load_library_file(p, KEY if signed else None, TODAY)
        assert loaded.library.entries and loaded.info.digest == digest
        event("loaded")
    except LibraryError as exc:
        assert isinstance(exc.field, str) and exc.allowed  # names the field and what is allowed
        event(f"refused: {exc.code}")
    _check_gate_load(p)


# --- existing edge parsers ----------------------------------------------------------------

@pytest.mark.req("REQ-PRG-002")
@FUZZ
@given(drugs=st.one_of(st.lists(entries(), max_size=3), json_values), version=scalars)
def test_library_from_data_gives_a_library_or_a_configuration_error(drugs: object, version: object) -> None:
    try:
        lib = Library.from_data({"drug": drugs, "version": version})
    except ConfigurationError as exc:
        assert isinstance(exc.field, str) and exc.allowed
        event("refused")
        return
    event("library")
    assert all(e.concentration > 0 for e in lib.entries)


@pytest.mark.req("REQ-PRG-002", "REQ-SEC-001")
@FUZZ
@given(req=requests(), with_library=st.booleans())
def test_build_program_gives_a_core_valid_program_or_a_configuration_error(req: dict[str, object],
                                                                          with_library: bool) -> None:
    limits = Limits()
    try:
        built = build_program(req, limits, LIB if with_library else None)
    except ConfigurationError as exc:
        assert isinstance(exc.field, str) and exc.allowed
        event("refused")
        return
    event("built")
    assert program_ok(built.program, limits)  # anything built is accepted by the core's guard


@pytest.mark.req("REQ-PRG-002")
@FUZZ
@given(value=st.one_of(scalars, json_values, st.decimals(allow_nan=True, allow_infinity=True, places=6),
                       st.fractions(max_denominator=10**6)), allow_negative=st.booleans())
def test_to_fraction_gives_a_fraction_or_a_configuration_error(value: object, allow_negative: bool) -> None:
    try:
        out = to_fraction(value, "x", allow_negative=allow_negative)
    except ConfigurationError as exc:
        assert exc.field == "x"
        return
    assert isinstance(out, Fraction) and (allow_negative or out >= 0)


@pytest.mark.req("REQ-PRG-002")
@FUZZ
@given(value=st.one_of(st.lists(st.sampled_from([*AMOUNTS, "kg", "m2", "min", "h", "", " ", "x"]), max_size=4)
                       .map("/".join), scalars, json_values))
def test_parse_dose_unit_gives_a_unit_or_a_configuration_error(value: object) -> None:
    try:
        unit = parse_dose_unit(value)
    except ConfigurationError:
        return
    assert isinstance(unit, DoseUnit) and unit.amount in AMOUNTS


# --- log files ----------------------------------------------------------------------------

def _read(path: Path) -> VerifyResult | None:
    """Reader side: a verdict, or a typed error (None)."""
    try:
        conn = connect(path, readonly=True)
    except LogFileError:
        return None
    try:
        return verify_connection(conn, None, str(path))
    except LogFileError:
        return None
    finally:
        conn.close()


def _write(path: Path) -> Record | None:
    """Writer side: an append, or a typed error (None)."""
    try:
        with EventLog(path, rotate_every=0) as log:
            return log.append("note", {"after": "damage"}, 10**9)
    except PumpError:
        return None


@pytest.mark.req("REQ-LOG-002")
@FILES
@given(data=st.binary(max_size=2000), header=st.booleans())
def test_random_files_are_a_typed_error_for_reader_and_writer(scratch: Path, data: bytes, header: bool) -> None:
    p = scratch / "r.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{p}{suffix}").unlink(missing_ok=True)
    p.write_bytes((b"SQLite format 3\x00" if header else b"") + data)
    result = _read(p)
    assert result is None or not result.ok
    _write(p)


@pytest.fixture(scope="module")
def pristine(scratch: Path) -> bytes:
    """A checkpointed log with rotation and an archive, as bytes."""
    p = scratch / "pristine.db"
    log = EventLog(p, retention_ms=5_000, keep_faults=3, rotate_every=0)
    for i in range(25):
        log.append_many([("note", {"i": i, "pad": "x" * (i * 7)}), ("fault", {"i": i})], 1_000 * i)
    log.rotate()
    log.close()
    con = sqlite3.connect(p)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
    con.close()
    return p.read_bytes()


@pytest.mark.req("REQ-LOG-002")
@FILES
@given(seed=st.integers(0, 2**32 - 1), flips=st.integers(1, 8), cut=st.booleans())
def test_damaged_log_files_give_a_verdict_or_a_typed_error(scratch: Path, pristine: bytes, seed: int, flips: int,
                                                           cut: bool) -> None:
    rng = random.Random(seed)
    data = bytearray(pristine)
    for _ in range(flips):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    if cut:
        del data[rng.randrange(len(data)):]
    p = scratch / "d.db"
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{p}{suffix}").unlink(missing_ok=True)
    p.write_bytes(bytes(data))
    verdict = _read(p)
    event("typed error" if verdict is None else "intact" if verdict.ok else f"not intact: {verdict.problem.what}"
          if verdict.problem else "?")
    event("append ok" if _write(p) is not None else "append refused")


@pytest.mark.req("REQ-LOG-002", "REQ-LOG-001")
@FUZZ
@given(kind=st.one_of(st.sampled_from(["note", "fault", "snapshot", "library_loaded"]),
                     st.sampled_from(["rotation", "session", "x" * 41, "Note", ""]), text),
       payload=st.one_of(st.dictionaries(text, json_values, max_size=4), json_values,
                         st.dictionaries(st.one_of(text, st.integers()), json_values, max_size=3)),
       at_ms=st.one_of(st.integers(0, 10**9), st.integers(-5, 2**63), st.booleans(), st.floats()))
def test_a_refused_append_leaves_the_chain_verifiable(scratch: Path, kind: str, payload: object,
                                                      at_ms: int) -> None:
    with EventLog(scratch / "append.db", rotate_every=0) as log:
        before = log.head()
        try:
            rec = log.append(kind, payload, at_ms)  # type: ignore[arg-type]
        except ConfigurationError as exc:
            assert log.head() == before
            event(f"refused: {exc.field.split('.')[0]}")
        else:
            event("appended")
            assert rec.seq > before.seq and log.head().hash == rec.hash
        assert log.verify().ok


# --- bugs the fuzzers found (fixed; kept as regression tests) ----------------------------

def _entry(**kw: object) -> dict[str, object]:
    return {"drug": "x", "concentration": 1, **kw}


@pytest.mark.req("REQ-PRG-002")
def test_fixed_drugs_unhashable_route() -> None:
    with pytest.raises(ConfigurationError):
        Library.from_data({"drug": [_entry(routes=[[]])]})


@pytest.mark.req("REQ-PRG-002")
def test_fixed_build_program_unhashable_route() -> None:
    with pytest.raises(ConfigurationError):
        build_program({"rate_ml_h": 1, "vtbi_ml": 1, "route": []}, Limits())


@pytest.mark.req("REQ-PRG-002")
@pytest.mark.parametrize("case", ["vtbi", "bounds"])
def test_fixed_huge_numbers_overflow(case: str) -> None:
    with pytest.raises(ConfigurationError):
        if case == "vtbi":
            build_program({"rate_ml_h": 1, "vtbi_ml": 10**400}, Limits())
        else:
            Library.from_data({"drug": [_entry(rate_ml_h={"hard_min": 10**400, "soft_min": 1})]})


@pytest.mark.req("REQ-PRG-002")
@pytest.mark.parametrize("number", ["1e999999999", "1" * 5000])
def test_fixed_to_fraction_unbounded_text(number: str) -> None:
    # a fresh interpreter: the default int-string limit, and a hang cannot take the suite with it
    code = ("import sys\nfrom controller.core.units import to_fraction\n"
            "from controller.errors import ConfigurationError\n"
            "try:\n    to_fraction(sys.argv[1], 'x')\nexcept ConfigurationError:\n    raise SystemExit(0)\n"
            "raise SystemExit(1)\n")
    try:
        proc = subprocess.run([sys.executable, "-c", code, number], cwd=ROOT, timeout=3, capture_output=True)
    except subprocess.TimeoutExpired:
        pytest.fail(f"to_fraction({number[:12]!r}...) ran for more than 3 s")
    assert proc.returncode == 0, proc.stderr.decode()[-300:]
