"""The report's interval numbers: coverage per variant, horizon and volatility regime.

Pure functions of a run folder's files, like :mod:`forecast.report.tables`, with the rules
stated here once (the glossary repeats them in plain words):

- a forecast point is *covered* by a variant when ``lower_v <= actual <= upper_v``; points
  where the variant has no interval (NaN: a model without a predictive distribution, or a
  conformal interval with too few past errors) are left out of that variant's numbers, as in
  :func:`forecast.evaluation.conformal.interval_scores`, so that the chosen variant's coverage
  equals
  ``metrics.csv``;
- the *tolerance band* is the nominal level plus or minus :data:`TOLERANCE` (5 points);
  a coverage outside it is marked. Its sampling error is stated beside it: the binomial
  standard error ``sqrt(p (1 - p) / n)`` at the nominal ``p``;
- the *regime split*: per series, the price path of the test period is rebuilt from
  ``forecasts.csv`` (origin prices and actuals), its one-step log returns give a realised
  volatility at each date (root mean square of the :data:`VOL_WINDOW` returns centred on the
  date, fewer at the ends), and the series' target dates are ranked by it: the lower half is
  *calm*, the upper half *turbulent* (the middle date of an odd count is calm). A forecast
  takes the regime of its target date. The split looks at returns after the target: it
  classifies the past for the evaluation, it is not something a forecaster could have known;
- the *coverage tests* of a variant on one series, model and horizon are Kupiec's and
  Christoffersen's on its misses (:func:`forecast.evaluation.metrics.interval_tests`: every
  ``h``-th origin for ``h > 1``); a variant *passes* a test there when its p-value exceeds
  :data:`TEST_ALPHA`, and the comparison counts the share of series-model pairs that pass;
- a variant is *calibrated in both halves* when its pooled coverage of the calm half and of
  the turbulent half are both inside the tolerance band at every horizon.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.evaluation.conformal import SCALES, variant_name
from forecast.evaluation.metrics import COVERAGE_TEST_COLUMNS, interval_tests
from forecast.walkforward.runfiles import RunFiles

#: the interval variants a run may store, in report order
VARIANTS = (
    "model",
    *(variant_name(m, s) for s in SCALES for m in ("conformal", "aci")),
)
_METHOD_NAMES = {
    "model": "the model's own distribution",
    "conformal": "plain conformal",
    "aci": "adaptive conformal (ACI)",
}
_SCALE_NAMES = {"ewma": "EWMA (RiskMetrics)", "garch": "GARCH(1,1)-t"}
_METHOD_SHORT = {"model": "model dist.", "conformal": "conformal", "aci": "ACI"}
_SCALE_SHORT = {"ewma": "EWMA", "garch": "GARCH"}


def _parts(variant: str) -> tuple[str, str]:
    method, _, scale = variant.partition("_")
    return method, scale or "none"


#: how the report names each variant in sentences and in table headers
VARIANT_NAMES = {
    v: _METHOD_NAMES[_parts(v)[0]]
    + (f" scaled by {_SCALE_NAMES[_parts(v)[1]]}" if _parts(v)[1] != "none" else "")
    for v in VARIANTS
}
VARIANT_SHORT = {
    v: _METHOD_SHORT[_parts(v)[0]]
    + (f" {_SCALE_SHORT[_parts(v)[1]]}" if _parts(v)[1] != "none" else "")
    for v in VARIANTS
}
#: the unscaled adaptive conformal interval: the yardstick of the scaled ones' width
BASELINE = "aci"
#: a coverage test passes when its p-value is above this
TEST_ALPHA = 0.05
#: half-width of the tolerance band around the nominal level (5 points)
TOLERANCE = 0.05
#: returns in the centred realised-volatility window (a trading month)
VOL_WINDOW = 21
REGIMES = ("calm", "turbulent")
#: the interval metrics of ``metrics.csv`` (for the chosen variant)
INTERVAL_METRICS = ("coverage", "width", "winkler")


@dataclass(frozen=True)
class IntervalRun:
    """What a run says about its intervals.

    Attributes
    ----------
    method
        The chosen variant (``lower, upper`` in ``forecasts.csv``), from ``run.json``.
    level
        Nominal coverage.
    variants
        The variants whose bound columns ``forecasts.csv`` holds, in :data:`VARIANTS` order.
    """

    method: str
    level: float
    variants: tuple[str, ...]

    @property
    def band(self) -> tuple[float, float]:
        """The tolerance band ``(level - TOLERANCE, level + TOLERANCE)``."""
        return self.level - TOLERANCE, self.level + TOLERANCE

    @property
    def shown(self) -> tuple[str, ...]:
        """The variants of the per-model tables: the model's distribution, unscaled ACI,
        every scaled ACI and the chosen one (every variant is in the comparison table)."""
        wanted = {"model", BASELINE, self.method} | {v for v in self.variants if "aci_" in v}
        return tuple(v for v in self.variants if v in wanted)


def interval_run(run: RunFiles) -> IntervalRun | None:
    """The run's interval settings, or ``None`` when its files hold no intervals."""
    settings = run.run["config"].get("intervals")
    if not isinstance(settings, dict):
        return None
    try:
        level = float(settings["level"])
    except (KeyError, TypeError, ValueError):
        return None
    fc = run.forecasts
    variants = tuple(v for v in VARIANTS if f"lower_{v}" in fc and f"upper_{v}" in fc)
    if not variants or fc.empty or not 0 < level < 1:
        return None
    # runs made before volatility scaling have no scale: unscaled
    method = variant_name(str(settings.get("method", "?")), str(settings.get("scale", "none")))
    return IntervalRun(method, level, variants)


