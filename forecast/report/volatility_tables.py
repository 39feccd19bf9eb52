"""The numbers and sentences of the report's volatility section, from a volatility run.

Pure functions of the volatility run files (:mod:`forecast.walkforward.volatility_files`): the
headline (does a volatility model beat the naive one, and does its Value-at-Risk hold its
level), one verdict per series and horizon, leaderboards, the VaR tests per model and pooled
over series, and which variance proxy each series was scored on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from forecast.evaluation.metrics import BENCHMARK  # the naive model, in both registries
from forecast.report.tables import ALPHA, format_p, percent

if TYPE_CHECKING:
    from forecast.walkforward.volatility_files import VolatilityRunFiles

#: the variants of Value-at-Risk every run tests: (column, tail probability, quantile)
VAR_VARIANTS = (
    ("var_1", 0.01, "normal"),
    ("var_1_t", 0.01, "t"),
    ("var_5", 0.05, "normal"),
    ("var_5_t", 0.05, "t"),
)
#: what each proxy is, in a few words
PROXY_WORDS = {
    "yang_zhang": "Yang-Zhang (open, high, low and close)",
    "garman_klass": "Garman-Klass (high, low, open-to-close, plus the overnight return)",
    "parkinson": "Parkinson (high-low range, plus the overnight return)",
    "squared_returns": "squared daily log returns (close only)",
}


@dataclass(frozen=True)
class VolatilityVerdict:
    """One series and horizon: the best model by QLIKE, its test, and the joint tests."""

    series: str
    horizon: int
    model: str | None
    rel_qlike: float
    dm_pvalue: float
    significant: tuple[str, ...]
    mcs_members: str
    spa_pvalue: float
    stepm_models: str
    text: str


def models_of(metrics: pd.DataFrame) -> list[str]:
    """Model names in run order, the naive benchmark first."""
    models = list(dict.fromkeys(metrics["model"]))
    if BENCHMARK in models:
        models.remove(BENCHMARK)
        models.insert(0, BENCHMARK)
    return models


def beats(rows: pd.DataFrame, alpha: float) -> pd.Series:
    """Rows whose QLIKE is significantly below the naive model's (DM, two-sided, alpha)."""
    return (rows["dm_qlike_stat"] < 0) & (rows["dm_qlike_pvalue"] < alpha)


def verdicts(run: VolatilityRunFiles, alpha: float = ALPHA) -> list[VolatilityVerdict]:
    """The verdict of every series and horizon, series in run order."""
    m = run.metrics
    joint = run.verdicts.set_index(["series", "horizon"]) if len(run.verdicts) else None
    out = []
    for series in dict.fromkeys(m["series"]):
        for h in sorted({int(x) for x in m["horizon"]}):
            rows = m[(m["series"] == series) & (m["horizon"] == h)]
            j = joint.loc[(series, h)] if joint is not None and (series, h) in joint.index else None
            out.append(_verdict(rows, series, h, j, alpha))
    return out


def _verdict(rows: pd.DataFrame, series: str, h: int, joint, alpha: float) -> VolatilityVerdict:
    rivals = rows[(rows["model"] != BENCHMARK) & np.isfinite(rows["rel_qlike"].astype(float))]
    rivals = rivals.sort_values("rel_qlike", kind="stable")
    members = str(joint["mcs_members"]) if joint is not None else ""
    spa = float(joint["spa_pvalue"]) if joint is not None else float("nan")
    stepm = str(joint["stepm_models"]) if joint is not None else ""
    if rivals.empty:
        return VolatilityVerdict(
            series,
            h,
            None,
            np.nan,
            np.nan,
            (),
            members,
            spa,
            stepm,
            "Nothing to compare: no model but the naive one has scores.",
        )
    best = rivals.iloc[0]
    sig = tuple(rivals.loc[beats(rivals, alpha), "model"])
    rel, p = float(best["rel_qlike"]), float(best["dm_qlike_pvalue"])
    change = f"{abs(rel - 1) * 100:.1f}%"
    if best["model"] in sig:
        text = (
            f"{best['model']} beats the naive model: QLIKE {change} lower, significant at "
            f"{percent(alpha)} (DM p = {format_p(p)})."
        )
    elif rel < 1:
        text = (
            f"{best['model']} has the lowest QLIKE, {change} below the naive model's, not "
            f"significant at {percent(alpha)} (DM p = {format_p(p)})."
        )
    else:
        text = (
            f"No model beats the naive one: the best, {best['model']}, has a QLIKE {change} higher."
        )
    others = [s for s in sig if s != best["model"]]
    if others:
        text += f" Also significantly lower: {', '.join(others)}."
    if stepm:
        text += f" StepM (family-wise {percent(alpha)}): {stepm.replace(',', ', ')}."
    return VolatilityVerdict(series, h, str(best["model"]), rel, p, sig, members, spa, stepm, text)


