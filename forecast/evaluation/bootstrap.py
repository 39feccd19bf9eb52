"""Bootstrap tests over several models at once, from ``arch.bootstrap``: MCS, SPA and StepM.

One call of :func:`joint_tests` takes the losses of one (series, horizon), one column per
model, the random walk (``naive``) among them, on a common set of origins, and runs:

- Hansen, Lunde and Nason's (2011) **Model Confidence Set** (``arch.bootstrap.MCS``,
  elimination by the range statistic ``T_R``): each model's MCS p-value; the models whose
  p-value exceeds ``mcs_size`` (10% by default) form the set of models that cannot be told
  apart from the best.
- Hansen's (2005) **SPA** test of "no model has a lower expected loss than the random walk"
  (``arch.bootstrap.SPA``, the *consistent* p-value).
- Romano and Wolf's (2005) **StepM** (``arch.bootstrap.StepM``): the models that beat the
  random walk, family-wise error rate ``alpha``.

The three share one bootstrap design:

- **Block length**: the stationary bootstrap's mean block length is the mean, over the models,
  of Politis and White's (2004) automatic choice (``arch.bootstrap.optimal_block_length``,
  column ``stationary``, with Patton, Politis and White's 2009 correction) applied to each
  model's loss differential against the random walk, rounded up, and at least the horizon
  (``h``-step forecasts made at every origin overlap, so their errors are MA(h-1) under the
  null and a block must span them).
- **Replications**: ``reps`` (1000 by default).
- **Seeds**: every arch object gets a fresh ``numpy.random.default_rng(seed)``, so the
  three tests draw the same bootstrap indices and a run is identical run to run.

Three guards around arch 8.0:

- MCS (range method) divides each pairwise mean loss difference by its bootstrap standard
  deviation, 0/0 for two identical columns (e.g. ``ar`` choosing no lag and repeating
  ``drift``): identical columns are tested once and share the p-value.
- SPA compares the bootstrap maximum with the observed one by ``>``: a model identical to the
  random walk pins both at 0 and drives the p-value to 0 (a false rejection), so columns
  identical to the random walk leave the SPA and StepM (they cannot beat it); with none
  left the SPA p-value is 1.
- StepM steps on while the models found *in the last step* are fewer than all of them, so
  when every model is found better over two or more steps it runs an SPA on no model and
  numpy raises: that case is caught, and every model is reported better.

Note that arch's SPA does not divide the mean loss differentials by their standard deviations
(its ``studentize`` flag only changes the recentring threshold of the consistent p-value): the
statistic is White's (2000) Reality Check maximum with Hansen's recentring. A model with
noisy losses (a net) therefore weighs more in the maximum than a steady one (``ar``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from arch.bootstrap import MCS, StepM, optimal_block_length

from forecast.evaluation.metrics import BENCHMARK

__all__ = ["BENCHMARK", "JointTests", "block_length", "joint_tests"]


@dataclass(frozen=True)
class JointTests:
    """The outcome of :func:`joint_tests` for one (series, horizon).

    Attributes
    ----------
    block_size
        Mean block length of the stationary bootstrap.
    mcs_pvalues
        Each model's MCS p-value (index: the loss columns, in their order).
    spa_pvalue
        SPA consistent p-value of "no model beats the random walk".
    stepm_models
        The models StepM finds better than the random walk, in column order.
    """

    block_size: int
    mcs_pvalues: pd.Series
    spa_pvalue: float
    stepm_models: tuple[str, ...]


def block_length(losses: pd.DataFrame, horizon: int) -> int:
    """The stationary bootstrap's mean block length for ``losses`` (see the module docstring).

    Parameters
    ----------
    losses
        One column per model, the benchmark among them, one row per origin (no NaN).
    horizon
        The forecast horizon: the lower bound of the block length.
    """
    bench = losses[BENCHMARK].to_numpy(float)
    diffs = [
        bench - losses[m].to_numpy(float)
        for m in losses.columns
        if m != BENCHMARK and np.ptp(bench - losses[m].to_numpy(float)) > 0
    ]
    if not diffs:
        return int(horizon)
    opt = optimal_block_length(np.column_stack(diffs))["stationary"].to_numpy(float)
    opt = opt[np.isfinite(opt)]
    chosen = math.ceil(float(np.mean(opt))) if len(opt) else 1
    return int(max(chosen, horizon, 1))


def joint_tests(
    losses: pd.DataFrame,
    horizon: int,
    *,
    alpha: float = 0.05,
    mcs_size: float = 0.10,
    reps: int = 1000,
    seed: int | Sequence[int] = 0,
) -> JointTests:
    """MCS, SPA and StepM on the losses of one (series, horizon).

    Parameters
    ----------
    losses
        One column per model named by the model, :data:`BENCHMARK` among them, one row per
        origin common to all of them (no NaN).
    horizon
        The forecast horizon (lower bound of the block length).
    alpha
        Family-wise error rate of StepM.
    mcs_size
        Size of the MCS: models with an MCS p-value above it are in the set.
    reps
        Bootstrap replications.
    seed
        Entropy of ``numpy.random.default_rng``; each arch object gets a fresh generator.

    Returns
    -------
    JointTests
    """
    if BENCHMARK not in losses.columns:
        raise ValueError(
            f"losses must have a {BENCHMARK!r} column (the random walk); "
            f"got columns {list(losses.columns)}"
        )
    if losses.isna().to_numpy().any():
        raise ValueError("losses must have no NaN: align the models on common origins first")
    block = block_length(losses, horizon)
    mcs_pvalues = _mcs_pvalues(losses, mcs_size, reps, block, seed)
    bench = losses[BENCHMARK]
    rivals = [m for m in losses.columns if m != BENCHMARK and not losses[m].equals(bench)]
    if not rivals:
        return JointTests(block, mcs_pvalues, 1.0, ())
    stepm = StepM(
        bench,
        losses[rivals],
        size=alpha,
        block_size=block,
        reps=reps,
        seed=np.random.default_rng(seed),
    )
    try:
        stepm.compute()
        better = set(stepm.superior_models)
    except ValueError as err:
        if "zero-size array" not in str(err):
            raise
        # arch 8.0's StepM loops while the models found *in the last step* are fewer than
        # all, so once every model has been found better it runs the SPA on none of them
        # and numpy raises on the empty maximum: every model was found better
        better = set(rivals)
    # StepM leaves its SPA with the bootstrap values simulated: computing it on the full set
    # of models gives the SPA p-value of all of them (no second bootstrap)
    stepm.spa.subset(np.ones(len(rivals), dtype=bool))
    stepm.spa.compute()
    spa_pvalue = float(stepm.spa.pvalues["consistent"])
    return JointTests(block, mcs_pvalues, spa_pvalue, tuple(m for m in rivals if m in better))


def _mcs_pvalues(
    losses: pd.DataFrame, size: float, reps: int, block: int, seed: int | Sequence[int]
) -> pd.Series:
    """MCS p-values of every column; identical columns are tested once and share theirs."""
    representative: dict[str, str] = {}
    unique: list[str] = []
    for m in losses.columns:
        twin = next((u for u in unique if losses[u].equals(losses[m])), None)
        representative[m] = twin if twin is not None else m
        if twin is None:
            unique.append(m)
    if len(unique) < 2:
        return pd.Series(1.0, index=losses.columns, name="mcs_pvalue")
    mcs = MCS(
        losses[unique], size=size, reps=reps, block_size=block, seed=np.random.default_rng(seed)
    )
    mcs.compute()
    pvalues = mcs.pvalues["Pvalue"]
    return pd.Series(
        [float(pvalues[representative[m]]) for m in losses.columns],
        index=losses.columns,
        name="mcs_pvalue",
    )
