"""Anytime-valid confidence sequences for a scorecard that is checked every evening.

A fixed-sample test (Diebold-Mariano) repeated every evening, acting on the first
significant result, raises a false alarm on a large share of models that are no better than
the random walk (``benchmarks/monitoring_placebo.py`` measures it). A *confidence sequence*
(CS) ``(lower_t, upper_t)`` covers its target at all times at once with probability at least
``1 - alpha``, so it can be looked at after every new matured forecast and acted on at any
time (Howard, Ramdas, McAuliffe & Sekhon 2021; Choe & Ramdas 2024, "Comparing sequential
forecasters", use them to compare forecasters exactly as here). Two sequences are used.

**Mean loss difference** ``d_i = loss_model_i - loss_rw_i`` (squared log errors; negative:
the model beats the random walk). Unbounded and heavy tailed (squared returns under
volatility clustering), with no scale known in advance, so no nonasymptotic CS applies: those
need a known range, sub-Gaussian scale or variance bound. We use the *asymptotic* CS with the
Gaussian-mixture boundary of Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2024),
"Time-uniform central limit theory and asymptotic confidence sequences", Ann. Statist. 52(6),
Theorem 2.2::

    mean_t +- sd_t * sqrt( 2 (t rho^2 + 1) / (t^2 rho^2) * log( sqrt(t rho^2 + 1) / alpha ) )

with ``mean_t`` the mean and ``sd_t^2 = (1/t) sum_i (d_i - mean_t)^2`` the variance of the
first ``t`` values. It needs only finite moments (``2 + delta``) and is a CLT interval widened
by about ``sqrt(log t)``. The paper's martingale-dependent (Lindeberg-type) version gives the
same boundary in the intrinsic time ``t sd_t^2`` for conditionally heteroskedastic data (our
GARCH-like errors), with the running average of the conditional means as the target, the
target Choe & Ramdas use. Assumed: the loss differences that enter (see "Horizons above 1")
are a martingale-difference sequence around their conditional means, with finite ``2 +
delta`` moments and an average conditional variance that settles.

``rho`` makes the boundary tightest at ``t_opt`` values: minimising the radius over
``u = t_opt rho^2 + 1`` gives ``u - 1 = log(u / alpha^2)``, that is ``u = -W_{-1}(-alpha^2 / e)``
(Lambert W, lower branch). The guarantee is asymptotic: with few values the sample variance
of heavy-tailed data is often too small, so no bounds are given before ``min_n`` values (the
CS is then undecided). ``t_opt`` = 100 and ``min_n`` = 20 were set before the benchmark ran;
other values move its null rate little (h=1, 300 streams per model: 3.8% with the defaults,
3.9% with ``t_opt`` 50, 2.8% with 250, 4.3% with ``min_n`` 10; standard error 0.6%).

**Interval hit rate** (1 when the actual fell inside the interval): bounded in [0, 1], so the
nonasymptotic *predictable plug-in empirical Bernstein* CS of Waudby-Smith & Ramdas (2024),
"Estimating means of bounded random variables by betting", J. R. Stat. Soc. B 86(1),
Theorem 2 (the "PrPl-EB" sequence), valid at every ``t`` with no asymptotics::

    centre_t = sum_i lambda_i x_i / sum_i lambda_i
    radius_t = ( log(2 / alpha) + sum_i v_i psi_E(lambda_i) ) / sum_i lambda_i
    v_i = 4 (x_i - mu_{i-1})^2,   psi_E(lam) = (-log(1 - lam) - lam) / 4
    lambda_i = min( sqrt( 2 log(2/alpha) / (sig2_{i-1} i log(1 + i)) ), truncation )
    mu_i = (1/2 + sum_{j<=i} x_j) / (i + 1),   sig2_i = (1/4 + sum_{j<=i} (x_j - mu_j)^2) / (i + 1)

(``mu_0 = 1/2``, ``sig2_0 = 1/4``), intersected with [0, 1]. It assumes a constant
conditional mean (the null "every interval covers with its nominal level"); when the
conditional coverage moves (adaptive conformal intervals do), it covers the bet-weighted
average of the conditional coverages. We chose it over the betting (hedged-capital) CS of the
same paper, which is tighter but needs a grid search per time, too slow for a scorecard of
half a million rows answered in well under a second.

**Horizons above 1.** ``h``-step forecasts made on consecutive days overlap: two targets
less than ``h`` sessions apart share returns, so their loss differences (and hits) are
dependent even under the null, and both theorems assume a martingale-difference structure.
We keep every ``h``-th matured forecast of a (ticker, model, horizon) in target-date order
(positions 0, h, 2h, ... among the matured ones): the kept forecasts' origins are at least
``h`` sessions apart, so each target is at or before the next kept origin, the kept forecasts
do not overlap, and each kept value is known when the next one is made, which is the
martingale condition. A HAC variance inflation instead would use every forecast but rests on
stationarity and a strong approximation for dependent data that the theorem does not cover,
and its estimate is noisiest at the small sample sizes where false alarms happen. The price
is power: about ``1/h`` of the forecasts enter (measured in the benchmark). The status on the
days between two kept forecasts is the last kept one's.

**Statuses.** Loss: ``better`` when ``upper < 0``, ``worse`` when ``lower > 0``, else
``undecided``. Hit rate against the nominal ``level``: ``below`` when ``upper < level``,
``above`` when ``lower > level``, else ``in band``. ``decided_on`` is the target date on which
the current decided status began (the status is recomputed every time from the current CS,
so a later change of regime can undo it; ``decided_on`` then moves to the new start).

**Measured** (``benchmarks/monitoring_placebo.py``: 1000 null streams per model on GARCH-t
markets fitted to GSPC, checked every evening for 504 sessions): ever flagged better or worse
2.7% (h=1) and 1.7% (h=5), against 42% and 49% for a DM test repeated daily.

**Libraries.** ``confseq`` 0.0.11 (the reference implementation of Howard et al. and of the
betting paper; last release January 2023) does not build here without the Boost C++ headers
(a system package, so ``pip install`` of this project would fail on a fresh machine), its
pure-Python part fails to import under NumPy 2 (``np.float_``), and it has no asymptotic CS
for an unbounded mean. ``expectation`` 0.6 requires Python >= 3.12 (we support 3.11). So the
two sequences are written here from the papers, with known-answer tests; the empirical-
Bernstein sequence was also checked against ``confseq``'s ``predmix_lower_cs`` fed the same
bets (equal to 1e-15).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import lambertw

from forecast.errors import ConfigError

__all__ = [
    "ALPHA",
    "MIN_N",
    "TRUNCATION",
    "T_OPT",
    "asymptotic_cs",
    "coverage_sequence",
    "coverage_status",
    "empirical_bernstein_cs",
    "gaussian_mixture_rho2",
    "loss_sequence",
    "loss_status",
]

#: 95% sequences
ALPHA = 0.05
#: the loss-difference CS is tightest after this many values (in the thinned stream)
T_OPT = 100
#: values before the asymptotic CS gives bounds (its variance estimate needs them)
MIN_N = 20
#: cap on the empirical-Bernstein bets (Waudby-Smith & Ramdas suggest 1/2 or 3/4)
TRUNCATION = 0.5

LOSS_STATUSES = ("undecided", "better", "worse")
COVERAGE_STATUSES = ("in band", "below", "above")


def gaussian_mixture_rho2(t_opt: float = T_OPT, alpha: float = ALPHA) -> float:
    """The ``rho^2`` that makes the Gaussian-mixture radius smallest at ``t_opt``.

    ``rho^2 = (u - 1) / t_opt`` with ``u = -W_{-1}(-alpha^2 / e)``, the root above 1 of
    ``u - 1 = log(u / alpha^2)`` (the derivative of the radius in ``u``; see the module
    docstring).
    """
    _check_alpha(alpha)
    if not t_opt >= 1:
        raise ConfigError(f"t_opt must be a number >= 1; got {t_opt}")
    u = -lambertw(-(alpha**2) / np.e, k=-1).real
    return float((u - 1.0) / t_opt)


def mixture_radius(t: np.ndarray, rho2: float, alpha: float) -> np.ndarray:
    """Unit-variance radius ``sqrt(2 a / (t^2 rho^2) log(sqrt(a) / alpha))``, a = t rho^2 + 1."""
    t = np.asarray(t, dtype=float)
    a = t * rho2 + 1.0
    return np.sqrt(2.0 * a / (t * t * rho2) * np.log(np.sqrt(a) / alpha))


def asymptotic_cs(
    x: ArrayLike, alpha: float = ALPHA, t_opt: float = T_OPT, min_n: int = MIN_N
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-mixture asymptotic CS for the mean of ``x`` after each value.

    Waudby-Smith et al. (2024), Theorem 2.2 (see the module docstring for the formula).

    Parameters
    ----------
    x
        The stream, in time order; finite values.
    alpha
        One minus the confidence level (0.05: a 95% sequence).
    t_opt
        The time (number of values) at which the sequence is made tightest.
    min_n
        Bounds are NaN before this many values.

    Returns
    -------
    lower, upper
        Arrays as long as ``x``: the sequence after 1, 2, ... values.
    """
    x = _finite_stream(x, "x")
    first = np.zeros(len(x), dtype=np.int64)
    _, lower, upper = grouped_asymptotic_cs(x, first, alpha, t_opt, min_n)
    return lower, upper


