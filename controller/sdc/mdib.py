"""The MDIB of the pump: descriptors generated from the code table, the alarm catalog and the states.

Theory of operation
-------------------
``mdib_xml()`` writes a BICEPS ``GetMdibResponse`` document (what ``sdc11073``'s
``ProviderMdib.from_string`` reads):

    Mds "mds" (MDC_DEV_PUMP_INFUS_MDS)
      AlertSystem "alerts": for every alarm of ``alerts()`` an AlertCondition "ac.<id>"
        (technical, its IEC 60601-1-8 priority, its operator text) and an audible AlertSignal
        "as.<id>" latching like the alarm
      Sco "sco": one operation descriptor per row of ``controller.sdc.operations.OPERATIONS``
      Vmd "vmd" (MDC_DEV_PUMP_INFUS_VMD)
        Channel "chan" (MDC_DEV_PUMP_INFUS_CHAN_DELIVERY): the metrics of ``METRICS``

Nothing here is typed twice: alarms, states and operations are iterated from their own
modules, so an alarm added to the catalog is an AlertCondition the next time the provider
starts; every code comes from ``controller.sdc.codes`` (rule 1 there).

``alerts()`` is every alarm the pump can annunciate: the core's catalog
(``controller.core.alarms.CATALOG``, read at each call) and, after it, the two the shell raises
itself (``SHELL_ALERTS``), whose ids and priorities are the constants of the modules that raise
them: the library gate's ``drug_library`` (``controller.library.gate``: a program refused for a
missing, corrupt, unauthenticated or stale library or a drug it does not hold; cleared by the
next good load or program) and the event log's ``event_log`` (``controller.runtime.logstore``:
a failed log write; latched until the pump restarts). Only their operator texts are written here.

Rules
1. Handles are stable names derived from ids (``ac.<alarm id>``, ``op.<verb>``, ``m.<name>``).
2. Pure: no I/O and no sdc11073 import, so the document can be generated and checked without
   the ``sdc`` extra.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from controller.core import alarms as A
from controller.core.state import STATES
from controller.library.gate import LIBRARY_ALARM, LIBRARY_ALARM_PRIORITY
from controller.runtime.logstore import LOG_ALARM, LOG_ALARM_PRIORITY
from controller.sdc import codes
from controller.sdc.operations import OPERATIONS, SET_VALUE

PM = "http://standards.ieee.org/downloads/11073/11073-10207-2017/participant"
MSG = "http://standards.ieee.org/downloads/11073/11073-10207-2017/message"
EXT = "http://standards.ieee.org/downloads/11073/11073-10207-2017/extension"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
PRIORITY = {A.Priority.HIGH: "Hi", A.Priority.MEDIUM: "Me", A.Priority.LOW: "Lo"}
REMEDY = {A.Response.STOP: "flow is stopped: attend to the pump, then acknowledge",
          A.Response.KVO: "flow is limited to KVO: review the program at the pump",
          A.Response.CONTINUE: "delivery continues: check the pump"}


@dataclass(frozen=True, slots=True)
class Alert:
    """One AlertCondition: an alarm of the core's catalog or one the shell raises itself."""

    id: str
    priority: A.Priority
    latching: bool
    text: str
    remedy: str
    reqs: tuple[str, ...]
    shell: bool  # raised by the shell (library gate, event log), not by the core
    note: str  # the core's flow response, or who in the shell raises it


SHELL_ALERTS: tuple[Alert, ...] = (
    Alert(LIBRARY_ALARM, A.Priority[LIBRARY_ALARM_PRIORITY.upper()], False,
          "Drug library problem: program refused (library missing, corrupt, unauthenticated or stale, or the "
          "drug is not in it)", "the program does not reach the pump: load a good library or choose a drug it "
          "holds, at the pump", ("REQ-SEC-001", "REQ-SEC-002"), True, "raised by the library gate"),
    Alert(LOG_ALARM, A.Priority[LOG_ALARM_PRIORITY.upper()], True,
          "Event log write failed: logging is degraded", "delivery continues: check the pump's storage; the alarm "
          "stays until the pump restarts", ("REQ-LOG-004",), True, "raised by the event log"),
)


def alerts() -> tuple[Alert, ...]:
    """Every alarm of the MDIB, in order: the core's catalog as it is now, then the shell's."""
    core = tuple(Alert(s.id, s.priority, s.latching, s.text, REMEDY[s.response], s.reqs, False,
                       f"response {s.response.name.lower()}") for s in A.CATALOG)
    return (*core, *SHELL_ALERTS)


@dataclass(frozen=True, slots=True)
class Metric:
    handle: str
    kind: str  # numeric | string | enum
    type_ref: str  # reference id in the code table
    unit_ref: str
    category: str  # BICEPS MetricCategory
    text: str
    resolution: str = "0.001"


