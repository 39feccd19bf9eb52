"""A read-only HTTP service over the forecast store (``forecast serve``).

``create_app(store_path)`` builds the FastAPI app; the endpoints (``/health``, ``/tickers``,
``/forecasts/{ticker}``, ``/scorecard``, ``/runs``, ``/volatility/{ticker}``, all ``GET`` and
JSON) are described in
:data:`forecast.service.schemas.API_DESCRIPTION`, which is also the OpenAPI description.

The service never writes: every request reads through a read-only connection (``mode=ro``,
which never creates a missing file; one per worker thread, reused) in one read transaction,
so it runs safely while the job writes (see :mod:`forecast.service.queries`).
Errors are JSON ``{"error", "message", "parameters"}``: 422 for a bad parameter (naming it,
its rule and the value), 404 for an unknown ticker or a filter that selects nothing, 503 when
the store is missing, locked longer than the busy timeout, or unreadable.

The docs pages ``/docs`` and ``/redoc`` are fixed HTML holding no request data, whose
Swagger UI and ReDoc files the service serves itself (:mod:`forecast.service.docs`): they
work offline, under a policy that lets them load nothing from elsewhere; ``docs=False``
(``forecast serve --no-docs``) turns them off. Every other response is JSON with
``Content-Security-Policy: default-src 'none'`` and ``nosniff``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders

from forecast.checks import check_int
from forecast.data.calendar import TradingCalendar, get_calendar
from forecast.data.tickers import validate_ticker
from forecast.service.docs import DOCS_CSP, add_docs
from forecast.service.queries import (
    READ_BUSY_TIMEOUT_SECONDS,
    ScorecardCache,
    forecast_rows,
    last_run,
    latest_by_model,
    nearest_as_of,
    read_snapshot,
    recent_runs,
    stale_price_tickers,
    stored_horizons,
)
from forecast.service.schemas import (
    API_DESCRIPTION,
    ERROR_RESPONSES,
    RULES,
    AsOfQuery,
    ForecastsResponse,
    Health,
    HorizonQuery,
    LimitQuery,
    ModelQuery,
    ParameterError,
    RunsResponse,
    ScorecardResponse,
    TickerPath,
    TickerQuery,
    TickersResponse,
    add_error_handlers,
    clip,
)
from forecast.service.volatility import volatility_response
from forecast.service.volatility_schemas import VolatilityResponse

_STRICT_CSP = "default-src 'none'; frame-ancestors 'none'"


@dataclass(frozen=True)
class Service:
    """What the endpoints need: the store, the calendar and clock for staleness, limits."""

    store: Path
    calendar: TradingCalendar
    max_lag: int
    busy_timeout: float
    now: Callable[[], datetime]
    scorecards: ScorecardCache = field(default_factory=ScorecardCache, compare=False)

    def snapshot(self):
        """A read-only connection in one read transaction (a context manager)."""
        return read_snapshot(self.store, self.busy_timeout)

    def sessions_behind(self, as_of: str | None) -> int | None:
        """Closed sessions after ``as_of`` (0: up to date); ``None`` without an as-of."""
        if as_of is None:
            return None
        return self.calendar.sessions_between(as_of, self.last_closed())

    def last_closed(self) -> date:
        """The calendar's last closed session now."""
        return self.calendar.last_closed_session(self.now())


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    store_path: str | Path,
    *,
    calendar: str = "XNYS",
    max_lag: int = 1,
    busy_timeout: float = READ_BUSY_TIMEOUT_SECONDS,
    docs: bool = True,
    cors_origins: tuple[str, ...] = (),
    now: Callable[[], datetime] = _utc_now,
) -> FastAPI:
    """The FastAPI app serving the store at ``store_path`` read-only.

    Parameters
    ----------
    store_path
        The SQLite store ``forecast run`` writes. It need not exist yet: requests get 503
        until it does. It is never created or written.
    calendar
        The ``exchange_calendars`` code staleness is counted in (the job config's).
    max_lag
        ``/health`` says ``stale`` when the newest forecasts are more than this many closed
        sessions old (1: the job may still be running for the last closed session).
    busy_timeout
        Seconds a request waits for the job's commit before answering 503.
    docs
        Serve ``/docs`` and ``/redoc`` (their scripts served here too: they work offline).
    cors_origins
        Origins allowed to read the API from a browser (CORS); none by default.
    now
        The clock (for staleness only).
    """
    check_int(max_lag, "max_lag", 0)
    if not busy_timeout > 0:
        raise ValueError(f"busy_timeout must be > 0 seconds; got {busy_timeout}")
    from forecast.version import __version__

    app = FastAPI(
        title="forecast",
        version=__version__,
        summary="Read-only access to the forecasts, scores and runs of a forecast store.",
        description=API_DESCRIPTION,
        docs_url=None,  # served offline by forecast.service.docs
        redoc_url=None,
    )
    app.state.service = Service(
        Path(store_path).expanduser().absolute(), get_calendar(calendar), max_lag, busy_timeout, now
    )
    app.include_router(_router())
    add_error_handlers(app)
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET"])
    docs_paths = add_docs(app) if docs else set()
    app.add_middleware(_SecurityHeaders, docs_paths=docs_paths)
    return app


