"""Shared builders for the driver tests: a pump family's emulator on a pty sharing a SimClock with the shell.

``Kit`` is one pump family as the tests drive it (``controller.drivers.registry`` plus the
short timeouts that keep fault tests fast); ``KITS`` holds one per family, and the conformance
suite is parametrized over them. ``rig`` builds core + Shell + driver + emulator for a kit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction

from controller.core.events import Event
from controller.core.machine import Controller, Step
from controller.drivers.clocks import SimClock
from controller.drivers.errors import FrameError
from controller.drivers.pty_emulator import Firmware, PtyServer
from controller.drivers.registry import FAMILIES, Family, HardwareConfig, HardwareDriver
from controller.drivers.serial_link import Decoder
from controller.runtime.shell import Shell
from pumpctl.specs.checker import check_step

PERIOD_MS = 100
# Short wall-clock reply timeouts keep the fault tests fast; the emulator answers in ~1 ms.
FAST = {"reply_timeout_ms": 60, "retries": 1, "comm_loss_ms": 500, "safe_timeout_s": 1}


@dataclass(frozen=True)
class Kit:
    family: Family
    fast: dict[str, int]  # options that keep fault tests fast; the host-silence stop is 1 s for each

    @property
    def name(self) -> str:
        return self.family.name

    def firmware(self, diameter_mm: str = "26.59") -> Firmware:
        return self.family.firmware(0, Fraction(diameter_mm))

    def emulator(self, pump: Firmware | None = None, clock: Callable[[], int] | None = None) -> PtyServer:
        return self.family.emulator(pump, clock=clock) if clock is not None else self.family.emulator(pump)

    def config(self, port: str, **options: object) -> HardwareConfig:
        return self.family.configure(port, **{**self.fast, **options})

    def driver(self, port: str, **options: object) -> HardwareDriver:
        return self.family.driver(self.config(port, **options))

    def silence_ms(self, **options: object) -> int:
        return self.family.silence_ms(self.config("", **options))

    def without_silence(self) -> dict[str, int]:
        """The options that switch the pump's own host-silence stop off (only the target is left)."""
        return {self.family.silence_option: 0}


NE1000 = Kit(FAMILIES["ne1000"], FAST)
HARVARD = Kit(FAMILIES["harvard"], {"reply_timeout_ms": 60, "retries": 1, "comm_loss_ms": 500, "leg_ms": 1_000})
KITS = [NE1000, HARVARD]


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


class HostilePort(BufferPort):
    """A serial port that answers every write with the next chunk of hostile bytes (fuzzing)."""

    def __init__(self, replies: list[bytes]) -> None:
        self.replies, self.buf = list(replies), b""

    def write(self, data: bytes) -> int:
        if self.replies:
            self.buf += self.replies.pop(0)
        return len(data)


def feed_checked(decoder: Decoder, data: list[bytes], max_pending: int) -> None:
    """Feed ``data`` chunk by chunk: only payloads or typed frame errors come out, and the
    decoder never holds more than ``max_pending`` bytes (the decoders' rules 1 and 2)."""
    for chunk in data:
        for item in decoder.feed(chunk):
            assert isinstance(item, (bytes, FrameError))
            if isinstance(item, FrameError):
                assert item.field and item.allowed and "allowed:" in str(item)
        assert decoder.pending <= max_pending


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
    emu: PtyServer
    driver: HardwareDriver
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
def rig(pump: Firmware | None = None, *, kit: Kit = NE1000, **config: object) -> Iterator[Rig]:
    clock = SimClock()
    with kit.emulator(pump or kit.firmware(), clock=clock.now_ms) as emu:
        driver = kit.driver(emu.port, **config).open(clock.now_ms())
        ctl = CheckedController()
        shell = Shell(ctl, driver, clock)
        shell.step()  # the loop's clock starts now
        try:
            yield Rig(clock, emu, driver, ctl, shell)
        finally:
            shell.shutdown()
        assert emu.crash is None, emu.crash
