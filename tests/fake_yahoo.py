"""A fake Yahoo Finance for offline tests, reusable by any test that fetches prices.

:class:`FakeYahoo` serves chosen tickers from local price frames (the embedded CSVs by default)
through two faces that share one script of failures:

- :meth:`FakeYahoo.session`: a real ``requests.Session`` whose transport answers Yahoo's
  endpoints (cookie, crumb, v8 chart) with chart JSON built from the frames, so the *real*
  yfinance request, parsing, timezone and adjustment code runs (contract tests);
- :meth:`FakeYahoo.download`: a function with :data:`forecast.data.yahoo.Download`'s signature that
  returns what ``Ticker.history`` returns (tz-aware exchange-local index, ``Adj Close``,
  ``Dividends``, ``Stock Splits``), for fast unit tests of everything above yfinance.

Failures: ``outage`` (connection error), ``rate_limit`` (HTTP 429 / ``YFRateLimitError``),
``server_error`` (HTTP 500), ``hang`` (blocks until :meth:`release`), ``empty`` (no rows),
``no_data`` (Yahoo's "no data found" for the symbol), optionally for some tickers and a number
of requests only. :meth:`restate` rescales past prices as a split or dividend does. Every price
request is recorded in :attr:`requests` as :class:`ChartRequest` (start, exclusive end).

Call :func:`reset_yfinance` between tests that run real yfinance: it keeps an in-memory cache of
responses for past date ranges that would otherwise leak from one test into the next.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

import pandas as pd
import requests
from requests.adapters import BaseAdapter

from forecast.data.frames import read_price_frame
from forecast.data.series import embedded_dir

FAILURES = ("outage", "rate_limit", "server_error", "hang", "empty", "no_data")
SESSION_OPEN, SESSION_CLOSE = time(9, 30), time(16, 0)
HANG_LIMIT = 10.0  # seconds a hanging request waits at most, so a forgotten release cannot stall
_PRICE_COLS = ["Open", "High", "Low", "Close", "Adj Close", "Volume"]


def embedded_frame(name: str) -> pd.DataFrame:
    """An embedded price CSV (``AAPL``, ``GSPC``...) as a frame in the project schema."""
    return read_price_frame(embedded_dir() / f"{name}.csv")


def at(day: date | str, clock: time, tz: str = "America/New_York") -> datetime:
    """The aware UTC instant of ``clock`` exchange-local time on ``day``."""
    local = datetime.combine(pd.Timestamp(day).date(), clock, tzinfo=ZoneInfo(tz))
    return local.astimezone(ZoneInfo("UTC"))


def after_close(day: date | str, tz: str = "America/New_York") -> datetime:
    """An instant one hour after the regular close of ``day``: that day's bar is final."""
    return at(day, time(17, 0), tz)


@dataclass(frozen=True)
class ChartRequest:
    """One price request: ``end`` is exclusive; both are exchange-local dates."""

    ticker: str
    start: date
    end: date


