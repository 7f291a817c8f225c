"""An NE-1000 pump on a pseudo-terminal, with injectable faults (``pumpctl emulate``, tests).

Theory of operation
-------------------
``EmulatorServer`` is the shared ``PtyServer`` (pty, serving thread, link faults, scheduled
faults) with the NE-1000's framing: it decodes the bytes the host sends in the pump's current
framing (basic or safe), hands each packet to an ``NE1000Firmware``, frames the reply in the
framing the packet came in, and sends the pump's safe-mode auto-alarms unprompted. A safe-mode
packet that fails its CRC or framing is answered ``?COM``.

Faults: those of ``controller.drivers.pty_emulator`` (``Fault``, ``parse_fault``); ``stall`` is
alarm S, ``reset`` alarm R.

Rules
1. A half packet older than the manual's 0.5 s inter-byte time-out is discarded.
2. Everything else is ``PtyServer``'s (one lock, one thread owning the fds, never raises).
"""

from __future__ import annotations

from collections.abc import Callable

from controller.drivers.errors import FrameError
from controller.drivers.ne1000.firmware import NE1000Firmware
from controller.drivers.ne1000.framing import BasicCommandDecoder, SafeDecoder, encode_basic_reply, encode_safe
from controller.drivers.pty_emulator import FAULT_KINDS, Fault, PtyServer, parse_fault, wall_ms

__all__ = ["FAULT_KINDS", "INTERBYTE_MS", "EmulatorServer", "Fault", "parse_fault"]
INTERBYTE_MS = 500  # PROTOCOL['safe.interbyte_timeout']


class EmulatorServer(PtyServer):
    name = "ne1000"
    pump: NE1000Firmware

    def __init__(self, pump: NE1000Firmware | None = None, *, clock: Callable[[], int] = wall_ms, seed: int = 0,
                 faults: tuple[Fault, ...] = ()) -> None:
        super().__init__(pump if pump is not None else NE1000Firmware(now_ms=clock()), clock=clock, seed=seed,
                         faults=faults)
        self._safe, self._basic = SafeDecoder(), BasicCommandDecoder()
        self._last_rx_ms = clock()

    def _reset_link(self) -> None:
        self._safe, self._basic = SafeDecoder(), BasicCommandDecoder()

    def _frame_unsolicited(self, payload: bytes) -> bytes:
        return encode_safe(payload)  # auto-alarms exist in safe mode only

    def _receive(self, chunk: bytes, now_ms: int) -> None:
        if now_ms - self._last_rx_ms > INTERBYTE_MS:  # rule 1
            self._reset_link()
        self._last_rx_ms = now_ms
        safe = self.pump.saf_s > 0
        for item in (self._safe if safe else self._basic).feed(chunk):
            if isinstance(item, FrameError):
                if safe and item.field != "noise":
                    self._send(encode_safe(self.pump.com_error()))
                continue
            self.received += 1
            reply = self.pump.handle(item, now_ms, safe)
            if reply is not None:
                self._send(encode_safe(reply) if safe else encode_basic_reply(reply))
