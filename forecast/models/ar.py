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
    """AR(p) on log-returns with a constant (statsmodels ``AutoReg``), or ARX with covariates.

    **ARX** (``covariates=True``, registry name ``ar+x``): the return into session ``t`` is
    regressed on its own lags and on the covariates of session ``t - 1``, the last ones known
    before it (``AutoReg(..., exog=...)``; the lag order is chosen by AIC with the covariates
    in every candidate)::

        r_t = c + sum_i phi_i r_{t-i} + beta' x_{t-1} + e_t

    From an origin ``T`` the first step reads ``x_T``; later steps need covariates nobody
    knows at ``T``, so they use the covariates' training mean ``xbar`` (their unconditional
    expectation): ``r_{T+k} = c + sum_i phi_i r_{T+k-i} + beta' xbar`` for ``k >= 2``. The
    intervals ignore the covariates' own uncertainty beyond the first step.

    Parameters
    ----------
    max_lags
        The largest lag order ``ar_select_order`` considers (AIC); the order is chosen anew
        at every fit, from the training data alone.
    covariates
        Read past covariates (``exog``; see :mod:`forecast.models.base`).

    Fitted attributes: ``lags_`` (the selected lags, possibly empty), ``const_`` and
    ``coef_`` (one coefficient per lag), ``sigma2_`` (residual variance); with covariates
    also ``exog_coef_`` (``beta``) and ``exog_mean_`` (``xbar``).
    """

    name = "ar"

    def __init__(self, max_lags: int = 10, covariates: bool = False):
        self.max_lags = max_lags
        self.covariates = covariates

    def min_train_size(self) -> int:
        return 2 * int(self.max_lags) + 12 + (1 if self.uses_exog else 0)

    def min_history_size(self) -> int:
        return max(self.lags_, default=0) + 1 if hasattr(self, "lags_") else 1

    def _fit(self, y: np.ndarray) -> None:
        self._fit_returns(returns_of(y), None)

    def _fit_exog(self, y: np.ndarray, exog: np.ndarray) -> None:
        # r[j] is the return into row j + 1; its regressors are row j's covariates. Row 0's
        # may be undefined (no previous session), so the first return is left out.
        z = exog[1:-1]
        self._fit_returns(returns_of(y)[1:], z)
        self.exog_mean_ = z.mean(axis=0)

    def _fit_returns(self, r: np.ndarray, z: np.ndarray | None) -> None:
        check_int(self.max_lags, "max_lags", 0)
        if np.std(r) < 1e-10:  # a halted stock or a synthetic constant-growth series
            raise ModelFitError(
                f"ar: training log-returns are constant (std {np.std(r):.1e}); nothing to fit"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ValueWarning)
            sel = ar_select_order(r, maxlag=int(self.max_lags), ic="aic", trend="c", exog=z)
            lags = [int(lag) for lag in (sel.ar_lags or [])]
            res = AutoReg(r, lags=lags or 0, trend="c", exog=z).fit()
        params = np.asarray(res.params, dtype=float)
        if not np.all(np.isfinite(params)):
            raise ModelFitError(f"ar: non-finite coefficients {params}")
        self.lags_ = lags
        self.const_ = float(params[0])
        self.coef_ = params[1 : 1 + len(lags)]
        if z is not None:
            self.exog_coef_ = params[1 + len(lags) :]
        self.sigma2_ = float(res.sigma2)

    def forecast_log_paths(
        self, y: np.ndarray, ends: np.ndarray, horizon: int, exog: np.ndarray | None = None
    ) -> np.ndarray:
        """Row ``i`` from ``y[:ends[i]]`` (and, for ARX, the covariates ``exog[ends[i]-1]``)."""
        if exog is None:
            return super().forecast_log_paths(y, ends, horizon)
        self._check_fitted()
        exog = self._check_exog(exog, -1, "forecast exog")
        ends = np.asarray(ends, dtype=int)
        self._check_ends(ends)
        later = float(self.exog_coef_ @ self.exog_mean_)  # beta' xbar, steps 2..h
        out = np.empty((len(ends), horizon))
        for i, end in enumerate(ends):
            shifts = np.full(horizon, later)
            shifts[0] = float(self.exog_coef_ @ exog[end - 1])
            out[i] = self._path(y[:end], horizon, shifts)
        return out

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
        if self.uses_exog:
            raise ValueError("ar+x forecasts need the covariates: forecast_log_paths(exog=...)")
        return self._path(y, horizon, np.zeros(horizon))

    def _path(self, y: np.ndarray, horizon: int, shifts: np.ndarray) -> np.ndarray:
        """The AR recursion from the end of ``y``, ``shifts[k]`` added to step ``k``'s mean."""
        p = max(self.lags_, default=0)
        # the last p returns, newest last; extended as the recursion goes
        buf = list(np.diff(y[-(p + 1) :])) if p else []
        lags = np.asarray(self.lags_, dtype=int)
        out = np.empty(horizon)
        level = y[-1]
        for k in range(horizon):
            r_next = self.const_ + shifts[k]
            if p:
                r_next += float(self.coef_ @ np.asarray(buf)[len(buf) - lags])
                buf.append(r_next)
            level += r_next
            out[k] = level
        return out
