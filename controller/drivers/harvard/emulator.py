"""A Harvard Pump 11 Elite on a pseudo-terminal, with injectable faults (``pumpctl emulate --model harvard-elite``).

Theory of operation
-------------------
``HarvardEmulator`` is the shared ``PtyServer`` (pty, serving thread, link faults, scheduled
faults) with the Ultra command set's framing: it reads command lines up to CR, hands each to a
``HarvardFirmware`` and sends its reply; with poll mode off it also sends the pump's event
prompts unprompted. Faults: those of ``controller.drivers.pty_emulator``; a ``stall`` shows as
the ``*`` prompt, a ``reset`` clears the counters and the target without any alarm.

Rules
1. A half command line older than ``STALE_MS`` is discarded (assumed: the firmware's own
   line time-out is not documented).
2. Everything else is ``PtyServer``'s (one lock, one thread owning the fds, never raises).
"""

from __future__ import annotations

from collections.abc import Callable

from controller.drivers.harvard.firmware import HarvardFirmware
from controller.drivers.harvard.framing import CommandDecoder
from controller.drivers.pty_emulator import Fault, PtyServer, wall_ms

STALE_MS = 1_000


class HarvardEmulator(PtyServer):
    name = "harvard"
    pump: HarvardFirmware

    def __init__(self, pump: HarvardFirmware | None = None, *, clock: Callable[[], int] = wall_ms, seed: int = 0,
                 faults: tuple[Fault, ...] = ()) -> None:
        super().__init__(pump if pump is not None else HarvardFirmware(now_ms=clock()), clock=clock, seed=seed,
                         faults=faults)
        self._lines = CommandDecoder()
        self._last_rx_ms = clock()

    def _reset_link(self) -> None:
        self._lines = CommandDecoder()

    def _frame_unsolicited(self, payload: bytes) -> bytes:
        return payload  # the firmware already framed it (an event prompt line)

    def _receive(self, chunk: bytes, now_ms: int) -> None:
        if now_ms - self._last_rx_ms > STALE_MS:  # rule 1
            self._reset_link()
        self._last_rx_ms = now_ms
        for item in self._lines.feed(chunk):
            if isinstance(item, bytes):
                self.received += 1
                reply = self.pump.handle(item, now_ms)
                if reply is not None:
                    self._send(reply)
