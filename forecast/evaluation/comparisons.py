"""Does it help? One model against another on the same points: covariates, global nets.

Two questions of the global-nets issue, each a set of (base, challenger) pairs in a run:

``covariates``
    The same model without and with past covariates (``lstm`` / ``lstm+x``, ``ar`` / ``ar+x``,
    ``global_lstm`` / ``global_lstm+x``). The challenger nests the base (zero weights on the
    covariates give the base back), so the test is Clark and West's (2007) adjusted MSPE
    test with the base as the null model (:func:`forecast.evaluation.nested.clark_west`):
    under "the covariates add nothing" the larger model's estimation noise makes its squared
    error *larger*, which a plain DM test mistakes for evidence against it.
``global``
    The per-series net against the global net of the same cell (``lstm`` / ``global_lstm``,
    also with ``+x``). Neither nests the other: Diebold and Mariano's test of equal squared
    error (statsmodels, with the Harvey-Leybourne-Newbold correction,
    :func:`forecast.evaluation.metrics.diebold_mariano`), made one-sided (the challenger has
    the lower error).

Errors are ``log(forecast / actual)`` on the origins both models forecast. Each row gives the
out-of-sample R² of the challenger against the base (``1 - SSE_challenger / SSE_base``: the
share of the base's squared error it removes), the statistic and the one-sided p-value, per
series and horizon; Holm's step-down adjusts over every row of a question (all pairs, series
and horizons), so "helps" at the 5% level is a family-wise claim. A **pooled** row per pair
and horizon (series ``all``) averages the per-series differentials on each common origin and
tests their mean with a HAC t-statistic (uniform weights over ``h - 1`` lags, as Clark-West's):
one test of "helps on average across the stocks", not Holm-adjusted with the rest.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.regression.linear_model import OLS

from forecast.evaluation.metrics import diebold_mariano
from forecast.evaluation.nested import clark_west, clark_west_differentials, r2_os
from forecast.evaluation.verdicts import holm, log_errors

PAIR_COLUMNS = ["question", "base", "challenger", "series", "horizon", "n", "r2", "test",
                "stat", "pvalue", "holm_pvalue"]  # fmt: skip
QUESTIONS = ("covariates", "global")
_SUFFIX = "+x"


def default_pairs(models: list[str]) -> list[tuple[str, str, str]]:
    """``(question, base, challenger)`` for every pair present in ``models``."""
    present = set(models)
    pairs = []
    for m in models:
        if m.endswith(_SUFFIX) and m[: -len(_SUFFIX)] in present:
            pairs.append(("covariates", m[: -len(_SUFFIX)], m))
    for m in models:
        if m.startswith("global_") and m[len("global_") :] in present:
            pairs.append(("global", m[len("global_") :], m))
    return pairs


def compare_pairs(
    forecasts: pd.DataFrame, pairs: list[tuple[str, str, str]] | None = None
) -> pd.DataFrame:
    """The tests of every pair (:data:`PAIR_COLUMNS`; see the module docstring)."""
    errors = log_errors(forecasts)
    if pairs is None:
        pairs = default_pairs(list(dict.fromkeys(errors["model"])))
    rows = []
    for question, base, challenger in pairs:
        if question not in QUESTIONS:
            raise ValueError(f"question must be one of {', '.join(QUESTIONS)}; got {question!r}")
        pair = errors[errors["model"].isin([base, challenger])]
        for h, g in pair.groupby("horizon", sort=True):
            wide = g.pivot_table("error", ["series", "origin"], "model")
            if base not in wide or challenger not in wide:
                continue
            wide = wide[[base, challenger]].dropna()
            diffs = []
            for series, part in wide.groupby(level="series", sort=False):
                e0, e1 = part[base].to_numpy(float), part[challenger].to_numpy(float)
                stat, p = _test(question, e0, e1, int(h))
                rows.append(_row(question, base, challenger, series, h, e0, e1, stat, p))
                d = _differential(question, e0, e1)
                diffs.append(pd.Series(d, index=part.index.get_level_values("origin")))
            if diffs:
                mean = pd.concat(diffs, axis=1).dropna().mean(axis=1).to_numpy(float)
                stat, p = _hac_mean_test(mean, int(h))
                e0, e1 = wide[base].to_numpy(float), wide[challenger].to_numpy(float)
                rows.append(_row(question, base, challenger, "all", h, e0, e1, stat, p))
    out = pd.DataFrame(rows, columns=PAIR_COLUMNS[:-1])
    out["holm_pvalue"] = np.nan
    for _, idx in out[out["series"] != "all"].groupby("question").groups.items():
        out.loc[idx, "holm_pvalue"] = holm(out.loc[idx, "pvalue"].to_numpy(float))
    return out


def _test(question: str, e0: np.ndarray, e1: np.ndarray, h: int) -> tuple[float, float]:
    """(statistic, one-sided p) of "the challenger forecasts better"."""
    if question == "covariates":
        return clark_west(e0, e1, h)
    # DM on log errors: actual 0, forecasts the errors; a negative statistic favours e1
    stat, p = diebold_mariano(np.zeros_like(e0), e1, e0, h)
    if not np.isfinite(stat):
        return float("nan"), float("nan")
    return -stat, (p / 2 if stat < 0 else 1 - p / 2)


def _differential(question: str, e0: np.ndarray, e1: np.ndarray) -> np.ndarray:
    """Per-origin loss differential, positive when the challenger does better."""
    if question == "covariates":
        return clark_west_differentials(e0, e1)
    return e0**2 - e1**2


def _hac_mean_test(d: np.ndarray, h: int) -> tuple[float, float]:
    """One-sided t-test of ``mean(d) > 0`` with the HAC variance Clark-West uses (uniform
    weights over ``h - 1`` lags; Newey-West when that is not positive)."""
    if len(d) < 3 or np.all(d == d[0]):
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ols = OLS(d, np.ones(len(d)))
        res = ols.fit(cov_type="HAC", cov_kwds={"maxlags": h - 1, "kernel": "uniform"})
        if not (np.isfinite(res.bse[0]) and res.bse[0] > 0):
            res = ols.fit(cov_type="HAC", cov_kwds={"maxlags": h - 1, "kernel": "bartlett"})
    t = float(res.tvalues[0])
    return (t, float(stats.norm.sf(t))) if np.isfinite(t) else (float("nan"), float("nan"))


def _row(question, base, challenger, series, h, e0, e1, stat, p) -> dict:
    return {
        "question": question, "base": base, "challenger": challenger, "series": series,
        "horizon": int(h), "n": len(e0), "r2": r2_os(e0, e1),
        "test": "Clark-West" if question == "covariates" else "Diebold-Mariano",
        "stat": stat, "pvalue": p,
    }  # fmt: skip
