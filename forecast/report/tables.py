"""The report's numbers: pure functions of a run folder's three files.

Every number here is read from ``metrics.csv`` or ``run.json`` as it is, never recomputed,
so the report cannot disagree with the run. The only derived quantities are ranks, counts
and the plain-words verdicts, each stated with its rule:

- the *best* model of a series and horizon is the one with the lowest ``rel_rmse`` (RMSE over
  the random walk's on the same forecast points), the random walk itself excluded;
- a model *beats the random walk significantly* when its Diebold-Mariano statistic is
  negative (smaller squared errors) and the two-sided p-value is below ``alpha``;
- ranks order the models of one series and horizon by ``rel_rmse`` (ties share the mean rank).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from forecast.evaluation.metrics import BENCHMARK
from forecast.report.intervals import INTERVAL_METRICS, has_interval_scores
from forecast.walkforward.runfiles import RunFiles

if TYPE_CHECKING:
    from forecast.walkforward.volatility_files import VolatilityRunFiles

#: the default significance level of every verdict and count
ALPHA = 0.05
#: the metric that picks the best model and ranks them (squared errors, as the DM test)
RANK_METRIC = "rel_rmse"

LEADERBOARD_COLUMNS = [
    "model",
    "n",
    "rel_mae",
    "rel_rmse",
    "mase",
    "direction_acc",
    "pt_pvalue",
    "dm_stat",
    "dm_pvalue",
    "note",
]


@dataclass(frozen=True)
class Verdict:
    """The headline of one series and horizon.

    Attributes
    ----------
    series, horizon
        The case.
    model
        The best model other than the random walk (lowest ``rel_rmse``); ``None`` when no
        such model produced forecasts.
    rel_rmse, dm_stat, dm_pvalue
        The best model's numbers, as in ``metrics.csv``.
    outcome
        ``"beats"`` (significantly better), ``"ahead"`` (lower RMSE, not significant),
        ``"behind"`` (no model has a lower RMSE) or ``"none"`` (nothing to compare).
    significant
        Every model that beats the random walk significantly, best first.
    text
        The verdict in plain words (plain text; the renderers escape it).
    """

    series: str
    horizon: int
    model: str | None
    rel_rmse: float
    dm_stat: float
    dm_pvalue: float
    outcome: str
    significant: tuple[str, ...]
    text: str


def percent(alpha: float) -> str:
    """``0.05`` -> ``"5%"``."""
    return f"{100 * alpha:g}%"


def format_p(p: float) -> str:
    """A p-value for prose and tables: 3 decimals, ``<0.001`` below that, ``-`` if undefined."""
    if not np.isfinite(p):
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def beats_significantly(frame: pd.DataFrame, alpha: float) -> pd.Series:
    """Rows whose model has significantly smaller squared errors than the random walk."""
    return (frame["dm_stat"] < 0) & (frame["dm_pvalue"] < alpha)


def loses_significantly(frame: pd.DataFrame, alpha: float) -> pd.Series:
    """Rows whose model has significantly larger squared errors than the random walk."""
    return (frame["dm_stat"] > 0) & (frame["dm_pvalue"] < alpha)


def cases(metrics: pd.DataFrame) -> list[tuple[str, int]]:
    """The (series, horizon) pairs of a run, series in run order, horizons ascending."""
    series = list(dict.fromkeys(metrics["series"]))
    horizons = sorted({int(h) for h in metrics["horizon"]})
    return [(s, h) for s in series for h in horizons]


def models_of(metrics: pd.DataFrame) -> list[str]:
    """Model names in run order (the benchmark first when present)."""
    models = list(dict.fromkeys(metrics["model"]))
    if BENCHMARK in models:
        models.remove(BENCHMARK)
        models.insert(0, BENCHMARK)
    return models


def verdict(metrics: pd.DataFrame, series: str, horizon: int, alpha: float = ALPHA) -> Verdict:
    """The headline verdict of one series and horizon (see the module docstring)."""
    rows = metrics[(metrics["series"] == series) & (metrics["horizon"] == horizon)]
    rivals = rows[(rows["model"] != BENCHMARK) & (rows["n"] > 0)]
    rivals = rivals[np.isfinite(rivals[RANK_METRIC])].sort_values(RANK_METRIC, kind="stable")
    if rivals.empty:
        reason = (
            "only the random walk was run"
            if (rows["model"] != BENCHMARK).sum() == 0
            else "no model other than the random walk produced forecasts (see the failures)"
        )
        nan = float("nan")
        return Verdict(
            series, horizon, None, nan, nan, nan, "none", (), f"Nothing to compare: {reason}."
        )
    best = rivals.iloc[0]
    significant = rivals[beats_significantly(rivals, alpha)]
    sig = tuple(significant["model"])
    model, rel, stat, p = best["model"], best[RANK_METRIC], best["dm_stat"], best["dm_pvalue"]
    level = percent(alpha)
    dm = f"Diebold-Mariano p = {format_p(p)}"
    if model in sig:
        outcome = "beats"
        text = (
            f"{model} beats the random walk: its RMSE is {_change(rel)} lower, significant at "
            f"{level} ({dm})."
        )
    elif rel < 1:
        outcome = "ahead"
        text = (
            f"{model} has the lowest RMSE, {_change(rel)} below the random walk's, but the "
            f"difference is not significant at {level} ({dm})."
        )
    else:
        outcome = "behind"
        how = f"an RMSE {_change(rel)} higher" if rel > 1 else "the same RMSE"
        if stat > 0 and p < alpha:
            how += f", significantly so at {level}"
        text = f"No model beats the random walk: the best, {model}, has {how} ({dm})."
    others = significant[significant["model"] != model]
    if len(others):
        listed = "; ".join(
            f"{r.model} (RMSE {_change(r.rel_rmse)} lower, p = {format_p(r.dm_pvalue)})"
            for r in others.itertuples()
        )
        also = "Also beating it" if outcome == "beats" else "Beating the random walk"
        text += f" {also} significantly: {listed}."
        outcome = "beats"
    elif outcome == "ahead":
        text += f" No model beats the random walk significantly at {level}."
    return Verdict(series, horizon, model, rel, stat, p, outcome, sig, text)


def _change(rel: float) -> str:
    """How far a relative RMSE is from 1, in percent: ``0.9973`` -> ``"0.27%"``."""
    return f"{abs(rel - 1) * 100:.2f}%"


def verdicts(metrics: pd.DataFrame, alpha: float = ALPHA) -> list[Verdict]:
    """:func:`verdict` of every series and horizon of the run."""
    return [verdict(metrics, s, h, alpha) for s, h in cases(metrics)]


def summary(metrics: pd.DataFrame, alpha: float = ALPHA) -> list[str]:
    """The report's opening sentences: the answer over every series and horizon.

    States how many cases a model beats the random walk significantly in, the single best
    relative RMSE, and how many significant results chance alone would give.
    """
    found = verdicts(metrics, alpha)
    level = percent(alpha)
    n_series = len(dict.fromkeys(metrics["series"]))
    horizons = sorted({int(h) for h in metrics["horizon"]})
    scope = (
        f"{n_series} series at horizon{'s' if len(horizons) > 1 else ''} "
        f"{', '.join(map(str, horizons))} ({len(found)} series-horizon cases)"
    )
    wins = [v for v in found if v.outcome == "beats"]
    if not wins:
        lines = [f"No model beats the random walk significantly ({level} level) on {scope}."]
    else:
        listed = "; ".join(f"{v.series} h={v.horizon}: {', '.join(v.significant)}" for v in wins)
        lines = [
            f"A model beats the random walk significantly ({level} level) in {len(wins)} of "
            f"{len(found)} series-horizon cases: {listed}."
        ]
    rivals = metrics[(metrics["model"] != BENCHMARK) & np.isfinite(metrics[RANK_METRIC])]
    if len(rivals):
        top = rivals.loc[rivals[RANK_METRIC].idxmin()]
        lines.append(
            f"The lowest RMSE relative to the random walk is {top[RANK_METRIC]:.4f} "
            f"({top['model']} on {top['series']}, horizon {int(top['horizon'])})."
        )
    n_tests = int(np.isfinite(metrics["dm_pvalue"]).sum())
    if n_tests:
        lines.append(
            f"This run made {n_tests} Diebold-Mariano tests. If no model were better than the "
            f"random walk, about {n_tests * alpha / 2:.1f} of them would still show a "
            f"significant win at {level} by chance alone (and as many a significant loss): "
            f"an isolated significant result is weak evidence."
        )
    return lines


def leaderboard(run: RunFiles, series: str, horizon: int) -> pd.DataFrame:
    """Every model of one series and horizon, best ``rel_rmse`` first, failed models last.

    Columns :data:`LEADERBOARD_COLUMNS`, with ``coverage, width, winkler`` of the chosen
    intervals before ``note`` when the run has them; ``note`` says which row is the benchmark
    and which models failed on some or all of their folds.
    """
    m = run.metrics
    rows = m[(m["series"] == series) & (m["horizon"] == horizon)].copy()
    failed = _failed_folds(run)
    total = _n_folds(run)
    notes = []
    for model, n in zip(rows["model"], rows["n"], strict=True):
        parts = ["benchmark (random walk)"] if model == BENCHMARK else []
        k = failed.get((series, model), 0)
        if n == 0:
            parts.append("failed on every fold" if k else "no forecasts")
        elif k:
            parts.append(f"failed on {k} of {total} folds" if total else f"{k} failed folds")
        notes.append("; ".join(parts))
    rows["note"] = notes
    rows = rows.sort_values(RANK_METRIC, kind="stable", na_position="last")
    rows = pd.concat([rows[rows["n"] > 0], rows[rows["n"] == 0]])
    columns = LEADERBOARD_COLUMNS[:-1]
    if has_verdict_scores(m):
        columns = [*columns, *VERDICT_LEADERBOARD]
    if has_interval_scores(m):
        columns = [*columns, *INTERVAL_METRICS]
    return rows[[*columns, "note"]].reset_index(drop=True)


#: the verdict statistics a leaderboard shows, after the DM columns (runs that have them)
VERDICT_LEADERBOARD = ("r2_os", "cw_pvalue")


def has_verdict_scores(metrics: pd.DataFrame) -> bool:
    """Whether the run's metrics carry R²_OS (runs from before the verdicts do not)."""
    return "r2_os" in metrics and bool(np.isfinite(metrics["r2_os"].astype(float)).any())


