"""Framing for the Harvard Ultra command set: command lines out, XON-terminated replies in.

Theory of operation
-------------------
With poll mode on (``PROTOCOL['poll.on']``) every reply ends in one XON byte, which is the only
frame boundary this protocol has: there is no start byte, no length and no checksum. The host's
``ReplyDecoder`` is fed whatever bytes the port gave (any split, any noise) and returns, in
order, each reply (the bytes from its first LF up to the XON, excluded) or a ``FrameError``
saying why bytes were dropped. Bytes before the first LF of a frame are noise; a frame with a
control byte other than LF and CR in it, or longer than ``MAX_REPLY``, is dropped whole.

The pump's side (``CommandDecoder``, used by the emulator) reads command lines up to CR (an LF
is ignored, so CR LF works too) and keeps at most ``MAX_COMMAND`` bytes of one.

Rules
1. Bounded memory: a decoder never holds more than one maximal frame (``MAX_REPLY`` bytes).
2. Only ``bytes`` and ``FrameError`` come out; ``feed`` raises nothing on any input (fuzzed).
3. ``encode_command`` refuses what the wire cannot carry (a ``ProtocolError`` naming the field).
"""

from __future__ import annotations

from controller.drivers.errors import FrameError, ProtocolError
from controller.drivers.harvard.protocol import CR, LF, MAX_ADDRESS, XON
from controller.drivers.serial_link import BufferedDecoder, Item

MAX_REPLY = 512  # a 'metrics' reply is about 20 lines of 40 bytes; nothing the driver reads is near
MAX_COMMAND = 96


def encode_command(address: int, command: str) -> bytes:
    """``[addr:]command<CR>`` (an unaddressed command goes to pump 0)."""
    if not 0 <= address <= MAX_ADDRESS:
        raise ProtocolError("address", address, f"0 to {MAX_ADDRESS}")
    line = command if address == 0 else f"{address}:{command}"
    try:
        raw = line.encode("ascii")
    except UnicodeEncodeError:
        raise ProtocolError("command", command, "ASCII text") from None
    if len(raw) > MAX_COMMAND or any(b < 0x20 or b > 0x7E for b in raw):
        raise ProtocolError("command", command, f"at most {MAX_COMMAND} printable bytes")
    return raw + bytes([CR])


def encode_reply(address: int, lines: list[str], prompt: str, xon: bool = True) -> bytes:
    """The pump's reply: ``<LF><addr><line>`` per data line, then the prompt line (and XON)."""
    body = "".join(f"\n{address:02d}{line}" for line in [*lines, prompt])
    return body.encode("ascii") + (bytes([XON]) if xon else b"")


class ReplyDecoder(BufferedDecoder):
    """Host side: XON-terminated replies."""

    def feed(self, chunk: bytes) -> list[Item]:
        out: list[Item] = []
        for byte in chunk:
            if byte == XON:
                frame, self._buf = bytes(self._buf), bytearray()
                start = frame.find(LF)
                if start != 0:
                    out.append(FrameError("noise", frame if start < 0 else frame[:start], "replies starting with LF"))
                if start < 0:
                    continue
                body = frame[start:]
                if any((b < 0x20 or b > 0x7E) and b not in (LF, CR) for b in body):
                    out.append(FrameError("reply", body[:40], "printable lines, then XON"))
                else:
                    out.append(body)
            elif len(self._buf) >= MAX_REPLY:
                out.append(FrameError("reply", bytes(self._buf[:40]), f"XON within {MAX_REPLY} bytes"))
                self._buf = bytearray([byte])
            else:
                self._buf.append(byte)
        return out


class CommandDecoder(BufferedDecoder):
    """Pump side: command lines up to CR, LF ignored, bounded."""

    def feed(self, chunk: bytes) -> list[Item]:
        out: list[Item] = []
        for byte in chunk:
            if byte == CR:
                out.append(bytes(self._buf))
                self._buf.clear()
            elif byte == LF:
                continue
            elif len(self._buf) >= MAX_COMMAND:
                out.append(FrameError("command", bytes(self._buf[:16]), f"CR within {MAX_COMMAND} bytes"))
                self._buf.clear()
            else:
                self._buf.append(byte)
        return out
