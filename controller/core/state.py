"""Machine states and the controller's variables.

Theory of operation
-------------------
The *state* (``State``) is the node of the transition table; the *variables* (``Vars``)
are everything else the core remembers, all integers and booleans, grouped by how often
they change so that a control tick rebuilds as little as possible:

- ``Flow``: clock, motor command and delivery counters (every tick);
- ``Ring``: closed buckets of a rolling window (every few minutes);
- ``Bolus``: the running bolus and recent patient-bolus times (per bolus);
- ``Alarms``: cause and active flags per alarm, audio-pause deadline (per alarm change);
- ``Marks``: timestamps of pause / last programming action / cycle start, sensors;
- ``Line``: what the patient line remembers across programs: whose dose history the window
  rings hold (the library entry code), and the last maintenance rate (REQ-DOS-006, REQ-USE-001);
- ``Limits`` and ``Program``: configuration (rarely).

Dose-window rings belong to the line, not to a program: their bucket length is part of the
ring, so loading, clearing or changing a program never shortens or restarts a history that
still counts (see ``controller.core.effects.load_program``).

Records are ``NamedTuple`` because they are rebuilt on the hot path (``_replace`` is about
4x cheaper than ``dataclasses.replace``, measured in benchmarks/README.md); configuration
stays in frozen dataclasses. Times are absolute on the core's own clock (``Flow.clock``,
ms since power-on, advanced only by ``tick`` events), so a tick changes one field for all
timers instead of counting each one down.

Volumes on the motor:  ``odo`` counts everything the mechanism pushed; ``cap`` is the
odometer reading at which the mechanism must stop on its own (sent with every rate
command), so a late or lost tick can never deliver more than the core allowed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from controller.core.alarms import NO_FLAGS
from controller.core.libbounds import DEFAULT_WINDOW_BUCKET_MS
from controller.core.limits import Limits
from controller.core.program import MAX_PCA, N_BUCKETS, N_WINDOWS, NO_PROGRAM, Program

NEVER = -(10**12)  # a timestamp long before power-on (used for "no bolus yet")
AIR_BUCKETS = 5  # closed buckets of the accumulated-air window
FRESH_LINE = -1  # Line.entry of a line with no dose history yet
DEFAULT_BUCKETS_MS: tuple[int, ...] = (DEFAULT_WINDOW_BUCKET_MS, DEFAULT_WINDOW_BUCKET_MS)


class State(StrEnum):
    POST = "POST"  # power-on self-test
    FAILED = "FAILED"  # self-test failed, latched
    IDLE = "IDLE"  # no program
    READY = "READY"  # program loaded (programming), not started
    PRIMING = "PRIMING"  # purging the line, patient disconnected
    RUNNING = "RUNNING"  # delivering the program's steps
    BOLUS = "BOLUS"  # a clinician or patient bolus on top of the steps
    PAUSED = "PAUSED"  # stopped by the user, program kept, resumable
    KVO = "KVO"  # VTBI delivered, keep-vein-open flow
    STOPPED = "STOPPED"  # infusion ended or stopped; restart or reprogram
    ALARM = "ALARM"  # stopped by a stop-flow alarm
    FAILSAFE = "FAILSAFE"  # internal fault, motor stopped, latched until power cycle


STATES: tuple[str, ...] = tuple(s.value for s in State)
FLOWING: tuple[str, ...] = ("PRIMING", "RUNNING", "BOLUS", "KVO")
NO_FLOW: tuple[str, ...] = tuple(s for s in STATES if s not in FLOWING)
THERAPY: tuple[str, ...] = ("RUNNING", "BOLUS")  # flow counts towards the VTBI
ALARMABLE: tuple[str, ...] = ("PRIMING", "RUNNING", "BOLUS", "KVO", "PAUSED", "ALARM", "FAILED", "FAILSAFE")
LATCHED: tuple[str, ...] = ("FAILED", "FAILSAFE")


class BolusKind:
    NONE = 0
    PATIENT = 1
    CLINICIAN = 2


class Flow(NamedTuple):
    clock: int  # ms since power-on
    odo: int  # total volume pushed by the mechanism (vu)
    cap: int  # odometer reading where the mechanism must stop by itself (vu)
    rate: int  # commanded total rate (uL/h)
    delivered: int  # therapy volume, counts towards the VTBI (vu)
    kvo_vol: int  # volume delivered at KVO (vu)
    primed: int  # volume pushed while priming, patient disconnected (vu)
    wcur: tuple[int, ...]  # volume in the current bucket of each dose window (vu)
    step: int  # current program step
    step_done: int  # therapy volume delivered in the current step (vu)
    last_in: int  # end of the last tick that counted drug into the dose windows (NEVER: none on this line)


class Ring(NamedTuple):
    closed: tuple[int, ...]  # closed buckets, newest first
    end: int  # clock time at which the current bucket closes
    total: int  # sum(closed), kept so a tick need not add up the ring
    bucket: int  # bucket length (ms); the window is len(closed) buckets long


class Line(NamedTuple):
    entry: int  # library entry code whose dose history the window rings hold (FRESH_LINE: none yet)
    last_rate: int  # maintenance rate of the program last *started* on the line (uL/h; 0: none)
    last_entry: int  # the library entry of that program (BASIC for a basic infusion; FRESH_LINE: none)


class Bolus(NamedTuple):
    kind: int  # BolusKind
    rate: int  # extra rate on top of the step rate (uL/h)
    until: int  # clock time at which the bolus phase ends
    times: tuple[int, ...]  # clock times of the most recent patient boluses, newest first


class Alarms(NamedTuple):
    cause: tuple[bool, ...]  # the condition is present now
    active: tuple[bool, ...]  # the alarm is being annunciated
    silence_until: int  # audio paused until this clock time


class Marks(NamedTuple):
    paused_at: int  # when the pump was paused
    touched_at: int  # last programming action (callback timer)
    cycle_start: int  # start of the current intermittent cycle
    prime_target: int  # primed volume at which priming ends (vu)
    battery_min: int  # last reported battery minutes remaining
    on_mains: bool
    confirmed: bool  # soft-limit override confirmed for the loaded program
    air_cur: int  # air (nL) in the current bucket of the air window
    res_sensed: bool  # the reservoir sensor reports empty
    odo0: int  # odometer reading when the program (and its container) was loaded
    temp_c10: int  # last reported mechanism temperature, tenths of a degree C
    ack_kind: int  # the stop-flow alarm of the last ALARM -> PAUSED acknowledge (-1: none since review)
    ack_times: tuple[int, int]  # clock of the two acknowledges of ack_kind before now (older, newer)


class Vars(NamedTuple):
    flow: Flow
    win: tuple[Ring, ...]
    air: Ring
    bolus: Bolus
    alarm: Alarms
    marks: Marks
    cfg: Limits
    prog: Program
    line: Line


def initial_vars(cfg: Limits | None = None) -> Vars:
    """Variables at power-on: nothing delivered, no program, no alarm."""
    c = cfg if cfg is not None else Limits()
    p = NO_PROGRAM
    return Vars(
        flow=Flow(0, 0, 0, 0, 0, 0, 0, (0,) * N_WINDOWS, 0, 0, NEVER),
        win=tuple(Ring((0,) * N_BUCKETS, DEFAULT_BUCKETS_MS[j], 0, DEFAULT_BUCKETS_MS[j]) for j in range(N_WINDOWS)),
        air=Ring((0,) * AIR_BUCKETS, c.air_bucket_ms, 0, c.air_bucket_ms),
        bolus=Bolus(0, 0, 0, (NEVER,) * MAX_PCA),
        alarm=Alarms(NO_FLAGS, NO_FLAGS, 0),
        marks=Marks(0, 0, 0, 0, 10**6, True, False, 0, False, 0, 250, -1, (NEVER, NEVER)),
        cfg=c,
        prog=p,
        line=Line(FRESH_LINE, 0, FRESH_LINE),
    )

