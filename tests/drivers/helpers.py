"""Shared builders for the NE-1000 tests: an emulator on a pty sharing a SimClock with the shell."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from controller.core import Controller, Step
from controller.drivers.ne1000.driver import NE1000Config, NE1000Driver
from controller.drivers.ne1000.emulator import EmulatorServer
from controller.drivers.ne1000.firmware import NE1000Firmware
from controller.events import Event
from controller.shell import Shell, SimClock
from proofs.walk import check_step

PERIOD_MS = 100
# Short wall-clock reply timeouts keep the fault tests fast; the emulator answers in ~1 ms.
FAST = {"reply_timeout_ms": 60, "retries": 1, "comm_loss_ms": 500, "safe_timeout_s": 1}


class BufferPort:
    """The reading half of a fake serial port: bytes queued in ``buf`` by ``write`` (subclasses)."""

    buf = b""

    @property
    def in_waiting(self) -> int:
        return len(self.buf)

    def read(self, size: int = 1) -> bytes:
        out, self.buf = self.buf[:size], self.buf[size:]
        return out

    def close(self) -> None:
        pass


def wait_for(pred: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll ``pred`` until it holds or the deadline passes (never a bare sleep racing a thread)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.002)
    return pred()


class CheckedController(Controller):
    """A controller that checks every invariant of specs/invariants.py on every step."""

    def __init__(self) -> None:
        super().__init__()
        self.broken: list[str] = []
        self.steps = 0

    def handle(self, e: Event) -> Step:
        before_state, before_vars = self.state, self.vars
        step = super().handle(e)
        self.steps += 1
        for inv in check_step(before_state, step, before_vars):
            self.broken.append(f"{inv} after {e} in {before_state} -> {step.state}")
        return step


@dataclass
class Rig:
    clock: SimClock
    emu: EmulatorServer
    driver: NE1000Driver
    ctl: CheckedController
    shell: Shell
    events: list[str] = field(default_factory=list)

    def run(self, ms: int, period_ms: int = PERIOD_MS) -> None:
        """Advance simulated time by ``ms`` in control periods, one shell step each."""
        for _ in range(ms // period_ms):
            self.clock.advance(period_ms)
            for step in self.shell.step():
                if step.event.kind != "tick":
                    self.events.append(f"{self.clock.t_ms}:{step.event.kind}")


@contextmanager
def rig(pump: NE1000Firmware | None = None, **config: object) -> Iterator[Rig]:
    clock = SimClock()
    opts = {**FAST, **config}
    with EmulatorServer(pump or NE1000Firmware(now_ms=0), clock=clock.now_ms) as emu:
        driver = NE1000Driver(NE1000Config(emu.port, **opts)).open(clock.now_ms())  # type: ignore[arg-type]
        ctl = CheckedController()
        shell = Shell(ctl, driver, clock)
        shell.step()  # the loop's clock starts now
        try:
            yield Rig(clock, emu, driver, ctl, shell)
        finally:
            shell.shutdown()
        assert emu.crash is None, emu.crash
