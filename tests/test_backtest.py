"""The walk-forward engine: exact origin semantics, refits, failures, argument errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import price_series

from forecast.errors import ModelFitError
from forecast.evaluation.conformal import IntervalSettings
from forecast.models.base import BaseForecaster
from forecast.walkforward.engine import backtest, walk_forward_origins


class Spy(BaseForecaster):
    """Records what it was fitted on and forecasts the origin's own row number."""

    name = "spy"

    def __init__(self, fail_on_fit: int | None = None):
        self.fail_on_fit = fail_on_fit

    def _fit(self, y):
        self.fits_ = [*getattr(self, "fits_", []), len(y)]
        if self.fail_on_fit is not None and len(self.fits_) == self.fail_on_fit:
            raise ModelFitError("spy: told to fail")

    def _forecast(self, y, horizon):
        return np.full(horizon, y[-1])


def test_origins_are_exactly_the_last_test_size_rows_but_one():
    assert walk_forward_origins(10, 3).tolist() == [6, 7, 8]
    with pytest.raises(ValueError, match="test_size must leave at least 2 rows"):
        walk_forward_origins(10, 9)


def test_semantics_origins_targets_and_kept_horizons():
    s = price_series(60)
    res = backtest(s, ["naive"], horizons=(1, 3), test_size=10, refit_every=4)
    fc = res.forecasts
    h1, h3 = fc[fc.horizon == 1], fc[fc.horizon == 3]
    # origins are rows n-test_size-1 .. n-2 = 49..58
    assert list(h1.origin) == list(s.index[49:59])
    assert list(h1.target_date) == list(s.index[50:60])
    # h=3 is kept only while origin + 3 <= n - 1
    assert list(h3.origin) == list(s.index[49:57])
    assert np.allclose(h1.actual, s.iloc[50:60])
    assert np.allclose(h1.forecast, s.iloc[49:59])  # the random walk, exactly
    assert np.array_equal(h1.forecast.to_numpy(), s.iloc[49:59].to_numpy())


def test_refit_schedule_and_training_window():
    s = price_series(60)
    spy = Spy()
    fitted = []
    orig_fit = Spy.fit

    def recording_fit(self, series):
        fitted.append((series.index[0], series.index[-1]))
        return orig_fit(self, series)

    Spy.fit = recording_fit
    try:
        backtest(s, {"spy": spy}, horizons=1, test_size=10, refit_every=4, intervals=None)
        assert [end for _, end in fitted] == [s.index[49], s.index[53], s.index[57]]
        assert all(start == s.index[0] for start, _ in fitted)
        fitted.clear()
        backtest(
            s, {"spy": spy}, horizons=1, test_size=10, refit_every=4, train_size=20, intervals=None
        )
        assert fitted[0] == (s.index[30], s.index[49])
        assert fitted[-1] == (s.index[38], s.index[57])
        # with intervals, a separate copy first walks the calibration origins before the test
        fitted.clear()
        settings = IntervalSettings(calibration_size=6)
        backtest(s, {"spy": spy}, horizons=1, test_size=10, refit_every=4, intervals=settings)
        ends = [end for _, end in fitted]
        assert ends[:3] == [s.index[49], s.index[53], s.index[57]]  # the test folds, unchanged
        assert ends[3:5] == [s.index[43], s.index[47]]  # calibration origins 43..48
    finally:
        Spy.fit = orig_fit


def test_a_failing_fold_is_recorded_and_the_others_go_on():
    s = price_series(80)
    res = backtest(
        s, {"spy": Spy(fail_on_fit=2)}, horizons=1, test_size=20, refit_every=5, intervals=None
    )
    fc = res.forecasts
    assert len(res.failures) == 1
    fail = res.failures.iloc[0]
    assert fail.model == "spy" and fail.stage == "fit"
    assert "ModelFitError: spy: told to fail" in fail.error
    assert fail.origin == s.index[64].strftime("%Y-%m-%d")
    assert (fc.model == "spy").sum() == 15  # 3 of 4 folds
    assert (fc.model == "naive").sum() == 20
    timing = res.timings.set_index("model").loc["spy"]
    assert timing.n_failed == 1 and timing.n_fits == 3


def test_a_failing_calibration_fold_is_reported_apart_from_the_test_folds():
    s = price_series(80)
    res = backtest(s, {"spy": Spy(fail_on_fit=2)}, horizons=1, test_size=20, refit_every=5)
    stages = sorted(res.failures.stage)
    assert stages == ["calibration fit", "fit"]
    assert res.timings.set_index("model").loc["spy", "n_failed"] == 1  # test folds only


def test_a_model_failing_everywhere_still_has_a_metrics_row():
    s = price_series(60)

    class Broken(Spy):
        name = "broken"

        def _fit(self, y):
            raise np.linalg.LinAlgError("singular matrix")

    res = backtest(
        s, {"broken": Broken()}, horizons=(1, 5), test_size=10, refit_every=5, intervals=None
    )
    rows = res.metrics[res.metrics.model == "broken"]
    assert len(rows) == 2 and (rows.n == 0).all()
    assert len(res.failures) == 2


def test_naive_is_always_the_benchmark():
    res = backtest(price_series(80), ["drift"], horizons=1, test_size=10)
    assert list(res.metrics.model) == ["naive", "drift"]


def test_several_series_and_metrics_rows():
    a, b = price_series(80, name="A"), price_series(90, seed=5, name="B")
    res = backtest([a, b], ["naive", "drift"], horizons=(1, 2), test_size=10, refit_every=3)
    assert len(res.metrics) == 2 * 2 * 2
    assert set(res.series_info.series) == {"A", "B"}
    assert res.series_info.set_index("series").loc["B", "n"] == 90


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"horizons": (0,)}, r"horizons must be an integer >= 1; got 0"),
        ({"horizons": ()}, r"horizons must hold at least one"),
        ({"test_size": 0}, r"test_size must be an integer >= 1; got 0"),
        ({"test_size": 79}, r"series 'SIM' has 80 rows; got test_size=79"),
        ({"refit_every": 0}, r"refit_every must be an integer >= 1; got 0"),
        ({"train_size": 1}, r"train_size must be an integer >= 2; got 1"),
        ({"models": ["nope"]}, r"unknown model 'nope'; valid models: naive, drift, ar"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = {"series": price_series(80), "models": ["naive"], **kwargs}
    with pytest.raises(ValueError, match=message):
        backtest(**args)


def test_duplicate_series_names_rejected():
    s = price_series(50)
    with pytest.raises(ValueError, match="series names must be unique; 'SIM' appears twice"):
        backtest([s, s], ["naive"], test_size=5)


def test_forecasts_table_dates_are_dates():
    res = backtest(price_series(50), ["naive"], horizons=1, test_size=5)
    assert pd.api.types.is_datetime64_any_dtype(res.forecasts.origin)
    assert pd.api.types.is_datetime64_any_dtype(res.forecasts.target_date)
