"""The cross-sectional backtest: which stocks will beat the others tomorrow?

Every stock of a universe (series on one calendar, :func:`forecast.data.universe.load_universe`)
is forecast one session ahead at every origin by every model, with the engine's walk-forward
(:func:`~forecast.walkforward.engine.backtest`: the per-series models one task per stock, the
global models one task over all stocks, refit on every stock's data up to each refit date).
The forecasts land in the usual long table, so the usual metrics and verdicts apply; on top,
the forecasts are scored as a ranking (:mod:`forecast.evaluation.ranking`: the daily rank IC
with its Newey-West t, a top-k minus bottom-k portfolio after costs) and the pairs of the
run are compared (:mod:`forecast.evaluation.comparisons`: do covariates help, does the
global net beat the per-series net).

Files (next to the run's ``forecasts.csv``, ``metrics.csv`` and ``run.json``):
``rank_ic.csv`` (model, origin: the daily IC), ``ranking.csv`` (the IC summary per model),
``portfolio.csv`` (model, origin, cost: daily returns), ``portfolio_summary.csv``,
``comparisons.csv`` and ``verdicts.csv`` (the random-walk verdicts of issue 14, per stock) and
``pooled.csv``. Any run with pairs writes ``comparisons.csv`` too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from forecast.errors import ConfigError, DataError
from forecast.evaluation.comparisons import PAIR_COLUMNS, compare_pairs
from forecast.evaluation.ranking import (
    IC_COLUMNS,
    IC_SUMMARY_COLUMNS,
    PORTFOLIO_COLUMNS,
    PORTFOLIO_SUMMARY_COLUMNS,
    daily_rank_ic,
    ic_summary,
    portfolio_returns,
    portfolio_summary,
)
from forecast.evaluation.trading import check_costs
from forecast.evaluation.verdicts import evaluate_forecasts
from forecast.walkforward.engine import BacktestResult, backtest
from forecast.walkforward.inputs import named_series

#: the models of ``forecast backtest --cross-section`` when none are named
DEFAULT_MODELS = ("naive", "reversal", "momentum", "global_ridge", "global_lstm")
#: the nets' settings in ``--cross-section`` unless a flag sets them: a global net trains on
#: every stock's windows (15 x 3000 here), so each epoch is 15 per-series epochs' work; the
#: refits start from the previous weights and stop after ``patience`` epochs without a better
#: validation loss (measured: 13 refits of the global LSTM in a few CPU minutes)
NET_DEFAULTS = {"epochs": 20, "warm_start": True}
#: the training window of ``--cross-section`` unless ``--train-size`` sets one: each stock's
#: last 750 sessions (three years), the training period of Fischer and Krauss (2018, "Deep
#: learning with long short-term memory networks for financial market predictions", *European
#: Journal of Operational Research* 270(2), 654-669), whose study periods are 750 training
#: days and 250 trading days
TRAIN_SIZE = 750
#: the files of a cross-sectional run: name -> columns
FILES = {
    "rank_ic.csv": IC_COLUMNS,
    "ranking.csv": IC_SUMMARY_COLUMNS,
    "portfolio.csv": PORTFOLIO_COLUMNS,
    "portfolio_summary.csv": PORTFOLIO_SUMMARY_COLUMNS,
    "comparisons.csv": PAIR_COLUMNS,
}


@dataclass(frozen=True)
class RankingSettings:
    """How the ranking is scored: ``top_k`` stocks long and short, at each cost (bps)."""

    top_k: int = 3
    costs_bps: tuple[float, ...] = (0.0, 5.0, 10.0)

    def __post_init__(self) -> None:
        k = self.top_k
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"top_k must be an integer >= 1; got {k!r}")
        object.__setattr__(self, "costs_bps", check_costs(tuple(self.costs_bps)))


@dataclass
class CrossSection:
    """The cross-sectional scores of a run (see the module docstring for the files)."""

    rank_ic: pd.DataFrame
    ranking: pd.DataFrame
    portfolio: pd.DataFrame
    portfolio_summary: pd.DataFrame
    comparisons: pd.DataFrame
    settings: dict = field(default_factory=dict)


def check_aligned(series: Mapping[str, pd.Series], top_k: int) -> None:
    """Every series on the same dates, and enough of them for a top-k minus bottom-k book."""
    names = list(series)
    if len(names) < 2 * top_k:
        raise ConfigError(
            f"the cross-section needs at least 2 x top_k = {2 * top_k} stocks; got {len(names)}"
        )
    first = series[names[0]].index
    for name in names[1:]:
        if not series[name].index.equals(first):
            raise DataError(
                f"the cross-section needs every stock on the same dates: {name!r} has "
                f"{len(series[name])} ({series[name].index[0]:%Y-%m-%d}.."
                f"{series[name].index[-1]:%Y-%m-%d}), {names[0]!r} {len(first)}; align them "
                "with forecast.load_universe (align='common')"
            )


def score_cross_section(forecasts: pd.DataFrame, settings: RankingSettings) -> CrossSection:
    """The ranking scores and the pair comparisons of a run's forecasts table."""
    ic = daily_rank_ic(forecasts, 1)
    returns = portfolio_returns(forecasts, settings.top_k, settings.costs_bps)
    return CrossSection(
        rank_ic=ic,
        ranking=ic_summary(ic),
        portfolio=returns,
        portfolio_summary=portfolio_summary(returns, settings.top_k),
        comparisons=compare_pairs(forecasts),
        settings=asdict(settings),
    )


