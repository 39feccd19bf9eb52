"""The response of ``GET /volatility/{ticker}`` (:mod:`forecast.service.volatility`).

Variances and Value-at-Risk are in log-return units: ``variance`` is the forecast variance of
the log return from ``as_of`` to ``target_date`` (``horizon`` sessions), ``volatility`` its
square root, and each VaR the loss of log return exceeded with probability 1% or 5% (a
positive number; an exception is a return below ``-var``).
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from forecast.service.schemas import ModelVersion, _Model


class VolatilityScore(_Model):
    """The score of a volatility forecast whose target session has passed."""

    realized: float = Field(description="The realised proxy summed over the horizon's sessions")
    log_return: float = Field(description="Log return from as_of to target_date")
    qlike: float | None = Field(
        description="realized/variance - ln(realized/variance) - 1; null when realized is 0"
    )
    squared_error: float = Field(description="(realized - variance)^2")
    hit_1: bool = Field(description="The return fell below -var_1 (an exception)")
    hit_5: bool = Field(description="The return fell below -var_5")
    hit_1_t: bool = Field(description="The return fell below -var_1_t")
    hit_5_t: bool = Field(description="The return fell below -var_5_t")


class VolatilityForecast(_Model):
    """One stored volatility forecast."""

    model: str = Field(description="A volatility model (naive: the benchmark)")
    horizon: int = Field(description="Sessions after as_of")
    target_date: date = Field(description="The horizon-th exchange session after as_of")
    variance: float = Field(description="Forecast variance of the log return to target_date")
    volatility: float = Field(description="Its square root")
    proxy: str = Field(description="The realised-variance proxy it is scored against")
    var_1: float = Field(description="1% Value-at-Risk, normal quantile (log return)")
    var_5: float = Field(description="5% Value-at-Risk, normal quantile")
    var_1_t: float = Field(description="1% Value-at-Risk, unit-variance Student-t quantile")
    var_5_t: float = Field(description="5% Value-at-Risk, Student-t quantile")
    t_dof: float = Field(description="The Student-t degrees of freedom")
    last_price: float = Field(description="The price at as_of")
    data_hash: str = Field(description="Hash of the prices the forecast was made from")
    run_id: int
    version: ModelVersion
    score: VolatilityScore | None = Field(description="Null until the target session passed")


class VolatilityScorecardRow(_Model):
    """Live accuracy of one (model, horizon) of the ticker's volatility forecasts."""

    model: str
    horizon: int
    n: int = Field(description="Scored forecasts")
    pending: int = Field(description="Forecasts not scored yet")
    qlike: float | None = Field(None, description="Mean QLIKE")
    rel_qlike: float | None = Field(
        None, description="Its ratio to the naive model's on the same targets; < 1 is better"
    )
    mse: float | None = Field(None, description="Mean squared error of the variance")
    rel_mse: float | None = Field(None, description="Its ratio to the naive model's")
    hit_rate_1: float | None = Field(None, description="Share of exceptions of var_1 (aim: 1%)")
    hit_rate_5: float | None = Field(None, description="Share of exceptions of var_5 (aim: 5%)")
    hit_rate_1_t: float | None = Field(None, description="Share of exceptions of var_1_t")
    hit_rate_5_t: float | None = Field(None, description="Share of exceptions of var_5_t")
    first_target: date | None = None
    last_target: date | None = None


class VolatilityResponse(_Model):
    """``GET /volatility/{ticker}``."""

    ticker: str = Field(description="Normalised (upper case)")
    as_of: date = Field(description="The session every forecast here was made at")
    forecasts: list[VolatilityForecast] = Field(description="By model, then horizon")
    scorecard: list[VolatilityScorecardRow] = Field(
        description="The ticker's live volatility scores (of `model` only when given)"
    )
