"""The "Prediction intervals" section as cells and sentences (see :mod:`.intervals`).

Coverage tables put the variants side by side, each with its calm and turbulent halves, so
that the plain and adaptive variants compare at a glance; a coverage outside the tolerance
band carries a mark in its text (the same on both pages) and, in the HTML, a colour.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.evaluation.metrics import COVERAGE_TEST_COLUMNS
from forecast.report.display import (
    ABOVE,
    BELOW,
    LABELS,
    Cell,
    IntervalSection,
    Table,
    band_text,
    coverage_cell,
    fmt,
)
from forecast.report.interval_text import headline
from forecast.report.intervals import (
    BASELINE,
    REGIMES,
    TEST_ALPHA,
    TOLERANCE,
    VARIANT_NAMES,
    VARIANT_SHORT,
    VOL_WINDOW,
    CoverageNumbers,
    IntervalRun,
    keyed,
    standard_error,
)
from forecast.report.tables import percent

CHOSEN = "★"
_PARTS = ("all", *REGIMES)


def _variant_label(v: str, s: IntervalRun) -> str:
    return VARIANT_SHORT[v] + (f" {CHOSEN}" if v == s.method else "")


def variant_table(
    frame: pd.DataFrame,
    models: list[str],
    s: IntervalRun,
    keys: dict[str, str],
    column: str = "coverage",
    caption: str = "",
    tests: pd.DataFrame | None = None,
) -> Table:
    """Models by variants (all points, calm half, turbulent half) of one coverage summary.

    ``frame``: rows of :func:`~forecast.report.intervals.coverage_summary` for one horizon
    and scope; ``column``: ``"coverage"`` (marked against the band) or ``"width"``. The
    variants are :attr:`~forecast.report.intervals.IntervalRun.shown`. With ``tests`` (the
    coverage tests of one series and horizon), the chosen variant's p-values follow.
    """
    rows, row_keys = [], []
    by_key = keyed(frame, ["model", "variant", "regime"])
    shown = s.shown
    tested = keyed(tests, ["model", "variant"]) if tests is not None else None
    for model in models:
        if not any((model, v, "all") in by_key for v in shown):
            continue
        cells = [Cell(model)]
        if column == "coverage":
            chosen = by_key.get((model, s.method, "all"))
            n = max(int(r["n"]) for k, r in by_key.items() if k[0] == model)
            n = int(chosen["n"]) if chosen is not None else n
            cells.append(Cell(str(n), float(n)))
        for v in shown:
            for part in _PARTS:
                row = by_key.get((model, v, part))
                value = float(row[column]) if row is not None else float("nan")
                if column == "coverage":
                    cells.append(coverage_cell(value, s.level))
                else:
                    cells.append(Cell(fmt("width", value), value if np.isfinite(value) else None))
        if tested is not None:
            found = tested.get((model, s.method))
            for col in COVERAGE_TEST_COLUMNS:
                p = float(found[col]) if found is not None else float("nan")
                bad = "bad" if np.isfinite(p) and p <= TEST_ALPHA else ""
                cells.append(Cell(fmt(col, p), p if np.isfinite(p) else None, tone=bad))
        rows.append(tuple(cells))
        row_keys.append({**keys, "model": model})
    first = [("model", "")]
    if column == "coverage":
        first.append(("n", "forecast points with the chosen interval"))
    what = "coverage" if column == "coverage" else "mean relative width"
    columns, metrics, sub = list(first), [""] * len(first), [c for c, _ in first]
    groups = [("", 1)] * len(first)
    for v in shown:
        label = _variant_label(v, s)
        groups.append((label, len(_PARTS)))
        for part in _PARTS:
            points = "every point" if part == "all" else f"the {part} half"
            name = label if part == "all" else f"{label} {part}"
            columns.append((name, f"{what} of {VARIANT_NAMES[v]} over {points}"))
            metrics.append(f"{column}:{v}:{part}")
            sub.append(part)
    if tested is not None:
        groups.append((f"tests of {_variant_label(s.method, s)}", len(COVERAGE_TEST_COLUMNS)))
        for col in COVERAGE_TEST_COLUMNS:
            label, help_ = LABELS[col]
            columns.append((label, f"{help_}: p-value of the chosen intervals"))
            metrics.append(col)
            sub.append(label)
    if column == "coverage":
        metrics[1] = "n"
    return Table(
        tuple(columns),
        tuple(rows),
        tuple(row_keys),
        tuple(metrics),
        caption,
        tuple(groups),
        tuple(sub),
    )


def regime_table(numbers: CoverageNumbers) -> Table:
    """Per series: dates and mean daily realised volatility of the calm and turbulent halves."""
    vol = numbers.volatility
    by_key = keyed(vol, ["series", "regime"])
    rows = []
    for series in dict.fromkeys(vol["series"]):
        cells = [Cell(str(series))]
        values = {}
        for regime in REGIMES:
            row = by_key.get((series, regime))
            dates = int(row["dates"]) if row is not None else 0
            values[regime] = float(row["volatility"]) if row is not None else float("nan")
            cells += [Cell(str(dates), float(dates)), _vol_cell(values[regime])]
        ratio = values["turbulent"] / values["calm"] if values["calm"] > 0 else float("nan")
        cells.append(Cell(f"{ratio:.2f}x" if np.isfinite(ratio) else "-", ratio))
        rows.append(tuple(cells))
    columns = (
        ("series", ""),
        ("calm dates", "target dates in the calm half"),
        ("calm volatility", "mean daily realised volatility of the calm half"),
        ("turbulent dates", "target dates in the turbulent half"),
        ("turbulent volatility", "mean daily realised volatility of the turbulent half"),
        ("ratio", "turbulent over calm volatility"),
    )
    return Table(columns, tuple(rows))


def _vol_cell(v: float) -> Cell:
    return Cell(f"{100 * v:.2f}%" if np.isfinite(v) else "-", v if np.isfinite(v) else None)


def _notes(numbers: CoverageNumbers) -> tuple[str, ...]:
    """The band and its sampling error, the regime split, and how the variants are scored."""
    s = numbers.settings
    chosen = numbers.per_series[
        (numbers.per_series["variant"] == s.method) & (numbers.per_series["regime"] == "all")
    ]
    pooled = numbers.pooled[
        (numbers.pooled["variant"] == s.method) & (numbers.pooled["regime"] == "all")
    ]
    n_one = int(chosen["n"].max()) if len(chosen) else 0
    n_pool = int(pooled["n"].max()) if len(pooled) else 0
    sizes = [("one series, model and horizon", n_one), ("one regime half", n_one // 2)]
    if n_pool > n_one:
        k = numbers.per_series["series"].nunique()
        sizes.append((f"one model and horizon pooled over the {k} series", n_pool))
    errors = "; ".join(
        f"{100 * standard_error(s.level, n):.1f} points for {what} (n = {n}, so the band is "
        f"±{TOLERANCE / standard_error(s.level, n):.1f} SE)"
        for what, n in sizes
        if n > 0
    )
    band = (
        f"Tolerance band: the nominal {percent(s.level)} ± {100 * TOLERANCE:g} points, "
        f"{band_text(s.level)}; {BELOW} marks a coverage below it (intervals too narrow), "
        f"{ABOVE} above it (too wide). The band is a yardstick, not a test. The binomial "
        f"standard error of a coverage, sqrt(p(1 - p) / n) at p = {percent(s.level)}, is "
        f"{errors}. Forecasts at horizons above 1 overlap (consecutive 5-day forecasts share "
        "4 days), so their misses come in runs and their real sampling error is larger."
    )
    regimes = (
        "For each series, each target date's realised volatility "
        f"is the root mean square of the {VOL_WINDOW} one-step log returns of the actual price "
        "centred on it (fewer at the ends of the test period), from the prices in "
        "forecasts.csv; the half of the dates with the lower volatility is calm, the other "
        "half turbulent, and each forecast takes the half of its target date. The split "
        "uses returns after the date: it sorts the test period after the fact, it is not "
        "something a forecaster knew."
    )
    scored = (
        f"{CHOSEN} marks the run's method, {VARIANT_NAMES.get(s.method, s.method)}: its "
        "bounds are lower, upper in forecasts.csv and its coverage is the leaderboards'. Each "
        "variant is scored on the points where it has an interval; '-' where it has none "
        "(the neural nets have no distribution of their own)."
    )
    if s.method == "model":
        scored += (
            " With method 'model', a model without a distribution gets the conformal "
            "interval in lower, upper, so its leaderboard coverage is its conformal one."
        )
    compared = (
        "Every variant this run computed, every series and model pooled: coverage of every "
        "point and of the calm and turbulent halves, mean relative width and its ratio to "
        f"unscaled ACI's ({VARIANT_SHORT[BASELINE]}), and the share of series-model pairs "
        f"whose misses pass each coverage test (p > {TEST_ALPHA:g}): Kupiec's (the miss rate "
        "is 1 - level), Christoffersen's independence (misses do not cluster: a miss is no "
        "more likely after a miss) and conditional coverage (both). The scaled variants "
        "divide each past error by a volatility forecast made at its origin and scale the "
        "band by the volatility forecast at the new origin. At horizons above 1 the tests "
        "use every h-th origin (non-overlapping targets)."
    )
    return band, regimes, scored, compared


def comparison_table(numbers: CoverageNumbers, h: int) -> Table:
    """The variants compared at horizon ``h`` (:func:`~forecast.report.intervals.comparison`)."""
    s = numbers.settings
    frame = numbers.compared[numbers.compared["horizon"] == h]
    rows, keys = [], []
    for r in frame.to_dict("records"):
        v = r["variant"]
        cells = [Cell(_variant_label(v, s)), Cell(str(r["n"]), float(r["n"]))]
        cells += [coverage_cell(r[part], s.level) for part in ("coverage", *REGIMES)]
        cells.append(Cell(fmt("width", r["width"]), _finite(r["width"])))
        ratio = r["width_ratio"]
        cells.append(Cell(f"{ratio:.3f}x" if np.isfinite(ratio) else "-", _finite(ratio)))
        for name in ("kupiec", "ind", "cc"):
            share = r[f"{name}_pass"]
            text = f"{round(share * r['pairs'])} of {r['pairs']}" if np.isfinite(share) else "-"
            cells.append(Cell(text, _finite(share)))
        rows.append(tuple(cells))
        keys.append({"scope": "compared", "variant": v, "horizon": str(h)})
    columns = (
        ("variant", ""),
        ("n", "forecast points with this interval"),
        ("coverage", "share of actuals inside, every point"),
        ("calm", "coverage of the calm half"),
        ("turbulent", "coverage of the turbulent half"),
        ("width", "mean of (upper - lower) / forecast"),
        ("vs ACI", "width over unscaled ACI's"),
        ("Kupiec ok", f"series-model pairs with Kupiec p > {TEST_ALPHA:g}"),
        ("independent", f"series-model pairs with Christoffersen independence p > {TEST_ALPHA:g}"),
        ("cond. cov. ok", f"series-model pairs with conditional coverage p > {TEST_ALPHA:g}"),
    )
    metrics = ("variant", "n", "coverage", "calm", "turbulent", "width", "width_ratio",
               "kupiec_pass", "ind_pass", "cc_pass")  # fmt: skip
    return Table(columns, tuple(rows), tuple(keys), metrics, caption=f"Horizon {h}")


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def interval_section(numbers: CoverageNumbers, n_series: int, models: list[str]) -> IntervalSection:
    """The section's headline, notes and tables; rows in the order of ``models``."""
    s = numbers.settings
    horizons = sorted({int(h) for h in numbers.pooled["horizon"]})
    pooled, widths, per_series = [], [], []
    tests = numbers.tests
    for h in horizons:
        p = numbers.pooled[numbers.pooled["horizon"] == h]
        keys = {"scope": "pooled", "series": "", "horizon": str(h)}
        pooled.append((h, variant_table(p, models, s, keys)))
        widths.append((h, variant_table(p, models, s, keys, "width")))
        tables = []
        for series in dict.fromkeys(numbers.per_series["series"]):
            one = numbers.per_series[
                (numbers.per_series["horizon"] == h) & (numbers.per_series["series"] == series)
            ]
            keys = {"scope": "series", "series": str(series), "horizon": str(h)}
            mine = tests[(tests["horizon"] == h) & (tests["series"] == series)]
            tables.append(
                variant_table(one, models, s, keys, caption=f"{series}, horizon {h}", tests=mine)
            )
        per_series.append((h, tuple(tables)))
    legend = (
        f"Coverage of the {percent(s.level)} intervals, per model: every point, then the calm "
        f"and the turbulent half. {CHOSEN} the run's method; {BELOW} below the band of "
        f"{band_text(s.level)}, {ABOVE} above it."
    )
    return IntervalSection(
        headline=tuple(headline(numbers, n_series)),
        notes=_notes(numbers),
        legend=legend,
        pooled=tuple(pooled),
        widths=tuple(widths),
        compared=tuple((h, comparison_table(numbers, h)) for h in horizons),
        per_series=tuple(per_series),
        regimes=regime_table(numbers),
    )
