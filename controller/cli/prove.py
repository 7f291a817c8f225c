"""``pumpctl prove`` and ``pumpctl mutate``: the proofs and the mutation campaigns (``verify`` is in
``controller.cli.verify``).

Rules
1. Bad options exit 2 before any work (``ConfigurationError``: the option, the value, what is
   allowed); output files are checked before the minutes of work that fill them.
2. Progress on stderr (``controller.cli.progress``); the results on stdout; every file written is
   listed last. Exit 0 when every obligation is proved / every mutant killed, 1 otherwise.
3. Z3 and CrossHair are imported inside the handlers (the ``verify`` extra).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.cli.options import at_least, output_file
from controller.cli.registry import command
from controller.errors import ConfigurationError

if TYPE_CHECKING:
    from controller.cli.progress import Progress


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
    from controller.cli.progress import Progress
    from pumpctl.proofs.report import print_run, run_to_json, write_counterexamples

    for name, value, lo in (("--depth", args.depth, 0), ("--kmax", args.kmax, 1), ("--timeout", args.timeout, 1),
                            ("--jobs", args.jobs, 1), ("--crosshair-timeout", args.crosshair_timeout, 1)):
        at_least(name, value, lo)
    json_path = output_file("--json", args.json)
    from pumpctl.proofs import edge, horizon, shortcuts
    from pumpctl.proofs.engine import obligations
    from pumpctl.proofs.prove import run

    known = {inv.id for inv in obligations()} | set(shortcuts.IDS) | set(edge.IDS) | set(horizon.IDS)
    for only in args.only or []:
        if only not in known:
            raise ConfigurationError("--only", only, "an obligation id: " + ", ".join(sorted(known)))
    stop: list[Callable[[], object]] = []
    with Progress() as progress, ThreadPoolExecutor(1) as background:
        try:
            contracts_run = None if args.no_crosshair or args.only else _crosshair(progress, background,
                                                                                   args.crosshair_timeout, stop)
            result = run(only=args.only, depth=args.depth, kmax=args.kmax, timeout_ms=args.timeout * 1000,
                         jobs=args.jobs, progress=progress.step)
            contracts = None if contracts_run is None else contracts_run.result()
        except BaseException:  # Ctrl-C: CrossHair is stopped, not waited for
            for kill in stop:
                kill()
            raise
        progress.stop()
        print_run(result, contracts)
        if args.cex_dir:
            progress.wrote(*write_counterexamples(result, Path(args.cex_dir)))
        if json_path is not None:
            json_path.write_text(json.dumps(run_to_json(result, contracts), indent=2, sort_keys=True) + "\n")
            progress.wrote(json_path)
    ok = result.ok and (contracts is None or contracts.ok)
    return 0 if ok else 1


def _crosshair(progress: Progress, background: ThreadPoolExecutor, timeout_s: int,
               stop: list[Callable[[], object]]) -> Future[Any]:
    """CrossHair in its own process from the start, waited for in a thread, so its end (and its
    time, beside the proofs) is reported when it happens; ``stop`` gets what kills it."""
    from pumpctl.proofs.contracts import finish_crosshair, start_crosshair

    progress.step("contracts", 0, 1, "CrossHair in the background")
    started = start_crosshair(timeout_s)
    if started[0] is not None:
        stop.append(started[0].kill)
    done = background.submit(finish_crosshair, started, timeout_s)
    done.add_done_callback(lambda f: progress.step("contracts", 1, 1, f.result().claim if not f.exception() else
                                                   f"failed: {f.exception()}"))
    return done


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
    p.add_argument("--record-witnesses", action="store_true",
                   help="search the mutants afresh (recorded witnesses ignored) and write the counterexamples "
                        "found to specs/mutant-witnesses.json (checked, not searched, by verify); with --only, "
                        "the others' witnesses are kept")


@command("mutate", "apply every safety-relevant mutant and check that a proof obligation catches it")(_mutate_args)
def _mutate(args: argparse.Namespace) -> int:
    at_least("--jobs", args.jobs, 1)
    output_file("--json", args.json)
    if args.generated:
        return _mutate_generated(args)
    for flag in ("sample", "list", "record"):
        if getattr(args, flag):
            raise ConfigurationError(f"--{flag}", getattr(args, flag), "only with --generated")
    from controller.cli.progress import Progress, duration
    from pumpctl.proofs.mutants import MUTANTS, MutantResult, run_campaign

    ids = [m.id for m in MUTANTS]
    for only in args.only or []:
        if only not in ids:
            raise ConfigurationError("--only", only, "a mutant id: " + ", ".join(ids))
    with Progress() as progress:
        total = len(args.only or ids)
        where = f"in {args.jobs} processes" if args.jobs > 1 else "in this process, one after the other"
        progress.step("mutants", 0, total, f"{where}, each mutant's patches undone after it")

        def each(r: MutantResult, done: int, total: int) -> None:
            progress.step("mutants", done, total, f"{r.id} {'killed' if r.killed else 'SURVIVED'} "
                                                  f"(its own time {duration(r.seconds)})")

        results = run_campaign(args.only, args.jobs, each, search=args.record_witnesses)
        progress.stop()
        killed = sum(r.killed for r in results)
        print(f"{'mutant':30s} {'verdict':8s} {'by':40s} {'how':8s} own time ({where})")
        for r in results:
            mark = "killed" if r.killed else "SURVIVED"
            print(f"{r.id:30s} {mark:8s} {', '.join(r.by) or '-':40s} {r.how:8s} {r.seconds:6.1f} s"
                  + (f"  (witness not used: {r.note})" if r.note else ""))
        print(f"kill rate {killed}/{len(results)} = {100 * killed / max(1, len(results)):.0f} %")
        if args.record_witnesses:
            from pumpctl.proofs import witness

            kept = {k: w for k, w in witness.load().items() if args.only and k not in args.only}
            witness.save({**kept, **{r.id: r.witness for r in results if r.witness is not None}})
            progress.wrote(str(witness.FILE))
        if args.json:
            Path(args.json).write_text(json.dumps([r.__dict__ for r in results], indent=2, sort_keys=True) + "\n")
            progress.wrote(args.json)
    return 0 if killed == len(results) else 1


def _mutate_generated(args: argparse.Namespace) -> int:
    from controller.cli.progress import Progress, duration
    from pumpctl.proofs import mutagen

    every = mutagen.sites()
    ids = [s.id for s in every]
    if args.sample is not None and not 1 <= args.sample <= len(ids):
        raise ConfigurationError("--sample", args.sample, f"1 to {len(ids)} (the number of generated sites)")
    for only in args.only or []:
        if only not in ids:
            raise ConfigurationError("--only", only, "a generated site id (pumpctl mutate --generated --list)")
    chosen = args.only or (mutagen.sample(args.sample) if args.sample else ids)
    if args.list:
        for s in every:
            if s.id in chosen:
                print(f"{s.id}\t{s.text}")
        print(f"{len(chosen)} of {len(ids)} sites")
        return 0
    with Progress() as progress:
        progress.say(f"generated mutants: the test battery runs on the unmutated code first, then {len(chosen)} "
                     f"mutants, each in its own process, {args.jobs} at a time")

        def each(o: mutagen.Outcome, done: int, total: int) -> None:
            progress.step("generated mutants", done, total,
                          f"{o.verdict} {o.id} (its own time {duration(o.seconds)}) {o.by[:60]}")

        results = mutagen.campaign(args.jobs, chosen, each)
        progress.stop()
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
            progress.wrote(args.json)
        if args.record:
            mutagen.write(results)
            progress.wrote(mutagen.RESULTS)
    return 0 if not results["unexplained"] else 1
