"""The report's tables as rows of formatted cells, shared by the HTML and Markdown pages.

Formatting happens once, here, so that both pages show the same text for the same number.
Cells hold plain, unescaped text: each renderer escapes for its own format.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.report.intervals import TOLERANCE, band_side
from forecast.report.tables import ALPHA, Verdict, format_p, percent

#: column label and the explanation shown on hover (HTML) or in the glossary
LABELS = {
    "model": ("model", ""),
    "n": ("n", "number of forecasts scored"),
    "rel_mae": ("rel MAE", "mean absolute error / the random walk's on the same points"),
    "rel_rmse": ("rel RMSE", "root mean squared error / the random walk's on the same points"),
    "mase": ("MASE", "MAE / mean absolute one-step price change over the first training window"),
    "direction_acc": ("hit rate", "share of forecasts that got the direction of the move right"),
    "pt_pvalue": ("PT p", "Pesaran-Timmermann test of direction: p-value"),
    "dm_stat": ("DM stat", "Diebold-Mariano statistic on squared errors; < 0: smaller than RW"),
    "dm_pvalue": ("DM p", "Diebold-Mariano two-sided p-value"),
    "coverage": ("coverage", "share of actuals inside the run's chosen interval"),
    "width": ("width", "mean of (upper - lower) / forecast of the chosen interval"),
    "winkler": ("Winkler", "mean interval score, in price units: width plus the miss penalty"),
    "kupiec_pvalue": ("Kupiec p", "Kupiec's test of the miss rate (unconditional coverage)"),
    "ind_pvalue": ("ind. p", "Christoffersen's test that misses do not cluster (independence)"),
    "cc_pvalue": ("cc p", "Christoffersen's conditional coverage test (rate and independence)"),
    "r2_os": ("R²_OS", "out-of-sample R²: share of the random walk's squared error removed"),
    "cw_pvalue": ("CW p", "Clark-West one-sided p-value against the random walk (no correction)"),
    "note": ("note", ""),
}
#: marks after a coverage outside the tolerance band (the same text on both pages)
BELOW, ABOVE = "▼", "▲"


@dataclass(frozen=True)
class Cell:
    """One table cell: display text, and for numbers the exact value from the run files."""

    text: str
    value: float | None = None
    best: bool = False
    #: ``"good"`` or ``"bad"``: a significant result for or against the model; ``"warn"``:
    #: a coverage above its tolerance band
    tone: str = ""


@dataclass(frozen=True)
class Table:
    """A titled table: header labels with hover help, rows of cells, per-row attributes."""

    columns: tuple[tuple[str, str], ...]
    rows: tuple[tuple[Cell, ...], ...]
    #: per row, the keys that identify it (``data-*`` attributes in the HTML)
    keys: tuple[dict[str, str], ...] = ()
    #: per column, the metrics.csv column it shows, or ``""``
    metrics: tuple[str, ...] = ()
    caption: str = ""
    #: optional header row above the labels (HTML only): ``(label, columns spanned)``; the
    #: HTML then shows ``sublabels`` under it, the Markdown the full ``columns`` labels
    groups: tuple[tuple[str, int], ...] = ()
    sublabels: tuple[str, ...] = ()

    def group_starts(self) -> tuple[bool, ...]:
        """Per column, whether it opens a header group of several columns (HTML rule)."""
        starts, i = [False] * len(self.columns), 0
        for _, span in self.groups:
            if span > 1 and i < len(starts):
                starts[i] = True
            i += span
        return tuple(starts)

    def numeric(self) -> tuple[bool, ...]:
        """Per column, whether it holds numbers (right-aligned in both pages)."""
        return tuple(
            any(row[i].value is not None for row in self.rows) for i in range(len(self.columns))
        )


def fmt(column: str, value: object) -> str:
    """Display text of one metric value; ``-`` when it is missing or undefined."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    v = float(value)  # type: ignore[arg-type]
    if column in ("n", "n_series", "better", "better_significant", "worse_significant"):
        return f"{int(v)}"
    if column in (
        "pt_pvalue", "dm_pvalue", "kupiec_pvalue", "ind_pvalue", "cc_pvalue", "cw_pvalue",
        "mcs_pvalue", "spa_pvalue",
    ):  # fmt: skip
        return format_p(v)
    if column == "r2_os":
        return f"{100 * v:+.2f}%"
    if column in ("direction_acc", "coverage"):
        return f"{100 * v:.1f}%"
    if column == "width":
        return f"{100 * v:.2f}%"
    if column == "winkler":  # price units: 4 significant digits, whatever the price level
        v = float(f"{v:.4g}")  # round first, so 999.96 shows as 1000, not 1000.0
        digits = 3 - int(np.floor(np.log10(abs(v)))) if v else 3
        return f"{v:.{max(0, digits)}f}"
    if column == "dm_stat":
        return f"{v:+.2f}"
    if column == "mase":
        return f"{v:.3f}"
    if column == "mean_rank":
        return f"{v:.2f}"
    if column.endswith("seconds"):
        return f"{v:.3f}" if v < 10 else f"{v:.1f}"
    return f"{v:.4f}"


