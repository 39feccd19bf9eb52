"""HAR: the heterogeneous autoregression of log realised variance (Corsi 2009).

Corsi (2009, J. Financial Econometrics 7) regresses realised variance on its daily, weekly
and monthly averages; in logs, with ``RV_t`` the daily proxy of day ``t``::

    log RV_{t+1} = b0 + bd log RV_t + bw log RV^(w)_t + bm log RV^(m)_t + e_{t+1}
    RV^(w)_t = mean(RV_{t-4} .. RV_t),   RV^(m)_t = mean(RV_{t-21} .. RV_t)

by OLS. This model fits one such regression per step ``k = 1..max_horizon`` (the target
``log RV_{t+k}``, the same regressors: direct forecasts, no iteration of a log model), so
the forecast of step ``k`` is the conditional mean of ``RV_{t+k}`` itself.

**Bias correction.** ``exp(E[log RV])`` is the conditional median of ``RV``, not its mean:
it underestimates the variance (by 2-3 times for squared returns, whose log has a long left
tail). ``bias_correction="smearing"`` (the default) multiplies it by Duan's (1983, JASA 78)
smearing factor, computed with the proxy itself: ``mean_t(RV_{t+k} / exp(fitted_{t,k}))``
over the training rows, which makes the in-sample forecasts of ``RV`` unbiased without any
distributional assumption. ``"normal"`` uses ``exp(s_k^2 / 2)`` with ``s_k^2`` the residual
variance (exact only for Gaussian log errors, which the log of a squared return is not).
"""

from __future__ import annotations

import numpy as np

from forecast.errors import ModelFitError
from forecast.models.volatility.base import (
    FLOOR_FRACTION,
    BaseVolatilityModel,
    check_choice,
    check_positive_int,
    floored_log,
)
from forecast.models.volatility.realized import LogOHLC, choose_proxy

#: the HAR averaging windows in days: daily, weekly, monthly
HAR_LAGS = (1, 5, 22)
BIAS_CORRECTIONS = ("smearing", "normal")


def har_regressors(daily: np.ndarray, floor: float) -> np.ndarray:
    """Rows ``[1, log RV_t, log RV^(w)_t, log RV^(m)_t]`` for every day ``t`` (NaN rows
    before day 22), shape ``(len(daily), 4)``; ``RV`` values below ``floor`` are raised."""
    daily = np.asarray(daily, dtype=float)
    out = np.full((len(daily), 1 + len(HAR_LAGS)), np.nan)
    out[:, 0] = 1.0
    for col, lag in enumerate(HAR_LAGS, start=1):
        if len(daily) >= lag:
            means = np.lib.stride_tricks.sliding_window_view(daily, lag).mean(axis=1)
            out[lag - 1 :, col] = floored_log(means, floor)
    return out


class HARVolatility(BaseVolatilityModel):
    """Log HAR of the daily variance proxy, one direct OLS regression per step.

    Parameters
    ----------
    proxy
        The daily variance proxy modelled (``"auto"``: Yang-Zhang with a range, squared
        returns otherwise).
    max_horizon
        Steps with their own regression; further steps repeat the last one.
    bias_correction
        ``"smearing"`` (Duan 1983, distribution-free) or ``"normal"``; see the module notes.

    Notes
    -----
    Fitted: ``proxy_``, ``floor_`` (proxies below it are raised to it before the log:
    ``FLOOR_FRACTION`` times the training mean), ``coef_`` (``(max_horizon, 4)``: const,
    daily, weekly, monthly per step), ``correction_`` (the multiplicative bias correction
    per step), ``resid_var_`` and ``n_obs_`` (rows per regression).
    """

    name = "har"

    def __init__(
        self, proxy: str = "auto", max_horizon: int = 22, bias_correction: str = "smearing"
    ):
        self.proxy = proxy
        self.max_horizon = max_horizon
        self.bias_correction = bias_correction

    def _check_params(self) -> None:
        check_positive_int(self.max_horizon, "max_horizon")
        check_choice(self.bias_correction, "bias_correction", BIAS_CORRECTIONS)

    def min_train_size(self) -> int:
        # 22 days of regressors, then about 50 rows for the longest step's regression
        return HAR_LAGS[-1] + self.max_horizon + 51

    def min_history_size(self) -> int:
        return HAR_LAGS[-1] + 1

    def _fit(self, data: LogOHLC) -> None:
        self.proxy_ = choose_proxy(data, self.proxy)
        daily = self._daily(data)
        self.floor_ = FLOOR_FRACTION * float(np.mean(daily))
        if not self.floor_ > 0:
            raise ModelFitError(f"{self.name}: the training {self.proxy_} proxy is all zero")
        x = har_regressors(daily, self.floor_)
        logs = floored_log(daily, self.floor_)
        first = HAR_LAGS[-1] - 1  # the first day with a monthly average
        coefs, corrections, resid_var, n_obs = [], [], [], []
        for k in range(1, self.max_horizon + 1):
            rows = np.arange(first, len(daily) - k)
            coef, *_ = np.linalg.lstsq(x[rows], logs[rows + k], rcond=None)
            fitted = x[rows] @ coef
            resid = logs[rows + k] - fitted
            var = float(resid @ resid / (len(rows) - x.shape[1]))
            if self.bias_correction == "smearing":
                corrections.append(float(np.mean(daily[rows + k] / np.exp(fitted))))
            else:
                corrections.append(float(np.exp(0.5 * var)))
            coefs.append(coef)
            resid_var.append(var)
            n_obs.append(len(rows))
        self.coef_ = np.array(coefs)
        self.correction_ = np.array(corrections)
        self.resid_var_ = np.array(resid_var)
        self.n_obs_ = n_obs

    def _variances(self, data: LogOHLC, ends: np.ndarray, horizon: int) -> np.ndarray:
        x = har_regressors(self._daily(data), self.floor_)[ends - 2]  # the origin's last day
        steps = np.minimum(np.arange(horizon), self.max_horizon - 1)
        return np.exp(x @ self.coef_[steps].T) * self.correction_[steps][None, :]
