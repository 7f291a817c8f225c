"""One provider with an in-process consumer per test module, on 127.0.0.1 only."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.core.events import ev
from controller.drivers.clocks import SimClock
from controller.library.keys import load_key
from controller.sdc.pumps import simulated as simulated  # also for benchmarks/bench_sdc.py
from controller.sdc.roles import RoleMap
from controller.sdc.session import Session
from controller.sdc.tls import Pki, contexts, make_pki
from tests.store.helpers import EXAMPLE, HMAC_KEY_FILE

if TYPE_CHECKING:  # the sdc extra: imported where a provider is started
    from controller.sdc.consumer import PumpConsumer
    from controller.sdc.provider import PumpProvider

REQUEST = {"drug": "morphine", "care_area": "general", "rate_ml_h": 2, "vtbi_ml": 50}  # library: rate hard max 10
TODAY = date(2026, 12, 1)  # inside the example library's validity
PERIOD_MS = 100


@dataclass
class Calendar:
    """The session's date (the library gate's ``today``), which a test may move on."""

    day: date = TODAY

    def today(self) -> date:
        return self.day


@dataclass
class Pump:
    pki: Pki
    session: Session
    provider: PumpProvider
    clinician: PumpConsumer
    monitor: PumpConsumer
    calendar: Calendar

    def records(self, kind: str) -> list[Any]:
        return self.session.call(lambda: self.session.store.log.records(kind))

    def ready(self) -> None:
        """Back to READY with the initial program and no alarm, by local (bedside) commands."""
        s = self.session

        def reset() -> None:
            self.calendar.day = TODAY
            s.plant.set_door(False)
            s.plant.release("both")
            for kind in ("stop", "acknowledge", "acknowledge"):
                s.shell.submit(ev(kind))
            s.request = dict(REQUEST)
            r = s.gate.program(s.request, s.limits, s.clock.now_ms())
            assert r.event is not None, r.message
            step = s.shell.submit(r.event)
            assert step.accepted, step.reason
            s.built = r.built

        s.call(reset)
        s.advance(PERIOD_MS)
        wait_for(lambda: self.clinician.value("m.state") == "READY")


def start_pump(folder: Path) -> Iterator[Pump]:
    from controller.sdc.consumer import PumpConsumer
    from controller.sdc.provider import PumpProvider

    pki = make_pki(folder / "pki")
    calendar = Calendar()
    session = Session(simulated, SimClock(), folder / "log.db", RoleMap.load(pki.roles), period_ms=PERIOD_MS,
                      request=REQUEST, library=EXAMPLE, key=load_key(HMAC_KEY_FILE), today=calendar.today, auto=False)
    session.start()
    provider = PumpProvider(session, contexts(*pki.pump, pki.ca))
    consumers: list[PumpConsumer] = []
    try:
        provider.start()
        consumers.append(PumpConsumer(provider.url, contexts(*pki.clinician, pki.ca)))
        consumers.append(PumpConsumer(provider.url, contexts(*pki.monitor, pki.ca)))
        yield Pump(pki, session, provider, consumers[0], consumers[1], calendar)
    finally:
        for c in consumers:
            c.close()
        provider.stop()
        session.stop()


def wait_for(cond: Callable[[], object], timeout_s: float = 10.0) -> None:
    """Bounded wait for a report to arrive (a functional wait, not a timing claim)."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.02)