def empirical_bernstein_cs(
    x: ArrayLike, alpha: float = ALPHA, truncation: float = TRUNCATION
) -> tuple[np.ndarray, np.ndarray]:
    """Predictable plug-in empirical-Bernstein CS for the mean of ``x`` in [0, 1].

    Waudby-Smith & Ramdas (2024), Theorem 2 (see the module docstring for the formulas).

    Returns
    -------
    lower, upper
        Arrays as long as ``x``: the sequence after 1, 2, ... values.
    """
    x = _finite_stream(x, "x")
    if len(x) and (x.min() < 0 or x.max() > 1):
        raise ConfigError(f"x must lie in [0, 1]; got values in [{x.min()}, {x.max()}]")
    first = np.zeros(len(x), dtype=np.int64)
    _, lower, upper = grouped_empirical_bernstein_cs(x, first, alpha, truncation)
    return lower, upper


def loss_status(lower: ArrayLike, upper: ArrayLike) -> np.ndarray:
    """``better`` (upper < 0), ``worse`` (lower > 0) or ``undecided``, elementwise."""
    codes = loss_status_codes(np.asarray(lower, float), np.asarray(upper, float))
    return np.asarray(LOSS_STATUSES, dtype=object)[codes]


def coverage_status(lower: ArrayLike, upper: ArrayLike, level: ArrayLike) -> np.ndarray:
    """``below`` (upper < level), ``above`` (lower > level) or ``in band``, elementwise."""
    codes = coverage_status_codes(
        np.asarray(lower, float), np.asarray(upper, float), np.asarray(level, float)
    )
    return np.asarray(COVERAGE_STATUSES, dtype=object)[codes]


