"""The red team's record of one pump's life: its own odometer and motor command, the program in
force as it asked for it, the delivery timeline of the current line, and what it found.

``Life.end_line`` checks a line's timeline (``tests/redteam_timeline.py``): for every dose-window
limit a program on the line carried, the most delivered under it in any window of its length.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction

from tests.redteam_clinic import VU_PER_ML
from tests.redteam_plan import Plan, Pump
from tests.redteam_timeline import Timeline


@dataclass
class Bolus:
    kind: str
    rate: int  # the bolus's own rate on top of the basal (uL/h), from the commands
    allowed: Fraction  # vu
    extra: Fraction = Fraction(0)  # the bolus's share of what moved so far (vu)


@dataclass
class Life:
    """The red team's own record of one pump's life."""

    pump: Pump
    t_ms: int = 0
    odo: int = 0  # its own odometer, integrated from the commands
    rate: int = 0
    cap: int = 0
    line: Timeline = field(default_factory=Timeline)
    plan: Plan | None = None  # the program in force, as the red team asked for it
    prog: int = -1  # its index in the line's timeline
    soft: list[str] = field(default_factory=list)  # the soft limits it crosses
    confirmed: bool = False
    ref: tuple[str, int] | None = None  # (drug, maintenance uL/h) last started on the line (DEC-038)
    therapy: int = 0  # vu delivered in therapy under the program in force
    bolus: Bolus | None = None
    boluses: list[int] = field(default_factory=list)  # times of accepted patient boluses
    drugs_on_line: set[str] = field(default_factory=set)
    alarms: set[str] = field(default_factory=set)  # what the pump shows (from its commands)
    violations: list[str] = field(default_factory=list)
    events: int = 0
    handled: int = 0  # core steps, ticks included
    stats: Counter[str] = field(default_factory=Counter)

    def bad(self, what: str) -> None:
        if len(self.violations) < 50:
            self.violations.append(f"t={self.t_ms} ms: {what}")

    def end_line(self) -> None:
        """The line ends (a new line, or the end of the life): check every window limit on it."""
        if len(self.drugs_on_line) > 1:
            self.stats["lines_with_several_drugs"] += 1
        self.drugs_on_line = set()
        for (drug, limit, window), most in self.line.worst():
            self.stats["window_keys"] += 1
            if most * 10 >= limit * 9:
                self.stats["window_keys_at_90pct"] += 1
            if most > limit:
                self.bad(f"{float(most / VU_PER_ML):.6f} mL of {drug} in one {window} ms window, "
                         f"limit {float(limit / VU_PER_ML):.6f} mL")
