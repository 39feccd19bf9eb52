"""Daily prices from Yahoo Finance through yfinance, under our own deadline, retries and breaker.

This is the only module that imports yfinance, and only when a fetch is made (the import takes
about half a second). yfinance is called with every argument explicit, because its defaults
have changed between releases (``auto_adjust``, MultiIndex columns, the default period), and
its output goes through :func:`normalise_history` into the project's one schema:
``Open, High, Low, Close, Adj Close, Volume`` on exchange-local dates, closed sessions only.

yfinance can raise (rate limit, DNS, timeouts), return an empty frame for a valid ticker, or hang
for minutes. :class:`YahooClient` gives every call a deadline, retries transient failures with
exponential backoff, and after repeated failures in one run stops asking (a circuit breaker).
Failures are sorted into :class:`YahooUnavailable` (try the cache) and :class:`NoPriceData`
(Yahoo answered and has nothing), by exception class, never by message text.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from forecast.data.frames import normalise_history
from forecast.errors import DataError, ForecastError

log = logging.getLogger(__name__)

#: one yfinance request: (ticker, start, end exclusive, timeout in seconds) -> raw frame
Download = Callable[[str, date, date, float], pd.DataFrame]


class YahooError(ForecastError):
    """Base class of the errors of a Yahoo Finance fetch."""


class YahooUnavailable(YahooError):
    """Yahoo did not answer usefully (network, timeout, rate limit, outage, breaker open).

    ``retryable`` says whether asking again soon may help; either way the data may be served
    from the cache.
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class YahooRateLimited(YahooUnavailable):
    """Yahoo answered HTTP 429: too many requests."""


