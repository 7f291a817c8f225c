"""The session without a network: the shell's own alarms (library gate, event log) in the view it publishes.

The core's catalog has no library and no log alarm; the shell raises them (``drug_library``,
``event_log``). They are AlertConditions of the MDIB (``controller.sdc.mdib.SHELL_ALERTS``), and
the session's view carries them in the step that raises them, like the core's alarms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.drivers.clocks import SimClock
from controller.log.errors import LogWriteError
from controller.sdc.pumps import simulated
from controller.sdc.roles import RoleMap
from controller.sdc.session import Session
from controller.sdc.view import View

ROLES = RoleMap.parse({"client": [{"subject_cn": "clinician-01", "role": "clinician"}]})
BASIC = {"rate_ml_h": 2, "vtbi_ml": 50}


def alarm(view: View, alarm_id: str) -> tuple[bool, bool]:
    """(present, active) of one alarm in a view."""
    found = [(a.present, a.active) for a in view.alarms if a.id == alarm_id]
    assert len(found) == 1, alarm_id
    return found[0]


def boot(folder: Path, views: list[View], **kw: Any) -> Session:
    s = Session(simulated, SimClock(), folder / "log.db", ROLES, auto=False, on_view=views.append, **kw)
    s.start()
    return s


@pytest.mark.req("REQ-LOG-004")
def test_a_failed_log_write_raises_event_log_in_the_view_of_that_period(tmp_path: Path) -> None:
    views: list[View] = []
    s = boot(tmp_path, views, request=BASIC)
    try:
        assert alarm(views[-1], "event_log") == (False, False)

        def full(*args: object, **kw: object) -> Any:
            raise LogWriteError("disk full (test)")

        def break_the_log() -> None:
            s.store.warn = lambda msg: None
            s.store.log.record_step = full  # type: ignore[method-assign]

        s.call(break_the_log)
        view = s.advance(100)  # one control period: its step record cannot be written
        assert s.call(lambda: s.store.alarm)
        assert alarm(view, "event_log") == (True, True) and views[-1] == view  # published in that period
        assert view.state == "READY"  # therapy is not affected by a log alarm (REQ-LOG-004)
        assert [a.id for a in view.alarms if a.present] == ["event_log"]
    finally:
        s.stop()


@pytest.mark.req("REQ-SEC-001")
def test_a_refused_library_raises_drug_library_in_the_first_view(tmp_path: Path) -> None:
    bad = tmp_path / "library.toml"
    bad.write_text("[library\nthis is not a library", encoding="utf-8")
    views: list[View] = []
    s = boot(tmp_path, views, library=bad)
    try:
        assert alarm(views[-1], "drug_library") == (True, True)  # the boot's own view: no period has run
        assert s.period == 0 and s.boot_messages[0] == "pump: simulated pump"
        assert s.boot_messages[1].startswith("NO DRUG LIBRARY IN USE")
        assert alarm(views[-1], "event_log") == (False, False)
    finally:
        s.stop()