def loss_sequence(
    loss_diff: ArrayLike,
    target_dates: ArrayLike,
    horizon: int = 1,
    *,
    alpha: float = ALPHA,
    t_opt: float = T_OPT,
    min_n: int = MIN_N,
) -> pd.DataFrame:
    """The running CS and status of one stream of loss differences, at every target date.

    Parameters
    ----------
    loss_diff
        ``loss_model - loss_rw`` of each matured forecast, in target-date order (NaN: not
        matured or not scored; skipped).
    target_dates
        The target date of each value (any sortable dates), same length.
    horizon
        The forecasts' horizon ``h``: every ``h``-th finite value enters the sequence.
    alpha, t_opt, min_n
        As in :func:`asymptotic_cs`.

    Returns
    -------
    pd.DataFrame
        One row per input value: ``target_date``, ``used`` (entered the sequence), ``n``
        (values in the sequence so far), ``mean``, ``lower``, ``upper``, ``status``,
        ``decided_on`` (as the scorecard would have shown them that evening).
    """
    d = np.asarray(loss_diff, dtype=float)
    dates = _dates_like(target_dates, len(d), "target_dates")
    used = thin_mask(np.isfinite(d), np.zeros(len(d), dtype=np.int64), horizon)
    pos = np.flatnonzero(used)
    first = np.zeros(len(pos), dtype=np.int64)
    n, lower, upper = grouped_asymptotic_cs(d[pos], first, alpha, t_opt, min_n)
    mean = grouped_mean(d[pos], first)
    codes = loss_status_codes(lower, upper)
    return _carried(dates, used, n, mean, lower, upper, codes, LOSS_STATUSES)


