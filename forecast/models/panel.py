"""Global models: one model fitted on the windows of many series (the protocol and the data).

A **global model** (``global_model = True``) is fitted on a panel, a mapping ``name -> price
series`` (and, with covariates, ``name -> covariates``), and forecasts any of those series::

    model.fit({"AAPL": aapl, "MSFT": msft}, exog={"AAPL": xa, "MSFT": xm})
    model.predict(5, series="MSFT")                      # from the end of the training data
    model.predict(5, history=msft_later, exog=xm_later, series="MSFT")
    model.forecast_log_paths(y, ends, 5, exog=x, series="MSFT")   # what the engine calls

It is still a forecaster: ``fit(series)`` on one series is a panel of one (so the contract
tests hold it to the same rules as every model). The walk-forward engine refits a global
model at each refit date on every series' data up to that date
(:mod:`forecast.walkforward.global_walk`).

**Per-series scaling, past only.** Each series' returns are standardised by their own
training mean and standard deviation, and each of its covariates by its own; the model stores
them per series (``mean_``, ``scale_``, ``exog_mean_``, ``exog_scale_``, rows in the order of
``series_``). A stock with 3% daily moves and one with 1% then feed the net on one scale, and
a forecast is un-standardised with its own series' scale.

**Windows as views.** The standardised features of all series are concatenated into one
``(N, 1 + k)`` float32 array; a training window is a start position into it (windows never
cross from one series into the next), so the windows themselves are a strided view and the
only per-window memory is two int64 indices. The last 10% of each series' windows (its most
recent) validate, and are ordered last.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from forecast.errors import DataError, ModelFitError
from forecast.models.base import (
    BaseForecaster,
    _last_label,
    check_horizon,
    log_prices,
    returns_of,
)


@dataclass
class Panel:
    """The training data of a global fit (see the module docstring).

    ``features`` ``(N, C)``: each series' standardised returns (column 0) and covariates,
    concatenated; ``starts`` ``(M,)``: the first feature row of each window; ``series``
    ``(M,)``: its series index; the last ``n_val`` windows validate.
    """

    features: np.ndarray
    starts: np.ndarray
    series: np.ndarray
    n_val: int


def as_panel(series: object, exog: object, what: str = "series") -> dict[str, tuple]:
    """``name -> (prices, covariates or None)`` from one series or a mapping of them."""
    if isinstance(series, pd.Series | np.ndarray):
        name = str(series.name) if getattr(series, "name", None) is not None else "series0"
        if exog is not None and isinstance(exog, Mapping):
            raise TypeError(f"exog must be one array for one {what}; got a mapping")
        return {name: (series, exog)}
    if not isinstance(series, Mapping) or not series:
        raise TypeError(f"{what} must be a price series or a non-empty mapping name -> series")
    if exog is not None and not isinstance(exog, Mapping):
        raise TypeError("exog must be a mapping name -> covariates when series is a mapping")
    missing = [] if exog is None else [n for n in series if n not in exog]
    if missing:
        raise DataError(f"exog has no covariates for series {missing[0]!r}")
    return {str(n): (s, None if exog is None else exog[n]) for n, s in series.items()}


def standardise(y: np.ndarray, x: np.ndarray | None, scaling: tuple) -> np.ndarray:
    """``(n-1, C)`` float32 features of one series: returns, then covariates (rows 1..n-1)."""
    mean, scale, x_mean, x_scale = scaling
    z = (returns_of(y) - mean) / scale
    if x is None:
        return z.astype(np.float32)[:, None]
    return np.column_stack([z, (x[1:] - x_mean) / x_scale]).astype(np.float32)


def scaling_of(y: np.ndarray, x: np.ndarray | None, name: str, model: str) -> tuple:
    """``(mean, scale, exog_mean, exog_scale)`` of one series' training data."""
    r = returns_of(y)
    scale = float(np.std(r))
    if scale < 1e-10:
        raise ModelFitError(
            f"{model}: training log-returns of {name!r} are constant (std {scale:.1e})"
        )
    if x is None:
        return float(np.mean(r)), scale, None, None
    xs = x[1:]
    x_scale = xs.std(axis=0)
    return float(np.mean(r)), scale, xs.mean(axis=0), np.where(x_scale > 1e-12, x_scale, 1.0)


