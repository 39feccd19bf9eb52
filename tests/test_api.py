"""The public Python API as the README shows it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

import forecast


def test_every_public_name_resolves():
    for name in forecast.__all__:
        assert getattr(forecast, name) is not None, name


def test_readme_api_example(tmp_path):
    prices = forecast.load_prices("GSPC")
    result = forecast.backtest(prices, ["naive", "ar"], horizons=(1, 5), test_size=40)
    m = result.metrics.set_index(["model", "horizon"])
    assert m.loc[("naive", 1), "rel_mae"] == 1.0
    assert 0 <= m.loc[("ar", 1), "coverage"] <= 1
    assert np.isfinite(m.loc[("ar", 1), "r2_os"]) and 0 <= m.loc[("ar", 5), "cw_pvalue"] <= 1
    assert list(result.pooled_verdict["method"]) == ["clark_west_holm", "spa_holm"]
    assert set(result.verdicts["horizon"]) == {1, 5} and "spa_pvalue" in result.verdicts
    assert {"sharpe", "dsr", "max_drawdown"} <= set(result.economics.columns)
    assert list(result.economics_summary["cost_bps"]) == [0.0, 5.0, 10.0]
    costs = forecast.EconomicSettings(costs_bps=(2,))
    cheap = forecast.backtest(prices, ["naive", "ar"], test_size=40, economics=costs)
    assert set(cheap.economics["cost_bps"]) == {2.0}
    model = forecast.get_model("ar", max_lags=5).fit(prices.loc[:"2018-06-29"])
    later = model.predict(5, history=prices.loc[:"2018-07-31"])
    assert len(later) == 5
    band = model.predict_interval(5, level=0.8)
    assert (band.lower < band.forecast).all() and (band.forecast < band.upper).all()
    path = model.save(tmp_path / "ar.json")
    same = forecast.load_model(path)
    np.testing.assert_array_equal(same.predict(5).to_numpy(), model.predict(5).to_numpy())
    run = forecast.write_run(result, tmp_path / "run")
    paths = forecast.write_report(run, figures=False)
    assert paths.html.is_file()
    assert (run / "verdicts.csv").is_file() and (run / "economics.csv").is_file()


def test_import_is_light():
    heavy = "('torch', 'matplotlib', 'yfinance')"
    code = f"import sys, forecast; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_building_a_neural_model_imports_no_torch_and_warm_up_does():
    """A driver that builds the nets and sends them to workers never imports torch; a worker's
    warm-up does, before its first task."""
    code = (
        "import pickle, sys\n"
        "from forecast.models import get_model, warm_up_model\n"
        "model = pickle.loads(pickle.dumps(get_model('lstm', epochs=2)))\n"
        "print('torch' in sys.modules)\n"
        "warm_up_model('lstm')\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
