"""What a pump driver raises: wire errors and link faults, one family under ``DriverError``.

Theory of operation
-------------------
A serial pump driver can fail in two ways, and each has its own branch:

- ``ProtocolError`` (also a ``ValueError``): bytes or arguments that do not fit a protocol,
  naming the field, the value and what is allowed. ``FrameError``: bytes that are not a packet;
  ``ReplyError``: a packet that is not a valid reply. A parser raises them; a link turns them
  into a retry or a ``Garbled`` fault.
- ``LinkFault``: a command that got no usable reply. Its ``reason`` is the ``base.REASONS``
  code the driver's refusal carries: ``ReplyTimeout`` and ``Garbled`` (``timeout``),
  ``Disconnected`` (``not_connected``: the port is gone, never retried), ``DeviceRefused`` (the
  pump understood the command, answered with an error and did not carry it out:
  ``out_of_range`` or ``device_error``) and ``AlarmRaised`` (the pump answered with an alarm
  instead of executing the command: ``device_error``).

Rules
1. Every class here is a ``PumpError`` (``controller.errors``) through ``DriverError``.
2. ``DeviceRefused`` and ``AlarmRaised`` are the same for every pump model; a model's link
   says in ``answer`` what its pump replied and whether it meant out of range.
3. This module imports nothing of a pump model, so every model's protocol, framing and link
   can use it.
"""

from __future__ import annotations

from enum import Enum

from controller.errors import PumpError


class DriverError(PumpError):
    """Root of what the drivers raise on purpose."""


class ProtocolError(DriverError, ValueError):
    """Bytes or arguments that do not fit the protocol (a field, its value, what is allowed)."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field, self.value, self.allowed = field, value, allowed
        shown = value[:40] if isinstance(value, (bytes, str)) else value
        super().__init__(f"{field} = {shown!r} is not allowed; allowed: {allowed}")


class FrameError(ProtocolError):
    """Bytes that do not form a packet (noise, bad length, bad checksum, missing terminator, overlong)."""


class ReplyError(ProtocolError):
    """A well-framed packet whose content is not a valid reply."""


class LinkFault(DriverError):
    """A command that did not get a usable reply; ``reason`` is one of ``base.REASONS``."""

    reason = "timeout"

    def __init__(self, command: str, detail: str) -> None:
        self.command, self.detail = command, detail
        super().__init__(f"{command or '(status)'}: {detail}")


class ReplyTimeout(LinkFault):
    """No reply from our address within the reply time."""


class Garbled(LinkFault):
    """Replies came, but none was a valid, plausible reply to the command sent."""


class Disconnected(LinkFault):
    """The port failed (unplugged, closed): never retried."""

    reason = "not_connected"


class DeviceRefused(LinkFault):
    """The pump understood the command and answered with an error; it did not carry it out."""

    def __init__(self, command: str, answer: str, *, out_of_range: bool) -> None:
        self.answer = answer  # the pump's error reply, as shown in the message
        self.reason = "out_of_range" if out_of_range else "device_error"
        super().__init__(command, f"pump answered {answer}")


class AlarmRaised(LinkFault):
    """The pump answered with an alarm (which acknowledges it) and did not execute the command."""

    reason = "device_error"

    def __init__(self, command: str, alarm: Enum) -> None:
        self.alarm = alarm  # the model's alarm code (NE-1000: ``protocol.Alarm``)
        super().__init__(command, f"pump alarm {alarm.value} ({alarm.name.lower()}); command not executed")
