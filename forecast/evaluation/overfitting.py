"""Selection bias in backtests: the deflated Sharpe ratio and the probability of overfitting.

Trying many strategies and keeping the best inflates its Sharpe ratio: among N strategies
with no skill at all, the best in-sample Sharpe ratio is well above zero. Two answers from
the literature, written out here because no maintained library offers them:

- The **deflated Sharpe ratio** (DSR) of Bailey and López de Prado (2014), "The Deflated
  Sharpe Ratio: Correcting for Selection Bias, Backtest Overfitting and Non-Normality",
  *Journal of Portfolio Management* 40(5), 94-107: the probabilistic Sharpe ratio (PSR) of
  the selected strategy against ``SR0``, the Sharpe ratio the best of N skill-less trials
  is expected to reach. Known answer: the paper's numerical example (N = 100 trials, trial
  Sharpe variance 1/2 and best Sharpe 2.5 annualised, five years of daily returns with
  skewness -3 and kurtosis 10, 250 days a year) gives SR0 = 0.1132 and DSR = 0.9004.
- The **probability of backtest overfitting** (PBO) by combinatorially symmetric
  cross-validation (CSCV) of Bailey, Borwein, López de Prado and Zhu (2017), "The
  Probability of Backtest Overfitting", *Journal of Computational Finance* 20(4), 39-69:
  how often the configuration that is best on half of the periods ranks below the median
  on the other half.

Every Sharpe ratio here is per observation (not annualised): divide an annualised Sharpe by
the square root of the periods per year first.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

import numpy as np
from scipy import stats

#: the Euler-Mascheroni constant of the expected-maximum approximation
EULER_GAMMA = float(np.euler_gamma)
#: CSCV combinations are evaluated in chunks of this many, to bound memory for wide grids
_CHUNK = 2048


def sharpe_moments(
    returns: np.ndarray,
) -> tuple[float, float, float] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-observation Sharpe ratio, skewness and (non-excess) kurtosis of ``returns``.

    The Sharpe ratio is ``mean / std`` (``ddof=1``, no risk-free rate); skewness
    ``m3 / m2^1.5`` and kurtosis ``m4 / m2^2`` are the sample moments the PSR uses (central
    moments with divisor T, kurtosis 3 for a normal distribution). NaN when there are fewer
    than 3 observations or the returns are constant.

    Parameters
    ----------
    returns
        Shape (T,), or (T, N) for the moments of each column.

    Returns
    -------
    tuple
        ``(sharpe, skew, kurtosis)``: floats for 1-D input, arrays of length N for 2-D.
    """
    r = np.asarray(returns, dtype=float)
    if r.ndim not in (1, 2):
        raise ValueError(f"returns must be 1-D or 2-D; got {r.ndim}-D")
    x = r.reshape(len(r), -1)
    n = x.shape[0]
    if n < 3:
        nan = np.full(x.shape[1], np.nan)
        out = (nan, nan.copy(), nan.copy())
    else:
        dev = x - x.mean(axis=0)
        m2 = np.mean(dev**2, axis=0)
        scale = np.max(np.abs(x), axis=0)
        ok = m2 > (1e-12 * np.maximum(scale, 1e-300)) ** 2
        m2 = np.where(ok, m2, np.nan)
        sd = np.sqrt(m2 * n / (n - 1))
        out = (
            x.mean(axis=0) / sd,
            np.mean(dev**3, axis=0) / m2**1.5,
            np.mean(dev**4, axis=0) / m2**2,
        )
    if r.ndim == 1:
        return float(out[0][0]), float(out[1][0]), float(out[2][0])
    return out


