"""Prediction intervals: from a model's predictive distribution, or conformal on its past errors.

Three ways to give a central ``level`` interval for the price at each horizon:

``model``
    From the model's own predictive distribution of the log price (Gaussian for naive, drift,
    AR and the Markov chain; a Gaussian mixture over regime paths for msar). Models without
    one (the neural nets) fall back to ``conformal``.
``conformal``
    Split conformal on the model's own walk-forward errors: at an origin, the empirical
    quantiles of the log errors ``log(actual / forecast)`` of the same model and horizon whose
    targets are at or before the origin (so known then), over the last ``window`` of them.
    On log-returns, so the band scales with the price.
``aci``
    Adaptive conformal inference (Gibbs and Candès, 2021): the same quantiles, at a level
    that moves after each observed miss (wider) or hit (narrower) by ``gamma``, so the
    coverage recovers after a volatility regime change.

Everything here is a pure function of past values; no interval ever looks at an error whose
target lies after its origin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.checks import (
    DEFAULT_INTERVAL_METHOD,
    DEFAULT_LEVEL,
    INTERVAL_METHODS,
    check_int,
    check_level,
    check_number,
)

METHODS = INTERVAL_METHODS
DEFAULT_METHOD = DEFAULT_INTERVAL_METHOD
DEFAULT_WINDOW = 250
DEFAULT_GAMMA = 0.02
DEFAULT_CALIBRATION = 100
#: fewest past errors a conformal interval is computed from; before that it is left empty
MIN_ERRORS = 20


@dataclass(frozen=True)
class IntervalSettings:
    """How a backtest gives intervals.

    Parameters
    ----------
    method
        ``"model"`` (the model's distribution, conformal for models without one),
        ``"conformal"`` or ``"aci"``; see the module docstring. Every run computes all three
        variants (columns ``lower_model``, ``lower_conformal``, ``lower_aci``...) so a report
        can compare them; ``lower``/``upper`` are the chosen one.
    level
        Nominal coverage of the central interval, in (0, 1).
    calibration_size
        Origins walked before the test period (same refit cadence, a separate model copy)
        to give the conformal intervals past errors at the first test origin.
    window
        The conformal quantiles use at most the last ``window`` known errors.
    gamma
        The adaptive conformal step.
    """

    method: str = DEFAULT_METHOD
    level: float = DEFAULT_LEVEL
    calibration_size: int = DEFAULT_CALIBRATION
    window: int = DEFAULT_WINDOW
    gamma: float = DEFAULT_GAMMA

    def __post_init__(self) -> None:
        check_method(self.method)
        check_level(self.level)
        check_int(self.calibration_size, "calibration_size", 0)
        check_int(self.window, "window", MIN_ERRORS)
        check_number(self.gamma, "gamma", 0, 1)


def check_method(method: object) -> str:
    """Return ``method`` or raise ``ValueError`` listing the valid ones."""
    if method not in METHODS:
        raise ValueError(f"interval method must be one of {', '.join(METHODS)}; got {method!r}")
    return str(method)


def conformal_bounds(
    log_errors: np.ndarray,
    known_at: np.ndarray,
    origins: np.ndarray,
    level: float,
    *,
    window: int = DEFAULT_WINDOW,
    method: str = "conformal",
    gamma: float = DEFAULT_GAMMA,
) -> tuple[np.ndarray, np.ndarray]:
    """Conformal bounds on the log error, for one model and horizon, in origin order.

    Parameters
    ----------
    log_errors
        ``log(actual / forecast)`` of each forecast (row), NaN where not (yet) known.
    known_at
        The position (row number in the price series) at which each error becomes known:
        its target. Sorted as the rows.
    origins
        The position of each forecast's origin, ascending.
    level
        Nominal coverage.
    window
        Use at most the last ``window`` known errors.
    method
        ``"conformal"`` (fixed level) or ``"aci"`` (adaptive level).
    gamma
        The ACI step: after each observed miss the working miscoverage falls by
        ``gamma * (1 - alpha)``, after each hit it rises by ``gamma * alpha``.

    Returns
    -------
    (lower, upper)
        Quantiles of the past errors to add to the log forecast, widened if needed to hold
        0 (the forecast itself); NaN where fewer than :data:`MIN_ERRORS` errors were known
        at the origin.
    """
    n = len(origins)
    lower, upper = np.full(n, np.nan), np.full(n, np.nan)
    alpha = 1.0 - level
    alpha_t = alpha
    order = np.argsort(known_at, kind="stable")
    seen: list[float] = []
    k = 0  # errors in `order` already incorporated
    for i in range(n):
        while k < n and known_at[order[k]] <= origins[i]:
            j = order[k]
            k += 1
            if not np.isfinite(log_errors[j]):
                continue
            if method == "aci" and np.isfinite(lower[j]):
                miss = not (lower[j] <= log_errors[j] <= upper[j])
                alpha_t += gamma * (alpha - float(miss))
            seen.append(float(log_errors[j]))
        if len(seen) < MIN_ERRORS:
            continue
        recent = np.asarray(seen[-window:])
        a = min(max(alpha_t, 1e-6), 1.0) if method == "aci" else alpha
        lo, hi = _split_quantiles(recent, a)
        # the band always holds the point forecast (an error of zero)
        lower[i], upper[i] = min(lo, 0.0), max(hi, 0.0)
    return lower, upper


def _split_quantiles(errors: np.ndarray, alpha: float) -> tuple[float, float]:
    """Lower and upper split-conformal quantiles with the finite-sample correction."""
    m = len(errors)
    srt = np.sort(errors)
    # the ceil((m + 1)(1 - alpha/2))-th smallest, capped at the largest (infinite in theory)
    hi_rank = min(int(np.ceil((m + 1) * (1 - alpha / 2))), m)
    lo_rank = max(int(np.floor((m + 1) * (alpha / 2))), 1)
    return float(srt[lo_rank - 1]), float(srt[hi_rank - 1])


def interval_scores(
    actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, forecast: np.ndarray, level: float
) -> dict[str, float]:
    """Coverage, mean relative width and mean Winkler score over points with an interval.

    ``width`` is ``(upper - lower) / forecast``; the Winkler score is the width in price
    units plus ``2 / (1 - level)`` times the distance by which the actual falls outside.
    """
    ok = np.isfinite(lower) & np.isfinite(upper)
    if not ok.any():
        return {"coverage": np.nan, "width": np.nan, "winkler": np.nan}
    a, lo, hi, f = actual[ok], lower[ok], upper[ok], forecast[ok]
    alpha = 1.0 - level
    penalty = (2 / alpha) * (np.maximum(lo - a, 0) + np.maximum(a - hi, 0))
    return {
        "coverage": float(np.mean((a >= lo) & (a <= hi))),
        "width": float(np.mean((hi - lo) / f)),
        "winkler": float(np.mean(hi - lo + penalty)),
    }


def add_conformal_columns(forecasts: pd.DataFrame, settings: IntervalSettings) -> pd.DataFrame:
    """Add ``lower_conformal, upper_conformal, lower_aci, upper_aci`` to a forecasts table.

    ``forecasts`` carries ``_pos``, the row number of each origin in its series. Rows are
    grouped by series, model and horizon; within a group each interval uses only errors
    whose target position (``_pos + horizon``) is at or before the row's origin.
    """
    out = forecasts.copy()
    for col in ("lower_conformal", "upper_conformal", "lower_aci", "upper_aci"):
        out[col] = np.nan
    for _, g in out.groupby(["series", "model", "horizon"], sort=False):
        g = g.sort_values("_pos", kind="stable")
        origin_pos = g["_pos"].to_numpy(int)
        h = g["horizon"].to_numpy(int)
        fc = g["forecast"].to_numpy(float)
        err = np.log(g["actual"].to_numpy(float) / fc)
        for method in ("conformal", "aci"):
            lo, hi = conformal_bounds(
                err,
                origin_pos + h,
                origin_pos,
                settings.level,
                window=settings.window,
                method=method,
                gamma=settings.gamma,
            )
            out.loc[g.index, f"lower_{method}"] = fc * np.exp(lo)
            out.loc[g.index, f"upper_{method}"] = fc * np.exp(hi)
    return out


def finish_intervals(
    rows: pd.DataFrame, calibration_rows: pd.DataFrame, settings: IntervalSettings
) -> pd.DataFrame:
    """Every interval variant for one model's test rows, and ``lower, upper`` by the method.

    The calibration rows lend their errors to the conformal intervals and are dropped. With
    ``method="model"``, a model without a predictive distribution (the nets) gets the
    conformal interval.
    """
    both = pd.concat(
        [calibration_rows.assign(_cal=True), rows.assign(_cal=False)], ignore_index=True
    )
    both = add_conformal_columns(both, settings)
    out = both[~both["_cal"].astype(bool)].drop(columns="_cal").reset_index(drop=True)
    if settings.method == "model":
        out["lower"] = out["lower_model"].fillna(out["lower_conformal"])
        out["upper"] = out["upper_model"].fillna(out["upper_conformal"])
    else:
        out["lower"], out["upper"] = (
            out[f"lower_{settings.method}"],
            out[f"upper_{settings.method}"],
        )
    return out
