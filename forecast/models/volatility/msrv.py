"""A Markov-switching model of log realised variance: regimes of calm and turbulence.

The log of the daily variance proxy, averaged over the last ``a`` days,
``x_t = log mean(RV_{t-a+1} .. RV_t)``, switches between ``k`` regimes with their own mean
and variance (Hamilton 1989; statsmodels' ``MarkovRegression`` with a
switching constant and ``switching_variance=True``)::

    x_t = mu_{S_t} + e_t,   e_t ~ N(0, sigma2_{S_t}),   P(S_t = j | S_{t-1} = i) = T[i, j]

The forecast follows ``forecast.models.msar``: statsmodels' Hamilton filter runs once with
the fitted parameters over the history up to the last origin; the filtered probabilities
at an origin, ``q_0(i) = P(S_t = i | x_1 .. x_t)``, depend on the data up to it only (the
filter starts from the steady state, a function of the parameters), and step ``k`` is::

    q_k = q_0 T^k,     E[RV_{t+k} | F_t] = sum_i q_k(i) level_i

with ``level_i = E[RV | S = i]`` the regime's mean variance, exact for every ``k`` (no
path enumeration). ``bias_correction="smearing"`` (default) estimates ``level_i`` as the
proxy's mean weighted by the smoothed in-sample probabilities of regime ``i`` (Duan's 1983
smearing idea, free of the normality of ``e_t``, which the log of a squared return
lacks); ``"normal"`` uses the lognormal mean ``exp(mu_i + sigma2_i / 2)``.

**Ties.** A squared return is zero when the close does not move, and tiny ones are raised
to the floor: the log proxy then takes one value on many days, and a regime with that mean
and a variance tending to zero makes the likelihood unbounded (seen on GOOG and MSFT: BFGS
ran into ``sigma2 = 0``). Averaging squared returns over ``a = 5`` days removes the ties; the
range proxies have none and use ``a = 1``.
"""

from __future__ import annotations

import warnings

import numpy as np
from statsmodels.tools.sm_exceptions import ConvergenceWarning, EstimationWarning
from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

from forecast.errors import ModelFitError
from forecast.models.volatility.base import (
    FLOOR_FRACTION,
    BaseVolatilityModel,
    check_choice,
    check_positive_int,
    floored_log,
)
from forecast.models.volatility.har import BIAS_CORRECTIONS
from forecast.models.volatility.realized import LogOHLC, choose_proxy

#: BFGS's tolerance on the gradient of the mean log-likelihood
GTOL = 1e-4
#: what statsmodels can raise from a bad fit; anything else is a bug and propagates
_FIT_ERRORS = (ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeError)


