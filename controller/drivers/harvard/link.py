"""One command, one reply: the Harvard Ultra transaction layer over a serial port.

Theory of operation
-------------------
``UltraLink.command`` sends one command line and returns the pump's reply, or raises a
``LinkFault`` saying exactly what went wrong. One exchange is:

1. *drain*: every byte already waiting is decoded and thrown away (with poll mode on nothing
   comes unprompted, so whatever is there is a reply that came too late); a half reply is
   dropped, so a late byte can never be glued to the next reply;
2. *send* ``[addr:]command<CR>``;
3. *read* until one XON-terminated reply from our address parses, or the deadline passes.

``command`` retries timeouts, garbled replies and replies its ``check`` finds implausible for
the command sent, up to ``retries`` times, each after the line has been quiet for one reply
time (so a late reply is thrown away, not taken for the next command's). An error reply
(``Command error``, ``Argument error``, ``Out of range``, ``Unknown command``) is a
``DeviceRefused`` at once: the pump understood and did not carry the command out.

Rules
1. Every wait is bounded: an exchange never takes longer than one reply time of reading, a
   quiet wait never longer than four, and a command never more than ``retries + 1`` exchanges
   and quiet waits (``serial_link.failsafe_bound`` adds them up).
2. Port errors become ``Disconnected`` at once and are never retried (``serial_link``; the faults are
   in ``controller.drivers.errors``).
3. A reply is accepted only if ``check`` finds it plausible for the command sent (there is no
   checksum: the grammar, the shape of each reply and the read-backs are the only defence).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from controller.drivers.errors import DeviceRefused
from controller.drivers.harvard import framing
from controller.drivers.harvard.protocol import STANDING, Prompt, UltraReply, parse_reply
from controller.drivers.serial_link import ByteLink, SerialPort, Verdict

Check = Callable[[UltraReply], str | None]  # None: plausible; else why not


def status_only(r: UltraReply) -> str | None:
    return None if not r.lines else f"unexpected data {r.lines[0][:20]!r} for a set command"


def standing(r: UltraReply) -> str | None:
    return None if not r.lines and r.prompt in STANDING else f"not standing ({r.prompt.value})"


def one_line(r: UltraReply) -> str | None:
    return None if len(r.lines) == 1 else f"{len(r.lines)} data lines, expected 1"


def run_reply(r: UltraReply) -> str | None:
    return None if not r.lines and r.prompt in (Prompt.INFUSING, Prompt.WITHDRAWING, Prompt.STALLED, Prompt.TARGET) \
        else f"run reply {r.prompt.value} with {len(r.lines)} lines"


class UltraLink(ByteLink):
    def __init__(self, port: SerialPort, address: int, reply_timeout_ms: int, retries: int) -> None:
        super().__init__(port, framing.ReplyDecoder(), address, reply_timeout_ms, retries)

    def drain(self) -> None:
        super().drain()
        self.decoder = framing.ReplyDecoder()

    def exchange(self, command: str) -> UltraReply:
        """Steps 1-3 of the module docstring, once."""
        self.drain()
        self.write(framing.encode_command(self.address, command), command)
        self.stats["exchanges"] += 1
        return self.read_reply(command, time.monotonic() + self.timeout_s, parse_reply)
    def command(self, command: str, check: Check = status_only, *, retries: int | None = None) -> UltraReply:
        """One command with retries (module docstring); raises a ``LinkFault``."""

        def judge(reply: UltraReply) -> Verdict:
            if reply.error is not None:
                return DeviceRefused(command, repr(reply.error), out_of_range=reply.error == "Out of range")
            return self.implausible(command, check(reply))

        return self.retrying(command, self.retries if retries is None else retries, self.exchange, judge)