def build_panel(features: list[np.ndarray], width: int, val_fraction: float) -> Panel:
    """Concatenate per-series features and index every window of ``width`` rows in each.

    The most recent ``val_fraction`` of each series' windows (at least one when the fraction
    is positive) are put last and counted in ``n_val``.
    """
    train_parts, val_parts, offset = [], [], 0
    for k, f in enumerate(features):
        m = len(f) - width + 1
        starts = offset + np.arange(max(m, 0), dtype=np.int64)
        n_val = max(1, round(val_fraction * m)) if val_fraction > 0 and m > 1 else 0
        ids = np.full(len(starts), k, dtype=np.int64)
        train_parts.append((starts[: m - n_val], ids[: m - n_val]))
        val_parts.append((starts[m - n_val :], ids[m - n_val :]))
        offset += len(f)
    parts = train_parts + val_parts
    return Panel(
        np.concatenate(features, axis=0),
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        int(sum(len(p[0]) for p in val_parts)),
    )


def origin_features(
    y: np.ndarray, x: np.ndarray | None, ends: np.ndarray, window: int, scaling: tuple
) -> np.ndarray:
    """``(origins, window, C)`` float32: the standardised features of the ``window`` sessions
    up to each origin ``ends[i] - 1`` (rows ``ends[i]-window .. ends[i]-1``), nothing later."""
    if ends.min() < window + 1 or ends.max() > len(y):
        raise DataError(
            f"ends must lie in [{window + 1}, {len(y)}] with window={window}; "
            f"got {ends.min()}..{ends.max()}"
        )
    lo = int(ends.min()) - 1 - window
    f = standardise(y[lo : ends.max()], None if x is None else x[lo : ends.max()], scaling)
    view = np.lib.stride_tricks.sliding_window_view(f, window, axis=0)  # (m, C, window)
    return view[ends - 1 - window - lo].transpose(0, 2, 1)


