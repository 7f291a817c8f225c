"""``pumpctl log ...`` and ``pumpctl library ...``: the event log and drug library files.

Theory of operation
-------------------
Two subcommands, each with a positional action, registered with ``controller.cli.command``::

    pumpctl log show DB [--limit N] [--kind K] [--json]
    pumpctl log verify DB [--expect-head HASH]
    pumpctl library check FILE [--key K] [--today YYYY-MM-DD]
    pumpctl library sign FILE --key K [--out F]
    pumpctl library seal FILE [--out F]              # digest only, no signature
    pumpctl library keygen FILE [--algorithm hmac-sha256|ed25519]

Rules
1. Exit 0: done / intact / accepted. Exit 1: the log was read and is not intact, or the library
   is refused - the message names the first bad record or the cause. Exit 2: bad input - an
   option that does not apply to the action, a missing or unreadable file, a file that is not an
   event log (``LogFileError``), a bad key file, Ed25519 without the ``signing`` extra.
2. The log is opened read-only for show and verify: checking a log never changes it.
3. Imports of the log and library modules happen inside the handlers, so ``pumpctl --help``
   stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path

from controller.cli.registry import command
from controller.errors import ConfigurationError


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} is not allowed; allowed: 1 or more")
    return n


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; allowed: YYYY-MM-DD") from None


def _err(cmd: str, msg: str, code: int) -> int:
    print(f"pumpctl {cmd}: {msg}", file=sys.stderr)
    return code


def _log_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("show", "verify"), help="show: the records; verify: the hash chain")
    p.add_argument("db", metavar="DB", help="event log file (SQLite)")
    p.add_argument("--limit", type=_positive, help="show: only the newest N records")
    p.add_argument("--kind", help="show: only records of this kind (event_refused, alarm_raised, fault, ...)")
    p.add_argument("--json", action="store_true", help="show: one JSON object per line")
    p.add_argument("--expect-head", metavar="HASH",
                   help="verify: also require this record hash (kept elsewhere) to be in the chain")


@command("log", "the hash-chained event log: show its records or verify its chain")(_log_args)
def _log(args: argparse.Namespace) -> int:
    from controller.log.db import connect
    from controller.log.errors import LogFileError
    from controller.log.verify import check_expected_head, verify_connection

    if args.action == "show" and args.expect_head is not None:
        return _err("log", "--expect-head applies to `log verify` only", 2)
    if args.action == "verify" and (args.limit is not None or args.kind is not None or args.json):
        return _err("log", "--limit, --kind and --json apply to `log show` only", 2)
    if not Path(args.db).is_file():
        return _err("log", f"{args.db}: no such file", 2)
    expect = check_expected_head(args.expect_head) if args.expect_head is not None else None
    try:
        conn = connect(args.db, readonly=True)
    except LogFileError as exc:  # unreadable, or not an event log: bad input, nothing was checked
        return _err("log", str(exc), 2)
    try:
        if args.action == "verify":
            result = verify_connection(conn, expect, args.db)
            print(f"{args.db}: {result}")
            return 0 if result.ok else 1
        return _show(conn, args)
    except LogFileError as exc:
        return _err("log", str(exc), 2)
    finally:
        conn.close()


def _show(conn: object, args: argparse.Namespace) -> int:
    import sqlite3

    from controller.log.errors import LogFileError
    from controller.log.eventlog import read_records

    assert isinstance(conn, sqlite3.Connection)
    try:
        records = read_records(conn, args.kind, args.limit)
    except sqlite3.Error as exc:
        raise LogFileError(args.db, f"unreadable: {exc}", "run `pumpctl log verify` to find the damage") from None
    if not args.json:
        print(f"{'seq':>8s} {'t_ms':>12s} {'at_ms':>12s}  {'kind':20s} payload")
    for r in records:
        if args.json:
            print(json.dumps({"seq": r.seq, "t_ms": r.t_ms, "at_ms": r.at_ms, "kind": r.kind,
                              "payload": json.loads(r.payload_json) if _is_json(r.payload_json) else r.payload_json,
                              "hash": r.hash}, ensure_ascii=False))
        else:
            print(r.line())
    return 0


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _library_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("check", "sign", "seal", "keygen"),
                   help="check: a file as a pump would; sign: sign it with --key; seal: a digest only, no signature; "
                        "keygen: make a new key file")
    p.add_argument("file", metavar="FILE", help="library file (TOML or JSON); for keygen the key file to write")
    p.add_argument("--key", metavar="K", help="key file: hmac-sha256 secret or Ed25519 PEM")
    p.add_argument("--out", metavar="F", help="sign/seal: write here instead of in place")
    p.add_argument("--today", type=_day, metavar="YYYY-MM-DD", help="check: the date to check expiry against")
    p.add_argument("--allow-unsigned-library", action="store_true",
                   help="check: development only - accept a sealed library no --key verifies (a pump refuses it)")
    p.add_argument("--algorithm", choices=("hmac-sha256", "ed25519"), default="hmac-sha256",
                   help="keygen: the kind of key")


@command("library", "drug library files: check, sign, seal (a digest, no signature) or keygen (a signing key)")(
    _library_args)
def _library(args: argparse.Namespace) -> int:
    from controller.library.errors import LibraryError
    from controller.library.keys import load_key

    if args.action == "keygen":
        return _keygen(args)
    if args.action != "check" and args.today is not None:
        return _err("library", "--today applies to `library check` only", 2)
    if args.action == "check" and args.out is not None:
        return _err("library", "--out applies to sign and seal only", 2)
    if args.action == "sign" and args.key is None:
        return _err("library", "sign needs --key K (use `library seal` for a digest without a signature)", 2)
    if args.action == "seal" and args.key is not None:
        return _err("library", "seal writes no signature: use `library sign FILE --key K`", 2)
    if not Path(args.file).is_file():
        return _err("library", f"{args.file}: no such file", 2)
    try:
        key = load_key(args.key) if args.key is not None else None
    except ConfigurationError as exc:  # also Ed25519 without the cryptography package (the signing extra)
        return _err("library", str(exc), 2)
    try:
        if args.action == "check":
            from controller.library.file import load_library_file

            loaded = load_library_file(args.file, key, args.today, allow_unsigned=args.allow_unsigned_library)
            sig = ("signature verified" if key is not None else
                   "digest ok, UNAUTHENTICATED: signature not checked (development flag; a pump refuses it)")
            print(f"OK {args.file}: {loaded.info.identity}; {len(loaded.library.entries)} entries; "
                  f"expires {loaded.info.header.expires}; {sig}")
            return 0
        from controller.library.sign import sign_file

        info = sign_file(args.file, key, args.out)
        print(f"{'signed' if key else 'sealed'} {info.source}: {info.identity}")
        return 0
    except LibraryError as exc:
        return _err("library", f"REFUSED ({exc.code}): {exc}", 1)


def _keygen(args: argparse.Namespace) -> int:
    from controller.library.errors import LibraryError
    from controller.library.keys import generate

    if args.key is not None or args.out is not None or args.today is not None:
        return _err("library", "keygen takes only FILE and --algorithm", 2)
    path = Path(args.file)
    if not path.name or path.is_dir():
        return _err("library", f"{args.file!r}: not a file name", 2)
    pub_path = path.with_name(path.name + ".pub")
    if path.exists() or (args.algorithm == "ed25519" and pub_path.exists()):
        return _err("library", f"{path}: exists; refusing to overwrite a key", 2)
    try:
        private, public = generate(args.algorithm)
    except LibraryError as exc:  # Ed25519 without the cryptography package (the signing extra)
        return _err("library", str(exc), 2)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private)
        if public is not None:
            pub_path.write_bytes(public)
    except OSError as exc:
        return _err("library", f"{path}: {exc}", 2)
    print(f"wrote {path}" + (f" (private) and {pub_path} (public: the only part a pump needs)" if public else
                             " (shared secret: protect it on the pump as at the pharmacy)"))
    return 0
