"""The volatility section's figures: forecasts against the realised proxy, and VaR exceptions.

Drawn like every report figure (:mod:`forecast.report.figures`: Agg canvas, no pyplot, file
names from positions and horizons only). Volatility is shown annualised, in percent
(``100 sqrt(252 v / h)`` for an ``h``-day variance ``v``), on a log scale: the unit a reader
knows, and calm and turbulent spells on one axis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib import ticker

from forecast.evaluation.metrics import BENCHMARK  # the naive model, in both registries
from forecast.report.figures import (
    ACTUAL_COLOR,
    ReportFigure,
    _dates,
    _grid,
    _legend,
    label,
    model_colors,
    plain_log_ticks,
    render,
)
from forecast.report.volatility_tables import models_of

if TYPE_CHECKING:
    from forecast.walkforward.volatility_files import VolatilityRunFiles

#: the section name of these figures (kept out of the general "Figures" section)
VOLATILITY_SECTION = "volatility"
TRADING_DAYS = 252


def annualised(variance: pd.Series | np.ndarray, horizon: int) -> np.ndarray:
    """An ``h``-day variance as annualised volatility in percent."""
    v = np.asarray(variance, dtype=float)
    return 100.0 * np.sqrt(np.maximum(v, 0.0) * TRADING_DAYS / horizon)


def forecast_figure(
    fc: pd.DataFrame, horizon: int, series: list[str], models: list[str], colors: dict[str, str]
):
    """Per series: the realised proxy (grey dots) and each model's forecast (lines)."""
    rows = fc[fc["horizon"] == horizon]
    present = [s for s in series if (rows["series"] == s).any()]
    if not present:
        return None
    fig, axes = _grid(len(present), sharex=False, left=0.9, bottom=0.7)
    for ax, name in zip(axes, present, strict=True):
        g = rows[rows["series"] == name]
        realised = g.drop_duplicates("target_date").sort_values("target_date")
        y = annualised(realised["realized"], horizon)
        ok = y > 0
        ax.scatter(realised["target_date"][ok], y[ok], s=4, color="#b0b0b0", zorder=1)
        for model in models:
            m = g[g["model"] == model].sort_values("target_date")
            if m.empty:
                continue
            ax.plot(
                m["target_date"],
                annualised(m["variance_forecast"], horizon),
                color=colors[model],
                linewidth=1.3 if model == BENCHMARK else 0.9,
                zorder=2,
            )
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        plain_log_ticks(ax.yaxis)
        ax.set_title(label(name), fontsize=10, loc="left")
        _dates(ax)
    _legend(fig, [m for m in models if (rows["model"] == m).any()], colors)
    fig.supylabel("annualised volatility, %", fontsize=8)
    return fig


def _best_model(metrics: pd.DataFrame, series: str, horizon: int) -> str | None:
    rows = metrics[(metrics["series"] == series) & (metrics["horizon"] == horizon)]
    rows = rows[np.isfinite(rows["qlike"].astype(float))]
    return None if rows.empty else str(rows.loc[rows["qlike"].astype(float).idxmin(), "model"])


def exceptions_figure(run: VolatilityRunFiles, horizon: int, series: list[str]):
    """Per series, the best model by QLIKE: returns, -VaR at 5% and 1%, and the exceptions."""
    fc = run.forecasts[run.forecasts["horizon"] == horizon]
    picks = [(s, _best_model(run.metrics, s, horizon)) for s in series]
    picks = [(s, m) for s, m in picks if m is not None]
    if not picks:
        return None, []
    fig, axes = _grid(len(picks), sharex=False, left=0.9)
    titles = []
    for ax, (name, model) in zip(axes, picks, strict=True):
        g = fc[(fc["series"] == name) & (fc["model"] == model)].sort_values("origin")
        g = g.iloc[::horizon]  # non-overlapping periods, as the tests count them
        r = 100 * g["return"].to_numpy(float)
        x = g["target_date"]
        ax.bar(x, r, width=1.5 * horizon, color=ACTUAL_COLOR, alpha=0.45)
        rates = []
        for col, color, level in (("var_5", "#d4a017", "5%"), ("var_1", "#cf222e", "1%")):
            var = 100 * g[col].to_numpy(float)
            ax.plot(x, -var, color=color, linewidth=1.0)
            hit = r < -var
            ax.scatter(x[hit], r[hit], s=14, color=color, zorder=3, marker="v")
            rates.append(f"{level}: {int(hit.sum())} of {len(r)}")
        ax.set_title(f"{label(name)}: {label(model)} ({', '.join(rates)})", fontsize=9, loc="left")
        ax.axhline(0, color="#888888", linewidth=0.5)
        _dates(ax)
        titles.append(f"{name}: {model}")
    fig.supylabel(f"{horizon}-day log return, %", fontsize=8)
    return fig, titles


def volatility_figures(run: VolatilityRunFiles) -> list[ReportFigure]:
    """Every figure of the volatility section, rendered; empty without forecasts."""
    fc, metrics = run.forecasts, run.metrics
    if fc.empty or metrics.empty:
        return []
    series = list(dict.fromkeys(metrics["series"]))
    models = models_of(metrics)
    colors = model_colors(models)
    horizons = sorted({int(h) for h in metrics["horizon"]})
    out = []
    for h in horizons:
        fig = forecast_figure(fc, h, series, models, colors)
        if fig is not None:
            out.append(
                ReportFigure(
                    f"volatility-h{h}",
                    VOLATILITY_SECTION,
                    f"Volatility forecasts against the realised proxy, horizon {h}",
                    "Grey dots: the realised proxy of the h days after each origin; lines: each "
                    "model's forecast of it (naive in grey). Annualised volatility in percent, "
                    "100 sqrt(252 v / h), log scale. The proxy is noisy: a good forecast runs "
                    "through the middle of the dots, not along them.",
                    render(fig),
                )
            )
    for h in horizons:
        fig, _ = exceptions_figure(run, h, series)
        if fig is not None:
            out.append(
                ReportFigure(
                    f"var-exceptions-h{h}",
                    VOLATILITY_SECTION,
                    f"Value-at-Risk exceptions, horizon {h}",
                    f"Per series, the model with the lowest QLIKE: the {h}-day log return in % "
                    "(grey bars, every h-th origin: the periods the tests count), minus its VaR "
                    "at 5% (amber) and 1% (red) from the normal quantile, and the exceptions "
                    "(triangles: returns below -VaR). About 5% and 1% of the bars should cross "
                    "the lines, spread out rather than bunched.",
                    render(fig),
                )
            )
    return out