class YahooTimeout(YahooUnavailable):
    """A yfinance call did not finish within our deadline."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class NoPriceData(YahooError, DataError):
    """Yahoo answered but has no prices for the ticker (unknown, delisted, empty range)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one run tries Yahoo before falling back to cached data.

    Parameters
    ----------
    attempts
        Tries per ticker for a transient failure (network, outage, rate limit).
    backoff
        Seconds before the second try; doubled for each further try; ``jitter`` adds up to
        that fraction at random; no wait is longer than ``max_backoff``.
    rate_limit_backoff
        First wait after an HTTP 429 (Yahoo's limits last minutes, not milliseconds).
    deadline
        Our limit in seconds on one yfinance call, which on a black-hole network can
        otherwise take minutes whatever timeout it is given.
    breaker_threshold
        Consecutive failed tickers after which the run stops asking Yahoo (a rate limit
        opens the breaker at once: it is never about one ticker).
    breaker_cooldown
        Seconds the breaker stays open before one ticker may try again.
    """

    attempts: int = 3
    backoff: float = 1.0
    max_backoff: float = 60.0
    rate_limit_backoff: float = 20.0
    jitter: float = 0.1
    deadline: float = 30.0
    breaker_threshold: int = 2
    breaker_cooldown: float = 600.0

    @classmethod
    def interactive(cls) -> RetryPolicy:
        """A policy for a person waiting on one command: fail over to local data within seconds."""
        return cls(
            attempts=2,
            backoff=0.5,
            rate_limit_backoff=5.0,
            deadline=15.0,
            breaker_threshold=1,
            breaker_cooldown=300.0,
        )


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class YahooClient:
    """Fetches daily history from Yahoo Finance for one run, with deadline, retries and breaker.

    Parameters
    ----------
    download
        The request function; default :func:`yahoo_history` (real yfinance). Tests inject a
        fake with the same signature.
    session
        A ``requests`` or ``curl_cffi`` session handed to yfinance (tests: a fake transport).
    cache_dir
        The project cache folder; yfinance's own cache goes into its ``yfinance`` subfolder.
    policy
        Retries, deadline and breaker settings.
    clock, sleep
        Monotonic clock and sleep function (injectable so tests never wait).
    now
        Wall clock returning an aware UTC ``datetime``; decides which sessions have closed.
    """

    def __init__(
        self,
        *,
        download: Download | None = None,
        session: Any = None,
        cache_dir: str | Path | None = None,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.session = session
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._download = download or self._yfinance_download
        self._clock, self._sleep, self.now = clock, sleep, now
        self._rng = random.Random()
        self.failures = 0  # consecutive failed tickers
        self.last_error = ""
        self._opened_at: float | None = None

    @property
    def breaker_open(self) -> bool:
        """True while this run has stopped asking Yahoo after repeated failures."""
        if self._opened_at is None:
            return False
        if self._clock() - self._opened_at >= self.policy.breaker_cooldown:
            self._opened_at = None  # half-open: the next ticker may try once
            self.failures = max(0, self.policy.breaker_threshold - 1)
            return False
        return True

    def history(self, ticker: str, start: date, end: date) -> pd.DataFrame:
        """Closed daily sessions of ``ticker`` from ``start`` to ``end`` (exclusive).

        Returns a frame in the project's schema (:func:`normalise_history`). Raises
        :class:`YahooUnavailable` when Yahoo cannot be reached (after retries, or at once when
        the breaker is open) and :class:`NoPriceData` when Yahoo has no data for the request.
        """
        if self.breaker_open:
            raise YahooUnavailable(
                f"{ticker}: not asking Yahoo Finance again in this run after repeated "
                f"failures (last: {self.last_error})",
                retryable=False,
            )
        p = self.policy
        for attempt in range(1, max(1, p.attempts) + 1):
            try:
                raw = call_with_deadline(
                    self._download,
                    (ticker, start, end, p.deadline),
                    p.deadline,
                    what=f"{ticker}: yfinance call",
                )
                if isinstance(raw, pd.DataFrame) and raw.empty:
                    raise NoPriceData(f"no price data for ticker {ticker!r}: Yahoo sent no rows")
                frame = normalise_history(raw, ticker, now=self.now())
            except Exception as exc:  # classified below; anything unknown counts as an outage
                err = classify_error(exc, ticker)
                if isinstance(err, DataError):  # Yahoo answered: the network is fine
                    self.failures = 0
                elif err.retryable and attempt < p.attempts:
                    wait = self._backoff(attempt, isinstance(err, YahooRateLimited))
                    log.info(
                        "%s (try %d of %d); retrying in %.1f s", err, attempt, p.attempts, wait
                    )
                    self._sleep(wait)
                    continue
                else:
                    self._record_failure(err)
                if err is exc:
                    raise
                raise err from exc
            self.failures = 0
            return frame
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int, rate_limited: bool) -> float:
        p = self.policy
        base = p.rate_limit_backoff if rate_limited else p.backoff
        wait = base * 2 ** (attempt - 1) * (1.0 + p.jitter * self._rng.random())
        return min(wait, p.max_backoff)

    def _record_failure(self, err: YahooUnavailable) -> None:
        self.failures += 1
        self.last_error = str(err)
        if isinstance(err, YahooRateLimited) or self.failures >= self.policy.breaker_threshold:
            if self._opened_at is None:
                log.info(
                    "Yahoo Finance: no more requests for %g s (%s)",
                    self.policy.breaker_cooldown,
                    err,
                )
            self._opened_at = self._clock()

    def _yfinance_download(self, ticker: str, start: date, end: date, timeout: float):
        return yahoo_history(
            ticker, start, end, timeout, session=self.session, cache_dir=self.cache_dir
        )


_DEFAULT_CLIENT: YahooClient | None = None


def default_client(cache_dir: str | Path | None = None) -> YahooClient:
    """The process-wide client of :func:`forecast.load_prices` (interactive policy).

    One per process, so that one command's breaker covers all the tickers it loads.
    """
    global _DEFAULT_CLIENT
    if _DEFAULT_CLIENT is None:
        _DEFAULT_CLIENT = YahooClient(cache_dir=cache_dir, policy=RetryPolicy.interactive())
    return _DEFAULT_CLIENT


def call_with_deadline(fn: Callable[..., Any], args: tuple, deadline: float, *, what: str) -> Any:
    """Run ``fn(*args)`` in a daemon thread; raise :class:`YahooTimeout` after ``deadline`` s.

    A timed-out call cannot be killed; its thread is left to finish on its own and, being a
    daemon, never keeps the process alive.
    """
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name=f"forecast-{what}", daemon=True).start()
    if not done.wait(deadline):
        raise YahooTimeout(f"{what} did not finish within the {deadline:g} s deadline")
    if "error" in box:
        raise box["error"]
    return box["value"]


def classify_error(exc: BaseException, ticker: str) -> YahooError | DataError:
    """Map an exception from a yfinance call to this module's errors, by exception class."""
    if isinstance(exc, YahooError | DataError):
        return exc
    yfe = sys.modules.get("yfinance.exceptions")
    text = str(exc).splitlines()[0] if str(exc) else ""
    name = f"{type(exc).__name__}: {text.split(' See http')[0][:200]}"
    if yfe is not None:
        if isinstance(exc, yfe.YFRateLimitError):
            return YahooRateLimited(f"{ticker}: Yahoo Finance rate limit (HTTP 429)")
        if isinstance(exc, yfe.YFTickerMissingError):
            return NoPriceData(f"no price data for ticker {ticker!r}: Yahoo says: {exc}")
        if isinstance(exc, yfe.YFException):
            return YahooUnavailable(f"{ticker}: Yahoo Finance error: {name}")
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status == 404:  # an HTTP error yfinance let through: Yahoo does not know the symbol
        return NoPriceData(f"no price data for ticker {ticker!r}: Yahoo answered 404 Not Found")
    if status == 429:
        return YahooRateLimited(f"{ticker}: Yahoo Finance rate limit (HTTP 429)")
    if isinstance(exc, OSError):  # DNS, refused, reset, timeouts, HTTP and JSON errors
        return YahooUnavailable(f"{ticker}: Yahoo Finance unreachable: {name}")
    return YahooUnavailable(f"{ticker}: unexpected error from yfinance: {name}", retryable=False)


# ---- the real yfinance call ------------------------------------------------------------------

_YF_LOCK = threading.Lock()
_yf_folder: Path | None = None


def _yfinance(cache_dir: Path | None) -> Any:
    """Import and configure yfinance once: its cache folder, raised errors, no own retries."""
    from forecast.data.cache import default_cache_dir  # it imports this module

    global _yf_folder
    folder = (cache_dir or default_cache_dir()) / "yfinance"
    with _YF_LOCK:
        import yfinance as yf

        if _yf_folder is None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # yfinance then runs without its cache; never in ~/.cache
                log.warning("cannot create yfinance's cache folder %s: %s", folder, exc)
            yf.set_tz_cache_location(str(folder))  # must precede yfinance's first request
            try:
                yf.config.debug.hide_exceptions = False  # raise, so failures can be classified
                yf.config.network.retries = 0  # YahooClient retries, with backoff and a breaker
            except AttributeError:  # an older yfinance: failures may come back as empty frames
                log.debug("yfinance has no config.debug/config.network settings")
            # yfinance 1.7 sorts in place, which pandas 3 deprecates loudly: not the user's concern
            warnings.filterwarnings(
                "ignore", "The inplace keyword", DeprecationWarning, module="yfinance"
            )
            yf_log = logging.getLogger("yfinance")
            if not yf_log.handlers and yf_log.level == logging.NOTSET:
                yf_log.setLevel(logging.CRITICAL)  # its warnings duplicate our own reports
            _yf_folder = folder
        elif folder != _yf_folder:
            log.debug("yfinance cache stays in %s (it cannot move within a process)", _yf_folder)
    return yf


def yahoo_history(
    ticker: str,
    start: date,
    end: date,
    timeout: float,
    *,
    session: Any = None,
    cache_dir: Path | None = None,
) -> pd.DataFrame:
    """One ``yfinance.Ticker.history`` call with every argument explicit.

    ``end`` is exclusive. Raw prices and ``Adj Close`` (``auto_adjust=False``), no repair,
    dividends and splits as columns. The frame's ``attrs`` get ``exchange_tz``,
    ``session_end`` (today's regular-session end) and ``currency`` from Yahoo's metadata.
    """
    yf = _yfinance(cache_dir)
    tkr = yf.Ticker(ticker, session=session)
    frame = tkr.history(
        period=None,
        interval="1d",
        start=start.isoformat(),
        end=end.isoformat(),
        prepost=False,
        actions=True,
        auto_adjust=False,
        back_adjust=False,
        repair=False,
        keepna=False,
        rounding=False,
        timeout=timeout,
    )
    meta = tkr.get_history_metadata()  # filled by history(): no further request
    period = (meta.get("currentTradingPeriod") or {}).get("regular") or {}
    frame.attrs.update(
        exchange_tz=meta.get("exchangeTimezoneName"),
        session_end=period.get("end"),
        currency=meta.get("currency"),
    )
    return frame
