"""The "Prediction intervals" section as cells and sentences (see :mod:`.intervals`).

Coverage tables put the variants side by side, each with its calm and turbulent halves, so
that the plain and adaptive variants compare at a glance; a coverage outside the tolerance
band carries a mark in its text (the same on both pages) and, in the HTML, a colour.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.report.display import (
    ABOVE,
    BELOW,
    Cell,
    IntervalSection,
    Table,
    band_text,
    coverage_cell,
    fmt,
)
from forecast.report.intervals import (
    REGIMES,
    TOLERANCE,
    VARIANT_NAMES,
    VARIANT_SHORT,
    VOL_WINDOW,
    CoverageNumbers,
    IntervalRun,
    headline,
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
) -> Table:
    """Models by variants (all points, calm half, turbulent half) of one coverage summary.

    ``frame``: rows of :func:`~forecast.report.intervals.coverage_summary` for one horizon
    and scope; ``column``: ``"coverage"`` (marked against the band) or ``"width"``.
    """
    rows, row_keys = [], []
    by_key = keyed(frame, ["model", "variant", "regime"])
    for model in models:
        if not any((model, v, "all") in by_key for v in s.variants):
            continue
        cells = [Cell(model)]
        if column == "coverage":
            chosen = by_key.get((model, s.method, "all"))
            n = max(int(r["n"]) for k, r in by_key.items() if k[0] == model)
            n = int(chosen["n"]) if chosen is not None else n
            cells.append(Cell(str(n), float(n)))
        for v in s.variants:
            for part in _PARTS:
                row = by_key.get((model, v, part))
                value = float(row[column]) if row is not None else float("nan")
                if column == "coverage":
                    cells.append(coverage_cell(value, s.level))
                else:
                    cells.append(Cell(fmt("width", value), value if np.isfinite(value) else None))
        rows.append(tuple(cells))
        row_keys.append({**keys, "model": model})
    first = [("model", "")]
    if column == "coverage":
        first.append(("n", "forecast points with the chosen interval"))
    what = "coverage" if column == "coverage" else "mean relative width"
    columns, metrics, sub = list(first), [""] * len(first), [c for c, _ in first]
    groups = [("", 1)] * len(first)
    for v in s.variants:
        label = _variant_label(v, s)
        groups.append((label, len(_PARTS)))
        for part in _PARTS:
            points = "every point" if part == "all" else f"the {part} half"
            name = label if part == "all" else f"{label} {part}"
            columns.append((name, f"{what} of {VARIANT_NAMES[v]} over {points}"))
            metrics.append(f"{column}:{v}:{part}")
            sub.append(part)
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
    return band, regimes, scored


def interval_section(numbers: CoverageNumbers, n_series: int, models: list[str]) -> IntervalSection:
    """The section's headline, notes and tables; rows in the order of ``models``."""
    s = numbers.settings
    horizons = sorted({int(h) for h in numbers.pooled["horizon"]})
    pooled, widths, per_series = [], [], []
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
            tables.append(variant_table(one, models, s, keys, caption=f"{series}, horizon {h}"))
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
        per_series=tuple(per_series),
        regimes=regime_table(numbers),
    )
