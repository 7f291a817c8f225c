"""What the network sees of the pump: one immutable view per step, in user units.

Theory of operation
-------------------
``view_of`` reads the core's state and variables (never writes them) and returns a ``View``:
rates in mL/h, volumes in mL (``Decimal``, exact, rounded down to 0.001), the time remaining
at the commanded rate, the drug entry's name and concentration, and per alarm of
``controller.sdc.mdib.alerts()`` its cause (the condition is present), whether it is annunciated
and whether its audio is paused. The core's alarms come from its variables; the shell's two
(``drug_library``, ``event_log``) from the flags the session passes (``shell``: the gate's and
the log store's). ``PumpProvider.publish`` turns the difference between two views into one MDIB
transaction per kind.

Rules
1. Pure: integers in, decimals out; a value that does not exist (no program, no flow) is
   ``None``, never a made-up zero.
2. Alarms are in the order of ``alerts()``: the core's catalog, then the shell's alarms; the
   core's silence pauses the core's alarms only (the shell annunciates its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from controller.clinical.drugs import DrugEntry
from controller.core import alarms as A
from controller.core.state import Vars
from controller.core.units import VU_PER_ML
from controller.sdc.mdib import SHELL_ALERTS

MILLI = Decimal("0.001")
TENTH = Decimal("0.1")


@dataclass(frozen=True, slots=True)
class AlarmView:
    id: str
    present: bool  # the cause is present now
    active: bool  # annunciated (a latching alarm stays active after its cause is gone)
    paused: bool  # annunciated with its audio paused (the core's silence)


@dataclass(frozen=True, slots=True)
class View:
    period: int  # control periods since boot
    state: str
    rate_ml_h: Decimal | None  # programmed rate of the current step
    rate_now_ml_h: Decimal  # what the motor is commanded to now
    vtbi_ml: Decimal | None
    infused_ml: Decimal
    remaining_ml: Decimal | None
    time_remaining_min: Decimal | None
    drug: str | None
    concentration: str | None
    alarms: tuple[AlarmView, ...]
    audio_paused: bool


def _ml(vu: int) -> Decimal:
    return (Decimal(vu) / VU_PER_ML).quantize(MILLI, rounding=ROUND_DOWN)


def _ml_h(rate: int) -> Decimal:
    return (Decimal(rate) / 1000).quantize(MILLI, rounding=ROUND_DOWN)


def view_of(state: str, v: Vars, period: int, entry: DrugEntry | None,
            shell: Mapping[str, bool] | None = None) -> View:
    """The view of one step; ``shell`` says which of the shell's alarms are raised (by id)."""
    f, p, a = v.flow, v.prog, v.alarm
    paused = any(a.active) and f.clock < a.silence_until
    raised = shell or {}
    loaded = p.loaded
    step = min(f.step, max(p.n_steps - 1, 0))
    remaining = max(0, p.vtbi - f.delivered) if loaded else None
    minutes = None
    if remaining is not None and f.rate > 0:
        minutes = (Decimal(remaining) / f.rate / 60_000).quantize(TENTH, rounding=ROUND_DOWN)
    conc = None
    if entry is not None:
        conc = f"{Decimal(entry.concentration.numerator) / entry.concentration.denominator:f} " \
               f"{entry.concentration_amount}/mL"
    return View(
        period=period, state=state,
        rate_ml_h=_ml_h(p.step_rate[step]) if loaded else None,
        rate_now_ml_h=_ml_h(f.rate),
        vtbi_ml=_ml(p.vtbi) if loaded else None,
        infused_ml=_ml(f.delivered),
        remaining_ml=_ml(remaining) if remaining is not None else None,
        time_remaining_min=minutes,
        drug=entry.drug if entry is not None else None,
        concentration=conc,
        alarms=(*(AlarmView(spec.id, a.cause[i], a.active[i], a.active[i] and paused)
                  for i, spec in enumerate(A.CATALOG)),
                *(AlarmView(s.id, raised.get(s.id, False), raised.get(s.id, False), False) for s in SHELL_ALERTS)),
        audio_paused=paused,
    )


def metric_values(v: View) -> dict[str, Decimal | str | None]:
    """The value of every metric of ``controller.sdc.mdib.METRICS``, by handle."""
    return {"m.rate": v.rate_ml_h, "m.rate.current": v.rate_now_ml_h, "m.vtbi": v.vtbi_ml,
            "m.vol.infused": v.infused_ml, "m.vol.remaining": v.remaining_ml,
            "m.time.remaining": v.time_remaining_min, "m.drug": v.drug, "m.concentration": v.concentration,
            "m.state": v.state}
