"""``forecast backtest --target volatility`` end to end, its errors and leakage canary; the
report's volatility section (standalone and inside a compare run); ``compare``'s table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.cli import main
from forecast.cli.backtest_volatility import PROXY_CHOICES
from forecast.data.series import embedded_dir
from forecast.errors import ConfigError
from forecast.report import write_report
from forecast.walkforward.volatility import backtest_volatility
from forecast.walkforward.volatility_files import SUBFOLDER, write_volatility_run
from forecast.walkforward.volatility_walk import PROXY_CHOICES as ENGINE_PROXIES
from forecast.workflows.compare import CompareConfig, compare

IBM = str(embedded_dir() / "IBM.csv")
ARGS = ["--test-size", "30", "--refit-every", "10", "--no-progress"]


def _vol(tmp_path, *extra: str, out: str = "run") -> tuple[int, str]:
    code = main(["backtest", "--target", "volatility", *ARGS, "--out", str(tmp_path / out),
                 *extra])  # fmt: skip
    return code, str(tmp_path / out)


def test_backtest_target_volatility_end_to_end(tmp_path, capsys):
    code, out = _vol(tmp_path, "--csv", IBM, "--models", "ewma,har")
    assert code == 0
    printed = capsys.readouterr()
    assert "rel_qlike" in printed.out and "har" in printed.out
    assert "open/high/low/close" in printed.err  # where the prices came from and what they hold
    fc = pd.read_csv(f"{out}/forecasts.csv")
    assert set(fc.model) == {"naive", "ewma", "har"} and (fc.proxy == "yang_zhang").all()
    assert (fc[fc.model == "naive"].horizon == 1).sum() == 30
    run = json.loads(Path(out, "run.json").read_text())
    assert run["target"] == "volatility" and run["config"]["test_size"] == 30
    assert run["series"][0]["proxy"] == "yang_zhang" and run["versions"]["arch"]
    html = Path(out, "report.html").read_text()
    assert "Volatility and Value-at-Risk" in html and "Can volatility be forecast" in html
    assert "data:image/png;base64," in html and "<script" not in html
    md = Path(out, "report.md").read_text()
    assert "## Volatility and Value-at-Risk" in md and "figures/volatility-h1.png" in md
    assert "Kupiec" in md and "Christoffersen" in md and "QLIKE" in md
    # forecast report rebuilds it from the files alone
    assert main(["report", out]) == 0
    assert Path(out, "report.md").read_text() == md


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--target", "volatility", "--intervals", "aci"], "--intervals applies to price"),
        (["--target", "volatility", "--level", "0.9"], "--level applies to price"),
        (["--proxy", "parkinson"], "--proxy applies to --target volatility"),
        (["--target", "volatility", "--models", "ar"], "unknown volatility model 'ar'"),
        (["--target", "volatility", "--models", "har", "--horizons", "0"], "horizons must be"),
    ],
)
def test_option_errors_are_one_line_exit_2(argv, message, tmp_path, capsys):
    code = main(["backtest", "--csv", IBM, *ARGS, "--out", str(tmp_path / "x"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_a_close_only_csv_uses_squared_returns_and_refuses_a_range_proxy(tmp_path, capsys):
    pd.read_csv(IBM)[["Date", "Close"]].to_csv(tmp_path / "c.csv", index=False)
    code, out = _vol(tmp_path, "--csv", str(tmp_path / "c.csv"), "--models", "har",
                     "--no-report")  # fmt: skip
    assert code == 0 and (pd.read_csv(f"{out}/forecasts.csv").proxy == "squared_returns").all()
    assert "close only" in capsys.readouterr().err
    code, _ = _vol(tmp_path, "--csv", str(tmp_path / "c.csv"), "--proxy", "yang_zhang", out="y")
    assert code == 2 and "proxy 'yang_zhang' needs Open, High and Low" in capsys.readouterr().err


def test_cli_leakage_canary(tmp_path):
    """The CLI on a CSV whose prices after a cutoff changed: no earlier forecast moves."""
    df = pd.read_csv(IBM)
    k = len(df) - 12
    factor = np.exp(np.random.default_rng(1).normal(0, 0.05, len(df) - k))
    for c in ["Open", "High", "Low", "Close", "Adj Close"]:
        df.loc[k:, c] = df.loc[k:, c] * factor
    df.to_csv(tmp_path / "changed.csv", index=False)
    models = ["--models", "naive,ewma,garch,gjr,har,msrv", "--no-report"]
    assert _vol(tmp_path, "--csv", IBM, *models, out="a")[0] == 0
    assert _vol(tmp_path, "--csv", str(tmp_path / "changed.csv"), *models, out="b")[0] == 0
    cut = pd.Timestamp(df["Date"][k])
    keys = ["model", "origin", "horizon"]
    cols = ["variance_forecast", "var_1", "var_5", "var_1_t", "var_5_t"]
    a, b = (pd.read_csv(tmp_path / x / "forecasts.csv", parse_dates=["origin"]) for x in "ab")
    a, b = (f[f.origin < cut].set_index(keys).sort_index()[cols] for f in (a, b))
    assert len(a) > 0 and a.index.equals(b.index)
    assert (a.to_numpy() == b.to_numpy()).all()


def test_the_cli_proxy_choices_are_the_engines():
    assert PROXY_CHOICES == ENGINE_PROXIES


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """A volatility run of two series, one close-only and named to break markup."""
    ibm = pd.read_csv(IBM, index_col="Date", parse_dates=True).iloc[-400:]
    closes = ibm["Adj Close"].rename("<b>x|y</b>")
    ibm.attrs["name"] = "IBM"
    result = backtest_volatility([ibm, closes], ["naive", "ewma", "har"], test_size=40,
                                 reps=50)  # fmt: skip
    return write_volatility_run(result, tmp_path_factory.mktemp("v") / "run")


def test_the_volatility_report_escapes_names_and_says_which_proxy(hostile_run):
    paths = write_report(hostile_run.path)
    html, md = paths.html.read_text(), paths.markdown.read_text()
    assert "<b>x|y</b>" not in html and "&lt;b&gt;x|y&lt;/b&gt;" in html
    assert "\\<b\\>x\\|y\\</b\\>" in md  # no pipe splits a cell, no tag opens
    assert (
        "squared daily log returns (close only) on <b>x|y</b>" in (md.replace("\\", ""))
        and "Yang-Zhang (open, high, low and close) on IBM" in md
    )
    assert {p.name for p in paths.figures} == {
        "volatility-h1.png", "volatility-h5.png", "var-exceptions-h1.png",
        "var-exceptions-h5.png",
    }  # fmt: skip
    for term in ("QLIKE", "Kupiec p", "Christoffersen p", "MCS (model confidence set)"):
        assert f"**{term}**" in md.replace("\\", "")


def test_a_compare_run_with_a_volatility_table_shows_its_section(tmp_path):
    raw = {
        "series": ["IBM"], "test_size": 30, "refit_every": 15, "intervals": "none", "jobs": 1,
        "models": {"naive": {}, "drift": {}},
        "volatility": {"reps": 50, "models": {"ewma": {}, "har": {}}},
    }  # fmt: skip
    config = CompareConfig.from_dict(raw, source="test.toml")
    done = compare(config, tmp_path / "run", progress=False)
    assert (tmp_path / "run" / SUBFOLDER / "forecasts.csv").is_file()
    assert set(done.volatility.result.metrics["model"]) == {"naive", "ewma", "har"}
    md = (tmp_path / "run" / "report.md").read_text()
    assert (
        md.index("## Figures")
        < md.index("## Volatility and Value-at-Risk")
        < md.index("## The run")
    )
    html = (tmp_path / "run" / "report.html").read_text()
    assert '<a href="#volatility">Volatility</a>' in html and 'id="volatility"' in html
    assert "Does any model beat the random walk?" in html  # the price report is all there
    # without the table, no section and no folder
    price_only = {k: v for k, v in raw.items() if k != "volatility"}
    plain = compare(CompareConfig.from_dict(price_only, source="t"), tmp_path / "p", progress=False)
    assert plain.volatility is None and not (tmp_path / "p" / SUBFOLDER).exists()
    assert 'id="volatility"' not in (tmp_path / "p" / "report.html").read_text()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"models": {"arima": {}}}, "volatility.models.arima: unknown volatility model"),
        ({"models": {"har": {"lags": 3}}}, "volatility.models.har.lags: unknown parameter"),
        ({"models": {"ewma": {"decay": 2.0}}}, r"decay must be a number in \(0, 1\)"),
        ({"models": {"har": {}}, "proxy": "range"}, "volatility.proxy must be one of auto"),
        ({"models": {"har": {}}, "window": 3}, "unknown key 'window'"),
        ({"proxy": "auto"}, "volatility needs model tables"),
    ],
)
def test_compare_volatility_table_errors_name_the_key(table, message):
    raw = {"models": {"naive": {}}, "volatility": table}
    with pytest.raises(ConfigError, match=message):
        CompareConfig.from_dict(raw, source="c.toml")


def test_the_shipped_compare_config_runs_the_econometric_models():
    config = CompareConfig.from_toml()
    names = [m.name for m in config.volatility.models]
    assert names == ["naive", "ewma", "garch", "gjr", "har", "msrv"]  # the nets: commented out
    assert config.volatility.config.horizons == config.backtest.horizons


def test_readme_volatility_api_example(tmp_path):
    import forecast

    frame = forecast.load_price_frame("GSPC")  # Open, High, Low, Close, Adj Close
    vol = forecast.backtest_volatility(frame, ["ewma", "garch", "har"], test_size=60, reps=50)
    m = vol.metrics.set_index(["model", "horizon"])
    assert m.loc[("naive", 1), "rel_qlike"] == 1.0 and 0 <= m.loc[("har", 1), "var_1_p_uc"] <= 1
    run = forecast.write_volatility_run(vol, tmp_path / "vol")
    paths = forecast.write_report(run.path, figures=False)
    assert "Volatility and Value-at-Risk" in paths.markdown.read_text()
    garch = forecast.get_volatility_model("garch").fit(frame.loc[:"2018-06-29"])
    later = garch.predict_variance(5, history=frame.loc[:"2018-07-31"])
    assert len(later) == 5 and (later > 0).all()
