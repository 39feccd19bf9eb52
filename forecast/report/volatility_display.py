"""The report's volatility section as formatted tables, shared by the HTML and Markdown pages.

:func:`volatility_section` turns a volatility run (:mod:`forecast.walkforward.volatility_files`)
into a :class:`VolatilitySection`: the headline, the proxy used, one verdict per series and
horizon, leaderboards (QLIKE and MSE relative to the naive model, Diebold-Mariano p-values,
model confidence set), the Value-at-Risk tests (exception rate, Kupiec and Christoffersen
p-values), failures, and the glossary entries of the terms it uses, in plain words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from forecast.report.display import Cell, Table, failures_table, pairs_table, text_table
from forecast.report.tables import ALPHA, failures, format_p, percent, plain
from forecast.report.volatility_glossary import volatility_glossary
from forecast.report.volatility_tables import (
    VAR_VARIANTS,
    leaderboard,
    models_of,
    proxies,
    proxy_sentence,
    summary,
    var_pooled,
    verdicts,
)

if TYPE_CHECKING:
    from forecast.walkforward.volatility_files import VolatilityRunFiles

#: leaderboard columns: (metrics column, label, hover help)
BOARD = (
    ("n", "n", "forecasts scored"),
    ("qlike", "QLIKE", "mean QLIKE loss rv/f - ln(rv/f) - 1; 0 is a perfect forecast"),
    ("rel_qlike", "rel QLIKE", "QLIKE / the naive model's on the same origins; < 1 is better"),
    ("dm_qlike_pvalue", "DM p (QLIKE)", "Diebold-Mariano test of equal QLIKE vs naive"),
    ("rel_mse", "rel MSE", "MSE of the variance / the naive model's; < 1 is better"),
    ("dm_mse_pvalue", "DM p (MSE)", "Diebold-Mariano test of equal MSE vs naive"),
    ("mcs_pvalue", "MCS p", "model confidence set p-value on QLIKE; in the set above 10%"),
    ("var_1_rate", "VaR 1% hits", "share of returns below -VaR at 1% (normal quantile)"),
    ("var_5_rate", "VaR 5% hits", "share of returns below -VaR at 5% (normal quantile)"),
)


@dataclass(frozen=True)
class VolatilitySection:
    """The volatility section, formatted (plain text; each renderer escapes)."""

    headline: tuple[str, ...]
    proxy_note: str
    notes: tuple[str, ...]
    verdict_table: Table
    leaderboards: tuple[tuple[int, tuple[Table, ...]], ...]
    var_pooled: tuple[tuple[int, Table], ...]
    var_tables: tuple[tuple[int, Table], ...]
    proxy_table: Table
    failures: Table
    glossary: tuple[tuple[str, str], ...]
    #: whether some model beats the naive one significantly somewhere (the headline's colour)
    answer_class: str = "none"


def _num(text: str, value: object, best: bool = False, tone: str = "") -> Cell:
    v = None if value is None or pd.isna(value) else float(value)
    return Cell(text if v is not None else "-", v, best, tone)


def _fmt(col: str, value: object) -> str:
    if value is None or pd.isna(value):
        return "-"
    v = float(value)
    if col == "n":
        return f"{int(v)}"
    if "pvalue" in col or col.endswith(("_p_uc", "_p_ind")) or col in ("p_uc", "p_ind"):
        return format_p(v)
    if col.endswith("rate"):
        return f"{100 * v:.1f}%"
    if col in ("qlike", "rel_qlike", "rel_mse"):
        return f"{v:.3f}"
    return f"{v:.3g}"


def volatility_section(run: VolatilityRunFiles, alpha: float = ALPHA) -> VolatilitySection:
    """Every table and sentence of the volatility section."""
    m = run.metrics
    series = list(dict.fromkeys(m["series"]))
    horizons = sorted({int(h) for h in m["horizon"]})
    boards = tuple(
        (h, tuple(_board(leaderboard(m, s, h), s, h, alpha) for s in series)) for h in horizons
    )
    pooled = var_pooled(run.var_tests, alpha) if len(run.var_tests) else None
    found = verdicts(run, alpha)
    notes = (
        "QLIKE and MSE are Patton's (2011) losses that rank variance forecasts correctly even "
        "though the realised proxy is noisy; rel QLIKE and rel MSE divide by the naive "
        "model's on the same origins (below 1: better). Green DM p: significantly lower loss "
        f"than the naive model at {percent(alpha)}; red: significantly higher. Bold MCS p: in "
        "the model confidence set (10%), the models that cannot be told apart from the best.",
        "Value-at-Risk (VaR) is the loss of log return not exceeded with probability 99% (1%) "
        "or 95% (5%) over the horizon, from each variance forecast with a normal or a "
        "Student-t quantile. An exception is a return below -VaR; a right VaR has exceptions "
        "at the rate of its level (Kupiec test), not in clusters (Christoffersen test). At "
        "horizon h > 1 the tests use every h-th origin, so that the periods do not overlap.",
    )
    return VolatilitySection(
        headline=tuple(summary(run, alpha)),
        proxy_note=proxy_sentence(run),
        notes=notes,
        verdict_table=_verdict_table(found),
        leaderboards=boards,
        var_pooled=tuple((h, _pooled_table(pooled, h, alpha)) for h in horizons)
        if pooled is not None
        else (),
        var_tables=tuple((h, _var_table(run.var_tests, h, alpha)) for h in horizons)
        if len(run.var_tests)
        else (),
        proxy_table=text_table(proxies(run)),
        failures=failures_table(failures(run)),
        glossary=volatility_glossary(models_of(m)),
        answer_class="beats" if any(v.significant for v in found) else "none",
    )


def _verdict_table(found) -> Table:
    rows, keys = [], []
    for v in found:
        tone = "good" if v.model is not None and v.model in v.significant else ""
        rows.append(
            (
                Cell(v.series),
                Cell(str(v.horizon), float(v.horizon)),
                Cell(v.model or "-"),
                _num(_fmt("rel_qlike", v.rel_qlike), v.rel_qlike),
                _num(format_p(v.dm_pvalue), v.dm_pvalue, tone=tone),
                Cell(v.mcs_members.replace(",", ", ") or "-"),
                _num(format_p(v.spa_pvalue), v.spa_pvalue),
                Cell(v.text, tone="good" if v.significant else ""),
            )
        )
        keys.append({"series": v.series, "horizon": str(v.horizon)})
    columns = (
        ("series", ""),
        ("horizon", "trading days ahead"),
        ("best model", "lowest rel QLIKE other than the naive model"),
        ("rel QLIKE", "its QLIKE / the naive model's"),
        ("DM p", "Diebold-Mariano test of equal QLIKE vs naive"),
        ("MCS (10%)", "the models that cannot be told apart from the best"),
        ("SPA p", "Hansen's test that no model beats the naive one"),
        ("verdict", ""),
    )
    metrics = ("series", "horizon", "model", "rel_qlike", "dm_qlike_pvalue", "", "spa_pvalue", "")
    return Table(columns, tuple(rows), tuple(keys), metrics)


def _board(board: pd.DataFrame, series: str, horizon: int, alpha: float) -> Table:
    rows, keys = [], []
    finite = {c: board[c].astype(float) for c, _, _ in BOARD}
    best = {c: finite[c].min() for c in ("qlike", "rel_qlike", "rel_mse")}
    for _, r in board.iterrows():
        cells = [Cell(str(r["model"]))]
        for col, _, _ in BOARD:
            v = r[col]
            tone = ""
            if col in ("dm_qlike_pvalue", "dm_mse_pvalue"):
                stat = r[col.replace("pvalue", "stat")]
                if v < alpha:
                    tone = "good" if stat < 0 else "bad"
            is_best = col in best and pd.notna(v) and float(v) == best[col]
            if col == "mcs_pvalue":
                is_best = bool(r["in_mcs"]) if pd.notna(r["in_mcs"]) else False
            cells.append(_num(_fmt(col, v), v, is_best, tone))
        rows.append(tuple(cells))
        keys.append({"series": series, "model": str(r["model"]), "horizon": str(horizon)})
    columns = (("model", ""), *((label, help_) for _, label, help_ in BOARD))
    metrics = ("model", *(c for c, _, _ in BOARD))
    proxy = board["proxy"].dropna()
    shown = f" (proxy {proxy.iloc[0]})" if len(proxy) and proxy.iloc[0] else ""
    return Table(
        columns, tuple(rows), tuple(keys), metrics, caption=f"{series}, horizon {horizon}{shown}"
    )


def _var_table(tests: pd.DataFrame, horizon: int, alpha: float) -> Table:
    t = tests[tests["horizon"] == horizon]
    order = models_of(t) if len(t) else []
    rows, keys = [], []
    for series in dict.fromkeys(t["series"]):
        for model in order:
            g = t[(t["series"] == series) & (t["model"] == model)]
            if g.empty:
                continue
            cells = [Cell(series), Cell(model)]
            for _, level, dist in VAR_VARIANTS:
                r = g[(g["alpha"] == level) & (g["dist"] == dist)]
                if r.empty:
                    cells += [Cell("-"), Cell("-"), Cell("-")]
                    continue
                r = r.iloc[0]
                cells.append(_num(_fmt("rate", r["rate"]), r["rate"]))
                for p in ("p_uc", "p_ind"):
                    cells.append(_num(format_p(r[p]), r[p], tone="bad" if r[p] <= alpha else ""))
            rows.append(tuple(cells))
            keys.append({"series": series, "model": model, "horizon": str(horizon)})
    labels, groups = [("series", ""), ("model", "")], [("", 1), ("", 1)]
    for _, level, dist in VAR_VARIANTS:
        name = f"VaR {percent(level)} {dist}"
        labels += [
            (f"{name} hits", "share of returns below -VaR (nominal: the level)"),
            (f"{name} Kupiec p", "Kupiec test: is the exception rate the level?"),
            (f"{name} Chr. p", "Christoffersen test: are exceptions independent of the last one?"),
        ]
        groups.append((name, 3))
    sublabels = ("series", "model", *(("hits", "Kupiec p", "Chr. p") * len(VAR_VARIANTS)))
    n = int(t["n"].max()) if len(t) else 0
    return Table(
        tuple(labels),
        tuple(rows),
        tuple(keys),
        caption=f"Horizon {horizon} ({n} tested periods per series; red: p at or below the level)",
        groups=tuple(groups),
        sublabels=sublabels,
    )


def _pooled_table(pooled: pd.DataFrame, horizon: int, alpha: float) -> Table:
    p = pooled[pooled["horizon"] == horizon]
    rows = []
    for model in models_of(p) if len(p) else []:
        g = p[p["model"] == model]
        cells = [Cell(model)]
        for _, level, dist in VAR_VARIANTS:
            r = g[(g["alpha"] == level) & (g["dist"] == dist)]
            if r.empty:
                cells += [Cell("-"), Cell("-")]
                continue
            r = r.iloc[0]
            cells.append(_num(_fmt("rate", r["rate"]), r["rate"]))
            share = r["uc_ok"] / r["n_series"]
            ok = f"{int(r['uc_ok'])} of {int(r['n_series'])}"
            cells.append(Cell(ok, float(share), tone="bad" if share < 0.8 else ""))
        rows.append(tuple(cells))
    labels, groups = [("model", "")], [("", 1)]
    for _, level, dist in VAR_VARIANTS:
        name = f"VaR {percent(level)} {dist}"
        labels += [
            (f"{name} mean hits", "exception rate averaged over the series"),
            (f"{name} Kupiec ok", f"series whose Kupiec p > {percent(alpha)}"),
        ]
        groups.append((name, 2))
    sublabels = ("model", *(("mean hits", "Kupiec ok") * len(VAR_VARIANTS)))
    return Table(
        tuple(labels),
        tuple(rows),
        caption=f"Horizon {horizon}, every series pooled",
        groups=tuple(groups),
        sublabels=sublabels,
    )


def run_tables(run: VolatilityRunFiles) -> dict[str, Table]:
    """The run's facts for a volatility-only page: series, configuration, times, versions."""
    r = run.run
    series = pd.DataFrame(r.get("series", []))
    keep = [
        c
        for c in (
            "series",
            "first_date",
            "last_date",
            "n",
            "test_start",
            "proxy",
            "content_hash",
            "source",
        )
        if c in series.columns
    ]
    timings = pd.DataFrame(r.get("timings", []))
    if len(timings):
        timings = (
            timings.groupby("model", sort=False)[
                ["fit_seconds", "predict_seconds", "n_fits", "n_failed"]
            ]
            .sum()
            .reset_index()
        )
    rows = tuple(
        (
            Cell(str(t["model"])),
            _num(f"{t['fit_seconds']:.2f}", t["fit_seconds"]),
            _num(f"{t['predict_seconds']:.2f}", t["predict_seconds"]),
            _num(f"{int(t['n_fits'])}", t["n_fits"]),
            _num(f"{int(t['n_failed'])}", t["n_failed"], tone="bad" if t["n_failed"] else ""),
        )
        for _, t in timings.iterrows()
    )
    arguments = r.get("arguments") if isinstance(r.get("arguments"), dict) else {}
    return {
        "series": text_table(series[keep] if keep else series),
        "config": pairs_table({k: plain(v) for k, v in r.get("config", {}).items()}),
        "arguments": pairs_table(
            {k: plain(v) for k, v in arguments.items() if k != "command"}, "argument"
        ),
        "timings": Table(
            (
                ("model", ""),
                ("fit s", "all series"),
                ("predict s", "all series"),
                ("fits", ""),
                ("failed folds", ""),
            ),
            rows,
        ),
        "versions": pairs_table(
            {k: plain(v) for k, v in r.get("versions", {}).items()}, "package", "version"
        ),
    }
