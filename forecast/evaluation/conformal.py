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
    Adaptive conformal inference (Gibbs and Candès, 2021, eq. 2): the same quantiles, at a
    level that moves after each observed miss (wider) or hit (narrower) by ``gamma``, so the
    coverage recovers after a volatility regime change.

The conformal methods take a **scale**: ``none`` (the signed errors above, two-sided
quantiles) or a volatility forecast made at the origin, ``sigma(origin, h)``, the standard
deviation of the ``h``-day log return (EWMA or GARCH(1,1)-t, computed by the engine on the
prices up to the origin, see :mod:`forecast.walkforward.scales`). A scaled interval scores
each past error as ``|log(actual / forecast)| / sigma(its origin, h)`` and gives the band
``log forecast +- q sigma(origin, h)``, ``q`` the split-conformal quantile of the scores
(normalised nonconformity scores: Lei, G'Sell, Rinaldo, Tibshirani and Wasserman, 2018,
JASA 113, section 5.2; Papadopoulos, Vovk and Gammerman, 2008). The band then widens the day
volatility rises instead of after the misses have come. Variant names join the two:
``aci_garch``, ``conformal_ewma``; the unscaled ones keep their names (``aci``).

Everything here is a pure function of past values; no interval ever looks at an error whose
target lies after its origin, nor at a scale made after its origin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast.checks import (
    DEFAULT_INTERVAL_METHOD,
    DEFAULT_INTERVAL_SCALE,
    DEFAULT_LEVEL,
    INTERVAL_METHODS,
    INTERVAL_SCALES,
    check_int,
    check_level,
    check_number,
)

