"""Central intervals of the models' predictive distributions of the log price.

Gaussian (naive, drift, AR, the Markov chain) and Gaussian mixtures over regime paths (msar).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri


def gaussian_bounds(
    mean: np.ndarray, variance: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` interval of a normal distribution (element-wise)."""
    z = float(ndtri(0.5 + level / 2))
    sd = np.sqrt(np.maximum(variance, 0.0))
    return mean - z * sd, mean + z * sd


def mixture_bounds(
    weights: np.ndarray, means: np.ndarray, variances: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` interval of Gaussian mixtures, one mixture per row.

    ``weights``, ``means``, ``variances``: shape ``(n, components)``; weights sum to 1 per
    row. The quantiles are found by bisection on the mixture CDF (60 halvings: far below
    float precision of a log price).
    """
    sd = np.sqrt(np.maximum(variances, 1e-300))
    lo = (means - 12 * sd).min(axis=1)
    hi = (means + 12 * sd).max(axis=1)
    out = []
    for p in (0.5 - level / 2, 0.5 + level / 2):
        a, b = lo.copy(), hi.copy()
        for _ in range(60):
            mid = (a + b) / 2
            cdf = (weights * ndtr((mid[:, None] - means) / sd)).sum(axis=1)
            below = cdf < p
            a = np.where(below, mid, a)
            b = np.where(below, b, mid)
        out.append((a + b) / 2)
    return out[0], out[1]
