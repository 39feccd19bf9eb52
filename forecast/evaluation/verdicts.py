"""Verdicts against the random walk that survive testing many models, from the forecasts table.

:func:`evaluate_forecasts` turns the backtest's long forecasts table into three tables:

``models`` (one row per series, model, horizon; to merge into ``metrics.csv``)
    ``r2_os`` (:func:`~forecast.evaluation.nested.r2_os`), ``cw_stat`` and ``cw_pvalue``
    (one-sided Clark-West, :func:`~forecast.evaluation.nested.clark_west`), ``mcs_pvalue``
    and ``in_mcs`` (model confidence set at ``mcs_size``).
``verdicts`` (one row per series, horizon; ``verdicts.csv``)
    The SPA p-value, the StepM and MCS sets, the bootstrap's block length and replications
    (:mod:`~forecast.evaluation.bootstrap`), and the headline claim.
``pooled`` (one row per method; the report shows its first row first)
    The answer for the whole run, accounting for every (series, model, horizon) tried.

**Losses** are squared log errors ``log(forecast / actual) ** 2``. Rows whose forecast or
actual is missing, non-finite or not positive are dropped (no error can be computed).

**Alignment.** Clark-West and R²_OS compare each model with the random walk on the origins the
two share (a failed fold of one model costs only that model its points). The MCS, SPA and
StepM need one common sample: a model that lacks more than ``max_missing`` (10%) of the random
walk's origins is left out of them (listed in ``left_out``; its ``mcs_pvalue`` is NaN), and the
others are compared on the origins they all share. With fewer than ``min_origins`` common
origins the joint tests are not run (NaN).

**Headline rule** (per series and horizon): *a model beats the random walk at level alpha*
when its one-sided Clark-West p-value, Holm-adjusted over the models of that series and
horizon, is at most ``alpha`` **and** its R²_OS is positive. Clark-West because every model
here nests the random walk, where a test of equal MSE (DM, SPA) is undersized and nearly blind
(Clark and West, 2007); Holm (1979) because it controls the family-wise error rate under any
dependence between the models' tests (they share the actuals and are nested in one another);
R²_OS > 0 because a claim should also mean that the model's squared error was lower on these
very points (Clark-West detects a predictable component even when estimation noise eats it).
The second condition only removes claims, so the rule keeps its level. A model whose test is
undefined (e.g. identical to the random walk) counts in the family with p = 1.

**Pooled answer** (first row of ``pooled``): the same rule with Holm over *every* (series,
model, horizon) of the run at once (80 tests for 8 models x 5 series x 2 horizons): the
family-wise error rate of the whole verdict is at most alpha, whatever the dependence between
series (a common market) and horizons (overlapping errors). Holm over Clark-West p-values
rather than an SPA on stacked loss differentials, because the series need not share a calendar
(a joint bootstrap needs common dates) and arch's SPA does not studentize, so the most volatile
series would dominate a stacked maximum. The second row applies Holm to the per-series SPA
p-values (the stricter question "lower expected squared error than the random walk").
"""

from __future__ import annotations

import numbers
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.evaluation.bootstrap import joint_tests
from forecast.evaluation.metrics import BENCHMARK, VERDICT_METRIC_COLUMNS
from forecast.evaluation.nested import clark_west, r2_os

__all__ = [
    "MODEL_COLUMNS",
    "POOLED_COLUMNS",
    "VERDICT_COLUMNS",
    "VerdictSettings",
    "Verdicts",
    "check_settings",
    "claims_at",
    "evaluate_forecasts",
    "holm",
    "joint_sample",
    "joint_verdict",
    "log_errors",
    "pooled_verdict",
]

MODEL_COLUMNS = ["series", "model", "horizon", *VERDICT_METRIC_COLUMNS]
VERDICT_COLUMNS = [
    "series",
    "horizon",
    "n_origins",
    "n_models",
    "left_out",
    "block_size",
    "reps",
    "mcs_members",
    "spa_pvalue",
    "stepm_models",
    "claim",
    "claim_models",
    "claim_pvalue",
    "claim_pooled",
]
POOLED_COLUMNS = ["method", "n_tests", "pvalue", "claim", "claims"]
_NEEDED = ["series", "model", "origin", "horizon", "forecast", "actual"]


