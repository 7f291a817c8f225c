"""``pumpctl simulate``: scenario files on the simulated pump (``pumpctl bench`` is in ``controller.cli.bench``).

Quiet control periods are skipped in blocks (``controller.scenario.run``: the same alarms, states,
refusals and volumes, at a cost that grows with what happens); ``--period-by-period`` (or a
scenario's ``period_by_period = true``) steps the core every control period, as on hardware.
With ``--log`` a run is always period by period (every step and write-ahead snapshot logged as
the loop makes them, so ``--resume`` restarts from one).

``pumpctl simulate FILE --log DB`` records every core step and every recovery snapshot in
the event log DB (``controller.runtime.session.open_log``, ``controller.runtime.logstore``);
``--resume`` restores the log's newest snapshot and continues the scenario from its time
(``controller.scenario.logsim`` says exactly how), writing a ``restore`` record; a log with no
snapshot says so and the scenario starts from the beginning (nothing can have been delivered).
Logging is off unless asked for: it costs an fsync per non-quiet step.

Rules
1. ``simulate`` exits 0 when every scenario meets its ``[expect]`` table (and no invariant or
   physical-truth check failed), 1 otherwise, 2 on an unreadable or malformed scenario (not
   UTF-8, not TOML, a bad field: a typed error naming the file and the field or byte, via
   ``cli.main``) or bad options (``--resume`` without ``--log``; ``--log`` with more than one
   scenario).
2. matplotlib is imported only when a plot is asked for.
3. A log that cannot be written does not stop the simulation (REQ-LOG-004: warnings on
   stderr); a snapshot that cannot be written stops flow (``LogStore.guard``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from controller.cli.registry import command
from controller.errors import ConfigurationError

if TYPE_CHECKING:
    from controller.scenario.model import Scenario
    from controller.scenario.run import Result


def write_json(path: str, data: object) -> None:
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
    p.add_argument("--period-by-period", action="store_true",
                   help="step the core every control period (default: skip quiet periods in blocks, same results)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only failures")
    p.add_argument("--log", metavar="DB", help="record every core step and every recovery snapshot in this event "
                                                "log (SQLite; one scenario)")
    p.add_argument("--resume", action="store_true", help="with --log: restore the log's newest snapshot and go on "
                                                         "with the scenario from its time (after a crash)")


@command("simulate", "run scenario files on the simulated pump and check their [expect] tables")(_simulate_args)
def _simulate(args: argparse.Namespace) -> int:
    from controller.scenario.model import load
    from controller.scenario.report import summary, to_json, verdict
    from controller.scenario.run import run

    if args.plot and len(args.files) != 1:
        print("pumpctl simulate: --plot takes exactly one scenario file", file=sys.stderr)
        return 2
    if args.resume and not args.log:
        print("pumpctl simulate: --resume needs --log DB (the log to resume from)", file=sys.stderr)
        return 2
    if args.log and (len(args.files) != 1 or _is_core(args.files[0])):
        print("pumpctl simulate: --log takes exactly one simulator scenario (not a core counterexample)",
              file=sys.stderr)
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
        check = False if args.no_check else None
        skip = False if args.period_by_period else None
        res = _run_logged(sc, check, args.log, args.resume, args.quiet) if args.log else run(sc, check=check, skip=skip)
        failures = verdict(sc, res)
        failed += bool(failures)
        if failures or not args.quiet:
            print(summary(sc, res, failures))
        data = to_json(res)
        data["expect"] = {"passed": not failures, "failures": failures}
        outputs.append(data)
        if args.plot:
            from controller.bench.plot import plot_scenario

            plot_scenario(sc, res, args.plot)
            print(f"  plot written to {args.plot}")
    if args.json:
        write_json(args.json, outputs[0] if len(outputs) == 1 else outputs)
    if len(scenarios) > 1:
        print(f"{len(scenarios) - failed} of {len(scenarios)} scenarios passed")
    return 1 if failed else 0


def _run_logged(sc: Scenario, check: bool | None, db: str, resume: bool, quiet: bool) -> Result:
    from controller.core.units import fmt_ml
    from controller.runtime.session import open_log
    from controller.scenario.logsim import KIND
    from controller.scenario.run import Runner

    with open_log(db, kind=KIND, resume=resume,
                  if_empty=lambda why: print(f"{why}; the scenario starts from the beginning")) as logs:
        runner = Runner(sc, check, store=logs.store, resume=logs.snapshot)  # the runner gives the store its clock
        if not quiet and runner.res.restore is not None:
            r = runner.res.restore
            b, a = r["before"], r["after"]
            print(f"resumed from snapshot {r['from']} at t={r['context']['t_ms'] / 1000:g} s (state {r['state_before']}"
                  f"): delivered {fmt_ml(b['delivered_vu'])} -> {fmt_ml(a['delivered_vu'])} mL, odometer "
                  f"{b['odo_vu']} -> {a['odo_vu']} vu (bound: sent cap {r['sent_cap_vu']}, snapshot cap "
                  f"{b['cap_vu']}); power_loss alarm {'on' if r['power_loss_alarm'] else 'off'}")
        res = runner.run()
        store = logs.store
        if not quiet and store is not None:
            per_step = res.wall_s / res.steps * 1000 if res.steps else 0.0
            print(f"event log {db}: {store.steps} core steps recorded, {store.snapshots} snapshots, "
                  f"{store.failures} failed writes; {per_step:.3f} ms wall per core step (logging included)")
        return res


def _is_core(path: str) -> bool:
    """A counterexample written by ``pumpctl prove`` (events straight to the core, exact ticks).

    A file that is not UTF-8 is refused here with its byte offset; one that is not TOML or cannot
    be read is left to the scenario loader, which names the file and the problem."""
    import tomllib

    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError("file", path, "a UTF-8 text file",
                                 f"byte {exc.start} (0x{exc.object[exc.start]:02x}) is not UTF-8") from None
    except OSError:
        return False
    try:
        return tomllib.loads(text).get("mode") == "core"
    except tomllib.TOMLDecodeError:
        return False


def _replay_core(files: list[str], args: argparse.Namespace) -> int:
    from pumpctl.proofs.cex import load as load_core
    from pumpctl.proofs.cex import replay

    outputs, failed = [], 0
    for sc in [load_core(f) for f in files]:  # every file is checked before anything runs
        res = replay(sc)
        failed += bool(res.broken)
        status = f"REPRODUCES {', '.join(res.broken)}" if res.broken else "safe: no invariant broken"
        print(f"{sc.name}: {len(sc.events)} core events replayed, final state {res.final_state}, "
              f"{res.refused} refused; {status}")
        outputs.append({"name": sc.name, "mode": "core", "final_state": res.final_state, "broken": res.broken,
                        "refused": res.refused, "events": len(sc.events),
                        "found_broken": list(sc.expect_broken)})
    if args.json:
        write_json(args.json, outputs[0] if len(outputs) == 1 else outputs)
    return 1 if failed else 0
