"""Proof of the boundary: every SDC operation is one table event with an explicit actor, and nothing in
``controller/sdc`` reaches the core except through ``Controller.handle`` (via ``Shell.submit``).

Three checks, each shown able to fail:
1. generated from the running provider's registered handlers and the MDIB: each maps to a row
   of ``OPERATIONS`` whose event is a trigger of the transition table;
2. a runtime spy on ``Controller.handle``: every remote command is exactly one ``handle`` call
   of that event with the certificate's actor (none for a refused client), and the core's
   state and variables after it are exactly the ``Step`` that call returned;
3. an AST check of the package's source and of its command line (``controller/cli/sdc.py``): no
   access to the core's internals (machine, model, set_state, triggers, the latch), no
   assignment to its state or variables, no import of the table's guards or effects, and
   ``submit`` is called in the session adapter only.
"""

from __future__ import annotations

import ast
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.core.events import Actor
from controller.core.machine import Step
from controller.core.table import TABLE
from controller.drivers.clocks import SimClock
from controller.sdc.mdib import XSI, mdib_xml
from controller.sdc.operations import NOT_OFFERED, OPERATIONS, SET_VALUE
from controller.sdc.pumps import simulated
from controller.sdc.roles import Identity, RoleMap
from controller.sdc.session import Outcome, Session

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "controller" / "sdc"
CLI = ROOT / "controller" / "cli" / "sdc.py"  # pumpctl sdc serve | probe | certs
CLINICIAN = Identity("clinician-01", "CA", "1", "sha256:" + "11" * 32)
MONITOR = Identity("monitor-01", "CA", "2", "sha256:" + "22" * 32)
ROLES = RoleMap.parse({"client": [{"subject_cn": "clinician-01", "role": "clinician"},
                                  {"subject_cn": "monitor-01", "role": "monitor"}]})
VALUES = {"op.rate": "3", "op.vtbi": "40"}
BASIC = {"rate_ml_h": 2, "vtbi_ml": 50}  # no library: a basic infusion, so every program reaches the core


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    s = Session(simulated, SimClock(), tmp_path_factory.mktemp("b") / "log.db", ROLES, request=BASIC, auto=False)
    s.start()
    yield s
    s.stop()


# --- 1. every operation is a table event --------------------------------------------------------

def test_every_operation_descriptor_is_one_row_whose_event_is_a_table_trigger() -> None:
    triggers = {r.trigger for r in TABLE}
    root = ET.fromstring(mdib_xml())
    descriptors = {el.get("Handle"): el.get(f"{{{XSI}}}type") for el in root.iter()
                   if str(el.get(f"{{{XSI}}}type", "")).endswith("OperationDescriptor")}
    assert set(descriptors) == {op.handle for op in OPERATIONS}
    for op in OPERATIONS:
        assert op.event in triggers, f"{op.handle} -> {op.event} is not a trigger of the table"
        assert descriptors[op.handle] == f"pm:{op.sdc}OperationDescriptor"
        assert op.event not in NOT_OFFERED
    assert "configure" in NOT_OFFERED and "patient_bolus" in NOT_OFFERED


def test_the_providers_registered_handlers_are_exactly_the_operations(tmp_path: Path) -> None:
    pytest.importorskip("sdc11073")
    from controller.sdc.provider import PumpProvider
    from controller.sdc.tls import contexts, make_pki

    pki = make_pki(tmp_path)
    s = Session(simulated, SimClock(), tmp_path / "log.db", ROLES, auto=False)  # never started: no core here
    provider = PumpProvider(s, contexts(*pki.pump, pki.ca))
    registered = {h for sco in provider.sdc._sco_operations_registries.values()
                  for h in sco._registered_operations}
    assert registered == {op.handle for op in OPERATIONS}


# --- 2. the runtime spy --------------------------------------------------------------------------

def boundary_problems(s: Session, handle: str, who: Identity | None, expect_actor: int | None) -> list[str]:
    """Run one remote command under a spy on ``Controller.handle``; what broke the boundary."""
    calls: list[Step] = []
    entered: list[tuple[str, Any]] = []  # (state, vars) as each handle() call found them

    def spy_on() -> None:
        ctl = s.shell.ctl
        real = type(ctl).handle

        def handle(e: Any) -> Step:
            entered.append((ctl.state, ctl.vars))
            step = real(ctl, e)
            calls.append(step)
            return step

        ctl.handle = handle  # type: ignore[method-assign]

    s.call(spy_on)
    start = s.call(lambda: (s.shell.ctl.state, s.shell.ctl.vars))
    done: list[Any] = []
    s.remote(handle, VALUES.get(handle), who, done.append)
    end = s.call(lambda: (s.shell.ctl.state, s.shell.ctl.vars))
    s.call(lambda: s.shell.ctl.__dict__.pop("handle"))
    op = next(o for o in OPERATIONS if o.handle == handle)
    problems = []
    remote = [c for c in calls if c.event.kind == op.event]
    if expect_actor is None:
        problems += [f"{handle}: a refused client reached handle()"] if calls else []
    elif len(remote) != 1 or len(calls) != 1:
        problems.append(f"{handle}: {len(calls)} handle() calls, expected exactly one {op.event}")
    elif remote[0].event.actor != expect_actor:
        problems.append(f"{handle}: actor {Actor(remote[0].event.actor).name}, expected {Actor(expect_actor).name}")
    # the core moves only inside handle(): each call starts where the previous one (or the command) left it
    expected = [start] + [(c.state, c.vars) for c in calls]
    found = entered + [end]
    if any(e[0] != f[0] or e[1] is not f[1] for e, f in zip(expected, found, strict=True)):
        problems.append(f"{handle}: the core changed outside handle()")
    return problems


