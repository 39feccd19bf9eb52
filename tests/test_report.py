"""The comparison report: numbers equal to metrics.csv, self-contained, escaped, honest."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat

import numpy as np
import pandas as pd
import pytest

from forecast.cli import main
from forecast.data.series import embedded_dir, read_price_csv
from forecast.errors import DataError
from forecast.models import get_model
from forecast.models.base import BaseForecaster
from forecast.report import build_content, write_report
from forecast.report.display import fmt
from forecast.report.tables import summary, verdict
from forecast.walkforward.engine import backtest
from forecast.walkforward.runfiles import read_run, write_run
from tests.helpers import DataCells, price_series

HOSTILE = "<script>alert(1)</script>"
HOSTILE_MODEL = "ar|`x`<b>"
HOSTILE_ERROR = '<img src=x onerror="alert(2)">'


class BrokenForecaster(BaseForecaster):
    """Fails on every fit, with markup in its message."""

    name = "broken"

    def _fit(self, y: np.ndarray) -> None:
        raise ValueError(HOSTILE_ERROR)

    def _forecast(self, y: np.ndarray, horizon: int) -> np.ndarray:  # pragma: no cover
        return np.full(horizon, y[-1])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A small run with a hostile series name, a hostile model name and a failing model."""
    ibm = read_price_csv(embedded_dir() / "IBM.csv").iloc[-400:]
    series = [ibm, price_series(300, name=HOSTILE, seed=3), price_series(300, name="NA", seed=4)]
    models = {
        "naive": get_model("naive"),
        "drift": get_model("drift"),
        HOSTILE_MODEL: get_model("ar", max_lags=2),
        "broken": BrokenForecaster(),
    }
    result = backtest(series, models, horizons=(1, 3), test_size=30, refit_every=10)
    out = tmp_path_factory.mktemp("run")
    write_run(result, out, arguments={"note": HOSTILE})
    write_report(out)
    return out


def _html(run_dir) -> str:
    return (run_dir / "report.html").read_text(encoding="utf-8")


def _md(run_dir) -> str:
    return (run_dir / "report.md").read_text(encoding="utf-8")


def test_leaderboard_numbers_equal_metrics_csv(run_dir):
    parser = DataCells(("data-series", "data-model", "data-horizon"))
    parser.feed(_html(run_dir))
    metrics = read_run(run_dir).metrics
    columns = ["n", "rel_mae", "rel_rmse", "mase", "direction_acc", "pt_pvalue", "dm_stat"]
    columns += ["coverage", "width", "winkler"]  # of the chosen intervals (ACI by default)
    checked = 0
    for row in metrics.to_dict("records"):
        for col in [*columns, "dm_pvalue"]:
            key = (row["series"], row["model"], int(row["horizon"]), col)
            value = row[col]
            if pd.isna(value):
                assert key not in parser.found  # a missing number has no data-value
                continue
            raw, text = parser.found[key]
            assert float(raw) == float(value), key  # exact: repr round-trips a float
            if col == "coverage":  # marked when outside the 75-85% band
                mark = " ▼" if value < 0.75 else " ▲" if value > 0.85 else ""
                assert text == fmt(col, value) + mark, key
            else:
                assert text == fmt(col, value), key
            checked += 1
    assert checked > 100
    # the raw CSV and the report agree too, not only the parsed frames
    assert set(pd.read_csv(run_dir / "metrics.csv", keep_default_na=False)["series"]) == {
        "IBM",
        HOSTILE,
        "NA",
    }


def test_markdown_tables_carry_the_same_numbers(run_dir):
    md = _md(run_dir)
    metrics = read_run(run_dir).metrics
    row = metrics[(metrics.series == "IBM") & (metrics.model == "drift") & (metrics.horizon == 1)]
    board = md.split("**IBM, horizon 1**")[1]
    line = next(ln for ln in board.splitlines() if ln.startswith("| drift |"))
    cells = [c.strip().strip("*").removesuffix(" ✓").removesuffix(" ✗") for c in line.split("|")]
    assert cells[2] == fmt("n", row.n.iat[0])
    assert cells[3] == fmt("rel_mae", row.rel_mae.iat[0])
    assert cells[4] == fmt("rel_rmse", row.rel_rmse.iat[0])
    # a pipe in a model name is escaped: every row of every table has its header's cells
    assert "| ar\\|\\`x\\`\\<b\\> |" in md
    for block in re.findall(r"(?:^\|.*\n)+", md, flags=re.MULTILINE):
        widths = {len(re.findall(r"(?<!\\)\|", ln)) for ln in block.splitlines()}
        assert len(widths) == 1, block


