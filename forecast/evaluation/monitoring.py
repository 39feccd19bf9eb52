"""The live scorecard's inference: one confidence-sequence pair per (ticker, model, horizon).

Input: a frame of matured forecasts (:data:`MATURED_COLUMNS`), one row per scored forecast::

    ticker, model, horizon, target_date, loss_model, loss_rw, hit, level

``loss_model`` and ``loss_rw`` are the squared log errors ``log(forecast / actual)^2`` of the
model and of the random walk (the price at the forecast's as-of date) on the same target;
``hit`` is 1 when the actual fell inside the prediction interval, 0 when not, NaN when the
forecast has none; ``level`` the interval's nominal coverage. :func:`matured_from_scored`
builds it from the store's forecasts joined with their scores.

The sequences and statuses are those of :mod:`forecast.evaluation.sequential`, run over every
stream at once: the rows are sorted by (ticker, model, horizon, target date) (skipped when
they already are, as the store's query returns them) and every quantity is a cumulative sum
within a group, so there is no loop per row or per group, and a row never sees a later one.
:func:`sequential_rows` gives every row as the scorecard would have shown it on the evening
its target matured (the placebo benchmark replays two years of evenings with it);
:func:`sequential_table` gives the newest state per group.

The hit stream of a group uses the forecasts whose interval has the group's newest level
(coverages at two levels do not average into either), thinned by the horizon like the loss
differences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.errors import ConfigError
from forecast.evaluation.sequential import (
    ALPHA,
    COVERAGE_STATUSES,
    LOSS_STATUSES,
    MIN_N,
    T_OPT,
    TRUNCATION,
    coverage_status_codes,
    grouped_asymptotic_cs,
    grouped_cumsum,
    grouped_empirical_bernstein_cs,
    loss_status_codes,
    run_starts,
    thin_mask,
)

__all__ = [
    "MATURED_COLUMNS",
    "SEQUENTIAL_COLUMNS",
    "matured_from_scored",
    "sequential_rows",
    "sequential_table",
]

KEYS = ["ticker", "model", "horizon"]
MATURED_COLUMNS = [*KEYS, "target_date", "loss_model", "loss_rw", "hit", "level"]
#: per sequence: the columns of :func:`sequential_table` (and of :func:`sequential_rows`)
LOSS_COLUMNS = ["n_diff", "mean_diff", "diff_lower", "diff_upper", "status", "decided_on"]
HIT_COLUMNS = ["n_hits", "hit_rate", "hit_lower", "hit_upper", "coverage_status"]
HIT_COLUMNS += ["coverage_decided_on"]
SEQUENTIAL_COLUMNS = [*KEYS, "n", *LOSS_COLUMNS, *HIT_COLUMNS, "level", "last_target"]


def matured_from_scored(forecasts: pd.DataFrame) -> pd.DataFrame:
    """:data:`MATURED_COLUMNS` from stored forecasts joined with their scores.

    ``forecasts`` has ``ticker, model, horizon, target_date, forecast, last_price, actual``
    and ``scored`` (0/1), and ``lower, upper, interval_level`` when intervals are stored, as
    the store's scorecard query returns them; rows not scored yet are dropped, the order is
    kept.
    """
    needed = (*KEYS, "target_date", "forecast", "last_price", "actual", "scored")
    missing = [c for c in needed if c not in forecasts]
    if missing:
        raise ConfigError(f"forecasts must have columns {missing}; got {list(forecasts)}")
    f = forecasts[forecasts["scored"].astype(bool)]
    actual = f["actual"].to_numpy(float)
    out = f[[*KEYS, "target_date"]].reset_index(drop=True)
    out["loss_model"] = np.log(f["forecast"].to_numpy(float) / actual) ** 2
    out["loss_rw"] = np.log(f["last_price"].to_numpy(float) / actual) ** 2
    out["hit"], out["level"] = np.nan, np.nan
    if {"lower", "upper", "interval_level"} <= set(f):
        lo, hi = f["lower"].to_numpy(float), f["upper"].to_numpy(float)
        inside = ((actual >= lo) & (actual <= hi)).astype(float)
        out["hit"] = np.where(np.isfinite(lo) & np.isfinite(hi), inside, np.nan)
        out["level"] = f["interval_level"].to_numpy(float)
    return out


@dataclass(frozen=True)
class _Sequence:
    """One kind of sequence over all groups: per row ``used``; per used row the rest."""

    used: np.ndarray
    n: np.ndarray
    estimate: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    codes: np.ndarray
    start_row: np.ndarray  # row (in sorted order) on which the current status began


def sequential_rows(
    matured: pd.DataFrame,
    *,
    alpha: float = ALPHA,
    t_opt: float = T_OPT,
    min_n: int = MIN_N,
    truncation: float = TRUNCATION,
) -> pd.DataFrame:
    """Every matured forecast with the sequences as they stood once it was scored.

    Parameters
    ----------
    matured
        :data:`MATURED_COLUMNS`, any row order; ``target_date`` as ISO text or datetimes.
    alpha, t_opt, min_n, truncation
        As in :mod:`forecast.evaluation.sequential` (95% sequences by default).

    Returns
    -------
    pd.DataFrame
        ``matured`` sorted by ticker, model, horizon and target date, plus ``diff``
        (``loss_model - loss_rw``), ``diff_used`` and ``hit_used`` (the row entered that
        sequence), the sequence columns of :data:`SEQUENTIAL_COLUMNS` and ``level`` (the
        group's newest level). Each row shows the newest row of its group that entered the
        sequence at or before it: what a check that evening would have shown (exactly so
        for the hit rate while the group's interval level stayed the same).
    """
    order, first, loss, hits, newest = _run(matured, alpha, t_opt, min_n, truncation)
    frame = matured if order is None else matured.iloc[order]
    frame = frame.reset_index(drop=True)
    frame["diff"] = _diff(frame)
    rows = np.arange(len(frame))
    dates = frame["target_date"].to_numpy()
    for seq, cols, names, flag in (
        (loss, LOSS_COLUMNS, LOSS_STATUSES, "diff_used"),
        (hits, HIT_COLUMNS, COVERAGE_STATUSES, "hit_used"),
    ):
        frame[flag] = seq.used
        for col, values in zip(cols, _values_at(seq, rows, first, dates, names), strict=True):
            frame[col] = values
    frame["level"] = newest
    return frame


def sequential_table(
    matured: pd.DataFrame,
    *,
    alpha: float = ALPHA,
    t_opt: float = T_OPT,
    min_n: int = MIN_N,
    truncation: float = TRUNCATION,
) -> pd.DataFrame:
    """One row per (ticker, model, horizon): the sequences and statuses as of now.

    Columns :data:`SEQUENTIAL_COLUMNS`: ``n`` matured forecasts with both losses; the
    loss-difference sequence (``n_diff`` values after thinning by the horizon, their mean
    ``mean_diff``, the CS ``diff_lower, diff_upper``, ``status`` better / worse / undecided
    and ``decided_on``); the hit-rate sequence at the newest ``level`` (``n_hits``,
    ``hit_rate``, ``hit_lower, hit_upper``, ``coverage_status`` in band / below / above and
    ``coverage_decided_on``; ``n_hits`` 0 and NaN bounds without intervals);
    ``last_target``, the newest matured target date. Sorted by ticker, model, horizon;
    dates as given in ``matured``. Parameters as in :func:`sequential_rows`.
    """
    order, first, loss, hits, newest = _run(matured, alpha, t_opt, min_n, truncation)
    if not len(first):
        return pd.DataFrame(columns=SEQUENTIAL_COLUMNS)
    last = np.r_[np.flatnonzero(np.diff(first)), len(first) - 1]
    src = last if order is None else order[last]  # the same rows in matured's own order
    out = matured.iloc[src][KEYS].reset_index(drop=True)
    dates = matured["target_date"].to_numpy()
    dates = dates if order is None else dates[order]
    out["n"] = _counts(matured, order, last)
    for seq, cols, names in (
        (loss, LOSS_COLUMNS, LOSS_STATUSES),
        (hits, HIT_COLUMNS, COVERAGE_STATUSES),
    ):
        for col, values in zip(cols, _values_at(seq, last, first, dates, names), strict=True):
            out[col] = values
    out["level"] = newest[last]
    out["last_target"] = dates[last]
    return out[SEQUENTIAL_COLUMNS]


def _counts(matured, order, last) -> np.ndarray:
    """Matured forecasts with a finite loss difference, per group."""
    finite = np.isfinite(_diff(matured))
    finite = finite if order is None else finite[order]
    c = np.cumsum(finite)
    return c[last] - np.r_[0, c[last[:-1]]]


def _diff(frame: pd.DataFrame) -> np.ndarray:
    return frame["loss_model"].to_numpy(float) - frame["loss_rw"].to_numpy(float)


def _run(matured, alpha, t_opt, min_n, truncation):
    """``(order, first, loss sequence, hit sequence, newest level per row)``.

    ``order`` sorts ``matured`` (None: already sorted); the other arrays are in sorted order.
    """
    _check_matured(matured)
    order, first = _sort(matured)

    def col(name, dtype=float):
        a = matured[name].to_numpy(dtype)
        return a if order is None else a[order]

    horizon = col("horizon", np.int64)
    diff = col("loss_model") - col("loss_rw")
    used = thin_mask(np.isfinite(diff), first, horizon)
    loss = _sequence(diff, used, first, "loss", (alpha, t_opt, min_n))
    hit, level = col("hit"), col("level")
    has = np.isfinite(hit) & np.isfinite(level)
    # the newest level of each group: the last finite one, carried back over the group
    newest_row = np.maximum.accumulate(np.where(has, np.arange(len(hit)), -1))[_group_end(first)]
    newest = np.where(newest_row >= first, level[np.maximum(newest_row, 0)], np.nan)
    used = thin_mask(has & (level == newest), first, horizon)
    bad = hit[has & (hit != 0) & (hit != 1)]
    if len(bad):
        raise ConfigError(f"hit must be 0, 1 or NaN; got {bad[0]}")
    hits = _sequence(hit, used, first, "hit", (alpha, truncation, newest))
    return order, first, loss, hits, newest


def _sequence(x, used, first, kind, params) -> _Sequence:
    """Run one kind of sequence over the used rows of every group."""
    sub_first = _sub_first(used, first)
    xs = x[used]
    if kind == "loss":
        n, lower, upper = grouped_asymptotic_cs(xs, sub_first, *params)
        codes = loss_status_codes(lower, upper)
    else:
        alpha, truncation, newest = params
        n, lower, upper = grouped_empirical_bernstein_cs(xs, sub_first, alpha, truncation)
        codes = coverage_status_codes(lower, upper, newest[used])
    estimate = grouped_cumsum(xs, sub_first) / n
    start_row = np.flatnonzero(used)[run_starts(codes, sub_first)]
    return _Sequence(used, n, estimate, lower, upper, codes, start_row)


def _values_at(seq: _Sequence, rows, first, dates, names) -> list[np.ndarray]:
    """``n, estimate, lower, upper, status, decided_on`` at ``rows`` (sorted-order indices):
    those of the newest used row of the same group at or before each."""
    k = len(rows)
    used_idx = np.flatnonzero(seq.used)
    j = (np.cumsum(seq.used) - 1)[rows]  # index among used rows of the newest one so far
    have = j >= 0
    have[have] = first[used_idx[j[have]]] == first[rows[have]]  # ... in the same group
    jj = j[have]
    n = np.zeros(k, dtype=np.int64)
    n[have] = seq.n[jj]
    est, lo, hi = (np.full(k, np.nan) for _ in range(3))
    est[have], lo[have], hi[have] = seq.estimate[jj], seq.lower[jj], seq.upper[jj]
    codes = np.zeros(k, dtype=np.int8)
    codes[have] = seq.codes[jj]
    status = np.asarray(names, dtype=object)[codes]
    decided = np.full(k, None, dtype=object)
    sel = have.copy()
    sel[have] = seq.codes[jj] > 0
    decided[sel] = dates[seq.start_row[j[sel]]]
    return [n, est, lo, hi, status, decided]


def _check_matured(matured: pd.DataFrame) -> None:
    missing = [c for c in MATURED_COLUMNS if c not in matured]
    if missing:
        raise ConfigError(f"matured must have columns {missing}; got {list(matured)}")
    h = matured["horizon"].to_numpy()
    if len(h) and (not np.issubdtype(h.dtype, np.integer) or h.min() < 1):
        raise ConfigError(f"horizon must be integers >= 1; got {sorted(set(h.tolist()))[:5]}")


def _sort(matured: pd.DataFrame) -> tuple[np.ndarray | None, np.ndarray]:
    """The order sorting rows by (ticker, model, horizon, target date), None when sorted
    already (checked with adjacent comparisons only), and each sorted row's group start."""
    t, m, h, d = (matured[c].to_numpy() for c in (*KEYS, "target_date"))
    if len(t) < 2:
        return None, np.zeros(len(t), dtype=np.int64)
    same = (t[1:] == t[:-1]) & (m[1:] == m[:-1]) & (h[1:] == h[:-1])
    b = np.flatnonzero(~same)  # a new group starts at b + 1
    if len(b) < len(t) // 2:  # else clearly unsorted: skip the check
        key_up = (t[b + 1] > t[b]) | (
            (t[b + 1] == t[b]) & ((m[b + 1] > m[b]) | ((m[b + 1] == m[b]) & (h[b + 1] > h[b])))
        )
        if key_up.all() and np.all(d[1:][same] > d[:-1][same]):
            return None, _first_of_starts(np.r_[True, ~same])
    codes = [pd.factorize(matured[c], sort=True)[0] for c in (*KEYS, "target_date")]
    codes = [c.astype(np.int64) for c in codes]
    key = codes[0]
    for c in codes[1:]:
        key = key * (int(c.max()) + 1) + c  # < 2^63 for any real store
    order = np.argsort(key, kind="stable")
    key = key[order] // (int(codes[3].max()) + 1)  # the group part
    return order, _first_of_starts(np.r_[True, key[1:] != key[:-1]])


def _first_of_starts(is_start: np.ndarray) -> np.ndarray:
    return np.maximum.accumulate(np.where(is_start, np.arange(len(is_start)), 0))


def _group_end(first: np.ndarray) -> np.ndarray:
    """For each row, the index of the last row of its group."""
    if not len(first):
        return first
    starts = np.flatnonzero(first == np.arange(len(first)))
    ends = np.r_[starts[1:], len(first)] - 1
    return np.repeat(ends, np.diff(np.r_[starts, len(first)]))


def _sub_first(used: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Group starts among the used rows (indices into the used subset)."""
    f = first[used]
    return _first_of_starts(np.r_[True, f[1:] != f[:-1]] if len(f) else np.zeros(0, bool))
