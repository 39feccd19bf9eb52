"""Cross-sectional scores: does a model rank stocks, and would the ranking pay after costs?

Input: the long forecasts table of a run on a universe (every stock forecast at every
origin; :mod:`forecast.walkforward.cross_section`). On each origin ``t`` a model's
**signal** for stock ``i`` is its forecast ``h``-day log return ``log(forecast /
origin_price)`` and the **outcome** the realised one, ``log(actual / origin_price)``.

**Rank information coefficient** (Grinold and Kahn, *Active Portfolio Management*, 2000,
ch. 6): on each origin, Spearman's correlation between the signals and the outcomes across
the stocks (Pearson's correlation of their ranks, ties given their average rank). A day on
which a model's signals are all equal (the random walk's, always) ranks nothing: its IC is
0 by definition, the value of no skill. The test of "ranks better than chance" is the
one-sided t-statistic of the mean daily IC with Newey and West's (1987, *Econometrica*
55(3), 703-708) HAC variance, Bartlett weights with ``max(h - 1, floor(4 (T/100)^(2/9)))``
lags (their 1994 rule of thumb; at ``h > 1`` consecutive outcomes overlap by ``h - 1``
days), from statsmodels' OLS on a constant. Holm's step-down adjusts the p-values over the
models of the run (the random walk, whose IC is 0 by construction, is not a test).

**Top-k minus bottom-k portfolio** (1-day forecasts): at each origin's close, +1/k of
capital in each of the k stocks with the highest signals and -1/k in each of the k lowest
(ties broken by the stock's order in the table; a day with every signal equal holds
nothing), held to the next close. The costs follow
:mod:`~forecast.evaluation.trading`: ``cost_bps`` per unit of turnover
``sum_i |w_{t,i} - w_{t-1,i}|`` (the weights held constant from day to day), starting from
cash, no financing or borrowing cost. Scores per model and cost: annualised mean and
volatility (252 days), Sharpe ratio, maximum drawdown, annual turnover, and the
probabilistic and deflated Sharpe ratios of :mod:`~forecast.evaluation.overfitting`, the
deflation counting every model of the run with a position at that cost as a trial.

Survivorship: on a universe of today's survivors every long-short result is optimistic.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.regression.linear_model import OLS

from forecast.errors import DataError
from forecast.evaluation.overfitting import probabilistic_sharpe, sharpe_moments
from forecast.evaluation.trading import TRADING_DAYS, check_costs
from forecast.evaluation.verdicts import holm

IC_COLUMNS = ["model", "horizon", "origin", "n_stocks", "rank_ic"]
IC_SUMMARY_COLUMNS = ["model", "horizon", "n_days", "mean_ic", "ic_sd", "ic_positive",
                      "nw_lags", "nw_t", "pvalue", "holm_pvalue"]  # fmt: skip
PORTFOLIO_COLUMNS = ["model", "origin", "cost_bps", "gross_return", "turnover", "net_return"]
PORTFOLIO_SUMMARY_COLUMNS = ["model", "cost_bps", "k", "n_days", "ann_return", "ann_vol",
                             "sharpe", "max_drawdown", "turnover", "psr", "n_trials",
                             "dsr"]  # fmt: skip
_NEEDED = ["series", "model", "origin", "horizon", "forecast", "actual", "origin_price"]


def signals(forecasts: pd.DataFrame, horizon: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Wide ``(model, origin) x series`` tables of the signals and of the outcomes at ``h``."""
    missing = [c for c in _NEEDED if c not in forecasts.columns]
    if missing:
        raise DataError(f"forecasts is missing columns {missing}; required: {_NEEDED}")
    fc = forecasts[forecasts["horizon"] == horizon]
    base = fc["origin_price"].to_numpy(float)
    frame = pd.DataFrame(
        {
            "model": fc["model"].to_numpy(),
            "origin": pd.to_datetime(fc["origin"]).to_numpy(),
            "series": fc["series"].to_numpy(),
            "signal": np.log(fc["forecast"].to_numpy(float) / base),
            "outcome": np.log(fc["actual"].to_numpy(float) / base),
        }
    )
    order = list(dict.fromkeys(frame["series"]))
    wide_s = frame.pivot_table("signal", ["model", "origin"], "series", sort=True)[order]
    wide_o = frame.pivot_table("outcome", ["model", "origin"], "series", sort=True)[order]
    return wide_s, wide_o


