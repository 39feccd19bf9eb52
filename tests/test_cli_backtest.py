"""``forecast backtest`` end to end on the embedded data, and its argument errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecast.cli import main
from forecast.data.series import embedded_dir


def test_backtest_on_an_embedded_csv(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "backtest",
            "--csv",
            str(embedded_dir() / "IBM.csv"),
            "--models",
            "naive,drift,ar",
            "--test-size",
            "30",
            "--refit-every",
            "10",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert "rel_mae" in captured.out and "drift" in captured.out
    fc = pd.read_csv(out / "forecasts.csv")
    mt = pd.read_csv(out / "metrics.csv")
    run = json.loads((out / "run.json").read_text())
    assert set(fc.model) == {"naive", "drift", "ar"}
    assert (fc[fc.model == "naive"].horizon == 1).sum() == 30
    assert (fc[fc.model == "naive"].horizon == 5).sum() == 26
    assert len(mt) == 6
    assert run["config"]["test_size"] == 30
    assert run["series"][0]["content_hash"].startswith("sha256:")
    assert run["series"][0]["series"] == "IBM"
    assert {t["model"] for t in run["timings"]} == {"naive", "drift", "ar"}
    assert run["versions"]["statsmodels"]
    assert run["failures"] == []


def test_backtest_default_runs_every_embedded_series(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "backtest",
            "--models",
            "naive,drift",
            "--test-size",
            "5",
            "--out",
            str(out),
            "--horizons",
            "1",
        ]
    )
    assert code == 0
    mt = pd.read_csv(out / "metrics.csv")
    assert set(mt.series) == {"AAPL", "GOOG", "GSPC", "IBM", "MSFT"}


def test_backtest_by_ticker(tmp_path):
    assert (
        main(
            [
                "backtest",
                "GSPC",
                "--models",
                "drift",
                "--test-size",
                "5",
                "--out",
                str(tmp_path / "r"),
                "--no-progress",
            ]
        )
        == 0
    )


def test_economics_switch_and_costs(tmp_path, capsys):
    common = ["backtest", "GSPC", "--models", "drift", "--test-size", "35", "--horizons", "1",
              "--no-report", "--no-progress", "--intervals", "none"]  # fmt: skip
    assert main([*common, "--out", str(tmp_path / "off"), "--no-economics"]) == 0
    out = capsys.readouterr().out
    assert "tests of this run" in out and "Economic value" not in out
    assert not (tmp_path / "off" / "economics.csv").exists()
    assert (tmp_path / "off" / "verdicts.csv").is_file()
    run = json.loads((tmp_path / "off" / "run.json").read_text())
    assert run["statistics"]["economics"] is None and run["arguments"]["no_economics"] is True
    assert main([*common, "--out", str(tmp_path / "on"), "--costs", "2.5,20"]) == 0
    assert "Economic value: no evidence" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "on" / "economics.csv")
    assert set(table["cost_bps"]) == {2.5, 20.0}
    assert set(pd.read_csv(tmp_path / "on" / "metrics.csv").columns) >= {"r2_os", "in_mcs"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--models", "naive,nope"], "unknown model 'nope'; valid models: naive, drift, ar"),
        (["--horizons", "0"], "horizons must be an integer >= 1; got 0"),
        (["--horizons", "1,x"], "expected comma-separated integers; got '1,x'"),
        (["--test-size", "100000"], "series 'GSPC' has 5031 rows; got test_size=100000"),
        (["--epochs", "0"], "expected an integer >= 1; got 0"),
        (["--csv", "nope.csv"], "price file not found: nope.csv"),
        (["--scale", "vix"], "argument --scale: invalid choice: 'vix'"),
        (["--costs", "5,-1"], "expected comma-separated numbers >= 0 (basis points); got '5,-1'"),
        (["--costs", "5,5"], "expected each cost once; got '5,5'"),
        (["--no-economics", "--costs", "5"], "--costs has no effect with --no-economics"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, message, tmp_path, capsys):
    models = [] if argv[0] == "--models" else ["--models", "naive"]
    try:
        code = main(["backtest", "GSPC", *models, "--out", str(tmp_path / "r"), *argv])
    except SystemExit as exc:  # argparse's own usage errors exit from inside the parser
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1]
    assert not any("Traceback" in line for line in err)


def test_cli_leakage_canary_covers_the_scaled_bounds_and_sigma(tmp_path):
    """As ``../shared/checks/run`` does for the forecasts, for every bound and scale column:
    prices changed after a cutoff move nothing decided at an earlier origin."""
    prices = pd.read_csv(embedded_dir() / "IBM.csv")
    k = len(prices) - 20
    factor = np.ones(len(prices))
    factor[k:] = np.exp(np.random.default_rng(1).normal(0, 0.05, len(prices) - k))
    changed = prices.copy()
    for col in ("Open", "High", "Low", "Close", "Adj Close"):
        changed[col] = changed[col] * factor
    changed.to_csv(tmp_path / "changed.csv", index=False)
    runs = {}
    for name, csv in (("a", embedded_dir() / "IBM.csv"), ("b", tmp_path / "changed.csv")):
        argv = ["backtest", "--csv", str(csv), "--models", "naive,ar", "--horizons", "1,5",
                "--test-size", "40", "--refit-every", "20", "--scale", "garch",
                "--out", str(tmp_path / name), "--no-report", "--no-progress"]  # fmt: skip
        assert main(argv) == 0
        runs[name] = pd.read_csv(tmp_path / name / "forecasts.csv", parse_dates=["origin"])
    cut = pd.Timestamp(prices["Date"][k])
    a, b = (runs[n][runs[n]["origin"] < cut] for n in ("a", "b"))
    columns = ["forecast"] + [c for c in a if c.startswith(("lower", "upper", "sigma"))]
    assert {"sigma", "sigma_garch", "lower_aci_garch", "upper_conformal_ewma"} <= set(columns)
    assert len(a) > 0
    np.testing.assert_array_equal(a[columns].to_numpy(float), b[columns].to_numpy(float))
    after = runs["a"]["origin"] >= cut
    assert not np.array_equal(runs["a"].loc[after, "sigma"], runs["b"].loc[after, "sigma"])
