"""Effects of the transition table: what a fired row changes.

Theory of operation
-------------------
A row's effect is a *change* ``(vars, event, source_state) -> vars`` followed by
``settle(vars, state_after)``, which every row shares:

1. recompute derived alarm causes and the active flags for the state the step ends in
   (``annunciation.refresh``);
2. end any bolus when the step does not end in BOLUS;
3. recompute the motor command (rate, cap) for that state (``flow.command``).

Because settle runs after every fired row, "a stop-flow alarm stops the motor in the step it
is raised" (REQ-ALM-004) and "no flow outside the flowing states" (REQ-DEL-004) follow from
the command function alone, and the proofs check exactly that.

Rules
1. Changes are dual-use and touch only what their row is about.
2. Nothing here decides *whether* a row fires: that is the guards' job.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.core import alarms as A
from controller.core import annunciation as AN
from controller.core import windows
from controller.core.events import Event
from controller.core.flow import Mode, advance, command, mode_of
from controller.core.guards import bubble_limit, third_repeat
from controller.core.logic import all_of, any_of, ite, minimum
from controller.core.program import N_WINDOWS, NO_PROGRAM, Program, maintenance_rate
from controller.core.state import FRESH_LINE, NEVER, Alarms, Bolus, BolusKind, Flow, Line, Ring, Vars

Change = Callable[[Vars, Event, str], Vars]


def settle(v: Vars, state: str, unchanged: Alarms | None = None) -> Vars:
    """Alarms, bolus and motor command for a step that ends in ``state``.

    ``unchanged`` (run time only) is the alarm record of the state the step started in when it
    ends in the same state and the change did not touch the alarms: then the active flags are
    already the fixpoint for this state, and only the derived causes need a look."""
    if state != "BOLUS" and (not isinstance(v.bolus.kind, int) or v.bolus.kind != BolusKind.NONE):
        v = v._replace(bolus=end_bolus(v))
    alarm = AN.refresh(v, state, unchanged is not None and unchanged is v.alarm)
    if alarm is not v.alarm:
        v = v._replace(alarm=alarm)
    rate, cap = command(v, mode_of(state))
    f = v.flow
    if isinstance(rate, int) and isinstance(cap, int) and rate == f.rate and cap == f.cap:
        return v
    return v._replace(flow=f._replace(rate=rate, cap=cap))


def end_bolus(v: Vars) -> Bolus:
    b = v.bolus
    return Bolus(BolusKind.NONE, 0, minimum(b.until, v.flow.clock), b.times)


# --- changes ---------------------------------------------------------------------------------

def nothing(v: Vars, e: Event, s: str) -> Vars:
    return v


def tick(v: Vars, e: Event, s: str) -> Vars:
    """Account what the motor did during the tick, in the channel of the source state."""
    return advance(v, e.dt_ms, mode_of(s))


def tick_to_ready(v: Vars, e: Event, s: str) -> Vars:
    v = advance(v, e.dt_ms, Mode.PRIME)
    return v._replace(marks=v.marks._replace(touched_at=v.flow.clock))


def configure(v: Vars, e: Event, s: str) -> Vars:
    c = e.limits
    air_cur, air = windows.collapse(v.marks.air_cur, v.air, v.flow.clock, c.air_bucket_ms)
    return v._replace(cfg=c, air=air, marks=v.marks._replace(air_cur=air_cur))


def _install(v: Vars, p: Program, win: tuple[Ring, ...], wcur: tuple[int, ...]) -> Vars:
    """``p`` in place with fresh delivery counters (the container is new); the line's rings as given."""
    f = v.flow
    flow = Flow(f.clock, f.odo, f.odo, 0, 0, 0, 0, wcur, 0, 0, f.last_in)  # the line remembers its last dose
    marks = v.marks._replace(touched_at=f.clock, confirmed=False, odo0=f.odo, cycle_start=f.clock,
                             prime_target=0)
    return v._replace(prog=p, flow=flow, win=win, marks=marks)


def load_program(v: Vars, e: Event, s: str) -> Vars:
    """Install the program. The dose history stays with the line: a ring keeps counting as it
    was (the guard ``history_fits`` admits only the same entry over the same window), and only an
    empty ring the program enables is re-armed with the program's window (REQ-DOS-006)."""
    p, f = e.program, v.flow
    wcur, rings = [], []
    for j in range(N_WINDOWS):
        rearm = all_of(windows.used(f.wcur[j], v.win[j]) == 0, p.lim_vol[j] > 0)
        cur, ring = windows.reset(f.wcur[j], v.win[j], f.clock, p.lim_bucket_ms[j], rearm)
        wcur.append(cur)
        rings.append(ring)
    return _install(v, p, tuple(rings), tuple(wcur))._replace(line=v.line._replace(entry=p.drug))


def clear_program(v: Vars, e: Event, s: str) -> Vars:
    """No program; the line, its dose history and its last started rate stay (REQ-DOS-006, REQ-USE-001)."""
    return _install(v, NO_PROGRAM, v.win, v.flow.wcur)


def new_line(v: Vars, e: Event, s: str) -> Vars:
    """A clinician declares a new patient line: the dose history of the old one ends here
    (recorded in the log by the shell), and the next program starts a fresh one (DEC-035)."""
    f = v.flow
    rings = tuple(windows.reset(f.wcur[j], v.win[j], f.clock, v.win[j].bucket, True)[1] for j in range(N_WINDOWS))
    return v._replace(win=rings, flow=f._replace(wcur=(0,) * N_WINDOWS, last_in=NEVER),
                      line=Line(FRESH_LINE, 0, FRESH_LINE))


