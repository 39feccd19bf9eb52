"""A discrete Markov chain on log-returns: quantile bins as states, a counted transition matrix."""

from __future__ import annotations

import numpy as np

from forecast.checks import check_int, check_number
from forecast.errors import ModelFitError
from forecast.models.base import BaseForecaster, check_horizon, returns_of


class MarkovChainForecaster(BaseForecaster):
    """Markov chain on binned log-returns.

    The training log-returns are cut into ``n_states`` quantile bins; the state of a day is
    the bin of its return. Transitions between consecutive states are counted, smoothed by
    ``alpha`` and normalised by row. From an origin whose last return is in state ``s``, the
    state distribution ``h`` steps ahead is ``pi_h = e_s P^h`` and the expected log-return
    is ``pi_h @ state_means_``; the log-price path is the last log price plus their
    cumulative sum.

    Parameters
    ----------
    n_states
        Number of bins (states), at least 2.
    alpha
        Laplace smoothing: ``alpha`` is added to every transition count before the rows are
        normalised. ``alpha=0`` gives the maximum-likelihood matrix and fails if some state
        is never left in the training data.

    Notes
    -----
    Bin edges come from the training returns only. Each interior edge sits at the midpoint
    between two neighbouring distinct training returns, at the gap whose cumulative count is
    nearest the ``k / n_states`` quantile. Tied returns therefore never straddle an edge and
    every bin holds at least one training return, even when many returns are equal (zero
    returns on holidays, for instance). Returns outside the training range fall in the end
    bins. Fewer distinct training returns than ``n_states`` raises
    :class:`~forecast.errors.ModelFitError`.

    The predictive distribution of the log price is taken as normal with the chain's exact
    mean and variance of the summed returns (each bin's returns have the bin's training mean
    and variance, independent given the states).

    Fitted attributes: ``bin_edges_`` (the ``n_states - 1`` interior edges, ascending),
    ``transition_matrix_`` (``[from, to]``, rows sum to 1), ``state_means_`` and
    ``state_vars_`` (mean and variance of the training returns of each bin),
    ``state_counts_`` (training returns per bin) and ``transition_counts_`` (raw counts
    ``[from, to]``, before smoothing).
    """

    name = "markov"

    def __init__(self, n_states: int = 5, alpha: float = 1.0):
        self.n_states = n_states
        self.alpha = alpha

    def min_train_size(self) -> int:
        # n_states distinct returns need n_states + 1 prices; one more gives a transition
        return self._checked_n_states() + 2

    def min_history_size(self) -> int:
        # the state of an origin is the bin of its last return
        return 2

    # ---- fitting ------------------------------------------------------------------------
    def _fit(self, y: np.ndarray) -> None:
        n_states = self._checked_n_states()
        alpha = self._checked_alpha()
        r = returns_of(y)
        if np.std(r) < 1e-10:  # a halted stock, or a synthetic constant-growth series
            raise ModelFitError(
                f"markov: the {len(r)} training log-returns are constant (std "
                f"{np.std(r):.1e}); there is nothing to bin"
            )
        edges = quantile_edges(r, n_states)
        states = np.searchsorted(edges, r, side="right")
        counts = np.bincount(states, minlength=n_states)
        if np.any(counts == 0):
            # only reachable when two distinct returns are adjacent floats, so their midpoint
            # rounds onto one of them
            raise ModelFitError(
                f"markov: bins {np.flatnonzero(counts == 0).tolist()} hold no training "
                f"return (edges {edges.tolist()})"
            )
        trans = np.zeros((n_states, n_states))
        np.add.at(trans, (states[:-1], states[1:]), 1.0)
        smoothed = trans + alpha
        row_sums = smoothed.sum(axis=1)
        if np.any(row_sums == 0):
            empty = np.flatnonzero(row_sums == 0).tolist()
            raise ModelFitError(
                f"markov: with alpha=0, states {empty} are never left in the {len(r)} "
                "training returns, so their transition rows are undefined; use alpha > 0"
            )
        self.bin_edges_ = edges
        self.transition_matrix_ = smoothed / row_sums[:, None]
        self.state_means_ = np.bincount(states, weights=r, minlength=n_states) / counts
        self.state_vars_ = (
            np.bincount(states, weights=(r - self.state_means_[states]) ** 2, minlength=n_states)
            / counts
        )
        self.state_counts_ = counts.astype(int)
        self.transition_counts_ = trans.astype(int)

    # ---- forecasting --------------------------------------------------------------------
    def _forecast(self, y: np.ndarray, horizon: int) -> np.ndarray:
        state = self.states_of(np.array([y[-1] - y[-2]]))[0]
        return y[-1] + self._cumulative_means(horizon)[state]

    def forecast_log_paths(self, y: np.ndarray, ends: np.ndarray, horizon: int) -> np.ndarray:
        """Vectorised over origins: one table of cumulative means, one lookup per origin.

        Row ``i`` reads ``y[ends[i] - 2]`` and ``y[ends[i] - 1]`` only, and does the same
        arithmetic as :meth:`_forecast`, so the rows equal per-origin calls bit for bit.
        """
        self._check_fitted()
        h = check_horizon(horizon)
        ends = np.asarray(ends, dtype=int)
        self._check_ends(ends)
        last = y[ends - 1]
        states = self.states_of(last - y[ends - 2])
        return last[:, None] + self._cumulative_means(h)[states]

    def _log_variances(self, y: np.ndarray, ends: np.ndarray, horizon: int) -> np.ndarray:
        """Exact variance of the sum of the next returns given the origin's state.

        Returns are independent given the states, with the bin's mean and variance, so
        ``Var(sum) = E[sum of state variances] + Var(sum of state means)``; both come from
        one-step-ahead recursions over the chain (``e1``, ``e2``: first and second moment of
        the sum of means, ``w``: expected sum of variances, all per starting state).
        """
        ends = np.asarray(ends, dtype=int)
        self._check_ends(ends)
        states = self.states_of(y[ends - 1] - y[ends - 2])
        return self._cumulative_variances(check_horizon(horizon))[states]

    def _cumulative_variances(self, horizon: int) -> np.ndarray:
        p = np.asarray(self.transition_matrix_, dtype=float)
        mu = np.asarray(self.state_means_, dtype=float)
        v = np.asarray(self.state_vars_, dtype=float)
        e1, e2, w = np.zeros_like(mu), np.zeros_like(mu), np.zeros_like(mu)
        out = np.empty((len(mu), horizon))
        for k in range(horizon):
            # condition on the first step: sum_h = mu_{s1} + (the sum of h - 1 from s1)
            e2 = p @ (mu**2 + 2 * mu * e1 + e2)
            e1 = p @ (mu + e1)
            w = p @ (v + w)
            out[:, k] = np.maximum(e2 - e1**2, 0.0) + w
        return out

    def states_of(self, returns: np.ndarray) -> np.ndarray:
        """The state (bin index, ``0..n_states-1``) of each log-return, by the fitted edges."""
        return np.searchsorted(self.bin_edges_, returns, side="right")

    def _cumulative_means(self, horizon: int) -> np.ndarray:
        """``out[s, h-1]``: expected sum of the next ``h`` returns from state ``s``.

        ``(P^h mu)[s] = e_s P^h mu``; multiplying the vector by ``P`` once per step keeps it
        ``O(horizon * n_states^2)`` and avoids forming matrix powers.
        """
        p = np.asarray(self.transition_matrix_, dtype=float)
        v = np.asarray(self.state_means_, dtype=float)
        steps = np.empty((len(v), horizon))
        for k in range(horizon):
            v = p @ v
            steps[:, k] = v
        return np.cumsum(steps, axis=1)

    # ---- parameter checks ---------------------------------------------------------------
    def _checked_n_states(self) -> int:
        return check_int(self.n_states, "n_states", 2)

    def _checked_alpha(self) -> float:
        return check_number(self.alpha, "alpha", 0, include_low=True)