class FakeYahoo:
    """Serves ``frames`` (ticker -> project-schema frame) as Yahoo Finance would."""

    def __init__(self, frames: dict[str, pd.DataFrame] | None = None, *, tz: dict | None = None):
        self.frames = {k.upper(): v for k, v in (frames or {}).items()}
        self.tz = {k.upper(): v for k, v in (tz or {}).items()}  # default America/New_York
        self.requests: list[ChartRequest] = []
        self.hits = 0  # every HTTP request or download call, failed ones included
        self._failure: str | None = None
        self._fail_tickers: set[str] | None = None
        self._fail_left: int | None = None
        self._released = threading.Event()
        self._lock = threading.Lock()

    @classmethod
    def from_embedded(cls, *tickers: str) -> FakeYahoo:
        """Serve embedded series: ``from_embedded("AAPL", "^GSPC")`` (``^GSPC`` from GSPC.csv)."""
        return cls({t: embedded_frame(t.lstrip("^")) for t in tickers})

    # ---- scripting -------------------------------------------------------------------------

    def fail(self, kind: str, *, tickers: list[str] | None = None, times: int | None = None):
        """Fail from now on with ``kind``: for ``tickers`` only, for ``times`` requests only."""
        if kind not in FAILURES:
            raise ValueError(f"kind must be one of {FAILURES}; got {kind!r}")
        self._failure, self._fail_left = kind, times
        self._fail_tickers = {t.upper() for t in tickers} if tickers else None

    def recover(self) -> None:
        """Stop failing."""
        self._failure = None

    def release(self) -> None:
        """Let every hanging request go (they then fail with a connection error)."""
        self._released.set()

    def restate(self, ticker: str, factor: float, *, before: date | str) -> None:
        """Multiply prices before ``before`` by ``factor`` (volumes by its inverse), as a split."""
        frame = self.frames[ticker.upper()].copy()
        old = frame.index < pd.Timestamp(before)
        frame.loc[old, _PRICE_COLS[:5]] *= factor
        frame.loc[old, "Volume"] /= factor
        self.frames[ticker.upper()] = frame

    def history_requests(self, ticker: str) -> list[tuple[date, date]]:
        """The (start, exclusive end) of every price request for ``ticker``."""
        return [(r.start, r.end) for r in self.requests if r.ticker == ticker.upper()]

    # ---- the two faces ---------------------------------------------------------------------

    def session(self) -> requests.Session:
        """A ``requests.Session`` whose every HTTP(S) request this fake answers."""
        s = requests.Session()
        adapter = _Adapter(self)
        s.mount("https://", adapter)
        s.mount("http://", adapter)
        return s

    def download(self, ticker: str, start: date, end: date, timeout: float) -> pd.DataFrame:
        """What ``yf.Ticker(ticker).history(start=..., end=..., auto_adjust=False)`` returns."""
        kind = self._next_failure(ticker, chart=True)
        self._raise_for(kind)
        if kind == "empty":
            return pd.DataFrame(columns=[*_PRICE_COLS, "Dividends", "Stock Splits"])
        frame = self._served(ticker, start, end)
        if frame is None:
            from yfinance.exceptions import YFPricesMissingError

            raise YFPricesMissingError(ticker, f" (1d {start} -> {end})")
        tz = self._tz(ticker)
        out = frame[_PRICE_COLS].copy()
        out.index = pd.DatetimeIndex(out.index.tz_localize(tz), name="Date")
        out["Dividends"], out["Stock Splits"] = 0.0, 0.0
        out.attrs.update(exchange_tz=tz, session_end=self._session_end(ticker), currency="USD")
        return out

    # ---- shared machinery ------------------------------------------------------------------

    def _tz(self, ticker: str) -> str:
        return self.tz.get(ticker.upper(), "America/New_York")

    def _session_end(self, ticker: str) -> datetime | None:
        frame = self.frames.get(ticker.upper())
        if frame is None or frame.empty:
            return None
        return at(frame.index[-1], SESSION_CLOSE, self._tz(ticker))

    def _served(self, ticker: str, start: date, end: date) -> pd.DataFrame | None:
        """Rows in [start, end); records the request; ``None`` for an unknown ticker."""
        with self._lock:
            self.requests.append(ChartRequest(ticker.upper(), start, end))
        frame = self.frames.get(ticker.upper())
        if frame is None:
            return None
        return frame.loc[(frame.index >= pd.Timestamp(start)) & (frame.index < pd.Timestamp(end))]

    def _next_failure(self, ticker: str | None, *, chart: bool) -> str | None:
        with self._lock:
            self.hits += 1
            kind = self._failure
            if kind is None or (kind in ("empty", "no_data") and not chart):
                return None
            if self._fail_tickers is not None and (ticker or "").upper() not in self._fail_tickers:
                return None
            if self._fail_left is not None:
                if self._fail_left <= 0:
                    return None
                self._fail_left -= 1
            return kind

    def _raise_for(self, kind: str | None) -> None:
        if kind == "outage":
            raise requests.ConnectionError("fake Yahoo: connection refused")
        if kind == "hang":
            self._released.wait(HANG_LIMIT)
            raise requests.ConnectionError("fake Yahoo: hung request released")
        if kind == "server_error":
            raise requests.HTTPError("fake Yahoo: 500 Server Error")
        if kind == "rate_limit":
            from yfinance.exceptions import YFRateLimitError

            raise YFRateLimitError()
        if kind == "no_data":
            from yfinance.exceptions import YFPricesMissingError

            raise YFPricesMissingError("?", " (fake: no data found)")

    def chart_payload(self, ticker: str, query: dict, *, empty: bool = False) -> tuple[int, dict]:
        """Status and JSON body of ``/v8/finance/chart/<ticker>`` for the query parameters."""
        tz = self._tz(ticker)
        frame = self.frames.get(ticker.upper())
        if frame is None:
            error = {"code": "Not Found", "description": "No data found, symbol may be delisted"}
            return 404, {"chart": {"result": None, "error": error}}
        if "period1" in query:
            zone = ZoneInfo(tz)
            start = datetime.fromtimestamp(int(query["period1"]), zone).date()
            end = datetime.fromtimestamp(int(query["period2"]), zone).date()
            rows = self._served(ticker, start, end)
        else:  # range=...: the timezone lookup
            rows = frame.iloc[-1:]
        rows = rows.iloc[:0] if empty else rows
        opens = [int(at(d, SESSION_OPEN, tz).timestamp()) for d in rows.index]
        end_ts = int(self._session_end(ticker).timestamp())
        period = {"timezone": "EST", "gmtoffset": -18000, "start": end_ts - 23400, "end": end_ts}
        meta = {
            "currency": "USD",
            "symbol": ticker,
            "exchangeName": "NMS",
            "instrumentType": "EQUITY",
            "firstTradeDate": opens[0] if opens else 0,
            "regularMarketTime": end_ts,
            "gmtoffset": -18000,
            "timezone": "EST",
            "exchangeTimezoneName": tz,
            "dataGranularity": "1d",
            "range": query.get("range", ""),
            "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
            "currentTradingPeriod": {"pre": period, "regular": period, "post": period},
        }
        quote = {
            k.lower(): [None if pd.isna(v) else float(v) for v in rows[k]]
            for k in ("Open", "High", "Low", "Close")
        }
        quote["volume"] = [None if pd.isna(v) else int(v) for v in rows["Volume"]]
        adj = [float(v) for v in rows["Adj Close"]]
        indicators = {"quote": [quote], "adjclose": [{"adjclose": adj}]}
        result = {"meta": meta, "timestamp": opens, "indicators": indicators}
        if not opens:
            result = {"meta": meta, "indicators": {"quote": [{}], "adjclose": [{}]}}
        return 200, {"chart": {"result": [result], "error": None}}


