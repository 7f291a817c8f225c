"""Every remote operation the SDC provider offers, and the one table event each becomes.

Theory of operation
-------------------
``OPERATIONS`` is the boundary contract of the network path: each SDC operation (an operation
descriptor in the MDIB, a handler in the provider) is one row naming the table trigger it
becomes (``event``), so a remote command is never anything but a core event that passes
``Controller.handle`` with the actor of the client's certificate (``controller.sdc.roles``):

- ``SetValue`` on the programmed rate or the VTBI changes one field of the pump's program
  request (user units, ``controller.clinical.programs``) and becomes a ``program`` event, built by the
  ``LibraryGate`` exactly as a local program is: the library's hard limits refuse it before it
  reaches the core, and the table's guards refuse it when the state does not take a program;
- ``Activate`` start, pause, resume, stop, silence and acknowledge become that event.

Anything not in this table is not offered (deny by default). ``NOT_OFFERED`` records why the
other user events stay at the bedside; sensor and timer events come from the pump itself
(SYSTEM) and no network client can ever send them.

Rules
1. Every row's ``event`` is a trigger of ``controller.core.table.TABLE``; a test derives this from
   the table and from the provider's registered handlers (``tests/sdc/test_boundary.py``).
2. The actor is never taken from the request: it comes from the certificate's role, and a
   patient role is never granted to a network client (REQ-ROL-001, REQ-SEC-003).
"""

from __future__ import annotations

from dataclasses import dataclass

SET_VALUE = "SetValue"
ACTIVATE = "Activate"


@dataclass(frozen=True, slots=True)
class RemoteOp:
    handle: str  # the operation descriptor's handle in the MDIB
    sdc: str  # SetValue | Activate
    event: str  # the table trigger it becomes
    target: str  # MDIB handle of the operation target
    field: str | None  # SetValue: the program-request field it sets (mL/h, mL)
    text: str


OPERATIONS: tuple[RemoteOp, ...] = (
    RemoteOp("op.rate", SET_VALUE, "program", "m.rate", "rate_ml_h", "set the programmed rate (mL/h)"),
    RemoteOp("op.vtbi", SET_VALUE, "program", "m.vtbi", "vtbi_ml", "set the volume to be infused (mL)"),
    RemoteOp("op.start", ACTIVATE, "start", "chan", None, "start the infusion"),
    RemoteOp("op.pause", ACTIVATE, "pause", "chan", None, "pause the infusion"),
    RemoteOp("op.resume", ACTIVATE, "resume", "chan", None, "resume a paused infusion"),
    RemoteOp("op.stop", ACTIVATE, "stop", "chan", None, "stop the infusion"),
    RemoteOp("op.silence", ACTIVATE, "silence", "alerts", None, "pause the audible alarm"),
    RemoteOp("op.acknowledge", ACTIVATE, "acknowledge", "alerts", None, "acknowledge the alarms"),
)
BY_HANDLE: dict[str, RemoteOp] = {op.handle: op for op in OPERATIONS}

NOT_OFFERED: dict[str, str] = {
    "configure": "pump limits are provisioned only through a protected physical port (REQ-SEC-004)",
    "patient_bolus": "a PCA demand is the patient's, and a network client is never a patient (REQ-ROL-001)",
    "confirm_soft_limit": "a soft-limit override needs the clinician at the pump (REQ-DRG-003)",
    "clinician_bolus": "not offered remotely: a bolus is given at the bedside",
    "prime": "priming needs the line disconnected from the patient, checked at the pump",
    "clear": "clearing a program is a bedside action",
    "review": "the review after repeated stops needs the clinician at the pump (REQ-OCC-006)",
}
