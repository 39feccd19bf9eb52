"""The Yahoo client: deadline, retries, breaker, error classes; contract tests on real yfinance."""

from __future__ import annotations

import ast
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import requests
from fake_yahoo import (
    ChartRequest,
    FakeYahoo,
    after_close,
    at,
    embedded_frame,
    reset_yfinance,
)

import forecast
from forecast.data.sources import OVERLAP, resolve_prices
from forecast.data.yahoo import (
    NoPriceData,
    RetryPolicy,
    YahooClient,
    YahooRateLimited,
    YahooTimeout,
    YahooUnavailable,
    classify_error,
)
from forecast.errors import DataError

# forecast.data.yahoo silences yfinance's pandas-3 deprecation once per process; pytest resets the
# warning filters for every test, so the later tests need the same filter
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")

START, END = date(2013, 2, 1), date(2013, 3, 2)
NOW = after_close("2013-03-01")
ROWS = 20  # AAPL sessions from START to END (18 February 2013 was a holiday)


class FakeClock:
    """A monotonic clock that only moves when told to or when the client sleeps."""

    def __init__(self):
        self.t, self.sleeps = 0.0, []

    def __call__(self):
        return self.t

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.t += seconds


@pytest.fixture
def fake():
    reset_yfinance()
    f = FakeYahoo({t: embedded_frame(t).loc["2012-06":] for t in ("AAPL", "MSFT", "IBM")})
    yield f
    f.release()


def client(fake, clock=None, face="download", **policy):
    clock = clock or FakeClock()
    kwargs = {"download": fake.download} if face == "download" else {"session": fake.session()}
    return YahooClient(
        **kwargs,
        now=lambda: NOW,
        clock=clock,
        sleep=clock.sleep,
        policy=RetryPolicy(**{"jitter": 0.0, **policy}),
    )


def test_transient_failures_are_retried_with_exponential_backoff(fake):
    clock = FakeClock()
    fake.fail("outage", times=2)
    frame = client(fake, clock).history("AAPL", START, END)
    assert len(frame) == ROWS and clock.sleeps == [1.0, 2.0] and fake.hits == 3


def test_backoff_is_capped_and_jittered_within_bounds(fake):
    clock = FakeClock()
    fake.fail("outage")
    c = YahooClient(
        download=fake.download,
        clock=clock,
        sleep=clock.sleep,
        now=lambda: NOW,
        policy=RetryPolicy(attempts=5, backoff=10, max_backoff=25, jitter=0.1),
    )
    with pytest.raises(YahooUnavailable):
        c.history("AAPL", START, END)
    low, high = clock.sleeps[:2], clock.sleeps[2:]
    assert 10 <= low[0] <= 11 and 20 <= low[1] <= 22 and high == [25, 25]


def test_repeated_failures_open_the_breaker_and_stop_the_asking(fake):
    clock = FakeClock()
    fake.fail("outage")
    c = client(fake, clock, attempts=3, breaker_threshold=2)
    for ticker in ("AAPL", "MSFT"):
        with pytest.raises(YahooUnavailable, match=f"{ticker}: Yahoo Finance unreachable"):
            c.history(ticker, START, END)
    assert fake.hits == 6 and c.breaker_open
    with pytest.raises(YahooUnavailable, match=r"IBM: not asking Yahoo Finance again"):
        c.history("IBM", START, END)
    assert fake.hits == 6  # no request at all
    fake.recover()
    clock.t += c.policy.breaker_cooldown  # after the cool-down one ticker may try again
    assert len(c.history("IBM", START, END)) == ROWS and not c.breaker_open


def test_a_rate_limit_waits_longer_and_opens_the_breaker_at_once(fake):
    clock = FakeClock()
    fake.fail("rate_limit")
    c = client(fake, clock, attempts=3, breaker_threshold=5)
    with pytest.raises(YahooRateLimited, match=r"AAPL: Yahoo Finance rate limit \(HTTP 429\)"):
        c.history("AAPL", START, END)
    assert clock.sleeps == [20.0, 40.0] and c.breaker_open and fake.hits == 3


