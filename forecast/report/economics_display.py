"""The report's "Economic value" section: would trading on the forecasts make money?

Built from ``economics.csv``, ``economics_summary.csv`` and ``run.json``'s ``statistics``
(see :mod:`forecast.evaluation.economics`): the verdict in plain words (the best configuration
at each cost level, its deflated Sharpe ratio and the probability of backtest overfitting),
a table per cost level, and per series the best configurations at the reference cost (the
smallest cost above zero) against buy-and-hold. Every number is read from the files as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.evaluation.economics import DSR_EVIDENCE, RULE_LABELS, economic_sentences
from forecast.report.display import Cell, Table
from forecast.report.tables import percent
from forecast.walkforward.runfiles import RunFiles

#: configurations shown per series in the section's table
TOP = 3

ECONOMIC_GLOSSARY = (
    (
        "trading rules",
        "long/flat: hold the stock when the forecast return beats the round-trip cost, else "
        "cash. long/short: hold it when the forecast is up, sell it short when down. "
        "volatility-targeted: long/short sized so that the position's forecast annual "
        "volatility is 10% (at most 2x leverage). Positions are decided at the close of each "
        "origin from that forecast alone.",
    ),
    (
        "staggered books",
        "A forecast h days ahead is a position held h days. The capital is split into h "
        "books; each day one of them trades on that day's forecast and holds it h days, so the "
        "position on any day is the average of the last h decisions.",
    ),
    (
        "cost (bp)",
        "Basis points (0.01%) of the amount traded, paid on every change of position "
        "(turnover); 5 bp is a realistic cost for a liquid large stock.",
    ),
    (
        "net Sharpe ratio",
        "Annualised mean daily return after costs divided by its annualised volatility (252 "
        "trading days, no risk-free rate). Compare it with buy-and-hold's on the same days.",
    ),
    (
        "buy-and-hold",
        "Holding the stock every day of the same window, paying the same entry cost: what a "
        "trading rule has to beat.",
    ),
    (
        "turnover",
        "Sum of the absolute changes of position per year: 252 means trading the whole capital "
        "once a day on average.",
    ),
    (
        "maximum drawdown",
        "The largest fall of the strategy's value from a previous peak, in % of that peak.",
    ),
    (
        "hit rate (trading)",
        "Share of the positions taken whose h-day price move had the position's sign.",
    ),
    (
        "deflated Sharpe ratio (DSR)",
        "The probability that the best configuration's true Sharpe ratio is above what the "
        "best of N skill-less configurations would reach by luck, given the length, skewness "
        "and fat tails of its returns (Bailey and López de Prado, 2014). N counts every "
        "configuration the run tried. 0.95 or more is evidence of skill.",
    ),
    (
        "PBO (probability of backtest overfitting)",
        "Split the days into 16 blocks, take every way of choosing half of them: how often "
        "the configuration best on the chosen half ranks at or below the median on the other "
        "half (Bailey, Borwein, López de Prado and Zhu, 2017). Near 0.5 or above: choosing the "
        "best backtest is no better than choosing at random.",
    ),
)


@dataclass(frozen=True)
class EconomicSection:
    """The "Economic value" section, formatted (plain text; each renderer escapes).

    ``verdict`` is the one-sentence answer, ``sentences`` the paragraph per cost level,
    ``notes`` how the forecasts were traded and judged; ``cost`` is the reference cost of
    ``best`` and of the equity figure.
    """

    verdict: str
    sentences: tuple[str, ...]
    notes: tuple[str, ...]
    summary: Table
    best: Table
    cost: float
    evidence: bool


def reference_cost(summary: pd.DataFrame) -> float:
    """The smallest cost level above zero (the highest when every level is zero)."""
    costs = sorted(float(c) for c in summary["cost_bps"])
    paid = [c for c in costs if c > 0]
    return paid[0] if paid else costs[-1]


def economic_section(run: RunFiles) -> EconomicSection | None:
    """The section of a run with economics; ``None`` when it has none."""
    if run.economics is None or run.economics_summary is None or not len(run.economics_summary):
        return None
    summary = run.economics_summary
    cost = reference_cost(summary)
    parts = economic_sentences(summary)
    return EconomicSection(
        verdict=parts[-1],
        sentences=tuple(parts[:-1]),
        notes=_notes(run, summary),
        summary=summary_table(summary),
        best=best_table(run.economics, cost),
        cost=cost,
        evidence=parts[-1].startswith("Verdict: evidence"),
    )


def economics_off_sentence(run: RunFiles) -> str:
    """Why a run has no economic section."""
    stats = run.run.get("statistics")
    if isinstance(stats, dict) and "economics" in stats:
        return "The economics were turned off for this run (--no-economics or economics = false)."
    return "This run folder was written before the economic evaluation existed."


def _settings(run: RunFiles) -> dict:
    stats = run.run.get("statistics")
    found = stats.get("economics") if isinstance(stats, dict) else None
    return found if isinstance(found, dict) else {}


def _notes(run: RunFiles, summary: pd.DataFrame) -> tuple[str, ...]:
    s = _settings(run)
    costs = ", ".join(f"{float(c):g}" for c in summary["cost_bps"])
    source = s.get("sigma_source")
    vol = f"{100 * float(s.get('target_vol', 0.1)):g}%"
    lev = f"{float(s.get('max_leverage', 2.0)):g}"
    if source == "column":
        sized = (
            f"sized to {vol} forecast annual volatility (at most {lev}x) by the volatility "
            "model's forecast"
        )
    elif source == "interval":
        level = _level(run)
        sized = (
            f"sized to {vol} forecast annual volatility (at most {lev}x) by the width of the "
            f"run's {level} prediction interval read as a normal one"
        )
    else:
        sized = "not run: the run has no volatility forecast and no intervals"
    trials = int(summary["n_trials"].max())
    scope = (
        "every (series, model, horizon, rule) at every cost level of this run"
        if s.get("trials", "run") == "run"
        else "every (series, model, horizon, rule) at the row's cost level"
    )
    return (
        "Positions are decided at each origin's close from that forecast alone and earn the "
        "next day's price return: long/flat holds the stock when the forecast return beats the "
        "round-trip cost; long/short takes the forecast's sign; volatility-targeted is "
        f"long/short {sized}. For horizons above 1 the capital is split into h staggered "
        "books, each holding its position h days. Buy-and-hold is held on the same days.",
        f"Costs: {costs} basis points per unit of turnover, paid on entry too; no financing or "
        "borrowing cost, no risk-free rate. Sharpe ratios are annualised over 252 days.",
        f"The deflated Sharpe ratio counts N = {trials} trials: {scope} (configurations that "
        f"never hold a position are left out); {DSR_EVIDENCE} or more is evidence of skill. "
        f"The PBO is computed per cost level by combinatorially symmetric cross-validation "
        f"with {int(s.get('n_blocks', 16))} blocks of days.",
    )


def _level(run: RunFiles) -> str:
    settings = run.run["config"].get("intervals")
    level = settings.get("level") if isinstance(settings, dict) else None
    return percent(float(level)) if isinstance(level, int | float) else "chosen"


def _fmt(column: str, value: object) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    v = float(value)  # type: ignore[arg-type]
    if column in ("sharpe", "bh_sharpe", "best_sharpe", "best_bh_sharpe", "expected_max_sharpe"):
        return f"{v:+.2f}"
    if column in ("ann_return", "excess_return"):
        return f"{100 * v:+.1f}%"
    if column in ("ann_vol", "max_drawdown", "hit_rate"):
        return f"{100 * v:.1f}%"
    if column == "turnover":
        return f"{v:.0f}"
    if column in ("dsr", "best_dsr", "pbo"):
        return f"{v:.3f}" if column != "pbo" else f"{v:.2f}"
    if column == "cost_bps":
        return f"{v:g}"
    return f"{int(v)}"


def _num(column: str, value: object, tone: str = "") -> Cell:
    v = None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]
    return Cell(_fmt(column, v), v, tone=tone)


def summary_table(summary: pd.DataFrame) -> Table:
    """One row per cost level: configurations, N, SR0, the best configuration, DSR, PBO."""
    rows, keys = [], []
    for r in summary.to_dict("records"):
        best = "-"
        if int(r["n_configs"]):
            best = (
                f"{r['best_series']} {r['best_model']} {RULE_LABELS.get(r['best_rule'], '?')} "
                f"h={r['best_horizon']}"
            )
        dsr_tone = "good" if r["best_dsr"] >= DSR_EVIDENCE else ""
        rows.append(
            (
                _num("cost_bps", r["cost_bps"]),
                _num("n_configs", r["n_configs"]),
                _num("n_trials", r["n_trials"]),
                _num("expected_max_sharpe", r["expected_max_sharpe"]),
                Cell(best),
                _num("best_sharpe", r["best_sharpe"]),
                _num("best_bh_sharpe", r["best_bh_sharpe"]),
                _num("best_dsr", r["best_dsr"], dsr_tone),
                _num("pbo", r["pbo"], "bad" if r["pbo"] >= 0.5 else ""),
                _num("n_beat_bh", r["n_beat_bh"]),
            )
        )
        keys.append({"cost": f"{float(r['cost_bps']):g}"})
    columns = (
        ("cost (bp)", "basis points per unit of turnover"),
        ("configurations", "series x model x horizon x rule with a Sharpe ratio at this cost"),
        ("trials N", "what the deflated Sharpe ratio counts"),
        ("luck SR0", "Sharpe ratio the best of N skill-less trials would reach"),
        ("best configuration", "highest net Sharpe ratio at this cost"),
        ("net Sharpe", "its annualised Sharpe ratio after costs"),
        ("buy-and-hold", "buy-and-hold's Sharpe ratio on the same days"),
        ("DSR", "deflated Sharpe ratio of the best; 0.95 or more: evidence of skill"),
        ("PBO", "probability of backtest overfitting (CSCV)"),
        ("beat B&H", "configurations with a higher Sharpe ratio than buy-and-hold"),
    )
    metrics = ("cost_bps", "n_configs", "n_trials", "expected_max_sharpe", "", "best_sharpe",
               "best_bh_sharpe", "best_dsr", "pbo", "n_beat_bh")  # fmt: skip
    return Table(columns, tuple(rows), tuple(keys), metrics, caption="Per cost level")


def best_table(economics: pd.DataFrame, cost: float, top: int = TOP) -> Table:
    """Per series, the ``top`` configurations by net Sharpe ratio at ``cost``."""
    part = economics[(economics["cost_bps"] == cost) & np.isfinite(economics["sharpe"])]
    part = part.sort_values("sharpe", ascending=False, kind="stable")
    shown = ("sharpe", "bh_sharpe", "excess_return", "ann_return", "ann_vol", "max_drawdown",
             "turnover", "hit_rate", "dsr")  # fmt: skip
    rows, keys = [], []
    for series in dict.fromkeys(economics["series"]):
        for r in part[part["series"] == series].head(top).to_dict("records"):
            beats = r["sharpe"] > r["bh_sharpe"]
            cells = [Cell(str(r["series"])), Cell(str(r["model"])),
                     Cell(str(r["horizon"]), float(r["horizon"])),
                     Cell(RULE_LABELS.get(r["rule"], str(r["rule"])))]  # fmt: skip
            for col in shown:
                tone = "good" if col == "sharpe" and beats else ""
                tone = "good" if col == "dsr" and r["dsr"] >= DSR_EVIDENCE else tone
                cells.append(_num(col, r[col], tone))
            rows.append(tuple(cells))
            keys.append({"series": str(r["series"]), "model": str(r["model"]),
                         "horizon": str(r["horizon"]), "rule": str(r["rule"]),
                         "cost": f"{cost:g}"})  # fmt: skip
    columns = (
        ("series", ""),
        ("model", ""),
        ("h", "horizon: each position is held h days"),
        ("rule", ""),
        ("net Sharpe", "annualised Sharpe ratio after costs; green: above buy-and-hold's"),
        ("B&H Sharpe", "buy-and-hold's on the same days"),
        ("vs B&H", "annual return minus buy-and-hold's"),
        ("return", "annualised mean daily return after costs"),
        ("volatility", "annualised"),
        ("max DD", "maximum drawdown"),
        ("turnover", "position changes per year"),
        ("hit rate", "share of positions whose h-day move had their sign"),
        ("DSR", "deflated Sharpe ratio (N = every configuration tried)"),
    )
    metrics = ("series", "model", "horizon", "rule", *shown)
    caption = f"The best {top} configurations of each series at {cost:g} bp"
    return Table(columns, tuple(rows), tuple(keys), metrics, caption=caption)
