"""The fault-injecting link: refused requests and silent polls, and what the shell makes of them."""

from __future__ import annotations

import pytest

from controller.campaign.faults import LinkWindow
from controller.campaign.link import FaultyLink
from controller.clinical.programs import build_program
from controller.core import alarms as A
from controller.core.commands import SetFlow, StopMotor
from controller.core.events import Event, ev
from controller.core.limits import Limits
from controller.core.machine import Controller
from controller.drivers.base import ACCEPTED, PumpDriver, Reply
from controller.drivers.clocks import SimClock
from controller.drivers.sim import SimPump
from controller.runtime.shell import Shell


class Recorder:
    """A driver that accepts everything and counts what reached it."""

    def __init__(self) -> None:
        self.requests: list[object] = []
        self.polls = 0
        self.stops = 0

    def request(self, cmd: SetFlow | StopMotor) -> Reply:
        self.requests.append(cmd)
        return ACCEPTED

    def poll(self, now_ms: int) -> list[Event]:
        self.polls += 1
        return [ev("door_close")]

    def measured_vu(self) -> int | None:
        return 0

    def safe_stop(self) -> None:
        self.stops += 1

    def close(self) -> None:
        pass


@pytest.mark.req("REQ-DRV-001")
def test_refuse_window_answers_at_once_and_never_reaches_the_device() -> None:
    clock, inner = SimClock(), Recorder()
    link = FaultyLink(inner, clock, (LinkWindow(1_000, 2_000, "refuse", "timeout"),))
    assert isinstance(link, PumpDriver)
    assert link.request(StopMotor(0)).accepted
    clock.t_ms = 1_500
    reply = link.request(SetFlow(1_000, 10))
    assert not reply.accepted and reply.reason == "timeout"
    assert link.poll(1_500) == [ev("door_close")]  # polls still work while requests are refused
    link.safe_stop()  # the motor-enable line is not the command link
    assert inner.stops == 1 and len(inner.requests) == 1 and link.refused == 1
    clock.t_ms = 2_000  # the window is half-open: [start, end)
    assert link.request(StopMotor(0)).accepted


@pytest.mark.req("REQ-DRV-001")
def test_silent_window_reads_nothing_and_lets_requests_through() -> None:
    clock, inner = SimClock(), Recorder()
    link = FaultyLink(inner, clock, (LinkWindow(0, 5_000, "silent"),))
    clock.t_ms = 100
    assert link.poll(100) == [] and link.measured_vu() is None
    assert link.request(StopMotor(0)).accepted and inner.polls == 0
    clock.t_ms = 5_000
    assert link.poll(5_000) == [ev("door_close")] and link.measured_vu() == 0
    assert link.silenced_polls == 1


@pytest.mark.req("REQ-DRV-001", "REQ-FLT-003")
def test_a_refused_motor_command_latches_failsafe_with_the_motor_stopped() -> None:
    """The shell's answer to a broken link: motor_fault, FAILSAFE, motor power cut (REQ-DRV-001)."""
    clock = SimClock()
    plant = SimPump(clock=clock)
    link = FaultyLink(plant, clock, (LinkWindow(10_000, 20_000, "refuse", "not_connected"),))
    limits = Limits()
    shell = Shell(Controller(limits), link, clock, horizon_ms=4_000)
    shell.step()
    shell.submit(ev("self_test", flag=plant.self_test()))
    shell.submit(ev("program", program=build_program({"rate_ml_h": 50, "vtbi_ml": 100}, limits).program))
    shell.submit(ev("start"))
    for _ in range(30):
        clock.advance(1_000)
        shell.step()
    assert shell.ctl.state == "FAILSAFE"
    assert shell.ctl.vars.alarm.active[A.MOTOR_FAULT]
    assert not plant.mech.powered and link.refused >= 1
