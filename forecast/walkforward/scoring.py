"""The run-level statistics: verdicts that survive testing many models, and economic value.

Computed once per run, after the metrics, from the long forecasts table alone (no refit):

- **verdicts** (:func:`forecast.evaluation.verdicts.evaluate_forecasts`): per (series, model,
  horizon) R²_OS, Clark-West and the MCS p-value, merged into the metrics; per (series,
  horizon) the SPA p-value, StepM's and the MCS's sets and the headline claim (Clark-West,
  Holm over the models, R²_OS > 0); and the pooled answer for the whole run (Holm over every
  (series, model, horizon)). Level ``alpha``, seed the run's (0 when it has none), 1000
  bootstrap replications, MCS at 10%.
- **economic value** (:func:`forecast.evaluation.economics.evaluate_economics`): every
  (series, model, horizon, rule) traded at each cost level, net Sharpe ratio, drawdown,
  turnover, the deflated Sharpe ratio and the PBO. The volatility-targeted rule needs a
  volatility forecast per row, taken from, in this order: the forecasts' ``sigma`` column
  (a volatility model's forecast made at the origin), else the run's chosen prediction
  interval read as a normal one (:func:`~forecast.evaluation.trading.sigma_from_interval`:
  calibrated on past errors only, so known at the origin), else none (the rule is skipped).

What was run and how long it took goes into :attr:`RunScores.statistics` (``run.json``).
The statistics modules are imported when first used: the evening job and the workers import
the engine's room but never run them (``arch`` alone takes about a second to import).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from forecast.evaluation.metrics import METRIC_COLUMNS, VERDICT_METRIC_COLUMNS

#: the verdicts' settings that are not the run's (issue 14): MCS size and bootstrap replications
MCS_SIZE = 0.10
REPS = 1000
#: the ``sigma`` column a volatility model adds to the forecasts (issue 15)
SIGMA_COLUMN = "sigma"
#: the column the interval-implied volatility forecast gets (never written to forecasts.csv)
INTERVAL_SIGMA = "sigma_from_interval"
_KEYS = ["series", "model", "horizon"]
_KEY_TYPES = {"series": str, "model": str, "horizon": int, "rule": str, "cost_bps": float}


@dataclass(frozen=True)
class RunScores:
    """What :func:`score_run` computed (see the module docstring).

    Attributes
    ----------
    metrics
        The metrics with ``r2_os, cw_stat, cw_pvalue, mcs_pvalue, in_mcs`` filled.
    verdicts, pooled_verdict
        :data:`~forecast.evaluation.verdicts.VERDICT_COLUMNS` and
        :data:`~forecast.evaluation.verdicts.POOLED_COLUMNS`.
    economics, economics_summary, equity_curves
        :data:`~forecast.evaluation.economics.ECONOMIC_COLUMNS`, ``SUMMARY_COLUMNS`` and
        ``EQUITY_COLUMNS`` (per cost level and series: the best configuration and
        buy-and-hold on the same days); ``None`` when the economics are off.
    statistics
        The settings used and the seconds each part took (``run.json``'s ``statistics``).
    """

    metrics: pd.DataFrame
    verdicts: pd.DataFrame
    pooled_verdict: pd.DataFrame
    economics: pd.DataFrame | None
    economics_summary: pd.DataFrame | None
    equity_curves: pd.DataFrame | None
    statistics: dict


def score_run(
    forecasts: pd.DataFrame,
    metrics: pd.DataFrame,
    *,
    alpha: float = 0.05,
    seed: int = 0,
    economics: object = None,
    level: float | None = None,
) -> RunScores:
    """The verdict statistics and the economic value of a run's forecasts.

    Parameters
    ----------
    forecasts
        The long forecasts table of the run.
    metrics
        Its metrics (:func:`forecast.evaluation.metrics.compute_metrics`).
    alpha
        Level of the verdicts' claims, of StepM and of the pooled answer.
    seed
        Base seed of the bootstrap (each series and horizon derives its own from it).
    economics
        An :class:`~forecast.evaluation.economics.EconomicSettings`, or ``None`` to skip.
    level
        The nominal level of the ``lower, upper`` interval (``None``: the run has none).

    Returns
    -------
    RunScores
    """
    from forecast.evaluation.verdicts import evaluate_forecasts

    t0 = time.perf_counter()
    found = evaluate_forecasts(forecasts, alpha=alpha, mcs_size=MCS_SIZE, reps=REPS, seed=seed)
    merged = metrics.drop(columns=VERDICT_METRIC_COLUMNS, errors="ignore").merge(
        found.models, on=_KEYS, how="left"
    )
    merged = merged[[c for c in METRIC_COLUMNS if c in merged] + _extra(merged)]
    merged["in_mcs"] = merged["in_mcs"].astype("boolean")
    statistics: dict = {
        "verdicts": {
            "alpha": float(alpha),
            "mcs_size": MCS_SIZE,
            "reps": REPS,
            "seed": int(seed),
            "seconds": round(time.perf_counter() - t0, 3),
        },
        "economics": None,
    }
    table = summary = equity = None
    if economics is not None:
        t1 = time.perf_counter()
        table, summary, equity, settings = _economics(forecasts, economics, level)
        statistics["economics"] = settings | {"seconds": round(time.perf_counter() - t1, 3)}
    return RunScores(merged, found.verdicts, found.pooled, table, summary, equity, statistics)


def _extra(frame: pd.DataFrame) -> list[str]:
    """Columns another part of the code added to the metrics, kept after ours."""
    return [c for c in frame.columns if c not in METRIC_COLUMNS]


def _economics(forecasts: pd.DataFrame, settings, level: float | None):
    """The table, summary, equity curves and the settings as run.json records them."""
    from forecast.evaluation.economics import evaluate_economics

    fc, column, source = volatility_forecast(forecasts, settings.sigma_column, level)
    chosen = replace(settings, sigma_column=column)
    # a forecast that is missing or not a positive price is no signal: that book holds cash
    f = pd.to_numeric(fc["forecast"], errors="coerce").to_numpy(float)
    fc = fc[np.isfinite(f) & (f > 0)]
    found = evaluate_economics(fc, chosen)
    recorded = asdict(chosen) | {"costs_bps": list(chosen.costs_bps), "rules": list(chosen.rules)}
    recorded["sigma_source"] = source
    return found.table, found.summary, best_curves(found.table, found.returns), recorded


def volatility_forecast(
    forecasts: pd.DataFrame, sigma_column: str | None, level: float | None
) -> tuple[pd.DataFrame, str | None, str]:
    """The forecasts with a volatility column for the volatility-targeted rule, if any.

    Returns the table (with :data:`INTERVAL_SIGMA` added when it is derived), the column's
    name (``None``: no volatility forecast, the rule is skipped) and where it came from:
    ``"column"`` (``sigma_column`` with at least one finite value), ``"interval"`` (the
    chosen interval at ``level``) or ``"none"``.
    """
    if sigma_column is None:
        return forecasts, None, "none"
    if sigma_column in forecasts:
        values = pd.to_numeric(forecasts[sigma_column], errors="coerce").to_numpy(float)
        if np.isfinite(values).any():
            return forecasts, sigma_column, "column"
    bounds = {"lower", "upper"} <= set(forecasts.columns)
    if level is None or not bounds or not forecasts["lower"].notna().any():
        return forecasts, None, "none"
    from forecast.evaluation.trading import sigma_from_interval

    out = forecasts.assign(**{INTERVAL_SIGMA: sigma_from_interval(forecasts, level)})
    return out, INTERVAL_SIGMA, "interval"


def best_curves(table: pd.DataFrame, returns: pd.DataFrame) -> pd.DataFrame:
    """Per cost level and series: the equity curve of the configuration with the highest net
    Sharpe ratio and of buy-and-hold on the same horizon's days (``EQUITY_COLUMNS``)."""
    from forecast.evaluation.economics import EQUITY_COLUMNS, equity_curves
    from forecast.evaluation.trading import BUY_AND_HOLD

    ranked = table[np.isfinite(table["sharpe"].astype(float))]
    if not len(ranked) or not len(returns):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in EQUITY_COLUMNS})
    best = ranked.loc[ranked.groupby(["cost_bps", "series"])["sharpe"].idxmax()]
    bh = best.assign(model=BUY_AND_HOLD, rule=BUY_AND_HOLD)
    cols = ["series", "model", "horizon", "rule", "cost_bps"]
    wanted = pd.MultiIndex.from_frame(pd.concat([best[cols], bh[cols]]).astype(_KEY_TYPES))
    have = pd.MultiIndex.from_frame(returns[cols].astype(_KEY_TYPES))
    picked = returns[have.isin(wanted)]
    out = equity_curves(picked)
    for col in ("series", "model", "rule"):
        out[col] = out[col].astype(str)
    return out.reset_index(drop=True)