def confirm(v: Vars, e: Event, s: str) -> Vars:
    return v._replace(marks=v.marks._replace(confirmed=True, touched_at=v.flow.clock))


def touch(v: Vars, e: Event, s: str) -> Vars:
    return v._replace(marks=v.marks._replace(touched_at=v.flow.clock))


def start_prime(v: Vars, e: Event, s: str) -> Vars:
    return v._replace(marks=v.marks._replace(prime_target=v.flow.primed + e.volume))


def started(v: Vars) -> Line:
    """The line after its program starts (or resumes): its rate is the reference of the next
    large-change check (REQ-USE-001)."""
    return v.line._replace(last_rate=maintenance_rate(v.prog), last_entry=v.prog.drug)


def start(v: Vars, e: Event, s: str) -> Vars:
    return v._replace(marks=v.marks._replace(cycle_start=v.flow.clock), line=started(v))


def resume(v: Vars, e: Event, s: str) -> Vars:
    """Resuming an intermittent program whose interval passed while paused starts the next dose
    now, not a tick later (INV-UND-001: never waiting past the interval)."""
    f, m, p = v.flow, v.marks, v.prog
    due = all_of(p.interval_ms > 0, f.step >= p.n_steps, f.clock >= m.cycle_start + p.interval_ms)
    return v._replace(flow=f._replace(step=ite(due, 0, f.step), step_done=ite(due, 0, f.step_done)),
                      marks=m._replace(cycle_start=ite(due, f.clock, m.cycle_start)), line=started(v))


def pause(v: Vars, e: Event, s: str) -> Vars:
    return v._replace(marks=v.marks._replace(paused_at=v.flow.clock))


def patient_bolus(v: Vars, e: Event, s: str) -> Vars:
    b, now, p = v.bolus, v.flow.clock, v.prog
    return v._replace(bolus=Bolus(BolusKind.PATIENT, p.pca_rate, now + p.pca_ms, (now,) + b.times[:-1]))


def clinician_bolus(v: Vars, e: Event, s: str) -> Vars:
    now = v.flow.clock
    return v._replace(bolus=Bolus(BolusKind.CLINICIAN, e.rate, now + e.duration_ms, v.bolus.times))


def silence(v: Vars, e: Event, s: str) -> Vars:
    return v._replace(alarm=v.alarm._replace(silence_until=v.flow.clock + v.cfg.silence_ms))


def acknowledge(v: Vars, e: Event, s: str) -> Vars:
    return v._replace(alarm=AN.acknowledge(v.alarm))


def count_stop_ack(v: Vars, e: Event, s: str) -> Vars:
    """Record an ALARM -> PAUSED acknowledge of a stop-flow alarm; the third of one kind within
    REPEAT_WINDOW_MS raises repeated_stops, which only a review clears (REQ-OCC-006, DEC-034)."""
    a, m, clock = v.alarm, v.marks, v.flow.clock
    k = AN.cleared_stop_kind(a)
    counted = k >= 0
    same = all_of(counted, k == m.ack_kind)
    times = (ite(counted, ite(same, m.ack_times[1], NEVER), m.ack_times[0]), ite(counted, clock, m.ack_times[1]))
    marks = m._replace(ack_kind=ite(counted, k, m.ack_kind), ack_times=times)
    alarm = AN.set_cause(a, A.REPEATED_STOPS, any_of(a.cause[A.REPEATED_STOPS], third_repeat(v)))
    return v._replace(alarm=alarm, marks=marks)


def review(v: Vars, e: Event, s: str) -> Vars:
    """A clinician reviewed the repeated stops: the count starts again (REQ-OCC-006)."""
    return v._replace(alarm=AN.set_cause(v.alarm, A.REPEATED_STOPS, False),
                      marks=v.marks._replace(ack_kind=-1, ack_times=(NEVER, NEVER)))


def set_cause(index: int, value: bool) -> Change:
    def change(v: Vars, e: Event, s: str) -> Vars:
        return v._replace(alarm=AN.set_cause(v.alarm, index, value))

    change.__name__ = f"{'raise' if value else 'clear'}_{A.IDS[index]}"
    return change


def occlusion(value: bool) -> Change:
    def change(v: Vars, e: Event, s: str) -> Vars:
        a = v.alarm
        cause = list(a.cause)
        cause[A.OCC_DOWN] = ite(e.site == 0, value, a.cause[A.OCC_DOWN])
        cause[A.OCC_UP] = ite(e.site == 1, value, a.cause[A.OCC_UP])
        return v._replace(alarm=a._replace(cause=tuple(cause)))

    change.__name__ = "occlusion" if value else "occlusion_clear"
    return change


def air(v: Vars, e: Event, s: str) -> Vars:
    v = v._replace(alarm=AN.set_cause(v.alarm, A.AIR, e.volume > bubble_limit(v)))
    return v._replace(marks=v.marks._replace(air_cur=v.marks.air_cur + e.volume))


def reservoir(v: Vars, e: Event, s: str) -> Vars:
    return v._replace(marks=v.marks._replace(res_sensed=e.flag))


def temperature(v: Vars, e: Event, s: str) -> Vars:
    return v._replace(marks=v.marks._replace(temp_c10=e.level))


def battery(v: Vars, e: Event, s: str) -> Vars:
    return v._replace(marks=v.marks._replace(battery_min=e.level, on_mains=e.flag))


def chain(*changes: Change) -> Change:
    """Several changes applied in order (for rows that do two things)."""

    def all_changes(v: Vars, e: Event, s: str) -> Vars:
        for change in changes:
            v = change(v, e, s)
        return v

    all_changes.__name__ = "_then_".join(c.__name__ for c in changes)
    return all_changes

