"""Which volatility models cannot be told apart from the best, and which beat the naive one.

From the long volatility table (:mod:`forecast.evaluation.volatility`: one row per series,
model, origin and horizon with ``variance_forecast`` and ``realized``), per series and
horizon, on the QLIKE losses (Patton 2011; robust to the noise of the variance proxy):

- the **model confidence set** of Hansen, Lunde and Nason (2011): each model's MCS p-value and
  whether it is in the set at size ``mcs_size`` (10%);
- Hansen's (2005) **SPA** p-value of "no model has a lower expected QLIKE than the naive one";
- Romano and Wolf's (2005) **StepM**: the models with a lower expected QLIKE than the naive
  one, family-wise error rate ``alpha``.

All three come from :func:`forecast.evaluation.bootstrap.joint_tests` (``arch.bootstrap``,
stationary bootstrap, mean block length from Politis and White and at least ``h``, ``reps``
replications, seed ``default_rng([seed, crc32(series), horizon])``), the same machinery as
the price verdicts. They need one common sample: a model lacking more than ``max_missing``
of the naive model's origins is left out (``left_out``); origins whose proxy is zero (QLIKE
undefined) are dropped for every model; with fewer than ``min_origins`` common origins the
tests are not run (NaN).

:func:`var_wide` turns the Kupiec and Christoffersen tests of
:func:`~forecast.evaluation.volatility.var_backtests` into columns for ``metrics.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.evaluation.bootstrap import BENCHMARK
from forecast.evaluation.verdicts import VerdictSettings, check_settings, joint_verdict
from forecast.evaluation.volatility import VAR_COLUMNS, qlike

__all__ = [
    "MCS_COLUMNS",
    "VAR_METRIC_COLUMNS",
    "VERDICT_COLUMNS",
    "VolatilityVerdicts",
    "qlike_losses",
    "var_wide",
    "volatility_verdicts",
]

MCS_COLUMNS = ["series", "model", "horizon", "mcs_pvalue", "in_mcs"]
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
]
#: every VaR column of the table: normal quantiles, then Student-t
VAR_NAMES = tuple(c for base in VAR_COLUMNS.values() for c in (base, f"{base}_t"))
#: per VaR column: exception rate, Kupiec p (unconditional coverage), Christoffersen p
#: (independence of the exceptions)
VAR_METRIC_COLUMNS = [f"{c}_{s}" for c in VAR_NAMES for s in ("rate", "p_uc", "p_ind")]


@dataclass(frozen=True)
class VolatilityVerdicts:
    """The outcome of :func:`volatility_verdicts`.

    Attributes
    ----------
    models
        Columns :data:`MCS_COLUMNS` (``in_mcs`` a nullable boolean: NA when not tested).
    verdicts
        Columns :data:`VERDICT_COLUMNS`; model lists are comma-separated strings.
    """

    models: pd.DataFrame
    verdicts: pd.DataFrame


def qlike_losses(table: pd.DataFrame) -> pd.DataFrame:
    """``series, model, horizon, origin, loss``: QLIKE per row where it is defined."""
    rv = table["realized"].to_numpy(dtype=float)
    f = table["variance_forecast"].to_numpy(dtype=float)
    ok = np.isfinite(rv) & (rv > 0) & np.isfinite(f) & (f > 0)
    out = table.loc[ok, ["series", "model", "horizon", "origin"]].copy()
    out["loss"] = qlike(rv[ok], f[ok])
    return out.reset_index(drop=True)


def volatility_verdicts(
    table: pd.DataFrame,
    *,
    alpha: float = 0.05,
    mcs_size: float = 0.10,
    reps: int = 1000,
    seed: int = 0,
    max_missing: float = 0.10,
    min_origins: int = 30,
) -> VolatilityVerdicts:
    """MCS, SPA and StepM on the QLIKE losses of each series and horizon (module docstring).

    Parameters
    ----------
    table
        The long volatility table (``series, model, origin, horizon, variance_forecast,
        realized``); the benchmark is the model named ``"naive"``.
    alpha
        Family-wise error rate of StepM.
    mcs_size
        Size of the model confidence set.
    reps
        Bootstrap replications.
    seed
        Base seed (see the module docstring).
    max_missing, min_origins
        The common sample's rules (see the module docstring).
    """
    check_settings(alpha, mcs_size, reps, seed, max_missing, min_origins)
    settings = VerdictSettings(alpha, mcs_size, reps, seed, max_missing, min_origins)
    model_rows, verdict_rows = [], []
    losses = qlike_losses(table)
    for (series, horizon), g in losses.groupby(["series", "horizon"], sort=False):
        wide = g.pivot(index="origin", columns="model", values="loss")
        wide = wide[list(dict.fromkeys(g["model"]))]
        verdict = {"series": series, "horizon": int(horizon), "reps": int(reps)}
        verdict["n_models"] = sum(m != BENCHMARK for m in wide.columns)
        rows = [
            dict(series=series, model=m, horizon=int(horizon), mcs_pvalue=np.nan, in_mcs=None)
            for m in wide.columns
        ]
        verdict.update(joint_verdict(wide, series, int(horizon), settings, rows))
        model_rows += rows
        verdict_rows.append(verdict)
    models = pd.DataFrame(model_rows, columns=MCS_COLUMNS)
    models["in_mcs"] = models["in_mcs"].astype("boolean")
    verdicts = pd.DataFrame(verdict_rows, columns=VERDICT_COLUMNS)
    verdicts["block_size"] = verdicts["block_size"].astype("Int64")
    return VolatilityVerdicts(models, verdicts)


def var_wide(tests: pd.DataFrame) -> pd.DataFrame:
    """The VaR tests as one row per series, model and horizon (:data:`VAR_METRIC_COLUMNS`).

    ``tests`` is :func:`~forecast.evaluation.volatility.var_backtests`' table.
    """
    keys = ["series", "model", "horizon"]
    out = tests[keys].drop_duplicates().reset_index(drop=True)
    for alpha, base in VAR_COLUMNS.items():
        for dist, name in (("normal", base), ("t", f"{base}_t")):
            part = tests[(tests["alpha"] == alpha) & (tests["dist"] == dist)]
            part = part[[*keys, "rate", "p_uc", "p_ind"]].rename(
                columns={s: f"{name}_{s}" for s in ("rate", "p_uc", "p_ind")}
            )
            out = out.merge(part, on=keys, how="left")
    return out[[*keys, *VAR_METRIC_COLUMNS]]
