"""The answer page ``does_it_help.md`` / ``.html``: covariates, global nets, the cross-section.

Written next to ``report.html`` for a run that has pairs to compare (a model without and with
covariates, a per-series net and its global version) or that is cross-sectional. It answers,
in plain words first and with the statistics under each answer:

1. Does anything rank the stocks better than chance? (rank IC, Newey-West t, Holm; the
   top-k minus bottom-k book after costs, with its deflated Sharpe ratio)
2. Do covariates help? (the same model without and with them: Clark-West, Holm)
3. Does the global net beat the per-series net? (Diebold-Mariano, Holm)
4. Does anything beat the random walk at all? (issue 14's pooled verdict)

It reads the run folder only (:func:`forecast.walkforward.runfiles.read_run`,
:func:`forecast.walkforward.cross_section.read_cross_section`, ``comparisons.csv``,
``pooled.csv``); a survivorship warning heads the page whenever the run's universe holds the
shipped S&P 500 stocks.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.evaluation.comparisons import PAIR_COLUMNS
from forecast.evaluation.economics import DSR_EVIDENCE
from forecast.evaluation.verdicts import evaluate_forecasts
from forecast.report.tables import ALPHA, format_p
from forecast.walkforward.cross_section import read_cross_section
from forecast.walkforward.runfiles import RunFiles, read_run

PAGE = "does_it_help"


@dataclass
class Section:
    """A heading, the plain-words answer, and the tables behind it (caption, frame)."""

    heading: str
    answer: list[str]
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)


@dataclass(frozen=True)
class HelpPaths:
    html: Path
    markdown: Path


def build_sections(run_dir: str | os.PathLike, alpha: float = ALPHA) -> tuple[list[str], list]:
    """The page's notes (survivorship, settings) and its sections."""
    run = read_run(run_dir)
    config = run.run.get("config", {})
    notes = []
    universe = config.get("universe") or {}
    if universe.get("survivorship"):
        notes.append("Survivorship bias: " + universe["survivorship"])
    groups = config.get("covariate_groups")
    if groups:
        market = f" (market index: {config.get('market')})" if config.get("market") else ""
        notes.append(f"Covariates: {', '.join(groups)}{market}; columns "
                     f"{', '.join(config.get('covariates', []))}.")  # fmt: skip
    scores = read_cross_section(run.path)
    sections = []
    if scores is not None:
        sections.append(ranking_section(scores, alpha))
    comparisons = _comparisons(run.path, scores)
    sections.append(pair_section(comparisons, "covariates", alpha))
    sections.append(pair_section(comparisons, "global", alpha))
    sections.append(random_walk_section(run, alpha))
    return notes, sections


