"""Resolution of a ticker's prices: cache, incremental top-up from Yahoo, fallbacks, provenance."""

from __future__ import annotations

import logging
import os
from datetime import date, timedelta

import pandas as pd
import pytest
from fake_yahoo import FakeYahoo, after_close, at, embedded_frame

import forecast.data.sources
from forecast.data.cache import PriceCache, cache_filename
from forecast.data.loading import load_prices
from forecast.data.sources import OVERLAP, is_offline, resolve_prices
from forecast.data.yahoo import NoPriceData, RetryPolicy, YahooClient
from forecast.errors import ConfigError

MID, LAST = "2013-02-15", "2013-03-01"


@pytest.fixture(autouse=True)
def _no_default_client(monkeypatch):
    """A test that forgot to inject a client must fail, not reach for the real Yahoo."""

    def forbidden(*args, **kwargs):
        raise AssertionError("test reached the real Yahoo client")

    monkeypatch.setattr(forecast.data.sources, "default_client", forbidden)


@pytest.fixture
def fake():
    """Yahoo serving the embedded AAPL and MSFT from 2012 (short: the tests stay fast)."""
    f = FakeYahoo({t: embedded_frame(t).loc["2012":] for t in ("AAPL", "MSFT")})
    yield f
    f.release()


def client(fake, now, **policy) -> YahooClient:
    """A fresh client (one run) whose clock says ``now`` and which never sleeps."""
    policy = {"jitter": 0.0, **policy}
    return YahooClient(
        download=fake.download, now=lambda: now, sleep=lambda s: None, policy=RetryPolicy(**policy)
    )


def fetch(fake, now, cache_dir, ticker="AAPL", **kw):
    return resolve_prices(
        ticker,
        offline=False,
        cache_dir=cache_dir,
        client=client(fake, now),
        max_age=timedelta(0),
        **kw,
    )


def test_first_fetch_takes_the_whole_history_and_writes_the_cache(fake, tmp_path):
    data = fetch(fake, after_close(LAST), tmp_path)
    expected = embedded_frame("AAPL").loc["2012":]
    assert data.source == "yahoo" and not data.stale and data.note == ""
    pd.testing.assert_frame_equal(data.frame, expected, check_freq=False)
    assert data.last_date == date(2013, 3, 1) and data.new_rows == len(expected)
    assert fake.history_requests("AAPL") == [(date(1914, 1, 1), date(2013, 3, 3))]
    entry = PriceCache(tmp_path).read("AAPL")
    assert entry.content_hash == data.content_hash and entry.fetched_at == after_close(LAST)


def test_top_up_asks_only_for_the_missing_sessions_plus_the_overlap(fake, tmp_path):
    full = fake.frames["AAPL"]
    fake.frames["AAPL"] = full.loc[:MID]
    first = fetch(fake, after_close(MID), tmp_path)
    fake.frames["AAPL"] = full
    fake.requests.clear()
    data = fetch(fake, after_close(LAST), tmp_path)
    overlap_start = full.loc[:MID].index[-OVERLAP].date()
    assert fake.history_requests("AAPL") == [(overlap_start, date(2013, 3, 3))]
    assert data.source == "yahoo" and not data.restated
    assert data.new_rows == len(full.loc["2013-02-16":]) == 9  # 18 Feb: a holiday
    pd.testing.assert_frame_equal(data.frame, full, check_freq=False)
    assert data.content_hash != first.content_hash
    assert PriceCache(tmp_path).read("AAPL").content_hash == data.content_hash


def test_a_fresh_cache_is_used_without_asking(fake, tmp_path):
    fetch(fake, after_close(LAST), tmp_path)
    fake.requests.clear()
    later = after_close(LAST) + timedelta(minutes=30)
    data = resolve_prices("AAPL", offline=False, cache_dir=tmp_path, client=client(fake, later))
    assert data.source == "cache" and not data.stale and fake.requests == []
    assert data.age == timedelta(minutes=30)


def test_outage_falls_back_to_the_cache_with_its_age(fake, tmp_path, caplog):
    full = fake.frames["AAPL"]
    fake.frames["AAPL"] = full.loc[:MID]
    cached = fetch(fake, after_close(MID), tmp_path)
    fake.frames["AAPL"] = full
    fake.fail("outage")
    data = fetch(fake, after_close(LAST), tmp_path)
    assert data.source == "cache" and data.stale
    assert data.content_hash == cached.content_hash and data.last_date == date(2013, 2, 15)
    assert data.age == after_close(LAST) - after_close(MID)
    assert "using cached data up to 2013-02-15, fetched 14d00h ago" in data.note
    assert "Yahoo Finance unreachable: ConnectionError" in data.note
    assert data.note in caplog.text
    assert PriceCache(tmp_path).read("AAPL").content_hash == cached.content_hash


