"""CLI-argument fuzzing of `pumpctl log` and `pumpctl library`: exit 0, 1 or 2, never a traceback.

Arguments are drawn from the real vocabulary (actions, options, a good log, a damaged log, the
example library, keys, dates, hashes) mixed with arbitrary text, and run in a scratch
directory so that sign, seal and keygen write only there. Text never holds NUL or lone
surrogates: a real argv cannot carry a NUL, and surrogates are an encoding matter of the
terminal, not of these commands.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from controller.cli import main
from tests.store.helpers import EXAMPLE, HMAC_KEY_FILE, filled_log
from tests.store.strategies import FUZZ


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="pumpctl-clifuzz-"))
    filled_log(d / "good.db", 5).close()
    (d / "bad.db").write_bytes(b"SQLite format 3\x00" + b"\x07" * 3000)
    shutil.copyfile(EXAMPLE, d / "lib.toml")
    shutil.copyfile(HMAC_KEY_FILE, d / "k.key")
    (d / "junk.key").write_text("hello")
    yield d
    shutil.rmtree(d, ignore_errors=True)


free_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
tokens = st.one_of(
    st.sampled_from(["show", "verify", "check", "sign", "seal", "keygen", "good.db", "bad.db", "missing.db",
                     "lib.toml", "k.key", "junk.key", "new.key", "out.toml", ".", "--limit", "--kind", "--json",
                     "--expect-head", "--key", "--out", "--today", "--algorithm", "--help", "0", "-1", "3", "fault",
                     "2027-01-15", "2031-02-30", "ed25519", "hmac-sha256", "ab" * 32, "-", "--"]),
    free_text,
)
files = st.one_of(st.sampled_from(["good.db", "bad.db", "missing.db", "lib.toml", "out.toml", "k.key", "new.key",
                                   "junk.key", "."]), free_text)
log_files = st.one_of(st.sampled_from(["good.db", "good.db", "bad.db"]), files)
lib_files = st.one_of(st.sampled_from(["lib.toml", "lib.toml", "out.toml"]), files)
options = st.lists(st.one_of(
    st.tuples(st.just("--limit"), st.sampled_from(["1", "3", "0", "-2", "x"])),
    st.tuples(st.just("--kind"), st.sampled_from(["note", "fault", "session", "", "x"])),
    st.tuples(st.just("--expect-head"), st.sampled_from(["ab" * 32, "00" * 32, "zz"])),
    st.tuples(st.just("--key"), files),
    st.tuples(st.just("--out"), files),
    st.tuples(st.just("--today"), st.sampled_from(["2027-01-15", "2028-01-01", "2026-02-30", "today"])),
    st.tuples(st.just("--algorithm"), st.sampled_from(["hmac-sha256", "ed25519", "rsa"])),
    st.tuples(st.sampled_from(["--json", "--help", "--bogus"])),
    st.tuples(tokens),
), max_size=3).map(lambda pairs: [t for pair in pairs for t in pair])
some_options = st.one_of(st.just([]), options)
structured = st.one_of(
    st.tuples(st.just("log"), st.one_of(st.sampled_from(["show", "verify"]), tokens), log_files, some_options),
    st.tuples(st.just("library"), st.one_of(st.sampled_from(["check", "sign", "seal", "keygen"]), tokens),
              lib_files, some_options),
).map(lambda t: [t[0], t[1], t[2], *t[3]])
argv = st.one_of(structured, structured, st.lists(tokens, max_size=6).map(lambda a: ["log", *a]))


@pytest.mark.req("REQ-PRG-002", "REQ-LOG-002", "REQ-SEC-001")
@settings(FUZZ, max_examples=500)
@given(args=argv)
def test_cli_arguments_give_exit_0_1_or_2_without_traceback(scratch: Path, args: list[str]) -> None:
    command = args[0]
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(scratch)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(args)
            except SystemExit as exc:  # argparse: usage errors and --help
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.chdir(cwd)
    event(f"{command} exit {code}")
    assert code in (0, 1, 2), (args, code)
    assert "Traceback" not in err.getvalue() + out.getvalue()
    if code == 1:
        assert err.getvalue() or "NOT INTACT" in out.getvalue()  # a refusal always says why
