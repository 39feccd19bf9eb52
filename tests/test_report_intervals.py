"""The report's prediction-interval section: numbers from forecasts.csv, regimes as documented."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from forecast.data.series import embedded_dir, read_price_csv
from forecast.evaluation.coverage import christoffersen_independence, coverage_test
from forecast.evaluation.metrics import METRIC_COLUMNS
from forecast.models import get_model
from forecast.models.base import BaseForecaster
from forecast.report import build_content, write_report
from forecast.report.display import fmt
from forecast.report.html import render_html
from forecast.report.intervals import (
    VOL_WINDOW,
    coverage_numbers,
    realised_volatility,
    regimes,
)
from forecast.report.markdown import render_markdown
from forecast.walkforward.engine import backtest
from forecast.walkforward.runfiles import RunFiles, read_run, write_run
from tests.helpers import DataCells, price_series

HOSTILE = "<script>alert(1)</script>"
HOSTILE_MODEL = "flat|`x`<b>"
#: the variants of the per-model tables: the model's own, unscaled ACI and the scaled ACIs
VARIANTS = ("model", "aci", "aci_ewma", "aci_garch")
#: every variant a run stores
ALL_VARIANTS = ("model", "conformal", "aci", "conformal_ewma", "aci_ewma", "conformal_garch",
                "aci_garch")  # fmt: skip
_SUFFIXES = tuple(f"_{v}" for v in ALL_VARIANTS)


class FlatForecaster(BaseForecaster):
    """The last price, with no predictive distribution (as the neural nets): no model bounds."""

    name = "flat"

    def _fit(self, y: np.ndarray) -> None:
        pass

    def _forecast(self, y: np.ndarray, horizon: int) -> np.ndarray:
        return np.full(horizon, y[-1])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Baselines on a slice of IBM and a series with a hostile name; intervals by ACI."""
    ibm = read_price_csv(embedded_dir() / "IBM.csv").iloc[-300:]
    series = [ibm, price_series(300, name=HOSTILE, seed=5, sigma=0.02)]
    models = {
        "naive": get_model("naive"),
        "drift": get_model("drift"),
        HOSTILE_MODEL: FlatForecaster(),
    }
    result = backtest(series, models, horizons=(1, 3), test_size=60, refit_every=20)
    out = tmp_path_factory.mktemp("run")
    write_run(result, out)
    write_report(out)
    return out


def _raw_forecasts(run_dir) -> pd.DataFrame:
    """forecasts.csv read with plain pandas, independently of the report's reader."""
    fc = pd.read_csv(
        run_dir / "forecasts.csv",
        dtype={"series": str, "model": str},
        keep_default_na=False,
        na_values={f"{b}{v}": [""] for b in ("lower", "upper") for v in ("", *_SUFFIXES)},
    )
    for col in ("origin", "target_date"):
        fc[col] = pd.to_datetime(fc[col])
    return fc