# ---- parameters ---------------------------------------------------------------------------
async def _service(request: Request) -> Service:
    # async: cheap dependencies run on the event loop, not in a worker thread each
    return request.app.state.service


def _ticker(raw: str, location: str) -> str:
    try:
        return validate_ticker(raw)
    except ValueError as exc:
        raise ParameterError(422, "ticker", location, str(exc), raw) from None


def _day(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise ParameterError(
            422, "as_of", "query", f"as_of {RULES['as_of']} and a real day; got {raw!r}", raw
        ) from None


def _only(*allowed: str):
    """A dependency refusing query parameters other than ``allowed`` (typos filter nothing)."""

    async def check(request: Request) -> None:
        names = [name for name, _ in request.query_params.multi_items()]
        for name in dict.fromkeys(names):
            if names.count(name) > 1:  # which one would count? refuse rather than guess
                raise ParameterError(
                    422, clip(name), "query",
                    f"query parameter {clip(name)!r} given {names.count(name)} times; give it once",
                    ",".join(request.query_params.getlist(name)),
                )  # fmt: skip
            if name not in allowed:
                rule = f"allowed: {', '.join(allowed)}" if allowed else "this endpoint takes none"
                raise ParameterError(
                    422, clip(name), "query", f"unknown query parameter {clip(name)!r}; {rule}",
                    request.query_params[name],
                )  # fmt: skip

    return Depends(check)


# ---- endpoints ----------------------------------------------------------------------------
def _router():
    from fastapi import APIRouter

    router = APIRouter(responses=ERROR_RESPONSES)
    for path, endpoint, allowed, summary in (
        ("/health", health, (), "Store status and staleness"),
        ("/tickers", tickers, (), "Tickers, latest as-of, models"),
        ("/forecasts/{ticker}", forecasts, ("model", "as_of", "horizon"), "Forecasts of a ticker"),
        ("/scorecard", scorecard, ("ticker", "model"), "Live scorecard"),
        ("/runs", runs, ("limit",), "Recent job runs"),
        (
            "/volatility/{ticker}",
            volatility,
            ("model", "as_of", "horizon"),
            "Volatility and Value-at-Risk forecasts of a ticker",
        ),
    ):
        router.get(path, dependencies=[_only(*allowed)], summary=summary)(_in_thread(endpoint))
    return router


def _in_thread(endpoint):
    """``endpoint`` (blocking: it reads SQLite) as a coroutine running it in a worker thread.

    One thread hop per request: FastAPI runs a plain ``def`` endpoint in a thread and then
    its response validation in another, which costs more than the query on a busy machine.
    """

    @functools.wraps(endpoint)
    async def run(*args, **kwargs):
        return await run_in_threadpool(endpoint, *args, **kwargs)

    return run


def health(service: Annotated[Service, Depends(_service)]) -> Health:
    """The store's state: last runs, newest forecasts and their staleness.

    ``sessions_behind`` counts the closed exchange sessions after the newest as-of date of
    any stored forecast; ``stale`` is ``sessions_behind > max_lag``; ``stale_prices`` names
    the tickers the last run forecast from stale prices. ``last_successful_run``
    is the newest run with status ``succeeded`` or ``nothing_to_do``. ``status`` is ``ok``,
    ``stale``, or ``empty`` (a store without forecasts). A store that cannot be read gets 503.
    """
    with service.snapshot() as conn:
        pairs = latest_by_model(conn)
        last, good = last_run(conn), last_run(conn, successful=True)
        stale_prices = stale_price_tickers(conn, last["run_id"]) if last else []
    latest = max((p["latest_as_of"] for p in pairs), default=None)
    behind = service.sessions_behind(latest)
    stale = behind is not None and behind > service.max_lag
    return Health(
        status="empty" if latest is None else "stale" if stale or stale_prices else "ok",
        stale_prices=stale_prices,
        store=str(service.store),
        calendar=service.calendar.name,
        last_closed_session=service.last_closed(),
        latest_as_of=latest,
        sessions_behind=behind,
        max_lag=service.max_lag,
        stale=stale,
        tickers=len({p["ticker"] for p in pairs}),
        last_run=last,
        last_successful_run=good,
    )


def tickers(service: Annotated[Service, Depends(_service)]) -> TickersResponse:
    """Every ticker with forecasts: its newest as-of, staleness, and each model's newest as-of."""
    with service.snapshot() as conn:
        pairs = latest_by_model(conn)
    out: dict[str, dict] = {}
    for p in pairs:
        t = out.setdefault(p["ticker"], {"ticker": p["ticker"], "models": []})
        t["models"].append({"model": p["model"], "latest_as_of": p["latest_as_of"]})
    for t in out.values():
        t["latest_as_of"] = max(m["latest_as_of"] for m in t["models"])
        t["sessions_behind"] = service.sessions_behind(t["latest_as_of"])
    return TickersResponse(last_closed_session=service.last_closed(), tickers=list(out.values()))


def forecasts(
    service: Annotated[Service, Depends(_service)],
    ticker: TickerPath,
    model: ModelQuery = None,
    as_of: AsOfQuery = None,
    horizon: HorizonQuery = None,
) -> ForecastsResponse:
    """The forecasts of ``ticker`` from one as-of session.

    Default: the newest as-of among the selected models (all, or ``model``), so every row
    comes from the same session. A ticker without forecasts is 404; so is a ``model``,
    ``as_of`` or ``horizon`` that selects nothing (the message says what there is).
    """
    symbol, day = _ticker(ticker, "path"), _day(as_of)
    with service.snapshot() as conn:
        latest = _known(conn, symbol, model, "path", ticker)
        models = [model] if model is not None else list(latest)
        chosen = day or max(latest[m] for m in models)
        rows = forecast_rows(conn, symbol, models, chosen, horizon)
        if not rows:
            _nothing_selected(conn, symbol, models, chosen, day, horizon)
    return ForecastsResponse(ticker=symbol, as_of=chosen, forecasts=rows)


def _known(conn, symbol: str | None, model: str | None, location: str, raw) -> dict[str, str]:
    """``{model: newest as-of}`` of ``symbol`` (or of the store); 404 for an unknown one."""
    latest: dict[str, str] = {}
    for p in latest_by_model(conn, symbol):
        latest[p["model"]] = max(latest.get(p["model"], ""), p["latest_as_of"])
    if symbol is not None and not latest:
        message = f"no forecasts stored for ticker {symbol!r}"
        raise ParameterError(404, "ticker", location, message, raw)
    if model is not None and model not in latest:
        where = f"ticker {symbol!r}" if symbol else "the store"
        message = f"{where} has no forecasts of model {model!r}; models: {', '.join(latest)}"
        raise ParameterError(404, "model", "query", message, model)
    return latest


def _nothing_selected(conn, symbol: str, models: list[str], chosen: str, day, horizon) -> None:
    horizons = stored_horizons(conn, symbol, models, chosen)
    if horizons:
        raise ParameterError(
            404, "horizon", "query", f"no forecasts of {symbol!r} for horizon {horizon} as of "
            f"{chosen}; stored horizons: {', '.join(map(str, horizons))}", horizon,
        )  # fmt: skip
    near = nearest_as_of(conn, symbol, models, chosen)
    raise ParameterError(
        404, "as_of", "query", f"no forecasts of {symbol!r} as of {day} (not a session, or no "
        f"run that day); nearest stored: before {near['before'] or 'none'}, after "
        f"{near['after'] or 'none'}", day,
    )  # fmt: skip


def volatility(
    service: Annotated[Service, Depends(_service)],
    ticker: TickerPath,
    model: ModelQuery = None,
    as_of: AsOfQuery = None,
    horizon: HorizonQuery = None,
) -> VolatilityResponse:
    """The volatility and Value-at-Risk forecasts of ``ticker`` from one as-of session.

    Default: the newest as-of among the selected volatility models. Each forecast carries its
    model version and, once its target session has passed, its score (realised proxy, log
    return, QLIKE, exceptions of each VaR); ``scorecard`` gives the ticker's live QLIKE and
    MSE relative to the naive model and the VaR exception rates. A ticker without volatility
    forecasts is 404; so is a ``model``, ``as_of`` or ``horizon`` that selects nothing.
    """
    symbol, day = _ticker(ticker, "path"), _day(as_of)
    with service.snapshot() as conn:
        body = volatility_response(conn, symbol, ticker, model, day, horizon)
    return VolatilityResponse(**body)


def scorecard(
    service: Annotated[Service, Depends(_service)],
    ticker: TickerQuery = None,
    model: ModelQuery = None,
) -> ScorecardResponse:
    """Live accuracy of the stored forecasts once their target dates passed.

    One row per (ticker, model, horizon), as ``forecast scorecard`` shows it:
    ``n`` scored and ``pending`` forecasts, ``mae``, ``rmse``, ``rel_mae`` (below 1 beats the
    random walk on the same targets), ``hit_rate`` (direction), the live ``coverage`` and mean
    relative ``width`` of the ``n_intervals`` scored intervals at ``level``, the scored
    target range, and the 95% anytime-valid confidence sequences: on the mean squared-log-error
    difference against the random walk (``status`` better / worse / undecided since
    ``decided_on``) and on the interval hit rate (``coverage_status`` in band / below /
    above since ``coverage_decided_on``), with the statuses of the previous computation.
    Read from the table the job stores after each run (``stored_at``); while the job has not
    refreshed it, computed from every matching forecast (seconds for a year of 50 tickers)
    and cached until the job commits more.
    """
    symbol = _ticker(ticker, "query") if ticker is not None else None
    with service.snapshot() as conn:
        if symbol is not None or model is not None:
            _known(conn, symbol, model, "query", ticker)
        rows, state = service.scorecards.rows(conn, service.store, symbol, model)
    stored_at = state["computed_at"] if state is not None else None
    return ScorecardResponse(ticker=symbol, model=model, stored_at=stored_at, rows=rows)


def runs(service: Annotated[Service, Depends(_service)], limit: LimitQuery = 20) -> RunsResponse:
    """The newest ``limit`` job runs, newest first, with their tickers counted by status.

    ``as_of`` is the session a run forecast from: the requested one, or for a run without
    ``--as-of`` the newest as-of among its tickers (``requested_as_of`` is then null).
    """
    with service.snapshot() as conn:
        return RunsResponse(runs=recent_runs(conn, limit))


# ---- headers ------------------------------------------------------------------------------
class _SecurityHeaders:
    """Pure-ASGI middleware: ``nosniff`` everywhere, a deny-all CSP on all but the docs pages."""

    def __init__(self, app, docs_paths: set[str]) -> None:
        self.app, self.docs_paths = app, docs_paths

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        strict = scope["path"] not in self.docs_paths

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Content-Security-Policy"] = _STRICT_CSP if strict else DOCS_CSP
            await send(message)

        await self.app(scope, receive, send_with_headers)
