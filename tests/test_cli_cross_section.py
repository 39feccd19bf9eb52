"""``forecast backtest --cross-section`` and ``--covariates`` end to end on the shipped data."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from forecast.cli import main

STOCKS = ["AMD", "GE", "HD", "JNJ", "LLY", "IBM"]


def test_cross_section_end_to_end(tmp_path, capsys):
    out = tmp_path / "xs"
    code = main(["backtest", "--cross-section", *STOCKS, "--models", "reversal,global_ridge",
                 "--covariates", "market,dow", "--test-size", "30", "--refit-every", "15",
                 "--top-k", "2", "--costs", "0,10", "--out", str(out), "--jobs", "1",
                 "--no-progress"])  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    assert "rank IC (h=1)" in captured.out and "top-k minus bottom-k" in captured.out
    assert "survivors" in captured.err and "does_it_help.html" in captured.err
    ranking = pd.read_csv(out / "ranking.csv")
    # the +x twin of the covariate-capable model, the random walk added
    assert set(ranking.model) == {"naive", "reversal", "global_ridge", "global_ridge+x"}
    fc = pd.read_csv(out / "forecasts.csv")
    assert set(fc.horizon) == {1} and set(fc.series) == set(STOCKS)
    assert fc.groupby(["model", "series"]).size().eq(30).all()
    book = pd.read_csv(out / "portfolio_summary.csv")
    assert set(book.cost_bps) == {0.0, 10.0} and (book.k == 2).all()
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["cross_section"] == {"top_k": 2, "costs_bps": [0.0, 10.0]}
    assert run["config"]["universe"]["survivorship"].startswith("The universe's 14 S&P 500")
    assert run["config"]["covariates"] == ["market_return", "dow_mon", "dow_tue", "dow_wed",
                                           "dow_thu"]  # fmt: skip
    assert run["config"]["intervals"] is None and run["command"] == "backtest --cross-section"
    page = (out / "does_it_help.md").read_text()
    for heading in ("Survivorship bias", "Does anything rank the stocks better than chance?",
                    "Do covariates help?", "Does the global net beat the per-series net?",
                    "Does anything beat the random walk?"):  # fmt: skip
        assert heading in page
    assert "This run has no such pair (name a per-series net" in page
    html = (out / "does_it_help.html").read_text()
    assert html.startswith("<!doctype html>") and "Survivorship bias" in html
    assert (out / "report.html").is_file() and (out / "pooled.csv").is_file()
    (out / "does_it_help.md").unlink()  # `forecast report` rebuilds the page from the files
    assert main(["report", str(out), "--no-figures"]) == 0
    assert (out / "does_it_help.md").read_text() == page


def test_covariates_in_a_plain_backtest_add_the_twins_and_compare_them(tmp_path, capsys):
    out = tmp_path / "cov"
    code = main(["backtest", "IBM", "--models", "ar", "--covariates", "market,volume,range,dow",
                 "--test-size", "40", "--refit-every", "20", "--horizons", "1",
                 "--intervals", "none", "--out", str(out), "--jobs", "1",
                 "--no-progress"])  # fmt: skip
    assert code == 0
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(dict.fromkeys(metrics.model)) == ["naive", "ar", "ar+x"]
    comparisons = pd.read_csv(out / "comparisons.csv")
    assert set(comparisons.series) == {"IBM", "all"}
    assert (comparisons.base == "ar").all() and (comparisons.test == "Clark-West").all()
    assert "Do covariates help?" in (out / "does_it_help.md").read_text()
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["covariate_groups"] == ["market", "volume", "range", "dow"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--covariates", "beta"], "covariates must be a comma-separated list of market, volume"),
        (["--cross-section", "--horizons", "5"], "horizons must be 1; got 5"),
        (["--models", "msar+x"], "model 'msar' takes no covariates"),
        (["--cross-section", "AMD", "GE"], "needs at least 2 x top_k = 6 stocks; got 2"),
        (["--costs", "5,-1"], "expected comma-separated numbers >= 0 (basis points)"),
    ],
)
def test_bad_arguments_are_one_line(argv, message, tmp_path, capsys):
    try:
        code = main(["backtest", *argv, "--out", str(tmp_path / "x"), "--jobs", "1",
                     "--no-progress"])  # fmt: skip
    except SystemExit as exc:  # argparse's own checks exit from the parser
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_a_covariate_the_universe_lacks_is_named(tmp_path, capsys):
    code = main(["backtest", "--cross-section", *STOCKS, "--top-k", "2", "--models",
                 "global_ridge", "--covariates", "volume", "--test-size", "20",
                 "--out", str(tmp_path / "v"), "--jobs", "1", "--no-progress"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "covariate 'volume' needs a Volume column; series 'AMD' has no Volume values" in err


def test_compare_configs_take_covariates_and_plus_x_models():
    from forecast.errors import ConfigError
    from forecast.workflows.compare import CompareConfig

    raw = {"covariates": ["dow", "market"], "models": {"ar": {}, "ar+x": {"max_lags": 3}}}
    config = CompareConfig.from_dict(raw)
    assert config.covariates == ("market", "dow") and config.market == "GSPC"
    plan = config.plan()
    assert plan.covariates == ("market", "dow")
    assert plan.models[1].build().get_params() == {"max_lags": 3, "covariates": True}
    with pytest.raises(ConfigError, match=r"models.ar\+x reads covariates; set covariates"):
        CompareConfig.from_dict({"models": {"ar+x": {}}})
    with pytest.raises(ConfigError, match="covariates has no effect without"):
        CompareConfig.from_dict({"covariates": ["dow"], "models": {"ar": {}}})
    with pytest.raises(ConfigError, match="model 'msar' takes no covariates"):
        CompareConfig.from_dict({"covariates": ["dow"], "models": {"msar+x": {}}})
    with pytest.raises(ConfigError, match="covariates must be a comma-separated list"):
        CompareConfig.from_dict({"covariates": ["beta"], "models": {"ar+x": {}}})


def test_the_readme_python_example():
    import forecast

    universe = forecast.load_universe(["AMD", "GE", "HD", "JNJ", "LLY", "IBM"])  # one calendar
    covariates = {
        name: forecast.build_covariates(bars, ["dow"]) for name, bars in universe.frames.items()
    }
    result, scores = forecast.cross_section_backtest(
        universe.series(), ["reversal", "global_ridge+x"], test_size=30, refit_every=15,
        covariates=covariates, settings=forecast.RankingSettings(top_k=2),
    )  # fmt: skip
    assert set(scores.ranking.model) == {"naive", "reversal", "global_ridge+x"}
    assert {"mean_ic", "nw_t", "pvalue", "holm_pvalue"} <= set(scores.ranking.columns)
    assert {"ann_return", "sharpe", "dsr"} <= set(scores.portfolio_summary.columns)
    assert len(result.forecasts) == 3 * 6 * 30


def test_the_help_constants_equal_the_library_s():
    """The cross-section's --help names defaults without loading the library: the same."""
    from forecast.cli import backtest_cross_section as cli
    from forecast.data.covariates import DEFAULT_MARKET
    from forecast.walkforward.cross_section import DEFAULT_MODELS

    assert cli.DEFAULT_MARKET == DEFAULT_MARKET
    assert cli.CROSS_SECTION_MODELS == DEFAULT_MODELS
