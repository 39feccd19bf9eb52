"""The backtest's inputs in one shape: series and models by unique name.

:func:`forecast.walkforward.engine.backtest` accepts one series or many (a mapping, a sequence of
named series) and models as registry names, instances or a mapping; these helpers check
them and name every series and model once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import pandas as pd
from sklearn.base import clone

from forecast.evaluation.metrics import BENCHMARK
from forecast.models.base import BaseForecaster
from forecast.models.registry import COVARIATE_SUFFIX, get_model


def named_series(series: object) -> dict[str, pd.Series]:
    """Price series by unique name, from one series, a mapping or a sequence of them."""
    if isinstance(series, pd.Series):
        items = [series]
    elif isinstance(series, Mapping):
        items = [s.rename(k) for k, s in series.items()]
    else:
        items = list(series)
    named: dict[str, pd.Series] = {}
    for i, s in enumerate(items):
        if not isinstance(s, pd.Series):
            raise TypeError(f"series must be pandas Series; item {i} is {type(s).__name__}")
        key = str(s.name) if s.name is not None else f"series{i}"
        if key in named:
            raise ValueError(f"series names must be unique; {key!r} appears twice")
        named[key] = s
    if not named:
        raise ValueError("series must hold at least one price series; got none")
    return named


def named_models(models: object, seed: int | None) -> dict[str, BaseForecaster]:
    """Models by unique name, ``seed`` set where they have one, the random walk first."""
    if isinstance(models, str | BaseForecaster):
        models = [models]
    if isinstance(models, Mapping):
        pairs = list(models.items())
    else:
        pairs = [(m, get_model(m)) if isinstance(m, str) else (_display_name(m), m) for m in models]
    return unique_models(pairs, BaseForecaster, seed, get_model, "names or forecasters", "model")


def unique_models(
    pairs: Iterable[tuple[str, object]],
    base: type,
    seed: int | None,
    get: Callable[[str], object],
    kinds: str,
    noun: str,
) -> dict:
    """Models by unique name from ``(name, model)`` pairs, each an instance of ``base``:
    ``seed`` set where they have one, the benchmark (``get("naive")``) first.

    ``kinds`` and ``noun`` word the errors ("models must be {kinds}", "at least one {noun}").
    """
    named: dict = {}
    for key, model in pairs:
        if not isinstance(model, base):
            raise TypeError(f"models must be {kinds}; got {type(model).__name__}")
        if key in named:
            raise ValueError(f"model names must be unique; {key!r} appears twice")
        if seed is not None and "seed" in model.get_params():
            model = clone(model).set_params(seed=seed)
        named[key] = model
    if not named:
        raise ValueError(f"models must name at least one {noun}; got none")
    if BENCHMARK not in named:
        named = {BENCHMARK: get(BENCHMARK), **named}
    return named


def _display_name(model: BaseForecaster) -> str:
    """An instance's name in the results: its registry name, ``+x`` when it reads covariates."""
    return model.name + (COVARIATE_SUFFIX if model.uses_exog else "")


def with_benchmark(names: list[str]) -> list[str]:
    """Model names as the engine runs them: the random walk first when absent, no repeats.

    The random walk (``naive``) is the benchmark of every relative metric; this module is the
    one place that adds it (:func:`named_models` for models, this for their names).
    """
    unique = list(dict.fromkeys(names))
    return unique if BENCHMARK in unique else [BENCHMARK, *unique]


def named_covariates(
    covariates: object, named: dict[str, pd.Series], models: dict[str, BaseForecaster]
) -> dict[str, pd.DataFrame] | None:
    """The covariate frame of every series, checked against its prices; ``None`` without.

    Each frame must be on exactly its series' dates, with the same columns for every series.
    A model that reads covariates in a run without them is an error naming it.
    """
    readers = [m for m, model in models.items() if model.uses_exog]
    if covariates is None:
        if readers:
            raise ValueError(
                f"model {readers[0]!r} reads covariates but none were given; pass covariates "
                "(--covariates market,volume,range,dow) or drop the +x models"
            )
        return None
    if isinstance(covariates, pd.DataFrame):
        if len(named) != 1:
            raise TypeError("covariates must be a mapping series name -> frame for many series")
        covariates = {next(iter(named)): covariates}
    if not isinstance(covariates, Mapping):
        raise TypeError(f"covariates must be a DataFrame or a mapping; got {type(covariates)}")
    out: dict[str, pd.DataFrame] = {}
    columns = None
    for name, series in named.items():
        frame = covariates.get(name)
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(f"covariates has no frame for series {name!r}")
        if not frame.index.equals(series.index):
            raise ValueError(
                f"covariates of series {name!r} must be on the series' own {len(series)} dates; "
                f"got {len(frame)} rows ({frame.index[0] if len(frame) else '-'} .. "
                f"{frame.index[-1] if len(frame) else '-'})"
            )
        if columns is None:
            columns = list(frame.columns)
        elif list(frame.columns) != columns:
            raise ValueError(
                f"covariates must have the same columns for every series; {name!r} has "
                f"{list(frame.columns)}, not {columns}"
            )
        out[name] = frame.astype(float)
    if not columns:
        raise ValueError("covariates must have at least one column; got none")
    return out
