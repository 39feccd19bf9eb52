"""A pooled ridge regression on the same lags as the nets: the global nets' linear rival.

``global_ridge`` regresses each of the next ``max_horizon`` standardised returns on the last
``window`` standardised returns (and, with ``covariates=True``, the covariates of the same
sessions) of every series of the panel at once (scikit-learn's ``Ridge``, one multi-output
fit with an intercept): a linear model of exactly the inputs a global net reads, with the
same per-series scaling, windows and forecast data flow (:mod:`~forecast.models.panel`).
Beyond ``max_horizon`` it continues recursively on its own forecasts, covariates at their
training mean. If it ranks stocks as well as the global LSTM, the net's nonlinearity is not
what earns it. Deterministic: no seed, no early stopping (every window trains).
"""

from __future__ import annotations

import numpy as np

from forecast.checks import check_int, check_number
from forecast.errors import ModelFitError
from forecast.models.panel import GlobalForecaster, build_panel, standardise


class GlobalRidgeForecaster(GlobalForecaster):
    """Ridge regression of the next returns on the last ``window`` returns, pooled over series.

    Parameters
    ----------
    window
        Past sessions read (at least 1).
    alpha
        The ridge penalty on standardised inputs (> 0).
    max_horizon
        Steps forecast directly (one output each); longer horizons continue recursively.
    covariates
        Read past covariates of the same sessions too.

    Fitted attributes: ``coef_`` ``(max_horizon, window * channels)`` (inputs in time order,
    channels within a step), ``intercept_`` ``(max_horizon,)``, and the panel's per-series
    scaling (:class:`~forecast.models.panel.GlobalForecaster`).
    """

    name = "global_ridge"

    def __init__(
        self, window: int = 30, alpha: float = 1.0, max_horizon: int = 5, covariates: bool = False
    ):
        self.window = window
        self.alpha = alpha
        self.max_horizon = max_horizon
        self.covariates = covariates

    def _check_params(self) -> None:
        check_int(self.window, "window", 1, type_error=True)
        check_int(self.max_horizon, "max_horizon", 1, type_error=True)
        check_number(self.alpha, "alpha", 0)
        if not isinstance(self.covariates, bool | np.bool_):
            raise TypeError(f"covariates must be True or False; got {self.covariates!r}")

    def _fit_panel(self, names: list[str], data: list[tuple], scalings: list[tuple]) -> None:
        from sklearn.linear_model import Ridge

        features = [standardise(y, x, sc) for (y, x), sc in zip(data, scalings, strict=True)]
        width = self.window + self.max_horizon
        panel = build_panel(features, width, 0.0)
        if len(panel.starts) < self.min_windows():
            raise ModelFitError(f"{self.name}: {len(panel.starts)} training windows; need 10")
        view = np.lib.stride_tricks.sliding_window_view(panel.features, width, axis=0)
        rows = view[panel.starts]  # (M, C, W+H): the one copy the regression needs
        design = rows[:, :, : self.window].transpose(0, 2, 1).reshape(len(rows), -1)
        targets = rows[:, 0, self.window :]
        fit = Ridge(alpha=float(self.alpha)).fit(design.astype(np.float64), targets)
        self.coef_ = np.asarray(fit.coef_, dtype=np.float64).reshape(self.max_horizon, -1)
        self.intercept_ = np.asarray(fit.intercept_, dtype=np.float64).reshape(-1)

    def _forecast_scaled(self, windows: np.ndarray, k: int, horizon: int) -> np.ndarray:
        x = np.asarray(windows, dtype=np.float64)  # (b, W, C)
        blocks, done = [], 0
        while done < horizon:
            out = x.reshape(len(x), -1) @ self.coef_.T + self.intercept_  # (b, H)
            blocks.append(out)
            done += out.shape[1]
            step = np.zeros((len(x), out.shape[1], x.shape[2]))
            step[:, :, 0] = out  # covariates after the origin: their training mean, 0
            x = np.concatenate([x, step], axis=1)[:, -self.window :]
        return np.concatenate(blocks, axis=1)[:, :horizon]
