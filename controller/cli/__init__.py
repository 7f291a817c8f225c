"""``pumpctl``: the command line.

Rules
1. Bad arguments exit with status 2 and a message naming the argument and what is allowed.
2. Every subcommand returns its exit status; ``main`` never calls ``sys.exit`` itself except
   through argparse's own usage errors.
3. Heavy tools (Z3, CrossHair, matplotlib) are imported only by the subcommands that need them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from controller.cli.registry import COMMANDS, command
from controller.errors import PumpError


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
    from controller.cli import campaign, emulate, hardware, prove, sdc, simulate, store  # noqa: F401

    parser = argparse.ArgumentParser(
        prog="pumpctl",
        description="Safety-verified infusion pump controller (research software, not a certified medical device).",
    )
    parser.add_argument("--version", action="version", version=f"pumpctl {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (add, _, help_text) in sorted(COMMANDS.items()):
        add(sub.add_parser(name, help=help_text, description=help_text))
    return parser


# the optional packages a subcommand may need, and the extra that installs each
EXTRAS: dict[str, str] = {
    "z3": "verify", "crosshair": "verify", "serial": "hardware", "jinja2": "report", "matplotlib": "report",
    "cryptography": "signing", "dask": "campaign", "distributed": "campaign", "sdc11073": "sdc", "lxml": "sdc",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command][1](args)
    except PumpError as exc:
        print(f"pumpctl {args.command}: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top not in EXTRAS:
            raise
        print(f"pumpctl {args.command}: needs the '{EXTRAS[top]}' extra ({top} is not installed): "
              f"pip install 'pumpctl[{EXTRAS[top]}]'", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pumpctl {args.command}: interrupted", file=sys.stderr)
        return 130