def test_no_data_is_not_retried_and_does_not_count_as_an_outage(fake):
    clock = FakeClock()
    c = client(fake, clock, breaker_threshold=1)
    with pytest.raises(NoPriceData, match=r"^no price data for ticker 'ZZZZ'"):
        c.history("ZZZZ", START, END)
    fake.fail("empty")
    with pytest.raises(NoPriceData, match=r"^no price data for ticker 'AAPL': Yahoo sent no rows"):
        c.history("AAPL", START, END)
    assert fake.hits == 2 and clock.sleeps == [] and not c.breaker_open


def test_a_hanging_call_hits_our_deadline_quickly(fake):
    fake.fail("hang")
    c = client(fake, attempts=3, deadline=0.05)
    t0 = time.perf_counter()
    with pytest.raises(YahooTimeout, match=r"AAPL: yfinance call did not finish within the 0.05 s"):
        c.history("AAPL", START, END)
    assert time.perf_counter() - t0 < 1.0 and fake.hits == 1  # a hang is not retried


def test_an_unknown_frame_layout_is_a_data_error_not_an_outage(fake):
    def no_adj_close(ticker, start, end, timeout):
        return fake.download(ticker, start, end, timeout).drop(columns="Adj Close")

    c = YahooClient(download=no_adj_close, now=lambda: NOW, sleep=lambda s: None)
    with pytest.raises(DataError, match=r"lacks columns \['Adj Close'\].*auto_adjust=False"):
        c.history("AAPL", START, END)
    assert c.failures == 0


def test_errors_are_classified_by_class():
    yfe = pytest.importorskip("yfinance.exceptions")
    resp = requests.Response()
    resp.status_code = 404
    cases = [
        (yfe.YFRateLimitError(), YahooRateLimited),
        (yfe.YFPricesMissingError("X", ""), NoPriceData),
        (yfe.YFTzMissingError("X"), NoPriceData),
        (yfe.YFDataException("*** YAHOO! FINANCE IS CURRENTLY DOWN! ***"), YahooUnavailable),
        (requests.HTTPError("404", response=resp), NoPriceData),
        (TimeoutError("slow"), YahooUnavailable),
        (requests.ConnectionError("dns"), YahooUnavailable),
    ]
    for exc, kind in cases:
        assert type(classify_error(exc, "X")) is kind, exc
    odd = classify_error(KeyError("chart"), "X")
    assert type(odd) is YahooUnavailable and not odd.retryable
    assert "unexpected error from yfinance: KeyError" in str(odd)


