"""The HTTP contract of the service (:mod:`forecast.service`): parameters, shapes, errors.

Parameters carry their rules (pattern, bounds) so FastAPI checks them and the OpenAPI schema
states them; the response models document every field; every error, whatever raised it, is
an :class:`ErrorResponse`. Dates are ``YYYY-MM-DD``; times are
UTC ISO-8601 text as the job wrote them. Non-finite numbers are sent as ``null`` (never
``NaN``, which is not JSON).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from forecast.data.tickers import validate_ticker
from forecast.service.queries import StoreUnavailable
from forecast.store.schema import MAX_HORIZON

API_DESCRIPTION = """Read-only JSON over the store `forecast run` writes.

- `/health`: the store, the last run and the last successful run, the newest as-of date and
  how many closed exchange sessions lie after it (`sessions_behind`); `stale` when that
  exceeds `max_lag`.
- `/tickers`: each ticker with its newest as-of date, its staleness and its models.
- `/forecasts/{ticker}`: one as-of date's forecasts of a ticker (the newest by default), with
  the model version and data hash of each row; filters `model`, `as_of`, `horizon`.
- `/scorecard`: the live scorecard (as `forecast scorecard`) with its anytime-valid
  confidence sequences and statuses (better / worse / undecided against the random walk,
  interval coverage in band / below / above); filters `ticker`, `model`.
- `/runs`: the newest job runs with their status.
- `/volatility/{ticker}`: one as-of date's volatility and Value-at-Risk forecasts of a ticker
  (variance of the log return to each target session, VaR at 1% and 5%, normal and
  Student-t), their scores once matured, and the live volatility scorecard; filters `model`,
  `as_of`, `horizon`.

