"""Checks of ``pumpctl`` options that argparse cannot make alone, shared by the subcommands.

Theory of operation
-------------------
Each check either returns the value in the form the command uses or raises
``ConfigurationError(option, value, allowed)``: ``cli.main`` prints it on stderr as one line
naming the user's option (never an internal field) and exits 2, before any long work starts.

Rules
1. A number is finite and within the range the command can honour; the message gives the range.
2. An output file is checked before the work: its folder must exist (a run of minutes must not
   end in a traceback because ``--json`` named a missing folder).
"""

from __future__ import annotations

import math
from pathlib import Path

from controller.errors import ConfigurationError


def at_least(option: str, value: int, lo: int) -> int:
    if value < lo:
        raise ConfigurationError(option, value, f"{lo} or more")
    return value


def output_file(option: str, value: str | Path | None) -> Path | None:
    """An output path (``-`` for stdout passes through as None): its folder must exist."""
    if value is None or str(value) == "-":
        return None
    path = Path(value)
    if path.is_dir():
        raise ConfigurationError(option, str(value), "a file name (this is a folder)")
    if not path.parent.is_dir():
        raise ConfigurationError(option, str(value), "a file in an existing folder",
                                 f"{path.parent} does not exist: create it first")
    return path


def numbers(option: str, text: str, lo: float, hi: float, unit: str) -> tuple[float, ...]:
    """A comma-separated list of finite numbers from ``lo`` to ``hi`` (``lo`` excluded when 0)."""
    allowed = (f"comma-separated numbers above {lo:g} and up to {hi:g} {unit}" if lo == 0
               else f"comma-separated numbers from {lo:g} to {hi:g} {unit}")
    out = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise ConfigurationError(option, text, allowed, f"{part.strip()!r} is not a number") from None
        if not math.isfinite(value) or value < lo or value > hi or (lo == 0 and value == 0):
            raise ConfigurationError(option, text, allowed, f"{part.strip()} is out of range")
        out.append(value)
    return tuple(out)


# the optional packages a subcommand may need, and the extra that installs each
EXTRAS: dict[str, str] = {
    "z3": "verify", "crosshair": "verify", "serial": "hardware", "jinja2": "report", "matplotlib": "report",
    "cryptography": "signing", "dask": "campaign", "distributed": "campaign", "sdc11073": "sdc", "lxml": "sdc",
    "pytest": "dev", "hypothesis": "dev", "rich": "verify",
}
