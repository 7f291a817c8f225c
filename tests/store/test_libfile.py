"""Drug library files: digest, signatures, expiry, schema, and the `pumpctl library` command."""

from __future__ import annotations

import json
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from controller.cli import main
from controller.library.errors import (
    LibraryBadSignature,
    LibraryCorrupt,
    LibraryExpired,
    LibrarySchemaError,
    LibraryUnsigned,
    SignatureUnavailable,
)
from controller.library.file import load_library, load_library_file, read_document
from controller.library.keys import generate, hmac_key, load_key, parse_key
from controller.library.sign import sign_file
from tests.store.helpers import EXAMPLE, HMAC_KEY_FILE, TODAY, copy_example, example_key

HAVE_CRYPTO = True
try:
    import cryptography  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_CRYPTO = False


@pytest.mark.req("REQ-SEC-001", "REQ-SEC-002")
def test_the_example_library_is_signed_and_matches_the_schema() -> None:
    loaded = load_library_file(EXAMPLE, example_key(), TODAY)
    drugs = {e.drug for e in loaded.library.entries}
    assert {"morphine", "dopamine", "heparin", "insulin", "parenteral nutrition", "sodium chloride 0.9%"} <= drugs
    info = loaded.info
    assert info.key_id == example_key().key_id and info.algorithm == "hmac-sha256"
    assert info.header.version in info.identity and info.digest[:19] in info.identity
    assert loaded.library.version == info.header.version
    with pytest.raises(LibraryUnsigned, match="only signed libraries"):  # no key: refused by default
        load_library_file(EXAMPLE, None, TODAY)
    unsigned = load_library_file(EXAMPLE, None, TODAY, allow_unsigned=True)  # the explicit development flag
    assert unsigned.info.key_id is None and "unsigned" in unsigned.info.identity


@pytest.mark.req("REQ-SEC-001")
def test_modified_content_is_corrupt(tmp_path: Path) -> None:
    lib = copy_example(tmp_path)
    lib.write_text(lib.read_text().replace("hard_max = 4 }", "hard_max = 40 }"))
    with pytest.raises(LibraryCorrupt) as exc:
        load_library(lib, example_key(), TODAY)
    assert exc.value.field == "integrity.digest" and "modified" in str(exc.value)


@pytest.mark.req("REQ-SEC-001")
def test_a_recomputed_digest_does_not_fool_the_signature(tmp_path: Path) -> None:
    lib = copy_example(tmp_path)
    lib.write_text(lib.read_text().replace("hard_max = 4 }", "hard_max = 40 }"))
    doc = read_document(lib)
    text = lib.read_text()
    old = next(line for line in text.splitlines() if line.startswith("digest = "))
    lib.write_text(text.replace(old, f'digest = "{doc.digest}"'))
    with pytest.raises(LibraryBadSignature) as exc:
        load_library(lib, example_key(), TODAY)
    assert exc.value.field == "integrity.signature"
    with pytest.raises(LibraryUnsigned):  # issue 10 defect 6: a resealed, tenfold library without a key
        load_library(lib, None, TODAY)
    assert load_library(lib, None, TODAY, allow_unsigned=True)  # only the development flag lets it through


@pytest.mark.req("REQ-SEC-001")
def test_unsigned_library_is_refused_when_a_key_is_configured(tmp_path: Path) -> None:
    lib = copy_example(tmp_path)
    sign_file(lib, None)  # seal: digest only
    with pytest.raises(LibraryUnsigned, match=r"integrity\.signature"):
        load_library(lib, example_key(), TODAY)
    with pytest.raises(LibraryUnsigned, match=r"integrity\.signature"):
        load_library(lib, None, TODAY)
    assert load_library(lib, None, TODAY, allow_unsigned=True)


@pytest.mark.req("REQ-SEC-001")
def test_unsealed_file_and_wrong_key_are_refused(tmp_path: Path) -> None:
    lib = copy_example(tmp_path)
    text = lib.read_text()
    lib.write_text(text[: text.index("[integrity]")])
    with pytest.raises(LibraryCorrupt, match="not sealed"):
        load_library(lib, None, TODAY, allow_unsigned=True)
    other = hmac_key(b"another pharmacy's key!!")
    with pytest.raises(LibraryBadSignature) as exc:
        load_library(EXAMPLE, other, TODAY)
    assert exc.value.field == "integrity.key_id" and other.key_id in str(exc.value)