def daily_rank_ic(forecasts: pd.DataFrame, horizon: int = 1, min_stocks: int = 3) -> pd.DataFrame:
    """The rank IC of every model on every origin (:data:`IC_COLUMNS`).

    Only stocks with both a signal and an outcome count; an origin with fewer than
    ``min_stocks`` of them is left out.
    """
    sig, out = signals(forecasts, horizon)
    s, o = sig.to_numpy(float), out.to_numpy(float)
    ok = np.isfinite(s) & np.isfinite(o)
    rows = []
    for i, (model, origin) in enumerate(sig.index):
        keep = ok[i]
        n = int(keep.sum())
        if n < min_stocks:
            continue
        rows.append((model, horizon, origin, n, spearman(s[i, keep], o[i, keep])))
    return pd.DataFrame(rows, columns=IC_COLUMNS)


def spearman(signal: np.ndarray, outcome: np.ndarray) -> float:
    """Spearman's rank correlation; 0 when the signals are all equal (no ranking)."""
    if np.all(signal == signal[0]):
        return 0.0
    if np.all(outcome == outcome[0]):
        return float("nan")
    return float(stats.spearmanr(signal, outcome).statistic)


def newey_west_t(values: np.ndarray, lags: int) -> float:
    """t-statistic of the mean of ``values`` with Newey-West (Bartlett) HAC variance."""
    x = np.asarray(values, dtype=float)
    if len(x) < 3 or np.all(x == x[0]):
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = OLS(x, np.ones(len(x))).fit(
            cov_type="HAC", cov_kwds={"maxlags": int(lags), "kernel": "bartlett"}
        )
    t = float(res.tvalues[0])
    return t if np.isfinite(t) else float("nan")


def newey_west_lags(n: int, horizon: int) -> int:
    """``max(h - 1, floor(4 (n/100)^(2/9)))``: Newey and West's (1994) rule, at least the
    overlap of ``h``-day outcomes."""
    return max(int(horizon) - 1, int(np.floor(4 * (n / 100) ** (2 / 9))))


def ic_summary(ic: pd.DataFrame, benchmark: str = "naive") -> pd.DataFrame:
    """Per model and horizon: the mean IC, its Newey-West t and one-sided p, Holm-adjusted
    over the models other than ``benchmark`` (:data:`IC_SUMMARY_COLUMNS`)."""
    rows = []
    for (model, h), g in ic.groupby(["model", "horizon"], sort=False):
        x = g["rank_ic"].to_numpy(float)
        x = x[np.isfinite(x)]
        lags = newey_west_lags(len(x), int(h))
        t = newey_west_t(x, lags)
        rows.append({
            "model": model, "horizon": int(h), "n_days": len(x),
            "mean_ic": float(np.mean(x)) if len(x) else np.nan,
            "ic_sd": float(np.std(x, ddof=1)) if len(x) > 1 else np.nan,
            "ic_positive": float(np.mean(x > 0)) if len(x) else np.nan,
            "nw_lags": lags, "nw_t": t,
            "pvalue": float(stats.norm.sf(t)) if np.isfinite(t) else np.nan,
        })  # fmt: skip
    out = pd.DataFrame(rows, columns=IC_SUMMARY_COLUMNS[:-1])
    out["holm_pvalue"] = np.nan
    for _, idx in out.groupby("horizon").groups.items():
        tested = [i for i in idx if out.at[i, "model"] != benchmark]
        p = out.loc[tested, "pvalue"].fillna(1.0).to_numpy(float)
        if len(p):
            out.loc[tested, "holm_pvalue"] = holm(p)
    return out


def long_short_weights(signal: np.ndarray, k: int) -> np.ndarray:
    """Weights ``(origins, stocks)``: +1/k on the k highest signals, -1/k on the k lowest.

    NaN signals are never held; a day with fewer than ``2k`` signals, or all of them equal,
    holds nothing. Ties are broken by the stock's column order (a stable sort).
    """
    w = np.zeros_like(signal, dtype=float)
    for t, row in enumerate(signal):
        valid = np.flatnonzero(np.isfinite(row))
        if len(valid) < 2 * k or np.all(row[valid] == row[valid][0]):
            continue
        order = valid[np.argsort(-row[valid], kind="stable")]
        w[t, order[:k]] = 1.0 / k
        w[t, order[-k:]] = -1.0 / k
    return w


