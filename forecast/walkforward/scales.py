"""Volatility scales of the conformal intervals: ``sigma(origin, h)`` from prices up to the origin.

A scaled conformal interval (:mod:`forecast.evaluation.conformal`) divides each past error
by the volatility forecast made at its origin. Per series, and once for every model of the
run, this module computes that forecast at every origin of the walk (the calibration
origins before the test period included): the standard deviation of the ``h``-day log
return, ``sigma(o, h) = sqrt(v_1 + ... + v_h)``, ``v_k`` the forecast variance of day ``k``
after ``o`` (:meth:`~forecast.models.volatility.base.BaseVolatilityModel.forecast_volatility`).

``ewma``
    RiskMetrics' exponentially weighted average of squared returns, ``lambda = 0.94``
    (:class:`~forecast.models.volatility.baselines.EWMAVolatility`): nothing to estimate.
``garch``
    GARCH(1,1) with Student-t errors fitted by ``arch``
    (:class:`~forecast.models.volatility.garch.GARCHVolatility`), refit on the walk's cadence
    (at the first origin and every ``refit_every`` origins after, on the prices up to that
    origin, the last ``train_size`` of them), its variance recursion run between refits on
    the prices up to each origin with the fitted parameters.

No look-ahead by construction: the forecasts of a fold come from
``forecast_volatility(y[:last origin + 1], origins + 1, h)``, whose row ``i`` reads only
``y[:origins[i] + 1]`` (the volatility models' contract, tested there), and the fit of a
fold sees the prices up to its first origin. Where a model cannot forecast yet (too little
history for a first fit) ``sigma`` is NaN and the scaled intervals there are empty. A refit
that fails (``arch`` does not converge) keeps the previous fit and is reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast.models.registry import get_volatility_model
from forecast.models.volatility.base import BaseVolatilityModel
from forecast.walkforward.config import BacktestConfig

#: sessions of the trailing median of the live volatility regime (:func:`volatility_at`)
REGIME_WINDOW = 250
#: fewest earlier sessions the regime is judged against
MIN_REGIME_SESSIONS = 20
#: the volatility model of each scale and its parameters (named here, so a run records them)
SCALE_MODELS: dict[str, tuple[str, dict]] = {
    "ewma": ("ewma", {"decay": 0.94}),
    "garch": ("garch", {"dist": "t"}),
}


def scale_model(scale: str) -> BaseVolatilityModel:
    """A new, unfitted volatility model of ``scale`` (``ewma`` or ``garch``)."""
    if scale not in SCALE_MODELS:
        raise ValueError(f"scale must be one of {', '.join(SCALE_MODELS)}; got {scale!r}")
    name, params = SCALE_MODELS[scale]
    return get_volatility_model(name, **params)


@dataclass
class SeriesScales:
    """``sigma(origin, h)`` of one series for every scale of a run.

    Attributes
    ----------
    first
        Position (row in the price series) of the first origin covered.
    sigma
        Per scale, an array ``(n_origins, max_horizon)``: row ``i`` is the origin at
        position ``first + i``, column ``h - 1`` its ``h``-day sigma (NaN: none).
    failures
        Failed refits, as rows of a backtest's failures table.
    seconds
        Time spent fitting and forecasting.
    """

    first: int
    sigma: dict[str, np.ndarray] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def lookup(self, scale: str, positions: np.ndarray, horizons: np.ndarray) -> np.ndarray:
        """``sigma`` of ``scale`` at each (origin position, horizon); NaN outside the table."""
        table = self.sigma[scale]
        rows = np.asarray(positions, dtype=np.int64) - self.first
        cols = np.asarray(horizons, dtype=np.int64) - 1
        ok = (rows >= 0) & (rows < table.shape[0]) & (cols >= 0) & (cols < table.shape[1])
        out = np.full(len(rows), np.nan)
        out[ok] = table[rows[ok], cols[ok]]
        return out


def scale_origins(n: int, config: BacktestConfig) -> np.ndarray:
    """Positions of every origin a run may forecast from: calibration and test."""
    first = n - config.test_size - 1
    size = config.intervals.calibration_size if config.intervals is not None else 0
    return np.arange(max(1, first - size), n - 1)


def series_scales(name: str, series: pd.Series, config: BacktestConfig) -> SeriesScales:
    """``sigma(origin, h)`` of every scale of ``config.intervals`` at every origin of a run.

    The unit of work the engine runs once per series, before that series' model tasks.
    """
    t0 = time.perf_counter()
    origins = scale_origins(len(series), config)
    out = SeriesScales(int(origins[0]) if len(origins) else 0)
    scales = config.intervals.scales if config.intervals is not None else ()
    for scale in scales:
        sigma, failed = sigma_path(
            scale, series, origins, max(config.horizons), config.refit_every, config.train_size
        )
        out.sigma[scale] = sigma
        out.failures += [
            {"series": name, "model": f"{scale} (interval scale)", "origin": day,
             "stage": "volatility", "error": error}
            for day, error in failed
        ]  # fmt: skip
    out.seconds = time.perf_counter() - t0
    return out


def sigma_path(
    scale: str,
    series: pd.Series,
    origins: np.ndarray,
    horizon: int,
    refit_every: int,
    train_size: int | None = None,
) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """``sigma(o, h)`` for ``h = 1..horizon`` at each origin position ``o`` (ascending).

    The model of ``scale`` is fit at ``origins[0]`` and every ``refit_every`` origins after
    on the prices up to that origin (the last ``train_size``); see the module docstring.

    Returns
    -------
    (sigma, failures)
        ``sigma`` of shape ``(len(origins), horizon)``, NaN where the model could not
        forecast; ``failures`` as ``(date of the fold's first origin, error)``.
    """
    origins = np.asarray(origins, dtype=np.int64)
    y = np.log(series.to_numpy(dtype=float))
    out = np.full((len(origins), horizon), np.nan)
    failures: list[tuple[str, str]] = []
    model = scale_model(scale)
    fitted = False
    for start in range(0, len(origins), refit_every):
        fold = origins[start : start + refit_every]
        first = int(fold[0])
        lo = 0 if train_size is None else max(0, first + 1 - train_size)
        if first + 1 - lo >= model.min_train_size():  # too little history: wait, no error
            try:
                model.fit(series.iloc[lo : first + 1])
                fitted = True
            except Exception as exc:  # the previous fit (if any) goes on forecasting
                failures.append((_day(series.index[first]), f"{type(exc).__name__}: {exc}"))
        if not fitted:
            continue
        ok = fold + 1 >= model.min_history_size()
        if ok.any():
            sigma = model.forecast_volatility(y[: int(fold[-1]) + 1], fold[ok] + 1, horizon)
            out[start : start + len(fold)][ok] = sigma
    return out, failures


def _day(value: object) -> str:
    return value.strftime("%Y-%m-%d") if hasattr(value, "strftime") else str(value)


def volatility_at(
    series: pd.Series, horizon: int, scale: str | None, train_size: int | None = None
) -> tuple[np.ndarray | None, str | None]:
    """The scaling model at the last price of ``series``: ``sigma`` and the volatility regime.

    The model of ``scale`` (EWMA when ``scale`` is ``None``: the regime needs one) is fitted
    on the prices (the last ``train_size``) and run over the prices up to each of the
    :data:`REGIME_WINDOW` sessions before the last and up to the last itself. The regime is
    ``"turbulent"`` when the 1-day ``sigma`` at the last price is above the median of the
    1-day ``sigma`` of those earlier sessions, else ``"calm"`` (``None`` with fewer than
    :data:`MIN_REGIME_SESSIONS` of them): a rule a forecaster could apply that day.

    Returns
    -------
    (sigma, regime)
        ``sigma`` of shape ``(horizon,)``: ``sigma(last, h)`` for ``h = 1..horizon`` (``None``
        when ``scale`` is ``None``).
    """
    model = scale_model(scale or "ewma")
    n = len(series)
    lo = 0 if train_size is None else max(0, n - train_size)
    model.fit(series.iloc[lo:])
    y = np.log(series.to_numpy(dtype=float))
    ends = np.arange(max(model.min_history_size(), n - REGIME_WINDOW), n + 1)
    sigma = model.forecast_volatility(y, ends, horizon)
    earlier = sigma[:-1, 0]
    regime = None
    if len(earlier) >= MIN_REGIME_SESSIONS:
        regime = "turbulent" if sigma[-1, 0] > np.median(earlier) else "calm"
    return (sigma[-1] if scale is not None else None), regime