@dataclass(frozen=True)
class Verdicts:
    """The outcome of :func:`evaluate_forecasts` (see the module docstring).

    Attributes
    ----------
    models
        Columns :data:`MODEL_COLUMNS`.
    verdicts
        Columns :data:`VERDICT_COLUMNS`; model lists are comma-separated strings.
    pooled
        Columns :data:`POOLED_COLUMNS`; the headline is the first row.
    """

    models: pd.DataFrame
    verdicts: pd.DataFrame
    pooled: pd.DataFrame


def log_errors(forecasts: pd.DataFrame) -> pd.DataFrame:
    """Columns ``series, model, horizon, origin, error`` with ``error = log(forecast/actual)``.

    Rows whose forecast or actual is missing, non-finite or not positive are dropped.
    """
    missing = [c for c in _NEEDED if c not in forecasts.columns]
    if missing:
        raise ValueError(f"forecasts must have columns {_NEEDED}; missing {missing}")
    f = forecasts["forecast"].to_numpy(float)
    a = forecasts["actual"].to_numpy(float)
    ok = np.isfinite(f) & np.isfinite(a) & (f > 0) & (a > 0)
    out = forecasts.loc[ok, ["series", "model", "horizon", "origin"]].copy()
    out["error"] = np.log(f[ok] / a[ok])
    dup = out.duplicated(["series", "model", "horizon", "origin"])
    if dup.any():
        first = out[dup].iloc[0]
        raise ValueError(
            "forecasts must have one row per (series, model, horizon, origin); got "
            f"{int(dup.sum())} repeats, e.g. {first['series']!r} {first['model']!r} "
            f"h={first['horizon']} origin {first['origin']}"
        )
    return out.reset_index(drop=True)


def evaluate_forecasts(
    forecasts: pd.DataFrame,
    *,
    alpha: float = 0.05,
    mcs_size: float = 0.10,
    reps: int = 1000,
    seed: int = 0,
    max_missing: float = 0.10,
    min_origins: int = 30,
) -> Verdicts:
    """Clark-West, R²_OS, MCS, SPA, StepM and the headline claims of a backtest.

    Parameters
    ----------
    forecasts
        The long forecasts table: ``series, model, origin, horizon, forecast, actual`` (other
        columns are ignored); the random walk is the model named ``"naive"``.
    alpha
        Level of the claims, of StepM and of the pooled answer.
    mcs_size
        Size of the model confidence set (models with ``mcs_pvalue > mcs_size`` are in it).
    reps
        Bootstrap replications of the MCS, SPA and StepM.
    seed
        Base seed; each (series, horizon) bootstraps with ``default_rng([seed, crc32(series),
        horizon])``, so results do not depend on the order or number of series.
    max_missing
        Largest share of the random walk's origins a model may lack and stay in the joint
        (MCS, SPA, StepM) tests.
    min_origins
        Fewest common origins for the joint tests to run.

    Returns
    -------
    Verdicts
    """
    check_settings(alpha, mcs_size, reps, seed, max_missing, min_origins)
    settings = VerdictSettings(alpha, mcs_size, reps, seed, max_missing, min_origins)
    model_rows: list[dict] = []
    verdict_rows: list[dict] = []
    errors = log_errors(forecasts)
    for (series, horizon), g in errors.groupby(["series", "horizon"], sort=False):
        wide = g.pivot(index="origin", columns="model", values="error")
        wide = wide[list(dict.fromkeys(g["model"]))]  # the table's model order
        rows, verdict = _series_horizon(wide, series, int(horizon), settings)
        model_rows += rows
        verdict_rows.append(verdict)
    models = pd.DataFrame(model_rows, columns=MODEL_COLUMNS)
    models["in_mcs"] = models["in_mcs"].astype("boolean")
    verdicts = pd.DataFrame(verdict_rows, columns=VERDICT_COLUMNS)
    verdicts["block_size"] = verdicts["block_size"].astype("Int64")
    claimed = _run_claims(models, alpha)
    pooled_keys = set(
        zip(
            claimed.loc[claimed["claimed"], "series"],
            claimed.loc[claimed["claimed"], "horizon"],
            strict=True,
        )
    )
    verdicts["claim_pooled"] = [
        key in pooled_keys for key in zip(verdicts["series"], verdicts["horizon"], strict=True)
    ]
    return Verdicts(models, verdicts, pooled_verdict(models, verdicts, alpha))


