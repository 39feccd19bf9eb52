"""Where a plan's series come from, and the length each needs: shared by the price and the
volatility workflows (:mod:`~forecast.workflows.backtest`, :mod:`~forecast.workflows.volatility`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from forecast.data.series import embedded_dir, embedded_tickers
from forecast.errors import ConfigError


class _Plan(Protocol):
    series: tuple[str, ...]
    source: str | None
    embedded_first: bool


def series_sources(plan: _Plan) -> tuple[str, list[tuple[str, Path | None]]]:
    """The prefix of the plan's errors (its file) and each series name with the embedded
    file it is read from (``None``: loaded by name or path).

    With no series, every embedded one; a plan file's own names come from the embedded
    files first when ``embedded_first`` (an absolute path never does).
    """
    names = plan.series or tuple(embedded_tickers())
    where = f"{plan.source}: " if plan.source else ""
    if not names:
        raise ConfigError(
            f"{where}series is empty and no embedded data was found in {embedded_dir()}"
        )
    sources = []
    for name in names:
        embedded = embedded_dir() / f"{name}.csv"
        from_file = not plan.series or (plan.embedded_first and not Path(name).is_absolute())
        sources.append((name, embedded if from_file and embedded.is_file() else None))
    return where, sources


def check_test_size(plan: _Plan, where: str, i: int, name: object, rows: int, test_size: int):
    """A ``ConfigError`` naming series ``i`` of a plan file when its ``rows`` prices leave
    fewer than 2 before the first origin (without a file the engine's own check names it)."""
    if plan.source and rows < test_size + 2:
        label = f"series[{i}]" if plan.series else "the embedded series"
        raise ConfigError(
            f"{where}test_size must leave at least 2 rows before the first origin: {label} "
            f"{name!r} has {rows} prices; got test_size={test_size}"
        )
