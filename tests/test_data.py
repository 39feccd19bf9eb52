"""The price loader: embedded data, CSV rules and every bad input named clearly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import forecast
from forecast.data.loading import load_prices
from forecast.data.series import embedded_tickers, series_hash
from forecast.data.tickers import validate_ticker
from forecast.errors import DataError


def write_csv(tmp_path, text, name="T.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_embedded_series_load_by_ticker():
    assert {"AAPL", "GSPC", "IBM", "MSFT", "GOOG"} <= set(embedded_tickers())
    s = forecast.load_prices("GSPC")
    assert s.name == "GSPC"
    assert s.index.name == "date"
    assert isinstance(s.index, pd.DatetimeIndex)
    assert s.index.is_monotonic_increasing and s.index.is_unique
    assert s.dtype == float
    assert len(s) == 5031
    assert s.index[0] == pd.Timestamp("1999-01-04")


def test_default_column_is_adj_close_on_split_adjusted_files():
    s = load_prices("AAPL")
    raw = pd.read_csv(forecast.data.series.embedded_dir() / "AAPL.csv")
    assert np.allclose(s.to_numpy(), raw["Adj Close"].to_numpy())
    # no split-sized jump: the raw Close halves on 2000-06-21, Adj Close does not
    jump = (s / s.shift()).loc["2000-06-21"]
    assert 0.8 < jump < 1.2


def test_lowercase_ticker_is_normalised():
    assert load_prices("gspc").name == "GSPC"


def test_explicit_column(tmp_path):
    path = write_csv(tmp_path, "Date,Close,Adj Close\n2020-01-02,10,5\n2020-01-03,11,6\n")
    assert load_prices(path, column="Close").tolist() == [10.0, 11.0]
    assert load_prices(path).tolist() == [5.0, 6.0]
    assert load_prices(path).name == "T"


def test_empty_adj_close_falls_back_to_close(tmp_path):
    path = write_csv(tmp_path, "Date,Close,Adj Close\n2020-01-02,10,\n2020-01-03,11,\n")
    assert load_prices(path).tolist() == [10.0, 11.0]


def test_only_adj_close(tmp_path):
    path = write_csv(tmp_path, "Date,Adj Close\n2020-01-02,10\n2020-01-03,11\n")
    assert load_prices(path).tolist() == [10.0, 11.0]


def test_unsorted_rows_are_sorted(tmp_path):
    path = write_csv(tmp_path, "Date,Close\n2020-01-03,11\n2020-01-02,10\n2020-01-06,12\n")
    s = load_prices(path)
    assert s.tolist() == [10.0, 11.0, 12.0]
    assert s.index.is_monotonic_increasing


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"price file not found: .*nope\.csv"):
        load_prices(tmp_path / "nope.csv")


def test_no_date_column(tmp_path):
    path = write_csv(tmp_path, "Day,Close\n2020-01-02,10\n")
    with pytest.raises(
        DataError, match=r"T\.csv: no 'Date' column; columns are \['Day', 'Close'\]"
    ):
        load_prices(path)


def test_no_usable_price_column(tmp_path):
    path = write_csv(tmp_path, "Date,Open,Volume\n2020-01-02,10,5\n")
    with pytest.raises(DataError, match=r"T\.csv: no usable price column.*\['Open', 'Volume'\]"):
        load_prices(path)


def test_default_columns_present_but_empty(tmp_path):
    path = write_csv(tmp_path, "Date,Close,Adj Close\n2020-01-02,,\n2020-01-03,,\n")
    with pytest.raises(DataError, match=r"present but empty"):
        load_prices(path)


def test_chosen_column_empty_or_missing(tmp_path):
    path = write_csv(tmp_path, "Date,Close,Open\n2020-01-02,10,\n2020-01-03,11,\n")
    with pytest.raises(DataError, match=r"column 'Open' is empty"):
        load_prices(path, column="Open")
    with pytest.raises(DataError, match=r"no column 'High'; price columns are \['Close', 'Open'\]"):
        load_prices(path, column="High")


def test_duplicate_dates_listed(tmp_path):
    rows = "".join(f"2020-01-0{d},{d}\n2020-01-0{d},{d}\n" for d in (2, 3))
    path = write_csv(tmp_path, "Date,Close\n" + rows + "2020-01-07,9\n")
    with pytest.raises(DataError, match=r"2 duplicate dates, first: 2020-01-02, 2020-01-03"):
        load_prices(path)


def test_non_positive_and_non_finite_prices_counted(tmp_path):
    path = write_csv(
        tmp_path, "Date,Close\n2020-01-02,10\n2020-01-03,0\n2020-01-06,-1\n2020-01-07,abc\n"
    )
    with pytest.raises(DataError) as err:
        load_prices(path)
    msg = str(err.value)
    assert "3 prices are not positive finite numbers (1 missing or non-finite)" in msg
    assert "first at: 2020-01-03, 2020-01-06, 2020-01-07" in msg
    assert "T.csv column 'Close'" in msg


def test_partially_empty_column_is_not_silently_dropped(tmp_path):
    path = write_csv(tmp_path, "Date,Close\n2020-01-02,10\n2020-01-03,\n2020-01-06,12\n")
    with pytest.raises(DataError, match=r"1 prices are not positive finite.*2020-01-03"):
        load_prices(path)


def test_bad_dates_give_line_numbers(tmp_path):
    path = write_csv(tmp_path, "Date,Close\n2020-01-02,10\nnot-a-date,11\n")
    with pytest.raises(DataError, match=r"1 rows have no valid date \(lines \[3\]"):
        load_prices(path)


def test_too_short_for_the_request(tmp_path):
    path = write_csv(tmp_path, "Date,Close\n2020-01-02,10\n2020-01-03,11\n")
    with pytest.raises(DataError, match=r"series too short: need at least 10 prices; got 2"):
        load_prices(path, min_length=10)


def test_unknown_ticker_lists_embedded():
    with pytest.raises(DataError, match=r"no price data for ticker 'ZZZZ'.*GSPC"):
        load_prices("ZZZZ")


@pytest.mark.parametrize("ticker", ["BRK-B", "^GSPC", "EURUSD=X", "m&m.ns", " aapl "])
def test_valid_tickers(ticker):
    assert validate_ticker(ticker) == ticker.strip().upper()


@pytest.mark.parametrize(
    ("ticker", "message"),
    [
        ("../x", "bad characters: '/'"),
        ("a/b", "bad characters: '/'"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("AB\x00C", "bad characters"),
        ("A\nB", "bad characters"),
        ("X" * 16, "at most 15 characters; got 16"),
        ("...", "must hold a letter or digit"),
    ],
)
def test_rejected_tickers(ticker, message):
    with pytest.raises(ValueError, match=message):
        validate_ticker(ticker)


def test_series_hash_tracks_content():
    s = load_prices("IBM")
    assert series_hash(s) == series_hash(s.copy())
    changed = s.copy()
    changed.iloc[-1] *= 1.0001
    assert series_hash(changed) != series_hash(s)