def _number(column: str, value: object, best: bool = False, tone: str = "") -> Cell:
    v = None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]
    return Cell(fmt(column, v), v, best, tone)


def coverage_cell(value: object, level: float | None) -> Cell:
    """A coverage, marked and coloured when it falls outside the tolerance band."""
    cell = _number("coverage", value)
    if level is None or cell.value is None:
        return cell
    side = band_side(cell.value, level)
    if not side:
        return cell
    # too narrow (overconfident) is the costlier error: red; too wide: amber
    tone = "bad" if side < 0 else "warn"
    return Cell(f"{cell.text} {BELOW if side < 0 else ABOVE}", cell.value, tone=tone)


def band_text(level: float) -> str:
    """``0.8`` -> ``"75% to 85%"``."""
    return f"{percent(level - TOLERANCE)} to {percent(level + TOLERANCE)}"


def _labels(columns: list[str]) -> tuple[tuple[str, str], ...]:
    return tuple(LABELS.get(c, (c, "")) for c in columns)


def verdict_table(found: list[Verdict]) -> Table:
    """The headline table: one row per series and horizon."""
    rows, keys = [], []
    for v in found:
        # green only where a model beats the random walk significantly; losing to it is the
        # common, expected outcome and is not an error
        best_sig = v.model is not None and v.model in v.significant
        rows.append(
            (
                Cell(v.series),
                Cell(str(v.horizon), float(v.horizon)),
                Cell(v.model or "-"),
                _number("rel_rmse", v.rel_rmse),
                _number("dm_pvalue", v.dm_pvalue, tone="good" if best_sig else ""),
                Cell(v.text, tone="good" if v.outcome == "beats" else ""),
            )
        )
        keys.append({"series": v.series, "horizon": str(v.horizon)})
    columns = (
        ("series", ""),
        ("horizon", "steps ahead, in trading days"),
        ("best model", "lowest rel RMSE other than the random walk"),
        LABELS["rel_rmse"],
        LABELS["dm_pvalue"],
        ("verdict", ""),
    )
    metrics = ("series", "horizon", "model", "rel_rmse", "dm_pvalue", "")
    return Table(columns, tuple(rows), tuple(keys), metrics)