def test_yfinance_is_imported_only_by_the_yahoo_module_and_lazily():
    root = Path(forecast.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        top_level = set(map(id, tree.body))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            lazy_in_yahoo = path.name == "yahoo.py" and id(node) not in top_level
            if any(n.split(".")[0] == "yfinance" for n in names) and not lazy_in_yahoo:
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []


# ---- contract tests: the real yfinance code against a fake Yahoo transport -------------------


def test_contract_real_yfinance_output_normalises_to_the_embedded_rows(fake):
    c = client(fake, face="session", attempts=1, deadline=10)
    frame = c.history("AAPL", START, END)
    expected = embedded_frame("AAPL").loc["2013-02-01":"2013-03-01"]
    pd.testing.assert_frame_equal(frame, expected, check_freq=False)
    assert frame.attrs == {"exchange_tz": "America/New_York", "currency": "USD"}
    assert fake.requests == [ChartRequest("AAPL", START, END)]  # explicit start and end


def test_contract_dates_are_exchange_local_east_of_utc(fake):
    sydney = embedded_frame("IBM").loc["2013-01-02":"2013-03-01"]
    fake.frames["BHP.AX"], fake.tz["BHP.AX"] = sydney, "Australia/Sydney"
    # a 09:30 Sydney open is 22:30 UTC the day before: UTC dates would all be off by one
    assert at("2013-02-01", pd.Timestamp("09:30").time(), "Australia/Sydney").day == 31
    frame = client(fake, face="session", attempts=1).history("BHP.AX", START, END)
    pd.testing.assert_frame_equal(frame, sydney.loc["2013-02-01":], check_freq=False)


def test_contract_the_open_session_is_dropped_using_yahoos_trading_period(fake):
    during = at("2013-03-01", pd.Timestamp("15:00").time())
    c = YahooClient(session=fake.session(), now=lambda: during, policy=RetryPolicy(attempts=1))
    assert c.history("AAPL", START, END).index[-1] == pd.Timestamp("2013-02-28")


@pytest.mark.parametrize(
    ("kind", "error", "message"),
    [
        ("outage", YahooUnavailable, r"AAPL: Yahoo Finance unreachable: ConnectionError"),
        ("rate_limit", YahooRateLimited, r"AAPL: Yahoo Finance rate limit \(HTTP 429\)"),
        ("no_data", NoPriceData, r"no price data for ticker 'AAPL'"),
        ("empty", NoPriceData, r"no price data for ticker 'AAPL'"),
    ],
)
def test_contract_failures_through_real_yfinance(fake, kind, error, message):
    fake.fail(kind)
    with pytest.raises(error, match=message):
        client(fake, face="session", attempts=1).history("AAPL", START, END)


def test_contract_a_hang_inside_yfinance_hits_our_deadline(fake):
    fake.fail("hang")
    t0 = time.perf_counter()
    with pytest.raises(YahooTimeout, match=r"AAPL: yfinance call did not finish within the 0.2 s"):
        client(fake, face="session", attempts=3, deadline=0.2).history("AAPL", START, END)
    assert time.perf_counter() - t0 < 2.0
    fake.release()


def test_contract_unknown_ticker_is_no_price_data(fake):
    with pytest.raises(NoPriceData, match=r"^no price data for ticker 'ZZZZ'"):
        client(fake, face="session", attempts=1).history("ZZZZ", START, END)


def test_contract_top_up_through_real_yfinance_asks_only_for_missing_dates(fake, tmp_path):
    full = fake.frames["AAPL"]
    fake.frames["AAPL"] = full.loc[:"2013-02-15"]
    mid = after_close("2013-02-15")
    c = YahooClient(session=fake.session(), now=lambda: mid, policy=RetryPolicy(attempts=1))
    first = resolve_prices("AAPL", offline=False, cache_dir=tmp_path, client=c)
    fake.frames["AAPL"] = full
    fake.requests.clear()
    c = YahooClient(session=fake.session(), now=lambda: NOW, policy=RetryPolicy(attempts=1))
    data = resolve_prices("AAPL", offline=False, cache_dir=tmp_path, client=c)
    assert first.source == data.source == "yahoo"
    overlap_start = full.loc[:"2013-02-15"].index[-OVERLAP].date()
    assert fake.history_requests("AAPL") == [(overlap_start, date(2013, 3, 3))]
    pd.testing.assert_frame_equal(data.frame, full, check_freq=False)


def test_contract_yfinance_keeps_its_cache_in_ours(fake, tmp_path):
    import yfinance.cache

    import forecast.data.yahoo

    client(fake, face="session", attempts=1).history("AAPL", START, END)
    folder = Path(yfinance.cache._TzDBManager.get_location())
    assert folder == forecast.data.yahoo._yf_folder and folder.name == "yfinance"
    assert not folder.is_relative_to(Path.home() / ".cache")
    assert {p.name for p in folder.iterdir()} >= {"tkr-tz.db", "cookies.db"}


def test_default_client_uses_the_interactive_policy(monkeypatch):
    import forecast.data.yahoo

    monkeypatch.setattr(forecast.data.yahoo, "_DEFAULT_CLIENT", None)
    c = forecast.data.yahoo.default_client()
    assert c is forecast.data.yahoo.default_client()
    assert c.policy.deadline <= 15 and c.policy.breaker_threshold == 1


def test_utc_now_is_aware():
    from forecast.data.yahoo import utc_now

    assert utc_now().utcoffset() == timedelta(0) and isinstance(utc_now(), datetime)