def ranking_section(scores, alpha: float) -> Section:
    """Does anything rank the stocks better than chance?"""
    ranking = scores.ranking
    k = scores.settings.get("top_k", "k")
    tested = ranking[ranking["model"] != "naive"]
    hits = tested[(tested["holm_pvalue"] <= alpha) & (tested["mean_ic"] > 0)]
    answer = []
    if len(hits):
        listed = "; ".join(
            f"{r.model} (mean IC {r.mean_ic:.3f}, t {r.nw_t:.2f}, Holm p {format_p(r.holm_pvalue)})"
            for r in hits.itertuples()
        )
        answer.append(f"Yes: better than chance at the {alpha:.0%} level after Holm over "
                      f"{len(tested)} models: {listed}.")  # fmt: skip
    elif len(tested):
        best = tested.loc[tested["mean_ic"].idxmax()]
        answer.append(
            f"No model ranks the stocks better than chance at the {alpha:.0%} level after Holm "
            f"over {len(tested)} models. The highest mean daily rank IC is {best.mean_ic:.3f} "
            f"({best.model}, Newey-West t {best.nw_t:.2f}, Holm p {format_p(best.holm_pvalue)})."
        )
    answer.append("The random walk forecasts no change for every stock: it ranks nothing, and "
                  "its IC is 0 by construction.")  # fmt: skip
    summary = scores.portfolio_summary
    if len(summary):
        cost = float(summary["cost_bps"].max())
        at = summary[(summary["cost_bps"] == cost) & (summary["turnover"] > 0)]
        if len(at):
            best = at.loc[at["sharpe"].idxmax()]
            evidence = "at or above" if best.dsr >= DSR_EVIDENCE else "below"
            answer.append(
                f"After {cost:g} bps per unit of turnover, the best top-{k} minus bottom-{k} "
                f"book is {best.model}'s: {best.ann_return:+.1%} a year, Sharpe "
                f"{best.sharpe:.2f}, maximum drawdown {best.max_drawdown:.1%}, "
                f"{best.turnover:.0f}x turnover a year. Its deflated Sharpe ratio over the "
                f"{int(best.n_trials)} books tried is {best.dsr:.2f}, {evidence} "
                f"{DSR_EVIDENCE}{' (evidence of skill)' if evidence == 'at or above' else ''}."
            )
    ic = ranking.rename(columns={"mean_ic": "mean IC", "ic_sd": "IC sd",
                                 "ic_positive": "days IC > 0", "nw_t": "NW t",
                                 "pvalue": "p", "holm_pvalue": "Holm p"})  # fmt: skip
    book = summary.rename(columns={"cost_bps": "cost bps", "ann_return": "return/yr",
                                   "ann_vol": "vol/yr", "max_drawdown": "max DD",
                                   "turnover": "turnover/yr"})  # fmt: skip
    return Section(
        "Does anything rank the stocks better than chance?",
        answer,
        [
            ("Daily rank information coefficient (Spearman between forecast and realised "
             "next-day returns across the stocks), one-sided Newey-West t of its mean, Holm "
             "over the models", ic[["model", "n_days", "mean IC", "IC sd", "days IC > 0",
                                    "NW t", "p", "Holm p"]]),
            (f"Top-{k} minus bottom-{k} portfolio, net of costs (DSR: deflated Sharpe ratio "
             "over the books tried at that cost)",
             book[["model", "cost bps", "return/yr", "vol/yr", "sharpe", "max DD",
                   "turnover/yr", "psr", "dsr"]]),
        ],
    )  # fmt: skip


def pair_section(comparisons: pd.DataFrame, question: str, alpha: float) -> Section:
    """Do covariates help? / Does the global net beat the per-series net?"""
    heading = {"covariates": "Do covariates help?",
               "global": "Does the global net beat the per-series net?"}[question]  # fmt: skip
    rows = comparisons[comparisons["question"] == question]
    if not len(rows):
        how = (
            "run with --covariates to add each model's +x twin"
            if question == "covariates"
            else "name a per-series net and its global_ version, e.g. lstm,global_lstm"
        )
        return Section(heading, [f"This run has no such pair ({how})."])  # fmt: skip
    test = "Clark-West" if question == "covariates" else "Diebold-Mariano"
    per = rows[rows["series"] != "all"]
    wins = per[(per["holm_pvalue"] <= alpha) & (per["r2"] > 0)]
    losses = per[per["r2"] < 0]
    answer = [
        f"{'Yes' if len(wins) else 'No'}: the challenger forecasts significantly better in "
        f"{len(wins)} of {len(per)} (pair, stock, horizon) cases ({test}, one-sided, Holm over "
        f"all {len(per)} at {alpha:.0%}), and has the higher squared error in {len(losses)}."
    ]
    for r in rows[rows["series"] == "all"].itertuples():
        answer.append(
            f"Pooled over the stocks, {r.challenger} against {r.base} at h={r.horizon}: "
            f"R²_OS {r.r2:+.2%} (the share of {r.base}'s squared error it removes), "
            f"t {r.stat:.2f}, one-sided p {format_p(r.pvalue)}."
        )
    shown = rows.rename(columns={"r2": "R²_OS", "pvalue": "p", "holm_pvalue": "Holm p"})
    return Section(heading, answer, [(f"{test} tests, per stock and pooled ('all')",
                                      shown[["base", "challenger", "series", "horizon", "n",
                                             "R²_OS", "stat", "p", "Holm p"]])])  # fmt: skip