def leaderboard_table(
    board: pd.DataFrame,
    best: dict[str, set[int]],
    series: str,
    horizon: int,
    alpha: float = ALPHA,
    level: float | None = None,
) -> Table:
    """One leaderboard (see :func:`forecast.report.tables.leaderboard`) as cells.

    ``level`` is the nominal coverage of the intervals: coverages outside the tolerance band
    around it are marked.
    """
    rows, keys = [], []
    numeric = [c for c in board.columns if c not in ("model", "note")]
    for i, r in board.iterrows():
        sig_good = r["dm_stat"] < 0 and r["dm_pvalue"] < alpha
        sig_bad = r["dm_stat"] > 0 and r["dm_pvalue"] < alpha
        dm_tone = "good" if sig_good else "bad" if sig_bad else ""
        pt_tone = "good" if r["pt_pvalue"] < alpha and r["direction_acc"] > 0.5 else ""
        cw_good = "cw_pvalue" in r and r["cw_pvalue"] < alpha and r["r2_os"] > 0
        cells = [Cell(str(r["model"]))]
        for col in numeric:
            tone = dm_tone if col in ("dm_stat", "dm_pvalue") else ""
            tone = pt_tone if col == "pt_pvalue" else tone
            tone = "good" if col == "cw_pvalue" and cw_good else tone
            if col == "coverage":
                cells.append(coverage_cell(r[col], level))
            else:
                cells.append(_number(col, r[col], i in best.get(col, set()), tone))
        failed = "failed" in r["note"] or r["n"] == 0
        cells.append(Cell(str(r["note"]), tone="bad" if failed else ""))
        rows.append(tuple(cells))
        keys.append({"series": series, "model": str(r["model"]), "horizon": str(horizon)})
    columns = ["model", *numeric, "note"]
    labels = _labels(columns)
    groups: tuple[tuple[str, int], ...] = ()
    sublabels: tuple[str, ...] = ()
    if "coverage" in columns:
        i = columns.index("coverage")
        nominal = f" ({percent(level)})" if level is not None else ""
        if level is not None:
            help_ = f"{LABELS['coverage'][1]}; nominal {percent(level)}, band {band_text(level)}"
            labels = (*labels[:i], (f"coverage{nominal}", help_), *labels[i + 1 :])
        # the HTML page groups the interval columns under one header, so that their own
        # labels stay short enough for the equal-width leaderboard columns
        groups = (
            (("", 1),) * i + ((f"intervals{nominal}", 3),) + (("", 1),) * (len(columns) - i - 3)
        )
        sublabels = tuple(label for label, _ in labels)
        # soft hyphens: a label may break inside a word rather than overlap its neighbour
        sublabels = (
            *sublabels[:i],
            "cover\u00adage",
            "width",
            "Wink\u00adler",
            *sublabels[i + 3 :],
        )
    return Table(
        labels,
        tuple(rows),
        tuple(keys),
        tuple(c if c != "note" else "" for c in columns),
        caption=f"{series}, horizon {horizon}",
        groups=groups,
        sublabels=sublabels,
    )


def across_table(frame: pd.DataFrame, n_series: int) -> Table:
    """The across-series table (see :func:`forecast.report.tables.across_series`) as cells."""
    rows = []
    best_rank = frame["mean_rank"].min()
    for _, r in frame.iterrows():
        rows.append(
            (
                Cell(str(r["model"])),
                _number("mean_rank", r["mean_rank"], r["mean_rank"] == best_rank),
                Cell(f"{int(r['n_series'])} of {n_series}", float(r["n_series"])),
                _number("better", r["better"]),
                _number(
                    "better_significant",
                    r["better_significant"],
                    tone="good" if r["better_significant"] else "",
                ),
                _number(
                    "worse_significant",
                    r["worse_significant"],
                    tone="bad" if r["worse_significant"] else "",
                ),
                _number("geomean_rel_rmse", r["geomean_rel_rmse"]),
            )
        )
    columns = (
        ("model", ""),
        ("mean rank", "mean over series of the rank by rel RMSE (1 = best)"),
        ("series ranked", "series where the model produced forecasts"),
        ("beats RW", "series where its RMSE is below the random walk's"),
        ("beats RW significantly", "series where it beats the random walk by the DM test"),
        ("loses significantly", "series where the random walk beats it by the DM test"),
        ("geo-mean rel RMSE", "geometric mean of rel RMSE over the series"),
    )
    keys = tuple({"model": str(m)} for m in frame["model"])
    return Table(columns, tuple(rows), keys)


def failures_table(frame: pd.DataFrame) -> Table:
    """The failures (see :func:`forecast.report.tables.failures`) as cells."""
    rows = []
    for _, r in frame.iterrows():
        folds = f"{r['failed']} of {r['folds']}" if r["folds"] else str(r["failed"])
        more = f" (+{r['other_errors']} other messages)" if r["other_errors"] else ""
        rows.append(
            (
                Cell(r["series"]),
                Cell(r["model"]),
                Cell(folds, float(r["failed"]), tone="bad"),
                Cell(r["stages"]),
                Cell(r["first_origin"]),
                Cell(r["error"] + more),
            )
        )
    columns = (
        ("series", ""),
        ("model", ""),
        ("failed folds", ""),
        ("stage", "fit or predict"),
        ("first failing fold", "origin of the fold's refit"),
        ("first error", ""),
    )
    return Table(columns, tuple(rows))