def best_rows(board: pd.DataFrame) -> dict[str, set[int]]:
    """Per column, the row positions holding its best value (lowest error, highest hit rate).

    Of the interval scores only the Winkler score has a best value (the lowest): coverage is
    best near the nominal level, and a narrow interval is only good if it covers.
    """
    best: dict[str, set[int]] = {}
    scored = board[board["n"] > 0]
    for col, pick in (
        ("rel_mae", "min"),
        ("rel_rmse", "min"),
        ("mase", "min"),
        ("direction_acc", "max"),
        ("winkler", "min"),
    ):
        if col not in scored:
            continue
        values = scored[col][np.isfinite(scored[col])]
        if len(values):
            target = values.min() if pick == "min" else values.max()
            best[col] = set(values.index[values == target])
    return best


def across_series(metrics: pd.DataFrame, horizon: int, alpha: float = ALPHA) -> pd.DataFrame:
    """Per model, over every series at one horizon: mean rank and wins against the random walk.

    Columns: ``model``, ``mean_rank`` (by ``rel_rmse`` within each series), ``n_series``
    (series where the model has a ``rel_rmse``), ``better`` (``rel_rmse < 1``),
    ``better_significant``, ``worse_significant`` and ``geomean_rel_rmse``. Best mean rank
    first.
    """
    m = metrics[(metrics["horizon"] == horizon) & (metrics["n"] > 0)].copy()
    m = m[np.isfinite(m[RANK_METRIC])]
    m["rank"] = m.groupby("series")[RANK_METRIC].rank(method="average")
    out = []
    for model in models_of(metrics):
        g = m[m["model"] == model]
        out.append(
            {
                "model": model,
                "mean_rank": g["rank"].mean() if len(g) else np.nan,
                "n_series": len(g),
                "better": int((g[RANK_METRIC] < 1).sum()),
                "better_significant": int(beats_significantly(g, alpha).sum()),
                "worse_significant": int(loses_significantly(g, alpha).sum()),
                "geomean_rel_rmse": float(np.exp(np.log(g[RANK_METRIC]).mean()))
                if len(g)
                else np.nan,
            }
        )
    frame = pd.DataFrame(out)
    return frame.sort_values("mean_rank", kind="stable", na_position="last").reset_index(drop=True)


