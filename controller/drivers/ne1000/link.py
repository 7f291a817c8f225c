"""One command, one reply: the NE-1000 transaction layer over a serial port.

Theory of operation
-------------------
``Link.command`` sends one command and returns the pump's reply, or raises a ``LinkFault``
saying exactly what went wrong. One exchange is:

1. *drain*: every byte already waiting is decoded; complete packets are unsolicited
   (safe-mode auto-alarms, or a reply that came too late) and only their alarms are kept;
   a half packet is dropped, so a late byte can never be glued to the next reply;
2. *send* the command in the current framing (basic or safe);
3. *read* until one packet from our address decodes, or the deadline passes. In safe mode
   an alarm packet may be an auto-alarm sent just before the reply, so a second packet is
   awaited briefly and, if it comes, it is the reply.

``command`` retries timeouts, garbled or implausible replies and ``?COM`` up to ``retries``
times, each time after the line has been quiet for one reply time (so a late reply is thrown
away, not taken for the next command's); an alarm reply acknowledges the alarm (the pump
did not execute the command), is reported through ``on_alarm`` and the command is sent again
only if the caller says so.

Rules
1. Every wait is bounded: an exchange never takes longer than ``2 x reply_timeout``, a quiet
   wait never longer than ``4 x reply_timeout``, and a command never more than
   ``(retries + 1)`` exchanges and quiet waits (plus two alarm re-sends).
2. Port errors become ``Disconnected`` at once and are never retried (the shared byte layer,
   ``controller.drivers.serial_link``; the faults are in ``controller.drivers.errors``).
3. A reply is accepted only if ``check`` finds it plausible for the command sent, so a late
   reply to an earlier command is retried, not believed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum

from controller.drivers.errors import AlarmRaised, DeviceRefused, Garbled, ReplyError, ReplyTimeout
from controller.drivers.ne1000 import framing
from controller.drivers.ne1000.protocol import Alarm, ErrorCode, Prompt, PumpReply, parse_reply
from controller.drivers.serial_link import ByteLink, Retry, SerialPort, Verdict

__all__ = ["Link", "ProtocolMode", "SerialPort"]


class ProtocolMode(Enum):
    """The NE-1000 communication mode: basic ASCII or the safe (checksummed, watchdogged) protocol."""

    BASIC = "basic"
    SAFE = "safe"


Check = Callable[[PumpReply], str | None]  # None: plausible; else why not


def status_only(r: PumpReply) -> str | None:
    return None if r.data == "" else f"unexpected data {r.data[:20]!r} for a set command"


def stp_reply(r: PumpReply) -> str | None:
    return None if r.data == "" and r.prompt in (Prompt.PAUSED, Prompt.STOPPED) else "STP reply not P/S"


def run_reply(r: PumpReply) -> str | None:
    ok = (Prompt.INFUSING, Prompt.WITHDRAWING, Prompt.STOPPED)
    return None if r.data == "" and r.prompt in ok else "RUN reply not I/W/S"


class Link(ByteLink):
    def __init__(self, port: SerialPort, address: int, reply_timeout_ms: int, retries: int,
                 on_alarm: Callable[[Alarm], None]) -> None:
        super().__init__(port, framing.BasicReplyDecoder(), address, reply_timeout_ms, retries)
        self.on_alarm = on_alarm
        self.mode = ProtocolMode.BASIC

    def _fresh_decoder(self) -> framing.SafeDecoder | framing.BasicReplyDecoder:
        return framing.SafeDecoder() if self.mode is ProtocolMode.SAFE else framing.BasicReplyDecoder()

    def set_mode(self, mode: ProtocolMode) -> None:
        self.mode = mode
        self.decoder = self._fresh_decoder()
        self.ready.clear()

    def drain(self) -> None:
        self.pull("", block=False)
        for item in self.ready:
            if isinstance(item, bytes):
                try:
                    reply = parse_reply(item)
                except ReplyError:
                    continue
                self.stats["unsolicited"] += 1
                if reply.alarm is not None and reply.address == self.address:
                    self.on_alarm(reply.alarm)
        self.ready.clear()
        self.decoder = self._fresh_decoder()

    def exchange(self, command: str) -> PumpReply:
        """Steps 1-3 of the module docstring, once."""
        self.drain()
        data = framing.command_data(self.address, command)
        packet = framing.encode_safe(data) if self.mode is ProtocolMode.SAFE else framing.encode_basic_command(data)
        self.write(packet, command)
        self.stats["exchanges"] += 1
        reply = self.read_reply(command, time.monotonic() + self.timeout_s, parse_reply)
        if reply.alarm is not None and self.mode is ProtocolMode.SAFE:
            self.on_alarm(reply.alarm)  # auto-alarm or reply: either way the pump has this alarm
            try:
                return self.read_reply(command, time.monotonic() + self.timeout_s, parse_reply)
            except ReplyTimeout:
                return reply
        return reply

    def command(self, command: str, check: Check = status_only, *, resend_after_alarm: bool = True,
                retries: int | None = None) -> PumpReply:
        """One command with retries (module docstring); raises a ``LinkFault``."""
        alarms = 0

        def judge(reply: PumpReply) -> Verdict:
            nonlocal alarms
            if reply.alarm is not None:
                self.stats["alarms"] += 1
                self.on_alarm(reply.alarm)
                if not resend_after_alarm or alarms >= 2:
                    return AlarmRaised(command, reply.alarm)
                alarms += 1  # the alarm is acknowledged now: send again, not counted as a retry
                return Retry(AlarmRaised(command, reply.alarm), quiet=False, counts=False)
            if reply.error is ErrorCode.COMMUNICATION:
                return Retry(Garbled(command, "pump answered ?COM (it got a corrupted packet)"), quiet=False)
            if reply.error is not None:
                return DeviceRefused(command, f"?{reply.error.value} ({reply.error.name.lower()})",
                                     out_of_range=reply.error is ErrorCode.OUT_OF_RANGE)
            return self.implausible(command, check(reply))

        return self.retrying(command, self.retries if retries is None else retries, self.exchange, judge)
