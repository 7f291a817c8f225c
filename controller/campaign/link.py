"""A fault-injecting link between the shell and a pump driver (campaign communication faults).

Theory of operation
-------------------
``FaultyLink`` is a ``PumpDriver`` that wraps another (the simulated plant) and, during the
``LinkWindow``s it is given, breaks the link the way a serial line or a bus does:

- ``refuse``: every ``request`` is answered at once with ``Reply(False, reason)`` (``busy``,
  ``not_connected``, ``device_error`` or ``timeout``, from ``drivers.base.REASONS``); the command
  never reaches the mechanism, which keeps its last command (bounded by the shell's horizon
  cap). The shell treats the refusal as a motor fault and latches FAILSAFE (REQ-DRV-001);
- ``silent``: ``poll`` returns no events and ``measured_vu`` returns None (nothing could be
  read); the device is not read at all, so its sensing catches up at the first poll after the
  window (events are late, not lost). Requests still get through.

Outside the windows every call goes straight to the wrapped driver. Time is the shell's
clock (``now_ms``), so windows open and close exactly where the plan put them. A block of
control periods (``poll_block``, the simulator's skipping mode) goes to the wrapped driver only
up to the period before the next window opens, never into one: inside a window every period is
polled on its own, as the shell would poll it.

Modelling assumption (stated with the figures): ``safe_stop`` always reaches the mechanism,
as a hard-wired motor-enable line independent of the command link would (REQ-DRV-002's
driver-side watchdog is not modelled by the simulator).

Rules
1. Never raises and never blocks: a broken link answers at once (split-phase, REQ-DRV-001).
2. Counts what it did (``refused``, ``silenced_polls``) for the campaign figures.
3. ``observer`` (optional) is called after every call that reached the wrapped driver, so a
   checker can read the plant's physics exactly when it moved (the plant's physics is lazy:
   it catches up at each poll or command).
"""

from __future__ import annotations

from collections.abc import Callable

from controller.campaign.faults import LinkWindow
from controller.core.events import Event
from controller.drivers.base import MotorCommand, PumpDriver, Reply
from controller.drivers.clocks import Clock
from controller.drivers.simblock import CapDuring, Guard


class FaultyLink:
    def __init__(self, inner: PumpDriver, clock: Clock, windows: tuple[LinkWindow, ...],
                 observer: Callable[[], None] | None = None) -> None:
        self.inner = inner
        self.clock = clock
        self.observer = observer
        self.windows = tuple(sorted(windows, key=lambda w: w.start_ms))
        self.refused = 0
        self.silenced_polls = 0

    def _mode(self, now_ms: int) -> LinkWindow | None:
        for w in self.windows:
            if w.start_ms <= now_ms < w.end_ms:
                return w
        return None

    def request(self, cmd: MotorCommand) -> Reply:
        w = self._mode(self.clock.now_ms()) if self.windows else None
        if w is not None and w.mode == "refuse":
            self.refused += 1
            return Reply(False, w.reason, f"link fault injected ({w.reason})")
        reply = self.inner.request(cmd)
        self._observed()
        return reply

    def _observed(self) -> None:
        if self.observer is not None:
            self.observer()

    def poll(self, now_ms: int) -> list[Event]:
        w = self._mode(now_ms) if self.windows else None
        if w is not None and w.mode == "silent":
            self.silenced_polls += 1
            return []
        events = self.inner.poll(now_ms)
        self._observed()
        return events

    def poll_block(self, start_ms: int, period_ms: int, n: int, guard: Guard | None = None,
                   cap_during: CapDuring | None = None) -> tuple[int, list[Event]] | None:
        """The wrapped driver's block, cut before the first period a window touches (None: the next
        period is in a window, or the driver has no blocks)."""
        block = getattr(self.inner, "poll_block", None)
        if block is None:
            return None
        for w in self.windows:  # every poll, request and reading at start + i x period must be outside
            if w.end_ms <= start_ms + period_ms:
                continue
            if w.start_ms <= start_ms + period_ms:
                return None
            n = min(n, (w.start_ms - 1 - start_ms) // period_ms)
        got: tuple[int, list[Event]] | None = block(start_ms, period_ms, n, guard, cap_during)
        if got is not None:
            self._observed()
        return got

    def measured_vu(self) -> int | None:
        w = self._mode(self.clock.now_ms()) if self.windows else None
        if w is not None and w.mode == "silent":
            return None
        return self.inner.measured_vu()

    def safe_stop(self) -> None:
        self.inner.safe_stop()  # the motor-enable line, not the command link (see the docstring)
        self._observed()

    def close(self) -> None:
        self.inner.close()

    def relieve(self, max_vu: int) -> None:
        w = self._mode(self.clock.now_ms()) if self.windows else None
        relieve = getattr(self.inner, "relieve", None)
        if relieve is not None and (w is None or w.mode != "refuse"):
            relieve(max_vu)
            self._observed()