def test_outage_without_cache_uses_the_embedded_series_and_says_so(fake, tmp_path):
    fake.fail("outage")
    data = fetch(fake, after_close(LAST), tmp_path)
    assert data.source == "embedded" and data.fetched_at is None and data.age is None
    assert data.note.startswith("AAPL: using embedded data ending 2013-03-01 (Yahoo Finance")
    assert not (tmp_path / "prices" / "AAPL.json").exists()  # embedded data is not cached


def test_nothing_anywhere_is_no_price_data(fake, tmp_path):
    with pytest.raises(NoPriceData, match=r"^no price data for ticker 'ZZZZ'"):
        fetch(fake, after_close(LAST), tmp_path, ticker="ZZZZ")
    fake.fail("outage")
    with pytest.raises(NoPriceData, match=r"^no price data for ticker 'ZZZZ': Yahoo Finance unr"):
        fetch(fake, after_close(LAST), tmp_path, ticker="ZZZZ")


def test_no_data_from_yahoo_keeps_and_serves_the_cache(fake, tmp_path):
    fetch(fake, after_close(MID), tmp_path)
    fake.fail("no_data")
    data = fetch(fake, after_close(LAST), tmp_path)
    assert data.source == "cache" and data.stale and "no price data" in data.note
    assert PriceCache(tmp_path).read("AAPL") is not None


def test_a_restatement_replaces_the_whole_history(fake, tmp_path):
    full = fake.frames["AAPL"]
    fake.frames["AAPL"] = full.loc[:MID]
    old = fetch(fake, after_close(MID), tmp_path)
    fake.frames["AAPL"] = full
    fake.restate("AAPL", 0.5, before="2013-02-25")  # a 2:1 split inside the new sessions
    fake.requests.clear()
    data = fetch(fake, after_close(LAST), tmp_path)
    assert data.restated and data.source == "yahoo" and data.content_hash != old.content_hash
    starts = [s for s, _ in fake.history_requests("AAPL")]
    assert starts == [full.loc[:MID].index[-OVERLAP].date(), date(1914, 1, 1)]
    pd.testing.assert_frame_equal(data.frame, fake.frames["AAPL"], check_freq=False)
    assert PriceCache(tmp_path).read("AAPL").content_hash == data.content_hash


def test_a_failed_refetch_after_a_restatement_keeps_the_old_history(fake, tmp_path):
    old = fetch(fake, after_close(MID), tmp_path)
    fake.restate("AAPL", 1.01, before="2013-02-10")  # a dividend adjustment of the past
    calls = []

    def overlap_then_outage(ticker, start, end, timeout):
        calls.append(start)
        if len(calls) > 1:
            raise ConnectionError("gone")
        return fake.download(ticker, start, end, timeout)

    c = YahooClient(
        download=overlap_then_outage,
        now=lambda: after_close(LAST),
        sleep=lambda s: None,
        policy=RetryPolicy(attempts=1),
    )
    data = resolve_prices("AAPL", offline=False, cache_dir=tmp_path, client=c)
    assert data.source == "cache" and data.stale and data.content_hash == old.content_hash
    assert PriceCache(tmp_path).read("AAPL").content_hash == old.content_hash


def test_the_bar_of_an_open_session_is_not_kept(fake, tmp_path):
    during = at(LAST, pd.Timestamp("11:00").time())
    data = fetch(fake, during, tmp_path)
    assert data.last_date == date(2013, 2, 28)
    data = fetch(fake, after_close(LAST), tmp_path)
    assert data.last_date == date(2013, 3, 1) and data.new_rows == 1