METHODS = INTERVAL_METHODS
DEFAULT_METHOD = DEFAULT_INTERVAL_METHOD
SCALES = INTERVAL_SCALES
DEFAULT_SCALE = DEFAULT_INTERVAL_SCALE
#: the scaled variants every run computes beside the chosen one, so that a report compares them
DEFAULT_SCALES = ("ewma", "garch")
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
        ``"conformal"`` or ``"aci"``; see the module docstring. Every run computes every
        variant (columns ``lower_model``, ``lower_conformal``, ``lower_aci``,
        ``lower_aci_garch``...) so a report can compare them; ``lower``/``upper`` are the
        chosen one.
    level
        Nominal coverage of the central interval, in (0, 1).
    calibration_size
        Origins walked before the test period (same refit cadence, a separate model copy)
        to give the conformal intervals past errors at the first test origin.
    window
        The conformal quantiles use at most the last ``window`` known errors.
    gamma
        The adaptive conformal step.
    scale
        The volatility scale of the chosen conformal interval: ``"none"``, ``"ewma"`` or
        ``"garch"`` (with ``method="model"``: of the conformal fallback of the nets).
    scales
        The scaled variants computed for comparison (``()``: none, the cheapest run); the
        chosen ``scale`` is always among them.
    """

    method: str = DEFAULT_METHOD
    level: float = DEFAULT_LEVEL
    calibration_size: int = DEFAULT_CALIBRATION
    window: int = DEFAULT_WINDOW
    gamma: float = DEFAULT_GAMMA
    scale: str = DEFAULT_SCALE
    scales: tuple[str, ...] = field(default=DEFAULT_SCALES)

    def __post_init__(self) -> None:
        check_method(self.method)
        check_level(self.level)
        check_int(self.calibration_size, "calibration_size", 0)
        check_int(self.window, "window", MIN_ERRORS)
        check_number(self.gamma, "gamma", 0, 1)
        check_scale(self.scale)
        if isinstance(self.scales, str) or not hasattr(self.scales, "__iter__"):
            raise TypeError(f"scales must be a list of scales; got {self.scales!r}")
        listed = [check_scale(s, "scales") for s in self.scales]
        if self.scale != "none":
            listed.append(self.scale)
        # in SCALES order, once each, never "none" (the unscaled variants are always made)
        chosen = tuple(s for s in SCALES[1:] if s in listed)
        object.__setattr__(self, "scales", chosen)

    @property
    def variant(self) -> str:
        """The name of the chosen variant (``aci``, ``aci_garch``, ``model``...)."""
        return variant_name(self.method, self.scale)

    def variants(self) -> tuple[str, ...]:
        """Every variant a run with these settings computes, in report order."""
        return ("model", *(variant_name(m, s) for s in ("none", *self.scales)
                           for m in ("conformal", "aci")))  # fmt: skip


def check_method(method: object) -> str:
    """Return ``method`` or raise ``ValueError`` listing the valid ones."""
    if method not in METHODS:
        raise ValueError(f"interval method must be one of {', '.join(METHODS)}; got {method!r}")
    return str(method)


def check_scale(scale: object, name: str = "scale") -> str:
    """Return ``scale`` or raise ``ValueError`` listing the valid ones."""
    if scale not in SCALES:
        raise ValueError(f"{name} must be one of {', '.join(SCALES)}; got {scale!r}")
    return str(scale)


def variant_name(method: str, scale: str = "none") -> str:
    """``aci`` + ``garch`` -> ``aci_garch``; unscaled variants and ``model`` keep their name."""
    return method if scale == "none" or method == "model" else f"{method}_{scale}"


@dataclass
class ConformalState:
    """What a conformal interval carries from one origin to the next.

    The past scores known so far (the last ``window``; signed log errors, or absolute log
    errors over their scale) and adaptive conformal's working miscoverage ``alpha``. The
    backtest runs one through every origin (:func:`conformal_bounds`); the scheduled job
    stores it between evenings (:mod:`forecast.job.intervals`), so that both give the same
    bounds from the same errors.
    """

    level: float
    method: str = "conformal"
    scaled: bool = False
    window: int = DEFAULT_WINDOW
    gamma: float = DEFAULT_GAMMA
    alpha: float = field(default=float("nan"))
    scores: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not np.isfinite(self.alpha):
            self.alpha = 1.0 - self.level

    def observe(self, score: float, miss: bool | None = None) -> None:
        """Add a newly known score; ``miss``: whether its own interval missed (``None``: it
        had none). ACI's level moves by ``gamma (alpha_nominal - miss)`` (Gibbs and Candès,
        eq. 2): after a miss the working miscoverage falls by ``gamma (1 - alpha)``, after
        a hit it rises by ``gamma alpha``."""
        if self.method == "aci" and miss is not None:
            self.alpha += self.gamma * ((1.0 - self.level) - float(miss))
        self.scores.append(float(score))
        if len(self.scores) > self.window:
            del self.scores[: len(self.scores) - self.window]

    def log_bounds(self, scale: float | None = None) -> tuple[float, float] | None:
        """The interval on the log error at the next origin, or ``None`` with fewer than
        :data:`MIN_ERRORS` scores (or, scaled, without a positive finite ``scale``)."""
        if len(self.scores) < MIN_ERRORS:
            return None
        a = min(max(self.alpha, 1e-6), 1.0) if self.method == "aci" else 1.0 - self.level
        recent = np.asarray(self.scores)
        if not self.scaled:
            lo, hi = _split_quantiles(recent, a)
            # the band always holds the point forecast (an error of zero)
            return min(lo, 0.0), max(hi, 0.0)
        if scale is None or not np.isfinite(scale) or scale <= 0:
            return None
        q = _abs_quantile(recent, a) * scale
        return -q, q


def conformal_bounds(
    log_errors: np.ndarray,
    known_at: np.ndarray,
    origins: np.ndarray,
    level: float,
    *,
    window: int = DEFAULT_WINDOW,
    method: str = "conformal",
    gamma: float = DEFAULT_GAMMA,
    scale: np.ndarray | None = None,
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
    scale
        ``None`` (unscaled: signed errors, two-sided quantiles), or per row the volatility
        forecast ``sigma(origin, h)`` made at its origin: scores ``|error| / sigma`` and a
        symmetric band ``+- q sigma``. A row without a positive finite scale gets no
        interval and lends no score.

    Returns
    -------
    (lower, upper)
        Bounds to add to the log forecast, holding 0 (the forecast itself); NaN where fewer
        than :data:`MIN_ERRORS` errors were known at the origin.
    """
    lower, upper, _ = conformal_walk(
        log_errors, known_at, origins, level, window=window, method=method, gamma=gamma,
        scale=scale,
    )  # fmt: skip
    return lower, upper


def conformal_walk(
    log_errors: np.ndarray,
    known_at: np.ndarray,
    origins: np.ndarray,
    level: float,
    *,
    window: int = DEFAULT_WINDOW,
    method: str = "conformal",
    gamma: float = DEFAULT_GAMMA,
    scale: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, ConformalState]:
    """:func:`conformal_bounds`, and the state after the last origin (every error known at
    it incorporated): what the scheduled job keeps for the next evening."""
    n = len(origins)
    lower, upper = np.full(n, np.nan), np.full(n, np.nan)
    log_errors = np.asarray(log_errors, dtype=float)
    if scale is None:
        scores, sigma = log_errors, np.ones(n)
    else:
        sigma = np.asarray(scale, dtype=float)
        good = np.isfinite(sigma) & (sigma > 0)
        sigma = np.where(good, sigma, np.nan)
        scores = np.abs(log_errors) / sigma
    state = ConformalState(level, method, scale is not None, window, gamma)
    order = np.argsort(known_at, kind="stable")
    k = 0  # errors in `order` already incorporated
    for i in range(n):
        while k < n and known_at[order[k]] <= origins[i]:
            j = order[k]
            k += 1
            if not np.isfinite(scores[j]):
                continue
            miss = None
            if np.isfinite(lower[j]):
                miss = not (lower[j] <= log_errors[j] <= upper[j])
            state.observe(scores[j], miss)
        bounds = state.log_bounds(sigma[i])
        if bounds is not None:
            lower[i], upper[i] = bounds
    return lower, upper, state


