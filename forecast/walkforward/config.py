"""The walk-forward settings every backtest runs with, checked once on construction."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

from forecast.checks import check_int
from forecast.evaluation.conformal import IntervalSettings
from forecast.models.base import check_horizon


@dataclass(frozen=True)
class BacktestConfig:
    """Walk-forward settings (validated on construction)."""

    horizons: tuple[int, ...] = (1, 5)
    test_size: int = 250
    refit_every: int = 20
    train_size: int | None = None
    seed: int | None = None
    intervals: IntervalSettings | None = field(default_factory=IntervalSettings)

    def __post_init__(self) -> None:
        check_walk(self)
        if self.intervals is not None and not isinstance(self.intervals, IntervalSettings):
            raise TypeError(
                f"intervals must be IntervalSettings or None; got {type(self.intervals).__name__}"
            )


def check_walk(config: object) -> None:
    """Check the walk's settings of a frozen ``config`` (a :class:`BacktestConfig` or a
    :class:`~forecast.walkforward.volatility_walk.VolatilityConfig`): ``horizons`` (one
    integer or many; stored sorted, without repeats), ``test_size``, ``refit_every``,
    ``train_size`` and ``seed``."""
    horizons = config.horizons
    if isinstance(horizons, numbers.Integral):
        horizons = (horizons,)
    hs = tuple(check_horizon(h, "horizons") for h in horizons)
    if not hs:
        raise ValueError("horizons must hold at least one integer >= 1; got none")
    object.__setattr__(config, "horizons", tuple(sorted(set(hs))))
    check_int(config.test_size, "test_size", 1)
    check_int(config.refit_every, "refit_every", 1)
    if config.train_size is not None:
        check_int(config.train_size, "train_size", 2)
    if config.seed is not None:
        check_int(config.seed, "seed", 0)