@pytest.mark.req("REQ-SEC-001")
@pytest.mark.parametrize(("today", "field"), [(date(2027, 11, 1), "library.expires"),
                                              (date(2030, 1, 1), "library.expires"),
                                              (date(2026, 10, 31), "library.issued")])
def test_stale_or_not_yet_valid_library_is_refused(today: date, field: str) -> None:
    with pytest.raises(LibraryExpired) as exc:
        load_library(EXAMPLE, example_key(), today)
    assert exc.value.field == field


@pytest.mark.req("REQ-SEC-001", "REQ-PRG-002")
@pytest.mark.parametrize(("old", "new", "field"), [
    ("dose = { soft_max = 2, hard_max = 4 }", "dose = { soft_max = 5, hard_max = 4 }", "morphine.dose.hard_max"),
    ('dose_unit = "U/h"', 'dose_unit = "mg/h"', "insulin.dose_unit"),
    ('routes = ["intravenous", "subcutaneous"]', 'routes = ["intravenous", "intrathecal"]', "morphine.routes"),
    ("concentration = 1600", "concentration = 0", "dopamine.concentration"),
    ("concentration = 1600", 'concentration = "1e999999999"', "dopamine.concentration"),
    ("concentration = 1600", "concentration = nan", "library.drug[1].concentration"),
    ('version = "2026.11-1"', 'version = ""', "library.version"),
    ("expires = 2027-11-01", "expires = 2026-01-01", "library.expires"),
    ('name = "Example', 'colour = "red"\nname = "Example', "library.colour"),
    ("[library]", 'version = "top-level"\n[library]', "version"),
])
def test_schema_errors_name_the_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    lib = copy_example(tmp_path)
    text = lib.read_text()
    assert old in text
    lib.write_text(text.replace(old, new, 1))
    key = example_key()
    t0 = time.perf_counter()
    with pytest.raises(LibrarySchemaError) as exc:
        sign_file(lib, key)  # the pharmacy tool refuses to sign it ...
    assert exc.value.field == field, exc.value
    try:
        doc = read_document(lib)
    except LibrarySchemaError as early:  # refused while parsing: nothing to seal
        assert early.field == field
        return
    text = lib.read_text()  # ... and a pump refuses it even if someone sealed it by hand
    old_digest = next(line for line in text.splitlines() if line.startswith("digest = "))
    lib.write_text(text.replace(old_digest, f'digest = "{doc.digest}"'))
    with pytest.raises(LibrarySchemaError) as exc2:
        load_library(lib, None, TODAY, allow_unsigned=True)
    assert exc2.value.field == field
    assert time.perf_counter() - t0 < 2  # "1e999999999" never reaches exact arithmetic


@pytest.mark.req("REQ-SEC-001")
def test_json_translation_has_the_same_digest_and_signature(tmp_path: Path) -> None:
    doc = read_document(EXAMPLE)
    js = tmp_path / "lib.json"
    js.write_text(json.dumps({**doc.content, "integrity": doc.integrity}, indent=1))
    loaded = load_library_file(js, example_key(), TODAY)
    assert loaded.info.digest == doc.digest
    js.write_text(json.dumps({**doc.content, "integrity": doc.integrity}).replace("1600", "1601"))
    with pytest.raises(LibraryCorrupt):
        load_library(js, example_key(), TODAY)
    with pytest.raises(LibraryCorrupt, match="valid JSON"):
        js.write_text('{"library": NaN}')
        load_library(js, None, TODAY)


def test_signing_keeps_comments_and_is_idempotent(tmp_path: Path) -> None:
    lib = copy_example(tmp_path)
    sign_file(lib, example_key())
    assert lib.read_text() == EXAMPLE.read_text()
    out = tmp_path / "out.toml"
    sign_file(lib, None, out)
    assert "# Example drug library" in out.read_text() and "signature" not in out.read_text()


