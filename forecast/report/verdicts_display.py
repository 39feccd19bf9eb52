"""The report's answer built on the verdicts that survive testing many models.

A run's ``verdicts.csv`` and ``verdicts_pooled.csv`` (see :mod:`forecast.evaluation.verdicts`)
hold, per series and horizon, the claim under the rule *a model beats the random walk when its
one-sided Clark-West p-value, Holm-adjusted over the models of that case, is at most alpha and
its R²_OS is positive*, and the same rule with Holm over every (series, model, horizon) of the
run: the pooled answer, shown first. This module turns them into the headline sentences
(:func:`headline`, also what ``forecast compare`` prints) and the verdict table
(:func:`verdict_table`). Per-model Diebold-Mariano tests stay in the leaderboards; the old rule
(any model's DM p-value below alpha, no adjustment) is stated beside the new one for
comparison.

When the report's level differs from the run's, the claims are restated at the report's
level from the stored p-values (:func:`forecast.evaluation.verdicts.claims_at`: Holm steps,
no new bootstrap); StepM's set and the model confidence set keep the run's levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.evaluation.metrics import BENCHMARK
from forecast.report import display, tables
from forecast.report.display import Cell, Table, fmt
from forecast.report.tables import RANK_METRIC, beats_significantly, format_p, percent
from forecast.walkforward.runfiles import RunFiles

#: the glossary entries of the verdict statistics, in plain words
VERDICT_GLOSSARY = (
    (
        "R²_OS (out-of-sample R²)",
        "The share of the random walk's squared log error that a model removes on the same "
        "forecast points: 1 - (model's sum of squared errors) / (random walk's). Positive: "
        "smaller errors than the random walk; negative: larger (Campbell and Thompson, 2008).",
    ),
    (
        "Clark-West test (CW p)",
        "A test of whether a model adds anything to the random walk when it contains the random "
        "walk as a special case (set its parameters to zero and it forecasts no change, as "
        "drift, AR, the Markov models and the nets do). The Diebold-Mariano test is too timid "
        "there: estimating parameters that are truly zero adds noise, so a plain comparison of "
        "squared errors rarely finds a real but small edge. Clark and West (2007) correct for "
        "that noise. One-sided p-value; for h > 1 the variance allows for the overlap of "
        "h-day errors.",
    ),
    (
        "Holm correction",
        "Testing many models makes some look significant by luck. Holm (1979) raises each "
        "p-value for the number of tests it is one of (the smallest times m, the next times "
        "m - 1, ...), so that the chance of any false claim in the whole family stays at the "
        "level, whatever the dependence between the tests.",
    ),
    (
        "claim (the headline rule)",
        "A model beats the random walk when its Clark-West p-value, after Holm over the "
        "models of its series and horizon, is at most the level, and its R²_OS is positive. "
        "The pooled answer applies Holm over every (series, model, horizon) of the run at "
        "once: the chance that the run makes any false claim is then at most the level.",
    ),
    (
        "MCS (model confidence set)",
        "The models that cannot be told apart from the best one on these forecasts (Hansen, "
        "Lunde and Nason, 2011): the worst model is dropped while the differences are "
        "significant. A model's MCS p-value is the level at which it would be dropped; members "
        "have an MCS p-value above 10%. A model identical to the random walk is never dropped "
        "before it.",
    ),
    (
        "SPA p (superior predictive ability)",
        "Hansen's (2005) test of 'no model has a lower expected squared error than the random "
        "walk', accounting for every model tried in that series and horizon. A small p-value "
        "says that at least one of them does.",
    ),
    (
        "StepM",
        "Romano and Wolf's (2005) step-down test: the models that have a lower expected squared "
        "error than the random walk, with the chance of naming any wrong one at most the level.",
    ),
    (
        "block bootstrap",
        "MCS, SPA and StepM resample the forecast errors in blocks of consecutive origins (a "
        "stationary bootstrap, 1000 replications, the mean block length chosen from the data "
        "and at least the horizon), so that the overlap of h-day errors and volatility "
        "clustering are kept.",
    ),
)


def run_alpha(run: RunFiles) -> float | None:
    """The level the run's verdicts were computed at (``run.json``), if recorded."""
    alpha = _settings(run).get("alpha")
    return float(alpha) if isinstance(alpha, int | float) else None


