"""The "Economic value" figure: equity curves of the best configurations against buy-and-hold.

Drawn from ``economics_equity.csv`` (one panel per series, at the section's reference cost),
with the same Agg canvas and model colours as :mod:`forecast.report.figures`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.evaluation.economics import RULE_LABELS
from forecast.evaluation.trading import BUY_AND_HOLD
from forecast.report.figures import (
    BENCHMARK_COLOR,
    ReportFigure,
    _dates,
    _grid,
    label,
    model_colors,
    render,
)

#: figures of this kind are shown in the economic section, not among the other figures
ECONOMICS_SECTION = "economics"


def equity_figure(
    curves: pd.DataFrame, cost: float, series: list[str], models: list[str]
) -> ReportFigure | None:
    """Growth of 1 invested in each series' best configuration and in buy-and-hold.

    ``curves`` is the run's ``equity_curves`` (cumulative net log returns); ``None`` when it
    has nothing at ``cost``.
    """
    at = curves[np.isclose(curves["cost_bps"].astype(float), cost)]
    shown = [s for s in series if (at["series"] == s).any()]
    if not shown:
        return None
    colors = model_colors(models)
    fig, axes = _grid(len(shown), sharex=False, left=0.95, bottom=0.5, top=0.35, vgap=0.75)
    for ax, name in zip(axes, shown, strict=True):
        s = at[at["series"] == name]
        bh = s[s["model"] == BUY_AND_HOLD].sort_values("end")
        best = s[s["model"] != BUY_AND_HOLD].sort_values("end")
        ax.axhline(1.0, color="#cccccc", linewidth=0.6)
        ax.plot(bh["end"], np.exp(bh["equity"]), color=BENCHMARK_COLOR, lw=1.0, ls="--",
                label="buy-and-hold")  # fmt: skip
        if len(best):
            r = best.iloc[0]
            text = f"{r['model']} {RULE_LABELS.get(r['rule'], r['rule'])} h={r['horizon']}"
            ax.plot(best["end"], np.exp(best["equity"]), lw=1.3, label=label(text),
                    color=colors.get(str(r["model"]), "#1f77b4"))  # fmt: skip
        ax.set_title(label(name), fontsize=10, loc="left")
        ax.legend(fontsize=7, frameon=True, framealpha=0.8, edgecolor="none", loc="best")
        _dates(ax)
    fig.supylabel("value of 1 invested, after costs", fontsize=8)
    return ReportFigure(
        "economics-equity",
        ECONOMICS_SECTION,
        f"Equity of each series' best configuration against buy-and-hold, {cost:g} bp",
        "Value of 1 invested at the first day of the window, after costs of "
        f"{cost:g} basis points per unit traded: the configuration with the highest net Sharpe "
        "ratio on the series (colour) and buy-and-hold on the same days (grey, dashed). The "
        "best of many configurations looks better than it is: see its deflated Sharpe ratio.",
        render(fig),
    )
