"""``forecast compare``: the config file's rules, and the pipeline end to end on a tiny config."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from forecast.cli import main
from forecast.data.series import embedded_dir
from forecast.errors import ConfigError
from forecast.evaluation.economics import EconomicSettings
from forecast.walkforward.engine import BacktestConfig, backtest
from forecast.workflows.compare import CompareConfig, build_models, load_series, run_compare

REPO = Path(__file__).resolve().parent.parent
TINY = """\
series = ["GSPC", "../data/ibm.csv"]
horizons = [1, 3]
test_size = 20
refit_every = 10
jobs = 1
alpha = 0.1

[models.drift]
[models.ar]
max_lags = 2
"""


@pytest.fixture
def config_file(tmp_path):
    """A tiny config in ``cfg/``, its CSV in ``data/`` (reached by a relative path)."""
    (tmp_path / "data").mkdir()
    shutil.copy(embedded_dir() / "IBM.csv", tmp_path / "data" / "ibm.csv")
    (tmp_path / "cfg").mkdir()
    path = tmp_path / "cfg" / "compare.toml"
    path.write_text(TINY)
    return path


def test_the_default_config_runs_every_model_with_the_issue_defaults():
    config = CompareConfig.from_toml(REPO / "pipelines" / "compare.toml")
    assert [m.name for m in config.models] == [
        "naive", "drift", "ar", "markov", "msar", "lecture_rnn", "lecture_rnn_direction",
        "elman", "rnn", "lstm", "gru",
    ]  # fmt: skip
    assert config.series == ()  # every embedded series
    assert config.backtest == BacktestConfig((1, 5), 250, 20, None, 0)
    assert config.alpha == 0.05
    assert dict(config.models[-1].params)["epochs"] >= 1


def test_economics_keys(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("economics = false\n[models.ar]\n")
    config = CompareConfig.from_toml(path)
    assert config.economics is None and config.plan().economics is None
    path.write_text("costs_bps = [0, 2.5]\n[models.ar]\n")
    config = CompareConfig.from_toml(path)
    assert config.plan().economics == EconomicSettings(costs_bps=(0.0, 2.5))
    default = CompareConfig.from_toml(REPO / "pipelines" / "compare.toml")
    assert default.economics == EconomicSettings()  # costs 0, 5 and 10 bp


def test_relative_paths_resolve_against_the_config_folder(config_file):
    config = CompareConfig.from_toml(config_file)
    assert config.series == ("GSPC", str(config_file.parent.parent / "data" / "ibm.csv"))
    series = load_series(config)
    assert [s.name for s in series] == ["GSPC", "ibm"]
    assert series[0].attrs["source"] == "embedded"  # an embedded ticker never goes online
    models = build_models(config)
    assert list(models) == ["naive", "drift", "ar"]  # the benchmark comes first
    assert models["ar"].max_lags == 2


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        ("bogus = 1\n", "unknown key 'bogus'; valid keys: alpha, calibration_size, column"),
        ("test_size = 'x'\n", "test_size must be an integer >= 1; got 'x'"),
        ("horizons = [0]\n", "horizons must be an integer >= 1; got 0"),
        ("jobs = -1\n", "jobs must be an integer >= 0; got -1"),
        ("alpha = 2\n", "alpha must be a number between 0 and 1 (exclusive); got 2"),
        ("series = 'GSPC'\n", "series must be a list of tickers or CSV paths; got 'GSPC'"),
        ("series = ['nope.csv']\n", "series[0]: CSV file not found"),
        ("series = ['GS PC']\n", "series[0]: ticker may hold only"),
        ("[models.lstmx]\n", "models.lstmx: unknown model 'lstmx'; valid models: naive"),
        ("[models.ar]\nlags = 3\n", "models.ar.lags: unknown parameter of ar; valid: max_lags"),
        ("[models.ar]\nmax_lags = '3'\n", "models.ar.max_lags must be of type int"),
        ("[models.ar]\nmax_lags = 2.5\n", "models.ar.max_lags must be of type int"),
        ("models = 3\n", "models must be tables such as [models.ar]"),
        ("horizons = [1,\n", "not valid TOML"),
        ("economics = 'yes'\n", "economics must be true or false; got 'yes'"),
        ("costs_bps = []\n", "costs_bps must be a non-empty list of numbers >= 0"),
        ("costs_bps = 5\n", "costs_bps must be a non-empty list of numbers >= 0"),
        ("costs_bps = [0, -1]\n", "costs_bps[1] must be a finite number >= 0; got -1"),
        ("costs_bps = ['a']\n", "costs_bps[0] must be a finite number >= 0; got 'a'"),
        ("costs_bps = [5, 5.0]\n", "costs_bps must not repeat a cost; got 5 twice"),
        ("economics = false\ncosts_bps = [5]\n", "costs_bps has no effect with economics = false"),
    ],
)
def test_config_errors_name_the_file_and_the_key(tmp_path, capsys, edit, words):
    path = tmp_path / "bad.toml"
    models = "" if "models" in edit else "\n[models.naive]\n[models.ar]\n"
    top, tables = (edit, models) if not edit.startswith("[") else ("", models + edit)
    path.write_text(top + tables)
    with pytest.raises(ConfigError) as info:
        CompareConfig.from_toml(path)
    message = str(info.value)
    assert str(path) in message and words in message
    code = main(["compare", "--config", str(path), "--out", str(tmp_path / "r")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert words in err[-1] and "Traceback" not in err[-1]


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"config file not found: .*none\.toml"):
        CompareConfig.from_toml(tmp_path / "none.toml")


def test_a_test_size_too_large_for_a_series_names_it(config_file):
    config = CompareConfig.from_toml(config_file)
    config = CompareConfig(config.models, config.series, backtest=BacktestConfig(test_size=10**5))
    with pytest.raises(ConfigError, match=r"series\[0\] 'GSPC' has 5031 prices"):
        load_series(config)


def test_compare_end_to_end(config_file, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["compare", "--config", str(config_file), "--out", str(out), "--no-progress"])
    assert code == 0
    stdout = capsys.readouterr().out
    assert "tests of this run" in stdout and "(10% level" in stdout  # the pooled answer first
    assert stdout.index("tests of this run") < stdout.index("Series by series")
    assert "GSPC h=1:" in stdout and "ibm h=3:" in stdout
    assert "Economic value: " in stdout
    metrics = pd.read_csv(out / "metrics.csv")
    assert set(metrics.model) == {"naive", "drift", "ar"}
    assert set(metrics.series) == {"GSPC", "ibm"} and set(metrics.horizon) == {1, 3}
    run = json.loads((out / "run.json").read_text())
    assert run["command"] == "compare"
    assert run["config"] == {
        "horizons": [1, 3],
        "test_size": 20,
        "refit_every": 10,
        "train_size": None,
        "seed": 0,
        "intervals": {
            "method": "aci",
            "level": 0.8,
            "calibration_size": 100,
            "window": 250,
            "gamma": 0.02,
            "scale": "garch",
            "scales": ["ewma", "garch"],
        },
    }
    assert run["arguments"]["models"] == {"drift": {}, "ar": {"max_lags": 2}}
    assert run["arguments"]["config"] == str(config_file)
    html = (out / "report.html").read_text()
    assert "is at most 10%" in html and "https://" not in html
    assert {"verdicts.csv", "economics.csv", "economics_summary.csv"} <= {
        p.name for p in out.iterdir()
    }
    assert (out / "report.md").is_file() and (out / "figures" / "price-2.png").is_file()


def test_parallel_run_equals_the_serial_engine(config_file):
    config = CompareConfig.from_toml(config_file)
    series, models = load_series(config), build_models(config)
    bt = config.backtest
    serial = backtest(series, models, bt.horizons, bt.test_size, bt.refit_every, seed=bt.seed)
    parallel = backtest(
        series, models, bt.horizons, bt.test_size, bt.refit_every, seed=bt.seed, jobs=2
    )
    pd.testing.assert_frame_equal(parallel.forecasts, serial.forecasts)
    pd.testing.assert_frame_equal(parallel.metrics, serial.metrics)
    pd.testing.assert_frame_equal(parallel.series_info, serial.series_info)
    assert list(parallel.timings.model) == list(serial.timings.model)


def test_run_compare_in_process_returns_the_run_folder(config_file, tmp_path):
    config = CompareConfig.from_toml(config_file)
    out = run_compare(config, tmp_path / "r", progress=False, report=False)
    assert out == tmp_path / "r"
    assert (out / "metrics.csv").is_file() and not (out / "report.html").exists()
