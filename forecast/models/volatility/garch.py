"""GARCH(1,1) and GJR-GARCH(1,1,1) with Student-t errors, estimated by ``arch``.

``arch`` fits the model on the returns times ``scale`` (100: percent, as arch recommends
for the optimiser) with a zero mean. Between refits the variance recursion runs with the
fitted parameters on the data up to each origin, exactly as ``arch`` runs it (Glosten,
Jagannathan and Runkle 1993 for ``gamma``; ``gamma = 0`` is Bollerslev's 1986 GARCH)::

    e_t = scale * r_t
    s_0 = omega + (alpha + gamma / 2 + beta) * b,   b = sum_i w_i e_i^2, i < 75,
          w_i proportional to 0.94^i                 (arch's backcast)
    s_t = omega + (alpha + gamma 1{e_{t-1} < 0}) e_{t-1}^2 + beta s_{t-1}

and the forecasts from an origin with returns ``e_0 .. e_{m-1}`` are arch's analytic ones::

    f_1 = s_m,   f_k = omega + (alpha + gamma / 2 + beta) f_{k-1}   (k >= 2)

(for a symmetric error distribution ``E[1{e < 0} e^2] = s / 2``), divided by ``scale^2``.
``arch`` also clamps each ``s_t`` into loose bounds (a millionth to a million times a
moving variance); they never bind on daily returns and are not repeated here.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from scipy.signal import lfilter

from forecast.errors import ModelFitError
from forecast.models.volatility.base import BaseVolatilityModel, check_choice
from forecast.models.volatility.realized import LogOHLC
from forecast.models.volatility.value_at_risk import DEFAULT_T_DOF

#: arch's backcast: the first 75 squared residuals, weights 0.94^i
BACKCAST_LENGTH = 75
BACKCAST_DECAY = 0.94


class GARCHVolatility(BaseVolatilityModel):
    """GARCH(1,1) with Student-t (or normal) errors and a zero mean, fitted by ``arch``.

    Parameters
    ----------
    dist
        Error distribution: ``"t"`` (Student-t, Bollerslev 1987) or ``"normal"``.
    scale
        The returns are multiplied by this before fitting (100: percent returns).
    warm_start
        Start a refit from the previous fit's parameters (same specification); if that fit
        does not converge, it is retried from arch's default start.

    Notes
    -----
    Fitted: ``params_`` (arch's parameter vector on the scaled returns, named by
    ``param_names_``), ``omega_``, ``alpha_``, ``gamma_`` (0 for GARCH), ``beta_`` (scaled
    units), ``nu_`` (the t degrees of freedom; ``None`` for normal errors), ``scale_``,
    ``loglike_``, ``persistence_`` (``alpha + gamma / 2 + beta``) and ``warm_started_``.
    """

    name = "garch"
    #: asymmetric terms (0: GARCH, 1: GJR)
    _o = 0

    def __init__(self, dist: str = "t", scale: float = 100.0, warm_start: bool = True):
        self.dist = dist
        self.scale = scale
        self.warm_start = warm_start

    def _check_params(self) -> None:
        check_choice(self.dist, "dist", ("t", "normal"))
        s = self.scale
        if isinstance(s, bool) or not isinstance(s, numbers.Real) or not np.isfinite(s) or s <= 0:
            raise ValueError(f"scale must be a finite number > 0; got {s!r}")
        if not isinstance(self.warm_start, bool | np.bool_):
            raise TypeError(f"warm_start must be True or False; got {self.warm_start!r}")

    def min_train_size(self) -> int:
        return 101  # 100 returns for five parameters

    def min_history_size(self) -> int:
        return BACKCAST_LENGTH + 1  # the backcast reads the first 75 returns

    def t_dof(self) -> float:
        """The fitted t degrees of freedom (``DEFAULT_T_DOF`` for normal errors)."""
        return DEFAULT_T_DOF if self.nu_ is None else float(self.nu_)

    # ---- fitting ------------------------------------------------------------------------
    def _fit(self, data: LogOHLC) -> None:
        scale = float(self.scale)
        model = self.arch_model(np.diff(data.close) * scale)
        start = self._warm_params(model)
        res = None
        if start is not None:
            res = _fit_arch(model, start)
        warm = res is not None
        if res is None:
            res = _fit_arch(model, None)
        if res is None:
            raise ModelFitError(
                f"{self.name}: arch did not converge on {data.close.size - 1} returns "
                f"(from {'the previous fit and ' if start is not None else ''}the default start)"
            )
        params = np.asarray(res.params, dtype=float)
        names = list(res.params.index)
        values = dict(zip(names, params, strict=True))
        self.params_ = params
        self.param_names_ = names
        self.omega_ = float(values["omega"])
        self.alpha_ = float(values["alpha[1]"])
        self.gamma_ = float(values.get("gamma[1]", 0.0))
        self.beta_ = float(values["beta[1]"])
        self.nu_ = float(values["nu"]) if "nu" in values else None
        self.persistence_ = self.alpha_ + 0.5 * self.gamma_ + self.beta_
        self.scale_ = scale
        self.loglike_ = float(res.loglikelihood)
        self.warm_started_ = warm

    def arch_model(self, scaled_returns: np.ndarray):
        """The ``arch`` model this class fits, on returns already multiplied by ``scale``."""
        from arch import arch_model

        return arch_model(
            scaled_returns,
            mean="Zero",
            vol="GARCH",
            p=1,
            o=self._o,
            q=1,
            dist="t" if self.dist == "t" else "normal",
            rescale=False,
        )

    def _warm_params(self, model) -> np.ndarray | None:
        if not self.warm_start or not hasattr(self, "params_"):
            return None
        prev = np.asarray(self.params_, dtype=float)
        same = self.param_names_ == list(model.parameter_names()) and self.scale_ == self.scale
        return prev if same and np.all(np.isfinite(prev)) else None

    # ---- forecasting --------------------------------------------------------------------
    def _variances(self, data: LogOHLC, ends: np.ndarray, horizon: int) -> np.ndarray:
        s = self._conditional_variances(np.diff(data.close) * self.scale_)
        # s[m] is the variance of return m given returns 0..m-1: prices y[:end] hold
        # end - 1 returns, so the first step from that origin is s[end - 1]
        out = np.empty((len(ends), horizon))
        out[:, 0] = s[ends - 1]
        for k in range(1, horizon):
            out[:, k] = self.omega_ + self.persistence_ * out[:, k - 1]
        return out / self.scale_**2

    def _conditional_variances(self, e: np.ndarray) -> np.ndarray:
        """``s_0 .. s_m`` for scaled returns ``e_0 .. e_{m-1}`` (see the module notes)."""
        tau = min(BACKCAST_LENGTH, len(e))
        w = BACKCAST_DECAY ** np.arange(tau)
        backcast = float(np.sum(e[:tau] ** 2 * (w / w.sum())))
        s0 = self.omega_ + (self.alpha_ + 0.5 * self.gamma_ + self.beta_) * backcast
        shock = self.omega_ + (self.alpha_ + self.gamma_ * (e < 0)) * e**2
        # s_{t+1} = shock_t + beta s_t, a first-order filter started at s_0
        rest, _ = lfilter([1.0], [1.0, -self.beta_], shock, zi=[self.beta_ * s0])
        return np.concatenate([[s0], rest])


class GJRVolatility(GARCHVolatility):
    """GJR-GARCH(1,1,1): GARCH with a leverage term ``gamma 1{e < 0} e^2`` (Glosten,
    Jagannathan and Runkle 1993); parameters and fitted state as :class:`GARCHVolatility`."""

    name = "gjr"
    _o = 1


def _fit_arch(model, start: np.ndarray | None):
    """One arch fit; ``None`` if it failed, did not converge or is not finite."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is checked below
        try:
            res = model.fit(disp="off", starting_values=start, show_warning=False)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeError):
            return None
    params = np.asarray(res.params, dtype=float)
    if res.convergence_flag != 0 or not np.all(np.isfinite(params)):
        return None
    return res
