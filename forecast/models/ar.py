"""Autoregression on log-returns, lag order chosen by AIC on the training data only."""

from __future__ import annotations

import warnings

import numpy as np
from statsmodels.tools.sm_exceptions import ValueWarning
from statsmodels.tsa.ar_model import AutoReg, ar_select_order

from forecast.checks import check_int
from forecast.errors import ModelFitError
from forecast.models.base import BaseForecaster, returns_of


class ARForecaster(BaseForecaster):
    """AR(p) on log-returns with a constant (statsmodels ``AutoReg``).

    Parameters
    ----------
    max_lags
        The largest lag order ``ar_select_order`` considers (AIC); the order is chosen anew
        at every fit, from the training data alone.

    Fitted attributes: ``lags_`` (the selected lags, possibly empty), ``const_`` and
    ``coef_`` (one coefficient per lag), ``sigma2_`` (residual variance).
    """

    name = "ar"

    def __init__(self, max_lags: int = 10):
        self.max_lags = max_lags

    def min_train_size(self) -> int:
        return 2 * int(self.max_lags) + 12

    def min_history_size(self) -> int:
        return max(self.lags_, default=0) + 1 if hasattr(self, "lags_") else 1

    def _fit(self, y: np.ndarray) -> None:
        check_int(self.max_lags, "max_lags", 0)
        r = returns_of(y)
        if np.std(r) < 1e-10:  # a halted stock or a synthetic constant-growth series
            raise ModelFitError(
                f"ar: training log-returns are constant (std {np.std(r):.1e}); nothing to fit"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ValueWarning)
            sel = ar_select_order(r, maxlag=int(self.max_lags), ic="aic", trend="c")
            lags = [int(lag) for lag in (sel.ar_lags or [])]
            res = AutoReg(r, lags=lags or 0, trend="c").fit()
        params = np.asarray(res.params, dtype=float)
        if not np.all(np.isfinite(params)):
            raise ModelFitError(f"ar: non-finite coefficients {params}")
        self.lags_ = lags
        self.const_ = float(params[0])
        self.coef_ = params[1:]
        self.sigma2_ = float(res.sigma2)

    def _log_variances(self, y: np.ndarray, ends: np.ndarray, horizon: int) -> np.ndarray:
        """``sigma2 * sum_{m<h} (psi_0 + ... + psi_m)^2``, with the MA weights ``psi`` of a shock.

        A shock at step ``k`` moves the sum of the returns up to step ``h`` by
        ``psi_0 + ... + psi_{h-k}``; shocks are independent with variance ``sigma2``.
        """
        p = max(self.lags_, default=0)
        phi = np.zeros(p + 1)
        phi[self.lags_] = self.coef_
        psi = np.zeros(horizon)
        psi[0] = 1.0
        for j in range(1, horizon):
            psi[j] = sum(phi[i] * psi[j - i] for i in range(1, min(j, p) + 1))
        cum = np.cumsum(psi)  # cum[m]: total effect of a shock on the next m + 1 returns
        return np.broadcast_to(self.sigma2_ * np.cumsum(cum**2), (len(ends), horizon))

    def _forecast(self, y: np.ndarray, horizon: int) -> np.ndarray:
        p = max(self.lags_, default=0)
        # the last p returns, newest last; extended as the recursion goes
        buf = list(np.diff(y[-(p + 1) :])) if p else []
        lags = np.asarray(self.lags_, dtype=int)
        out = np.empty(horizon)
        level = y[-1]
        for k in range(horizon):
            r_next = self.const_
            if p:
                r_next += float(self.coef_ @ np.asarray(buf)[len(buf) - lags])
                buf.append(r_next)
            level += r_next
            out[k] = level
        return out