@pytest.mark.req("REQ-SEC-005")
def test_every_remote_command_is_exactly_one_handle_call_with_the_certificates_actor(session: Session) -> None:
    for op in OPERATIONS:
        assert boundary_problems(session, op.handle, CLINICIAN, int(Actor.CLINICIAN)) == []
        assert boundary_problems(session, op.handle, MONITOR, None) == []
    assert any(op.sdc == SET_VALUE for op in OPERATIONS)


@pytest.mark.req("REQ-SEC-003", "REQ-SEC-005")
def test_a_command_without_a_client_identity_is_refused_as_not_authenticated(session: Session) -> None:
    """The session's own check, under the TLS layer's: a call with no verified certificate (``who``
    None, as a connection without a peer certificate would give) never reaches the core."""
    for op in OPERATIONS:
        assert boundary_problems(session, op.handle, None, None) == []
    n = session.call(lambda: session.remote_calls)
    before = session.call(lambda: (session.shell.ctl.state, session.shell.ctl.vars))
    done: list[Outcome] = []
    session.remote("op.start", None, None, done.append)
    session.remote("op.rate", "3", None, done.append)
    assert session.call(lambda: (session.shell.ctl.state, session.shell.ctl.vars)) == before
    assert [o.accepted for o in done] == [False, False]
    assert all(o.reason == "not_authenticated: no verified client certificate" for o in done)
    calls = session.call(lambda: session.store.log.records("remote_call"))[-2:]
    assert session.call(lambda: session.remote_calls) == n + 2
    assert [c.payload["operation"] for c in calls] == ["op.start", "op.rate"]
    assert all(c.payload["client"] is None and c.payload["role"] is None and c.payload["actor"] is None
               and c.payload["accepted"] is False and c.payload["reason"].startswith("not_authenticated")
               for c in calls)


def test_the_spy_catches_a_command_that_bypasses_handle(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Session._build

    def bypass(self: Session, op: Any, value: object, act: int) -> Any:
        out = real(self, op, value, act)
        self.shell.ctl.machine.set_state("FAILSAFE", model=self.shell.ctl._model)  # a forbidden side door
        return out

    monkeypatch.setattr(Session, "_build", bypass)
    problems = boundary_problems(session, "op.stop", CLINICIAN, int(Actor.CLINICIAN))
    assert problems and "outside handle()" in problems[0]


# --- 3. the source --------------------------------------------------------------------------------

FORBIDDEN_ATTRS = {"machine", "_model", "set_state", "_triggers", "_fired", "_latch_failsafe", "_accepts"}
FORBIDDEN_IMPORTS = {"transitions", "controller.core.table", "controller.core.guards", "controller.core.effects",
                     "controller.core.logic", "controller.core.recovery"}


def source_problems(name: str, source: str) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRS:
            out.append(f"{name}:{node.lineno}: uses the core's internal {node.attr}")
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for sub in ast.walk(t):
                    if isinstance(sub, ast.Attribute) and sub.attr in {"vars", "ctl", "state"}:
                        out.append(f"{name}:{node.lineno}: assigns the core's {sub.attr}")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            out += [f"{name}:{node.lineno}: imports {m}" for m in mods if m in FORBIDDEN_IMPORTS]
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"submit", "handle"} and name != "sdc/session.py"):
            out.append(f"{name}:{node.lineno}: calls {node.func.attr}() outside the session adapter")
    return out


def scanned() -> list[Path]:
    """Every file of the network path: the package and the command line that serves it."""
    return [*sorted(PACKAGE.glob("*.py")), CLI]


def label(path: Path) -> str:
    return path.relative_to(ROOT / "controller").as_posix()  # "sdc/session.py", "cli/sdc.py"


def test_the_package_reaches_the_core_only_through_the_session_adapter() -> None:
    files = scanned()
    assert len(files) >= 10 and CLI in files and PACKAGE / "session.py" in files
    problems = [p for f in files for p in source_problems(label(f), f.read_text(encoding="utf-8"))]
    assert problems == []


@pytest.mark.parametrize("planted", [
    "session.shell.ctl.machine.set_state('RUNNING')",
    "session.shell.ctl.vars = old",
    "from controller.core.guards import by_clinician",
    "provider.session.shell.submit(ev('start'))",
])
def test_the_source_check_catches_a_side_door(planted: str) -> None:
    assert source_problems("sdc/provider.py", planted)


@pytest.mark.parametrize("planted", [
    "session.shell.submit(ev('start'))",
    "session.shell.ctl.handle(ev('start', 1))",
    "session.shell.ctl.machine.set_state('RUNNING')",
    "session.shell.ctl.vars = old",
    "from controller.core.effects import start",
])
def test_the_source_check_catches_a_side_door_planted_in_the_cli(planted: str) -> None:
    """The command line's real source, with one side door added to its serve path."""
    source = CLI.read_text(encoding="utf-8")
    anchor = "    provider = None\n"
    assert anchor in source
    doored = source.replace(anchor, f"{anchor}    {planted}\n", 1)
    assert source_problems(label(CLI), source) == []
    assert source_problems(label(CLI), doored)
