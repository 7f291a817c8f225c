"""An NE-1000 pump on a pseudo-terminal, with injectable faults (``pumpctl emulate``, tests).

Theory of operation
-------------------
``EmulatorServer`` opens a pty (``os.openpty``), keeps the slave end open in raw mode (so a
client may come and go) and serves the master end from one background thread: it decodes
the bytes the host sends in the pump's current framing (basic or safe), hands each packet to
a ``NE1000Firmware``, frames the reply in the framing the packet came in, and sends it, possibly
late, garbled or not at all. Between packets it keeps the mechanism moving (``advance``)
and sends the pump's auto-alarm packets. Any program that opens ``server.port`` with
pyserial (or a terminal) talks to it as to a pump.

The mechanism runs on the ``clock`` given (ms; the tests share a ``SimClock`` with the shell,
``pumpctl emulate`` uses the wall clock); reply delays are wall time, because they act on
the host's wall-clock reply timeouts.

Faults (``Fault``, also ``--fault`` of ``pumpctl emulate``): ``stall`` (forward motion
blocked: alarm S), ``reset`` (power lost and back: motor stopped, counters cleared, alarm R),
``slip`` (the plunger makes only ARG % of the set speed, default 50, and the counter shows it),
``garble`` (one bit flipped in the next N replies; N=0: every reply), ``drop`` (next N
replies lost; N=0: all), ``slow`` (every reply ARG ms late), ``noise`` (junk bytes before
every reply), ``unplug`` (the cable is pulled: the port dies, the motor keeps going until
the pump itself stops it), ``heal`` (garble, drop, slow, noise, stall and slip end).

Rules
1. All pump state is touched under ``lock``; only the serving thread touches the pty's fds
   (so an unplug can never close a descriptor a ``select`` is waiting on).
2. The thread never raises: a dead port is an unplugged cable, not a crash.
3. ``stop`` ends the thread and closes both ends of the pty; it is idempotent.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from controller.drivers.ne1000.firmware import NE1000Firmware, Truth
from controller.drivers.ne1000.framing import (
    BasicCommandDecoder,
    SafeDecoder,
    encode_basic_reply,
    encode_safe,
)
from controller.drivers.ne1000.protocol import FrameError
from controller.errors import ConfigurationError

FAULT_KINDS = ("stall", "reset", "slip", "garble", "drop", "slow", "noise", "unplug", "heal")
INTERBYTE_MS = 500  # PROTOCOL['safe.interbyte_timeout']


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    at_ms: int = 0  # on the emulator's clock; 0 = at once
    arg: int = 0  # garble/drop: how many replies (0 = all); slow: delay in ms

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ConfigurationError("fault", self.kind, ", ".join(FAULT_KINDS))
        if self.at_ms < 0 or self.arg < 0:
            raise ConfigurationError(f"fault {self.kind}", (self.at_ms, self.arg), "times and counts >= 0")


def parse_fault(spec: str) -> Fault:
    """``KIND[@SECONDS][:ARG]``, e.g. ``stall@10``, ``drop@5:3``, ``slow:800``."""
    head, _, arg = spec.partition(":")
    kind, _, at = head.partition("@")
    try:
        at_ms = round(float(at) * 1_000) if at else 0
        value = int(arg) if arg else (500 if kind == "slow" else 0)
    except ValueError:
        raise ConfigurationError("--fault", spec, "KIND[@SECONDS][:ARG], e.g. stall@10, drop@5:3, slow:800") from None
    return Fault(kind.strip().lower(), at_ms, value)


def _wall_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class EmulatorServer:
    def __init__(self, pump: NE1000Firmware | None = None, *, clock: Callable[[], int] = _wall_ms, seed: int = 0,
                 faults: tuple[Fault, ...] = ()) -> None:
        self.clock = clock
        self.pump = pump if pump is not None else NE1000Firmware(now_ms=clock())
        self.lock = threading.Lock()
        self._rng = random.Random(seed)
        self._scheduled = sorted(faults, key=lambda f: f.at_ms)
        self._master: int | None
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._safe, self._basic = SafeDecoder(), BasicCommandDecoder()
        self._last_rx_ms = clock()
        self._out: list[tuple[float, bytes]] = []  # (wall time due, bytes)
        self.garble, self.drop, self.delay_ms, self.noise = -1, -1, 0, False  # -1: off, 0: every reply
        self.received = 0  # packets handled (for tests)
        self.crash: Exception | None = None
        self._unplug, self._unplugged = False, threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"ne1000-emulator {self.port}", daemon=True)

    # --- life cycle ----------------------------------------------------------------------------
    def start(self) -> EmulatorServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)
        with self.lock:
            self._close_master()
            if self._slave >= 0:
                os.close(self._slave)
                self._slave = -1

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _close_master(self) -> None:
        if self._master is not None:
            os.close(self._master)
            self._master = None

    # --- faults and truth (called from other threads) ------------------------------------------
    def inject(self, fault: Fault) -> None:
        with self.lock:
            self._apply(fault)
        if fault.kind == "unplug" and self._thread.is_alive():
            self._unplugged.wait(timeout=2)  # the serving thread owns the fd and closes it

    def _apply(self, fault: Fault) -> None:
        now = self.clock()
        kind = fault.kind
        if kind == "stall":
            self.pump.inject_stall(now)
        elif kind == "slip":
            self.pump.set_slip(now, Fraction(fault.arg or 50, 100))
        elif kind == "reset":
            self.pump.power_reset(now)
            self._out.clear()
            self._safe, self._basic = SafeDecoder(), BasicCommandDecoder()
        elif kind == "garble":
            self.garble = fault.arg
        elif kind == "drop":
            self.drop = fault.arg
        elif kind == "slow":
            self.delay_ms = fault.arg
        elif kind == "noise":
            self.noise = True
        elif kind == "unplug":
            self.pump.advance(now)
            self._unplug = True
        else:  # heal
            self.garble, self.drop, self.delay_ms, self.noise = -1, -1, 0, False
            self.pump.inject_stall(now, on=False)
            self.pump.set_slip(now, Fraction(1))

    def truth(self) -> Truth:
        with self.lock:
            return self.pump.truth(self.clock())

    def infused_ul(self) -> Fraction:
        return self.truth().infused_ul

    # --- the thread ----------------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._stop.is_set():
            if self._unplug and self._master is not None:
                with self.lock:
                    self._close_master()
                self._unplugged.set()
            fd = self._master
            chunk = b""
            if fd is None:
                self._stop.wait(0.005)
            else:
                try:
                    if select.select([fd], [], [], 0.005)[0]:
                        chunk = os.read(fd, 4_096)
                except (OSError, ValueError):  # rule 2: a closed or hung-up port reads as nothing
                    self._stop.wait(0.005)
            with self.lock:
                try:
                    if chunk:
                        self._receive(chunk)
                    self._tick()
                except Exception as exc:  # rule 2: a bug in the emulator looks like a pulled cable
                    self.crash = exc      # ... and the tests check ``crash`` is None
                    self._unplug = True

    def _receive(self, chunk: bytes) -> None:
        now = self.clock()
        if now - self._last_rx_ms > INTERBYTE_MS:  # a stale half packet is discarded
            self._safe, self._basic = SafeDecoder(), BasicCommandDecoder()
        self._last_rx_ms = now
        safe = self.pump.saf_s > 0
        for item in (self._safe if safe else self._basic).feed(chunk):
            if isinstance(item, FrameError):
                if safe and item.field != "noise":
                    self._send(self.pump.com_error(), safe=True)
                continue
            self.received += 1
            reply = self.pump.handle(item, now, safe)
            if reply is not None:
                self._send(reply, safe)

    def _send(self, payload: bytes, safe: bool) -> None:
        packet = encode_safe(payload) if safe else encode_basic_reply(payload)
        self._out.append((time.monotonic() + self.delay_ms / 1_000, packet))

    def _tick(self) -> None:
        now = self.clock()
        while self._scheduled and self._scheduled[0].at_ms <= now:
            self._apply(self._scheduled.pop(0))
        self.pump.advance(now)
        for payload in self.pump.outbox:
            self._send(payload, safe=True)
        self.pump.outbox.clear()
        wall = time.monotonic()
        while self._out and self._out[0][0] <= wall:
            packet = self._out.pop(0)[1]
            if self.drop >= 0:
                self.drop = -1 if self.drop == 1 else self.drop - (self.drop > 0)
                continue
            if self.garble >= 0:
                self.garble = -1 if self.garble == 1 else self.garble - (self.garble > 0)
                i = self._rng.randrange(len(packet))
                packet = packet[:i] + bytes([packet[i] ^ (1 << self._rng.randrange(8))]) + packet[i + 1:]
            if self.noise:  # junk between packets, after the garbling: a garbled reply stays garbled
                packet = bytes(self._rng.randrange(0x20, 0x7F) for _ in range(3)) + packet
            if self._master is not None:
                with contextlib.suppress(OSError):
                    os.write(self._master, packet)