def verdict_frames(run: RunFiles, alpha: float) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The run's verdicts and pooled answer at ``alpha``; ``None`` for a run without them."""
    if run.verdicts is None or run.pooled_verdict is None:
        return None
    stored = run_alpha(run)
    if stored is not None and abs(stored - alpha) < 1e-12:
        return run.verdicts, run.pooled_verdict
    from forecast.evaluation.verdicts import claims_at  # arch loads only when restating

    return claims_at(run.metrics, run.verdicts, alpha)


def headline(
    metrics: pd.DataFrame, verdicts: pd.DataFrame, pooled: pd.DataFrame, alpha: float
) -> list[str]:
    """The answer in sentences: the pooled claim first, then case by case, the lowest RMSE,
    the SPA test, and the old per-model Diebold-Mariano rule for comparison."""
    level = percent(alpha)
    n_cases = len(verdicts)
    cw = pooled[pooled["method"] == "clark_west_holm"].iloc[0]
    n_tests = int(cw["n_tests"])
    if n_tests == 0:
        return ["Nothing to compare: only the random walk was run."]
    won = verdicts[verdicts["claim_pooled"]]
    if bool(cw["claim"]):
        lines = [
            f"A model beats the random walk ({level} level, all {n_tests} (series, model, "
            f"horizon) tests of this run accounted for) in {len(won)} of {n_cases} "
            f"series-horizon cases: {cw['claims']}."
        ]
    else:
        lines = [
            f"No model beats the random walk once all {n_tests} (series, model, horizon) tests "
            f"of this run are accounted for ({level} level; smallest Holm-adjusted Clark-West "
            f"p = {format_p(float(cw['pvalue']))})."
        ]
    lines.append(_case_line(verdicts))
    lines += _lowest_rmse(metrics)
    lines.append(_spa_line(verdicts, pooled, level))
    lines.append(_old_rule_line(metrics, alpha, n_cases))
    return lines


def _case_line(verdicts: pd.DataFrame) -> str:
    cases = verdicts[verdicts["claim"]]
    scope = "Series by series (Holm over the models of each series and horizon only)"
    if not len(cases):
        return f"{scope}, no model beats it in any of the {len(verdicts)} cases either."
    listed = "; ".join(
        f"{r.series} h={r.horizon}: {_names(r.claim_models)} (p = {format_p(r.claim_pvalue)})"
        for r in cases.itertuples()
    )
    return f"{scope}, a model beats it in {len(cases)} of {len(verdicts)} cases: {listed}."


def _lowest_rmse(metrics: pd.DataFrame) -> list[str]:
    rivals = metrics[(metrics["model"] != BENCHMARK) & np.isfinite(metrics[RANK_METRIC])]
    if not len(rivals):
        return []
    top = rivals.loc[rivals[RANK_METRIC].idxmin()]
    return [
        f"The lowest RMSE relative to the random walk is {top[RANK_METRIC]:.4f} "
        f"({top['model']} on {top['series']}, horizon {int(top['horizon'])})."
    ]


def _spa_line(verdicts: pd.DataFrame, pooled: pd.DataFrame, level: str) -> str:
    spa = pooled[pooled["method"] == "spa_holm"].iloc[0]
    test = (
        "Hansen's SPA test of 'no model has a lower expected squared error than the random "
        f"walk', with Holm over the {len(verdicts)} cases,"
    )
    if bool(spa["claim"]):
        return f"{test} rejects at {level} in: {spa['claims']}."
    return f"{test} rejects in none (smallest adjusted p = {format_p(float(spa['pvalue']))})."


def _old_rule_line(metrics: pd.DataFrame, alpha: float, n_cases: int) -> str:
    n_dm = int(np.isfinite(metrics["dm_pvalue"]).sum())
    rivals = metrics[metrics["model"] != BENCHMARK]
    wins = rivals[beats_significantly(rivals, alpha)]
    per_case = wins.groupby(["series", "horizon"], sort=False)["model"].agg(", ".join)
    found = "; ".join(f"{s} h={h}: {ms}" for (s, h), ms in per_case.items())
    claim = f"would claim {len(per_case)} of {n_cases} cases" + (f": {found}" if found else "")
    return (
        f"For comparison, the old rule (any model's Diebold-Mariano p below {percent(alpha)}, "
        f"no correction for the {n_dm} tests, about {n_dm * alpha / 2:.1f} of which would show a "
        f"significant win by chance alone) {claim}."
    )