def test_html_is_self_contained(run_dir):
    html = _html(run_dir)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert "@import" not in html and "url(" not in html
    sources = re.findall(r'src="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    png = (run_dir / "figures" / "timing.png").read_bytes()
    assert b"http" not in png  # no software URL hides in the figure files either


def test_hostile_strings_are_text(run_dir):
    html, md = _html(run_dir), _md(run_dir)
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>" not in html and "ar|`x`&lt;b&gt;" in html
    assert HOSTILE_ERROR not in html and "&lt;img src=x onerror=" in html
    assert HOSTILE not in md and "\\<script\\>alert(1)\\</script\\>" in md
    # no unescaped markup or code span opens anywhere in the Markdown
    assert not re.search(r"(?<!\\)[<`]", md)
    assert "\\<img src=x" in md
    # the series named "NA" is a series, not a missing value
    assert 'data-series="NA"' in html


def test_failures_are_listed_not_hidden(run_dir):
    html = _html(run_dir)
    failures = html.split('id="failures"')[1].split("</section>")[0]
    assert failures.count("<tr") == 1 + 3  # header + broken on each of the 3 series
    assert "3 of 3" in failures and "ValueError" in failures
    assert "failed on every fold" in html


def test_headline_is_honest_when_nothing_wins(run_dir):
    metrics = read_run(run_dir).metrics
    lines = summary(metrics)
    beat = metrics[(metrics.dm_stat < 0) & (metrics.dm_pvalue < 0.05)]
    if beat.empty:
        assert lines[0].startswith("No model beats the random walk significantly (5% level)")
    assert f"made {int(metrics.dm_pvalue.notna().sum())} Diebold-Mariano tests" in lines[-1]
    content = build_content(read_run(run_dir))
    assert content.summary[0] in _html(run_dir).replace("&#39;", "'")


def _metrics(rows: list[tuple]) -> pd.DataFrame:
    cols = ["series", "model", "horizon", "n", "rel_rmse", "dm_stat", "dm_pvalue"]
    return pd.DataFrame(rows, columns=cols)


@pytest.mark.parametrize(
    ("rows", "outcome", "words"),
    [
        (
            [("S", "naive", 1, 9, 1.0, np.nan, np.nan), ("S", "ar", 1, 9, 0.95, -2.5, 0.01)],
            "beats",
            "ar beats the random walk: its RMSE is 5.00% lower, significant at 5% "
            "(Diebold-Mariano p = 0.010).",
        ),
        (
            [("S", "naive", 1, 9, 1.0, np.nan, np.nan), ("S", "ar", 1, 9, 0.99, -1.0, 0.3)],
            "ahead",
            "but the difference is not significant at 5% (Diebold-Mariano p = 0.300). No model "
            "beats the random walk significantly at 5%.",
        ),
        (
            [("S", "naive", 1, 9, 1.0, np.nan, np.nan), ("S", "ar", 1, 9, 1.02, 2.5, 0.02)],
            "behind",
            "No model beats the random walk: the best, ar, has an RMSE 2.00% higher, "
            "significantly so at 5%",
        ),
        (
            [
                ("S", "naive", 1, 9, 1.0, np.nan, np.nan),
                ("S", "ar", 1, 9, 0.98, -1.0, 0.3),
                ("S", "drift", 1, 9, 0.99, -3.0, 0.004),
            ],
            "beats",
            "Beating the random walk significantly: drift (RMSE 1.00% lower, p = 0.004).",
        ),
        (
            [("S", "naive", 1, 9, 1.0, np.nan, np.nan), ("S", "ar", 1, 0, np.nan, np.nan, np.nan)],
            "none",
            "no model other than the random walk produced forecasts",
        ),
    ],
)
def test_verdict_in_plain_words(rows, outcome, words):
    v = verdict(_metrics(rows), "S", 1)
    assert v.outcome == outcome
    assert words in v.text


def test_report_command_and_rerun_without_figures(run_dir, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    assert main(["report", str(copy), "--no-figures", "--alpha", "0.1"]) == 0
    assert str(copy / "report.html") in capsys.readouterr().out
    assert not list((copy / "figures").glob("*.png"))  # stale figures are removed
    html = (copy / "report.html").read_text(encoding="utf-8")
    # the claims are restated at the report's level from the stored p-values
    assert "(10% level" in html and "restated at 10% from the stored p-values" in html
    assert "significantly at 10%" in html  # the leaderboards' DM marks


@pytest.mark.parametrize(
    ("damage", "file", "words"),
    [
        (lambda d: (d / "forecasts.csv").unlink(), "forecasts.csv", "missing"),
        (lambda d: (d / "run.json").write_text("{not json"), "run.json", "not valid JSON"),
        (
            lambda d: (d / "metrics.csv").write_text(
                (d / "metrics.csv").read_text().replace(",1.0,1.0,", ",1.0,abc,", 1)
            ),
            "metrics.csv",
            "non-numeric value 'abc'",
        ),
        (
            lambda d: (d / "run.json").write_text(
                json.dumps(
                    {
                        k: v
                        for k, v in json.loads((d / "run.json").read_text()).items()
                        if k != "timings"
                    }
                )
            ),
            "run.json",
            "'timings' must be a list",
        ),
        (
            lambda d: (d / "forecasts.csv").write_text("series,model\nA,b\n"),
            "forecasts.csv",
            "missing columns",
        ),
    ],
)
def test_damaged_run_folder_names_the_file(run_dir, tmp_path, capsys, damage, file, words):
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("forecasts.csv", "metrics.csv", "run.json"):
        shutil.copy(run_dir / name, copy / name)
    damage(copy)
    with pytest.raises(DataError, match=re.escape(file)) as info:
        write_report(copy, figures=False)
    assert words in str(info.value)
    assert main(["report", str(copy)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and file in err[0] and "Traceback" not in err[0]


def test_bad_alpha_is_refused(run_dir):
    with pytest.raises(ValueError, match=r"alpha must be a number between 0 and 1 .*; got 5"):
        write_report(run_dir, alpha=5)


def test_report_files_get_the_usual_permissions(run_dir):
    mask = os.umask(0)
    os.umask(mask)
    for name in ("report.html", "report.md", "metrics.csv"):
        assert stat.S_IMODE((run_dir / name).stat().st_mode) == 0o666 & ~mask, name