def timings_table(frame: pd.DataFrame) -> Table:
    """Fit and predict seconds per model, summed over the series."""
    rows = tuple(
        (
            Cell(str(r["model"])),
            _number("fit_seconds", r["fit_seconds"]),
            _number("predict_seconds", r["predict_seconds"]),
            Cell(str(int(r["n_fits"])), float(r["n_fits"])),
            Cell(
                str(int(r["n_failed"])), float(r["n_failed"]), tone="bad" if r["n_failed"] else ""
            ),
        )
        for _, r in frame.iterrows()
    )
    columns = (
        ("model", ""),
        ("fit s", "seconds spent fitting, all series"),
        ("predict s", "seconds spent forecasting, all series"),
        ("fits", "successful fits"),
        ("failed folds", ""),
    )
    return Table(columns, rows)


def text_table(frame: pd.DataFrame, labels: dict[str, str] | None = None) -> Table:
    """A table of text cells, one column per frame column (optionally relabelled)."""
    labels = labels or {}
    columns = tuple((labels.get(c, c), "") for c in frame.columns)
    rows = tuple(tuple(Cell(str(v)) for v in r) for r in frame.itertuples(index=False))
    return Table(columns, rows)


def pairs_table(pairs: dict[str, str], key: str = "setting", value: str = "value") -> Table:
    """A two-column table from a mapping."""
    rows = tuple((Cell(str(k)), Cell(str(v))) for k, v in pairs.items())
    return Table(((key, ""), (value, "")), rows)


@dataclass(frozen=True)
class IntervalSection:
    """The "Prediction intervals" section, formatted (see :mod:`forecast.report.interval_display`).

    ``compared``, ``pooled``, ``widths`` and ``per_series`` hold one entry per horizon;
    ``notes`` explain the band, its sampling error, the regime split, how the variants are
    scored and the comparison; ``regimes`` shows how different the calm and turbulent halves
    of each series are.
    """

    headline: tuple[str, ...]
    notes: tuple[str, ...]
    legend: str
    pooled: tuple[tuple[int, Table], ...]
    widths: tuple[tuple[int, Table], ...]
    per_series: tuple[tuple[int, tuple[Table, ...]], ...]
    regimes: Table
    compared: tuple[tuple[int, Table], ...] = ()


@dataclass(frozen=True)
class ReportContent:
    """Everything both pages show, formatted once (plain text; each renderer escapes)."""

    title: str
    subtitle: str
    alpha: float
    summary: tuple[str, ...]
    #: ``"beats"`` when some model beats the random walk significantly, else ``"none"``
    answer_class: str
    verdict_table: Table
    across: tuple[tuple[int, Table], ...]
    leaderboards: tuple[tuple[int, tuple[Table, ...]], ...]
    failures: Table
    series_table: Table
    facts_table: Table
    arguments_table: Table
    timings_table: Table
    versions_table: Table
    n_series: int
    version: str
    #: term and meaning (see :mod:`forecast.report.glossary`)
    glossary: tuple[tuple[str, str], ...] = ()
    #: the prediction-interval section, ``None`` when the run has no intervals
    intervals: IntervalSection | None = None
    #: why there is no interval section (empty when there is one)
    intervals_off: str = ""
    #: what the leaderboards' interval columns are (empty when they have none)
    interval_legend: str = ""
    #: the volatility section (a :class:`~forecast.report.volatility_display.VolatilitySection`),
    #: ``None`` when the run has no volatility backtest
    volatility: object | None = None
    #: the note under the verdict table: how its claims are made
    verdict_note: str = ""
    #: the "Economic value" section (:mod:`forecast.report.economics_display`), ``None`` when
    #: the run has no economics; ``economics_off`` then says why
    economics: object | None = None
    economics_off: str = ""