def _direct_regimes(fc: pd.DataFrame) -> dict[tuple[str, pd.Timestamp], str]:
    """The documented regime split, written out plainly: (series, target date) -> regime."""
    out = {}
    half = VOL_WINDOW // 2
    for series, g in fc.groupby("series"):
        prices = dict(zip(g["origin"], g["origin_price"], strict=True))
        prices.update(zip(g["target_date"], g["actual"], strict=True))
        dates = sorted(prices)
        r = [math.log(prices[b] / prices[a]) for a, b in itertools.pairwise(dates)]
        vol = {}
        for k, date in enumerate(dates[1:]):  # return k ends at dates[k + 1]
            window = r[max(0, k - half) : k + half + 1]
            vol[date] = math.sqrt(sum(x * x for x in window) / len(window))
        targets = sorted(set(g["target_date"]))
        ranked = sorted(targets, key=lambda d: (vol[d], d))
        calm = set(ranked[: (len(targets) + 1) // 2])
        out.update({(series, d): "calm" if d in calm else "turbulent" for d in targets})
    return out


def _direct_coverage(fc: pd.DataFrame) -> dict[tuple, float]:
    """(scope, series, model, horizon, variant, part) -> coverage, straight from the table."""
    regime = _direct_regimes(fc)
    fc = fc.assign(regime=[regime[k] for k in zip(fc["series"], fc["target_date"], strict=True)])
    out = {}
    for v in VARIANTS:
        lo, hi = fc[f"lower_{v}"].astype(float), fc[f"upper_{v}"].astype(float)
        ok = lo.notna() & hi.notna()
        rows = fc[ok].assign(inside=(fc["actual"] >= lo) & (fc["actual"] <= hi))
        for part in ("all", "calm", "turbulent"):
            sub = rows if part == "all" else rows[rows["regime"] == part]
            for (s, m, h), g in sub.groupby(["series", "model", "horizon"]):
                out[("series", s, m, h, v, part)] = g["inside"].sum() / len(g)
            for (m, h), g in sub.groupby(["model", "horizon"]):
                out[("pooled", "", m, h, v, part)] = g["inside"].sum() / len(g)
    return out


def test_coverage_in_the_report_equals_a_direct_computation(run_dir):
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    parser = DataCells(("data-scope", "data-series", "data-model", "data-horizon"))
    parser.feed(html)
    expected = _direct_coverage(_raw_forecasts(run_dir))
    assert len(expected) > 100
    for (scope, s, m, h, v, part), value in expected.items():
        shown, text = parser.found[(scope, s, m, h, f"coverage:{v}:{part}")]
        assert float(shown) == pytest.approx(value, rel=1e-12, abs=1e-12), (scope, s, m, h, v, part)
        assert text.split(" ")[0] == fmt("coverage", value)
    # the flat model has no distribution of its own: its cells are empty, not zero
    flat = [k for k in parser.found if k[2] == HOSTILE_MODEL and k[4].startswith("coverage:model")]
    assert not flat
    # the chosen variant is the leaderboards' coverage, which is metrics.csv's, and so are
    # its coverage tests
    metrics = read_run(run_dir).metrics
    for r in metrics.itertuples():
        key = ("series", r.series, r.model, r.horizon)
        shown, _ = parser.found[(*key, "coverage:aci_garch:all")]
        assert float(shown) == pytest.approx(r.coverage, rel=1e-12)
        for col in ("kupiec_pvalue", "ind_pvalue", "cc_pvalue"):
            value, text = parser.found[(*key, col)]
            assert float(value) == pytest.approx(getattr(r, col), rel=1e-12)
            assert text == fmt(col, getattr(r, col))


def _direct_tests(fc: pd.DataFrame) -> dict[tuple, tuple[float, float, float]]:
    """(series, model, horizon, variant) -> Kupiec, independence and cc p-values, from the
    misses of every h-th origin, with the core's tests."""
    out = {}
    for (s, m, h), g in fc.sort_values("origin").groupby(["series", "model", "horizon"]):
        for v in ALL_VARIANTS:
            lo, hi = g[f"lower_{v}"].astype(float), g[f"upper_{v}"].astype(float)
            ok = (lo.notna() & hi.notna()).to_numpy()
            if not ok.any():
                continue
            a = g["actual"].to_numpy()[ok]
            misses = ((a < lo.to_numpy()[ok]) | (a > hi.to_numpy()[ok])).astype(int)
            t = coverage_test(misses[::h], 0.2)
            out[(s, m, h, v)] = (t.p_uc, t.p_ind, t.p_cc)
    return out


def test_the_variant_comparison_equals_a_direct_computation(run_dir):
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    parser = DataCells(("data-scope", "data-variant", "data-horizon"))
    parser.feed(html)
    fc = _raw_forecasts(run_dir)
    regime = _direct_regimes(fc)
    fc = fc.assign(regime=[regime[k] for k in zip(fc["series"], fc["target_date"], strict=True)])
    tests = _direct_tests(fc)
    for h in (1, 3):
        one = fc[fc["horizon"] == h]
        base = None
        for v in ALL_VARIANTS:
            lo, hi = one[f"lower_{v}"].to_numpy(float), one[f"upper_{v}"].to_numpy(float)
            ok = np.isfinite(lo) & np.isfinite(hi)
            actual = one["actual"].to_numpy(float)[ok]
            inside = (actual >= lo[ok]) & (actual <= hi[ok])
            regimes_ = one["regime"].to_numpy()[ok]
            width = np.mean((hi[ok] - lo[ok]) / one["forecast"].to_numpy(float)[ok])
            base = width if v == "aci" else base
            got = {k[3]: float(val) for k, (val, _) in parser.found.items()
                   if k[:3] == ("compared", v, h)}  # fmt: skip
            assert got["coverage"] == pytest.approx(inside.mean(), rel=1e-12)
            for part in ("calm", "turbulent"):
                assert got[part] == pytest.approx(inside[regimes_ == part].mean(), rel=1e-12)
            assert got["width"] == pytest.approx(width, rel=1e-12)
            pairs = [p for k, p in tests.items() if k[2] == h and k[3] == v]
            for i, name in enumerate(("kupiec_pass", "ind_pass", "cc_pass")):
                share = np.mean([p[i] > 0.05 for p in pairs])
                assert got[name] == pytest.approx(share, rel=1e-12), (v, h, name)
        # the ratio to unscaled ACI's width, for the chosen one
        got = {k[3]: float(val) for k, (val, _) in parser.found.items()
               if k[:3] == ("compared", "aci_garch", h)}  # fmt: skip
        assert got["width_ratio"] == pytest.approx(got["width"] / base, rel=1e-12)


def test_markdown_shows_the_same_coverage(run_dir):
    md = (run_dir / "report.md").read_text(encoding="utf-8")
    expected = _direct_coverage(_raw_forecasts(run_dir))
    pooled = md.split("### Coverage, every series pooled")[1].split("#### Horizon 1")[1]
    line = next(ln for ln in pooled.splitlines() if ln.startswith("| drift |"))
    cells = [c.strip().split(" ")[0] for c in line.strip("|").split("|")]
    parts = [(v, p) for v in VARIANTS for p in ("all", "calm", "turbulent")]
    for cell, (v, p) in zip(cells[2:], parts, strict=True):
        assert cell == fmt("coverage", expected[("pooled", "", "drift", 1, v, p)])


def test_headline_states_the_chosen_coverage_in_plain_words(run_dir):
    content = build_content(read_run(run_dir))
    fc = _raw_forecasts(run_dir)
    regime = _direct_regimes(fc)
    one = fc[fc["horizon"] == 1]
    inside = (one["actual"] >= one["lower_aci_garch"]) & (one["actual"] <= one["upper_aci_garch"])
    turbulent = [
        regime[k] == "turbulent" for k in zip(one["series"], one["target_date"], strict=True)
    ]
    lead = content.intervals.headline[0]
    assert lead.startswith(
        f"80% intervals by adaptive conformal (ACI) scaled by GARCH(1,1)-t, this run's method, "
        f"covered {fmt('coverage', inside.mean())} of the outcomes at h=1 (calm half "
        f"{fmt('coverage', inside[~np.array(turbulent)].mean())}, turbulent half "
        f"{fmt('coverage', inside[np.array(turbulent)].mean())})"
    )
    numbers = coverage_numbers(read_run(run_dir))
    calibrated = numbers.calibrated_in_both_halves("aci_garch")
    assert (
        lead.endswith(
            ": calibrated in both halves (each inside 75% to 85% at every horizon)."
            if calibrated
            else ")."
        )
        and ("not calibrated in both halves" in lead) != calibrated
    )
    assert any("with ACI GARCH against" in line for line in content.intervals.headline)
    assert content.intervals.headline[-1].startswith(
        "Misses of the chosen intervals at h=1: Christoffersen's independence test"
    )
    assert any("75% to 85%" in line for line in content.intervals.headline)
    html = (run_dir / "report.html").read_text(encoding="utf-8").replace("&#39;", "'")
    assert lead in html and 'id="intervals"' in html
    assert (run_dir / "figures" / "coverage.png").is_file()
    assert (run_dir / "figures" / "rolling-coverage-h1.png").is_file()


def _hand_made(n_dates: int = 60) -> pd.DataFrame:
    """One series, one model, horizon 1: calm returns (0.1%) then turbulent ones (3%).

    The returns alternate in sign so that every squared return of a half is equal: the
    realised volatility then rises with each turbulent return the window takes in.
    """
    calm = n_dates // 2
    size = np.where(np.arange(n_dates) < calm, 0.001, 0.03)
    r = size * np.where(np.arange(n_dates) % 2, 1, -1)
    prices = 100 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    dates = pd.bdate_range("2020-01-01", periods=n_dates + 1)
    fc = pd.DataFrame(
        {
            "series": "S",
            "model": "m",
            "origin": dates[:-1],
            "horizon": 1,
            "target_date": dates[1:],
            "forecast": prices[:-1],
            "actual": prices[1:],
            "origin_price": prices[:-1],
        }
    )
    # the interval holds every calm outcome and every other turbulent one
    wide = np.where(np.arange(n_dates) < calm, 0.02, np.where(np.arange(n_dates) % 2, 0.05, 0.0))
    for v in ("model", "conformal", "aci"):
        fc[f"lower_{v}"] = fc["forecast"] * (1 - wide)
        fc[f"upper_{v}"] = fc["forecast"] * (1 + wide)
    fc["lower"], fc["upper"] = fc["lower_aci"], fc["upper_aci"]
    return fc


def _hand_run(fc: pd.DataFrame, tmp_path) -> RunFiles:
    metrics = pd.DataFrame([{c: np.nan for c in METRIC_COLUMNS}])
    metrics[["series", "model", "horizon", "n"]] = ["S", "m", 1, len(fc)]
    config = {"test_size": len(fc), "refit_every": 20, "intervals": {"method": "aci", "level": 0.8}}
    run = {"config": config, "series": [], "timings": [], "failures": []}
    return RunFiles(tmp_path, fc, metrics, run)


@pytest.mark.parametrize("n_dates", [60, 61])
def test_regime_split_is_the_documented_one(n_dates):
    fc = _hand_made(n_dates)
    reg = regimes(fc).set_index("target_date")
    calm_dates = fc["target_date"][: n_dates // 2]
    # the calm returns come first: the lower half of the volatility ranking is exactly them
    # (for an odd count the middle date counts as calm: one turbulent date joins)
    assert (reg["regime"] == "calm").sum() == (n_dates + 1) // 2
    assert (reg.loc[calm_dates, "regime"] == "calm").all()
    assert reg["regime"].iloc[-1] == "turbulent"
    # realised volatility: the RMS of the 21 returns centred on the date, fewer at the ends
    path = pd.Series(
        np.r_[fc["origin_price"].iat[0], fc["actual"]],
        index=np.r_[fc["origin"].iat[0], fc["target_date"]],
    )
    r = np.diff(np.log(path.to_numpy()))
    vol = realised_volatility(path)
    assert vol.iloc[30] == pytest.approx(np.sqrt(np.mean(r[20:41] ** 2)))
    assert vol.iloc[0] == pytest.approx(np.sqrt(np.mean(r[:11] ** 2)))


def test_coverage_per_half_on_the_hand_made_table(tmp_path):
    numbers = coverage_numbers(_hand_run(_hand_made(60), tmp_path))
    o = numbers.overall.set_index(["variant", "regime"])
    assert o.loc[("aci", "calm"), "coverage"] == 1.0
    assert o.loc[("aci", "turbulent"), "coverage"] == 0.5
    assert o.loc[("aci", "all"), "coverage"] == 0.75
    assert o.loc[("aci", "calm"), "n"] == 30
    content = build_content(_hand_run(_hand_made(60), tmp_path))
    assert content.intervals.headline[0] == (
        "80% intervals by adaptive conformal (ACI), this run's method, covered 75.0% of the "
        "outcomes at h=1 (calm half 100.0%, turbulent half 50.0%), over 1 model and 1 series "
        "pooled: not calibrated in both halves (outside 75% to 85%: the calm half at h=1 "
        "(100.0%), the turbulent half at h=1 (50.0%))."
    )
    assert not numbers.calibrated_in_both_halves("aci")
    # misses at 30 alternate turbulent dates: 1 hit then 1 miss, strongly dependent
    tests = numbers.tests.set_index("variant")
    misses = np.r_[np.zeros(30, int), np.arange(30, 60) % 2 == 0].astype(int)
    assert tests.loc["aci", "n"] == 60
    assert tests.loc["aci", "ind_pvalue"] == christoffersen_independence(misses)[1] < 0.01


def test_run_without_intervals_still_reports(tmp_path):
    result = backtest(price_series(200, name="S"), ["naive", "drift"], test_size=40, intervals=None)
    write_run(result, tmp_path)
    paths = write_report(tmp_path)
    html = paths.html.read_text(encoding="utf-8")
    md = paths.markdown.read_text(encoding="utf-8")
    sentence = "Prediction intervals were off in this run (intervals: none)"
    assert sentence in html and sentence in md
    assert 'id="intervals"' not in html and "## Prediction intervals" not in md
    assert 'data-metric="coverage"' not in html and "| Winkler |" not in md
    assert not (tmp_path / "figures" / "coverage.png").exists()


def test_old_run_files_without_interval_columns_still_report(run_dir):
    """A run from before intervals: no bound columns, no coverage metrics, no setting."""
    run = read_run(run_dir)
    fc = run.forecasts[[c for c in run.forecasts if "lower" not in c and "upper" not in c]]
    metrics = run.metrics.drop(columns=["coverage", "width", "winkler", "kupiec_pvalue",
                                        "ind_pvalue", "cc_pvalue"])  # fmt: skip
    info = dict(run.run, config={k: v for k, v in run.run["config"].items() if k != "intervals"})
    content = build_content(RunFiles(run_dir, fc, metrics, info))
    assert content.intervals is None and "hold no prediction intervals" in content.intervals_off
    html, md = render_html(content, []), render_markdown(content, [])
    assert "hold no prediction intervals" in html and "hold no prediction intervals" in md
    assert 'id="intervals"' not in html


def test_hostile_names_stay_escaped_in_the_interval_section(run_dir):
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    md = (run_dir / "report.md").read_text(encoding="utf-8")
    section = html.split('<section id="intervals">')[1].split("</section>")[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;, horizon 1" in section
    assert "flat|`x`&lt;b&gt;" in section and "<b>" not in section and "<script" not in section
    part = md.split("## Prediction intervals")[1].split("## Failures")[0]
    assert "\\<script\\>alert(1)\\</script\\>, horizon 1" in part
    assert "| flat\\|\\`x\\`\\<b\\> |" in part


def test_a_run_folder_from_before_intervals_still_reports(tmp_path):
    """metrics.csv without coverage/width/winkler and forecasts without bounds: still read."""
    from helpers import price_series

    from forecast.report import write_report
    from forecast.walkforward.engine import backtest as run_backtest
    from forecast.walkforward.runfiles import read_run, write_run

    res = run_backtest(price_series(200), ["drift"], horizons=1, test_size=30, intervals=None)
    res.metrics = res.metrics.drop(
        columns=["coverage", "width", "winkler", "kupiec_pvalue", "ind_pvalue", "cc_pvalue"]
    )
    out = write_run(res, tmp_path / "old")
    run = read_run(out)
    assert run.metrics["coverage"].isna().all()
    paths = write_report(out, figures=False)
    assert paths.html.exists() and paths.markdown.exists()
    assert "intervals" in paths.markdown.read_text().lower()
