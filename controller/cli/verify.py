"""``pumpctl verify``: every proof, test, scenario and bench, and the evidence package (see the README).

Theory of operation
-------------------
Before any work ``verify`` checks that it can finish (rule 1): a run takes minutes and must not
end in a missing package or an empty test run. Then ``proofs.evidence.collect.collect`` runs the
activities, reporting through a ``Progress`` (the background ones - tests, CrossHair, mutants -
beside the proofs, scenarios, bench and walk in this process), and ``write_package`` writes
the evidence package.

Rules
1. Up front, in this order, each ending in one line on stderr and exit 2 with nothing run:
   a source checkout (``CHECKOUT``: the requirement-tagged tests and the review records are not
   installed with the package, so outside a checkout no requirement could be verified; the line
   says what works there instead); every module the chosen activities need (``NEEDS``), named
   with the extra that installs it; then the options.
2. Exit codes (CI relies on them): 0 every implemented requirement verified, 1 not, 2 as rule 1.
   ``--check-signature``: 0 verified, 1 not, 2 nothing readable to check.
3. Progress on stderr; on stdout the files written, the failed and unverified requirements and,
   last, the verdict.
"""

from __future__ import annotations

import argparse
import sys
import time
from importlib.util import find_spec
from pathlib import Path

from controller.cli.options import at_least
from controller.cli.registry import command
from controller.errors import ConfigurationError

# what a run needs from a source checkout (relative to the repository root)
CHECKOUT = ("pyproject.toml", "tests", "specs/evidence.lock")
# module, what needs it, the activity whose --no-X makes it unneeded ("" = always needed)
NEEDS: tuple[tuple[str, str, str], ...] = (
    ("z3", "the Z3 proofs", ""),
    ("crosshair", "the CrossHair contracts", ""),
    ("jinja2", "the report", ""),
    ("matplotlib", "the bench plots", "bench"),
    ("pytest", "the requirement-tagged tests", "tests"),
    ("hypothesis", "the requirement-tagged tests", "tests"),
)


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


def checkout_problem(root: Path) -> str | None:
    """Why ``root`` is not a source checkout verify can work in, or None (rule 1)."""
    missing = [name for name in CHECKOUT if not (root / name).exists()]
    if not missing:
        return None
    return (f"needs a source checkout of pumpctl, and {root} is not one ({', '.join(missing)} missing): the "
            "requirement-tagged tests and the review records (specs/evidence.lock, specs/inspections.lock) are not "
            "installed with the package, so no requirement could be verified here. Clone the repository and run "
            "pip install -e '.[dev]' && pumpctl verify in it; installed as a package, pumpctl prove, mutate, "
            "simulate, bench, campaign and verify --check-signature work")


def missing_modules(args: argparse.Namespace) -> str | None:
    """The modules the chosen activities need and do not find, with the extras that install them."""
    from controller.cli.options import EXTRAS

    uses_tests = not args.no_tests and args.junit is None
    skipped = {"bench": args.no_bench, "tests": not uses_tests}
    missing = [(module, what) for module, what, unless in NEEDS
               if not skipped.get(unless) and find_spec(module) is None]
    if not missing:
        return None
    extras = sorted({EXTRAS[module] for module, _ in missing})
    return (f"needs {', '.join(f'{module} ({what})' for module, what in missing)}, not installed: "
            f"pip install 'pumpctl[{','.join(extras)}]' (in a checkout: pip install -e '.[dev]')")


@command("verify", "run every proof, test, scenario and bench and write the evidence package (see README)")(
    _verify_args)
def _verify(args: argparse.Namespace) -> int:
    if args.check_signature is not None:
        return _check_signature(args.check_signature, args.trusted_key)
    from pumpctl.proofs.evidence import activities

    problem = checkout_problem(activities.ROOT) or (
        None if args.accept_texts or args.accept_inspections else missing_modules(args))
    if problem is not None:
        print(f"pumpctl verify: {problem}", file=sys.stderr)
        return 2
    from pumpctl.proofs.evidence.collect import write_inspections_lock, write_lock
    from pumpctl.specs.catalog import load

    if args.accept_texts or args.accept_inspections:
        if args.accept_texts:
            write_lock(load())
            print("specs/evidence.lock: current requirement texts recorded as reviewed")
        if args.accept_inspections:
            write_inspections_lock()
            print("specs/inspections.lock: the inspected files recorded as reviewed")
        return 0
    return _run(args)


def _check_signature(directory: Path, trusted: Path | None) -> int:
    from pumpctl.proofs.evidence.signing import PUB, SIG, check

    wanted = [directory / "manifest.sha256", directory / SIG, trusted or directory / PUB]
    absent = [str(p) for p in wanted if not p.is_file()]
    if absent:
        raise ConfigurationError("--check-signature", str(directory), "an evidence directory with its signed "
                                 "manifest", f"not found: {', '.join(absent)}")
    ok, message = check(directory, trusted)
    print(f"pumpctl verify: {message}")
    return 0 if ok else 1


def _run(args: argparse.Namespace) -> int:
    from controller.cli.progress import Progress, duration
    from pumpctl.proofs.evidence.collect import Options, collect
    from pumpctl.proofs.evidence.package import generated_files, write_package

    at_least("--walk-steps", args.walk_steps, 1)
    for name, path in (("--junit", args.junit), ("--sign-key", args.sign_key)):
        if path is not None and not path.is_file():
            raise ConfigurationError(name, str(path), "a readable file")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigurationError("--out", str(out), "a directory (this is a file)")
    if args.sign_key is not None:
        from pumpctl.proofs.evidence.signing import signer

        signer(args.sign_key)  # a bad key is a typed error now, not after the whole run
    t0 = time.perf_counter()
    opts = Options(out, args.walk_steps, args.seed, not args.no_mutants, not args.no_tests, not args.no_scenarios,
                   not args.no_bench, args.junit)
    with Progress() as progress:
        evidence = collect(opts, progress.say, progress.step)
        progress.step("report", 0, 1, "evidence.json, report, SARIF, SBOMs, manifest and signature")
        written = write_package(evidence, out, args.sign_key, args.pdf)
        progress.step("report", 1, 1, f"{len(written)} files")
        progress.wrote(*written, *generated_files(out))  # also the plots, counterexamples, junit.xml, pytest.log
    v = evidence["results"]["verdict"]
    for rid in v["failed"]:
        print(f"FAILED     {rid}")
    for rid in v["unverified"]:
        print(f"UNVERIFIED {rid}")
    print(f"== {v['summary']} ({duration(time.perf_counter() - t0)} wall clock)")
    return 0 if v["pass"] else 1