@dataclass(frozen=True)
class VerdictSettings:
    """The settings of the verdicts (see :func:`evaluate_forecasts`)."""

    alpha: float
    mcs_size: float
    reps: int
    seed: int
    max_missing: float
    min_origins: int


def _series_horizon(
    wide: pd.DataFrame, series: str, horizon: int, settings: VerdictSettings
) -> tuple[list[dict], dict]:
    """Model rows and the verdict row of one (series, horizon) from its origin x model errors."""
    rows = _nested_rows(wide, series, horizon)
    verdict = {"series": series, "horizon": horizon, "reps": int(settings.reps)}
    verdict.update(_claim(rows, settings.alpha))
    verdict.update(joint_verdict(wide**2, series, horizon, settings, rows))
    return rows, verdict


def joint_verdict(
    losses: pd.DataFrame, series: str, horizon: int, settings: VerdictSettings, rows: list[dict]
) -> dict:
    """The MCS, SPA and StepM of one (series, horizon) on its origin x model ``losses``.

    Sets ``mcs_pvalue`` and ``in_mcs`` of the tested models' ``rows`` and returns the
    verdict's ``n_origins`` and ``left_out`` and, when the tests run (the benchmark is there
    and the common sample has ``min_origins``), ``block_size``, ``spa_pvalue``,
    ``stepm_models`` and ``mcs_members``.
    """
    joint, left_out = joint_sample(losses, settings.max_missing)
    verdict = {"n_origins": len(joint), "left_out": ",".join(left_out)}
    if BENCHMARK not in losses.columns or len(joint) < settings.min_origins:
        return verdict
    tests = joint_tests(
        joint,
        horizon,
        alpha=settings.alpha,
        mcs_size=settings.mcs_size,
        reps=settings.reps,
        seed=[settings.seed, zlib.crc32(str(series).encode()), horizon],
    )
    for row in rows:
        if row["model"] in tests.mcs_pvalues.index:
            row["mcs_pvalue"] = float(tests.mcs_pvalues[row["model"]])
            row["in_mcs"] = bool(row["mcs_pvalue"] > settings.mcs_size)
    members = [m for m, p in tests.mcs_pvalues.items() if p > settings.mcs_size]
    verdict.update(
        block_size=tests.block_size,
        spa_pvalue=tests.spa_pvalue,
        stepm_models=",".join(tests.stepm_models),
        mcs_members=",".join(members),
    )
    return verdict


