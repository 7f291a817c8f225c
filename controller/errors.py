"""Error types. Refusals at run time are not exceptions (see core.Step); these are for
load-time problems (bad limits, programs, drug libraries, scenarios, tables) and for
internal faults that latch the controller into FAILSAFE.

Rules
1. ``PumpError`` is the root of everything this package raises on purpose.
2. ``ConfigurationError`` names the field, the offending value and the allowed range,
   and says how to fix it; it is also a ``ValueError`` so generic callers can catch it.
3. Messages are written for the person who has to fix the input, not for the developer.
"""

from __future__ import annotations


class PumpError(Exception):
    """Root of all errors raised by the controller package."""


class ConfigurationError(PumpError, ValueError):
    """Bad input at load time: a field's value is outside what is allowed."""

    def __init__(self, field: str, value: object, allowed: str, fix: str = "", source: str = "") -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        self.fix = fix
        self.source = source
        where = f"{source}: " if source else ""
        msg = f"{where}{field} = {value!r} is not allowed; allowed: {allowed}"
        if fix:
            msg += f". {fix}"
        super().__init__(msg)


class TableError(ConfigurationError):
    """The transition table itself is malformed (found by the import-time checks)."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__("transition table", problem, "a well-formed table", fix)


class ControllerFault(PumpError):
    """An internal fault inside the core; the controller latches FAILSAFE when it sees one."""
