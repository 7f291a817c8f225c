"""What the event log raises: one family under ``LogError`` (REQ-LOG-004).

Theory of operation
-------------------
Every ``sqlite3.Error`` leaves the log package as one of two typed errors, because a shell
answers them differently:

- ``LogFileError`` (also a ``ConfigurationError``): the file cannot be opened, is unreadable,
  or is not a pumpctl event log. It is bad input, found before anything is written; the message
  names the file, the problem and the format a log must have.
- ``LogWriteError``: an append did not commit, so nothing of it is in the log. The shell raises
  its LOW logging alarm and delivery goes on (REQ-LOG-004).

Rules
1. Every class here is a ``PumpError`` (``controller.errors``) through ``LogError``.
2. ``FORMAT`` is the format name a log carries in its ``meta`` table: ``db`` writes and checks
   it, and ``LogFileError`` names it, so it is defined here, below both.
"""

from __future__ import annotations

from controller.errors import ConfigurationError, PumpError

FORMAT = "pumpctl-eventlog-1"


class LogError(PumpError):
    """Root of what the event log raises on purpose."""


class LogFileError(LogError, ConfigurationError):
    """The file is missing, unreadable, corrupt, or not a pumpctl event log."""

    def __init__(self, path: object, problem: str, fix: str = "") -> None:
        super().__init__("log file", str(path), f"an SQLite event log in format {FORMAT}",
                         f"{problem}{'. ' + fix if fix else ''}")
        self.problem = problem


class LogWriteError(LogError):
    """An append did not commit; nothing of it is in the log (REQ-LOG-004)."""
