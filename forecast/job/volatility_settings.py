"""The ``[volatility]`` table of the job config (``pipelines/daily.toml``).

::

    [volatility]
    horizon = 5          # sessions ahead (default: the job's horizon)
    proxy = "auto"       # the realised-variance proxy forecasts are scored against
    refit_every = 5      # refit a volatility model once its file is this old (default: the job's)
    [volatility.models.garch]   # one table per volatility model; naive (the benchmark) is added
    [volatility.models.har]

Every key is checked like the rest of the config: an unknown key, model or parameter is an
error naming it before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from forecast.errors import ConfigError
from forecast.store.schema import MAX_HORIZON
from forecast.walkforward.configfile import check_config_int, check_keys
from forecast.walkforward.volatility_config import (
    VolatilitySpec,
    parse_proxy,
    parse_volatility_models,
)

KEYS = frozenset({"models", "horizon", "proxy", "refit_every"})
BENCHMARK = "naive"


@dataclass(frozen=True)
class JobVolatility:
    """What the job forecasts of volatility (see the module docstring).

    ``models`` always starts with ``naive``, the benchmark the live scores are relative to.
    """

    models: tuple[VolatilitySpec, ...]
    horizon: int = 5
    proxy: str = "auto"
    refit_every: int = 5


def parse_job_volatility(raw: object, source: str, horizon: int, refit_every: int) -> JobVolatility:
    """The ``[volatility]`` table, checked; ``horizon`` and ``refit_every`` default to the
    job's own."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: volatility must be a table ([volatility]); got {raw!r}")
    check_keys(raw, KEYS, f"{source}: volatility")
    if "models" not in raw:
        raise ConfigError(
            f"{source}: volatility needs model tables, e.g. [volatility.models.garch]"
        )
    models = parse_volatility_models(raw["models"], source)
    if BENCHMARK not in {m.name for m in models}:
        models = (VolatilitySpec(BENCHMARK), *models)
    h = raw.get("horizon", horizon)
    check_config_int(h, "volatility.horizon", 1, source, MAX_HORIZON)
    every = raw.get("refit_every", refit_every)
    check_config_int(every, "volatility.refit_every", 1, source)
    return JobVolatility(models, h, parse_proxy(raw.get("proxy", "auto"), source), every)
