"""``report.md``: the headline and the tables in GitHub-flavoured Markdown.

Figures are linked as PNG files in the ``figures/`` folder next to it. Every cell is escaped
for Markdown: a pipe cannot split a table cell, a backtick cannot open code, ``<`` cannot
open raw HTML and ``[`` cannot open a link or an image, whatever a series or model is called.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from forecast.report.display import IntervalSection, ReportContent, Table
from forecast.report.economics_figures import ECONOMICS_SECTION
from forecast.report.figures import ReportFigure, by_section
from forecast.report.interval_figures import INTERVAL_SECTION
from forecast.report.tables import percent

#: Markdown punctuation that could change the meaning of text; each is backslash-escaped
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#!$])")
#: columns whose significance is marked with a sign (the HTML page uses colour)
MARKED = {"DM stat", "DM p", "PT p", "CW p", "Holm p", "SPA p"}


def md_escape(text: object) -> str:
    """``text`` as literal Markdown inline text on one line."""
    one_line = re.sub(r"\s+", " ", str(text)).strip()
    return _SPECIAL.sub(r"\\\1", one_line).replace("://", r"\://")


def md_table(table: Table) -> str:
    """A table as GFM: numbers right-aligned, best values bold, significance marked."""
    labels = [label for label, _ in table.columns]
    numeric = table.numeric()
    lines = [
        "| " + " | ".join(md_escape(label) for label in labels) + " |",
        "|" + "|".join("---:" if num else "---" for num in numeric) + "|",
    ]
    for row in table.rows:
        cells = []
        for label, cell in zip(labels, row, strict=True):
            text = md_escape(cell.text)
            if cell.best:
                text = f"**{text}**"
            if label in MARKED and cell.tone:
                text += " ✓" if cell.tone == "good" else " ✗"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    out = "\n".join(lines)
    if table.caption:
        out = f"**{md_escape(table.caption)}**\n\n{out}"
    return out


def _figure(f: ReportFigure, figure_dir: str) -> list[str]:
    # the file name is ours (positions and horizons), the alt text is escaped
    return [
        f"**{md_escape(f.title)}**",
        f"![{md_escape(f.title)}]({figure_dir}/{f.name}.png)",
        md_escape(f.caption),
    ]


def _interval_section(
    section: IntervalSection, figures: list[ReportFigure], figure_dir: str
) -> list[str]:
    """The "Prediction intervals" section: headline, notes, figures and tables."""
    out = [
        "## Prediction intervals",
        f"**{md_escape(section.headline[0])}**",
        *(md_escape(line) for line in section.headline[1:]),
        md_escape(section.notes[0]),
    ]
    for f in figures:
        if f.section == INTERVAL_SECTION:
            out += _figure(f, figure_dir)
    out += ["### Unscaled and scaled variants compared", md_escape(section.notes[3])]
    out += [md_table(table) for _, table in section.compared]
    out += ["### Coverage, every series pooled", md_escape(section.legend)]
    for h, table in section.pooled:
        out += [f"#### Horizon {h}", md_table(table)]
    out += [
        md_escape(section.notes[2]),
        "### Width, every series pooled",
        "Mean of (upper - lower) / forecast: how wide each variant is overall and in each "
        "half. An adaptive interval should be wider in the turbulent half.",
    ]
    for h, table in section.widths:
        out += [f"#### Horizon {h}", md_table(table)]
    out += [
        "### The calm and turbulent halves",
        md_escape(section.notes[1]),
        md_table(section.regimes),
        "### Coverage per series",
        md_escape(section.legend),
    ]
    for h, tables in section.per_series:
        out.append(f"#### Horizon {h}")
        out += [md_table(t) for t in tables]
    return out


def render_markdown(
    content: ReportContent,
    figures: list[ReportFigure],
    figure_dir: str = "figures",
    sections: Sequence[str] = (),
) -> str:
    """The report as Markdown; figures linked as ``{figure_dir}/{name}.png``.

    ``sections``: further Markdown blocks (the volatility section) placed after the figures.
    """
    out = _answer(content) + _across(content) + _leaderboards(content)
    if content.intervals is not None:
        out += _interval_section(content.intervals, figures, figure_dir)
    out += _economics(content, figures, figure_dir)
    out += _failures(content) + _figures(figures, figure_dir) + list(sections)
    out += _the_run(content)
    return "\n\n".join(out) + "\n"


def _answer(content: ReportContent) -> list[str]:
    intervals = content.intervals
    return [
        "# Does any model beat the random walk?",
        f"*{md_escape(content.subtitle)}*",
        "## The answer",
        f"**{md_escape(content.summary[0])}**",
        *(md_escape(line) for line in content.summary[1:2]),
        *(f"> {md_escape(line)}" for line in content.summary[2:]),
        *(
            [f"> {md_escape(intervals.headline[0])} (see Prediction intervals)"]
            if intervals is not None
            else []
        ),
        md_table(content.verdict_table),
        md_escape(content.verdict_note),
    ]


def _across(content: ReportContent) -> list[str]:
    level = percent(content.alpha)
    out = [
        "## Across series",
        f"Per model, over the {content.n_series} series: the mean rank by rel RMSE (1 = best) "
        f"and on how many series it beats the random walk, at all and significantly at {level}.",
    ]
    for h, table in content.across:
        out += [f"### Horizon {h}", md_table(table)]
    return out


def _leaderboards(content: ReportContent) -> list[str]:
    level = percent(content.alpha)
    out = [
        "## Leaderboards",
        "**Bold**: the best value of its column. ✓ after DM: beats the random walk "
        f"significantly at {level}; ✗: the random walk beats it significantly. ✓ after PT p: "
        f"direction skill significant at {level}. Sorted by rel RMSE; models without "
        "forecasts come last.",
    ]
    if content.interval_legend:
        out.append(md_escape(content.interval_legend))
    if content.intervals_off:
        out.append(md_escape(content.intervals_off))
    for h, boards in content.leaderboards:
        out.append(f"### Horizon {h}")
        out += [md_table(t) for t in boards]
    return out


def _economics(content: ReportContent, figures: list[ReportFigure], figure_dir: str) -> list[str]:
    """The "Economic value" section: the verdict, the tables, the equity figure."""
    section = content.economics
    if section is None:
        return ["## Economic value", md_escape(content.economics_off)]
    out = [
        "## Economic value",
        f"**{md_escape(section.verdict)}**",
        *(md_escape(line) for line in section.sentences),
        md_table(section.summary),
        md_table(section.best),
    ]
    for f in figures:
        if f.section == ECONOMICS_SECTION:
            out += _figure(f, figure_dir)
    return out + [md_escape(note) for note in section.notes]


def _failures(content: ReportContent) -> list[str]:
    if not content.failures.rows:
        return ["## Failures", "No model failed on any fold."]
    return [
        "## Failures",
        "Failed folds are left out of a model's scores, never hidden.",
        md_table(content.failures),
    ]


def _figures(figures: list[ReportFigure], figure_dir: str) -> list[str]:
    out = ["## Figures"]
    if not figures:
        out.append("No forecasts to plot.")
    for heading, group in by_section(figures):
        out.append(f"### {heading}")
        for f in group:
            out += _figure(f, figure_dir)
    return out


def _the_run(content: ReportContent) -> list[str]:
    out = [
        "## The run",
        "### Series",
        md_table(content.series_table),
        "### Configuration",
        md_table(content.facts_table),
    ]
    if content.arguments_table.rows:
        out += ["### Arguments", md_table(content.arguments_table)]
    return [
        *out,
        "### Time per model",
        md_table(content.timings_table),
        "### Package versions",
        md_table(content.versions_table),
        "## Glossary",
        "\n".join(f"- **{md_escape(t)}**: {md_escape(m)}" for t, m in content.glossary),
        f"*Written by forecast {md_escape(content.version)} from the run folder's files alone "
        "(forecasts.csv, metrics.csv, run.json, the verdicts and economics CSVs).*",
    ]
