"""``pumpctl``: the command line.

Exit codes (the convention, written out for users in the README's "Exit codes" section)::

    0    done: everything asked for was carried out and every check passed
    1    a check or verification failed, or the work was refused or ended badly
         (a proof not proved, a mutant survived, a scenario's expectations not met, a log not
         intact, a library or program refused, an infusion ended in an alarm, a lost pump link)
    2    usage, configuration or input error: nothing (more) was done; the message names the
         option or field, the value and what is allowed (also a missing extra, or ``verify``
         outside a source checkout)
    70   internal error: a bug in pumpctl (EX_SOFTWARE); a header line and the traceback
    130  interrupted (Ctrl-C)

Rules
1. Every error goes to stderr as ``pumpctl COMMAND: message``; stdout carries results only.
2. Bad input raises ``ConfigurationError`` (field, value, allowed) or is printed by the
   subcommand with status 2; ``main`` turns a ``ConfigurationError`` into one stderr line and 2.
3. Every subcommand returns its exit status; ``main`` never calls ``sys.exit`` itself except
   through argparse's own usage errors (status 2).
4. Heavy tools (Z3, CrossHair, matplotlib, rich) are imported only by the subcommands that need them.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from controller.cli.options import EXTRAS
from controller.cli.registry import COMMANDS, command
from controller.errors import ConfigurationError, PumpError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 70, 130


def _diagram_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    p.add_argument("--internal", action="store_true", help="also draw internal (state-keeping) rows")


@command("diagram", "print the state machine generated from the transition table")(_diagram_args)
def _diagram(args: argparse.Namespace) -> int:
    from controller.core import diagram

    print(diagram.mermaid(args.internal) if args.format == "mermaid" else diagram.dot(args.internal), end="")
    return 0


def _table_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", help="only rows leaving this state")


@command("table", "print the transition table, row by row, with guards and requirements")(_table_args)
def _table(args: argparse.Namespace) -> int:
    from controller.core.state import STATES
    from controller.core.table import TABLE

    if args.state is not None and args.state not in STATES:
        print(f"pumpctl table: --state {args.state!r} is not a state; allowed: {', '.join(STATES)}", file=sys.stderr)
        return 2
    for i, r in enumerate(TABLE):
        if args.state is not None and args.state not in r.sources:
            continue
        dest = r.dest or "(stays)"
        conds = " & ".join(c.name for c in r.conds) or "-"
        print(f"{i:3d}  {r.trigger:18s} {','.join(r.sources):40s} -> {dest:9s} [{conds}] "
              f"{r.change.__name__}  {' '.join(r.reqs)}")
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pumpctl")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    # each registers its subcommands on import (none imports anything heavy at the top)
    from controller.cli import bench, campaign, emulate, hardware, prove, sdc, simulate, store, verify  # noqa: F401

    parser = argparse.ArgumentParser(
        prog="pumpctl",
        description="Safety-verified infusion pump controller (research software, not a certified medical device).",
    )
    parser.add_argument("--version", action="version", version=f"pumpctl {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (add, _, help_text) in sorted(COMMANDS.items()):
        add(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    name = f"pumpctl {args.command}"
    try:
        return COMMANDS[args.command][1](args)
    except ConfigurationError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PumpError as exc:  # a fault while working (a pump link, a log write), not bad input
        print(f"{name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top not in EXTRAS:
            return _internal(name, exc)
        print(f"{name}: needs the '{EXTRAS[top]}' extra ({top} is not installed): "
              f"pip install 'pumpctl[{EXTRAS[top]}]'", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        if exc.filename is None:
            return _internal(name, exc)
        # a path the user gave that cannot be read or written (a missing folder, no permission)
        print(f"{name}: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # the catch-all: a bug, said as one, never a bare traceback
        return _internal(name, exc)


def _internal(name: str, exc: BaseException) -> int:
    print(f"{name}: internal error (a bug in pumpctl, not in your input): {type(exc).__name__}: {exc}\n"
          "please report it with the traceback below", file=sys.stderr)
    traceback.print_exception(exc, file=sys.stderr)
    return EXIT_INTERNAL