Errors are `{"error", "message", "parameters"}`: 422 names the parameter, its rule and the
value (cut to 64 characters); 404 an unknown ticker or a filter selecting nothing; 503 a
missing, locked or unreadable store. A query parameter given twice (`?model=ar&model=naive`)
and an unknown one are 422: a filter is never guessed.
"""
MAX_LIMIT = 1000
#: what ``validate_ticker`` accepts, as far as JSON Schema can say it (ISINs are excluded below)
TICKER_PATTERN = r"^[A-Za-z0-9.^=&-]*[A-Za-z0-9][A-Za-z0-9.^=&-]*$"
ISIN_PATTERN = r"^[A-Za-z]{2}[A-Za-z0-9]{9}[0-9]$"
MODEL_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
#: the rule each parameter breaks, for error messages
RULES = {
    "ticker": "must be 1 to 15 letters, digits or . - ^ = & with at least one letter or digit",
    "model": "must be a model name: a lower-case letter, then up to 39 lower-case letters, "
    "digits or _",
    "as_of": "must be a date like 2013-03-01 (YYYY-MM-DD)",
    "horizon": f"must be an integer from 1 to {MAX_HORIZON}",
    "limit": f"must be an integer from 1 to {MAX_LIMIT}",
}

_TICKER_SCHEMA = {"not": {"pattern": ISIN_PATTERN}, "examples": ["AAPL"]}
TickerPath = Annotated[
    str,
    Path(
        min_length=1, max_length=15, pattern=TICKER_PATTERN, json_schema_extra=_TICKER_SCHEMA,
        description="Ticker (case-insensitive; ISIN codes are refused), e.g. AAPL, BRK-B, ^GSPC",
    ),
]  # fmt: skip
TickerQuery = Annotated[
    str | None,
    Query(
        min_length=1, max_length=15, pattern=TICKER_PATTERN, json_schema_extra=_TICKER_SCHEMA,
        description="Only this ticker (case-insensitive)",
    ),
]  # fmt: skip
ModelQuery = Annotated[
    str | None,
    Query(pattern=MODEL_PATTERN, max_length=40, description="Only this model, e.g. ar"),
]
AsOfQuery = Annotated[
    str | None,
    Query(
        pattern=DATE_PATTERN, json_schema_extra={"format": "date"},
        description="The as-of session (YYYY-MM-DD); default: the newest stored",
    ),
]  # fmt: skip
HorizonQuery = Annotated[
    int | None, Query(ge=1, le=MAX_HORIZON, description="Only this horizon (sessions ahead)")
]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="How many runs, newest first")]


# ---- responses ----------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="null", extra="ignore")


class ParameterProblem(_Model):
    """One request parameter that broke a rule or selected nothing."""

    parameter: str = Field(description="The parameter's name, e.g. `limit`")
    location: str = Field(description="Where it was: `path` or `query`")
    message: str = Field(description="The rule and the value, e.g. `limit must be ...; got '0'`")
    value: str | None = Field(description="The value received, as text")


class ErrorResponse(_Model):
    """The body of every error response."""

    error: str = Field(
        description="`invalid_parameter` (422), `not_found` (404), `store_unavailable` (503), "
        "`method_not_allowed` (405) or `internal_error` (500)"
    )
    message: str = Field(description="What went wrong, for a person")
    parameters: list[ParameterProblem] = Field(
        default_factory=list, description="The parameters at fault (422 and 404)"
    )


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Unknown ticker, or a filter selecting nothing"},
    422: {"model": ErrorResponse, "description": "A parameter breaks its rule"},
    503: {
        "model": ErrorResponse,
        "description": "The store is missing, locked longer than the busy timeout, holds an "
        "unfinished write of a killed run, or cannot be read (`Retry-After` when transient)",
    },
}


# ---- runs ---------------------------------------------------------------------------------
class RunError(_Model):
    """A failure the job recorded in a run."""

    ticker: str | None = None
    model: str | None = None
    stage: str | None = Field(None, description="ticker, load, fit, save or predict")
    error: str = ""


class Run(_Model):
    """One ``forecast run``."""

    run_id: int
    status: Literal["running", "succeeded", "partial", "failed", "nothing_to_do", "aborted"]
    started_at: str = Field(description="UTC, ISO-8601")
    finished_at: str | None = Field(description="UTC, ISO-8601; null while running")
    requested_as_of: date | None = Field(
        description="The --as-of given; null: each ticker's latest price"
    )
    as_of: date | None = Field(
        description="The session forecast from: the requested one, else the newest as-of "
        "among the run's tickers"
    )
    tickers: dict[str, int] = Field(
        description="Tickers by status (stored, partial, failed, up_to_date)"
    )
    errors: list[RunError]
    version: str | None = Field(description="forecast and Python versions of the job")


class RunsResponse(_Model):
    """``GET /runs``."""

    runs: list[Run] = Field(description="Newest first")


# ---- health and tickers -------------------------------------------------------------------
class Health(_Model):
    """``GET /health``."""

    status: Literal["ok", "stale", "empty"]
    store: str = Field(description="The store's absolute path")
    calendar: str = Field(description="Exchange calendar staleness is counted in")
    last_closed_session: date = Field(description="The calendar's last closed session now")
    latest_as_of: date | None = Field(description="Newest as-of of any stored forecast")
    sessions_behind: int | None = Field(
        description="Closed sessions after latest_as_of (0: up to date)"
    )
    max_lag: int = Field(description="stale when sessions_behind > max_lag")
    stale: bool
    stale_prices: list[str] = Field(
        default_factory=list,
        description="Tickers the last run forecast from stale prices (Yahoo Finance could not "
        "be reached: cached or embedded prices older than the last closed session); any makes "
        "status stale",
    )
    tickers: int = Field(description="Tickers with stored forecasts")
    last_run: Run | None
    last_successful_run: Run | None = Field(
        description="Newest run with status succeeded or nothing_to_do"
    )


class TickerModel(_Model):
    """A model of a ticker and its newest as-of."""

    model: str
    latest_as_of: date


class Ticker(_Model):
    """A ticker with stored forecasts."""

    ticker: str
    latest_as_of: date = Field(description="Newest as-of over its models")
    sessions_behind: int = Field(description="Closed sessions after latest_as_of")
    models: list[TickerModel]


class TickersResponse(_Model):
    """``GET /tickers``."""

    last_closed_session: date
    tickers: list[Ticker]


# ---- forecasts ----------------------------------------------------------------------------
class ModelVersion(_Model):
    """The fitted model a forecast came from."""

    version_id: int
    trained_through: date = Field(description="Last price date it was fitted on")
    spec_hash: str = Field(description="Hash of the model name and parameters")
    params: dict[str, Any] = Field(description="The model's parameters")
    n_train: int = Field(description="Prices it was fitted on")
    data_hash: str = Field(description="Hash of its training prices")
    status: Literal["active", "pruned", "rejected"] = Field(
        description="pruned: its files were removed by retention"
    )


class Forecast(_Model):
    """One stored forecast."""

    model: str
    horizon: int = Field(description="Sessions after as_of")
    target_date: date = Field(description="The horizon-th exchange session after as_of")
    forecast: float = Field(description="Median price forecast")
    lower: float | None = Field(description="Lower interval bound; null: no interval")
    upper: float | None = Field(description="Upper interval bound; null: no interval")
    interval_method: Literal["aci", "conformal", "model"] | None = Field(
        None, description="How the interval was made; null: intervals were off"
    )
    interval_level: float | None = Field(None, description="The interval's nominal coverage")
    interval_scale: Literal["ewma", "garch"] | None = Field(
        None, description="Volatility scale of a conformal interval; null: unscaled"
    )
    sigma: float | None = Field(
        None,
        description="The scaling model's forecast standard deviation of the horizon-day log "
        "return, made at as_of; null: scaling off",
    )
    vol_regime: Literal["calm", "turbulent"] | None = Field(
        None, description="1-day volatility forecast at as_of against its 250-session median"
    )
    last_price: float = Field(description="The price at as_of (the random-walk forecast)")
    actual: float | None = Field(description="The price on target_date once scored, else null")
    data_hash: str = Field(description="Hash of the prices the forecast was made from")
    run_id: int
    version: ModelVersion


class ForecastsResponse(_Model):
    """``GET /forecasts/{ticker}``."""

    ticker: str = Field(description="Normalised (upper case)")
    as_of: date = Field(description="The session every forecast here was made at")
    forecasts: list[Forecast] = Field(description="By model, then horizon")


# ---- scorecard ----------------------------------------------------------------------------
LossStatus = Literal["better", "worse", "undecided"]
CoverageStatus = Literal["in band", "below", "above"]


class ScorecardRow(_Model):
    """Accuracy of one (ticker, model, horizon) over its scored forecasts."""

    ticker: str
    model: str
    horizon: int
    n: int = Field(description="Scored forecasts")
    pending: int = Field(description="Forecasts whose target date has not been scored yet")
    mae: float | None = None
    rmse: float | None = None
    rel_mae: float | None = Field(None, description="mae / random walk's mae; < 1 beats it")
    hit_rate: float | None = Field(None, description="Share of moves called in the right way")
    n_intervals: int = Field(0, description="Scored forecasts with an interval at `level`")
    level: float | None = Field(None, description="Nominal coverage of the newest interval")
    coverage: float | None = Field(
        None, description="Share of those forecasts whose actual fell inside the interval"
    )
    width: float | None = Field(None, description="Mean (upper - lower) / forecast")
    n_calm: int = Field(0, description="Of n_intervals, forecasts made in a calm regime")
    coverage_calm: float | None = Field(None, description="Coverage of those")
    n_turbulent: int = Field(0, description="Of n_intervals, forecasts made in a turbulent regime")
    coverage_turbulent: float | None = Field(None, description="Coverage of those")
    first_target: date | None = None
    last_target: date | None = None
    next_target: date | None = Field(
        default=None, description="Earliest target date of the pending forecasts"
    )
    n_diff: int = Field(
        0, description="Loss differences in the sequence: every h-th matured forecast"
    )
    mean_diff: float | None = Field(
        None, description="Their mean: model minus random walk squared log error; < 0 beats it"
    )
    diff_lower: float | None = Field(None, description="95% confidence sequence, lower bound")
    diff_upper: float | None = Field(None, description="95% confidence sequence, upper bound")
    status: LossStatus = Field(
        "undecided", description="better: the sequence is below 0; worse: above 0"
    )
    decided_on: date | None = Field(None, description="Target date the status began")
    n_hits: int = Field(0, description="Intervals in the hit-rate sequence: every h-th")
    cs_coverage: float | None = Field(None, description="Their hit rate")
    coverage_lower: float | None = Field(None, description="95% confidence sequence, lower")
    coverage_upper: float | None = Field(None, description="95% confidence sequence, upper")
    coverage_status: CoverageStatus = Field(
        "in band", description="below / above: the sequence is wholly below / above `level`"
    )
    coverage_decided_on: date | None = Field(None, description="Target date it began")
    previous_status: LossStatus | None = Field(
        None, description="`status` before the newest computation (null: new row, or unknown)"
    )
    previous_coverage_status: CoverageStatus | None = Field(
        None, description="`coverage_status` before the newest computation"
    )


class ScorecardResponse(_Model):
    """``GET /scorecard``."""

    ticker: str | None = Field(description="The ticker filter, if any")
    model: str | None = Field(description="The model filter, if any")
    stored_at: str | None = Field(
        None,
        description="When the job stored this scorecard (UTC); null: computed for this request "
        "because the job has not refreshed it since the store changed",
    )
    rows: list[ScorecardRow]


class ParameterError(Exception):
    """A request parameter breaks a rule (422) or selects nothing (404)."""

    def __init__(self, status: int, name: str, location: str, message: str, value) -> None:
        super().__init__(message)
        self.status, self.name, self.location, self.value = status, name, location, value


def error_response(
    status: int, error: str, message: str, problems=(), headers=None
) -> JSONResponse:
    """An :class:`ErrorResponse` as a JSON response."""
    body = ErrorResponse(error=error, message=message, parameters=list(problems))
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def add_error_handlers(app: FastAPI) -> None:
    """Answer every error with an :class:`ErrorResponse` (never HTML, never a traceback)."""
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(ParameterError, _parameter_error)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)


#: longest input an error response repeats; longer ones are cut (a 100 kB value in, a small
#: answer out)
MAX_SHOWN = 64


def clip(value: str) -> str:
    """``value``, cut to :data:`MAX_SHOWN` characters with a note of its length."""
    if len(value) <= MAX_SHOWN:
        return value
    return f"{value[:MAX_SHOWN]}... ({len(value)} characters)"


def _clipped(message: str, raw: object) -> str:
    """``message`` with every copy of a long ``raw`` (as is, or its repr) cut."""
    if not isinstance(raw, str) or len(raw) <= MAX_SHOWN:
        return message
    for text in (repr(raw), raw):
        message = message.replace(text, repr(clip(raw)))
    return message[: 4 * MAX_SHOWN + 200]


async def _parameter_error(request: Request, exc: ParameterError) -> JSONResponse:
    value = None if exc.value is None else clip(str(exc.value))
    message = _clipped(str(exc), exc.value)
    problem = ParameterProblem(
        parameter=exc.name, location=exc.location, message=message, value=value
    )
    kind = "invalid_parameter" if exc.status == 422 else "not_found"
    return error_response(exc.status, kind, message, [problem])


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        location, name = (loc[0], loc[-1]) if len(loc) > 1 else ("request", ".".join(loc))
        raw = err.get("input")
        value = None if raw is None or isinstance(raw, dict) else clip(str(raw))
        message = f"{name} {RULES.get(name, err.get('msg', 'is invalid'))}; got {value!r}"
        if name == "ticker" and isinstance(raw, str):
            try:
                validate_ticker(raw)
            except ValueError as why:  # the validator's own words name the bad characters
                message = _clipped(str(why), raw)
        problems.append(
            ParameterProblem(parameter=name, location=location, message=message, value=value)
        )
    return error_response(
        422, "invalid_parameter", "; ".join(p.message for p in problems), problems
    )


async def _store_unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return error_response(503, "store_unavailable", str(exc), headers=headers)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    kinds = {404: "not_found", 405: "method_not_allowed"}
    message = {404: f"no such endpoint: {request.url.path}"}.get(exc.status_code, exc.detail)
    return error_response(
        exc.status_code, kinds.get(exc.status_code, "http_error"), message, headers=exc.headers
    )


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    # the traceback goes to the server log (uvicorn logs the re-raised exception), not the client
    return error_response(500, "internal_error", "internal error; see the server log")
