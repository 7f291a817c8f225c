"""Alarm catalog: identity, IEC 60601-1-8 priority, flow response and latching.

Theory of operation
-------------------
Each alarm has a *cause* (the condition is present now) and an *active* flag (the alarm
is being annunciated). Raising sets both. When the cause goes away a non-latching alarm
clears itself; a latching one stays active until a clinician acknowledges it, and an
acknowledge only clears alarms whose cause is gone. Several alarms can be active at once:
the annunciated one is the highest priority, ties broken by catalog order (``rank``).

Priorities come from the IEC 60601-1-8 harm x onset table (REQ-ALM-001); the decisions for
alarms where the sources disagree are recorded in ``specs/decisions.toml``.

Responses
- ``STOP``: flow stops in the same step the alarm is raised (REQ-ALM-004).
- ``KVO``: flow is limited to the KVO rate (still counted against every dose window).
- ``CONTINUE``: delivery is not affected.

Rules
1. The catalog is data; its order is the tie-break rank and the index into flag tuples.
2. Index constants (``OCC_DOWN`` ...) are the only way code names an alarm.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Priority(IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3


class Response(IntEnum):
    CONTINUE = 0
    KVO = 1
    STOP = 2


@dataclass(frozen=True, slots=True)
class AlarmSpec:
    id: str
    priority: Priority
    response: Response
    latching: bool
    text: str
    reqs: tuple[str, ...]


CATALOG: tuple[AlarmSpec, ...] = (
    AlarmSpec("motor_fault", Priority.HIGH, Response.STOP, True,
              "Motor fault or delivery mismatch: pump stopped, service needed", ("REQ-FLT-003",)),
    AlarmSpec("watchdog", Priority.HIGH, Response.STOP, True,
              "Watchdog timeout: pump stopped, service needed", ("REQ-FLT-002",)),
    AlarmSpec("self_test_failed", Priority.HIGH, Response.STOP, True,
              "Power-on self-test failed: pump cannot be used", ("REQ-FLT-001",)),
    AlarmSpec("occlusion_downstream", Priority.HIGH, Response.STOP, True,
              "Occlusion on the patient side", ("REQ-OCC-001", "REQ-OCC-002")),
    AlarmSpec("occlusion_upstream", Priority.HIGH, Response.STOP, True,
              "Occlusion on the container side", ("REQ-OCC-001", "REQ-OCC-002")),
    AlarmSpec("air_in_line", Priority.HIGH, Response.STOP, True,
              "Air bubble in line above the route's limit", ("REQ-AIR-001",)),
    AlarmSpec("air_accumulated", Priority.HIGH, Response.STOP, True,
              "Accumulated air in the rolling window above the limit", ("REQ-AIR-002",)),
    AlarmSpec("door_open", Priority.HIGH, Response.STOP, True,
              "Door opened during infusion", ("REQ-DOR-001",)),
    AlarmSpec("battery_depleted", Priority.HIGH, Response.STOP, True,
              "Battery depleted: connect mains power", ("REQ-PWR-002",)),
    AlarmSpec("reservoir_empty", Priority.MEDIUM, Response.STOP, True,
              "Reservoir empty", ("REQ-RES-001",)),
    AlarmSpec("overheat", Priority.MEDIUM, Response.STOP, True,
              "Pump mechanism too hot: infusion stopped", ("REQ-TMP-001",)),
    AlarmSpec("repeated_stops", Priority.MEDIUM, Response.STOP, False,
              "The same stop-flow alarm a third time within 10 min: clinician review needed before a restart",
              ("REQ-OCC-006",)),
    AlarmSpec("dose_limit", Priority.MEDIUM, Response.KVO, True,
              "Dose limit for the time window reached: flow limited to KVO", ("REQ-DOS-004", "REQ-DOS-005")),
    AlarmSpec("vtbi_complete", Priority.MEDIUM, Response.CONTINUE, False,
              "Volume to be infused delivered", ("REQ-DEL-005",)),
    AlarmSpec("paused_too_long", Priority.MEDIUM, Response.CONTINUE, False,
              "Pump paused too long", ("REQ-PRG-004",)),
    AlarmSpec("callback", Priority.MEDIUM, Response.CONTINUE, False,
              "Programming left unattended", ("REQ-PRG-003",)),
    AlarmSpec("power_loss", Priority.MEDIUM, Response.CONTINUE, True,
              "Power was lost during therapy: check the infusion before resuming", ("REQ-REC-001",)),
    AlarmSpec("near_end", Priority.LOW, Response.CONTINUE, False,
              "Infusion near end", ("REQ-DEL-006",)),
    AlarmSpec("reservoir_low", Priority.LOW, Response.CONTINUE, False,
              "Container nearly empty: less than the near-end time left at the programmed rate", ("REQ-RES-002",)),
    AlarmSpec("low_battery", Priority.LOW, Response.CONTINUE, False,
              "Battery low", ("REQ-PWR-001",)),
    AlarmSpec("temperature_range", Priority.LOW, Response.CONTINUE, False,
              "Pump outside its operating temperature range (10-45 C)", ("REQ-TMP-001",)),
)

N_ALARMS = len(CATALOG)
IDS: tuple[str, ...] = tuple(a.id for a in CATALOG)
INDEX: dict[str, int] = {a.id: i for i, a in enumerate(CATALOG)}

MOTOR_FAULT = INDEX["motor_fault"]
WATCHDOG = INDEX["watchdog"]
SELF_TEST_FAILED = INDEX["self_test_failed"]
OCC_DOWN = INDEX["occlusion_downstream"]
OCC_UP = INDEX["occlusion_upstream"]
AIR = INDEX["air_in_line"]
AIR_ACCUM = INDEX["air_accumulated"]
DOOR = INDEX["door_open"]
BATTERY_DEPLETED = INDEX["battery_depleted"]
RESERVOIR_EMPTY = INDEX["reservoir_empty"]
OVERHEAT = INDEX["overheat"]
REPEATED_STOPS = INDEX["repeated_stops"]
DOSE_LIMIT = INDEX["dose_limit"]
VTBI_COMPLETE = INDEX["vtbi_complete"]
PAUSED_TOO_LONG = INDEX["paused_too_long"]
CALLBACK = INDEX["callback"]
POWER_LOSS = INDEX["power_loss"]
NEAR_END = INDEX["near_end"]
RESERVOIR_LOW = INDEX["reservoir_low"]
LOW_BATTERY = INDEX["low_battery"]
TEMPERATURE_RANGE = INDEX["temperature_range"]

STOP_ALARMS: tuple[int, ...] = tuple(i for i, a in enumerate(CATALOG) if a.response == Response.STOP)
KVO_ALARMS: tuple[int, ...] = tuple(i for i, a in enumerate(CATALOG) if a.response == Response.KVO)
LATCHING: tuple[bool, ...] = tuple(a.latching for a in CATALOG)
PRIORITY: tuple[int, ...] = tuple(int(a.priority) for a in CATALOG)
NO_FLAGS: tuple[bool, ...] = (False,) * N_ALARMS

# The catalog order must put higher priorities first, so "first active in catalog order"
# is "highest priority, ties by rank" and annunciation needs no sort (checked on import).
assert all(PRIORITY[i] >= PRIORITY[i + 1] for i in range(N_ALARMS - 1)), "catalog not sorted by priority"
