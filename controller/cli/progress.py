"""Progress a person can follow on long work: ``verify``, ``prove``, ``mutate``, ``campaign``, ``bench``.

Theory of operation
-------------------
A command opens a ``Progress`` and hands its ``step`` method to the code doing the work as a
plain callback, ``step(task, done, total, note)`` (``proofs.prove.run``, ``proofs.mutants``,
the bench procedures, the evidence collector take it without knowing this module):
``done == 0`` starts the task, each later call counts one item done, and ``done == total`` ends
it. ``say(text)`` prints a free line (a phase's result), ``wrote(path)`` records a file the
command wrote, ``close()`` ends the display and lists every file written, on stdout.

- On a terminal (stderr is a TTY, ``TERM`` is not ``dumb``, ``rich`` is installed): a live bar
  per running task with done/total, elapsed, the time left estimated from the items done so
  far, and the last note; each task leaves one line behind when it ends.
- Elsewhere (CI, a pipe, a file): plain lines on stderr, one per task start, item and end::

      [    0.0 s] tests: started: pytest -m req in the background
      [   35.2 s] mutants: 3/38 (7 %) M03-off-by-one killed; about 6.5 min left
      [   91.8 s] proofs inductive step: done, took 61 s beside tests, contracts, mutants

The time in brackets is always wall-clock time since the command started. A task's own time
is said with the tasks that ran beside it ("took 640 s beside proofs, tests"), so the times of
parallel phases never read like the steps of a sequence.

Rules
1. Progress goes to stderr; results and the list of files written go to stdout.
2. ``rich`` is imported here only, lazily, and only for a terminal: the runtime never needs it.
3. Thread-safe: a process pool's result thread may count items while the main thread starts
   phases.
4. Plain item lines may be thinned (``every_s``) for tasks with thousands of items; the first
   and last item of a task and its end are always printed.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

Step = Callable[[str, int, int, str], None]


def duration(seconds: float) -> str:
    """A readable duration: 42 s, 6.5 min, 1.2 h."""
    if seconds < 90:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def terminal() -> bool:
    """A live display is wanted and possible: stderr is a terminal and rich is installed."""
    return (sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
            and importlib.util.find_spec("rich") is not None)


@dataclass
class _Task:
    name: str
    total: int
    start: float
    done: int = 0
    end: float | None = None
    bar: Any = None  # the rich task id
    printed: float = -math.inf  # when its last plain item line was printed


class Progress:
    def __init__(self, *, live: bool | None = None, every_s: float = 0.0, show: bool = True) -> None:
        self.t0 = time.perf_counter()
        self.every_s = every_s
        self.show = show
        self.files: list[Path] = []
        self._tasks: dict[str, _Task] = {}
        self._lock = threading.RLock()
        self._bars: Any = None
        if show and (terminal() if live is None else live):
            self._bars = _rich_bars()

    # -- the callback the work reports through ----------------------------------------------

    def step(self, task: str, done: int, total: int, note: str = "") -> None:
        with self._lock:
            if done <= 0:
                self._start(task, total, note)
                return
            t = self._tasks.get(task)
            if t is not None and t.end is not None:  # ended: late reports (work past the target) add nothing
                return
            if t is None:  # an item of a task nobody announced: start it now
                t = self._start(task, total, "", quiet=True)
            t.done, t.total = min(done, total), total
            if total == 1:
                self._finish(t, note)
                return
            self._item(t, note)
            if done >= total:
                self._finish(t, "")

    def say(self, text: str) -> None:
        """A line of its own (a phase's result, a warning), under the same clock."""
        with self._lock:
            self._line(text)

    def wrote(self, *paths: str | Path) -> None:
        with self._lock:
            for p in paths:
                if Path(p) not in self.files:
                    self.files.append(Path(p))

    def stop(self) -> None:
        """End the live display (before a command prints its results on stdout)."""
        with self._lock:
            if self._bars is not None:
                self._bars.stop()
                self._bars = None

    def close(self) -> None:
        """End the display and list every file written."""
        self.stop()
        for p in self.files:
            print(f"wrote      {p}", flush=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()  # also after an error: the terminal comes back in order, the files written are named

    # -- lines ---------------------------------------------------------------------------------

    def _clock(self) -> str:
        return f"[{time.perf_counter() - self.t0:7.1f} s]"

    def _line(self, text: str) -> None:
        if not self.show:
            return
        if self._bars is not None:
            self._bars.console.print(f"{self._clock()} {text}", markup=False, highlight=False)
        else:
            print(f"{self._clock()} {text}", file=sys.stderr, flush=True)

    def _start(self, name: str, total: int, note: str, quiet: bool = False) -> _Task:
        t = _Task(name, max(1, total), time.perf_counter())
        self._tasks[name] = t
        if self._bars is not None:
            t.bar = self._bars.add_task(name, total=t.total, note=_short(note))
        if not quiet and self._bars is None:
            size = f" ({t.total} items)" if t.total > 1 else ""
            self._line(f"{name}: started{size}" + (f": {note}" if note else ""))
        return t

    def _item(self, t: _Task, note: str) -> None:
        now = time.perf_counter()
        if self._bars is not None:
            self._bars.update(t.bar, completed=t.done, note=_short(note))
            return
        if t.done < t.total and now - t.printed < self.every_s:  # the first (printed = -inf) always shows
            return
        t.printed = now
        left = ""
        if t.done < t.total:
            left = f"; about {duration((now - t.start) / t.done * (t.total - t.done))} left"
        self._line(f"{t.name}: {t.done}/{t.total} ({100 * t.done // t.total} %)" + (f" {note}" if note else "")
                   + left)

    def _finish(self, t: _Task, note: str) -> None:
        t.end = time.perf_counter()
        # named by their first word: "beside proofs", not every phase of the proofs in turn
        beside = list(dict.fromkeys(o.name.split(" ")[0].rstrip(",:") for o in self._tasks.values()
                                    if o is not t and o.start < t.end and (o.end is None or o.end > t.start)))
        took = f"took {duration(t.end - t.start)}" + (f" beside {', '.join(beside)}" if beside else "")
        if self._bars is not None:
            self._bars.remove_task(t.bar)
        self._line(f"{t.name}: done, {took}" + (f": {note}" if note else ""))


def _short(note: str, width: int = 60) -> str:
    return note if len(note) <= width else note[:width - 3] + "..."


def _rich_bars() -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bars = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(), TextColumn("{task.fields[note]}"),
                    console=Console(file=sys.stderr), redirect_stdout=False, redirect_stderr=False)
    bars.start()
    return bars
