"""What the runtime raises: one family under ``RuntimeFault`` (REQ-LOG-004).

Theory of operation
-------------------
The runtime (the shell and its persistence) raises on purpose only where going on would be
unsafe. Today that is one case: ``SnapshotWriteError``, a recovery snapshot that could not be
made durable. The log store raises it out of the shell's ``persist`` hook before the cap it was
to protect is sent, and its ``guard`` turns it into a stop (``controller.runtime.logstore``,
rule 3).

Rules
1. Every class here is a ``PumpError`` (``controller.errors``) through ``RuntimeFault``.
"""

from __future__ import annotations

from controller.errors import PumpError


class RuntimeFault(PumpError):
    """Root of what the runtime raises on purpose."""


class SnapshotWriteError(RuntimeFault):
    """A snapshot (the recovery record) could not be made durable: flow must stop (REQ-LOG-004)."""