def pooled_verdict(
    models: pd.DataFrame, verdicts: pd.DataFrame, alpha: float = 0.05
) -> pd.DataFrame:
    """The answer for the whole run, accounting for every (series, model, horizon) tried.

    Parameters
    ----------
    models, verdicts
        The tables of :func:`evaluate_forecasts` (only ``series, model, horizon, r2_os,
        cw_pvalue`` and ``series, horizon, spa_pvalue, stepm_models`` are read).
    alpha
        The family-wise error rate.

    Returns
    -------
    pd.DataFrame
        Columns :data:`POOLED_COLUMNS`, two rows: ``clark_west_holm`` (the headline: Holm over
        the one-sided Clark-West p-values of every (series, model, horizon) but the random
        walk's; a claim needs an adjusted p-value <= alpha and R²_OS > 0) and ``spa_holm``
        (Holm over the per-(series, horizon) SPA p-values; the claims list StepM's models).
        ``pvalue`` is the smallest adjusted p-value that could carry a claim (1 if none),
        ``claims`` reads ``"GSPC h=1: ar, markov; MSFT h=5: lstm"``.
    """
    claimed = _run_claims(models, alpha)
    family = models[models["model"] != BENCHMARK]
    eligible = claimed["eligible"] if len(claimed) else pd.Series(dtype=bool)
    cw_p = float(claimed.loc[eligible, "adjusted"].min()) if eligible.any() else 1.0
    hits = claimed[claimed["claimed"]] if len(claimed) else claimed
    per_sh = hits.groupby(["series", "horizon"], sort=False)["model"].agg(", ".join)
    cw_claims = "; ".join(f"{s} h={h}: {ms}" for (s, h), ms in per_sh.items())
    spa = verdicts["spa_pvalue"].to_numpy(float)
    spa_adj = holm(spa)
    spa_hit = spa_adj <= alpha
    spa_claims = "; ".join(
        f"{s} h={h}: {ms or 'some model'}"
        for s, h, ms in verdicts.loc[spa_hit, ["series", "horizon", "stepm_models"]].itertuples(
            index=False, name=None
        )
    )
    rows = [
        ("clark_west_holm", len(family), min(cw_p, 1.0), bool(len(hits)), cw_claims),
        (
            "spa_holm",
            len(verdicts),
            float(spa_adj.min()) if len(spa_adj) else 1.0,
            bool(spa_hit.any()),
            spa_claims,
        ),
    ]
    return pd.DataFrame(rows, columns=POOLED_COLUMNS)