def probabilistic_sharpe(
    sharpe: float | np.ndarray,
    n_obs: int | np.ndarray,
    skew: float | np.ndarray = 0.0,
    kurtosis: float | np.ndarray = 3.0,
    benchmark: float | np.ndarray = 0.0,
) -> float | np.ndarray:
    """Probabilistic Sharpe ratio: the probability that the true Sharpe exceeds ``benchmark``.

    ``PSR = Phi((SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2))`` (Bailey and
    López de Prado 2012, "The Sharpe Ratio Efficient Frontier", *Journal of Risk* 15(2); the
    same expression with ``SR* = SR0`` is the DSR of their 2014 paper), where ``g3`` is the
    skewness and ``g4`` the kurtosis (3 when normal) of the returns. It assumes independent
    observations.

    Parameters
    ----------
    sharpe
        Observed per-observation Sharpe ratio ``SR``.
    n_obs
        Number of return observations ``T`` (at least 2).
    skew, kurtosis
        Sample skewness and non-excess kurtosis of the returns.
    benchmark
        The Sharpe ratio ``SR*`` to beat, per observation.

    Returns
    -------
    float or numpy.ndarray
        In [0, 1] (arrays broadcast; a float for scalar inputs); NaN where an input is not
        finite or the variance term is not positive.
    """
    n = np.asarray(n_obs, dtype=float)
    if np.any(n < 2):
        raise ValueError(f"n_obs must be an integer >= 2; got {np.min(n):g}")
    sr, g3, g4, bench = (np.asarray(v, dtype=float) for v in (sharpe, skew, kurtosis, benchmark))
    var = 1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr**2
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (sr - bench) * np.sqrt(n - 1.0) / np.sqrt(np.where(var > 0, var, np.nan))
    out = stats.norm.cdf(z)
    out = np.where(np.isfinite(z), out, np.nan)
    return float(out) if out.ndim == 0 else out


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """``SR0``: the Sharpe ratio the best of ``n_trials`` skill-less trials is expected to reach.

    ``SR0 = sqrt(V[SR_n]) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))``, with
    ``gamma`` the Euler-Mascheroni constant and ``V[SR_n]`` the variance of the trials'
    Sharpe ratios: the expected maximum of N independent normal Sharpe estimates with zero
    mean (Bailey and López de Prado 2014, the false strategy theorem behind the DSR). One
    trial has no selection: ``SR0 = 0``.

    Parameters
    ----------
    n_trials
        Number of trials ``N`` (at least 1). Correlated trials count fully here, which
        makes ``SR0`` conservative (too high) when the trials are alike.
    sharpe_variance
        Variance of the trials' per-observation Sharpe ratios (>= 0; unused when N = 1).
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be an integer >= 1; got {n_trials}")
    if n_trials == 1:
        return 0.0
    if not np.isfinite(sharpe_variance) or sharpe_variance < 0:
        raise ValueError(f"sharpe_variance must be a finite number >= 0; got {sharpe_variance}")
    g = EULER_GAMMA
    z = (1 - g) * stats.norm.ppf(1 - 1 / n_trials) + g * stats.norm.ppf(1 - 1 / (n_trials * np.e))
    return float(np.sqrt(sharpe_variance) * z)


def deflated_sharpe(
    sharpe: float,
    n_obs: int,
    n_trials: int,
    sharpe_variance: float,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """Deflated Sharpe ratio of Bailey and López de Prado (2014).

    ``DSR = PSR(SR0)``: the probability that the true Sharpe ratio of the selected strategy
    exceeds :func:`expected_max_sharpe` of the ``n_trials`` tried, given its sample length,
    skewness and kurtosis (see :func:`probabilistic_sharpe`). The paper reads DSR >= 0.95 as
    evidence of skill at the 5% level.

    Parameters
    ----------
    sharpe
        Per-observation Sharpe ratio of the selected strategy.
    n_obs
        Its number of return observations ``T``.
    n_trials
        Number of configurations tried ``N``.
    sharpe_variance
        Variance of the ``N`` trials' per-observation Sharpe ratios.
    skew, kurtosis
        Skewness and non-excess kurtosis of the selected strategy's returns.

    Examples
    --------
    The paper's numerical example (annualised values divided by 250 days a year):

    >>> round(deflated_sharpe(2.5 / 250**0.5, 1250, 100, 0.5 / 250, -3.0, 10.0), 4)
    0.9004
    """
    sr0 = expected_max_sharpe(n_trials, sharpe_variance)
    return probabilistic_sharpe(sharpe, n_obs, skew, kurtosis, benchmark=sr0)


@dataclass(frozen=True)
class PBOResult:
    """What CSCV found: the PBO, the logits it counts, and the size of the problem."""

    pbo: float
    logits: np.ndarray  # one per combination: ln(w / (1 - w)) of the IS-best's OOS rank
    n_strategies: int
    n_obs: int  # rows used (the oldest rows beyond a multiple of n_blocks are dropped)
    n_combinations: int


def pbo(matrix: np.ndarray, n_blocks: int = 16) -> PBOResult:
    """Probability of backtest overfitting by CSCV (Bailey, Borwein, López de Prado, Zhu 2017).

    ``matrix`` is ``M`` (T x N): the per-period returns of N strategy configurations over
    the same T periods. CSCV splits the rows into ``S = n_blocks`` contiguous blocks of equal
    size (the oldest ``T mod S`` rows are dropped) and, for each of the ``C(S, S/2)``
    combinations of S/2 blocks: the in-sample set J is their union, the out-of-sample set
    its complement; ``n*`` is the configuration with the highest in-sample Sharpe ratio;
    ``w`` its relative rank out of sample, ``rank / (N + 1)`` (ranks 1..N ascending, ties
    averaged); and ``lambda = ln(w / (1 - w))``. PBO is the share of combinations with
    ``lambda <= 0``: the in-sample best is at or below the out-of-sample median. About 0.5
    for strategies without skill, near 0 when one of them truly is better.

    Parameters
    ----------
    matrix
        Finite returns, shape (T, N), N >= 2 and T >= ``max(n_blocks, 4)``.
    n_blocks
        ``S``, an even number >= 2 (the paper uses 16).

    Returns
    -------
    PBOResult
    """
    m = np.asarray(matrix, dtype=float)
    _check_pbo_input(m, n_blocks)
    size = m.shape[0] // n_blocks
    m = m[m.shape[0] - size * n_blocks :]
    blocks = m.reshape(n_blocks, size, m.shape[1])
    block_sum, block_sq = blocks.sum(axis=1), (blocks**2).sum(axis=1)  # (S, N)
    scale = float(np.sqrt(np.mean(block_sq) / size)) or 1.0  # the returns' rms
    low, high = _half_masks(n_blocks)
    # a half's sums = the sums over its blocks among the first S/2 plus those among the last
    # S/2: two tables of 2^(S/2) subset sums, no matrix product
    first, last = slice(0, n_blocks // 2), slice(n_blocks // 2, n_blocks)
    sums = (_subset_sums(block_sum[first]), _subset_sums(block_sum[last]))
    squares = (_subset_sums(block_sq[first]), _subset_sums(block_sq[last]))
    order = np.empty((len(low), m.shape[1]))  # the Sharpe ratios' order is all CSCV needs
    for start in range(0, len(low), _CHUNK):
        lo, hi = low[start : start + _CHUNK], high[start : start + _CHUNK]
        order[start : start + _CHUNK] = _sharpe_order(
            sums[0][lo] + sums[1][hi], squares[0][lo] + squares[1][hi], size * n_blocks // 2, scale
        )
    mirrored = order[::-1]
    lam = np.concatenate(
        [
            _logit_rank(order[i : i + _CHUNK], mirrored[i : i + _CHUNK])
            for i in range(0, len(low), _CHUNK)
        ]
    )
    return PBOResult(
        pbo=float(np.mean(lam <= 0)),
        logits=lam,
        n_strategies=m.shape[1],
        n_obs=m.shape[0],
        n_combinations=len(lam),
    )


@lru_cache(maxsize=4)
def _half_masks(n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """Every choice of S/2 of the S blocks as two bitmasks, over the first and the last S/2.

    In the lexicographic order of :func:`itertools.combinations`, where the complement of
    the i-th choice is the (C-1-i)-th: one Sharpe ratio per half serves as IS and as OOS.
    """
    half = n_blocks // 2
    low, high = [], []
    for chosen in combinations(range(n_blocks), half):
        low.append(sum(1 << b for b in chosen if b < half))
        high.append(sum(1 << (b - half) for b in chosen if b >= half))
    return np.array(low), np.array(high)


def _subset_sums(rows: np.ndarray) -> np.ndarray:
    """Sums of every subset of the k rows, shape (2^k, N); bit b of the index takes row b."""
    out = np.zeros((1, rows.shape[1]))
    for row in rows:
        out = np.vstack([out, out + row])
    return out


def _check_pbo_input(m: np.ndarray, n_blocks: int) -> None:
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, int | np.integer):
        raise TypeError(f"n_blocks must be an even integer >= 2; got {n_blocks!r}")
    if n_blocks < 2 or n_blocks % 2:
        raise ValueError(f"n_blocks must be an even integer >= 2; got {n_blocks}")
    if m.ndim != 2:
        raise ValueError(f"matrix must be 2-D (periods x configurations); got {m.ndim}-D")
    if m.shape[1] < 2:
        raise ValueError(f"matrix must have at least 2 configurations; got {m.shape[1]}")
    if m.shape[0] < max(n_blocks, 4):
        raise ValueError(
            f"matrix must have at least max(n_blocks, 4) = {max(n_blocks, 4)} rows (periods);"
            f" got {m.shape[0]}"
        )
    if not np.all(np.isfinite(m)):
        raise ValueError(f"matrix must be finite; got {int((~np.isfinite(m)).sum())} bad values")


def _sharpe_order(total: np.ndarray, total_sq: np.ndarray, n: int, scale: float) -> np.ndarray:
    """A strictly increasing function of the Sharpe ratio, from sums over ``n`` rows, in place.

    With ``S`` the sum and ``Q`` the sum of squares, the Sharpe ratio (ddof=1) is
    ``S sqrt((n - 1) / n) / sqrt(n Q - S^2)``, so ``S |S| / (n Q - S^2)`` orders the
    configurations exactly like it, in fewer passes (CSCV only needs the order). 0 where a
    configuration is constant on the rows.
    """
    np.multiply(total_sq, n, out=total_sq)
    square = np.multiply(total, total)
    np.subtract(total_sq, square, out=total_sq)  # n Q - S^2 = n (n - 1) var >= 0
    flat = total_sq <= (1e-12 * scale * n) ** 2
    total_sq[flat] = 1.0
    np.multiply(np.abs(total, out=square), total, out=square)
    np.divide(square, total_sq, out=square)
    square[flat] = 0.0
    return square


def _logit_rank(in_sample: np.ndarray, out_sample: np.ndarray) -> np.ndarray:
    """``ln(w / (1 - w))`` of the in-sample best's out-of-sample relative rank, per row."""
    n = in_sample.shape[1]
    best = np.argmax(in_sample, axis=1)
    chosen = out_sample[np.arange(len(best)), best][:, None]
    below = (out_sample < chosen).sum(axis=1)
    ties = (out_sample == chosen).sum(axis=1) - 1  # other configurations equal to it
    w = (1 + below + 0.5 * ties) / (n + 1)
    return np.log(w / (1 - w))
