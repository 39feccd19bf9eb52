"""Progress on stderr: units done (folds, fits, tickers), time elapsed and time left.

:class:`Progress` counts units in the driver; the work in this process reports to it
directly, and the work in local worker processes through :class:`WorkerReporter`, which
puts each finished unit on the queue its pool gave the worker (see
:mod:`~forecast.execution.process_pool`): a fold done in a worker shows at once, not when its
whole task returns. On Dask no queue reaches the workers, and a task's units count when it
returns.

Where it shows (:func:`progress_wanted`): on a terminal, one line rewritten in place and
refreshed every second, so that it keeps moving through a long fit; elsewhere nothing, unless
asked for (``--progress`` or ``FORECAST_PROGRESS=1``), then one plain line at most every
``interval`` seconds and at the end, never ``\\r`` noise in a log file.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

#: set to 1 to show progress when stderr is not a terminal (0: never)
ENV = "FORECAST_PROGRESS"

#: in a worker process: the queue of its pool (set by the pool's initializer), else None
_worker_events: Any = None


def progress_wanted(flag: bool | None, stream: TextIO | None = None) -> bool:
    """Whether to show progress: ``flag`` when given (``--progress`` / ``--no-progress``),
    else ``FORECAST_PROGRESS`` when set, else whether ``stream`` (stderr) is a terminal."""
    if flag is not None:
        return bool(flag)
    env = os.environ.get(ENV, "").strip().lower()
    if env:
        return env not in ("0", "no", "false", "off")
    stream = stream if stream is not None else sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def format_duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """``total`` units of work, counted as they finish, shown on ``stream``.

    Thread-safe: worker reports arrive on the pool's listener thread. ``set_description``
    and ``update`` make it a drop-in for the fold loop's bar; ``add_total`` grows the total
    when more work turns up (a calibration walk); ``task_done`` settles a task's count when it
    returns (units its worker could not report count then).

    Parameters
    ----------
    total
        Units expected.
    unit
        Their name (``fold``, ``ticker``).
    label
        What is running, first on the line (``backtest``).
    stream
        Where to write (default: stderr at the time of each write).
    tty
        Rewrite one line in place (default: whether ``stream`` is a terminal).
    interval
        Seconds between lines (plain mode) or refreshes (terminal).
    """

    def __init__(
        self,
        total: int,
        unit: str = "fold",
        label: str = "",
        stream: TextIO | None = None,
        tty: bool | None = None,
        interval: float = 1.0,
    ):
        self.total, self.unit, self.label = int(total), unit, label
        self._stream = stream
        self.tty = _isatty(self.stream) if tty is None else tty
        self.interval = interval if self.tty else max(interval, 5.0)
        self.done, self.desc, self.t0 = 0, "", time.perf_counter()
        self._per_task: dict[Hashable, int] = {}  # units reported, per task
        self._extra: dict[Hashable, int] = {}  # units added to the total, per task
        self._finished: set[Hashable] = set()
        self._lock = threading.RLock()
        self._last_line = -1e9
        self._width = 0
        self._closed = threading.Event()
        self._ticker = None
        if self.tty:  # keep the elapsed time moving through a long fit
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    # ---- counting -----------------------------------------------------------------------
    def set_description(self, desc: str) -> None:
        """What is running now (``GSPC lstm fold 3``)."""
        with self._lock:
            self.desc = desc

    def update(self, n: int = 1, key: Hashable | None = None) -> None:
        """``n`` units finished (of task ``key``, when the driver settles tasks)."""
        with self._lock:
            if key is not None:
                if key in self._finished:
                    return  # a worker's late report of a task already settled
                self._per_task[key] = self._per_task.get(key, 0) + n
            self.done += n
            self._show(force=True)

    def add_total(self, n: int, key: Hashable | None = None) -> None:
        """``n`` more units than expected (e.g. the folds of a calibration walk)."""
        with self._lock:
            if key is not None:
                if key in self._finished:
                    return
                self._extra[key] = self._extra.get(key, 0) + n
            self.total += n

    def task_done(self, key: Hashable, units: int, desc: str = "") -> None:
        """Task ``key`` returned: count the ``units`` it had beyond those already reported."""
        with self._lock:
            expected = units + self._extra.get(key, 0)
            missing = max(0, expected - self._per_task.get(key, 0))
            self._finished.add(key)
            self.done += missing
            if desc:
                self.desc = desc
            self._show(force=True)

    def event(self, message: tuple) -> None:
        """A worker's report (see :class:`WorkerReporter`)."""
        kind, key, value = message
        if kind == "update":
            self.update(value, key)
        elif kind == "total":
            self.add_total(value, key)
        elif kind == "desc":
            self.set_description(value)

    @contextmanager
    def aside(self) -> Iterator[None]:
        """Let other lines be printed to stderr: the terminal line is cleared, then redrawn."""
        with self._lock:
            if self.tty and not self._closed.is_set():
                self._write("\r" + " " * self._width + "\r")
                self._width = 0
            try:
                yield
            finally:
                if self.tty:
                    self._show(force=True)

    def close(self) -> None:
        """Stop refreshing; on a terminal the line is cleared, elsewhere a last line stays."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            if self.tty:
                self._write("\r" + " " * self._width + "\r")
            elif self.done:
                self._show(force=True)

    # ---- showing ------------------------------------------------------------------------
    def line(self) -> str:
        """``backtest: 12/40 folds (30%), 42s elapsed, ~1m38s left: GSPC lstm fold 3``."""
        elapsed = time.perf_counter() - self.t0
        total = max(self.total, self.done)
        share = f" ({self.done / total:.0%})" if total else ""
        if 0 < self.done < total:
            left = f", ~{format_duration(elapsed / self.done * (total - self.done))} left"
        elif self.done >= total:
            left = ""
        else:
            left = ", estimating the time left"
        head = f"{self.label}: " if self.label else ""
        tail = f": {self.desc}" if self.desc else ""
        units = f"{self.unit}s" if total != 1 else self.unit
        return (
            f"{head}{self.done}/{total} {units}{share}, {format_duration(elapsed)} elapsed"
            f"{left}{tail}"
        )

    def _show(self, force: bool = False) -> None:
        now = time.perf_counter()
        if self._closed.is_set() or (not force and now - self._last_line < self.interval):
            return
        if not self.tty and now - self._last_line < self.interval and self.done < self.total:
            return  # plain lines: at most one per interval, and the last one
        self._last_line = now
        text = self.line()
        if self.tty:
            columns = _columns()
            text = text[: columns - 1]
            pad = max(0, self._width - len(text))
            self._width = len(text)
            self._write("\r" + text + " " * pad)
        else:
            self._write(text + "\n")

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # stderr closed: not worth an error
            self.stream.write(text)
            self.stream.flush()

    def _tick(self) -> None:
        while not self._closed.wait(self.interval):
            with self._lock:
                self._show(force=True)


class WorkerReporter:
    """The fold loop's bar inside a worker process: sends each unit to the driver.

    Picklable (it travels with the task); a no-op where no queue reaches the worker (in the
    driver itself, on Dask).
    """

    def __init__(self, key: Hashable):
        self.key = key

    def _put(self, kind: str, value: object) -> None:
        if _worker_events is not None:
            # the driver is gone: nothing to report to
            with contextlib.suppress(OSError, ValueError):
                _worker_events.put((kind, self.key, value))

    def set_description(self, desc: str) -> None:
        self._put("desc", desc)

    def update(self, n: int = 1) -> None:
        self._put("update", n)

    def add_total(self, n: int) -> None:
        self._put("total", n)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _columns() -> int:
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 100
