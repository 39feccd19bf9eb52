"""Progress on stderr: fold by fold in this process, task by task from worker processes.

On a terminal a ``tqdm`` bar; in a log file (stderr not a terminal) one line per finished
unit, never ``\\r`` noise.
"""

from __future__ import annotations

import sys
import time


def fold_progress(total: int, folds: int, show: bool):
    """The bar of an in-process backtest: ``total`` folds, ``folds`` per series and model.

    Returns ``None`` when ``show`` is false; else an object with ``set_description``,
    ``update`` and ``close`` (a tqdm bar, or :class:`LineProgress` for a log file).
    """
    if not show:
        return None
    if not sys.stderr.isatty():
        return LineProgress(total, folds)
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="fold", leave=False, file=sys.stderr)


class LineProgress:
    """Progress for non-interactive stderr: a line each time a model finishes a series."""

    def __init__(self, total: int, folds: int):
        self.total, self.folds, self.done, self.desc = total, folds, 0, ""
        self.t0 = time.perf_counter()

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def update(self, k: int) -> None:
        self.done += k
        if self.done % self.folds == 0:
            label = self.desc.rsplit(" fold", 1)[0]
            _line(self.done, self.total, "fold", self.t0, f"{label} done")

    def close(self) -> None:
        pass


class TaskProgress:
    """Tasks finishing in worker processes: a bar on a terminal, else one line per task."""

    def __init__(self, total: int, unit: str = "task"):
        self.total, self.unit, self.n, self.t0 = total, unit, 0, time.perf_counter()
        self.bar = None
        if sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit=unit, leave=False, file=sys.stderr)

    def done(self, label: str, error: str | None = None) -> None:
        """One task finished (``error``: it failed)."""
        self.n += 1
        status = "failed" if error else "done"
        if self.bar is not None:
            self.bar.set_description(f"{label} {status}")
            self.bar.update(1)
            return
        _line(self.n, self.total, self.unit, self.t0, f"{label} {status}")

    def close(self) -> None:
        """Remove the bar (the lines stay)."""
        if self.bar is not None:
            self.bar.close()


def _line(n: int, total: int, unit: str, t0: float, text: str) -> None:
    """``[n/total units, seconds] text``: one progress line on stderr."""
    elapsed = time.perf_counter() - t0
    print(f"[{n}/{total} {unit}s, {elapsed:.1f}s] {text}", file=sys.stderr, flush=True)