def portfolio_returns(
    forecasts: pd.DataFrame, k: int, costs_bps: tuple[float, ...] = (0.0, 5.0, 10.0)
) -> pd.DataFrame:
    """Daily gross and net returns of each model's top-k minus bottom-k portfolio at each
    cost (:data:`PORTFOLIO_COLUMNS`), from the 1-day forecasts."""
    costs = check_costs(costs_bps)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise DataError(f"k must be an integer >= 1; got {k!r}")
    sig, out = signals(forecasts, 1)
    simple = np.expm1(out.to_numpy(float))
    frames = []
    for model in dict.fromkeys(sig.index.get_level_values("model")):
        rows = sig.index.get_level_values("model") == model
        w = long_short_weights(sig.to_numpy(float)[rows], k)
        gross = np.nansum(w * np.nan_to_num(simple[rows]), axis=1)
        turnover = np.abs(np.diff(w, axis=0, prepend=0.0)).sum(axis=1)  # from cash
        origins = sig.index.get_level_values("origin")[rows]
        for c in costs:
            frames.append(pd.DataFrame({
                "model": model, "origin": origins, "cost_bps": c, "gross_return": gross,
                "turnover": turnover, "net_return": gross - c / 1e4 * turnover,
            }))  # fmt: skip
    if not frames:
        return pd.DataFrame({c: [] for c in PORTFOLIO_COLUMNS})
    return pd.concat(frames, ignore_index=True)[PORTFOLIO_COLUMNS]


def portfolio_summary(returns: pd.DataFrame, k: int) -> pd.DataFrame:
    """Per model and cost: annualised scores of the net returns (:data:`PORTFOLIO_SUMMARY_COLUMNS`).

    The DSR counts as trials every model with a position at the same cost (the random walk
    holds nothing and is no trial); ``SR0`` is the expected best Sharpe ratio of that many
    skill-less trials with the trials' own Sharpe variance.
    """
    from forecast.evaluation.economics import trial_statistics

    rows = []
    for (model, cost), g in returns.groupby(["model", "cost_bps"], sort=False):
        net = g["net_return"].to_numpy(float)
        sr, skew, kurt = sharpe_moments(net)
        equity = np.cumprod(1.0 + net)
        peak = np.maximum.accumulate(np.maximum(equity, 1.0))
        rows.append({
            "model": model, "cost_bps": float(cost), "k": int(k), "n_days": len(net),
            "ann_return": TRADING_DAYS * float(np.mean(net)) if len(net) else np.nan,
            "ann_vol": np.sqrt(TRADING_DAYS) * float(np.std(net, ddof=1)) if len(net) > 1
            else np.nan,
            "sharpe": np.sqrt(TRADING_DAYS) * sr,
            "max_drawdown": float(np.max(1.0 - equity / peak)) if len(net) else np.nan,
            "turnover": TRADING_DAYS * float(g["turnover"].mean()) if len(net) else np.nan,
            "_skew": skew, "_kurt": kurt,
        })  # fmt: skip
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame({c: [] for c in PORTFOLIO_SUMMARY_COLUMNS})
    table["psr"], table["n_trials"], table["dsr"] = np.nan, 0, np.nan
    for _, idx in table.groupby("cost_bps").groups.items():
        part = table.loc[idx]
        n, _, sr0 = trial_statistics(part["sharpe"])
        table.loc[idx, "n_trials"] = n
        ok = part.index[np.isfinite(part["sharpe"]) & (part["n_days"] >= 2)]
        if len(ok):
            args = (table.loc[ok, "sharpe"].to_numpy(float) / np.sqrt(TRADING_DAYS),
                    table.loc[ok, "n_days"].to_numpy(float),
                    table.loc[ok, "_skew"].to_numpy(float),
                    table.loc[ok, "_kurt"].to_numpy(float))  # fmt: skip
            table.loc[ok, "psr"] = probabilistic_sharpe(*args)
            if np.isfinite(sr0):
                table.loc[ok, "dsr"] = probabilistic_sharpe(*args, benchmark=sr0)
    return table[PORTFOLIO_SUMMARY_COLUMNS]