METRICS: tuple[Metric, ...] = (
    Metric("m.rate", "numeric", "MDC_FLOW_FLUID_PUMP", "MDC_DIM_MILLI_L_PER_HR", "Set", "programmed rate"),
    Metric("m.rate.current", "numeric", "MDC_FLOW_FLUID_PUMP_CURRENT", "MDC_DIM_MILLI_L_PER_HR", "Clc",
           "rate the motor is commanded to now (0 when stopped)"),
    Metric("m.vtbi", "numeric", "MDC_VOL_FLUID_TBI", "MDC_DIM_MILLI_L", "Set", "volume to be infused"),
    Metric("m.vol.infused", "numeric", "MDC_VOL_FLUID_DELIV", "MDC_DIM_MILLI_L", "Clc", "volume infused"),
    Metric("m.vol.remaining", "numeric", "MDC_VOL_FLUID_TBI_REMAIN", "MDC_DIM_MILLI_L", "Clc",
           "volume remaining to the VTBI"),
    Metric("m.time.remaining", "numeric", "MDC_TIME_PD_REMAIN", "min", "Clc",
           "time remaining to the VTBI at the current rate", "0.1"),
    Metric("m.drug", "string", "MDC_DRUG_NAME_TYPE", "1", "Set", "drug of the program (library entry)"),
    Metric("m.concentration", "string", "MDC_CONC_DRUG", "1", "Set", "drug concentration with its unit"),
    Metric("m.state", "enum", "MDC_PUMP_STAT", "1", "Unspec", "controller state"),
)


def condition_handle(alarm_id: str) -> str:
    return f"ac.{alarm_id}"


def signal_handle(alarm_id: str) -> str:
    return f"as.{alarm_id}"


def _el(parent: ET.Element, tag: str, ns: str = PM, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, f"{{{ns}}}{tag}", {k.replace("__", ":"): v for k, v in attrs.items()})


def _xsi(el: ET.Element, t: str) -> None:
    el.set(f"{{{XSI}}}type", f"pm:{t}")


def _coded(parent: ET.Element, tag: str, pair: tuple[str, str], text: str) -> None:
    code, system = pair
    el = _el(parent, tag, Code=code, CodingSystem=system)
    d = _el(el, "ConceptDescription", Lang="en")
    d.text = text


def _type(parent: ET.Element, ref: str) -> None:
    _coded(parent, "Type", codes.coded(ref), codes.BY_REF[ref].meaning)


def _alert_system(mds: ET.Element) -> None:
    asy = _el(mds, "AlertSystem", Handle="alerts", SafetyClassification="MedC")
    _type(asy, "pumpctl.alert_system")
    specs = alerts()
    for spec in specs:
        ac = _el(asy, "AlertCondition", Handle=condition_handle(spec.id), SafetyClassification="MedC",
                 Kind="Tec", Priority=PRIORITY[spec.priority])
        _coded(ac, "Type", codes.alarm_type(spec.id), spec.text)
        src = _el(ac, "Source")
        src.text = "mds" if spec.shell else "chan"
        cause = _el(ac, "CauseInfo")
        remedy = _el(_el(cause, "RemedyInfo"), "Description", Lang="en")
        remedy.text = spec.remedy
        desc = _el(cause, "Description", Lang="en")
        desc.text = f"{spec.text} ({', '.join(spec.reqs)}; {spec.note})"
        _xsi(ac, "AlertConditionDescriptor")
    for spec in specs:
        _el(asy, "AlertSignal", Handle=signal_handle(spec.id), ConditionSignaled=condition_handle(spec.id),
            Manifestation="Aud", Latching="true" if spec.latching else "false", SafetyClassification="MedC")


def _sco(mds: ET.Element) -> None:
    sco = _el(mds, "Sco", Handle="sco")
    for op in OPERATIONS:
        kind = "SetValueOperationDescriptor" if op.sdc == SET_VALUE else "ActivateOperationDescriptor"
        el = _el(sco, "Operation", Handle=op.handle, OperationTarget=op.target, SafetyClassification="MedC",
                 MaxTimeToFinish="PT5S", Retriggerable="false")
        _coded(el, "Type", codes.operation_type(op.handle), op.text)
        _xsi(el, kind)


def _metric(chan: ET.Element, m: Metric) -> None:
    el = _el(chan, "Metric", Handle=m.handle, SafetyClassification="MedC", MetricCategory=m.category,
             MetricAvailability="Cont")
    _type(el, m.type_ref)
    _coded(el, "Unit", codes.coded(m.unit_ref), codes.BY_REF[m.unit_ref].meaning)
    if m.kind == "numeric":
        el.set("Resolution", m.resolution)
        _xsi(el, "NumericMetricDescriptor")
    elif m.kind == "string":
        _xsi(el, "StringMetricDescriptor")
    else:
        for state in STATES:
            av = _el(el, "AllowedValue")
            v = _el(av, "Value")
            v.text = state
        _xsi(el, "EnumStringMetricDescriptor")


def mdib_xml() -> str:
    """The pump's MDIB as a GetMdibResponse document (see the module docstring)."""
    ET.register_namespace("pm", PM)
    ET.register_namespace("msg", MSG)
    ET.register_namespace("ext", EXT)
    ET.register_namespace("xsi", XSI)
    root = ET.Element(f"{{{MSG}}}GetMdibResponse", {"MdibVersion": "0", "SequenceId": "urn:uuid:0"})
    mdib = _el(root, "Mdib", MSG, MdibVersion="0", SequenceId="urn:uuid:0")
    desc = _el(mdib, "MdDescription")
    mds = _el(desc, "Mds", Handle="mds", SafetyClassification="MedC")
    _type(mds, "MDC_DEV_PUMP_INFUS_MDS")
    _alert_system(mds)
    _sco(mds)
    vmd = _el(mds, "Vmd", Handle="vmd", SafetyClassification="MedC")
    _type(vmd, "MDC_DEV_PUMP_INFUS_VMD")
    chan = _el(vmd, "Channel", Handle="chan", SafetyClassification="MedC")
    _type(chan, "MDC_DEV_PUMP_INFUS_CHAN_DELIVERY")
    for m in METRICS:
        _metric(chan, m)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
