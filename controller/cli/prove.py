"""Subcommands of ``pumpctl`` that verify: registered here, heavy imports inside handlers."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from controller.cli.registry import command


def _verify_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="evidence", help="output directory (default: evidence/, git-ignored)")
    p.add_argument("--walk-steps", type=int, default=20_000, help="random-walk steps (default 20000)")
    p.add_argument("--seed", type=int, default=1, help="random-walk seed (default 1)")
    for name, what in (("mutants", "the mutation campaign"), ("tests", "the requirement-tagged tests"),
                       ("scenarios", "the scenario suite"), ("bench", "the IEC 60601-2-24 bench")):
        p.add_argument(f"--no-{name}", action="store_true", help=f"skip {what} (its evidence is then missing)")
    p.add_argument("--junit", metavar="FILE", type=Path,
                   help="take the test results from this JUnit XML (a pytest run of the same commit) instead of "
                        "running the requirement-tagged tests again")
    p.add_argument("--accept-texts", action="store_true",
                   help="record the current requirement texts as reviewed (specs/evidence.lock) and exit")
    p.add_argument("--accept-inspections", action="store_true",
                   help="record the files of specs/inspections.toml as reviewed (specs/inspections.lock) and exit")
    p.add_argument("--pdf", action="store_true",
                   help="also print report.pdf with headless Chromium (apt-get install chromium); without it a PDF "
                        "is written only when WeasyPrint is installed")
    p.add_argument("--sign-key", metavar="FILE", type=Path,
                   help="Ed25519 private key (PEM) that signs manifest.sha256 (default: an ephemeral key for this run)")
    p.add_argument("--check-signature", metavar="DIR", type=Path,
                   help="check the signed manifest of an evidence directory and exit (0 when it verifies)")
    p.add_argument("--trusted-key", metavar="FILE", type=Path,
                   help="with --check-signature: the public key to trust (default: the one beside the manifest)")


@command("verify", "run every proof, test, scenario and bench and write the evidence package (see README)")(
    _verify_args)
def _verify(args: argparse.Namespace) -> int:
    from proofs.evidence.collect import Options, collect, write_inspections_lock, write_lock
    from proofs.evidence.package import write_package
    from specs.catalog import load

    if args.check_signature is not None:
        from proofs.evidence.signing import check

        ok, message = check(args.check_signature, args.trusted_key)
        print(f"pumpctl verify: {message}")
        return 0 if ok else 1
    if args.accept_texts or args.accept_inspections:
        if args.accept_texts:
            write_lock(load())
            print("specs/evidence.lock: current requirement texts recorded as reviewed")
        if args.accept_inspections:
            write_inspections_lock()
            print("specs/inspections.lock: the inspected files recorded as reviewed")
        return 0
    if args.walk_steps < 1:
        print(f"pumpctl verify: --walk-steps {args.walk_steps} must be at least 1")
        return 2
    if args.sign_key is not None:
        from proofs.evidence.signing import signer

        signer(args.sign_key)  # a bad key is a typed error now, not after the whole run
    out = Path(args.out)
    t0 = time.perf_counter()
    for name, path in (("--junit", args.junit), ("--sign-key", args.sign_key)):
        if path is not None and not path.is_file():
            print(f"pumpctl verify: {name} {path}: not a readable file")
            return 2
    opts = Options(out, args.walk_steps, args.seed, not args.no_mutants, not args.no_tests, not args.no_scenarios,
                   not args.no_bench, args.junit)
    evidence = collect(opts, lambda line: print(line, flush=True))
    written = write_package(evidence, out, args.sign_key, args.pdf)
    v = evidence["results"]["verdict"]
    for path in written:
        print(f"wrote      {path}")
    for rid in v["failed"]:
        print(f"FAILED     {rid}")
    for rid in v["unverified"]:
        print(f"UNVERIFIED {rid}")
    print(f"== {v['summary']} ({time.perf_counter() - t0:.0f} s)")
    return 0 if v["pass"] else 1


def _prove_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", metavar="FILE", help="write machine-readable results here")
    p.add_argument("--only", metavar="ID", action="append", help="check only this obligation (repeatable)")
    p.add_argument("--depth", type=int, default=6, help="BMC depth for counterexamples (default 6)")
    p.add_argument("--kmax", type=int, default=3, help="largest k for k-induction (default 3)")
    p.add_argument("--timeout", type=int, default=30, help="solver timeout per query, seconds (default 30)")
    p.add_argument("--cex-dir", metavar="DIR", help="write each counterexample as a core scenario here")
    p.add_argument("--jobs", type=int, default=2,
                   help="processes for the inductive step (default 2; 1 runs it in this process)")
    p.add_argument("--no-crosshair", action="store_true", help="skip the CrossHair contract check")
    p.add_argument("--crosshair-timeout", type=int, default=5,
                   help="CrossHair per-condition timeout, seconds (default 5)")


@command("prove", "prove every safety invariant over the real transition table (Z3) and check contracts "
                  "(CrossHair)")(_prove_args)
def _prove(args: argparse.Namespace) -> int:
    from proofs.report import print_run, run_to_json, write_counterexamples

    for name, value, lo in (("--depth", args.depth, 0), ("--kmax", args.kmax, 1), ("--timeout", args.timeout, 1),
                            ("--jobs", args.jobs, 1), ("--crosshair-timeout", args.crosshair_timeout, 1)):
        if value < lo:
            print(f"pumpctl prove: {name} {value} must be at least {lo}")
            return 2
    from proofs.engine import obligations
    from proofs.prove import run
    from proofs.shortcuts import IDS

    known = {inv.id for inv in obligations()} | set(IDS)
    for only in args.only or []:
        if only not in known:
            print(f"pumpctl prove: --only {only!r} is not an obligation; allowed: {', '.join(sorted(known))}")
            return 2
    from proofs.contracts import finish_crosshair, start_crosshair

    crosshair = None if args.no_crosshair or args.only else start_crosshair(args.crosshair_timeout)
    result = run(only=args.only, depth=args.depth, kmax=args.kmax, timeout_ms=args.timeout * 1000, jobs=args.jobs)
    contracts = None if crosshair is None else finish_crosshair(crosshair, args.crosshair_timeout)
    print_run(result, contracts)
    if args.cex_dir:
        for path in write_counterexamples(result, Path(args.cex_dir)):
            print(f"counterexample scenario: {path}")
    if args.json:
        Path(args.json).write_text(json.dumps(run_to_json(result, contracts), indent=2, sort_keys=True) + "\n")
    ok = result.ok and (contracts is None or contracts.ok)
    return 0 if ok else 1


def _mutate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--only", metavar="ID", action="append", help="run only this mutant (repeatable)")
    p.add_argument("--json", metavar="FILE", help="write the results here")
    p.add_argument("--jobs", type=int, default=2, help="parallel processes (default 2)")
    p.add_argument("--generated", action="store_true",
                   help="run the mechanically generated campaign (proofs.mutagen) instead of the project's list")
    p.add_argument("--sample", type=int, metavar="N",
                   help="with --generated: a deterministic stratified sample of N sites (default: every site)")
    p.add_argument("--list", action="store_true", help="with --generated: list the sites and stop")
    p.add_argument("--record", action="store_true",
                   help="with --generated: write the results to specs/mutation-campaign.json (read by the evidence)")


@command("mutate", "apply every safety-relevant mutant and check that a proof obligation catches it")(_mutate_args)
def _mutate(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        print(f"pumpctl mutate: --jobs {args.jobs} must be at least 1")
        return 2
    if args.generated:
        return _mutate_generated(args)
    for flag in ("sample", "list", "record"):
        if getattr(args, flag):
            print(f"pumpctl mutate: --{flag} needs --generated")
            return 2
    from proofs.mutants import MUTANTS, run_campaign

    ids = [m.id for m in MUTANTS]
    for only in args.only or []:
        if only not in ids:
            print(f"pumpctl mutate: --only {only!r} is not a mutant; allowed: {', '.join(ids)}")
            return 2
    results = run_campaign(args.only, args.jobs)
    killed = sum(r.killed for r in results)
    for r in results:
        mark = "killed" if r.killed else "SURVIVED"
        print(f"{r.id:30s} {mark:8s} by {', '.join(r.by) or '-':40s} {r.seconds:6.1f} s")
    print(f"kill rate {killed}/{len(results)} = {100 * killed / max(1, len(results)):.0f} %")
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in results], indent=2, sort_keys=True) + "\n")
    return 0 if killed == len(results) else 1


def _mutate_generated(args: argparse.Namespace) -> int:
    from proofs import mutagen

    every = mutagen.sites()
    ids = [s.id for s in every]
    if args.sample is not None and not 1 <= args.sample <= len(ids):
        print(f"pumpctl mutate: --sample {args.sample} must be between 1 and {len(ids)} (the number of sites)")
        return 2
    for only in args.only or []:
        if only not in ids:
            print(f"pumpctl mutate: --only {only!r} is not a generated site (pumpctl mutate --generated --list)")
            return 2
    chosen = args.only or (mutagen.sample(args.sample) if args.sample else ids)
    if args.list:
        for s in every:
            if s.id in chosen:
                print(f"{s.id}\t{s.text}")
        print(f"{len(chosen)} of {len(ids)} sites")
        return 0

    def progress(o: mutagen.Outcome, done: int, total: int) -> None:
        print(f"[{done:3d}/{total}] {o.verdict:16s} {o.seconds:6.1f} s  {o.id}  {o.by[:80]}", flush=True)

    results = mutagen.campaign(args.jobs, chosen, progress)
    n = max(1, results["mutants"])
    print(f"generated campaign: {results['mutants']} of {results['sites']} sites; "
          f"killed by proof {results['killed_by_proof']} ({100 * results['killed_by_proof'] / n:.0f} %), "
          f"by test {results['killed_by_test']} ({100 * results['killed_by_test'] / n:.0f} %), "
          f"survivors {len(results['survivors'])} (argued equivalent {len(results['equivalent'])}, "
          f"unexplained {len(results['unexplained'])})")
    for sid in results["unexplained"]:
        print(f"  SURVIVED {sid}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    if args.record:
        mutagen.write(results)
    return 0 if not results["unexplained"] else 1