class MSRVolatility(BaseVolatilityModel):
    """Markov-switching mean and variance of the log daily variance proxy.

    Parameters
    ----------
    k_regimes
        Number of regimes (at least 2).
    proxy
        The daily variance proxy (``"auto"``: Yang-Zhang with a range, squared returns
        otherwise).
    average
        Days ``a`` averaged before the log; ``None``: 5 for squared returns, 1 for the range
        proxies (see the module notes).
    bias_correction
        ``"smearing"`` or ``"normal"``; see the module notes.
    fit_window
        Fit on the last ``fit_window`` days of the training data only (``None``: all of
        it). statsmodels' BFGS differentiates the likelihood numerically, so a fit costs in
        proportion to the days. Measured on the embedded series (250 origins, refit every
        20): 1000 days took half the time of all 2100-4800, with QLIKE relative to the
        naive model at h=1 of 0.80, 0.90, 0.80, 0.84, 1.07 (AAPL, GOOG, GSPC, IBM, MSFT)
        against 0.99, 0.93, 0.76, 0.87, 1.05 with all the days.
    maxiter
        BFGS iterations; a fit that does not converge raises ``ModelFitError``.
    warm_start
        Start a refit from the previous parameters (the constants shifted by the change of
        ``center_``); retried from statsmodels' default start if that fit fails.

    Notes
    -----
    Fitted: ``proxy_``, ``average_`` (the ``a`` used), ``floor_``, ``center_`` (the
    training mean of ``x``, removed before fitting for the optimiser's sake), ``params_``
    and ``param_names_`` (statsmodels', on the centred ``x``), ``transition_matrix_``
    (``[from, to]``, rows sum to 1),
    ``regime_means_`` and ``regime_variances_`` (of ``x``), ``regime_levels_``
    (``E[RV | regime]``), ``loglike_`` and ``warm_started_``.
    """

    name = "msrv"

    def __init__(
        self,
        k_regimes: int = 2,
        proxy: str = "auto",
        average: int | None = None,
        bias_correction: str = "smearing",
        fit_window: int | None = 1000,
        maxiter: int = 200,
        warm_start: bool = True,
    ):
        self.k_regimes = k_regimes
        self.proxy = proxy
        self.average = average
        self.bias_correction = bias_correction
        self.fit_window = fit_window
        self.maxiter = maxiter
        self.warm_start = warm_start

    def _check_params(self) -> None:
        check_positive_int(self.k_regimes, "k_regimes", 2)
        check_positive_int(self.maxiter, "maxiter")
        if self.average is not None:
            check_positive_int(self.average, "average")
        if self.fit_window is not None:
            check_positive_int(self.fit_window, "fit_window", self.min_train_size() - 1)
        check_choice(self.bias_correction, "bias_correction", BIAS_CORRECTIONS)
        if not isinstance(self.warm_start, bool | np.bool_):
            raise TypeError(f"warm_start must be True or False; got {self.warm_start!r}")

    def min_train_size(self) -> int:
        k = self.k_regimes
        return 20 * (k * (k - 1) + 2 * k) + 1  # about 20 days per parameter

    # ---- fitting ------------------------------------------------------------------------
    def _fit(self, data: LogOHLC) -> None:
        self.proxy_ = choose_proxy(data, self.proxy)
        average = self.average or (5 if self.proxy_ == "squared_returns" else 1)
        daily = self._daily(data)
        if self.fit_window is not None:
            daily = daily[-int(self.fit_window) :]
        floor = FLOOR_FRACTION * float(np.mean(daily))
        if not floor > 0:
            raise ModelFitError(f"{self.name}: the training {self.proxy_} proxy is all zero")
        x = floored_log(_trailing_means(daily, average), floor)
        daily = daily[average - 1 :]  # the day each x belongs to
        center = float(np.mean(x))
        model = self._statsmodels_model(x - center)
        start = self._warm_params(model, center)
        res = self._fit_once(model, start) if start is not None else None
        warm = res is not None
        if res is None:
            res = self._fit_once(model, None)
        if res is None:
            raise ModelFitError(
                f"{self.name}: statsmodels did not converge within maxiter={self.maxiter} on "
                f"{len(x)} days (from {'the previous fit and ' if start is not None else ''}"
                "the default start)"
            )
        params = np.asarray(res.params, dtype=float)
        k = int(self.k_regimes)
        means = np.array([params[model.parameters[i, "exog"]][0] for i in range(k)]) + center
        variances = np.broadcast_to(params[model.parameters["variance"]], (k,)).copy()
        if self.bias_correction == "smearing":
            smoothed = np.asarray(res.smoothed_marginal_probabilities).T  # (k, n)
            smoothed = smoothed if smoothed.shape[0] == k else smoothed.T
            levels = smoothed @ daily / smoothed.sum(axis=1)
        else:
            levels = np.exp(means + 0.5 * variances)
        self.average_ = average
        self.floor_ = floor
        self.center_ = center
        self.params_ = params
        self.param_names_ = list(model.param_names)
        # statsmodels' matrix is [to, from]; ours is [from, to], like the msar model's
        self.transition_matrix_ = model.regime_transition_matrix(params)[:, :, 0].T.copy()
        self.regime_means_ = means
        self.regime_variances_ = variances
        self.regime_levels_ = np.asarray(levels, dtype=float)
        self.loglike_ = float(res.llf)
        self.warm_started_ = warm

    def _fit_once(self, model: MarkovRegression, start: np.ndarray | None):
        """One statsmodels fit; ``None`` if it failed, did not converge or is not finite."""
        with warnings.catch_warnings():
            for category in (ConvergenceWarning, EstimationWarning, RuntimeWarning):
                warnings.simplefilter("ignore", category)
            try:
                # five EM steps, then BFGS until the gradient of the mean log-likelihood is
                # below 1e-4 (statsmodels' 1e-5 took twice the iterations from a warm start
                # and moved the log-likelihood by 1e-4)
                res = model.fit(
                    start_params=start,
                    em_iter=5,
                    maxiter=int(self.maxiter),
                    cov_type="none",
                    disp=0,
                    gtol=GTOL,
                )
            except _FIT_ERRORS:
                return None
        params = np.asarray(res.params, dtype=float)
        ok = np.all(np.isfinite(params)) and np.isfinite(res.llf)
        return res if ok and res.mle_retvals.get("converged", False) else None

    def _warm_params(self, model: MarkovRegression, center: float) -> np.ndarray | None:
        """The previous parameters, on the new centring, if warm starting applies."""
        if not self.warm_start or not hasattr(self, "params_"):
            return None
        prev = np.asarray(self.params_, dtype=float).copy()
        if list(self.param_names_) != list(model.param_names) or not np.all(np.isfinite(prev)):
            return None
        consts = [i for i, name in enumerate(model.param_names) if name.startswith("const[")]
        prev[consts] += self.center_ - center
        return prev

    # ---- forecasting --------------------------------------------------------------------
    def _variances(self, data: LogOHLC, ends: np.ndarray, horizon: int) -> np.ndarray:
        a = int(self.average_)
        x = floored_log(_trailing_means(self._daily(data), a), self.floor_) - self.center_
        model = self._statsmodels_model(x)
        res = model.filter(np.asarray(self.params_, dtype=float), cov_type="none", return_raw=True)
        probs = np.asarray(res.filtered_marginal_probabilities)  # (k, days)
        # the origin's last day is end - 2, the last mean of a days ending there is column
        # end - 2 - (a - 1)
        q = probs[:, ends - 1 - a].T  # (origins, k)
        t = np.asarray(self.transition_matrix_, dtype=float)  # [from, to]
        levels = np.asarray(self.regime_levels_, dtype=float)
        out = np.empty((len(ends), horizon))
        for k in range(horizon):
            # (n, from, 1) * (1, from, to) summed over from: row arithmetic independent of n
            q = (q[:, :, None] * t[None, :, :]).sum(axis=1)
            out[:, k] = (q * levels[None, :]).sum(axis=1)
        return out

    def min_history_size(self) -> int:
        return (self.average or 5) + 1

    def _statsmodels_model(self, x: np.ndarray) -> MarkovRegression:
        return MarkovRegression(
            x, k_regimes=int(self.k_regimes), trend="c", switching_variance=True
        )


def _trailing_means(daily: np.ndarray, a: int) -> np.ndarray:
    """Means of ``a`` consecutive days, each ending on day ``a - 1 ..``: length ``n - a + 1``."""
    if a == 1:
        return daily
    return np.lib.stride_tricks.sliding_window_view(daily, a).mean(axis=1)