def test_corrupt_cache_is_moved_aside_and_fetched_again(fake, tmp_path, caplog):
    path = PriceCache(tmp_path).path("AAPL")
    path.parent.mkdir(parents=True)
    path.write_text('{"format": 1, "ticker": "AAPL", "dat')
    data = fetch(fake, after_close(LAST), tmp_path)
    assert data.source == "yahoo" and data.new_rows == len(data.frame)
    aside = list(path.parent.glob("AAPL.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text().endswith('"dat')
    assert "is unusable" in caplog.text and PriceCache(tmp_path).read("AAPL") is not None


def test_offline_never_asks_and_prefers_the_cache(fake, tmp_path, monkeypatch):
    fetch(fake, after_close(MID), tmp_path)
    monkeypatch.setenv("FORECAST_OFFLINE", "1")
    fake.fail("outage")
    hits = fake.hits
    data = resolve_prices("AAPL", cache_dir=tmp_path, client=client(fake, after_close(LAST)))
    assert data.source == "cache" and not data.stale and fake.hits == hits
    data = resolve_prices("MSFT", cache_dir=tmp_path)  # no client needed offline
    assert data.source == "embedded" and "offline" in data.note


@pytest.mark.parametrize(
    ("value", "offline"), [("1", True), ("yes", True), ("0", False), ("", False)]
)
def test_offline_environment_values(monkeypatch, value, offline):
    monkeypatch.setenv("FORECAST_OFFLINE", value)
    assert is_offline() is offline
    assert is_offline(not offline) is (not offline)


def test_bad_offline_environment_value_is_named(monkeypatch):
    monkeypatch.setenv("FORECAST_OFFLINE", "ture")
    with pytest.raises(ConfigError, match=r"FORECAST_OFFLINE must be one of .*; got 'ture'"):
        is_offline()


def test_cache_write_failure_still_returns_the_data(fake, tmp_path, monkeypatch):
    def full_disk(self, entry):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(PriceCache, "write", full_disk)
    data = fetch(fake, after_close(LAST), tmp_path)
    assert data.source == "yahoo" and "could not write the cache file" in data.note


def test_load_prices_keeps_the_provenance(fake, tmp_path):
    c = client(fake, after_close(LAST))
    s = load_prices(
        "aapl",
        offline=False,
        cache_dir=tmp_path,
        client=c,
        start="2013-01-02",
        end=date(2013, 2, 28),
    )
    assert s.name == "AAPL" and s.index[0] == pd.Timestamp("2013-01-02")
    assert s.index[-1] == pd.Timestamp("2013-02-28")
    assert s.attrs["source"] == "yahoo" and s.attrs["column"] == "Adj Close"
    assert s.attrs["last_date"] == "2013-02-28" and s.attrs["stale"] is False  # end= is kept
    assert s.attrs["content_hash"] == PriceCache(tmp_path).read("AAPL").content_hash
    assert s.attrs["fetched_at"] == after_close(LAST).isoformat()


def test_load_prices_offline_by_default_in_tests_is_embedded():
    s = load_prices("^GSPC")
    assert s.attrs["source"] == "embedded" and s.attrs["last_date"] == str(s.index[-1].date())
    assert "using embedded data ending" in s.attrs["note"]


def test_start_after_end_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"start must be on or before end; got start=2013-03-01"):
        resolve_prices("AAPL", start="2013-03-01", end="2013-02-01", cache_dir=tmp_path)
    with pytest.raises(ValueError, match=r"end must be a date like 2024-01-31; got 'soon'"):
        load_prices("AAPL", end="soon")


def test_nothing_is_written_outside_the_cache_folder(fake, tmp_path, monkeypatch, caplog):
    home, work, cache = tmp_path / "home", tmp_path / "work", tmp_path / "cache"
    for d in (home, work):
        d.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.chdir(work)
    tickers = ["CON", "^GSPC", "EURUSD=X", "BRK-B", "M&M.NS", "..A", "NUL.X"]
    for t in tickers:
        fake.frames[t] = fake.frames["AAPL"]
    for t in tickers:
        fetch(fake, after_close(LAST), cache, ticker=t)
    PriceCache(cache).path("CON").write_text("garbage")  # and one quarantine
    fetch(fake, after_close(LAST), cache, ticker="CON")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files and all(p.is_relative_to(cache / "prices") for p in files)
    assert sorted(p.name for p in files if p.suffix == ".json") == sorted(
        cache_filename(t) for t in tickers
    )
    assert not any(name.endswith(".tmp") for name in os.listdir(cache / "prices"))
    assert "CON_.json is unusable" in caplog.text


def test_warning_is_logged_once_per_fallback(fake, tmp_path, caplog):
    fake.fail("outage")
    with caplog.at_level(logging.WARNING, logger="forecast"):
        fetch(fake, after_close(LAST), tmp_path)
    notes = [r.getMessage() for r in caplog.records if r.name == "forecast.data.sources"]
    assert notes == [
        "AAPL: using embedded data ending 2013-03-01 (Yahoo Finance unreachable: "
        "ConnectionError: fake Yahoo: connection refused)"
    ]


def test_an_earlier_start_refetches_without_shrinking_the_cache(fake, tmp_path):
    fetch(fake, after_close(LAST), tmp_path, start="2013-01-02")
    fake.requests.clear()
    data = fetch(fake, after_close(LAST), tmp_path, start="2012-06-01", end="2012-12-31")
    assert fake.history_requests("AAPL") == [(date(2012, 6, 1), date(2013, 3, 2))]
    assert data.frame.index[0] == pd.Timestamp("2012-06-01")
    assert data.last_date == date(2013, 3, 1)  # the later sessions are still cached
    assert PriceCache(tmp_path).read("AAPL").start == date(2012, 6, 1)


def test_only_an_open_session_is_no_data_yet(fake, tmp_path):
    fake.frames["NEWCO"] = fake.frames["AAPL"].loc[LAST:]
    during = at(LAST, pd.Timestamp("11:00").time())
    with pytest.raises(NoPriceData, match=r"'NEWCO': no closed session from 2013-03-01 to 2013"):
        fetch(fake, during, tmp_path, ticker="NEWCO", start=LAST)
    assert not PriceCache(tmp_path).path("NEWCO").exists()
