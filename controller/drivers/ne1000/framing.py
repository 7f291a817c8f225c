"""Framing for the NE-1000 protocol: CRC-16, packet encoders and bounded streaming decoders.

Theory of operation
-------------------
Two framings, both defined by ``ne1000_protocol.PROTOCOL``:

- basic: commands are ``<data><CR>``; replies are ``<STX><data><ETX>``;
- safe: both directions are ``<STX><length><data><CRC hi><CRC lo><ETX>`` where ``length``
  counts the bytes after STX (itself included) and the CRC is CRC-16/XMODEM of ``<data>``.

A decoder is fed whatever bytes the port gave (any split, any noise) and returns, in order,
each complete payload (``bytes``) or a ``FrameError`` saying why some bytes were dropped.
After an error it resynchronises on the next STX (or CR), so one bad byte costs one packet.

Rules
1. Bounded memory: a decoder never holds more than one maximal packet (``MAX_PENDING``);
   bytes that cannot start a packet are dropped at once.
2. Only ``bytes`` and ``FrameError`` come out; ``feed`` raises nothing on any input (fuzzed).
3. Encoders refuse what the wire cannot carry (a ``ProtocolError`` naming the field).
"""

from __future__ import annotations

from controller.drivers.errors import FrameError, ProtocolError
from controller.drivers.ne1000.protocol import CR, ETX, MAX_ADDRESS, STX
from controller.drivers.serial_link import BufferedDecoder

SAFE_OVERHEAD = 4  # length byte + CRC (2) + ETX, all counted by the length byte
MAX_SAFE_DATA = 0xFF - SAFE_OVERHEAD
MAX_BASIC_DATA = 96  # longest basic packet we accept before calling it noise
MAX_PENDING = 2 + 0xFF  # STX + the longest safe packet: the most a decoder ever keeps


def crc16(data: bytes) -> int:
    """CRC-16/XMODEM (CCITT polynomial 0x1021, initial value 0, no reflection, no final xor)."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def _printable(data: bytes, field: str, limit: int) -> bytes:
    if len(data) > limit:
        raise ProtocolError(field, data, f"at most {limit} bytes")
    if any(b < 0x20 or b > 0x7E for b in data):
        raise ProtocolError(field, data, "printable ASCII (no control bytes)")
    return data


def command_data(address: int | None, command: str) -> bytes:
    """``[address]command`` as bytes (address None: unaddressed)."""
    if address is not None and not 0 <= address <= MAX_ADDRESS:
        raise ProtocolError("address", address, f"0 to {MAX_ADDRESS}")
    prefix = "" if address is None else str(address)
    try:
        raw = (prefix + command).encode("ascii")
    except UnicodeEncodeError:
        raise ProtocolError("command", command, "ASCII text") from None
    return _printable(raw, "command", MAX_SAFE_DATA)


def encode_basic_command(data: bytes) -> bytes:
    return _printable(data, "command", MAX_BASIC_DATA) + bytes([CR])


def encode_basic_reply(data: bytes) -> bytes:
    return bytes([STX]) + _printable(data, "reply", MAX_BASIC_DATA) + bytes([ETX])


def encode_safe(data: bytes) -> bytes:
    """A safe-mode packet (either direction)."""
    _printable(data, "data", MAX_SAFE_DATA)
    crc = crc16(data)
    return bytes([STX, len(data) + SAFE_OVERHEAD]) + data + bytes([crc >> 8, crc & 0xFF, ETX])


Item = bytes | FrameError


class _Decoder(BufferedDecoder):
    def _noise(self, out: list[Item]) -> bool:
        """Drop (and report) what stands before the next STX; True when something was dropped."""
        start = self._buf.find(STX)
        if start == 0:
            return False
        dropped = bytes(self._buf if start < 0 else self._buf[:start])
        del self._buf[: len(dropped)]
        out.append(FrameError("noise", dropped, "bytes starting with STX (0x02)"))
        return True


class SafeDecoder(_Decoder):
    """Safe-mode packets, either direction."""

    def feed(self, chunk: bytes) -> list[Item]:
        out: list[Item] = []
        self._buf += chunk
        while self._buf:
            if self._noise(out):
                continue
            if len(self._buf) < 2:
                break
            length = self._buf[1]
            if length < SAFE_OVERHEAD:
                del self._buf[:1]
                out.append(FrameError("length", length, f"{SAFE_OVERHEAD} to 255"))
                continue
            if len(self._buf) < 1 + length:
                break
            packet = bytes(self._buf[: 1 + length])
            if packet[-1] != ETX:
                del self._buf[:1]
                out.append(FrameError("ETX", packet[-1], "0x03 at the position the length byte gives"))
                continue
            data, got = packet[2:-3], packet[-3] << 8 | packet[-2]
            if crc16(data) != got:
                del self._buf[:1]
                out.append(FrameError("CRC", f"0x{got:04X}", f"0x{crc16(data):04X} (CRC-16/XMODEM of the data)"))
                continue
            del self._buf[: 1 + length]
            out.append(data)
        return out


class BasicReplyDecoder(_Decoder):
    """Basic-mode replies: ``<STX><printable data><ETX>``."""

    def feed(self, chunk: bytes) -> list[Item]:
        out: list[Item] = []
        self._buf += chunk
        while self._buf:
            if self._noise(out):
                continue
            end = next((i for i in range(1, len(self._buf)) if self._buf[i] < 0x20 or self._buf[i] > 0x7E), -1)
            if end < 0:
                if len(self._buf) > MAX_BASIC_DATA + 1:
                    out.append(FrameError("reply", bytes(self._buf[:16]), f"ETX within {MAX_BASIC_DATA} bytes"))
                    del self._buf[:1]
                    continue
                break
            if self._buf[end] != ETX:  # a control byte inside: the packet was cut or garbled
                out.append(FrameError("reply", bytes(self._buf[: end + 1]), "printable bytes then ETX"))
                del self._buf[: end if self._buf[end] == STX else end + 1]
                continue
            data = bytes(self._buf[1:end])
            del self._buf[: end + 1]
            out.append(data)
        return out


class BasicCommandDecoder(_Decoder):
    """Basic-mode commands as the pump reads them: up to CR, spaces and control bytes
    stripped, upper-cased (so ``0 rat 25.5 mh\\r`` is ``0RAT25.5MH``)."""

    def feed(self, chunk: bytes) -> list[Item]:
        out: list[Item] = []
        for byte in chunk:
            if byte == CR:
                out.append(bytes(self._buf).upper())
                self._buf.clear()
            elif 0x20 < byte < 0x7F:
                if len(self._buf) >= MAX_BASIC_DATA:
                    out.append(FrameError("command", bytes(self._buf[:16]), f"CR within {MAX_BASIC_DATA} bytes"))
                    self._buf.clear()
                self._buf.append(byte)
        return out
