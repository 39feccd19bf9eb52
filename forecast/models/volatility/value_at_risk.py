"""Value-at-Risk from a variance forecast: normal and Student-t quantiles, and its hits.

With a zero mean (daily means are ~1% of a daily standard deviation) and a forecast
variance ``V`` of the ``h``-day log return, the ``alpha`` Value-at-Risk is the loss
``VaR = -q_alpha sqrt(V)``, a positive number in log-return units, where ``q_alpha`` is the
``alpha`` quantile of a unit-variance distribution:

- normal: ``q_alpha = Phi^{-1}(alpha)``;
- Student-t with ``nu > 2`` degrees of freedom, scaled to unit variance:
  ``q_alpha = t_nu^{-1}(alpha) sqrt((nu - 2) / nu)`` (a t variable has variance
  ``nu / (nu - 2)``).

A hit (an exception) is a return below ``-VaR``. For ``h > 1`` a sum of t returns is not t;
the t quantile is then an approximation on the conservative side at 1%.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import stats

#: the t degrees of freedom for models without their own: close to the GARCH(1,1)-t fits on
#: the five embedded series (4.7 to 7.9 over 1000-4700 training days)
DEFAULT_T_DOF = 6.0
#: the two VaR levels every volatility backtest reports
VAR_LEVELS = (0.01, 0.05)
DISTRIBUTIONS = ("normal", "t")


def unit_quantile(alpha: float, dist: str = "normal", dof: float | None = None) -> float:
    """The ``alpha`` quantile of the unit-variance normal or Student-t (negative for small
    ``alpha``)."""
    if not isinstance(alpha, numbers.Real) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a number in (0, 1); got {alpha!r}")
    if dist == "normal":
        return float(stats.norm.ppf(alpha))
    if dist != "t":
        raise ValueError(f"dist must be 'normal' or 't'; got {dist!r}")
    nu = DEFAULT_T_DOF if dof is None else dof
    if not isinstance(nu, numbers.Real) or not np.isfinite(nu) or nu <= 2:
        raise ValueError(f"dof must be a number > 2 (a finite variance); got {nu!r}")
    return float(stats.t.ppf(alpha, nu) * np.sqrt((nu - 2.0) / nu))


def value_at_risk(
    variance: np.ndarray | float,
    alpha: float,
    dist: str = "normal",
    dof: float | None = None,
) -> np.ndarray:
    """The ``alpha`` VaR (a positive loss of log return) for each forecast variance.

    Parameters
    ----------
    variance
        Forecast variances of the log return over the VaR horizon (the summed daily ones).
    alpha
        Tail probability, e.g. 0.01 or 0.05.
    dist
        ``"normal"`` or ``"t"`` (unit-variance Student-t with ``dof`` degrees of freedom,
        :data:`DEFAULT_T_DOF` when ``None``).
    """
    q = unit_quantile(alpha, dist, dof)
    return -q * np.sqrt(np.asarray(variance, dtype=float))


def var_hits(returns: np.ndarray, var: np.ndarray) -> np.ndarray:
    """1 where the return fell below ``-var`` (an exception), 0 otherwise; NaN stays NaN."""
    returns = np.asarray(returns, dtype=float)
    var = np.asarray(var, dtype=float)
    hits = (returns < -var).astype(float)
    hits[np.isnan(returns) | np.isnan(var)] = np.nan
    return hits
