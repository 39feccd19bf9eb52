"""The interval figures: coverage against the nominal level, and rolling coverage over time.

Drawn like :mod:`forecast.report.figures` (Agg canvas, no pyplot, names built from positions
only), from the numbers of :mod:`forecast.report.intervals`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from forecast.report.figures import (
    ACTUAL_COLOR,
    PANEL,
    ReportFigure,
    _dates,
    _grid,
    label,
    render,
    rolling_window,
)
from forecast.report.intervals import (
    TOLERANCE,
    VARIANT_SHORT,
    CoverageNumbers,
    keyed,
    percent_level,
    regimes,
    scored_points,
)

#: figures of this kind are shown in the interval section, not among the other figures
INTERVAL_SECTION = "intervals"
VARIANT_COLORS = {
    "model": "#8c6bb1",
    "conformal": "#1f77b4",
    "aci": "#e6550d",
    "conformal_ewma": "#9ecae1",
    "aci_ewma": "#31a354",
    "conformal_garch": "#6baed6",
    "aci_garch": "#252525",
}
BAND_COLOR = "#dafbe1"


def _band(ax, level: float) -> None:
    ax.axhspan(100 * (level - TOLERANCE), 100 * (level + TOLERANCE), color=BAND_COLOR, zorder=0)
    ax.axhline(100 * level, color=ACTUAL_COLOR, linewidth=0.9, zorder=1)


def coverage_figure(numbers: CoverageNumbers, models: list[str]) -> Figure:
    """Pooled coverage per model and variant, one panel per horizon.

    A dot is the coverage over every point; the bar through it runs from the turbulent half
    (lower end, usually) to the calm half, with a small mark at each end.
    """
    s, pooled = numbers.settings, numbers.pooled
    horizons = sorted({int(h) for h in pooled["horizon"]})
    present = [m for m in models if (pooled["model"] == m).any()]
    by_key = keyed(pooled, ["model", "horizon", "variant", "regime"])
    variants = s.shown
    offsets = np.linspace(-0.3, 0.3, len(variants)) if len(variants) > 1 else [0.0]
    fig, axes = _grid(len(horizons), sharex=False, sharey=True, bottom=0.95, top=0.35)
    width = max(PANEL[0], 0.75 * len(present) + 0.8)
    if width > PANEL[0]:  # many models: wider panels, same height
        fig.set_figwidth(fig.get_figwidth() * width / PANEL[0])
    for ax, h in zip(axes, horizons, strict=True):
        _band(ax, s.level)
        for off, v in zip(offsets, variants, strict=True):
            for i, model in enumerate(present):
                rows = {
                    part: by_key.get((model, h, v, part)) for part in ("all", "calm", "turbulent")
                }
                if rows["all"] is None:
                    continue
                x = i + off
                calm = rows["calm"]["coverage"] if rows["calm"] is not None else np.nan
                turb = rows["turbulent"]["coverage"] if rows["turbulent"] is not None else np.nan
                color = VARIANT_COLORS[v]
                ax.plot([x, x], [100 * turb, 100 * calm], color=color, linewidth=1.2, zorder=2)
                ax.plot([x], [100 * calm], marker="^", color=color, markersize=4, zorder=3)
                ax.plot([x], [100 * turb], marker="v", color=color, markersize=4, zorder=3)
                ax.plot([x], [100 * rows["all"]["coverage"]], marker="o", color=color,
                        markersize=6, markeredgecolor="white", zorder=4)  # fmt: skip
        long = max(len(m) for m in present) > 9  # long names would run into each other
        ax.set_xticks(
            range(len(present)),
            [label(m) for m in present],
            fontsize=8,
            rotation=30 if long else 0,
            ha="right" if long else "center",
        )
        ax.set_xlim(-0.6, len(present) - 0.4)
        ax.set_title(f"horizon {h}", fontsize=10, loc="left")
        ax.yaxis.set_major_formatter(lambda y, _: f"{y:g}%")
    axes[0].set_ylabel("coverage, series pooled", fontsize=8)
    handles = [Line2D([], [], color=VARIANT_COLORS[v], marker="o", lw=1.2) for v in variants]
    names = [VARIANT_SHORT[v] + (" (chosen)" if v == s.method else "") for v in variants]
    handles += [
        Line2D([], [], color="#555", marker="^", lw=0, markersize=4),
        Line2D([], [], color="#555", marker="v", lw=0, markersize=4),
        Line2D([], [], color=ACTUAL_COLOR, lw=0.9),
    ]
    names += ["calm half", "turbulent half", f"nominal {percent_level(s.level)}"]
    fig.legend(handles, names, loc="lower center", ncols=len(names), frameon=False, fontsize=8)
    return fig


def rolling_coverage_figure(
    fc: pd.DataFrame, numbers: CoverageNumbers, series: list[str], horizon: int, window: int
) -> Figure | None:
    """Rolling coverage of the adaptive variants over the test period, one panel per series.

    At each target date, the share of every model's forecasts that the interval covered over
    the last ``window`` dates; turbulent dates shaded.
    """
    s = numbers.settings
    shown = [v for v in s.shown if v != "model"] or list(s.variants)
    points = scored_points(fc[fc["horizon"] == horizon], tuple(shown))
    if points.empty:
        return None
    reg = regimes(fc)
    fig, axes = _grid(len(series), sharex=False, sharey=True, left=0.7, bottom=0.75)
    for ax, name in zip(axes, series, strict=True):
        _band(ax, s.level)
        turbulent = reg[reg["series"] == name].sort_values("target_date")
        ax.fill_between(
            turbulent["target_date"],
            0,
            1,
            where=(turbulent["regime"] == "turbulent").to_numpy(),
            transform=ax.get_xaxis_transform(),
            step="mid",
            color="#eeeeee",
            zorder=0,
        )
        one = points[points["series"] == name]
        for v in shown:
            daily = one[one["variant"] == v].groupby("target_date")["inside"].agg(["sum", "size"])
            roll = daily.rolling(window, min_periods=window).sum()
            ax.plot(roll.index, 100 * roll["sum"] / roll["size"], color=VARIANT_COLORS[v], lw=1.2)
        ax.set_title(label(name), fontsize=10, loc="left")
        ax.yaxis.set_major_formatter(lambda y, _: f"{y:g}%")
        _dates(ax)
    handles = [Line2D([], [], color=VARIANT_COLORS[v], lw=1.5) for v in shown]
    handles.append(Line2D([], [], color="#dddddd", lw=6))
    names = [VARIANT_SHORT[v] for v in shown] + ["turbulent half"]
    fig.legend(handles, names, loc="lower center", ncols=len(names), frameon=False, fontsize=9)
    return fig


def interval_figures(
    fc: pd.DataFrame, numbers: CoverageNumbers | None, series: list[str], models: list[str]
) -> list[ReportFigure]:
    """The interval figures, rendered; none when the run has no intervals."""
    if numbers is None:
        return []
    s = numbers.settings
    band = f"{percent_level(s.level - TOLERANCE)} to {percent_level(s.level + TOLERANCE)}"
    out = [
        ReportFigure(
            "coverage",
            INTERVAL_SECTION,
            f"Coverage of the {percent_level(s.level)} intervals against the nominal level",
            f"Per model and variant, series pooled: the dot is the coverage over every point, "
            f"the bar runs from the turbulent half (▼) to the calm half (▲). Black line: the "
            f"nominal level; green: the tolerance band, {band}.",
            render(coverage_figure(numbers, models)),
        )
    ]
    h = int(numbers.pooled["horizon"].min())
    # a point per target date and model: the longest series' dates set the window
    window = rolling_window(int(numbers.per_series["n"].max()))
    fig = rolling_coverage_figure(fc, numbers, series, h, window)
    if fig is not None:
        out.append(
            ReportFigure(
                f"rolling-coverage-h{h}",
                INTERVAL_SECTION,
                f"Rolling coverage over the test period, horizon {h}",
                f"Share of the actual prices inside the interval over the last {window} target "
                "dates, every model pooled; grey: the dates of the turbulent half. Unscaled "
                "ACI widens only after misses (and narrows after hits); the scaled variants "
                "widen with the volatility forecast at the origin, before the misses come.",
                render(fig),
            )
        )
    return out