def random_walk_section(run: RunFiles, alpha: float) -> Section:
    """Issue 14's pooled verdict against the random walk."""
    path = run.path / "pooled.csv"
    if path.is_file():
        pooled = pd.read_csv(path, keep_default_na=False)
    else:
        pooled = evaluate_forecasts(run.forecasts, alpha=alpha).pooled
    first = pooled.iloc[0]
    claims = str(first["claims"]).strip()
    if str(first["claim"]).lower() == "true" and claims:
        text = (f"Clark-West with Holm over all {int(first['n_tests'])} (stock, model, horizon) "
                f"tests: a model beats the random walk in {claims}.")  # fmt: skip
    else:
        text = (f"No model beats the random walk: Clark-West with Holm over all "
                f"{int(first['n_tests'])} (stock, model, horizon) tests at {alpha:.0%} "
                f"(smallest adjusted p {format_p(float(first['pvalue']))}).")  # fmt: skip
    return Section("Does anything beat the random walk?", [text], [("Pooled verdicts", pooled)])


def has_help_page(run_dir: str | os.PathLike) -> bool:
    """Whether the run has something for the page: pairs, or cross-sectional scores."""
    path = Path(run_dir)
    return (path / "comparisons.csv").is_file() or (path / "ranking.csv").is_file()


def write_help_report(run_dir: str | os.PathLike, alpha: float = ALPHA) -> HelpPaths:
    """Write ``does_it_help.md`` and ``does_it_help.html`` into the run folder."""
    path = Path(run_dir)
    notes, sections = build_sections(path, alpha)
    title = "Global nets, covariates, the cross-section: does it help?"
    md = path / f"{PAGE}.md"
    md.write_text(render_markdown(title, notes, sections), encoding="utf-8")
    page = path / f"{PAGE}.html"
    page.write_text(render_html(title, notes, sections), encoding="utf-8")
    return HelpPaths(page, md)


def render_markdown(title: str, notes: list[str], sections: list[Section]) -> str:
    lines = [f"# {title}", ""]
    lines += [f"> {n}" for n in notes] + ([""] if notes else [])
    for s in sections:
        lines += [f"## {s.heading}", ""] + [f"{a}\n" for a in s.answer]
        for caption, frame in s.tables:
            lines += [f"*{caption}*", "", _md_table(frame), ""]
    return "\n".join(lines)


def render_html(title: str, notes: list[str], sections: list[Section]) -> str:
    e = html.escape
    body = [f"<h1>{e(title)}</h1>"]
    body += [f'<p class="note">{e(n)}</p>' for n in notes]
    for s in sections:
        body.append(f"<h2>{e(s.heading)}</h2>")
        body += [f'<p class="answer">{e(a)}</p>' for a in s.answer]
        for caption, frame in s.tables:
            body.append(_html_table(caption, frame))
    style = ("body{font-family:system-ui,sans-serif;max-width:72rem;margin:1rem auto;"
             "padding:0 1rem;line-height:1.4}table{border-collapse:collapse;margin:.5rem 0 1.5rem;"
             "font-size:.9rem;display:block;overflow-x:auto}td,th{border-bottom:1px solid #ddd;"
             "padding:.25rem .6rem;text-align:right}td:first-child,th:first-child{text-align:left}"
             "caption{text-align:left;font-style:italic;padding:.3rem 0}"
             ".note{background:#fff4d6;padding:.5rem .8rem;border-left:4px solid #e0a400}"
             ".answer{font-size:1.05rem}")  # fmt: skip
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{e(title)}</title>'
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")  # fmt: skip


def _cell(value: object) -> str:
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            return "-"
        return f"{value:.4g}"
    return str(value)


def _md_table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([head, rule, *rows])


def _html_table(caption: str, frame: pd.DataFrame) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(c))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{e(_cell(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(False)
    )
    return f"<table><caption>{e(caption)}</caption><tr>{head}</tr>{rows}</table>"


def _comparisons(path: Path, scores) -> pd.DataFrame:
    if scores is not None:
        return scores.comparisons
    file = path / "comparisons.csv"
    if file.is_file():
        return pd.read_csv(file, dtype={"series": str, "base": str, "challenger": str})
    return pd.DataFrame({c: [] for c in PAIR_COLUMNS})
