"""``pumpctl simulate`` and ``pumpctl bench``: registered here (simulator, issue 4).

Rules
1. ``simulate`` exits 0 when every scenario meets its ``[expect]`` table (and no invariant or
   physical-truth check failed), 1 otherwise, 2 on a malformed scenario (via ``cli.main``).
2. matplotlib is imported only when a plot is asked for.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from controller.cli import command


def _write_json(path: str, data: object) -> None:
    text = json.dumps(data, indent=1, allow_nan=False)
    if path == "-":
        print(text)
    else:
        Path(path).write_text(text + "\n", encoding="utf-8")


def _simulate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE.toml", help="scenario file(s)")
    p.add_argument("--json", metavar="OUT", help="write the result as JSON (- for stdout; one file: an object, "
                                                 "several: a list)")
    p.add_argument("--plot", metavar="OUT.png", help="plot rate, volume, pressure and alarms (one scenario)")
    p.add_argument("--no-check", action="store_true", help="skip the invariant check after every step (faster)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only failures")


@command("simulate", "run scenario files on the simulated pump and check their [expect] tables")(_simulate_args)
def _simulate(args: argparse.Namespace) -> int:
    from controller.scenario import load
    from controller.scenario_report import summary, to_json, verdict
    from controller.scenario_run import run

    if args.plot and len(args.files) != 1:
        print("pumpctl simulate: --plot takes exactly one scenario file", file=sys.stderr)
        return 2
    core_files = [f for f in args.files if _is_core(f)]
    if core_files:
        if len(core_files) != len(args.files) or args.plot:
            print("pumpctl simulate: core scenarios (mode = \"core\") run alone and without --plot", file=sys.stderr)
            return 2
        return _replay_core(core_files, args)
    scenarios = [load(f) for f in args.files]  # all files are checked before anything runs
    outputs, failed = [], 0
    for sc in scenarios:
        res = run(sc, check=False if args.no_check else None)
        failures = verdict(sc, res)
        failed += bool(failures)
        if failures or not args.quiet:
            print(summary(sc, res, failures))
        data = to_json(res)
        data["expect"] = {"passed": not failures, "failures": failures}
        outputs.append(data)
        if args.plot:
            from controller.scenario_plot import plot_scenario

            plot_scenario(sc, res, args.plot)
            print(f"  plot written to {args.plot}")
    if args.json:
        _write_json(args.json, outputs[0] if len(outputs) == 1 else outputs)
    if len(scenarios) > 1:
        print(f"{len(scenarios) - failed} of {len(scenarios)} scenarios passed")
    return 1 if failed else 0


def _is_core(path: str) -> bool:
    """A counterexample written by ``pumpctl prove`` (events straight to the core, exact ticks)."""
    import tomllib

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh).get("mode") == "core"
    except (OSError, tomllib.TOMLDecodeError):
        return False  # the scenario loader reports the problem with the file named


def _replay_core(files: list[str], args: argparse.Namespace) -> int:
    from proofs.cex import load as load_core
    from proofs.cex import replay

    outputs, failed = [], 0
    for f in files:
        sc = load_core(f)
        res = replay(sc)
        failed += bool(res.broken)
        status = f"REPRODUCES {', '.join(res.broken)}" if res.broken else "safe: no invariant broken"
        print(f"{sc.name}: {len(sc.events)} core events replayed, final state {res.final_state}, "
              f"{res.refused} refused; {status}")
        outputs.append({"name": sc.name, "mode": "core", "final_state": res.final_state, "broken": res.broken,
                        "refused": res.refused, "events": len(sc.events),
                        "found_broken": list(sc.expect_broken)})
    if args.json:
        _write_json(args.json, outputs[0] if len(outputs) == 1 else outputs)
    return 1 if failed else 0


def _bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("procedure", choices=("accuracy", "occlusion"),
                   help="accuracy: start-up and trumpet curves; occlusion: time to alarm, pressure, bolus")
    p.add_argument("--mechanism", choices=("syringe", "cassette"), default="syringe")
    p.add_argument("--rates", help="comma-separated rates in mL/h (accuracy default 1,25,999; occlusion 1,25)")
    p.add_argument("--control-period-ms", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="OUT", help="write the figures as JSON (- for stdout)")
    p.add_argument("--plot", metavar="OUT.png", help="write the curves as a PNG")
    p.add_argument("--check-invariants", action="store_true", help="also check every invariant after every step")


@command("bench", "IEC 60601-2-24 style bench on the simulated pump: flow accuracy or occlusion")(_bench_args)
def _bench(args: argparse.Namespace) -> int:
    from controller import bench

    rates = None
    if args.rates:
        try:
            rates = tuple(float(x) for x in args.rates.split(","))
        except ValueError:
            print(f"pumpctl bench: --rates {args.rates!r}: allowed: comma-separated numbers in mL/h", file=sys.stderr)
            return 2
    if not 1 <= args.control_period_ms <= 2000:
        print(f"pumpctl bench: --control-period-ms {args.control_period_ms}: allowed: 1 to 2000", file=sys.stderr)
        return 2
    opts = bench.BenchOptions(mechanism=args.mechanism, control_period_ms=args.control_period_ms, seed=args.seed,
                              check=args.check_invariants)
    if args.procedure == "accuracy":
        acc = bench.accuracy(rates or bench.ACCURACY_RATES, opts)
        print(bench.accuracy_table(acc))
        bol = bench.bolus_accuracy(bench.BOLUS_ML, opts)
        print(bench.bolus_table(bol))
        data: object = {"flow": bench.accuracy_json(acc), "bolus": bench.bolus_json(bol)}
        if args.plot:
            from controller.scenario_plot import plot_accuracy

            plot_accuracy(acc, args.plot)
    else:
        occ = bench.occlusion(rates or bench.OCCLUSION_RATES, opts)
        print(bench.occlusion_table(occ))
        data = bench.occlusion_json(occ)
        if args.plot:
            from controller.scenario_plot import plot_occlusion

            plot_occlusion(occ, args.plot)
    if args.plot:
        print(f"plot written to {args.plot}")
    if args.json:
        _write_json(args.json, data)
    return 0