def intervals_off_sentence(run: RunFiles) -> str:
    """Why a run without intervals has none, in one sentence."""
    config = run.run["config"]
    if "intervals" in config and config["intervals"] is None:
        return (
            "Prediction intervals were off in this run (intervals: none): there is no "
            "coverage, width or Winkler score to report."
        )
    if interval_run(run) is not None:
        return (
            "Prediction intervals were on in this run, but no forecast has one (too few past "
            "errors to calibrate them?): there is no coverage to report."
        )
    return (
        "The run files hold no prediction intervals (the run was made before they existed, "
        "or without them): there is no coverage, width or Winkler score to report."
    )


def has_interval_scores(metrics: pd.DataFrame) -> bool:
    """Whether ``metrics.csv`` holds interval scores (columns present, some value)."""
    return all(c in metrics for c in INTERVAL_METRICS) and bool(
        pd.to_numeric(metrics["coverage"], errors="coerce").notna().any()
    )


def band_side(coverage: float, level: float) -> int:
    """``-1`` below the tolerance band, ``+1`` above, ``0`` inside (or undefined)."""
    if not np.isfinite(coverage):
        return 0
    # rounded so that a coverage of exactly 75% counts as inside a 75-85% band
    c = round(coverage, 12)
    return -1 if c < round(level - TOLERANCE, 12) else 1 if c > round(level + TOLERANCE, 12) else 0


def standard_error(level: float, n: int) -> float:
    """Binomial standard error of a coverage on ``n`` independent points at ``level``."""
    return float(np.sqrt(level * (1 - level) / n)) if n > 0 else float("nan")


def price_path(fc: pd.DataFrame) -> pd.Series:
    """The prices of one series over its test period, by date, from a forecasts table.

    Origin prices and actuals are the same observed prices seen from two sides; together
    they give every date from the first origin to the last target.
    """
    both = pd.concat(
        [
            pd.Series(fc["origin_price"].to_numpy(float), index=fc["origin"]),
            pd.Series(fc["actual"].to_numpy(float), index=fc["target_date"]),
        ]
    )
    return both[~both.index.duplicated()].sort_index()


def realised_volatility(path: pd.Series, window: int = VOL_WINDOW) -> pd.Series:
    """Per date (all but the first), the RMS of the ``window`` one-step log returns around it.

    Centred on the return that ends at the date; near the ends of the path the window holds
    only the returns that exist (at least half of it).
    """
    returns = np.log(path).diff().iloc[1:]
    mean_square = (returns**2).rolling(window, center=True, min_periods=1).mean()
    return np.sqrt(mean_square)