class _Adapter(BaseAdapter):
    """The transport of :meth:`FakeYahoo.session`."""

    def __init__(self, fake: FakeYahoo) -> None:
        super().__init__()
        self.fake = fake

    def send(self, request, **kwargs):
        url = urlsplit(request.url)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        is_chart = "/v8/finance/chart/" in url.path
        ticker = unquote(url.path.rsplit("/", 1)[1]) if is_chart else None
        kind = self.fake._next_failure(ticker, chart=is_chart)
        if kind in ("rate_limit", "server_error"):
            code = 429 if kind == "rate_limit" else 500
            text = "Too Many Requests" if code == 429 else "Internal Server Error"
            return _response(request, code, text.encode(), "text/plain")
        if kind in ("outage", "hang"):
            self.fake._raise_for(kind)
        if url.path.endswith("/getcrumb"):
            return _response(request, 200, b"fakecrumb", "text/plain")
        if not is_chart:
            return _response(request, 404, b'{"error": "not found"}', "application/json")
        if kind == "no_data":
            error = {"code": "Not Found", "description": "No data found, symbol may be delisted"}
            code, body = 404, {"chart": {"result": None, "error": error}}
        else:
            code, body = self.fake.chart_payload(ticker, query, empty=kind == "empty")
        return _response(request, code, json.dumps(body).encode(), "application/json")

    def close(self) -> None:
        pass


def _response(request, status: int, content: bytes, ctype: str) -> requests.Response:
    r = requests.Response()
    r.status_code, r._content, r.url, r.request = status, content, request.url, request
    r.headers["Content-Type"] = ctype
    r.encoding = "utf-8"
    return r


def reset_yfinance() -> None:
    """Forget yfinance's in-process response cache and counters (if yfinance is loaded)."""
    data = sys.modules.get("yfinance.data")
    if data is not None:
        data.YfData.cache_get.cache_clear()
    base = sys.modules.get("yfinance.base")
    if base is not None:
        base._tz_info_fetch_ctr = 0


def day_after(day: date | str) -> date:
    """The calendar day after ``day``."""
    return pd.Timestamp(day).date() + timedelta(days=1)