def failures(run: RunFiles | VolatilityRunFiles) -> pd.DataFrame:
    """One row per series and model that failed on at least one fold (of a price or a
    volatility run: both keep ``failures`` and ``config`` in ``run.json``).

    Columns: ``series``, ``model``, ``failed`` (folds), ``folds`` (total per model),
    ``stages``, ``first_origin``, ``error`` (the first message) and ``other_errors`` (how many
    different messages besides it).
    """
    records = pd.DataFrame(
        run.run.get("failures", []), columns=["series", "model", "origin", "stage", "error"]
    )
    columns = [
        "series",
        "model",
        "failed",
        "folds",
        "stages",
        "first_origin",
        "error",
        "other_errors",
    ]
    if records.empty:
        return pd.DataFrame(columns=columns)
    total = _n_folds(run)
    rows = []
    for (series, model), g in records.groupby(["series", "model"], sort=False):
        rows.append(
            {
                "series": str(series),
                "model": str(model),
                "failed": len(g),
                "folds": total,
                "stages": ", ".join(dict.fromkeys(map(str, g["stage"]))),
                "first_origin": str(g["origin"].iat[0]),
                "error": str(g["error"].iat[0]),
                "other_errors": g["error"].astype(str).nunique() - 1,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def timings(run: RunFiles) -> pd.DataFrame:
    """Per model, summed over series: fit and predict seconds, fits and failed folds."""
    t = pd.DataFrame(run.run["timings"])
    columns = ["model", "fit_seconds", "predict_seconds", "n_fits", "n_failed"]
    if t.empty:
        return pd.DataFrame(columns=columns)
    for col in columns[1:]:
        t[col] = pd.to_numeric(t[col], errors="coerce")
    t["model"] = t["model"].astype(str)
    out = t.groupby("model", sort=False)[columns[1:]].sum().reset_index()
    return out[columns]


def series_facts(run: RunFiles) -> pd.DataFrame:
    """Per series: source, data range, rows, first test date and content hash (run.json)."""
    columns = ["series", "source", "first_date", "last_date", "n", "test_start", "content_hash"]
    facts = pd.DataFrame(run.run["series"])
    for col in columns:
        if col not in facts:
            facts[col] = ""
    return facts[columns].astype(str)


def run_facts(run: RunFiles) -> dict[str, str]:
    """The run's identity: command, date, elapsed time, the backtest configuration."""
    r = run.run
    facts = {
        "command": f"forecast {r.get('command', '?')}",
        "run date (UTC)": str(r.get("created_at", "unknown")),
    }
    if isinstance(r.get("elapsed_seconds"), int | float):
        facts["elapsed"] = f"{r['elapsed_seconds']:.1f} s"
    for key, value in r["config"].items():
        facts[key] = plain(value)
    return facts


def plain(value: object) -> str:
    """A run.json value as one line of text (lists comma-separated, ``None`` as ``-``)."""
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value) or "-"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {plain(v)}" for k, v in value.items()) or "-"
    return str(value)


def _failed_folds(run: RunFiles) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for f in run.run["failures"]:
        key = (str(f["series"]), str(f["model"]))
        counts[key] = counts.get(key, 0) + 1
    return counts


def _n_folds(run: RunFiles | VolatilityRunFiles) -> int:
    """Folds per series and model: ``ceil(test_size / refit_every)``; 0 when unknown."""
    config = run.run["config"]
    try:
        return -(-int(config["test_size"]) // int(config["refit_every"]))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return 0