def regimes(fc: pd.DataFrame) -> pd.DataFrame:
    """Per series and target date: realised volatility and regime (calm or turbulent).

    See the module docstring for the rule. Columns ``series, target_date, volatility,
    regime``.
    """
    parts = []
    for series, g in fc.groupby("series", sort=False):
        vol = realised_volatility(price_path(g))
        dates = pd.Index(sorted(g["target_date"].unique()))
        v = vol.reindex(dates).to_numpy(float)
        order = np.argsort(v, kind="stable")  # ties: the earlier date is calmer
        regime = np.full(len(dates), REGIMES[1], dtype=object)
        regime[order[: (len(dates) + 1) // 2]] = REGIMES[0]
        parts.append(
            pd.DataFrame(
                {"series": series, "target_date": dates, "volatility": v, "regime": regime}
            )
        )
    return pd.concat(parts, ignore_index=True)


def scored_points(fc: pd.DataFrame, variants: tuple[str, ...]) -> pd.DataFrame:
    """One row per forecast point and variant that has an interval.

    Columns ``series, model, horizon, target_date, regime, variant, inside, width`` where
    ``width`` is ``(upper - lower) / forecast``, as in ``metrics.csv``.
    """
    base = fc.merge(regimes(fc), on=["series", "target_date"], how="left")
    actual, forecast = base["actual"].to_numpy(float), base["forecast"].to_numpy(float)
    keep = ["series", "model", "horizon", "target_date", "regime"]
    parts = []
    for v in variants:
        # forecasts.csv leaves a missing bound empty, which a text column keeps as ""
        lo = pd.to_numeric(base[f"lower_{v}"], errors="coerce").to_numpy(float)
        hi = pd.to_numeric(base[f"upper_{v}"], errors="coerce").to_numpy(float)
        ok = np.isfinite(lo) & np.isfinite(hi)
        part = base.loc[ok, keep].copy()
        part["variant"] = v
        part["inside"] = (actual[ok] >= lo[ok]) & (actual[ok] <= hi[ok])
        part["width"] = (hi[ok] - lo[ok]) / forecast[ok]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def coverage_summary(points: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Coverage, mean relative width and points per group, for every regime and both halves.

    Returns one row per group of ``by`` and ``regime`` in ``("all", "calm", "turbulent")``:
    columns ``*by, regime, n, coverage, width``.
    """
    both = pd.concat([points.assign(regime="all"), points], ignore_index=True)
    out = (
        both.groupby([*by, "regime"], sort=False)
        .agg(n=("inside", "size"), coverage=("inside", "mean"), width=("width", "mean"))
        .reset_index()
    )
    out["coverage"] = out["coverage"].astype(float)
    return out


def coverage_tests(fc: pd.DataFrame, variants: tuple[str, ...], level: float) -> pd.DataFrame:
    """Kupiec and Christoffersen p-values per series, model, horizon and variant.

    Columns ``series, model, horizon, variant, n, kupiec_pvalue, ind_pvalue, cc_pvalue``
    (``n``: the points tested, every ``h``-th for ``h > 1``); a variant without any
    interval in a group has no row. The chosen variant's equal ``metrics.csv``'s.
    """
    rows = []
    ordered = fc.sort_values(["series", "model", "horizon", "origin"], kind="stable")
    for (series, model, h), g in ordered.groupby(["series", "model", "horizon"], sort=False):
        actual = g["actual"].to_numpy(float)
        for v in variants:
            lo = pd.to_numeric(g[f"lower_{v}"], errors="coerce").to_numpy(float)
            hi = pd.to_numeric(g[f"upper_{v}"], errors="coerce").to_numpy(float)
            ok = np.isfinite(lo) & np.isfinite(hi)
            if not ok.any():
                continue
            tests = interval_tests(actual, lo, hi, level, int(h))
            n = len(range(0, int(ok.sum()), int(h)))
            rows.append({"series": series, "model": model, "horizon": int(h), "variant": v,
                         "n": n, **tests})  # fmt: skip
    columns = ["series", "model", "horizon", "variant", "n", *COVERAGE_TEST_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


def comparison(
    overall: pd.DataFrame, tests: pd.DataFrame, variants: tuple[str, ...]
) -> pd.DataFrame:
    """Per horizon and variant: coverage of every point and of each half, mean relative
    width, that width over unscaled ACI's, and the share of series-model pairs passing
    each coverage test.

    Columns ``horizon, variant, n, coverage, calm, turbulent, width, width_ratio,
    kupiec_pass, ind_pass, cc_pass, pairs``.
    """
    by_key = keyed(overall, ["horizon", "variant", "regime"])
    rows = []
    for h in sorted({int(h) for h in overall["horizon"]}):
        base = by_key.get((h, BASELINE, "all"))
        for v in variants:
            whole = by_key.get((h, v, "all"))
            if whole is None:
                continue
            t = tests[(tests["horizon"] == h) & (tests["variant"] == v)]
            row = {
                "horizon": h,
                "variant": v,
                "n": int(whole["n"]),
                "coverage": float(whole["coverage"]),
                "width": float(whole["width"]),
            }
            for part in REGIMES:
                found = by_key.get((h, v, part))
                row[part] = float(found["coverage"]) if found is not None else float("nan")
            row["width_ratio"] = (
                row["width"] / float(base["width"]) if base is not None else float("nan")
            )
            for col, name in zip(COVERAGE_TEST_COLUMNS, ("kupiec", "ind", "cc"), strict=True):
                p = t[col].to_numpy(float)
                p = p[np.isfinite(p)]
                row[f"{name}_pass"] = float(np.mean(p > TEST_ALPHA)) if len(p) else float("nan")
            row["pairs"] = len(t)
            rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class CoverageNumbers:
    """Every coverage the section shows, computed once.

    Attributes
    ----------
    settings
        The run's intervals.
    pooled
        Per model, horizon, variant and regime, over every series
        (see :func:`coverage_summary`).
    per_series
        The same per series.
    overall
        Per horizon, variant and regime over every series and model (the headline).
    volatility
        Per series and regime: target dates and mean realised volatility.
    tests
        Per series, model, horizon and variant: the coverage tests
        (:func:`coverage_tests`).
    compared
        Per horizon and variant: the comparison of the variants (:func:`comparison`).
    """

    settings: IntervalRun
    pooled: pd.DataFrame
    per_series: pd.DataFrame
    overall: pd.DataFrame
    volatility: pd.DataFrame
    tests: pd.DataFrame
    compared: pd.DataFrame

    def calibrated_in_both_halves(self, variant: str) -> bool:
        """Whether the variant's calm and turbulent coverage (every series and model
        pooled) are inside the tolerance band at every horizon."""
        rows = self.compared[self.compared["variant"] == variant]
        level = self.settings.level
        return bool(len(rows)) and all(
            band_side(c, level) == 0 and np.isfinite(c) for c in (*rows["calm"], *rows["turbulent"])
        )


def coverage_numbers(run: RunFiles) -> CoverageNumbers | None:
    """The section's numbers, or ``None`` when the run has no intervals."""
    settings = interval_run(run)
    if settings is None:
        return None
    points = scored_points(run.forecasts, settings.variants)
    if points.empty:  # intervals asked for, but no forecast has one
        return None
    reg = regimes(run.forecasts)
    volatility = (
        reg.groupby(["series", "regime"], sort=False)
        .agg(dates=("target_date", "size"), volatility=("volatility", "mean"))
        .reset_index()
    )
    overall = coverage_summary(points, ["horizon", "variant"])
    tests = coverage_tests(run.forecasts, settings.variants, settings.level)
    return CoverageNumbers(
        settings,
        coverage_summary(points, ["model", "horizon", "variant"]),
        coverage_summary(points, ["series", "model", "horizon", "variant"]),
        overall,
        volatility,
        tests,
        comparison(overall, tests, settings.variants),
    )


def keyed(frame: pd.DataFrame, keys: list[str]) -> dict[tuple, dict]:
    """The rows of ``frame`` as dicts, by the tuple of their ``keys`` values (fast lookups)."""
    return {tuple(r[k] for k in keys): r for r in frame.to_dict("records")}


def percent_level(value: float) -> str:
    """A level or band edge: ``0.8`` -> ``"80%"``."""
    return f"{100 * value:g}%"


def pct(value: float) -> str:
    """A coverage for prose and tables: ``0.7834`` -> ``"78.3%"``; ``-`` if undefined."""
    return f"{100 * value:.1f}%" if np.isfinite(value) else "-"