class GlobalForecaster(BaseForecaster):
    """The protocol of a global model (see the module docstring); subclasses implement
    ``_fit_panel(names, data)`` and ``_forecast_scaled(windows, series_index, horizon)``.

    Fitted attributes: ``series_`` (names, in the order of the per-series arrays),
    ``mean_``, ``scale_`` (per series), ``exog_mean_``, ``exog_scale_`` (per series and
    covariate, with covariates), ``skipped_`` (series too short to join the fit), and the
    training data per series (``panel_log_prices_``, ``panel_last_price_``, ``panel_exog_``).
    """

    global_model: ClassVar[bool] = True
    fitted_marker: ClassVar[str] = "panel_log_prices_"

    def min_windows(self) -> int:
        """The fewest training windows a series needs to join a fit."""
        return 10

    def min_train_size(self) -> int:
        return self.window + self.max_horizon + self.min_windows()

    def min_history_size(self) -> int:
        return self.window + 1

    # ---- fit -----------------------------------------------------------------------------
    def fit(self, series: object, exog: object = None) -> GlobalForecaster:
        """Fit on one price series or a mapping ``name -> series`` (and their covariates)."""
        self._check_params()
        data, skipped = {}, []
        for name, (s, x) in as_panel(series, exog).items():
            y = log_prices(s, f"series {name!r}")
            xa = self._check_exog(x, len(y), f"exog of {name!r}")
            if len(y) < self.min_train_size():
                skipped.append(name)
                continue
            data[name] = (y, xa, float(np.asarray(s, dtype=float)[-1]), _last_label(s))
        if not data:
            raise ModelFitError(
                f"{self.name}: no series has the {self.min_train_size()} training prices a "
                f"series needs (window + max_horizon + {self.min_windows()})"
            )
        widths = {xa.shape[1] for _, xa, _, _ in data.values() if xa is not None}
        if len(widths) > 1:
            raise DataError(f"exog must have the same columns for every series; got {widths}")
        names = list(data)
        scalings = [scaling_of(data[n][0], data[n][1], n, self.name) for n in names]
        self._fit_panel(names, [(data[n][0], data[n][1]) for n in names], scalings)
        self.series_ = names
        self.mean_ = np.array([s[0] for s in scalings])
        self.scale_ = np.array([s[1] for s in scalings])
        if self.uses_exog:
            self.exog_mean_ = np.stack([s[2] for s in scalings])
            self.exog_scale_ = np.stack([s[3] for s in scalings])
        self.skipped_ = skipped
        self.panel_log_prices_ = {n: data[n][0] for n in names}
        self.panel_last_price_ = {n: data[n][2] for n in names}
        self.panel_exog_ = {n: data[n][1] for n in names} if self.uses_exog else {}
        self.trained_through_ = {n: data[n][3] for n in names}
        self.n_train_ = int(sum(len(data[n][0]) for n in names))
        return self

    def _fit_panel(self, names: list[str], data: list[tuple], scalings: list[tuple]) -> None:
        raise NotImplementedError

    # ---- forecast ------------------------------------------------------------------------
    def predict(
        self,
        horizon: int,
        history: pd.Series | None = None,
        exog: ArrayLike | None = None,
        series: str | None = None,
    ) -> pd.Series:
        """Median price forecasts for steps ``1..horizon`` of ``series`` (a name fitted on;
        may be left out when the fit had one series), from the end of its training data or of
        ``history`` (with its covariates ``exog``)."""
        h = check_horizon(horizon)
        name = self._series_name(series)
        if history is None:
            if exog is not None:
                raise ValueError("exog needs history: the covariates of the prices in history")
            y, last = self.panel_log_prices_[name], self.panel_last_price_[name]
            x = self.panel_exog_.get(name)
        else:
            y = log_prices(history, "history")
            if len(y) < self.min_history_size():
                raise DataError(
                    f"history must hold at least {self.min_history_size()} prices for "
                    f"{self.name}; got {len(y)}"
                )
            last = float(np.asarray(history, dtype=float)[-1])
            x = self._check_exog(exog, len(y), "history exog")
        path = self.forecast_log_paths(y, np.array([len(y)]), h, exog=x, series=name)[0]
        prices = last * np.exp(path - y[-1])
        return pd.Series(prices, index=pd.RangeIndex(1, h + 1, name="horizon"), name=self.name)

    def predict_interval(self, *args: object, **kwargs: object) -> pd.DataFrame:
        raise ValueError(
            f"{self.name} has no predictive distribution; its intervals come from conformal "
            "calibration on its walk-forward errors: backtest(..., intervals='conformal')"
        )

    def forecast_log_paths(
        self,
        y: np.ndarray,
        ends: np.ndarray,
        horizon: int,
        exog: np.ndarray | None = None,
        series: str | None = None,
    ) -> np.ndarray:
        """Paths from many origins of one series; row ``i`` reads ``y[:ends[i]]`` (and
        ``exog[:ends[i]]``) only, standardised with that series' training scaling."""
        self._check_fitted()
        ends = np.asarray(ends, dtype=np.int64)
        if not len(ends):
            return np.empty((0, horizon))
        k = self.series_.index(self._series_name(series))
        x = self._check_exog(exog, -1, "forecast exog")
        if x is not None and x.shape[1] != self.exog_mean_.shape[1]:
            raise DataError(
                f"exog must have the {self.exog_mean_.shape[1]} columns {self.name} was "
                f"fitted with; got {x.shape[1]}"
            )
        windows = origin_features(y, x, ends, self.window, self._scaling(k))
        steps = self._forecast_scaled(windows, k, horizon)  # (origins, horizon)
        returns = steps.astype(np.float64) * self.scale_[k] + self.mean_[k]
        return y[ends - 1][:, None] + np.cumsum(returns, axis=1)

    def _forecast_scaled(self, windows: np.ndarray, k: int, horizon: int) -> np.ndarray:
        raise NotImplementedError

    def _scaling(self, k: int) -> tuple:
        if self.uses_exog:
            return self.mean_[k], self.scale_[k], self.exog_mean_[k], self.exog_scale_[k]
        return self.mean_[k], self.scale_[k], None, None

    def _series_name(self, series: str | None) -> str:
        self._check_fitted()
        if series is None:
            if len(self.series_) == 1:
                return self.series_[0]
            raise ValueError(
                f"series must name one of the {len(self.series_)} series {self.name} was "
                f"fitted on: {', '.join(self.series_)}"
            )
        if series not in self.series_:
            why = " (too short to join the fit)" if series in self.skipped_ else ""
            raise ValueError(
                f"series {series!r} was not in the fit of {self.name}{why}; fitted on: "
                f"{', '.join(self.series_)}"
            )
        return str(series)

    def _check_fitted(self) -> None:
        if not hasattr(self, "panel_log_prices_"):
            raise RuntimeError(f"{self.name}: call fit(series) before predict")
