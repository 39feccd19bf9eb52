"""The universe loader: the shipped stocks, calendar alignment, ranges, gaps and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.data.universe import default_universe, load_universe, universe_tickers
from forecast.errors import ConfigError, DataError

STOCKS = ["AAPL", "AMD", "BBY", "CVX", "GE", "HD", "JNJ", "LLY", "MRK", "MSFT", "PEP", "PG",
          "RRC", "UNH"]  # fmt: skip


def write(tmp_path, name, dates, values, volume=None):
    frame = pd.DataFrame({"Date": dates, "Close": values})
    if volume is not None:
        frame["Volume"] = volume
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


def sessions(start, n):
    """The first ``n`` NYSE sessions from ``start`` (2021-01-18 and 2021-02-15 are holidays)."""
    from forecast.data.calendar import get_calendar

    return [f"{d:%Y-%m-%d}" for d in get_calendar("XNYS").sessions(start, "2021-12-31")[:n]]


def test_the_shipped_universe_is_14_stocks_plus_ibm_on_their_common_range():
    assert universe_tickers() == STOCKS
    assert default_universe() == (*STOCKS, "IBM")
    u = load_universe()
    assert list(u.prices.columns) == [*STOCKS, "IBM"]
    # IBM (embedded) runs 2000-03-01..2013-03-01; the 14 run 1990..2022: the common range
    assert u.prices.index[0] == pd.Timestamp("2000-03-01")
    assert u.prices.index[-1] == pd.Timestamp("2013-03-01")
    assert len(u.prices) == 3270 and not u.prices.isna().any().any()
    assert u.filled == {t: [] for t in u.tickers} and u.dropped == {t: [] for t in u.tickers}
    assert u.sources["AAPL"].endswith("universe/AAPL.csv")  # the universe file, not prices/
    series = u.series()
    assert [s.name for s in series] == u.tickers
    assert series[0].attrs["content_hash"].startswith("sha256:")


def test_union_keeps_every_range_and_nan_outside_each(tmp_path):
    a = write(tmp_path, "A", sessions("2021-01-04", 30), np.arange(1, 31.0))
    b = write(tmp_path, "B", sessions("2021-01-04", 40)[10:], np.arange(1, 31.0))
    common = load_universe([a, b])
    assert common.prices.index[0] == pd.Timestamp(sessions("2021-01-04", 11)[10])
    assert len(common.prices) == 20
    union = load_universe([a, b], align="union")
    assert len(union.prices) == 40
    assert union.prices["A"].isna().sum() == 10 and union.prices["B"].isna().sum() == 10
    assert [len(s) for s in union.series()] == [30, 30]


def test_a_missing_session_is_forward_filled_and_listed(tmp_path):
    days = sessions("2021-01-04", 10)
    a = write(tmp_path, "A", days, np.arange(1, 11.0), volume=np.full(10, 100.0))
    b = write(tmp_path, "B", days[:4] + days[5:], [1, 2, 3, 4, 6, 7, 8, 9, 10.0],
              volume=np.full(9, 100.0))  # fmt: skip
    u = load_universe([a, b])
    assert u.filled["B"] == [days[4]]
    assert u.prices.loc[days[4], "B"] == 4.0  # the last known price: past only
    assert np.isnan(u.frames["B"].loc[days[4], "Volume"])  # no trade known that day


def test_a_long_gap_is_an_error_naming_the_ticker(tmp_path):
    days = sessions("2021-01-04", 20)
    a = write(tmp_path, "A", days, np.arange(1, 21.0))
    b = write(tmp_path, "B", days[:5] + days[12:], np.arange(1, 14.0))
    with pytest.raises(DataError, match=r"B: 7 consecutive sessions missing .*max_gap=5"):
        load_universe([a, b])
    assert len(load_universe([a, b], max_gap=7).prices) == 20


def test_a_row_on_a_holiday_is_dropped_and_listed(tmp_path):
    days = sessions("2021-01-11", 8)  # includes the week of Martin Luther King Day
    with_holiday = sorted([*days, "2021-01-18"])
    a = write(tmp_path, "A", with_holiday, np.arange(1, 10.0))
    u = load_universe([a])
    assert u.dropped["A"] == ["2021-01-18"]
    assert pd.Timestamp("2021-01-18") not in u.prices.index


def test_bad_input_is_named(tmp_path):
    a = write(tmp_path, "A", sessions("2021-01-04", 5), np.arange(1, 6.0))
    b = write(tmp_path, "B", sessions("2021-03-01", 5), np.arange(1, 6.0))
    with pytest.raises(DataError, match=r"share no session.*B starts 2021-03-01.*A ends"):
        load_universe([a, b])
    with pytest.raises(ConfigError, match="align must be one of common, union; got 'outer'"):
        load_universe([a], align="outer")
    with pytest.raises(ConfigError, match="tickers must be unique; 'A' appears twice"):
        load_universe([a, a])
    with pytest.raises(DataError, match="price file not found"):
        load_universe([tmp_path / "missing.csv"])


def test_start_and_end_clip_the_range():
    u = load_universe(["AMD", "GE"], start="2010-01-01", end="2010-12-31")
    assert u.prices.index[0] == pd.Timestamp("2010-01-04")
    assert u.prices.index[-1] == pd.Timestamp("2010-12-31")
