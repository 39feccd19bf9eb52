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
  classifies the past for the evaluation, it is not something a forecaster could have known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.walkforward.runfiles import RunFiles

#: the interval variants a run stores, in report order
VARIANTS = ("model", "conformal", "aci")
#: how the report names each variant in sentences and in table headers
VARIANT_NAMES = {
    "model": "the model's own distribution",
    "conformal": "plain conformal",
    "aci": "adaptive conformal (ACI)",
}
#: the variants as subjects of "... covered 80% at h=1"
OTHER_NAMES = {
    "model": "the models' own distributions covered",
    "conformal": "plain conformal covered",
    "aci": "adaptive conformal covered",
}
VARIANT_SHORT = {"model": "model dist.", "conformal": "conformal", "aci": "ACI"}
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
    return IntervalRun(str(settings.get("method", "?")), level, variants)


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
    """

    settings: IntervalRun
    pooled: pd.DataFrame
    per_series: pd.DataFrame
    overall: pd.DataFrame
    volatility: pd.DataFrame


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
    return CoverageNumbers(
        settings,
        coverage_summary(points, ["model", "horizon", "variant"]),
        coverage_summary(points, ["series", "model", "horizon", "variant"]),
        coverage_summary(points, ["horizon", "variant"]),
        volatility,
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


def headline(numbers: CoverageNumbers, n_series: int) -> list[str]:
    """The section's sentences: the chosen intervals' coverage, the band, the regimes, the rest.

    The first sentence is the lead; every number in them is in one of the tables.
    """
    s = numbers.settings
    horizons = sorted({int(h) for h in numbers.overall["horizon"]})
    chosen = s.method if s.method in s.variants else s.variants[0]
    cov = _coverage_lookup(numbers)
    n_models = numbers.pooled["model"].nunique()
    covered = [
        _at(cov, chosen, h, what=" of the outcomes" * (i == 0)) for i, h in enumerate(horizons)
    ]
    lines = [
        f"{percent_level(s.level)} intervals by {VARIANT_NAMES[chosen]}, this run's method, "
        f"covered {' and '.join(covered)}"
        + f", over {n_models} model{'s' * (n_models != 1)} and {n_series} series pooled."
    ]
    lines += _band_lines(numbers, chosen, horizons)
    others = [
        f"{OTHER_NAMES[v]} " + " and ".join(_at(cov, v, h, "") for h in horizons)
        for v in s.variants
        if v != chosen
    ]
    if others:
        lines.append(f"For comparison, {'; '.join(others)}.")
    if "conformal" in s.variants and "aci" in s.variants:
        gaps = []
        for h in horizons:
            g = {v: cov(v, h, "calm") - cov(v, h, "turbulent") for v in ("conformal", "aci")}
            gaps.append(
                f"{100 * g['aci']:.1f} points with ACI against {100 * g['conformal']:.1f} "
                f"with plain conformal at h={h}"
            )
        lines.append(f"Calm minus turbulent coverage: {'; '.join(gaps)}.")
    return lines


def _coverage_lookup(numbers: CoverageNumbers):
    """``cov(variant, h, regime)``: the pooled coverage of one cell (NaN when absent)."""
    by_key = keyed(numbers.overall, ["horizon", "variant", "regime"])

    def cov(variant: str, h: int, regime: str = "all") -> float:
        row = by_key.get((h, variant, regime))
        return float(row["coverage"]) if row is not None else float("nan")

    return cov


def _at(cov, variant: str, h: int, word: str = " half", what: str = "") -> str:
    return (
        f"{pct(cov(variant, h))}{what} at h={h} (calm{word} {pct(cov(variant, h, 'calm'))}, "
        f"turbulent{word} {pct(cov(variant, h, 'turbulent'))})"
    )


def _band_lines(numbers: CoverageNumbers, chosen: str, horizons: list[int]) -> list[str]:
    """How many coverages of the chosen variant fall inside the band, pooled, per series and
    per regime."""
    s = numbers.settings
    lo, hi = s.band
    pooled = numbers.pooled[(numbers.pooled["variant"] == chosen)]
    whole = pooled[pooled["regime"] == "all"]
    outside = [r for r in whole.itertuples() if band_side(r.coverage, s.level)]
    band = f"{percent_level(lo)} to {percent_level(hi)}"
    if not outside:
        lines = [
            f"Every model's coverage (series pooled) is inside the band of {band} at "
            f"{_horizons(horizons)}."
        ]
    else:
        listed = "; ".join(f"{r.model} h={r.horizon}: {pct(r.coverage)}" for r in outside)
        lines = [
            f"{len(whole) - len(outside)} of {len(whole)} model-horizon coverages (series "
            f"pooled) are inside the band of {band}; outside: {listed}."
        ]
    per = numbers.per_series
    per = per[(per["variant"] == chosen) & (per["regime"] == "all")]
    inside = sum(band_side(c, s.level) == 0 for c in per["coverage"])
    lines.append(
        f"Per series, {inside} of {len(per)} series-model-horizon coverages are inside the band."
    )
    turbulent = pooled[pooled["regime"] == "turbulent"]
    low = int(sum(band_side(c, s.level) < 0 for c in turbulent["coverage"]))
    calm = pooled[pooled["regime"] == "calm"]
    high = int(sum(band_side(c, s.level) > 0 for c in calm["coverage"]))
    lines.append(
        f"In the turbulent halves the intervals are too narrow for {low} of {len(turbulent)} "
        f"model-horizon pairs (below {percent_level(lo)}); in the calm halves too wide for "
        f"{high} of {len(calm)} (above {percent_level(hi)})."
    )
    return lines


def _horizons(horizons: list[int]) -> str:
    return " and ".join(f"h={h}" for h in horizons)