def coverage_sequence(
    hits: ArrayLike,
    target_dates: ArrayLike,
    level: float,
    horizon: int = 1,
    *,
    alpha: float = ALPHA,
    truncation: float = TRUNCATION,
) -> pd.DataFrame:
    """The running CS of one stream of interval hits (0/1, NaN: no interval) and its status.

    Same layout as :func:`loss_sequence`; the status compares the CS with ``level``.
    """
    x = np.asarray(hits, dtype=float)
    dates = _dates_like(target_dates, len(x), "target_dates")
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1); got {level}")
    finite = np.isfinite(x)
    if np.any((x[finite] != 0) & (x[finite] != 1)):
        raise ConfigError("hits must be 0, 1 or NaN; got other values")
    used = thin_mask(finite, np.zeros(len(x), dtype=np.int64), horizon)
    pos = np.flatnonzero(used)
    first = np.zeros(len(pos), dtype=np.int64)
    n, lower, upper = grouped_empirical_bernstein_cs(x[pos], first, alpha, truncation)
    codes = coverage_status_codes(lower, upper, np.full(len(pos), level))
    mean = grouped_mean(x[pos], first)
    return _carried(dates, used, n, mean, lower, upper, codes, COVERAGE_STATUSES)


# --- the grouped engine: many streams at once, stored one after another ---------------------
# ``first[i]`` is the index of the first row of row i's stream; rows of a stream are
# contiguous and in time order. Every quantity is a cumulative sum within the stream, so a
# row never sees a later row (no look-ahead) and the table of a whole store is a few passes.


