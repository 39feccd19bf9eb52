"""The rows one ticker's work produces in the scheduled job, written by :mod:`forecast.store`.

:func:`forecast.job.ticker.compute_ticker` returns a :class:`TickerResult` (plain data, so
it travels back from a worker process); the driver writes it in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NewVersion:
    """A model fitted in this run; its files are written before the transaction."""

    model: str
    spec_hash: str
    params: str
    trained_through: str
    n_train: int
    data_hash: str
    file: str
    sha256: str
    fit_seconds: float
    files: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)
    #: the registry the model comes from: ``price`` or ``volatility``
    target: str = "price"


@dataclass(frozen=True)
class ForecastRow:
    """One forecast; ``trained_through`` with model and spec hash names its version.

    ``lower``/``upper``: the central prediction interval in price units (``None``: none);
    ``interval_method``/``interval_level``: how it was made (``None``: intervals off);
    ``interval_scale``: the volatility scale of a conformal interval (``None``: unscaled);
    ``sigma``: the scaling model's forecast standard deviation of the ``horizon``-day log
    return; ``vol_regime``: ``calm`` or ``turbulent`` at the as-of.
    """

    model: str
    spec_hash: str
    trained_through: str
    horizon: int
    target_date: str
    forecast: float
    lower: float | None = None
    upper: float | None = None
    interval_method: str | None = None
    interval_level: float | None = None
    interval_scale: str | None = None
    sigma: float | None = None
    vol_regime: str | None = None


@dataclass(frozen=True)
class CalibrationRow:
    """One bootstrap error ``log(actual / forecast)``; stored with the ticker's as-of.

    ``scale``/``sigma``: the volatility scale of the run and ``sigma(origin, horizon)`` by
    it (``None``: unscaled).
    """

    model: str
    spec_hash: str
    horizon: int
    origin: str
    target_date: str
    log_error: float
    scale: str | None = None
    sigma: float | None = None


@dataclass(frozen=True)
class IntervalStateRow:
    """The conformal interval of a model and horizon as this run leaves it (see
    :mod:`forecast.job.intervals`); stored with the ticker's as-of."""

    model: str
    spec_hash: str
    horizon: int
    method: str
    scale: str | None
    level: float
    gamma: float
    window_size: int
    alpha: float
    scores: str
    last_origin: str | None


@dataclass(frozen=True)
class ScoreRow:
    """The score of a stored forecast whose target date has passed."""

    forecast_id: int
    actual: float
    error: float
    naive_error: float
    direction_hit: int | None
    restated: int


@dataclass(frozen=True)
class VolatilityForecastRow:
    """One volatility forecast: the variance of the ``horizon``-day log return and its VaRs
    (positive losses of log return; ``_t``: Student-t quantile with ``t_dof``)."""

    model: str
    spec_hash: str
    trained_through: str
    horizon: int
    target_date: str
    variance: float
    proxy: str
    var_1: float
    var_5: float
    var_1_t: float
    var_5_t: float
    t_dof: float


@dataclass(frozen=True)
class VolatilityScoreRow:
    """The score of a stored volatility forecast whose target date has passed."""

    vforecast_id: int
    realized: float
    log_return: float
    qlike: float | None
    squared_error: float
    hit_1: int
    hit_5: int
    hit_1_t: int
    hit_5_t: int


@dataclass
class TickerResult:
    """Everything one ticker contributes to a run, written in one transaction."""

    ticker: str
    as_of: str | None
    status: str
    message: str = ""
    stale: bool = False
    source: str | None = None
    data_hash: str | None = None
    last_price: float | None = None
    forecasts: list[ForecastRow] = field(default_factory=list)
    versions: list[NewVersion] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
    scores: list[ScoreRow] = field(default_factory=list)
    calibration: list[CalibrationRow] = field(default_factory=list)
    states: list[IntervalStateRow] = field(default_factory=list)
    events: list[tuple[str | None, str, str]] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    volatility_forecasts: list[VolatilityForecastRow] = field(default_factory=list)
    volatility_scores: list[VolatilityScoreRow] = field(default_factory=list)
    #: hash of the open/high/low/close frame the volatility forecasts were made from
    volatility_data_hash: str | None = None
