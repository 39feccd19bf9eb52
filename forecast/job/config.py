"""The configuration of ``forecast run``: a frozen dataclass read once from TOML.

A config file (see ``pipelines/daily.toml``)::

    tickers = ["AAPL", "GSPC"]
    horizon = 5                 # forecast the next 5 trading sessions
    store = "data/forecast.db"  # relative paths are relative to the working directory
    calendar = "XNYS"           # exchange_calendars code of the sessions
    refit_every = 5             # refit a model once its file is this many sessions old
    keep_versions = 3           # model files kept per ticker and model
    train_size = 2500           # fit on the last N prices (omit: all of them)
    seed = 0                    # seeds the stochastic models
    intervals = "aci"           # prediction intervals: aci, conformal, model or none
    scale = "garch"             # volatility scale of the conformal scores: garch, ewma, none
    level = 0.8                 # their nominal coverage
    calibration_size = 100      # sessions of the bootstrap walk (0: wait for live errors)
    interval_window = 250       # the conformal quantiles use the last N errors

    [models.ar]                 # one table per model; keys are the model's parameters
    max_lags = 10

    [refit_every_by_model]      # optional per-model refit cadence
    lstm = 20

    [volatility]                # optional: volatility and Value-at-Risk forecasts too
    [volatility.models.garch]   # (see forecast.job.volatility_settings)

Every key is checked: an unknown key, model or parameter is an error naming it, the rule
and the valid choices, before any work starts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from forecast.data.calendar import get_calendar
from forecast.data.tickers import validate_ticker
from forecast.errors import ConfigError
from forecast.evaluation.conformal import MIN_ERRORS, IntervalSettings
from forecast.job.volatility_settings import JobVolatility, parse_job_volatility
from forecast.store.schema import MAX_HORIZON
from forecast.walkforward import configfile
from forecast.walkforward.configfile import (
    INTERVAL_KEYS,
    ModelSpec,
    check_config_int,
    check_keys,
    parse_intervals,
    parse_models,
    read_toml,
)

#: the default config, relative to the working directory (else the shipped copy)
DEFAULT_CONFIG = Path("pipelines") / "daily.toml"
MAX_TICKERS = 500


@dataclass(frozen=True)
class JobConfig:
    """Everything ``forecast run`` needs to know, validated on construction.

    Parameters
    ----------
    tickers
        Validated, upper-case, unique.
    models
        One :class:`ModelSpec` per model, in run order.
    horizon
        Trading sessions forecast after the as-of session (1 to 250).
    store
        The SQLite store; model files go to the folder ``<store file name>.models`` beside it.
    calendar
        The ``exchange_calendars`` code the sessions come from.
    refit_every
        A model is refit when its newest usable file was trained this many sessions or more
        before the as-of session (or when there is no usable file).
    refit_every_by_model
        Per-model overrides of ``refit_every``.
    keep_versions
        Model versions (files) kept per ticker and model; older ones are removed.
    train_size
        Fit on the last ``train_size`` prices; ``None``: all of them.
    seed
        Seeds the models that have a ``seed`` parameter (unless their table sets one).
    intervals
        How the job makes each forecast's prediction interval (``None``: it does not); see
        :mod:`forecast.job.intervals`. ``calibration_size`` must be 0 (no bootstrap: a
        model's conformal intervals wait for its live errors) or at least
        ``MIN_ERRORS + horizon - 1``, so that the bootstrap gives every horizon enough errors.
    source
        The file the config came from (for messages).
    """

    tickers: tuple[str, ...]
    models: tuple[ModelSpec, ...]
    horizon: int = 5
    store: Path = Path("data") / "forecast.db"
    calendar: str = "XNYS"
    refit_every: int = 5
    refit_every_by_model: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    keep_versions: int = 3
    train_size: int | None = None
    seed: int = 0
    intervals: IntervalSettings | None = field(default_factory=IntervalSettings)
    source: str = "<memory>"
    #: volatility models forecast too (``None``: none); see :mod:`forecast.job.volatility_settings`
    volatility: JobVolatility | None = None

    def __post_init__(self) -> None:
        where = self.source
        if not self.tickers:
            raise ConfigError(f"{where}: tickers must list at least one ticker; got none")
        if len(self.tickers) > MAX_TICKERS:
            raise ConfigError(
                f"{where}: tickers may list at most {MAX_TICKERS}; got {len(self.tickers)}"
            )
        if not self.models:
            raise ConfigError(f"{where}: models must configure at least one model; got none")
        check_config_int(self.horizon, "horizon", 1, where, MAX_HORIZON)
        check_config_int(self.refit_every, "refit_every", 1, where)
        check_config_int(self.keep_versions, "keep_versions", 1, where)
        check_config_int(self.seed, "seed", 0, where)
        if self.train_size is not None:
            check_config_int(self.train_size, "train_size", 2, where)
        names = [m.name for m in self.models]
        for name, value in self.refit_every_by_model.items():
            if name not in names:
                raise ConfigError(
                    f"{where}: refit_every_by_model.{name}: not a configured model; "
                    f"configured: {', '.join(names)}"
                )
            check_config_int(value, f"refit_every_by_model.{name}", 1, where)
        if self.intervals is not None:
            if not isinstance(self.intervals, IntervalSettings):
                raise ConfigError(
                    f"{where}: intervals must be IntervalSettings or None; got "
                    f"{type(self.intervals).__name__}"
                )
            size, least = self.intervals.calibration_size, MIN_ERRORS + self.horizon - 1
            if 0 < size < least:
                raise ConfigError(
                    f"{where}: calibration_size must be 0 (no bootstrap) or at least "
                    f"{least} ({MIN_ERRORS} errors at horizon {self.horizon}); got {size}"
                )

    def refit_every_for(self, model: str) -> int:
        """The refit cadence of ``model`` in sessions."""
        return int(self.refit_every_by_model.get(model, self.refit_every))

    def digest(self) -> str:
        """A hash of the settings that affect results (the store path excluded)."""
        data = {
            "tickers": self.tickers,
            "models": [[m.name, dict(m.params)] for m in self.models],
            "horizon": self.horizon,
            "calendar": self.calendar,
            "refit_every": self.refit_every,
            "refit_every_by_model": dict(self.refit_every_by_model),
            "keep_versions": self.keep_versions,
            "train_size": self.train_size,
            "seed": self.seed,
            "intervals": None if self.intervals is None else asdict(self.intervals),
        }
        if self.volatility is not None:  # absent: the digest of a config from before it
            v = self.volatility
            data["volatility"] = {
                "models": [[m.name, dict(m.params)] for m in v.models],
                "horizon": v.horizon,
                "proxy": v.proxy,
                "refit_every": v.refit_every,
            }
        text = json.dumps(data, sort_keys=True, default=str)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


_TOP_KEYS = {
    "tickers",
    "models",
    "horizon",
    "store",
    "calendar",
    "refit_every",
    "refit_every_by_model",
    "keep_versions",
    "train_size",
    "seed",
    "volatility",
    *INTERVAL_KEYS,
}


def default_config_path() -> Path:
    """``pipelines/daily.toml`` in the working directory, else the shipped copy."""
    return configfile.default_config_path(DEFAULT_CONFIG.name)


def load_config(path: str | Path | None = None) -> JobConfig:
    """Read and validate a job config TOML file (default: :func:`default_config_path`).

    Raises
    ------
    ConfigError
        Missing or unreadable file, bad TOML, unknown key, model or parameter, bad value;
        the message names the file and the key.
    """
    path = Path(path) if path is not None else default_config_path()
    return config_from_dict(read_toml(path), source=str(path))


def config_from_dict(raw: dict[str, Any], source: str = "<memory>") -> JobConfig:
    """Build a :class:`JobConfig` from parsed TOML, checking every key."""
    check_keys(raw, _TOP_KEYS, source)
    for key in ("tickers", "models"):
        if key not in raw:
            raise ConfigError(f"{source}: missing required key {key!r}")
    kwargs: dict[str, Any] = {
        k: raw[k]
        for k in ("horizon", "calendar", "refit_every", "keep_versions", "train_size", "seed")
        if k in raw
    }
    if "store" in raw:
        if not isinstance(raw["store"], str) or not raw["store"].strip():
            raise ConfigError(f"{source}: store must be a file path; got {raw['store']!r}")
        kwargs["store"] = Path(raw["store"])
    if "calendar" in raw:
        try:
            get_calendar(raw["calendar"] if isinstance(raw["calendar"], str) else "")
        except ValueError as exc:
            raise ConfigError(f"{source}: calendar: {exc}") from None
    by_model = raw.get("refit_every_by_model", {})
    if not isinstance(by_model, dict):
        raise ConfigError(f"{source}: refit_every_by_model must be a table of model = sessions")
    if "volatility" in raw:
        kwargs["volatility"] = parse_job_volatility(
            raw["volatility"], source, raw.get("horizon", 5), raw.get("refit_every", 5)
        )
    return JobConfig(
        tickers=_tickers(raw["tickers"], source),
        models=parse_models(raw["models"], source),
        refit_every_by_model=MappingProxyType(dict(by_model)),
        intervals=parse_intervals(raw, source),
        source=source,
        **kwargs,
    )


def _tickers(value: object, source: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{source}: tickers must be a list of strings; got {value!r}")
    out: list[str] = []
    for i, item in enumerate(value):
        try:
            ticker = validate_ticker(item)
        except ValueError as exc:
            raise ConfigError(f"{source}: tickers[{i}]: {exc}") from None
        if ticker in out:
            raise ConfigError(f"{source}: tickers[{i}]: {ticker!r} is listed twice")
        out.append(ticker)
    return tuple(out)