def summary(run: VolatilityRunFiles, alpha: float = ALPHA) -> list[str]:
    """The section's opening sentences: wins against the naive model, the best ratio, VaR."""
    found = verdicts(run, alpha)
    m = run.metrics
    level = percent(alpha)
    wins = [v for v in found if v.significant]
    scope = f"{len(found)} series-horizon cases"
    if wins:
        listed = "; ".join(f"{v.series} h={v.horizon}: {', '.join(v.significant)}" for v in wins)
        lines = [
            f"A volatility model has a significantly lower QLIKE than the naive model ({level}, "
            f"Diebold-Mariano) in {len(wins)} of {scope}: {listed}."
        ]
    else:
        lines = [
            f"No volatility model has a significantly lower QLIKE than the naive model "
            f"({level}) in any of the {scope}."
        ]
    stepm = [v for v in found if v.stepm_models]
    lines.append(
        f"StepM, which controls the chance of any false claim among a case's models at "
        f"{level}, finds a model better than the naive one in {len(stepm)} of {scope}."
    )
    rivals = m[(m["model"] != BENCHMARK) & np.isfinite(m["rel_qlike"].astype(float))]
    if len(rivals):
        top = rivals.loc[rivals["rel_qlike"].astype(float).idxmin()]
        lines.append(
            f"The lowest QLIKE relative to the naive model is {top['rel_qlike']:.3f} "
            f"({top['model']} on {top['series']}, horizon {int(top['horizon'])})."
        )
    tests = run.var_tests
    if len(tests):
        ok = tests["p_uc"].astype(float) > alpha
        lines.append(
            f"Value-at-Risk: the exception rate is consistent with its level (Kupiec p > "
            f"{level}) in {int(ok.sum())} of {len(tests)} tests ({ok.mean():.0%}; series x "
            f"model x horizon x 1%/5% x normal/t quantiles)."
        )
    n_tests = int(np.isfinite(m["dm_qlike_pvalue"].astype(float)).sum())
    if n_tests:
        lines.append(
            f"This run made {n_tests} Diebold-Mariano tests on QLIKE; with no model better "
            f"than the naive one, about {n_tests * alpha / 2:.1f} would show a significant win "
            "by chance alone."
        )
    return lines


def proxies(run: VolatilityRunFiles) -> pd.DataFrame:
    """Per series: the proxy scored on, whether the range was there, and why not."""
    rows = []
    for s in run.run.get("series", []):
        proxy = str(s.get("proxy", "?"))
        rows.append(
            {
                "series": s.get("series"),
                "proxy": proxy,
                "what": PROXY_WORDS.get(proxy, proxy),
                "range": "yes" if s.get("range") else f"no: {s.get('range_note') or 'close only'}",
            }
        )
    return pd.DataFrame(rows, columns=["series", "proxy", "what", "range"])


def proxy_sentence(run: VolatilityRunFiles) -> str:
    """``Proxy: yang_zhang (open, high, low and close) on AAPL, GSPC; squared ... on X.``"""
    table = proxies(run)
    if table.empty:
        return "Proxy: unknown (run.json lists no series)."
    parts = [
        f"{PROXY_WORDS.get(p, p)} on {', '.join(g['series'])}"
        for p, g in table.groupby("proxy", sort=False)
    ]
    return (
        "The target (the realised variance the forecasts are scored against) is the sum over "
        f"the horizon's days of a daily proxy: {'; '.join(parts)}."
    )


def leaderboard(metrics: pd.DataFrame, series: str, horizon: int) -> pd.DataFrame:
    """Every model of one series and horizon, lowest ``rel_qlike`` first, unscored last."""
    rows = metrics[(metrics["series"] == series) & (metrics["horizon"] == horizon)].copy()
    rows["_missing"] = ~np.isfinite(rows["rel_qlike"].astype(float))
    rows = rows.sort_values(["_missing", "rel_qlike"], kind="stable")
    return rows.drop(columns="_missing").reset_index(drop=True)


def var_pooled(var_tests: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Per model, horizon, level and quantile, over the series: mean exception rate and the
    number of series whose Kupiec (``uc_ok``) and Christoffersen (``ind_ok``) p-values exceed
    ``alpha``."""
    keys = ["model", "horizon", "alpha", "dist"]
    t = var_tests.assign(
        uc_ok=var_tests["p_uc"].astype(float) > alpha,
        ind_ok=var_tests["p_ind"].astype(float) > alpha,
    )
    out = t.groupby(keys, sort=False).agg(
        n_series=("series", "nunique"),
        rate=("rate", "mean"),
        uc_ok=("uc_ok", "sum"),
        ind_ok=("ind_ok", "sum"),
    )
    return out.reset_index()
