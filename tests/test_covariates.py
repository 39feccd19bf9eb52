"""Past covariates: their columns, their alignment with the prices and no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.data.covariates import build_covariates, covariate_columns, parse_covariates
from forecast.data.frames import read_price_frame
from forecast.data.series import embedded_dir
from forecast.errors import ConfigError, DataError

ALL = ("market", "volume", "range", "dow")


@pytest.fixture(scope="module")
def ibm():
    return read_price_frame(embedded_dir() / "IBM.csv")


@pytest.fixture(scope="module")
def gspc():
    return read_price_frame(embedded_dir() / "GSPC.csv")["Close"]


def test_parse_names_order_and_errors():
    assert parse_covariates("dow, market") == ("market", "dow")
    assert parse_covariates(None) == parse_covariates("") == parse_covariates("none") == ()
    assert covariate_columns(["volume"]) == ["log_volume", "volume_change"]
    with pytest.raises(ConfigError, match="covariates must be a comma-separated list of "
                       "market, volume, range, dow; got 'beta'"):  # fmt: skip
        parse_covariates("market,beta")


def test_every_column_on_the_series_dates(ibm, gspc):
    x = build_covariates(ibm, ALL, market=gspc, name="IBM")
    assert list(x.columns) == covariate_columns(ALL)
    assert x.index.equals(ibm.index)
    assert np.isfinite(x.iloc[1:].to_numpy()).all()
    day = "2012-06-05"  # a Tuesday
    prev = gspc.index[gspc.index.get_loc(pd.Timestamp(day)) - 1]
    assert x.loc[day, "market_return"] == pytest.approx(np.log(gspc[day] / gspc[prev]))
    assert x.loc[day, "log_volume"] == pytest.approx(np.log(ibm.loc[day, "Volume"]))
    hi, lo = ibm.loc[day, "High"], ibm.loc[day, "Low"]
    parkinson = np.sqrt(np.log(hi / lo) ** 2 / (4 * np.log(2)))  # Parkinson (1980), one day
    assert x.loc[day, "range_vol"] == pytest.approx(parkinson)
    assert x.loc[day, ["dow_mon", "dow_tue", "dow_wed", "dow_thu"]].tolist() == [0, 1, 0, 0]
    friday = x.loc["2012-06-08", ["dow_mon", "dow_tue", "dow_wed", "dow_thu"]]
    assert friday.sum() == 0  # the baseline day


def test_no_row_reads_a_later_date(ibm, gspc):
    """Change every bar and index price from a cutoff on: no covariate row before it moves."""
    cutoff = 2000
    changed, market = ibm.copy(), gspc.copy()
    rng = np.random.default_rng(3)
    changed.iloc[cutoff:, :] *= np.exp(rng.normal(0, 0.1, (len(ibm) - cutoff, 1)))
    after = market.index >= ibm.index[cutoff]
    market[after] *= np.exp(rng.normal(0, 0.1, after.sum()))
    a = build_covariates(ibm, ALL, market=gspc)
    b = build_covariates(changed, ALL, market=market)
    np.testing.assert_array_equal(a.iloc[:cutoff].to_numpy(), b.iloc[:cutoff].to_numpy())
    assert not np.array_equal(a.iloc[cutoff:].to_numpy(), b.iloc[cutoff:].to_numpy())


def test_market_days_missing_carry_the_last_price_and_coverage_is_checked(gspc):
    dates = pd.DatetimeIndex(["2018-12-24", "2018-12-26", "2018-12-27", "2018-12-28"])
    frame = pd.DataFrame({"Close": [1.0, 2, 3, 4]}, index=dates)
    gaps = gspc.drop(pd.Timestamp("2018-12-26"))
    x = build_covariates(frame, ["market"], market=gaps)
    assert x.loc["2018-12-26", "market_return"] == 0.0  # no index price known that day
    expected = np.log(gspc["2018-12-27"] / gspc["2018-12-24"])  # the next spans both days
    assert x.loc["2018-12-27", "market_return"] == pytest.approx(expected)
    late = pd.DataFrame({"Close": [1.0, 2]}, index=pd.DatetimeIndex(["2018-12-31", "2019-01-02"]))
    with pytest.raises(DataError, match=r"has prices 1999-01-04..2018-12-31; series 'S' runs"):
        build_covariates(late, ["market"], market=gspc, name="S")


def test_zero_volume_repeats_the_last_known_and_missing_columns_are_named():
    dates = pd.bdate_range("2020-01-06", periods=4)
    frame = pd.DataFrame({"Close": [1.0, 2, 3, 4], "Volume": [10.0, 0, 40, 40]}, index=dates)
    x = build_covariates(frame, ["volume"])
    assert x["log_volume"].tolist() == pytest.approx(np.log([10, 10, 40, 40]))
    assert x["volume_change"].iloc[1:].tolist() == pytest.approx([0, np.log(4), 0])
    with pytest.raises(DataError, match="covariate 'range' needs a High column; series 'AMD'"):
        build_covariates(frame.drop(columns="Volume"), ["range"], name="AMD")
    with pytest.raises(DataError, match="covariate 'market' needs the market index's prices"):
        build_covariates(frame, ["market"])