def claims_at(
    models: pd.DataFrame, verdicts: pd.DataFrame, alpha: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The headline claims restated at another level, from the stored p-values alone.

    The claims are Holm steps over the Clark-West p-values, so a level other than the run's
    needs no new bootstrap: this gives the ``claim, claim_models, claim_pvalue, claim_pooled``
    columns of ``verdicts`` and the ``pooled`` table at ``alpha``, as
    :func:`evaluate_forecasts` would have. StepM's set and the MCS keep the run's levels.

    Parameters
    ----------
    models
        ``series, model, horizon, r2_os, cw_pvalue`` rows (e.g. ``metrics.csv``).
    verdicts
        The ``verdicts`` table of the run (``series, horizon, spa_pvalue, stepm_models``).
    alpha
        The level of the claims.

    Returns
    -------
    tuple of pandas.DataFrame
        ``verdicts`` with its claim columns restated, and ``pooled``.
    """
    check_settings(alpha, 0.1, 1, 0, 0.0, 3)
    out = verdicts.copy()
    claims = []
    for series, horizon in zip(out["series"], out["horizon"], strict=True):
        pick = (models["series"] == series) & (models["horizon"] == horizon)
        rows = models.loc[pick, ["model", "cw_pvalue", "r2_os"]].to_dict("records")
        claims.append(_claim(rows, alpha))
    for key in ("claim", "claim_models", "claim_pvalue"):
        out[key] = [c[key] for c in claims] if claims else pd.Series(dtype=object)
    claimed = _run_claims(models, alpha)
    hits = claimed[claimed["claimed"]]
    pooled_keys = set(zip(hits["series"], hits["horizon"], strict=True))
    out["claim_pooled"] = [
        key in pooled_keys for key in zip(out["series"], out["horizon"], strict=True)
    ]
    return out, pooled_verdict(models, out, alpha)


def check_settings(alpha, mcs_size, reps, seed, max_missing, min_origins) -> None:
    """A ``ValueError`` naming the first setting of the verdicts out of its range."""
    for name, value in (("alpha", alpha), ("mcs_size", mcs_size)):
        if not (isinstance(value, numbers.Real) and 0 < value < 1):
            raise ValueError(f"{name} must be a number in (0, 1); got {value!r}")
    for name, value, low in (("reps", reps, 1), ("seed", seed, 0), ("min_origins", min_origins, 3)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    if not (isinstance(max_missing, numbers.Real) and 0 <= max_missing < 1):
        raise ValueError(f"max_missing must be a number in [0, 1); got {max_missing!r}")


def _nested_rows(wide: pd.DataFrame, series: str, horizon: int) -> list[dict]:
    """Per model: R²_OS and Clark-West against the random walk on the origins both have."""
    rows = []
    for model in wide.columns:
        row = {"series": series, "model": model, "horizon": horizon}
        row.update(r2_os=np.nan, cw_stat=np.nan, cw_pvalue=np.nan, mcs_pvalue=np.nan)
        row["in_mcs"] = None
        if model == BENCHMARK:
            row["r2_os"] = 0.0 if wide[model].notna().any() else np.nan
        elif BENCHMARK in wide.columns:
            pair = wide[[BENCHMARK, model]].dropna()
            e_rw, e_m = pair[BENCHMARK].to_numpy(), pair[model].to_numpy()
            row["r2_os"] = r2_os(e_rw, e_m)
            row["cw_stat"], row["cw_pvalue"] = clark_west(e_rw, e_m, horizon)
        rows.append(row)
    return rows


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values; an undefined test (NaN) counts with p = 1.

    Holm, S. (1979), "A simple sequentially rejective multiple test procedure",
    *Scandinavian Journal of Statistics* 6(2), 65-70. With the ``m`` p-values sorted,
    ``p_(1) <= ... <= p_(m)``, the adjusted values are
    ``max_{j <= i} min(1, (m - j + 1) p_(j))``; rejecting those <= alpha keeps the family-wise
    error rate at alpha under any dependence between the tests. (statsmodels'
    ``multipletests`` gives the same numbers but runs a full garbage collection on every
    call, ~0.3 s in a process holding a run.)
    """
    p = np.asarray(pvalues, dtype=float)
    p = np.where(np.isfinite(p), p, 1.0)
    m = len(p)
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(stepped)
    return adjusted


def _claim(rows: list[dict], alpha: float) -> dict:
    """The headline claim of one (series, horizon): Holm over its models' Clark-West tests."""
    rivals = [r for r in rows if r["model"] != BENCHMARK]
    adjusted = holm(np.array([r["cw_pvalue"] for r in rivals], dtype=float))
    positive = [r["r2_os"] > 0 for r in rivals]  # NaN > 0 is False
    eligible = [p for p, pos in zip(adjusted, positive, strict=True) if pos]
    winners = [
        r["model"]
        for r, p, pos in zip(rivals, adjusted, positive, strict=True)
        if pos and p <= alpha
    ]
    return {
        "n_models": len(rivals),
        "claim": bool(winners),
        "claim_models": ",".join(winners),
        "claim_pvalue": float(min(eligible)) if eligible else 1.0,
    }


def joint_sample(wide: pd.DataFrame, max_missing: float) -> tuple[pd.DataFrame, list[str]]:
    """The origins common to the random walk and every model that lacks few of them."""
    if BENCHMARK not in wide.columns:
        return wide.iloc[:0], [m for m in wide.columns]
    bench = wide[BENCHMARK].notna()
    kept, left_out = [BENCHMARK], []
    for model in wide.columns:
        if model == BENCHMARK:
            continue
        share = (wide[model].notna() & bench).sum() / max(int(bench.sum()), 1)
        (kept if share >= 1 - max_missing else left_out).append(model)
    return wide[kept].dropna(), left_out


def _run_claims(models: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Every non-benchmark row with its run-wide Holm p-value and whether it carries a claim."""
    family = models.loc[models["model"] != BENCHMARK, ["series", "model", "horizon", "r2_os"]]
    family = family.copy()
    family["adjusted"] = holm(models.loc[family.index, "cw_pvalue"].to_numpy(float))
    family["eligible"] = family["r2_os"].to_numpy(float) > 0
    family["claimed"] = family["eligible"] & (family["adjusted"] <= alpha)
    return family
