"""The price-frame schema: every yfinance layout normalised the same way, closed sessions only."""

from __future__ import annotations

import time as systime
from datetime import date, datetime, time

import numpy as np
import pandas as pd
import pytest
from fake_yahoo import at, embedded_frame

from forecast.data.frames import (
    CLOSE_MARGIN,
    SchemaError,
    last_closed_date,
    normalise_history,
    read_price_frame,
)
from forecast.errors import DataError

NOW = at("2013-03-02", time(10, 0))  # the next morning: Friday's bar is final even unlabelled
EXPECTED = embedded_frame("AAPL").loc["2013-02-20":]


def history_shaped(frame=EXPECTED, tz="America/New_York"):
    """What ``Ticker.history(auto_adjust=False, actions=True)`` returns."""
    out = frame.copy()
    out.index = pd.DatetimeIndex(out.index.tz_localize(tz), name="Date").as_unit("s")
    out["Dividends"], out["Stock Splits"], out["Capital Gains"] = 0.0, 0.0, 0.0
    return out


def download_shaped(frame=EXPECTED, group_by="column"):
    """What ``yf.download("AAPL", auto_adjust=False)`` returns: MultiIndex, tz-naive."""
    out = frame.copy()
    out.index = pd.DatetimeIndex(out.index, name="Date").as_unit("s")
    out = out[sorted(out.columns)]  # yfinance sorts the Price level alphabetically
    if group_by == "column":
        out.columns = pd.MultiIndex.from_product([out.columns, ["AAPL"]], names=["Price", "Ticker"])
    else:
        out.columns = pd.MultiIndex.from_product([["AAPL"], out.columns], names=["Ticker", "Price"])
    return out


@pytest.mark.parametrize(
    "raw",
    [history_shaped(), download_shaped(), download_shaped(group_by="ticker")],
    ids=["history", "download", "download-by-ticker"],
)
def test_every_yfinance_layout_gives_the_same_frame(raw):
    out = normalise_history(raw, "AAPL", now=NOW)
    pd.testing.assert_frame_equal(out, EXPECTED, check_freq=False)
    assert list(out.columns) == ["Open", "High", "Low", "Close", "Adj Close", "Volume"]
    assert (
        out.index.name == "date"
        and out.index.tz is None
        and str(out.index.dtype) == "datetime64[ns]"
    )


def test_dates_are_exchange_local_whatever_the_machine_timezone(monkeypatch):
    raw = history_shaped(tz="Asia/Tokyo")
    results = []
    for tz in ("UTC", "America/New_York", "Asia/Tokyo"):
        monkeypatch.setenv("TZ", tz)
        systime.tzset()
        results.append(
            normalise_history(raw, "7203.T", now=at("2013-03-02", time(10, 0), "Asia/Tokyo"))
        )
    monkeypatch.delenv("TZ")
    systime.tzset()
    for out in results:
        pd.testing.assert_frame_equal(out, EXPECTED, check_freq=False)
    assert results[0].attrs["exchange_tz"] == "Asia/Tokyo"


def test_missing_adj_close_is_a_schema_error_naming_the_columns():
    raw = history_shaped().drop(columns="Adj Close")  # the auto_adjust=True layout
    with pytest.raises(SchemaError, match=r"lacks columns \['Adj Close'\].*columns are \['Open'"):
        normalise_history(raw, "AAPL", now=NOW)


def test_multiindex_without_the_ticker_is_a_schema_error():
    with pytest.raises(SchemaError, match=r"MultiIndex columns do not name the ticker.*'MSFT'"):
        normalise_history(download_shaped().rename(columns={"AAPL": "MSFT"}), "AAPL", now=NOW)


def test_index_that_is_not_dates_is_a_schema_error():
    with pytest.raises(SchemaError, match=r"index is RangeIndex, not dates"):
        normalise_history(EXPECTED.reset_index(drop=True), "AAPL", now=NOW)


def test_rows_without_close_are_dropped_and_duplicates_keep_the_last():
    raw = history_shaped()
    raw.iloc[1, raw.columns.get_loc("Close")] = np.nan
    dup = raw.iloc[[-1]].copy()
    dup["Close"] = 999.0
    out = normalise_history(pd.concat([raw, dup]), "AAPL", now=NOW)
    assert len(out) == len(EXPECTED) - 1 and EXPECTED.index[1] not in out.index
    assert out["Close"].iloc[-1] == 999.0 and out.index.is_unique


def test_non_positive_closes_are_refused_with_their_dates():
    raw = history_shaped()
    raw.iloc[2, raw.columns.get_loc("Adj Close")] = 0.0
    with pytest.raises(DataError, match=r"AAPL: Yahoo sent 1 rows .*first at: 2013-02-22"):
        normalise_history(raw, "AAPL", now=NOW)


def test_missing_open_or_volume_is_kept_as_nan():
    raw = history_shaped()
    raw["Volume"] = raw["Volume"].astype(float)
    raw.iloc[0, raw.columns.get_loc("Volume")] = np.nan
    out = normalise_history(raw, "AAPL", now=NOW)
    assert np.isnan(out["Volume"].iloc[0]) and len(out) == len(EXPECTED)


def test_the_bar_of_a_session_still_open_is_dropped():
    raw = history_shaped()
    close = at("2013-03-01", time(16, 0))
    raw.attrs["session_end"] = close
    assert normalise_history(raw, "AAPL", now=close).index[-1] == pd.Timestamp("2013-02-28")
    later = close + CLOSE_MARGIN
    assert normalise_history(raw, "AAPL", now=later).index[-1] == pd.Timestamp("2013-03-01")


def test_last_closed_date_rules():
    ny = "America/New_York"
    friday_close = at("2013-03-01", time(16, 0))
    noon = at("2013-03-01", time(12, 0))
    late = friday_close + CLOSE_MARGIN
    assert last_closed_date(noon, ny, friday_close) == date(2013, 2, 28)
    assert last_closed_date(late, ny, friday_close) == date(2013, 3, 1)
    assert last_closed_date(late, ny, None) == date(2013, 2, 28)  # unknown close: be safe
    monday_close = at("2013-03-04", time(16, 0))
    saturday = at("2013-03-02", time(10, 0))
    assert last_closed_date(saturday, ny, monday_close) == date(2013, 3, 1)
    # 23:30 in New York is already the next day in UTC; the exchange's date decides
    assert last_closed_date(at("2013-03-01", time(23, 30)), ny) == date(2013, 2, 28)
    assert last_closed_date(datetime.fromisoformat("2013-03-02T04:30+00:00"), ny) == date(
        2013, 2, 28
    )


def test_read_price_frame_fills_missing_columns(tmp_path):
    path = tmp_path / "T.csv"
    path.write_text("Date,Close\n2020-01-03,11\n2020-01-02,10\n")
    frame = read_price_frame(path)
    assert list(frame.index.strftime("%Y-%m-%d")) == ["2020-01-02", "2020-01-03"]
    assert frame["Close"].tolist() == [10.0, 11.0] and frame["Adj Close"].isna().all()
    path.write_text("Date,Close\nsoon,11\n")
    with pytest.raises(DataError, match=r"1 rows have no valid date"):
        read_price_frame(path)
    path.write_text("Day,Close\n2020-01-02,10\n")
    with pytest.raises(SchemaError, match=r"no 'Date' column; columns are \['Day', 'Close'\]"):
        read_price_frame(path)