def _split_quantiles(errors: np.ndarray, alpha: float) -> tuple[float, float]:
    """Lower and upper split-conformal quantiles with the finite-sample correction."""
    m = len(errors)
    srt = np.sort(errors)
    # the ceil((m + 1)(1 - alpha/2))-th smallest, capped at the largest (infinite in theory)
    hi_rank = min(int(np.ceil((m + 1) * (1 - alpha / 2))), m)
    lo_rank = max(int(np.floor((m + 1) * (alpha / 2))), 1)
    return float(srt[lo_rank - 1]), float(srt[hi_rank - 1])


def _abs_quantile(scores: np.ndarray, alpha: float) -> float:
    """The ``ceil((m + 1)(1 - alpha))``-th smallest score (Lei et al. 2018, eq. 5), capped
    at the largest and at least the smallest."""
    m = len(scores)
    rank = min(max(int(np.ceil((m + 1) * (1 - alpha))), 1), m)
    return float(np.partition(scores, rank - 1)[rank - 1])


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


def sigma_column(scale: str) -> str:
    """The forecasts-table column holding ``sigma(origin, h)`` of a scale: ``sigma_garch``."""
    return f"sigma_{scale}"


def add_conformal_columns(forecasts: pd.DataFrame, settings: IntervalSettings) -> pd.DataFrame:
    """Add the bounds of every conformal variant (``lower_conformal``, ``upper_aci_garch``...).

    ``forecasts`` carries ``_pos``, the row number of each origin in its series, and for each
    scale of ``settings.scales`` the column ``sigma_<scale>`` (see :func:`sigma_column`).
    Rows are grouped by series, model and horizon; within a group each interval uses only
    errors whose target position (``_pos + horizon``) is at or before the row's origin.
    """
    out = forecasts.copy()
    variants = [(m, s) for s in ("none", *settings.scales) for m in ("conformal", "aci")]
    for method, scale in variants:
        for side in ("lower", "upper"):
            out[f"{side}_{variant_name(method, scale)}"] = np.nan
    for _, g in out.groupby(["series", "model", "horizon"], sort=False):
        g = g.sort_values("_pos", kind="stable")
        origin_pos = g["_pos"].to_numpy(int)
        h = g["horizon"].to_numpy(int)
        fc = g["forecast"].to_numpy(float)
        err = np.log(g["actual"].to_numpy(float) / fc)
        for method, scale in variants:
            sigma = None if scale == "none" else g[sigma_column(scale)].to_numpy(float)
            lo, hi = conformal_bounds(
                err,
                origin_pos + h,
                origin_pos,
                settings.level,
                window=settings.window,
                method=method,
                gamma=settings.gamma,
                scale=sigma,
            )
            name = variant_name(method, scale)
            out.loc[g.index, f"lower_{name}"] = fc * np.exp(lo)
            out.loc[g.index, f"upper_{name}"] = fc * np.exp(hi)
    return out


def finish_intervals(
    rows: pd.DataFrame, calibration_rows: pd.DataFrame, settings: IntervalSettings
) -> pd.DataFrame:
    """Every interval variant for one model's test rows, and ``lower, upper`` by the method.

    The calibration rows lend their errors to the conformal intervals and are dropped. With
    ``method="model"``, a model without a predictive distribution (the nets) gets the
    conformal interval (of the chosen scale). With a scale, ``sigma`` is that scale's
    ``sigma(origin, h)``: the forecast standard deviation of the ``h``-day log return.
    """
    both = pd.concat(
        [calibration_rows.assign(_cal=True), rows.assign(_cal=False)], ignore_index=True
    )
    both = add_conformal_columns(both, settings)
    out = both[~both["_cal"].astype(bool)].drop(columns="_cal").reset_index(drop=True)
    if settings.method == "model":
        fallback = variant_name("conformal", settings.scale)
        out["lower"] = out["lower_model"].fillna(out[f"lower_{fallback}"])
        out["upper"] = out["upper_model"].fillna(out[f"upper_{fallback}"])
    else:
        chosen = settings.variant
        out["lower"], out["upper"] = out[f"lower_{chosen}"], out[f"upper_{chosen}"]
    if settings.scale != "none":
        out["sigma"] = out[sigma_column(settings.scale)]
    # the chosen interval first, then every variant in report order, then the scales
    bounds = [f"{side}_{v}" for v in settings.variants() for side in ("lower", "upper")]
    scales = [sigma_column(s) for s in settings.scales]
    picked = ["lower", "upper", *(["sigma"] if settings.scale != "none" else [])]
    first = [c for c in out.columns if c not in {*bounds, *scales, *picked}]
    return out[[*first, *picked, *bounds, *scales]]
