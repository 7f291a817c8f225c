"""``pumpctl bench``: the IEC 60601-2-24 style procedures on the simulated pump.

Theory of operation
-------------------
::

    pumpctl bench accuracy|occlusion|stopped-flow|mains-failure [--rates R,R,...] [--mechanism M]
                  [--control-period-ms MS] [--seed S] [--json OUT] [--plot OUT.png] [--check-invariants]

runs one procedure of ``controller.bench.procedures`` (every run a seeded scenario on the
simulated pump), prints its table (``controller.bench.output``) and writes the figures as JSON
and, for accuracy and occlusion, the curves as a PNG.

Rules
1. Every option is checked before the first run: ``--rates`` must be finite numbers within the
   procedure's range (``procedures.RATE_RANGE``); a bad value exits 2 with a message naming the
   option, the value and the allowed range, never an internal scenario field.
2. Progress on stderr (``controller.cli.progress``), tables on stdout, the files written listed
   last. Exit 0 when the runs are done: the bench measures, it does not judge (``verify`` does).
3. matplotlib is imported only when a plot is asked for.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from controller.cli.options import numbers, output_file
from controller.cli.registry import command
from controller.errors import ConfigurationError

if TYPE_CHECKING:
    from controller.bench.procedures import BenchOptions
    from controller.cli.progress import Step

PROCEDURES = {
    "accuracy": "start-up and trumpet curves at each rate, and bolus volume accuracy",
    "occlusion": "time to alarm, pressure at the alarm and release bolus at 2, 10 and 19 psi, static and trend "
                 "detector",
    "stopped-flow": "a runaway motor while commanded stopped (REQ-FLF-002)",
    "mains-failure": "battery operation until battery_depleted (REQ-PWR-003)",
}


def _bench_args(p: argparse.ArgumentParser) -> None:
    from controller.bench import procedures as bench

    defaults = {"accuracy": bench.ACCURACY_RATES, "occlusion": bench.OCCLUSION_RATES,
                "stopped-flow": bench.STOPPED_FLOW_RATES, "mains-failure": bench.MAINS_RATES}
    p.add_argument("procedure", choices=tuple(PROCEDURES),
                   help="; ".join(f"{name}: {what}" for name, what in PROCEDURES.items()))
    p.add_argument("--mechanism", choices=("syringe", "cassette"), default="syringe")
    p.add_argument("--rates", help="comma-separated rates in mL/h (stopped-flow: runaway rates); default and "
                                   "allowed: " + "; ".join(
                                       f"{name} {','.join(f'{r:g}' for r in defaults[name])} "
                                       f"({bench.RATE_RANGE[name][0]:g} to {bench.RATE_RANGE[name][1]:g})"
                                       for name in PROCEDURES))
    p.add_argument("--control-period-ms", type=int, default=100, help="simulated control period, 1 to 2000 ms "
                                                                      "(default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="OUT", help="write the figures as JSON (- for stdout)")
    p.add_argument("--plot", metavar="OUT.png", help="write the curves as a PNG (accuracy and occlusion)")
    p.add_argument("--check-invariants", action="store_true", help="also check every invariant after every step")


@command("bench", "IEC 60601-2-24 style bench on the simulated pump: " + ", ".join(PROCEDURES))(_bench_args)
def _bench(args: argparse.Namespace) -> int:
    from controller.bench import procedures as bench
    from controller.cli.progress import Progress
    from controller.cli.simulate import write_json

    lo, hi = bench.RATE_RANGE[args.procedure]
    rates = numbers("--rates", args.rates, lo, hi, "mL/h") if args.rates is not None else None
    if not 1 <= args.control_period_ms <= 2000:
        raise ConfigurationError("--control-period-ms", args.control_period_ms, "1 to 2000")
    if args.procedure in ("stopped-flow", "mains-failure") and args.plot:
        raise ConfigurationError("--plot", args.plot, "only with accuracy and occlusion")
    json_path, plot_path = output_file("--json", args.json), output_file("--plot", args.plot)
    opts = bench.BenchOptions(mechanism=args.mechanism, control_period_ms=args.control_period_ms, seed=args.seed,
                              check=args.check_invariants)
    with Progress() as progress:
        try:
            tables, data, runs = _run(args.procedure, rates, opts, progress.step)
        except ConfigurationError as exc:  # rule 1's net: a combination a bench scenario refuses
            raise ConfigurationError("--rates, --mechanism, --control-period-ms",
                                     f"{args.rates or 'default rates'}, {args.mechanism}, {args.control_period_ms}",
                                     "a combination the procedure's scenarios accept", str(exc)) from None
        progress.stop()
        for table in tables:
            print(table)
        if plot_path is not None:
            from controller.bench.plot import plot_accuracy, plot_occlusion

            if args.procedure == "accuracy":
                plot_accuracy(runs, str(plot_path))
            else:
                plot_occlusion(runs, str(plot_path))
            progress.wrote(plot_path)
        if args.json:
            write_json(args.json, data)
            if json_path is not None:
                progress.wrote(json_path)
    return 0


def _run(procedure: str, rates: tuple[float, ...] | None, opts: BenchOptions, step: Step
         ) -> tuple[list[str], object, list[Any]]:
    """(tables, JSON data, the runs to plot) of one procedure."""
    from controller.bench import output
    from controller.bench import procedures as bench

    if procedure == "accuracy":
        acc = bench.accuracy(rates or bench.ACCURACY_RATES, opts, step)
        bol = bench.bolus_accuracy(bench.BOLUS_ML, opts, step)
        return ([output.accuracy_table(acc), output.bolus_table(bol)],
                {"flow": output.accuracy_json(acc), "bolus": output.bolus_json(bol)}, acc)
    if procedure == "mains-failure":
        mf = bench.mains_failure(rates or bench.MAINS_RATES, opts, step)
        return [output.mains_failure_table(mf)], output.mains_failure_json(mf), []
    if procedure == "stopped-flow":
        sf = bench.stopped_flow(rates or bench.STOPPED_FLOW_RATES, opts, step)
        return [output.stopped_flow_table(sf)], output.stopped_flow_json(sf), []
    occ = bench.occlusion(rates or bench.OCCLUSION_RATES, opts, progress=step)
    return [output.occlusion_table(occ)], output.occlusion_json(occ), occ
