"""THE table of nomenclature codes the SDC provider sends, each with where it came from.

Theory of operation
-------------------
Every ``pm:Type`` and ``pm:Unit`` in the MDIB (``controller.sdc.mdib``) is looked up here by
its reference id. An entry is one of:

- ``sourced``: the exact reference id -> code pair was read in a public source named in
  ``sources`` and no source read for this work gave another code for it. It is sent in the
  IEEE 11073-10101 coding system (``MDC``, the BICEPS default OID). "Sourced" is not
  "checked against the standard": nobody here has read IEEE 11073-10101 or RTMMS itself, so
  an integrator must check each sourced code against the current RTMMS before clinical use;
- ``unverified``: no source was found, or the sources read disagree (``note`` says how). It is
  NEVER sent as an MDC code: ``coded`` returns it in the project's own coding system
  (``LOCAL``) with the reference id as its code, so a consumer matching MDC codes cannot
  mistake it for a verified one;
- ``ucum``: a unit from UCUM (unambiguous by construction), used where no MDC unit was sourced;
- ``local``: a concept of this project (the alarm conditions, the operations), in ``LOCAL``.

Rules
1. This is the only table of codes; nothing else in the package writes a code or a coding
   system (a test checks the generated MDIB against it).
2. An entry whose status is not ``sourced`` can never come out of ``coded`` with ``MDC``.
"""

from __future__ import annotations

from dataclasses import dataclass

MDC = "urn:oid:1.2.840.10004.1.1.1.0.0.1"  # IEEE 11073-10101 in BICEPS (IEEE 11073-10207)
UCUM = "http://unitsofmeasure.org"
LOCAL = "urn:x-pumpctl:nomenclature"  # this project's own concepts and every unverified code

S_IBM = ("IBMStreams/streamsx.health, ingest Vines test (Tests.java): an IHE PCD-01 style infusion "
         "sample message, 2010/2014")
S_RTM2013 = ("a public MDC code table that cites a 2013 manufacturer's HL7 infusion interface "
             "specification built against the Rosetta terminology mapping of 2011")
S_DRAEGER = "a Draeger SDC C++ library header (DFL::Mdib::CodedValueConstants), 196608 + 194 = 3::194"
S_GE = "GE B40 monitor HL7 export guide: MDC_DEV_METER_PRESS_BLD_VMD 69854 and _CHAN 69855 (MDS/VMD/CHAN pattern)"


@dataclass(frozen=True, slots=True)
class Code:
    ref: str  # reference id, e.g. MDC_FLOW_FLUID_PUMP
    code: str  # the context-free code for MDC, the unit for UCUM, the id for LOCAL
    status: str  # sourced | unverified | ucum | local
    meaning: str
    sources: tuple[str, ...] = ()
    note: str = ""


def _s(ref: str, code: int, meaning: str, *sources: str, note: str = "") -> Code:
    return Code(ref, str(code), "sourced", meaning, sources, note)


def _u(ref: str, meaning: str, note: str) -> Code:
    return Code(ref, ref, "unverified", meaning, (), note)


def _l(ref: str, meaning: str) -> Code:
    return Code(ref, ref, "local", meaning)


TABLE: tuple[Code, ...] = (
    # --- containment -------------------------------------------------------------------------
    _s("MDC_DEV_PUMP_INFUS_MDS", 69985, "infusion pump MDS", S_RTM2013, S_GE,
       note="also VMD - 1, the partition-1 MDS/VMD/CHAN pattern of S_GE"),
    _s("MDC_DEV_PUMP_INFUS_VMD", 69986, "infusion pump VMD", S_IBM, S_RTM2013),
    _s("MDC_DEV_PUMP_INFUS_CHAN_DELIVERY", 126978, "pump delivery channel", S_IBM, S_RTM2013),
    # --- metrics -----------------------------------------------------------------------------
    _s("MDC_FLOW_FLUID_PUMP", 157784, "programmed pump flow rate", S_IBM, S_RTM2013,
       note="two unsourced demo programs use 158480 and 157985; not counted as sources"),
    _s("MDC_VOL_FLUID_DELIV", 157864, "volume delivered", S_IBM, S_RTM2013),
    _s("MDC_VOL_FLUID_TBI_REMAIN", 157872, "volume to be infused remaining", S_IBM, S_RTM2013),
    _s("MDC_PUMP_STAT", 184508, "pump status", S_IBM, S_RTM2013,
       note="the values sent are pumpctl's state names (IDLE, RUNNING ...), not the IHE status tokens"),
    _s("MDC_DRUG_NAME_TYPE", 184330, "drug name", S_IBM, S_RTM2013),
    _s("MDC_CONC_DRUG", 157760, "drug concentration", S_IBM, S_RTM2013,
       note="sent as text with its unit (a string metric): the unit depends on the drug entry"),
    _u("MDC_VOL_FLUID_TBI", "volume to be infused",
       "sources disagree: 157884 (S_RTM2013), 999999 placeholder (S_IBM), 157985 and 157993 in demo code"),
    _u("MDC_TIME_PD_REMAIN", "time remaining", "one unsourced demo table (157997); not confirmed"),
    _u("MDC_FLOW_FLUID_PUMP_CURRENT", "current commanded flow rate",
       "no source found for a code of the rate the motor is commanded now"),
    # --- units -------------------------------------------------------------------------------
    _s("MDC_DIM_MILLI_L_PER_HR", 265266, "mL/h", S_IBM, S_RTM2013),
    _s("MDC_DIM_MILLI_L", 263762, "mL", S_IBM, S_RTM2013),
    Code("min", "min", "ucum", "minute (UCUM)", (), "no MDC minute code was sourced"),
    Code("1", "1", "ucum", "dimensionless (UCUM)", (), "for text and enumeration metrics"),
    # --- alarms ------------------------------------------------------------------------------
    _s("MDC_EVT_BATT_LO", 196802, "battery low", S_DRAEGER,
       note="the one alarm with a sourced event code; the others are local (see ALARM_CODES)"),
    # --- the project's own concepts (operations, alert system) -------------------------------
    _l("pumpctl.alert_system", "the pump's alert system"),
    _l("pumpctl.sco", "the pump's remote operations"),
)

BY_REF: dict[str, Code] = {c.ref: c for c in TABLE}
assert len(BY_REF) == len(TABLE), "duplicate reference id in the code table"

# Alarm ids of controller.core.alarms whose condition type is a sourced MDC event code. Every other
# alarm's condition type is the local code "pumpctl.alarm.<id>" (an alarm added to the catalog
# appears automatically with a local code).
ALARM_CODES: dict[str, str] = {"low_battery": "MDC_EVT_BATT_LO"}


def coded(ref: str) -> tuple[str, str]:
    """(code, coding system) to send for ``ref``; see rule 2."""
    c = BY_REF[ref]
    if c.status == "sourced":
        return c.code, MDC
    if c.status == "ucum":
        return c.code, UCUM
    return c.ref, LOCAL


def alarm_type(alarm_id: str) -> tuple[str, str]:
    ref = ALARM_CODES.get(alarm_id)
    return coded(ref) if ref is not None else (f"pumpctl.alarm.{alarm_id}", LOCAL)


def operation_type(handle: str) -> tuple[str, str]:
    return f"pumpctl.op.{handle}", LOCAL
