"""A pump on a pseudo-terminal, with injectable faults: the server every emulated pump model shares.

Theory of operation
-------------------
``PtyServer`` opens a pty (``os.openpty``), keeps the slave end open in raw mode (so a client
may come and go) and serves the master end from one background thread. A model's subclass
turns received bytes into replies (``_receive``: decode in the pump's framing, hand each command
to its ``Firmware``, ``_send`` the framed reply); this class sends them, possibly late, garbled
or not at all, keeps the mechanism moving between commands (``advance``) and sends whatever
the firmware wants to say unprompted (``outbox``, framed by ``_frame_unsolicited``). Any program
that opens ``server.port`` with pyserial (or a terminal) talks to it as to a pump.

The mechanism runs on the ``clock`` given (ms; the tests share a ``SimClock`` with the shell,
``pumpctl emulate`` uses the wall clock); reply delays are wall time, because they act on the
host's wall-clock reply timeouts.

Faults (``Fault``, also ``--fault`` of ``pumpctl emulate``), the same for every model:
``stall`` (forward motion blocked), ``reset`` (power lost and back: motor stopped, counters
cleared), ``slip`` (the plunger makes only ARG % of the set speed, default 50, and the counter
shows it), ``runaway`` (a failed-on motor stage: ARG % of the set speed, default 200, targets
ignored, starting by itself; a stop still stops it), ``garble`` (one bit flipped in the next N
replies; N=0: every reply), ``drop`` (next N replies lost; N=0: all), ``slow`` (every reply ARG
ms late), ``noise`` (junk bytes before every reply), ``unplug`` (the cable is pulled: the port
dies, the motor keeps going until the pump itself stops it), ``heal`` (every fault but reset
and unplug ends).

Rules
1. All pump state is touched under ``lock``; only the serving thread touches the pty's fds
   (so an unplug can never close a descriptor a ``select`` is waiting on).
2. The thread never raises: a dead port is an unplugged cable, not a crash (``crash`` keeps
   the exception, and the tests check it is None).
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
from typing import Protocol

from controller.drivers.syringe import Truth
from controller.errors import ConfigurationError

FAULT_KINDS = ("stall", "reset", "slip", "runaway", "garble", "drop", "slow", "noise", "unplug", "heal")
DEFAULT_ARG = {"slow": 500, "slip": 50, "runaway": 200}


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    at_ms: int = 0  # on the emulator's clock; 0 = at once
    arg: int = 0  # garble/drop: how many replies (0 = all); slow: delay in ms; slip/runaway: % of set speed

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ConfigurationError("fault", self.kind, ", ".join(FAULT_KINDS))
        if self.at_ms < 0 or self.arg < 0:
            raise ConfigurationError(f"fault {self.kind}", (self.at_ms, self.arg), "times and counts >= 0")


def parse_fault(spec: str) -> Fault:
    """``KIND[@SECONDS][:ARG]``, e.g. ``stall@10``, ``drop@5:3``, ``slow:800``."""
    head, _, arg = spec.partition(":")
    kind, _, at = head.partition("@")
    kind = kind.strip().lower()
    try:
        at_ms = round(float(at) * 1_000) if at else 0
        value = int(arg) if arg else DEFAULT_ARG.get(kind, 0)
    except ValueError:
        raise ConfigurationError("--fault", spec, "KIND[@SECONDS][:ARG], e.g. stall@10, drop@5:3, slow:800") from None
    return Fault(kind, at_ms, value)


class Firmware(Protocol):
    """What the server needs from a simulated pump (no I/O on that side)."""

    outbox: list[bytes]  # payloads the pump sends unprompted, waiting to be framed and sent

    def advance(self, now_ms: int) -> None: ...

    def truth(self, now_ms: int) -> Truth: ...

    def inject_stall(self, now_ms: int, on: bool = True) -> None: ...

    def set_slip(self, now_ms: int, fraction: Fraction) -> None: ...

    def set_runaway(self, now_ms: int, multiple: Fraction | None) -> None: ...

    def power_reset(self, now_ms: int) -> None: ...


def wall_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class PtyServer:
    name = "pump"

    def __init__(self, pump: Firmware, *, clock: Callable[[], int] = wall_ms, seed: int = 0,
                 faults: tuple[Fault, ...] = ()) -> None:
        self.clock = clock
        self.pump = pump
        self.lock = threading.Lock()
        self._rng = random.Random(seed)
        self._scheduled = sorted(faults, key=lambda f: f.at_ms)
        self._master: int | None
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._out: list[tuple[float, bytes]] = []  # (wall time due, bytes)
        self.garble, self.drop, self.delay_ms, self.noise = -1, -1, 0, False  # -1: off, 0: every reply
        self.received = 0  # commands handled (for tests)
        self.crash: Exception | None = None
        self._unplug, self._unplugged = False, threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"{self.name}-emulator {self.port}", daemon=True)

    # --- what a model provides -----------------------------------------------------------------
    def _receive(self, chunk: bytes, now_ms: int) -> None:
        """Decode ``chunk`` in the pump's framing, answer each command with ``_send``."""
        raise NotImplementedError

    def _frame_unsolicited(self, payload: bytes) -> bytes:
        raise NotImplementedError

    def _reset_link(self) -> None:
        """The pump lost power: whatever half command it held is gone."""

    # --- life cycle ----------------------------------------------------------------------------
    def start(self) -> PtyServer:
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

    def __enter__(self) -> PtyServer:
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
        elif kind == "runaway":
            self.pump.set_runaway(now, Fraction(fault.arg or 200, 100))
        elif kind == "reset":
            self.pump.power_reset(now)
            self._out.clear()
            self._reset_link()
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
            self.pump.set_runaway(now, None)

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
                        self._receive(chunk, self.clock())
                    self._tick()
                except Exception as exc:  # rule 2: a bug in the emulator looks like a pulled cable
                    self.crash = exc
                    self._unplug = True

    def _send(self, packet: bytes) -> None:
        """Queue a framed reply (sent when its delay is over, maybe garbled or dropped)."""
        self._out.append((time.monotonic() + self.delay_ms / 1_000, packet))

    def _tick(self) -> None:
        now = self.clock()
        while self._scheduled and self._scheduled[0].at_ms <= now:
            self._apply(self._scheduled.pop(0))
        self.pump.advance(now)
        for payload in self.pump.outbox:
            self._send(self._frame_unsolicited(payload))
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