def _names(listed: str) -> str:
    """``"ar,markov"`` -> ``"ar, markov"``; empty -> ``"none"``."""
    return ", ".join(m for m in str(listed).split(",") if m) or "none"


def verdict_table(
    metrics: pd.DataFrame, verdicts: pd.DataFrame, alpha: float, mcs_size: float = 0.10
) -> Table:
    """One row per series and horizon: the claim, its Holm p, whether it holds run-wide, the
    highest R²_OS, the SPA p-value, StepM's models, the MCS members and the verdict."""
    rows, keys = [], []
    for v in verdicts.itertuples(index=False):
        top = _top_r2(metrics, v.series, v.horizon)
        claim = bool(v.claim)
        good = "good" if claim else ""
        rows.append(
            (
                Cell(str(v.series)),
                Cell(str(v.horizon), float(v.horizon)),
                Cell(_names(v.claim_models), tone=good),
                _cell("claim_pvalue", v.claim_pvalue, good),
                Cell(("yes" if v.claim_pooled else "no") if claim else "-"),
                Cell(
                    "-" if top is None else f"{fmt('r2_os', top['r2_os'])} ({top['model']})",
                    None if top is None else float(top["r2_os"]),
                ),
                _cell("spa_pvalue", v.spa_pvalue, "good" if v.spa_pvalue <= alpha else ""),
                Cell(_names(v.stepm_models) if np.isfinite(v.spa_pvalue) else "-"),
                Cell(_mcs_text(v, _models(metrics, v)) if np.isfinite(v.spa_pvalue) else "-"),
                Cell(_case_text(v, top, alpha), tone=good),
            )
        )
        keys.append({"series": str(v.series), "horizon": str(v.horizon)})
    columns = (
        ("series", ""),
        ("horizon", "steps ahead, in trading days"),
        ("beats the RW", "models that beat the random walk under the headline rule"),
        ("Holm p", "smallest Clark-West p after Holm over the case's models, R²_OS > 0"),
        ("run-wide", "the claim also holds with Holm over every test of the run"),
        ("best R²_OS", "the highest out-of-sample R² against the random walk"),
        ("SPA p", "Hansen's SPA: p-value of 'no model beats the random walk'"),
        ("StepM", "models with a lower expected squared error than the random walk"),
        (f"MCS {percent(1 - mcs_size)}", "models that cannot be told apart from the best"),
        ("verdict", ""),
    )
    metrics_of = ("series", "horizon", "claim_models", "claim_pvalue", "claim_pooled", "r2_os",
                  "spa_pvalue", "stepm_models", "mcs_members", "")  # fmt: skip
    return Table(columns, tuple(rows), tuple(keys), metrics_of)


def case_verdicts(metrics: pd.DataFrame, verdicts: pd.DataFrame, alpha: float) -> list[str]:
    """One line per series and horizon: ``"GSPC h=1: <the verdict table's sentence>"``."""
    return [
        f"{v.series} h={v.horizon}: " + _case_text(v, _top_r2(metrics, v.series, v.horizon), alpha)
        for v in verdicts.itertuples(index=False)
    ]


def _mcs_text(v, models: list[str]) -> str:
    """The MCS members ("all 11", "all but gru", or the list) among ``models`` (the case's
    models with forecasts), and the models left out of the joint tests, if any."""
    members = [m for m in str(v.mcs_members).split(",") if m]
    left = [m for m in str(v.left_out).split(",") if m]
    tested = [m for m in models if m not in left]
    out = [m for m in tested if m not in members]
    if not out:
        text = f"all {len(tested)}"
    elif len(out) <= min(3, len(members)):
        text = f"all but {', '.join(out)}"
    else:
        text = ", ".join(members) or "none"
    return text if not left else f"{text} (not tested: {', '.join(left)})"


def _models(metrics: pd.DataFrame, v) -> list[str]:
    """The models of one case that produced forecasts, in the metrics' order."""
    case = (metrics["series"] == v.series) & (metrics["horizon"] == v.horizon)
    return [str(m) for m in metrics.loc[case & (metrics["n"] > 0), "model"]]


