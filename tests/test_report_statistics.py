"""The report's answer on the verdict statistics and its "Economic value" section."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from forecast.data.series import embedded_dir, read_price_csv
from forecast.evaluation.conformal import IntervalSettings
from forecast.evaluation.economics import EconomicSettings, economic_sentences
from forecast.models import get_model
from forecast.report import build_content, write_report
from forecast.report.economics_display import reference_cost
from forecast.report.verdicts_display import case_verdicts, headline
from forecast.walkforward.engine import backtest
from forecast.walkforward.runfiles import read_run, write_run, write_run_files
from tests.helpers import DataCells, price_series

HOSTILE = "<script>alert(1)</script>"
HOSTILE_MODEL = "ar|`x`<b>"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Three series (one with a planted AR signal, one with a hostile name), four models."""
    ibm = read_price_csv(embedded_dir() / "IBM.csv").iloc[-300:]
    series = [
        ibm,
        price_series(300, phi=0.5, mu=0.0, name="PLANTED", seed=3),
        price_series(300, phi=0.0, mu=0.0, name=HOSTILE, seed=4),
    ]
    models = {"naive": get_model("naive"), "drift": get_model("drift"),
              HOSTILE_MODEL: get_model("ar", max_lags=2),
              "markov": get_model("markov")}  # fmt: skip
    result = backtest(
        series, models, horizons=(1, 3), test_size=80, refit_every=20,
        intervals=IntervalSettings("conformal", 0.8, calibration_size=40),
        economics=EconomicSettings(costs_bps=(0, 5)),
    )  # fmt: skip
    out = tmp_path_factory.mktemp("run")
    write_run(result, out)
    write_report(out)
    return out


def _html(run_dir) -> str:
    return (run_dir / "report.html").read_text(encoding="utf-8")


def _md(run_dir) -> str:
    return (run_dir / "report.md").read_text(encoding="utf-8")


def _unescape(text: str) -> str:
    return (
        text.replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    )


def test_the_pooled_answer_comes_first(run_dir):
    run = read_run(run_dir)
    lines = headline(run.metrics, run.verdicts, run.pooled_verdict, 0.05)
    n = int(run.pooled_verdict["n_tests"].iloc[0])
    assert n == 3 * 3 * 2  # series x rivals x horizons
    assert f"all {n} (series, model, horizon) tests of this run" in lines[0]
    assert lines[1].startswith("Series by series")
    assert "SPA" in lines[3] and lines[4].startswith("For comparison, the old rule")
    # the planted AR(1) signal is found, and the claim names the model with its Holm p
    planted = run.verdicts[(run.verdicts["series"] == "PLANTED") & (run.verdicts["horizon"] == 1)]
    assert HOSTILE_MODEL in planted["claim_models"].iat[0].split(",")
    assert bool(run.pooled_verdict["claim"].iat[0]) and "PLANTED h=1: " in lines[0]
    html, md = _unescape(_html(run_dir)), _md(run_dir)
    answer = html.split('id="answer"')[1].split("</section>")[0]
    assert answer.index(lines[0]) < answer.index(lines[1]) < answer.index("<table")
    assert 'class="answer beats"' in answer
    assert md.index("## The answer") < md.index("tests of this run") < md.index("Series by series")


def test_verdict_table_numbers_equal_verdicts_csv(run_dir):
    run = read_run(run_dir)
    parser = DataCells(("data-series", "data-horizon"))
    parser.feed(_html(run_dir).split('id="answer"')[1].split("</section>")[0])
    checked = 0
    for row in run.verdicts.to_dict("records"):
        for col in ("claim_pvalue", "spa_pvalue"):
            raw, text = parser.found[(row["series"], row["horizon"], col)]
            assert float(raw) == row[col] and text == (
                "<0.001" if row[col] < 0.001 else f"{row[col]:.3f}"
            )
            checked += 1
        m = run.metrics
        case = (m.series == row["series"]) & (m.horizon == row["horizon"])
        rivals = m[case & (m.model != "naive")]
        raw, _ = parser.found[(row["series"], row["horizon"], "r2_os")]
        assert float(raw) == rivals["r2_os"].max()
    assert checked == 2 * len(run.verdicts) == 12
    # the per-case sentences are the same in the table and in `forecast compare`'s lines
    for line in case_verdicts(run.metrics, run.verdicts, 0.05):
        assert line.split(": ", 1)[1] in _unescape(_html(run_dir))


