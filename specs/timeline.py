"""Dose windows over the real delivery timeline: a ghost monitor, independent of the rings.

Theory of operation
-------------------
The core enforces dose windows with rings of buckets (``controller.core.windows``). A claim stated
over those rings checks the rings against themselves. The claim a patient depends on is about
the *timeline*: for every window of a limit's length, wherever it starts, the drug that went
into the patient inside it is within the limit. This module states that claim with a *ghost*
per window ring that the core never sees:

- ``start`` is a free constant (in the proofs: any integer, fixed along a trace), the start
  T of one window [T, T + W] with W = N_BUCKETS x the ring's bucket length;
- ``got`` is what the mechanism pushed into the patient inside [T, T + W], integrated here
  from the motor *commands* (rate and cap over each tick, constant rate until the cap, exactly
  the vu), not from the core's counters: everything but priming counts, so flow in a state
  that should not flow is counted too;
- ``top`` is the highest limit the ring had while drug went in inside the window, and
  ``free`` says drug went in while the ring had no limit at all.

The obligation INV-DOS-008 is then ``free or got <= top`` for every ring and every T; since T
is free, it holds for every window. Where a ring starts a new window length (a program that uses
it for another window, drug or concentration), the ghost restarts with it; INV-DOS-009 closes that
seam: the ghost keeps ``last_in``, when drug last went into the patient (from the motor commands),
and ``rearms_ok`` says every ring that started a new window length did so with nothing gone in
within that whole window, so the restarted window misses nothing.

``TL-AUX`` relates the ghost to the ring (what went in since T is at most what the ring still
counts in the buckets that end after T), which is what makes it inductive. A power cycle
(``restore``) adds what the mechanism pushed after the last snapshot at the snapshot's clock.
The ghost restarts only when the ring is re-armed with a different window (INV-DOS-009: only
with nothing gone in within it) or on a clinician's ``new_line`` (DEC-035): the claim is per line.

The ghost record ``started`` keeps the rates started on the line (INV-USE-001, REQ-USE-001).

Rules
1. Everything is dual-use; ``source`` and ``kind`` are concrete (the table names them).
2. Nothing here reads the core's delivery counters; only its commands, its clock and the rings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from controller.core.libbounds import BASIC, N_BUCKETS
from controller.core.logic import all_of, any_of, implies, ite, maximum, minimum, not_, total
from controller.core.program import N_WINDOWS, maintenance_rate
from controller.core.state import FRESH_LINE, NEVER, Ring, Vars
from pumpctl.specs.invariants import StateView

POWER_CYCLE = "power_cycle"  # the proofs' pseudo-event for a power loss and restore


class Ghost(NamedTuple):
    start: int  # T, the window start
    got: int  # drug into the patient inside [T, T + W] so far (vu)
    top: int  # highest ring limit while drug went in inside the window (vu)
    free: bool  # drug went in inside the window while the ring had no limit


class Started(NamedTuple):
    """The spec's own record of what was started on the line (REQ-USE-001): the program's
    maintenance rate and entry at the latest start or resume, and at the one before it."""
    prev_rate: int
    prev_entry: int
    rate: int
    entry: int


class Ghosts(NamedTuple):
    win: tuple[Ghost, ...]  # one per dose-window ring
    started: Started
    last_in: int  # end of the last step in which drug went into the patient on this line (NEVER: none)
    rearms_ok: bool  # every ring that started a new window length did so with nothing gone in within it


NOTHING_STARTED = Started(0, FRESH_LINE, 0, FRESH_LINE)


def initial_ghosts(starts: tuple[int, ...]) -> Ghosts:
    return Ghosts(tuple(Ghost(t, 0, 0, False) for t in starts), NOTHING_STARTED, NEVER, True)


def _into_patient(source: str, kind: str, v0: Vars, dt: int, pushed_to: int) -> int:
    """What this step pushed into the patient (motor commands, not the core's counters)."""
    if source == "PRIMING":
        return 0  # the line is disconnected (REQ-PRM-001)
    f = v0.flow
    if kind == "tick":
        return minimum(f.rate * dt, f.cap - f.odo)
    if kind == POWER_CYCLE:
        return pushed_to - f.odo
    return 0


def _line_step(gh: Ghosts, source: str, kind: str, v0: Vars, dt: int, v1: Vars, pushed_to: int) -> tuple[int, bool]:
    """(last_in, rearms_ok) after the step: a ring whose window length changes must find nothing
    gone into the patient within its new window (what the new window covers but the ring never saw)."""
    if kind == "new_line":
        return NEVER, gh.rearms_ok  # a new patient line: its history starts here (DEC-035)
    f = v0.flow
    fresh = all_of(*(implies(v1.win[j].bucket != v0.win[j].bucket,
                             f.clock - gh.last_in >= (N_BUCKETS + 1) * v1.win[j].bucket) for j in range(N_WINDOWS)))
    went_in = _into_patient(source, kind, v0, dt, pushed_to) > 0
    last = ite(went_in, f.clock + (dt if kind == "tick" else 0), gh.last_in)
    return last, all_of(gh.rearms_ok, fresh)


def _started_step(r: Started, kind: str, v1: Vars) -> Started:
    """A start or resume moves the record on; a new line forgets it (DEC-035); nothing else does."""
    if kind in ("start", "resume"):
        return Started(r.rate, r.entry, maintenance_rate(v1.prog), v1.prog.drug)
    if kind == "new_line":
        return NOTHING_STARTED
    return r


def window_ms(ring: Ring) -> int:
    return ring.bucket * N_BUCKETS


def _pushed_by(x: int, clock: int, dt: int, rate: int, moved: int) -> int:
    """Volume pushed in a tick [clock, clock + dt] by time x: rate until the cap, then nothing."""
    inside = minimum(rate * (x - clock), moved)
    return ite(x <= clock, 0, ite(x >= clock + dt, moved, inside))


def _part(g: Ghost, ring: Ring, source: str, kind: str, v0: Vars, dt: int, pushed_to: int) -> int:
    """What this step pushed into the patient inside the ghost's window."""
    if source == "PRIMING":
        return 0  # the line is disconnected (REQ-PRM-001): nothing reaches the patient
    f = v0.flow
    end = g.start + window_ms(ring)
    if kind == "tick":
        moved = minimum(f.rate * dt, f.cap - f.odo)
        return _pushed_by(end, f.clock, dt, f.rate, moved) - _pushed_by(g.start, f.clock, dt, f.rate, moved)
    if kind == POWER_CYCLE:
        return ite(all_of(g.start <= f.clock, f.clock <= end), pushed_to - f.odo, 0)
    return 0


def ghost_step(gh: Ghosts, source: str, kind: str, v0: Vars, dt: int, v1: Vars, pushed_to: int = 0) -> Ghosts:
    """The ghosts after one step from ``v0`` (in ``source``) to ``v1`` (rule 1)."""
    last_in, rearms_ok = _line_step(gh, source, kind, v0, dt, v1, pushed_to)
    return Ghosts(_windows_step(gh.win, source, kind, v0, dt, v1, pushed_to), _started_step(gh.started, kind, v1),
                  last_in, rearms_ok)


def _windows_step(gh: tuple[Ghost, ...], source: str, kind: str, v0: Vars, dt: int, v1: Vars,
                  pushed_to: int) -> tuple[Ghost, ...]:
    out = []
    for j in range(N_WINDOWS):
        g, ring = gh[j], v0.win[j]
        part = _part(g, ring, source, kind, v0, dt, pushed_to)
        if type(part) is int and part == 0 and v1.win[j] is ring and kind != "new_line":
            out.append(g)  # nothing went in and the ring is the same object: the ghost is unchanged
            continue
        went_in = part > 0
        lim = v0.prog.lim_vol[j]
        moved = Ghost(g.start, g.got + part, ite(went_in, maximum(g.top, lim), g.top),
                      any_of(g.free, all_of(went_in, lim == 0)))
        if kind == "new_line":
            out.append(Ghost(g.start, 0, 0, False))
            continue
        restart = v1.win[j].bucket != ring.bucket
        out.append(Ghost(g.start, ite(restart, 0, moved.got), ite(restart, 0, moved.top),
                         all_of(moved.free, not_(restart))))
    return tuple(out)


def counted_after(ring: Ring, cur: int, start: int) -> int:
    """What the ring still counts in its current bucket and the closed buckets ending after ``start``."""
    ends = [ring.end - (i + 1) * ring.bucket for i in range(len(ring.closed))]
    return cur + total([ite(e > start, b, 0) for e, b in zip(ends, ring.closed, strict=True)])


def _big(r: Started, v: Vars) -> bool:
    """The running program's rate against the one started before it (the spec's reading of
    REQ-USE-001, written here independently of ``guards.big_change``)."""
    k, new, entry = v.cfg.change_factor, maintenance_rate(v.prog), v.prog.drug
    same_kind = any_of(entry == r.prev_entry, entry == BASIC, r.prev_entry == BASIC)
    return all_of(r.prev_rate > 0, same_kind, any_of(new > r.prev_rate * k, new * k < r.prev_rate))


@dataclass(frozen=True, slots=True)
class TimelineInv:
    id: str
    reqs: tuple[str, ...]
    text: str
    pred: Callable[[StateView, Vars, Ghosts], bool]
    safety: bool = True


def _aux(st: StateView, v: Vars, ghosts: Ghosts) -> bool:
    clock, gh = v.flow.clock, ghosts.win
    return all_of(*(all_of(
        gh[j].got >= 0, gh[j].top >= 0,
        implies(clock < gh[j].start, gh[j].got == 0),
        implies(clock <= gh[j].start + window_ms(v.win[j]),
                gh[j].got <= counted_after(v.win[j], v.flow.wcur[j], gh[j].start)),
    ) for j in range(N_WINDOWS)))


TIMELINE_INVARIANTS: tuple[TimelineInv, ...] = (
    TimelineInv("TL-AUX", ("REQ-DOS-004",),
                "what went into the patient since a window's start is at most what the ring still counts in "
                "the buckets that end after it", _aux, safety=False),
    TimelineInv("INV-DOS-008", ("REQ-DOS-004", "REQ-DOS-006", "REQ-DOS-007", "REQ-REC-001"),
                "over every window of a ring's length, wherever it starts, on the real delivery timeline (motor "
                "commands integrated independently, power cycles included), the drug that went into the patient "
                "is within the highest limit the ring had meanwhile",
                lambda st, v, gh: all_of(*(any_of(gh.win[j].free, gh.win[j].got <= gh.win[j].top)
                                           for j in range(N_WINDOWS)))),
    TimelineInv("TL-AUX-IN", ("REQ-DOS-006",),
                "the line's last dose, as the core keeps it, is when drug last went into the patient",
                lambda st, v, gh: v.flow.last_in == gh.last_in, safety=False),
    TimelineInv("INV-DOS-009", ("REQ-DOS-006", "REQ-DOS-004", "REQ-DOS-007"),
                "a dose-window ring starts a new window length only when nothing went into the patient on the line "
                "within that whole new window: no program, drug or concentration change can start a window that "
                "forgets drug it still covers (across stops, clears, reprogramming and power cycles)",
                lambda st, v, gh: gh.rearms_ok),
    TimelineInv("TL-AUX-USE", ("REQ-USE-001",),
                "the line's reference for the large-change check is the rate and entry last started on it",
                lambda st, v, gh: all_of(v.line.last_rate == gh.started.rate, v.line.last_entry == gh.started.entry),
                safety=False),
    TimelineInv("INV-USE-001", ("REQ-USE-001",),
                "a program whose rate differs by more than change_factor from the rate started on the line before it "
                "(same entry, or a switch to or from basic infusion) never delivers unconfirmed, however many "
                "programs were loaded in between",
                lambda st, v, gh: implies(all_of(st.is_("RUNNING", "BOLUS", "KVO"), v.prog.loaded,
                                                 _big(gh.started, v)), v.marks.confirmed)),
)
