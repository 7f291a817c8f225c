"""What every serial pump link shares: the bounded byte layer, retries and the serial settings.

Theory of operation
-------------------
A pump driver talks to its pump through a ``SerialPort`` (``serial.Serial`` or a fake). The
byte layer here (``ByteLink``) writes packets, pulls whatever bytes arrived into the model's
streaming decoder, and waits for a quiet line; a model's link (NE-1000 ``Link``, Harvard
``UltraLink``) adds its framing, its reply grammar and its retry rules on top, and raises
a ``LinkFault`` when a command got no usable reply. The wire errors (``ProtocolError``,
``FrameError``, ``ReplyError``) and the link faults are in ``controller.drivers.errors``.

Rules
1. Every wait is bounded: a quiet wait never lasts longer than four reply times.
2. Port errors (``OSError``, which includes pyserial's ``SerialException``) become
   ``Disconnected`` at once and are never retried: an unplugged cable is not a glitch.
3. Decoders only return payloads (``bytes``) and ``FrameError``s; the byte layer keeps them in
   order for the model's reader (``ready``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol, TypeVar

from controller.drivers.errors import Disconnected, FrameError, Garbled, LinkFault, ReplyError, ReplyTimeout
from controller.errors import ConfigurationError


class SerialPort(Protocol):
    """What a link needs from ``serial.Serial`` (a fake port works too)."""

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...

    def close(self) -> None: ...


Item = bytes | FrameError


class Addressed(Protocol):
    @property
    def address(self) -> int: ...


R = TypeVar("R", bound=Addressed)


class Decoder(Protocol):
    @property
    def pending(self) -> int: ...

    def feed(self, chunk: bytes) -> list[Item]: ...


class BufferedDecoder:
    """A byte buffer fed in chunks; ``pending`` is what waits for the rest of a frame."""

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        return len(self._buf)


@dataclass(frozen=True, slots=True)
class Retry:
    """A reply not to take: send the command again (after a quiet line, unless ``quiet`` is off;
    counted against the retry budget unless ``counts`` is off)."""

    why: LinkFault
    quiet: bool = True
    counts: bool = True


Verdict = LinkFault | Retry | None  # raise it / send again / take the reply


@dataclass(frozen=True, slots=True)
class SerialPumpConfig:
    """What a lab sets for any serial syringe pump; a family's config adds its own fields (baud
    rate, its host-silence stop) and validates all of them when built."""

    port: str
    address: int = 0
    diameter_mm: str = "26.59"  # inside diameter; 26.59 mm is a BD 60 mL syringe
    reply_timeout_ms: int = 100
    retries: int = 1
    comm_loss_ms: int = 1_000  # no usable reply for this long -> watchdog event
    relief_ul: int = 20  # largest pressure-relief withdraw; 0 = never withdraw
    relief_rate_ul_h: int = 60_000

    @property
    def diameter(self) -> Fraction:
        return Fraction(self.diameter_mm)


COMMON_RANGES = {"reply_timeout_ms": (5, 5_000), "retries": (0, 5), "comm_loss_ms": (50, 60_000),
                 "relief_ul": (0, 1_000), "relief_rate_ul_h": (1, 1_000_000)}


def check_ranges(config: object, ranges: dict[str, tuple[int, int]]) -> None:
    """Every named field of ``config`` is a whole number within its range (else a
    ``ConfigurationError`` naming the field, the value and the range)."""
    for name, (lo, hi) in ranges.items():
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ConfigurationError(name, value, f"a whole number from {lo} to {hi}")


def check_choice(name: str, value: object, choices: tuple[int, ...]) -> None:
    if value not in choices:
        raise ConfigurationError(name, value, ", ".join(map(str, choices)))


def check_diameter(text: str, low: Fraction, high: Fraction, fits: Callable[[Fraction], bool], digits: str) -> None:
    """A syringe diameter in mm given as text: within [low, high] and exactly a wire number."""
    try:
        d = Fraction(text)
    except (ValueError, ZeroDivisionError, TypeError):
        d = Fraction(-1)
    if not low <= d <= high or not fits(d):
        raise ConfigurationError("diameter_mm", text, f"{float(low):g} to {float(high):g} mm, {digits}")


def stop_bounds(comm_loss_ms: int, period_ms: int, retries: int, reply_timeout_ms: int,
                silence_ms: int) -> tuple[int, int | None]:
    """(controller in FAILSAFE, plunger standing): at most this many ms of wall-clock time after a
    communication fault begins (docs/hardware.md, "Safe-stop bounds"). ``silence_ms`` is the pump's
    own stop after host silence; 0: none, and the motor bound is None (a pump that cannot hear us
    runs on to its volume target, never past the cap)."""
    core = failsafe_bound(comm_loss_ms, period_ms, retries, reply_timeout_ms)
    if not silence_ms:
        return core, None
    return core, max(core + 2 * reply_timeout_ms, silence_ms)


def failsafe_bound(comm_loss_ms: int, period_ms: int, retries: int, reply_timeout_ms: int) -> int:
    """Wall-clock ms from the start of a communication fault to the controller in FAILSAFE: the
    driver's comm-loss time, one control period, and two polls that each wait at most
    (retries + 1) x (exchange of 2 reply times + quiet wait of 4) (docs/hardware.md)."""
    poll = 6 * (retries + 1) * reply_timeout_ms
    return comm_loss_ms + period_ms + 2 * poll


class ByteLink:
    """The byte layer of a link: write, pull into ``decoder``, quiet waits (rules 1-3)."""

    def __init__(self, port: SerialPort, decoder: Decoder, address: int, reply_timeout_ms: int, retries: int) -> None:
        self.port: SerialPort | None = port
        self.decoder = decoder
        self.address = address
        self.retries = retries
        self.timeout_s = reply_timeout_ms / 1_000
        self.ready: list[Item] = []
        self.stats = {"exchanges": 0, "timeouts": 0, "garbled": 0, "noise": 0, "alarms": 0, "unsolicited": 0}
        self.clean = False  # the last command got a usable reply to its first send

    def close(self) -> None:
        port, self.port = self.port, None
        if port is not None:
            with contextlib.suppress(OSError):
                port.close()

    def _port(self, command: str) -> SerialPort:
        if self.port is None:
            raise Disconnected(command, "port is closed")
        return self.port

    def write(self, packet: bytes, command: str = "") -> None:
        try:
            self._port(command).write(packet)
        except OSError as exc:  # rule 2
            self.close()
            raise Disconnected(command, f"write failed: {exc}") from None

    def pull(self, command: str, block: bool) -> None:
        """Decode whatever bytes arrived (``block``: wait up to the port's read timeout for one)."""
        port = self._port(command)
        try:
            waiting = port.in_waiting
            chunk = port.read(waiting) if waiting else (port.read(1) if block else b"")
            if chunk and block:
                chunk += port.read(port.in_waiting) if port.in_waiting else b""
        except OSError as exc:
            self.close()
            raise Disconnected(command, f"read failed: {exc}") from None
        if chunk:
            self.ready += self.decoder.feed(chunk)

    def wait_quiet(self) -> None:
        """Pull bytes until the line has been silent for one reply time (at most four, rule 1)."""
        start = last = time.monotonic()
        while time.monotonic() - last < self.timeout_s and time.monotonic() - start < 4 * self.timeout_s:
            before = len(self.ready)
            self.pull("", block=True)
            if len(self.ready) != before or self.decoder.pending:
                last = time.monotonic()

    def drain(self) -> None:
        """Throw away whatever already arrived (a model may look at it first)."""
        self.pull("", block=False)
        self.stats["unsolicited"] += sum(isinstance(i, bytes) for i in self.ready)
        self.ready.clear()

    def quiet(self) -> None:
        """Discard bytes until the line has been silent for one reply time (at most four)."""
        self.wait_quiet()
        self.drain()

    def read_reply(self, command: str, deadline: float, parse: Callable[[bytes], R]) -> R:
        """The first reply from our address that ``parse`` accepts, before ``deadline``
        (monotonic s): noise is counted and skipped, anything else garbled is ``Garbled``."""
        while True:
            while self.ready:
                item = self.ready.pop(0)
                if isinstance(item, FrameError):
                    if item.field == "noise":
                        self.stats["noise"] += 1
                        continue
                    raise Garbled(command, str(item))
                try:
                    reply = parse(item)
                except ReplyError as exc:
                    raise Garbled(command, str(exc)) from None
                if reply.address == self.address:
                    return reply
            if time.monotonic() >= deadline:
                raise ReplyTimeout(command, f"no reply within {self.timeout_s * 1_000:.0f} ms")
            self.pull(command, block=True)

    def implausible(self, command: str, problem: str | None) -> Verdict:
        """The verdict on a reply a model's ``check`` found ``problem`` with (None: take it)."""
        if problem is None:
            return None
        self.stats["garbled"] += 1
        return Retry(Garbled(command, problem))

    def retrying(self, command: str, budget: int, exchange: Callable[[str], R], judge: Callable[[R], Verdict]) -> R:
        """Send ``command`` until ``judge`` takes a reply, at most ``budget`` times more; timeouts and
        garbled replies are retried after a quiet line (so a late reply is thrown away, not taken
        for the next command's). Raises the last ``LinkFault``."""
        attempt = 0
        last: LinkFault = ReplyTimeout(command, "not sent")
        while attempt <= budget:
            try:
                reply = exchange(command)
            except (ReplyTimeout, Garbled) as fault:
                self.stats["timeouts" if isinstance(fault, ReplyTimeout) else "garbled"] += 1
                last, attempt = fault, attempt + 1
                self.quiet()
                continue
            verdict = judge(reply)
            if verdict is None:
                self.clean = attempt == 0
                return reply
            if isinstance(verdict, LinkFault):
                raise verdict
            if verdict.counts:
                last, attempt = verdict.why, attempt + 1
            if verdict.quiet:
                self.quiet()
        raise last