def cross_section_backtest(
    series: Mapping[str, pd.Series] | Sequence[pd.Series],
    models: Sequence[str] | Mapping = DEFAULT_MODELS,
    *,
    test_size: int = 250,
    refit_every: int = 20,
    train_size: int | None = None,
    covariates: Mapping[str, pd.DataFrame] | None = None,
    settings: RankingSettings | None = None,
    seed: int | None = 0,
    progress: bool = False,
    jobs: int | None = None,
    executor: object | None = None,
) -> tuple[BacktestResult, CrossSection]:
    """Forecast every stock one session ahead at each origin; score the ranking.

    Parameters
    ----------
    series
        The universe's price series, all on the same dates.
    models
        Registry names (``+x`` for covariates) or instances; the random walk is added.
    test_size, refit_every, train_size, seed, progress, jobs, executor
        As :func:`~forecast.walkforward.engine.backtest` (horizon 1, no intervals).
    covariates
        Per-stock past covariates (for the ``+x`` models).
    settings
        ``top_k`` and the costs of the long-short book.

    Returns
    -------
    (BacktestResult, CrossSection)
    """
    settings = settings or RankingSettings()
    named = named_series(series)
    check_aligned(named, settings.top_k)
    result = backtest(
        named, models, horizons=(1,), test_size=test_size, refit_every=refit_every,
        train_size=train_size, seed=seed, progress=progress, jobs=jobs, executor=executor,
        intervals=None, covariates=covariates,
    )  # fmt: skip
    result.config["cross_section"] = asdict(settings)
    return result, score_cross_section(result.forecasts, settings)


def write_cross_section(scores: CrossSection, out: str | os.PathLike) -> list[Path]:
    """Write the cross-sectional files into the run folder ``out``; returns their paths."""
    out = Path(out)
    paths = []
    for name, frame in _tables(scores).items():
        path = out / name
        frame.to_csv(path, index=False, date_format="%Y-%m-%d")
        paths.append(path)
    path = out / "cross_section.json"
    path.write_text(json.dumps(scores.settings, indent=2) + "\n")
    return [*paths, path]


def read_cross_section(path: str | os.PathLike) -> CrossSection | None:
    """The cross-sectional files of a run folder, or ``None`` when it has none."""
    path = Path(path)
    if not (path / "ranking.csv").is_file():
        return None
    tables = {}
    for name, columns in FILES.items():
        file = path / name
        if not file.is_file():
            raise DataError(f"{file}: missing (a cross-sectional run writes it)")
        frame = pd.read_csv(file, dtype={"model": str, "series": str, "base": str,
                                         "challenger": str})  # fmt: skip
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(f"{file}: missing columns {missing}")
        tables[name] = frame
    settings_file = path / "cross_section.json"
    settings = json.loads(settings_file.read_text()) if settings_file.is_file() else {}
    return CrossSection(
        tables["rank_ic.csv"], tables["ranking.csv"], tables["portfolio.csv"],
        tables["portfolio_summary.csv"], tables["comparisons.csv"], settings,
    )  # fmt: skip


def _tables(scores: CrossSection) -> dict[str, pd.DataFrame]:
    return {
        "rank_ic.csv": scores.rank_ic,
        "ranking.csv": scores.ranking,
        "portfolio.csv": scores.portfolio,
        "portfolio_summary.csv": scores.portfolio_summary,
        "comparisons.csv": scores.comparisons,
    }


def random_walk_verdicts(forecasts: pd.DataFrame, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Issue 14's verdicts against the random walk (per stock and pooled), as tables."""
    found = evaluate_forecasts(forecasts, seed=seed)
    return {"verdicts.csv": found.verdicts, "pooled.csv": found.pooled,
            "verdict_models.csv": found.models}  # fmt: skip