def test_leaderboards_show_r2_os_and_clark_west(run_dir):
    run = read_run(run_dir)
    parser = DataCells(("data-series", "data-model", "data-horizon"))
    parser.feed(_html(run_dir))
    for row in run.metrics.to_dict("records"):
        for col in ("r2_os", "cw_pvalue"):
            key = (row["series"], row["model"], row["horizon"], col)
            if pd.isna(row[col]):
                assert key not in parser.found
            else:
                assert float(parser.found[key][0]) == row[col]
    assert "| R²\\_OS | CW p |" in _md(run_dir)


def test_economic_section_numbers_equal_the_tables(run_dir):
    run = read_run(run_dir)
    cost = reference_cost(run.economics_summary)
    assert cost == 5.0
    parser = DataCells(("data-series", "data-model", "data-horizon", "data-rule", "data-cost"))
    parser.feed(_html(run_dir))
    at = run.economics[(run.economics.cost_bps == cost) & np.isfinite(run.economics.sharpe)]
    shown = 0
    for series, part in at.groupby("series"):
        for row in part.nlargest(3, "sharpe").to_dict("records"):
            key = (series, row["model"], row["horizon"], row["rule"], "5")
            for col in ("sharpe", "bh_sharpe", "max_drawdown", "turnover", "dsr"):
                assert float(parser.found[(*key, col)][0]) == row[col], (key, col)
            shown += 1
    assert shown == 9
    summary = DataCells(("data-cost",))
    summary.feed(_html(run_dir))
    for row in run.economics_summary.to_dict("records"):
        for col in ("best_sharpe", "best_dsr", "pbo", "n_trials"):
            assert float(summary.found[(f"{row['cost_bps']:g}", col)][0]) == row[col]
    # the plain-words verdict states the DSR and the PBO
    html, md = _unescape(_html(run_dir)), _md(run_dir)
    section = html.split('id="economics"')[1].split("</section>")[0]
    for sentence in economic_sentences(run.economics_summary):
        assert sentence in section
    assert "deflated Sharpe ratio is" in section and "backtest overfitting" in section
    assert 'src="data:image/png;base64,' in section  # the equity curves
    assert (run_dir / "figures" / "economics-equity.png").is_file()
    assert md.index("## Economic value") < md.index("figures/economics-equity.png")
    assert md.index("## Economic value") < md.index("## Failures")


def test_new_sections_escape_hostile_names(run_dir):
    html, md = _html(run_dir), _md(run_dir)
    for part in ("answer", "economics"):
        section = html.split(f'id="{part}"')[1].split("</section>")[0]
        assert HOSTILE not in section and "&lt;script&gt;" in section
    assert "<b>" not in html and "ar|`x`&lt;b&gt;" in html
    assert not re.search(r"(?<!\\)[<`]", md)
    economics = md.split("## Economic value")[1].split("## Failures")[0]
    assert "\\<script\\>" in economics
    for block in re.findall(r"(?:^\|.*\n)+", md, flags=re.MULTILINE):
        widths = {len(re.findall(r"(?<!\\)\|", ln)) for ln in block.splitlines()}
        assert len(widths) == 1, block


def test_glossary_explains_the_new_terms(run_dir):
    terms = [t for t, _ in build_content(read_run(run_dir)).glossary]
    for word in ("R²_OS", "Clark-West", "Holm", "MCS", "SPA", "StepM", "deflated Sharpe",
                 "PBO", "turnover", "drawdown", "staggered books"):  # fmt: skip
        assert any(word in t for t in terms), word


def test_economics_off_is_said(tmp_path):
    series = [price_series(200, seed=1, name="A")]
    res = backtest(series, ["naive", "drift"], horizons=(1,), test_size=40, intervals=None,
                   economics=False)  # fmt: skip
    paths = write_report(write_run_files(res, tmp_path / "r"), figures=False)
    md = paths.markdown.read_text()
    assert "## Economic value\n\nThe economics were turned off for this run" in md
    assert "economics" not in {p.stem for p in (tmp_path / "r").iterdir()}
