"""Coverage tests on a 0/1 hit sequence: Kupiec and Christoffersen likelihood ratios.

A *hit* is the event whose probability is ``p`` under a correct forecast: a Value-at-Risk
exception (``p = alpha``) or an interval miss (``p = 1 - level``). With ``x`` hits in ``n``
observations, ``pihat = x / n``, and ``n_ij`` the number of times state ``i`` is followed
by state ``j``:

Kupiec (1995, J. Derivatives 3, the proportion-of-failures test), unconditional coverage,
chi-squared with 1 degree of freedom::

    LR_uc = -2 ln[(1 - p)^(n - x) p^x] + 2 ln[(1 - pihat)^(n - x) pihat^x]

Christoffersen (1998, International Economic Review 39), independence against a first-order
Markov chain, chi-squared with 1 degree of freedom, with ``pi_01 = n_01 / (n_00 + n_01)``,
``pi_11 = n_11 / (n_10 + n_11)`` and ``pi = (n_01 + n_11) / (n - 1)``::

    LR_ind = -2 ln[(1 - pi)^(n_00 + n_10) pi^(n_01 + n_11)]
             + 2 ln[(1 - pi_01)^n_00 pi_01^n_01 (1 - pi_11)^n_10 pi_11^n_11]

and conditional coverage, chi-squared with 2 degrees of freedom,
``LR_cc = LR_uc + LR_ind`` (Christoffersen's decomposition, with ``LR_uc`` on all ``n``
observations, as usually computed).

Degenerate sequences use ``0 ln 0 = 0``: no hits or only hits give ``LR_uc =
-2 n ln(1 - p)`` or ``-2 n ln p`` (a strong rejection, as it should be for a long
sequence) and ``LR_ind = 0`` (p-value 1: nothing to cluster); a state never left (no
``1 -> *`` transitions) drops its terms. Fewer than 2 observations give NaN for the
independence and conditional tests, none at all NaN throughout.

For ``h``-step forecasts the targets of consecutive origins overlap, so hits cluster even
when every forecast is right; :func:`every_hth` keeps every ``h``-th origin, whose
targets do not overlap, before testing.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats
from scipy.special import xlogy


@dataclass(frozen=True)
class CoverageTest:
    """The three tests on one hit sequence (``p_*`` are p-values; NaN where undefined)."""

    n: int
    hits: int
    rate: float
    expected: float
    lr_uc: float
    p_uc: float
    lr_ind: float
    p_ind: float
    lr_cc: float
    p_cc: float

    def as_dict(self) -> dict:
        return asdict(self)


def check_hits(hits: np.ndarray) -> np.ndarray:
    """``hits`` as an int array of 0 and 1, or a ``ValueError`` naming the bad values."""
    h = np.asarray(hits)
    if h.ndim != 1:
        raise ValueError(f"hits must be one-dimensional; got shape {h.shape}")
    bad = ~np.isin(h, (0, 1))
    if bad.any():
        raise ValueError(
            f"hits must hold only 0 and 1; {int(bad.sum())} values do not "
            f"(first {h[bad][0]!r} at position {int(np.argmax(bad))})"
        )
    return h.astype(np.int64)


def kupiec(hits: np.ndarray, p: float) -> tuple[float, float]:
    """Kupiec's unconditional-coverage LR statistic and its chi2(1) p-value."""
    h = check_hits(hits)
    p = _check_p(p)
    n, x = len(h), int(h.sum())
    if n == 0:
        return float("nan"), float("nan")
    pihat = x / n
    lr = 2.0 * (_bernoulli_loglike(x, n - x, pihat) - _bernoulli_loglike(x, n - x, p))
    lr = max(lr, 0.0)
    return lr, float(stats.chi2.sf(lr, 1))


def transition_counts(hits: np.ndarray) -> tuple[int, int, int, int]:
    """``(n_00, n_01, n_10, n_11)``: how often state ``i`` is followed by state ``j``."""
    h = check_hits(hits)
    prev, nxt = h[:-1], h[1:]
    return (
        int(np.sum((prev == 0) & (nxt == 0))),
        int(np.sum((prev == 0) & (nxt == 1))),
        int(np.sum((prev == 1) & (nxt == 0))),
        int(np.sum((prev == 1) & (nxt == 1))),
    )


def christoffersen_independence(hits: np.ndarray) -> tuple[float, float]:
    """Christoffersen's independence LR statistic and its chi2(1) p-value."""
    h = check_hits(hits)
    if len(h) < 2:
        return float("nan"), float("nan")
    n00, n01, n10, n11 = transition_counts(h)
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    markov = _bernoulli_loglike(n01, n00, pi01) + _bernoulli_loglike(n11, n10, pi11)
    iid = _bernoulli_loglike(n01 + n11, n00 + n10, pi)
    lr = max(2.0 * (markov - iid), 0.0)
    return lr, float(stats.chi2.sf(lr, 1))


def coverage_test(hits: np.ndarray, p: float) -> CoverageTest:
    """Kupiec, Christoffersen independence and conditional coverage on one hit sequence."""
    h = check_hits(hits)
    p = _check_p(p)
    lr_uc, p_uc = kupiec(h, p)
    lr_ind, p_ind = christoffersen_independence(h)
    lr_cc = lr_uc + lr_ind
    p_cc = float(stats.chi2.sf(lr_cc, 2)) if np.isfinite(lr_cc) else float("nan")
    n = len(h)
    return CoverageTest(
        n=n,
        hits=int(h.sum()),
        rate=float(h.mean()) if n else float("nan"),
        expected=p,
        lr_uc=lr_uc,
        p_uc=p_uc,
        lr_ind=lr_ind,
        p_ind=p_ind,
        lr_cc=lr_cc,
        p_cc=p_cc,
    )


def every_hth(values: np.ndarray, horizon: int, offset: int = 0) -> np.ndarray:
    """Every ``horizon``-th value from ``offset`` on: origins whose ``h``-step targets do
    not overlap (``values`` in origin order, one per consecutive origin)."""
    if isinstance(horizon, bool) or not isinstance(horizon, numbers.Integral) or horizon < 1:
        raise ValueError(f"horizon must be an integer >= 1; got {horizon!r}")
    if isinstance(offset, bool) or not isinstance(offset, numbers.Integral):
        raise ValueError(f"offset must be an integer in [0, horizon); got {offset!r}")
    if not 0 <= offset < horizon:
        raise ValueError(f"offset must be an integer in [0, {horizon}); got {offset}")
    return np.asarray(values)[offset::horizon]


def coverage_test_h(hits: np.ndarray, p: float, horizon: int) -> CoverageTest:
    """:func:`coverage_test` on every ``horizon``-th hit (all of them at ``horizon=1``)."""
    return coverage_test(every_hth(check_hits(hits), horizon), p)


def _bernoulli_loglike(ones: int, zeros: int, prob: float) -> float:
    """``ones ln(prob) + zeros ln(1 - prob)`` with ``0 ln 0 = 0``."""
    return float(xlogy(ones, prob) + xlogy(zeros, 1.0 - prob))


def _check_p(p: object) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 < p < 1:
        raise ValueError(f"p must be a probability in (0, 1); got {p!r}")
    return float(p)
