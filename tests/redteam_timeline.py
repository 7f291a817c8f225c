"""The red team's delivery timeline: what reached the patient, when, under which program.

Theory of operation
-------------------
The red team integrates delivery itself from the motor commands (``tests/redteam.py``): during a
tick of ``dt`` ms the mechanism runs at the commanded rate until its cap, so it moved exactly
``min(rate * dt, cap - odo)`` vu, all of it in the first ``moved / rate`` ms of the tick. Each
such piece, and each volume pushed between the last snapshot and a power loss (an *instant*),
is recorded here with the index of the program in force. A program carries its dose-window
limits as *keys* ``(drug, limit vu, window ms)``, computed by the red team from the library
entry and its own request.

The claim checked for a key: over every window of its length on the real delivery timeline of
one patient line, what went in under programs carrying that key is within its limit. Delivery
is piecewise constant in rate, so the maximum is reached by a window that starts where a piece
starts (or at an instant) or ends where a piece ends (or at an instant); every such window is
evaluated exactly with a cumulative integral and a binary search (``window_max``).

A clinician's ``new_line`` ends a line (DEC-035): its timeline is checked and a new one starts.

Rules
1. Exact rationals only; nothing here reads the controller.
2. The limit and the window are the red team's own: the library's exact values, not the
   controller's rounded ones (its limits round down, its windows up), so no tolerance is needed.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from fractions import Fraction

Key = tuple[str, Fraction, int]  # (drug, limit in vu, window in ms)


@dataclass
class Timeline:
    """One patient line: delivery pieces and instants, each tagged with its program index."""

    pieces: list[tuple[int, Fraction, int, int]] = field(default_factory=list)  # (t0, t1, vu per ms, program)
    instants: list[tuple[int, int, int]] = field(default_factory=list)  # (t, vu, program)
    keys: list[tuple[Key, ...]] = field(default_factory=list)  # per program index: its window keys

    def program(self, keys: tuple[Key, ...]) -> int:
        self.keys.append(keys)
        return len(self.keys) - 1

    def piece(self, t0: int, rate: int, vu: int, prog: int) -> None:
        """``vu`` pushed at ``rate`` (vu per ms) from ``t0``; contiguous pieces of one program merge."""
        t1 = t0 + Fraction(vu, rate)
        if self.pieces:
            a0, a1, r, p = self.pieces[-1]
            if a1 == t0 and r == rate and p == prog:
                self.pieces[-1] = (a0, t1, r, p)
                return
        self.pieces.append((t0, t1, rate, prog))

    def instant(self, t: int, vu: int, prog: int) -> None:
        if vu > 0:
            self.instants.append((t, vu, prog))

    def worst(self) -> list[tuple[Key, Fraction]]:
        """(key, the most delivered under it in any window of its length, in vu) for every key."""
        out = []
        for key in sorted({k for ks in self.keys for k in ks}):
            progs = {i for i, ks in enumerate(self.keys) if key in ks}
            pieces = [(a, b, r) for a, b, r, p in self.pieces if p in progs]
            points = [(t, vu) for t, vu, p in self.instants if p in progs]
            out.append((key, window_max(pieces, points, key[2])))
        return out


def window_max(pieces: list[tuple[int, Fraction, int]], points: list[tuple[int, int]], window: int) -> Fraction:
    """The most delivered inside any closed window ``[s, s + window]`` (vu), exactly.

    ``pieces`` are (start, end, rate) in time order, not overlapping; ``points`` are (t, vu)."""
    if not pieces and not points:
        return Fraction(0)
    ends = [Fraction(b) for _, b, _ in pieces]
    starts = [Fraction(a) for a, _, _ in pieces]
    before = [Fraction(0)]  # delivered by the pieces entirely before piece i
    for a, b, r in pieces:
        before.append(before[-1] + (b - a) * r)
    pts = sorted(points)
    pt_t = [Fraction(t) for t, _ in pts]
    pt_sum = [Fraction(0)]
    for _, vu in pts:
        pt_sum.append(pt_sum[-1] + vu)

    def flow_to(x: Fraction) -> Fraction:
        i = bisect_left(ends, x)  # pieces 0..i-1 end at or before x
        out = before[i]
        if i < len(pieces) and starts[i] < x:
            out += (x - starts[i]) * pieces[i][2]
        return out

    def inside(s: Fraction) -> Fraction:
        e = s + window
        return flow_to(e) - flow_to(s) + pt_sum[bisect_right(pt_t, e)] - pt_sum[bisect_left(pt_t, s)]

    candidates = starts + pt_t + [b - window for b in ends] + [t - window for t in pt_t]
    return max(inside(s) for s in candidates)