def quantile_edges(r: np.ndarray, n_states: int) -> np.ndarray:
    """Interior bin edges: ``n_states - 1`` midpoints between distinct values of ``r``.

    The ``k``-th edge goes to the gap between neighbouring distinct values whose cumulative
    count (values at or below the gap) is nearest ``k * len(r) / n_states``, clamped so that
    the edges are strictly increasing and leave room for the later ones. Every resulting bin
    therefore holds at least one value of ``r``.
    """
    values, counts = np.unique(r, return_counts=True)
    if len(values) < n_states:
        raise ModelFitError(
            f"markov: n_states={n_states} bins need at least {n_states} distinct training "
            f"log-returns; got {len(values)} distinct among {len(r)}"
        )
    below = np.cumsum(counts)[:-1]  # below[g]: how many values lie left of gap g
    n_gaps = len(below)
    gaps = np.empty(n_states - 1, dtype=int)
    prev = -1
    for k in range(1, n_states):
        nearest = int(np.argmin(np.abs(below - k * len(r) / n_states)))
        # gap k-1 must exceed the previous one and leave n_states-1-k gaps to its right
        gaps[k - 1] = prev = min(max(nearest, prev + 1), n_gaps - n_states + k)
    return (values[gaps] + values[gaps + 1]) / 2.0
