"""Markov-switching AR(1) on log-returns (statsmodels), with an exact multi-step mean forecast.

statsmodels estimates ``MarkovAutoregression`` and runs its Hamilton filter, but cannot
forecast out of sample; this module adds the forecast. With ``z_t = r_t - mu_{S_t}``::

    z_t = phi_{S_t} z_{t-1} + eps_t,    eps_t ~ N(0, sigma2_{S_t})

and ``T[i, j] = P(S_t = i | S_{t-1} = j)`` (statsmodels' ``regime_transition``, columns
sum to 1), the mean ``h`` steps after an origin ``t`` is exact::

    q_0(j) = P(S_t = j | F_t)                 (filtered probabilities)
    m_0(j) = (r_t - mu_j) q_0(j)              (= E[z_t 1{S_t = j} | F_t])
    q_h = T q_{h-1},   m_h(i) = phi_i sum_j T[i, j] m_{h-1}(j)
    E[r_{t+h} | F_t] = sum_i (mu_i q_h(i) + m_h(i))

The recursion for ``m_h`` holds because ``S_{t+h}`` given ``S_{t+h-1}`` is independent of
``z_{t+h-1}`` and ``eps`` has mean zero.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
from statsmodels.tools.sm_exceptions import ConvergenceWarning, EstimationWarning
from statsmodels.tsa.regime_switching.markov_autoregression import MarkovAutoregression

from forecast.checks import check_int, check_number, is_int
from forecast.errors import ModelFitError
from forecast.models.base import BaseForecaster, check_horizon, returns_of
from forecast.models.distributions import gaussian_bounds, mixture_bounds

#: largest number of regime paths an exact predictive mixture is built from
MAX_PATHS = 4096

#: scipy's BFGS ``warnflag`` values, for the error message of a fit that did not converge
_BFGS_WARNINGS = {
    1: "the maximum number of iterations was reached",
    2: "the line search lost precision (gradient and step no longer consistent)",
    3: "NaN values appeared in the gradient or the objective",
}
#: what statsmodels can raise from a bad fit; anything else is a bug and propagates
_FIT_ERRORS = (ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeError)


class MSARForecaster(BaseForecaster):
    """Markov-switching AR(1) on log-returns: regime-specific mean, AR coefficient, variance.

    Fitted by maximum likelihood with statsmodels' ``MarkovAutoregression`` (a few EM steps,
    then BFGS) on the returns multiplied by ``scale``; the fitted means and variances are
    reported back in log-return units. No random start-parameter search, so a fit is a
    deterministic function of the training data (and, with ``warm_start``, of the previous
    fit).

    Parameters
    ----------
    k_regimes
        Number of regimes, at least 2.
    order
        Autoregressive order. Only 1 is supported (the exact mean recursion above is
        written for one lag); other values raise ``ValueError`` in ``fit``.
    switching_variance
        Whether each regime has its own error variance.
    scale
        The returns are multiplied by this before fitting, for numerical stability (daily
        log-returns of ~0.01 make the variance parameters ~1e-4); 100 means percent.
    maxiter
        Maximum BFGS iterations (after statsmodels' 5 EM steps). A fit that does not
        converge within them raises :class:`~forecast.errors.ModelFitError`; it is never
        replaced by another model. Twice statsmodels' default: on series with a single
        regime the second one sits at a boundary (a transition probability near 1) and
        BFGS needed 100-150 iterations to get there.
    warm_start
        If true and the instance was fitted before with the same ``k_regimes``, ``order``,
        ``switching_variance`` and ``scale``, a refit starts from the previous fitted
        parameters (the walk-forward engine refits the same instance every few origins, on
        nearly the same data). If that start fails (error, non-finite parameters or no
        convergence), the fit is retried once from statsmodels' default start; only if that
        fails too is ``ModelFitError`` raised. Measured on the embedded series, refitting
        every 20 prices over the last 250: 15-40% less fit time, and no warm fit ended at a
        lower likelihood than a cold one (largest difference 4e-5). A warm refit is a
        deterministic function of the previous fit and the data, but may differ from a
        fresh fit on the same data by the optimiser's tolerance; set ``False`` for fits
        that depend on the training data alone.

    Notes
    -----
    Fitted attributes (all JSON-able): ``params_`` (statsmodels' parameter vector, on the
    scaled returns, named by ``param_names_``), ``transition_matrix_`` (``[from, to]``, rows
    sum to 1: the transpose of statsmodels' ``regime_transition``), ``regime_means_``,
    ``ar_coef_`` and ``regime_variances_`` (per regime, in log-return units), ``scale_``,
    ``loglike_`` (of the scaled returns) and ``warm_started_`` (whether this fit
    started from the previous one).

    The filtered regime probabilities at an origin come from statsmodels' Hamilton filter
    run with the fitted parameters on the returns up to the origin. The filter starts from
    the steady-state regime distribution, which depends on the parameters only, and its
    output at ``t`` uses returns up to ``t`` only, so filtering a long history once and
    reading each origin's column equals filtering each origin's history (bit for bit).
    """

    name = "msar"

    def __init__(
        self,
        k_regimes: int = 2,
        order: int = 1,
        switching_variance: bool = True,
        scale: float = 100.0,
        maxiter: int = 200,
        warm_start: bool = True,
    ):
        self.k_regimes = k_regimes
        self.order = order
        self.switching_variance = switching_variance
        self.scale = scale
        self.maxiter = maxiter
        self.warm_start = warm_start

    def min_train_size(self) -> int:
        # about ten returns per estimated parameter, so that each regime can be identified
        return 10 * self._n_params() + 2

    def min_history_size(self) -> int:
        # statsmodels needs more returns than the order: order + 1 returns, order + 2 prices
        return 3

    # ---- fitting ------------------------------------------------------------------------
    def _fit(self, y: np.ndarray) -> None:
        k, _, scale, maxiter = self._checked_params()
        r = returns_of(y)
        if np.std(r) < 1e-10:  # a halted stock, or a synthetic constant-growth series
            raise ModelFitError(
                f"msar: the {len(r)} training log-returns are constant (std "
                f"{np.std(r):.1e}); there are no regimes to fit"
            )
        model = self._statsmodels_model(r * scale)
        start = self._warm_start_params(model)
        res = warm_error = None
        if start is not None:
            try:
                res = self._fit_once(model, start, maxiter)
            except ModelFitError as exc:
                warm_error = exc
        if res is None:
            try:
                res = self._fit_once(model, None, maxiter)
            except ModelFitError as exc:
                extra = f" (the warm start failed first: {warm_error})" if warm_error else ""
                raise ModelFitError(f"{exc}{extra}") from exc
        params = np.asarray(res.params, dtype=float)

        def per_regime(kind: str) -> np.ndarray:
            # statsmodels' index of each regime's coefficient ("exog" holds the constant)
            return np.array([params[model.parameters[i, kind]][0] for i in range(k)])

        self.params_ = params
        self.param_names_ = list(model.param_names)
        # statsmodels' matrix is [to, from]; ours, like the markov model's, is [from, to]
        self.transition_matrix_ = model.regime_transition_matrix(params)[:, :, 0].T.copy()
        self.regime_means_ = per_regime("exog") / scale
        self.ar_coef_ = per_regime("autoregressive")
        variances = np.broadcast_to(params[model.parameters["variance"]], (k,))
        self.regime_variances_ = variances / scale**2
        self.scale_ = scale
        self.loglike_ = float(res.llf)
        self.warm_started_ = start is not None and warm_error is None

    def _fit_once(self, model: MarkovAutoregression, start: np.ndarray | None, maxiter: int):
        """One statsmodels fit; any failure becomes a ``ModelFitError`` naming the reason."""
        how = "from the previous fit" if start is not None else "from the default start"
        with warnings.catch_warnings():
            # we check convergence ourselves; overflow at trial points of the line search is
            # harmless when the final parameters are finite, and EM rescales transition
            # probabilities that step past a boundary (a warm start near 0 or 1) by itself
            for category in (ConvergenceWarning, EstimationWarning, RuntimeWarning):
                warnings.simplefilter("ignore", category)
            try:
                res = model.fit(start_params=start, maxiter=maxiter, cov_type="none", disp=0)
            except _FIT_ERRORS as exc:
                raise ModelFitError(
                    f"msar: statsmodels fit {how} failed: {type(exc).__name__}: {exc}"
                ) from exc
        params = np.asarray(res.params, dtype=float)
        if not np.all(np.isfinite(params)) or not np.isfinite(res.llf):
            raise ModelFitError(
                f"msar: fit {how} gave non-finite parameters or likelihood: "
                f"{dict(zip(model.param_names, params.round(6).tolist(), strict=True))}, "
                f"loglike {res.llf}"
            )
        if not res.mle_retvals.get("converged", False):
            flag = res.mle_retvals.get("warnflag")
            reason = _BFGS_WARNINGS.get(flag, f"warnflag {flag}")
            raise ModelFitError(
                f"msar: BFGS {how} did not converge within maxiter={maxiter}: {reason}"
            )
        return res

    def _warm_start_params(self, model: MarkovAutoregression) -> np.ndarray | None:
        """The previous fit's parameters if warm starting applies to this model, else None."""
        if not self.warm_start or not hasattr(self, "params_"):
            return None
        prev = np.asarray(self.params_, dtype=float)
        same_spec = list(getattr(self, "param_names_", [])) == list(model.param_names)
        # a different scale would put the previous parameters on the wrong units
        if (
            not same_spec
            or getattr(self, "scale_", None) != float(self.scale)
            or not np.all(np.isfinite(prev))
        ):
            return None
        return prev

    # ---- forecasting --------------------------------------------------------------------
    def _forecast(self, y: np.ndarray, horizon: int) -> np.ndarray:
        probs = self._filtered_probs(y)[:, -1]
        return self._mean_paths(y[-1:], y[-1:] - y[-2:-1], probs[None, :], horizon)[0]

    def forecast_log_paths(self, y: np.ndarray, ends: np.ndarray, horizon: int) -> np.ndarray:
        """One Hamilton filter pass over ``y[:max(ends)]``; each origin reads its column.

        Row ``i`` uses the filtered probabilities at the origin's last return, which depend
        on ``y[:ends[i]]`` only (see the class notes), so the rows equal per-origin
        :meth:`_forecast` calls.
        """
        self._check_fitted()
        h = check_horizon(horizon)
        ends = np.asarray(ends, dtype=int)
        if len(ends) == 0:
            return np.empty((0, h))
        self._check_ends(ends)
        probs = self._filtered_probs(y[: ends.max()])
        # filtered column c belongs to return c + order = c + 1, which ends at price c + 2;
        # the origin's last price is ends - 1, so its column is ends - 3
        origin_probs = probs[:, ends - 3].T
        last = y[ends - 1]
        return self._mean_paths(last, last - y[ends - 2], origin_probs, h)

    def forecast_log_intervals(
        self,
        y: np.ndarray,
        ends: np.ndarray,
        horizon: int,
        level: float,
        paths: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of the predictive distribution: a Gaussian mixture over regime paths.

        Given the regimes ``S_t .. S_{t+h}``, the sum of the next ``h`` returns is normal
        (the AR recursion is linear in the shocks), so the log price ``h`` steps ahead is a
        mixture with one component per regime path, weighted by the filtered probability of
        ``S_t`` times the transition probabilities. The mixture is exact while it has at
        most :data:`MAX_PATHS` components (``k^(h+1)``: 64 for two regimes at ``h = 5``);
        further out, a normal with the mixture's exact mean and variance stands in.
        """
        self._check_fitted()
        h_max = check_horizon(horizon)
        ends = np.asarray(ends, dtype=int)
        lower, upper = np.empty((len(ends), h_max)), np.empty((len(ends), h_max))
        if len(ends) == 0:
            return lower, upper
        self._check_ends(ends)
        probs = self._filtered_probs(y[: ends.max()])[:, ends - 3].T  # as forecast_log_paths
        last = y[ends - 1]
        last_return = last - y[ends - 2]
        k = len(self.regime_means_)
        moments = None
        for h in range(1, h_max + 1):
            if k ** (h + 1) <= MAX_PATHS:
                w, m, v = self._path_mixture(last_return, probs, h)
                lo, hi = mixture_bounds(w, last[:, None] + m, v, level)
            else:
                if moments is None:
                    moments = self._sum_moments(last_return, probs, h_max)
                mean, var = moments
                lo, hi = gaussian_bounds(last + mean[:, h - 1], var[:, h - 1], level)
            lower[:, h - 1], upper[:, h - 1] = lo, hi
        return lower, upper

    def _path_mixture(
        self, last_return: np.ndarray, probs: np.ndarray, h: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Weights, means and variances of the sum of ``h`` returns, per origin and path."""
        t = np.asarray(self.transition_matrix_, dtype=float)  # [from, to]
        mu = np.asarray(self.regime_means_, dtype=float)
        phi = np.asarray(self.ar_coef_, dtype=float)
        sig2 = np.asarray(self.regime_variances_, dtype=float)
        k = len(mu)
        paths = np.array(list(itertools.product(range(k), repeat=h + 1)))  # (P, h + 1)
        weights = probs[:, paths[:, 0]] * np.prod(t[paths[:, :-1], paths[:, 1:]], axis=1)
        ahead = paths[:, 1:]
        phis = phi[ahead]  # (P, h)
        # z_{t+j} = (phi_{s_1} ... phi_{s_j}) z_t + shocks: the mean part of the sum
        z_t = last_return[:, None] - mu[paths[:, 0]][None, :]  # (n, P)
        means = mu[ahead].sum(axis=1)[None, :] + z_t * np.cumprod(phis, axis=1).sum(axis=1)
        # a shock at step i moves the sum by g_i = 1 + phi_{i+1} + phi_{i+1} phi_{i+2} + ...
        g = np.ones((len(paths), h))
        for i in range(h - 2, -1, -1):
            g[:, i] = 1.0 + phis[:, i + 1] * g[:, i + 1]
        variances = (sig2[ahead] * g**2).sum(axis=1)
        return weights, means, np.broadcast_to(variances, means.shape)

    def _sum_moments(
        self, last_return: np.ndarray, probs: np.ndarray, horizon: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact mean and variance of the sum of the next returns, any horizon.

        Carries ``E[X 1{S = i}]`` for ``X`` in ``1, z, z^2, R, R^2, R z`` (``R``: the sum so
        far) one step at a time: ``z' = phi z + eps``, ``R' = R + mu + z'``.
        """
        t = np.asarray(self.transition_matrix_, dtype=float)
        mu = np.asarray(self.regime_means_, dtype=float)[None, :]
        phi = np.asarray(self.ar_coef_, dtype=float)[None, :]
        s2 = np.asarray(self.regime_variances_, dtype=float)[None, :]
        q = probs
        z = last_return[:, None] - mu
        z1, z2 = z * q, z**2 * q
        r1 = r2 = rz = np.zeros_like(q)
        mean, var = np.empty((len(q), horizon)), np.empty((len(q), horizon))
        for h in range(horizon):
            q, z1, z2, r1, r2, rz = (a @ t for a in (q, z1, z2, r1, r2, rz))
            r2 = r2 + mu**2 * q + phi**2 * z2 + s2 * q + 2 * mu * r1 + 2 * phi * rz
            r2 += 2 * mu * phi * z1
            rz_new = phi * rz + mu * phi * z1 + phi**2 * z2 + s2 * q
            r1 = r1 + mu * q + phi * z1
            z2 = phi**2 * z2 + s2 * q
            z1 = phi * z1
            rz = rz_new
            mean[:, h] = r1.sum(axis=1)
            var[:, h] = r2.sum(axis=1) - mean[:, h] ** 2
        return mean, np.maximum(var, 0.0)

    def _filtered_probs(self, y: np.ndarray) -> np.ndarray:
        """``P(S_t = j | returns up to t)``, shape ``(k_regimes, len(y) - 1 - order)``.

        Column ``c`` is the regime distribution at return ``c + order`` (statsmodels drops
        the first ``order`` returns, which only serve as lags).
        """
        model = self._statsmodels_model(returns_of(y) * self.scale_)
        res = model.filter(np.asarray(self.params_, dtype=float), cov_type="none", return_raw=True)
        return res.filtered_marginal_probabilities

    def _mean_paths(
        self, last: np.ndarray, last_return: np.ndarray, probs: np.ndarray, horizon: int
    ) -> np.ndarray:
        """Expected log-price paths, one row per origin; see the module docstring.

        ``last``, ``last_return``: (n_origins,); ``probs``: (n_origins, k) filtered
        probabilities at the origins. Sums are written as broadcast products rather than
        matrix products so each row's arithmetic does not depend on the number of rows.
        """
        t_from_to = np.asarray(self.transition_matrix_, dtype=float)  # [from j, to i]
        mu = np.asarray(self.regime_means_, dtype=float)
        phi = np.asarray(self.ar_coef_, dtype=float)
        q = probs  # (n, k)
        m = (last_return[:, None] - mu[None, :]) * probs  # (n, k): E[z_t 1{S_t = j}]
        steps = np.empty((len(last), horizon))
        for k in range(horizon):
            # (n, j, 1) * (1, j, i) summed over j
            q = (q[:, :, None] * t_from_to[None, :, :]).sum(axis=1)
            m = phi[None, :] * (m[:, :, None] * t_from_to[None, :, :]).sum(axis=1)
            steps[:, k] = (q * mu[None, :]).sum(axis=1) + m.sum(axis=1)
        return last[:, None] + np.cumsum(steps, axis=1)

    # ---- helpers ------------------------------------------------------------------------
    def _statsmodels_model(self, scaled_returns: np.ndarray) -> MarkovAutoregression:
        return MarkovAutoregression(
            scaled_returns,
            k_regimes=int(self.k_regimes),
            order=int(self.order),
            switching_variance=bool(self.switching_variance),
        )

    def _checked_params(self) -> tuple[int, int, float, int]:
        k, order, scale, maxiter = self.k_regimes, self.order, self.scale, self.maxiter
        check_int(k, "k_regimes", 2)
        if not is_int(order) or order != 1:
            raise ValueError(
                f"order must be 1 (the forecast recursion is exact for AR(1) regimes only); "
                f"got {order!r}"
            )
        if not isinstance(self.switching_variance, bool | np.bool_):
            raise TypeError(f"switching_variance must be a bool; got {self.switching_variance!r}")
        check_number(scale, "scale", 0)
        check_int(maxiter, "maxiter", 1)
        return int(k), int(order), float(scale), int(maxiter)

    def _n_params(self) -> int:
        k, order, _, _ = self._checked_params()
        n_var = k if self.switching_variance else 1
        # transition probabilities, means, AR coefficients, variances
        return k * (k - 1) + k + k * order + n_var
