"""The report's figures, drawn from ``forecasts.csv`` with matplotlib's Agg backend.

Figures are built on :class:`matplotlib.figure.Figure` and drawn by the Agg canvas
(``FigureCanvasAgg``) directly, never through ``pyplot``: no global backend switch (a notebook
that imports this keeps its own), no GUI, nothing fetched. Each is rendered once to PNG bytes,
which the HTML page inlines and the Markdown page links as a file. File names are built from
positions and horizons only, never from series or model names, so a hostile name cannot reach
a path.

Small multiples keep 9 models x 5 series readable: one panel per model (prices) or per series
(everything else), one colour per model throughout the report.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib
import matplotlib.axis
import matplotlib.dates as mdates
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from forecast.evaluation.metrics import BENCHMARK
from forecast.report.tables import models_of
from forecast.walkforward.runfiles import RunFiles

DPI = 80
PANEL = (3.9, 2.3)  # inches per small-multiple panel
NCOLS = 3
BENCHMARK_COLOR = "#555555"
ACTUAL_COLOR = "#222222"


#: figure kinds in report order, with the heading of each
SECTIONS = {
    "prices": "Actual price and forecasts",
    "cumulative": "Squared-error difference against the random walk, over time",
    "rolling": "Rolling relative MAE",
    "errors": "Error distributions",
    "timing": "Fit and predict time",
}


@dataclass(frozen=True)
class ReportFigure:
    """One rendered figure: file stem, section, title, caption and PNG bytes."""

    name: str
    section: str
    title: str
    caption: str
    png: bytes


def label(text: object) -> str:
    """A user string as literal matplotlib text: ``$`` would otherwise start mathtext."""
    return str(text).replace("$", r"\$")


def model_colors(models: list[str]) -> dict[str, str]:
    """One colour per model, the same in every figure; the random walk in grey.

    tab10 without its grey (which would look like the benchmark or the actual price) gives 9
    distinct colours; more models cycle through tab20.
    """
    tab10 = matplotlib.colormaps["tab10"].colors
    palette = [c for i, c in enumerate(tab10) if i != 7]
    if sum(m != BENCHMARK for m in models) > len(palette):
        palette = list(matplotlib.colormaps["tab20"].colors)
    colors, k = {}, 0
    for m in models:
        if m == BENCHMARK:
            colors[m] = BENCHMARK_COLOR
        else:
            colors[m] = matplotlib.colors.to_hex(palette[k % len(palette)])
            k += 1
    return colors


def plain_log_ticks(axis: matplotlib.axis.Axis) -> None:
    """Label a log axis ``0.01``, ``1``, ``100``: matplotlib's default ``10^k`` labels are
    mathtext, whose parser takes about 0.3 s to build on first use."""
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def render(fig: Figure) -> bytes:
    """PNG bytes of ``fig``, without the software tag (so no URL hides in the file)."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _grid(
    n_panels: int,
    sharex: bool = True,
    sharey: bool = False,
    *,
    left: float = 0.6,
    bottom: float = 0.4,
    top: float = 0.3,
    gap: float = 0.5,
    vgap: float = 0.45,
) -> tuple[Figure, list]:
    """A grid of equal panels with fixed margins in inches.

    Fixed margins instead of a layout engine: constrained layout measures every tick label
    and doubled the drawing time of a report.
    """
    ncols = min(NCOLS, max(1, n_panels))
    nrows = -(-n_panels // ncols)
    w, h = PANEL
    right = 0.15
    width = left + ncols * w + (ncols - 1) * gap + right
    height = bottom + nrows * h + (nrows - 1) * vgap + top
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=gap / w,
        hspace=vgap / h,
    )
    axes = fig.subplots(nrows, ncols, sharex=sharex, sharey=sharey, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    for i, ax in enumerate(axes[:n_panels]):
        if i + ncols >= n_panels:  # nothing drawn below: show this panel's x labels
            ax.xaxis.set_tick_params(labelbottom=True)
        ax.grid(True, color="#e5e5e5", linewidth=0.6)
        ax.tick_params(labelsize=8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return fig, list(axes[:n_panels])


def _dates(ax) -> None:
    locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _legend(fig: Figure, models: list[str], colors: dict[str, str]) -> None:
    handles = [matplotlib.lines.Line2D([], [], color=colors[m], linewidth=2) for m in models]
    fig.legend(
        handles,
        [label(m) for m in models],
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=min(len(models), 9),
        frameon=False,
        fontsize=9,
    )


def price_figure(
    fc: pd.DataFrame, series: str, horizon: int, models: list[str], colors: dict[str, str]
) -> Figure:
    """Actual price and each model's forecasts over the test period, one panel per model."""
    rows = fc[(fc["series"] == series) & (fc["horizon"] == horizon)]
    actual = rows.drop_duplicates("target_date").sort_values("target_date")
    present = [m for m in models if (rows["model"] == m).any()]
    fig, axes = _grid(len(present), sharex=True, sharey=True, top=0.55, gap=0.25)
    for ax, model in zip(axes, present, strict=True):
        g = rows[rows["model"] == model].sort_values("target_date")
        ax.plot(actual["target_date"], actual["actual"], color=ACTUAL_COLOR, linewidth=1.0)
        ax.plot(g["target_date"], g["forecast"], color=colors[model], linewidth=1.0, alpha=0.9)
        ax.set_title(label(model), fontsize=10, loc="left", color=colors[model])
        _dates(ax)
    fig.suptitle(label(series), fontsize=11, x=0.01, y=0.99, ha="left", va="top", fontweight="bold")
    return fig


def _with_benchmark(fc: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Forecast rows of one horizon joined with the random walk's at the same origin."""
    rows = fc[fc["horizon"] == horizon]
    bench = rows[rows["model"] == BENCHMARK][["series", "origin", "forecast"]]
    both = rows[rows["model"] != BENCHMARK].merge(
        bench, on=["series", "origin"], suffixes=("", "_rw")
    )
    both["se_diff"] = (both["forecast"] - both["actual"]) ** 2 - (
        both["forecast_rw"] - both["actual"]
    ) ** 2
    both["ae"] = (both["forecast"] - both["actual"]).abs()
    both["ae_rw"] = (both["forecast_rw"] - both["actual"]).abs()
    return both.sort_values(["series", "model", "target_date"], kind="stable")


def cumulative_figure(
    fc: pd.DataFrame, horizon: int, series: list[str], models: list[str], colors: dict[str, str]
) -> Figure | None:
    """Cumulative squared-error difference against the random walk, one panel per series.

    Scaled by the random walk's total squared error on the series, so that the last point of
    a line is ``rel_rmse**2 - 1`` and panels compare across price levels.
    """

    def line(g: pd.DataFrame) -> pd.Series | None:
        total = float((g["forecast_rw"] - g["actual"]).pow(2).sum())
        return 100 * g["se_diff"].cumsum() / total if len(g) and total > 0 else None

    ylabel = "cumulative SE difference, % of the RW's total SE"
    return _against_benchmark(fc, horizon, series, models, colors, 0.0, line, ylabel)


def rolling_figure(
    fc: pd.DataFrame,
    horizon: int,
    series: list[str],
    models: list[str],
    colors: dict[str, str],
    window: int,
) -> Figure | None:
    """Rolling MAE relative to the random walk's over ``window`` forecasts, per series."""

    def line(g: pd.DataFrame) -> pd.Series:
        num = g["ae"].rolling(window, min_periods=window).mean()
        den = g["ae_rw"].rolling(window, min_periods=window).mean()
        return num / den.where(den > 0)

    ylabel = f"rel MAE, last {window} forecasts"
    return _against_benchmark(fc, horizon, series, models, colors, 1.0, line, ylabel)


def _against_benchmark(
    fc: pd.DataFrame,
    horizon: int,
    series: list[str],
    models: list[str],
    colors: dict[str, str],
    reference: float,
    line: Callable[[pd.DataFrame], pd.Series | None],
    ylabel: str,
) -> Figure | None:
    """One panel per series, one line per model over its target dates: ``line`` maps the
    model's rows (with the random walk's beside them) to its values, ``None`` for no line;
    the random walk is the horizontal line at ``reference``."""
    both = _with_benchmark(fc, horizon)
    if both.empty:
        return None
    fig, axes = _grid(len(series), sharex=False, left=0.9, bottom=0.7)
    shown = [m for m in models if m != BENCHMARK and (both["model"] == m).any()]
    for ax, name in zip(axes, series, strict=True):
        s = both[both["series"] == name]
        ax.axhline(reference, color=BENCHMARK_COLOR, linewidth=0.8)
        for model in shown:
            g = s[s["model"] == model]
            values = line(g)
            if values is not None:
                ax.plot(g["target_date"], values, color=colors[model], lw=1.1)
        ax.set_title(label(name), fontsize=10, loc="left")
        _dates(ax)
    _legend(fig, shown, colors)
    fig.supylabel(ylabel, fontsize=8)
    return fig


def error_figure(
    fc: pd.DataFrame, horizon: int, series: list[str], models: list[str], colors: dict[str, str]
) -> Figure | None:
    """Distribution of percentage errors, one box per model, one panel per series."""
    rows = fc[fc["horizon"] == horizon]
    if rows.empty:
        return None
    fig, axes = _grid(len(series), sharex=False, left=0.8, bottom=0.55, gap=0.9, vgap=0.7)
    for ax, name in zip(axes, series, strict=True):
        s = rows[rows["series"] == name]
        present = [m for m in models if (s["model"] == m).any()]
        data = [
            (100 * (g["forecast"] - g["actual"]) / g["actual"]).to_numpy()
            for g in (s[s["model"] == m] for m in present)
        ]
        if not data:
            continue
        box = ax.boxplot(
            data[::-1],
            orientation="horizontal",
            tick_labels=[label(m) for m in present[::-1]],
            widths=0.6,
            patch_artist=True,
            flierprops={"markersize": 2, "alpha": 0.5},
            medianprops={"color": ACTUAL_COLOR},
        )
        for patch, model in zip(box["boxes"], present[::-1], strict=True):
            patch.set_facecolor(colors[model])
            patch.set_alpha(0.6)
        ax.axvline(0, color=BENCHMARK_COLOR, linewidth=0.8)
        ax.set_title(label(name), fontsize=10, loc="left")
        ax.set_xlabel("forecast error, % of the actual price", fontsize=8)
    return fig


def timing_figure(timings: pd.DataFrame, colors: dict[str, str]) -> Figure | None:
    """Fit and predict seconds per model (summed over series), log scale."""
    if timings.empty:
        return None
    t = timings.iloc[::-1]
    y = np.arange(len(t))
    fig = Figure(figsize=(8, 0.45 * len(t) + 1.2), layout="constrained")  # one axes: cheap
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    floor = 1e-4  # a log axis cannot show zero seconds
    fit = np.maximum(t["fit_seconds"].to_numpy(float), floor)
    pred = np.maximum(t["predict_seconds"].to_numpy(float), floor)
    ax.barh(y + 0.2, fit, height=0.38, color=[colors.get(m, "#888") for m in t["model"]])
    ax.barh(y - 0.2, pred, height=0.38, color="#bbbbbb")
    for yi, f, p in zip(y, fit, pred, strict=True):
        ax.text(f * 1.15, yi + 0.2, f"fit {f:.3g} s", va="center", fontsize=8)
        ax.text(p * 1.15, yi - 0.2, f"predict {p:.3g} s", va="center", fontsize=8)
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    ax.set_xlim(floor, max(fit.max(), pred.max()) * 8)
    ax.set_yticks(y, [label(m) for m in t["model"]])
    ax.set_xlabel("seconds, summed over series (log scale)", fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def rolling_window(n_forecasts: int) -> int:
    """The rolling window: a fifth of the test period, between 10 and 60 forecasts."""
    return int(min(60, max(10, n_forecasts // 5)))


def make_figures(run: RunFiles, timings: pd.DataFrame) -> list[ReportFigure]:
    """Every figure of the report, rendered; an empty list when there are no forecasts."""
    fc, metrics = run.forecasts, run.metrics
    if fc.empty or metrics.empty:
        return []
    series = list(dict.fromkeys(metrics["series"]))
    models = models_of(metrics)
    horizons = sorted({int(h) for h in metrics["horizon"]})
    colors = model_colors(models)
    first = horizons[0]
    out = []
    for i, name in enumerate(series, 1):
        fig = price_figure(fc, name, first, models, colors)
        out.append(
            ReportFigure(
                f"price-{i}",
                "prices",
                f"{name}: actual price and horizon-{first} forecasts",
                "Black: the actual price over the test period; colour: the model's forecast "
                f"made {first} trading day{'s' if first > 1 else ''} earlier.",
                render(fig),
            )
        )
    n_test = int(metrics["n"].max())
    window = rolling_window(n_test)
    kinds = (
        (
            "cumulative",
            lambda h: cumulative_figure(fc, h, series, models, colors),
            "Cumulative squared-error difference against the random walk, horizon {h}",
            "Running sum of (model squared error - random-walk squared error), in % of the "
            "random walk's total squared error on the series. A rising line means the model "
            "is losing to the random walk there; the end point is 100 x (rel RMSE² - 1).",
        ),
        (
            "rolling",
            lambda h: rolling_figure(fc, h, series, models, colors, window),
            "Rolling relative MAE, horizon {h}",
            f"MAE over the last {window} forecasts divided by the random walk's over the "
            "same forecasts. Below 1: the model is ahead in that window.",
        ),
        (
            "errors",
            lambda h: error_figure(fc, h, series, models, colors),
            "Error distribution, horizon {h}",
            "Forecast minus actual, in % of the actual price: box from the first to the "
            "third quartile, line at the median, whiskers to 1.5 IQR, dots beyond.",
        ),
    )
    for kind, draw, title, caption in kinds:
        for h in horizons:
            fig = draw(h)
            if fig is not None:
                out.append(
                    ReportFigure(f"{kind}-h{h}", kind, title.format(h=h), caption, render(fig))
                )
    fig = timing_figure(timings, colors)
    if fig is not None:
        out.append(
            ReportFigure(
                "timing",
                "timing",
                "Fit and predict time per model",
                "Seconds summed over every series and fold: fitting (colour) and forecasting "
                "(grey), log scale.",
                render(fig),
            )
        )
    return out


def by_section(figures: list[ReportFigure]) -> list[tuple[str, list[ReportFigure]]]:
    """Figures grouped under their section headings, in report order."""
    return [
        (heading, [f for f in figures if f.section == kind])
        for kind, heading in SECTIONS.items()
        if any(f.section == kind for f in figures)
    ]