def _top_r2(metrics: pd.DataFrame, series: str, horizon: int) -> pd.Series | None:
    """The row of the model with the highest R²_OS in one case (the random walk excluded)."""
    case = metrics[(metrics["series"] == series) & (metrics["horizon"] == horizon)]
    rivals = case[(case["model"] != BENCHMARK) & np.isfinite(case["r2_os"].astype(float))]
    return rivals.loc[rivals["r2_os"].astype(float).idxmax()] if len(rivals) else None


def _cell(column: str, value: float, tone: str = "") -> Cell:
    v = float(value) if value is not None and np.isfinite(value) else None
    return Cell(format_p(v) if v is not None else "-", v, tone=tone if v is not None else "")


def _case_text(v, top: pd.Series | None, alpha: float) -> str:
    """The verdict of one case in a sentence or two (the table's columns hold the details)."""
    level = percent(alpha)
    if v.n_models == 0:
        return "Nothing to compare: only the random walk was run."
    if v.claim:
        names = _names(v.claim_models)
        verb = "beats" if "," not in str(v.claim_models) else "beat"
        text = (
            f"{names} {verb} the random walk at {level} (Clark-West p = "
            f"{format_p(v.claim_pvalue)} after Holm over {v.n_models} models)"
        )
        text += (
            "; the claim survives Holm over the whole run."
            if v.claim_pooled
            else ", but not after Holm over every test of the run."
        )
    elif top is None or float(top["r2_os"]) <= 0:
        text = f"No model beats the random walk at {level}: none has a lower squared error."
    else:
        text = (
            f"No model beats the random walk at {level}: {top['model']} has the highest R²_OS "
            "but its Clark-West test is not significant after Holm."
        )
    if not np.isfinite(v.spa_pvalue):
        text += " SPA, StepM and MCS not run (too few common origins)."
    elif str(v.stepm_models):
        text += f" StepM finds {_names(v.stepm_models)} better in expected squared error."
    return text


@dataclass(frozen=True)
class VerdictAnswer:
    """The report's answer: headline sentences, its tone, the verdict table and its note."""

    summary: tuple[str, ...]
    answer_class: str
    table: Table
    note: str


def verdict_answer(run: RunFiles, alpha: float) -> VerdictAnswer:
    """The answer on the verdict statistics; a run from before them gets the old DM answer."""
    frames = verdict_frames(run, alpha)
    level = percent(alpha)
    if frames is None:
        found = tables.verdicts(run.metrics, alpha)
        return VerdictAnswer(
            tuple(tables.summary(run.metrics, alpha)),
            "beats" if any(v.outcome == "beats" for v in found) else "none",
            display.verdict_table(found),
            "Best model: the lowest RMSE relative to the random walk (rel RMSE), the random "
            "walk itself excluded. Significance: two-sided Diebold-Mariano test on squared "
            f"errors (Harvey-Leybourne-Newbold correction) at the {level} level. (This run "
            "folder predates the verdict statistics.)",
        )
    verdicts, pooled = frames
    settings = _settings(run)
    mcs_size = float(settings.get("mcs_size", 0.10))
    n_tests = int(pooled.loc[pooled["method"] == "clark_west_holm", "n_tests"].iloc[0])
    note = (
        "Rule: a model beats the random walk when its one-sided Clark-West p-value, "
        f"Holm-adjusted over the models of its series and horizon, is at most {level} and its "
        f"R²_OS is positive; run-wide: Holm over all {n_tests} (series, model, horizon) tests. "
        f"SPA, StepM (at {percent(float(settings.get('alpha', alpha)))}) and the "
        f"{percent(1 - mcs_size)} model confidence set use a stationary block bootstrap of "
        f"the squared log errors ({settings.get('reps', '?')} replications, seed "
        f"{settings.get('seed', '?')}). Per-model Diebold-Mariano tests are in the leaderboards."
    )
    stored = run_alpha(run)
    if stored is not None and abs(stored - alpha) > 1e-12:
        note += (
            f" The claims are restated at {level} from the stored p-values; StepM and the MCS "
            f"keep the run's level of {percent(stored)}."
        )
    return VerdictAnswer(
        tuple(headline(run.metrics, verdicts, pooled, alpha)),
        "beats" if bool(pooled["claim"].iloc[0]) else "none",
        verdict_table(run.metrics, verdicts, alpha, mcs_size),
        note,
    )


def _settings(run: RunFiles) -> dict:
    stats = run.run.get("statistics")
    found = stats.get("verdicts") if isinstance(stats, dict) else None
    return found if isinstance(found, dict) else {}