def grouped_cumsum(v: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at each stream's first row."""
    c = np.cumsum(v)
    return c - (c[first] - v[first])


def grouped_lag(v: np.ndarray, first: np.ndarray, initial: float) -> np.ndarray:
    """The previous row's value in the same stream; ``initial`` on a stream's first row."""
    out = np.empty_like(v)
    out[1:] = v[:-1]
    out[first == np.arange(len(v))] = initial
    return out


def grouped_mean(x: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Running mean within each stream."""
    t = np.arange(1, len(x) + 1) - first
    return grouped_cumsum(x, first) / t


def grouped_asymptotic_cs(
    x: np.ndarray, first: np.ndarray, alpha: float, t_opt: float, min_n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t, lower, upper)`` of :func:`asymptotic_cs` for every row of many streams."""
    rho2 = gaussian_mixture_rho2(t_opt, alpha)
    if not (isinstance(min_n, int | np.integer) and min_n >= 2):
        raise ConfigError(f"min_n must be an integer >= 2; got {min_n!r}")
    t = (np.arange(1, len(x) + 1) - first).astype(float)
    shift = x[first]  # an exact change of origin per stream; keeps the variance accurate
    y = x - shift
    mean_y = grouped_cumsum(y, first) / t
    var = np.maximum(grouped_cumsum(y * y, first) / t - mean_y**2, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        radius = np.sqrt(var) * mixture_radius(t, rho2, alpha)
    centre = mean_y + shift
    early = t < min_n
    lower = np.where(early, np.nan, centre - radius)
    upper = np.where(early, np.nan, centre + radius)
    return t, lower, upper


def grouped_empirical_bernstein_cs(
    x: np.ndarray, first: np.ndarray, alpha: float, truncation: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t, lower, upper)`` of :func:`empirical_bernstein_cs` for every row of many streams."""
    t, centre, radius = empirical_bernstein_terms(x, first, alpha, truncation)
    return t, np.maximum(centre - radius, 0.0), np.minimum(centre + radius, 1.0)


def empirical_bernstein_terms(
    x: np.ndarray, first: np.ndarray, alpha: float, truncation: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t, centre_t, radius_t)`` of the PrPl-EB sequence before the cut to [0, 1]."""
    _check_alpha(alpha)
    if not 0 < truncation < 1:
        raise ConfigError(f"truncation must be in (0, 1); got {truncation}")
    t = (np.arange(1, len(x) + 1) - first).astype(float)
    mu = (0.5 + grouped_cumsum(x, first)) / (t + 1)
    sig2 = (0.25 + grouped_cumsum((x - mu) ** 2, first)) / (t + 1)
    mu_prev, sig2_prev = grouped_lag(mu, first, 0.5), grouped_lag(sig2, first, 0.25)
    log_term = np.log(2.0 / alpha)
    lam = np.minimum(np.sqrt(2.0 * log_term / (sig2_prev * t * np.log1p(t))), truncation)
    psi = (-np.log1p(-lam) - lam) / 4.0
    v = 4.0 * (x - mu_prev) ** 2
    sum_lam = grouped_cumsum(lam, first)
    centre = grouped_cumsum(lam * x, first) / sum_lam
    radius = (log_term + grouped_cumsum(v * psi, first)) / sum_lam
    return t, centre, radius


def thin_mask(keep: np.ndarray, first: np.ndarray, horizon: int | np.ndarray) -> np.ndarray:
    """Rows that enter the sequence: every ``horizon``-th row with ``keep`` in each stream.

    ``first`` indexes each row's stream start; ``horizon`` is one integer or one per row
    (constant within a stream).
    """
    h = np.asarray(horizon)
    if h.size and (not np.issubdtype(h.dtype, np.integer) or h.min() < 1):
        raise ConfigError(f"horizon must be an integer >= 1; got {horizon!r}")
    rank = grouped_cumsum(keep.astype(np.int64), first) - 1  # position among kept rows
    return keep & (rank % np.maximum(h, 1) == 0)


def loss_status_codes(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """0 undecided, 1 better (upper < 0), 2 worse (lower > 0); NaN bounds: undecided."""
    return np.where(upper < 0, 1, np.where(lower > 0, 2, 0)).astype(np.int8)


def coverage_status_codes(lower: np.ndarray, upper: np.ndarray, level: np.ndarray) -> np.ndarray:
    """0 in band, 1 below (upper < level), 2 above (lower > level)."""
    return np.where(upper < level, 1, np.where(lower > level, 2, 0)).astype(np.int8)


def run_starts(codes: np.ndarray, first: np.ndarray) -> np.ndarray:
    """For each row, the index of the row where its stream's current run of ``codes`` began."""
    idx = np.arange(len(codes))
    change = np.ones(len(codes), dtype=bool)
    change[1:] = codes[1:] != codes[:-1]
    change |= first == idx
    return np.maximum.accumulate(np.where(change, idx, 0))


def _carried(dates, used, n, mean, lower, upper, codes, names) -> pd.DataFrame:
    """Per-input-row frame: each row shows the newest used row at or before it."""
    k = len(used)
    j = np.cumsum(used) - 1  # index among used rows of the newest one so far
    have = j >= 0
    out = {
        "target_date": dates,
        "used": used,
        "n": np.zeros(k, dtype=int),
        "mean": np.full(k, np.nan),
        "lower": np.full(k, np.nan),
        "upper": np.full(k, np.nan),
        "status": np.full(k, names[0], dtype=object),
        "decided_on": np.full(k, None, dtype=object),
    }
    if len(codes):
        starts = run_starts(codes, np.zeros(len(codes), dtype=np.int64))
        decided = np.where(codes > 0, np.asarray(dates, dtype=object)[used][starts], None)
        status = np.asarray(names, dtype=object)[codes]
        jj = j[have]
        for col, values in zip(
            ("n", "mean", "lower", "upper", "status", "decided_on"),
            (n.astype(int), mean, lower, upper, status, decided),
            strict=True,
        ):
            out[col][have] = values[jj]
    return pd.DataFrame(out)


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1); got {alpha}")


def _finite_stream(x: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1:
        raise ConfigError(f"{name} must be one-dimensional; got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if len(bad):
        raise ConfigError(f"{name} must be finite; got {arr[bad[0]]} at position {bad[0]}")
    return arr


def _dates_like(dates: ArrayLike, n: int, name: str) -> np.ndarray:
    arr = np.asarray(dates)
    if arr.shape != (n,):
        raise ConfigError(f"{name} must have one date per value ({n}); got shape {arr.shape}")
    return arr