@pytest.mark.req("REQ-SEC-001")
@pytest.mark.skipif(not HAVE_CRYPTO, reason="the optional cryptography package is not installed")
def test_ed25519_sign_with_private_check_with_public(tmp_path: Path) -> None:
    private_pem, public_pem = generate("ed25519")
    assert public_pem is not None
    private, public = parse_key(private_pem), parse_key(public_pem)
    assert private.key_id == public.key_id and not public.can_sign
    lib = copy_example(tmp_path)
    sign_file(lib, private)
    assert load_library_file(lib, public, TODAY).info.algorithm == "ed25519"
    with pytest.raises(LibraryBadSignature, match="algorithm"):  # no algorithm confusion
        load_library(lib, example_key(), TODAY)
    with pytest.raises(LibraryBadSignature, match="algorithm"):
        load_library(EXAMPLE, public, TODAY)
    text = lib.read_text()
    sig = next(line for line in text.splitlines() if line.startswith("signature = "))
    lib.write_text(text.replace(sig, 'signature = "' + "00" * 64 + '"'))
    with pytest.raises(LibraryBadSignature, match="does not match"):
        load_library(lib, public, TODAY)
    with pytest.raises(Exception, match="private key"):
        sign_file(lib, public)


@pytest.mark.req("REQ-SEC-001")
def test_ed25519_without_cryptography_is_unavailable_never_a_pass(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.asymmetric.ed25519", None)
    pem = tmp_path / "pub.pem"
    pem.write_text("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEApqdWsUWsA1/pxqmlcwY1UVbh7ZvG+IL3AWaqN6QQngU=\n"
                   "-----END PUBLIC KEY-----\n")
    with pytest.raises(SignatureUnavailable, match="unavailable"):
        load_key(pem)
    assert main(["library", "check", str(EXAMPLE), "--key", str(pem), "--today", "2027-01-15"]) == 2  # the extra


def test_key_files_are_checked(tmp_path: Path) -> None:
    bad = tmp_path / "k"
    for text in ("hmac-sha256:abcd", "hmac-sha256:abc", "just some text", ""):
        bad.write_text(text)
        with pytest.raises(Exception, match="--key"):
            load_key(bad)
    assert load_key(HMAC_KEY_FILE).algorithm == "hmac-sha256"


@pytest.mark.req("REQ-SEC-001")
def test_cli_check_sign_seal_keygen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = str(HMAC_KEY_FILE)
    assert main(["library", "check", str(EXAMPLE), "--key", key, "--today", "2027-01-15"]) == 0
    assert "signature verified" in capsys.readouterr().out
    assert main(["library", "check", str(EXAMPLE), "--key", key, "--today", "2028-01-15"]) == 1
    assert "REFUSED (expired)" in capsys.readouterr().err
    lib = copy_example(tmp_path)
    assert main(["library", "seal", str(lib)]) == 0
    assert main(["library", "check", str(lib), "--key", key, "--today", "2027-01-15"]) == 1
    assert "REFUSED (unsigned)" in capsys.readouterr().err
    new_key = tmp_path / "new.key"
    assert main(["library", "keygen", str(new_key)]) == 0
    assert main(["library", "keygen", str(new_key)]) == 2  # never overwrites a key
    assert main(["library", "sign", str(lib), "--key", str(new_key), "--out", str(tmp_path / "s.toml")]) == 0
    assert main(["library", "check", str(tmp_path / "s.toml"), "--key", str(new_key), "--today", "2027-01-15"]) == 0
    assert main(["library", "sign", str(lib)]) == 2  # sign needs a key
    assert main(["library", "check", str(tmp_path / "missing.toml")]) == 2
    assert main(["library", "check", str(lib), "--key", str(tmp_path / "missing.key")]) == 2
    if HAVE_CRYPTO:
        assert main(["library", "keygen", str(tmp_path / "ed"), "--algorithm", "ed25519"]) == 0
        assert main(["library", "sign", str(lib), "--key", str(tmp_path / "ed")]) == 0
        assert main(["library", "check", str(lib), "--key", str(tmp_path / "ed.pub"), "--today", "2027-01-15"]) == 0
