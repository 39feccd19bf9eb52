"""The volatility section in Markdown, and the pages of a volatility-only run folder.

A price run whose folder holds a volatility run (``forecast compare`` with a ``[volatility]``
table: ``<run>/volatility/``) shows the section after its price sections
(:func:`forecast.report.write_report` calls :func:`volatility_part`). A volatility run folder of
its own (``forecast backtest --target volatility``) gets a page with the section, the run's
facts and the glossary (:func:`write_volatility_report`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from forecast.report.display import Table
from forecast.report.figures import ReportFigure
from forecast.report.markdown import md_escape, md_table
from forecast.report.tables import ALPHA, percent
from forecast.report.volatility_display import VolatilitySection, run_tables, volatility_section
from forecast.report.volatility_figures import VOLATILITY_SECTION, volatility_figures
from forecast.walkforward.volatility_files import (
    SUBFOLDER,
    VolatilityRunFiles,
    read_volatility_run,
    run_target,
)


@dataclass(frozen=True)
class VolatilityPart:
    """What a report adds for a volatility run: the section and its figures."""

    run: VolatilityRunFiles
    section: VolatilitySection
    figures: tuple[ReportFigure, ...]


def volatility_part(
    folder: Path, alpha: float = ALPHA, figures: bool = True
) -> VolatilityPart | None:
    """The volatility run in ``folder`` (a price run's ``volatility/`` folder, or a volatility
    run folder itself), formatted; ``None`` when there is none."""
    path = folder if run_target(folder) == "volatility" else folder / SUBFOLDER
    if not (path / "run.json").is_file() or run_target(path) != "volatility":
        return None
    run = read_volatility_run(path)
    drawn = tuple(volatility_figures(run)) if figures else ()
    return VolatilityPart(run, volatility_section(run, alpha), drawn)


def volatility_markdown(
    section: VolatilitySection, figures: list[ReportFigure], figure_dir: str, alpha: float
) -> list[str]:
    """The section as Markdown blocks (figures linked as ``{figure_dir}/{name}.png``)."""
    out = [
        "## Volatility and Value-at-Risk",
        f"**{md_escape(section.headline[0])}**",
        *(md_escape(line) for line in section.headline[1:3]),
        *(f"> {md_escape(line)}" for line in section.headline[3:]),
        md_escape(section.proxy_note),
        md_table(section.verdict_table),
        "Best model: the lowest QLIKE relative to the naive model (the mean proxy of the last "
        "20 days), the naive model itself excluded. Significance: two-sided Diebold-Mariano "
        f"test on QLIKE losses at the {percent(alpha)} level. MCS: the model confidence set "
        "on QLIKE (10%).",
    ]
    for f in figures:
        if f.section == VOLATILITY_SECTION:
            out += [
                f"**{md_escape(f.title)}**",
                f"![{md_escape(f.title)}]({figure_dir}/{f.name}.png)",
                md_escape(f.caption),
            ]
    out += ["### Leaderboards", md_escape(section.notes[0]) + _marks(alpha)]
    for h, boards in section.leaderboards:
        out.append(f"#### Horizon {h}")
        out += [_marked(t) for t in boards]
    out += ["### Value-at-Risk backtests", md_escape(section.notes[1])]
    out += [md_table(t) for _, t in section.var_pooled]
    out += [md_table(t) for _, t in section.var_tables]
    out += ["### Variance proxy per series", md_table(section.proxy_table), "### Failures"]
    if section.failures.rows:
        out += [
            "Failed folds are left out of a model's scores, never hidden.",
            md_table(section.failures),
        ]
    else:
        out.append("No volatility model failed on any fold.")
    return out


def _marks(alpha: float) -> str:
    return (
        f" In these tables ✓ after a DM p: significantly lower loss than naive at "
        f"{percent(alpha)}; ✗: significantly higher; ✓ after an MCS p: in the set."
    )


def _marked(table: Table) -> str:
    """A leaderboard with its significance marks as text (the HTML page uses colour)."""
    rows = []
    for row in table.rows:
        cells = []
        for (label, _), cell in zip(table.columns, row, strict=True):
            if label.startswith("DM p") and cell.tone:
                cell = type(cell)(cell.text + (" ✓" if cell.tone == "good" else " ✗"), cell.value)
            elif label == "MCS p" and cell.best:
                cell = type(cell)(cell.text + " ✓", cell.value)
            cells.append(cell)
        rows.append(tuple(cells))
    return md_table(Table(table.columns, tuple(rows), caption=table.caption))


def render_volatility_markdown(part: VolatilityPart, subtitle: str, alpha: float) -> str:
    """The page of a volatility run folder as Markdown."""
    tables = run_tables(part.run)
    out = [
        "# Can volatility be forecast better than the naive model?",
        f"*{md_escape(subtitle)}*",
        *volatility_markdown(part.section, list(part.figures), "figures", alpha),
        "## The run",
        "### Series",
        md_table(tables["series"]),
        "### Configuration",
        md_table(tables["config"]),
    ]
    if tables["arguments"].rows:
        out += ["### Arguments", md_table(tables["arguments"])]
    out += [
        "### Time per model",
        md_table(tables["timings"]),
        "### Package versions",
        md_table(tables["versions"]),
        "## Glossary",
        "\n".join(f"- **{md_escape(t)}**: {md_escape(m)}" for t, m in part.section.glossary),
        f"*Written by forecast {md_escape(_version(part.run))} from the run folder's files alone.*",
    ]
    return "\n\n".join(out) + "\n"


def render_volatility_html(part: VolatilityPart, subtitle: str, alpha: float) -> str:
    """The page of a volatility run folder as one self-contained HTML document."""
    from forecast.report.html import _environment

    context = {
        "title": f"Volatility forecasts: {', '.join(_series(part.run)) or 'no series'}",
        "subtitle": subtitle,
        "level": percent(alpha),
        "volatility": part.section,
        "volatility_figures": [_inline(f) for f in part.figures],
        "run_tables": run_tables(part.run),
        "version": _version(part.run),
    }
    return _environment().get_template("volatility_report.html.j2").render(**context)


def subtitle(run: VolatilityRunFiles) -> str:
    """``forecast backtest · volatility · 5 series · 6 models · horizons 1, 5 · ...``."""
    m, config = run.metrics, run.run.get("config", {})
    horizons = sorted({int(h) for h in m["horizon"]})
    parts = [
        f"forecast {run.run.get('command', '?')}",
        "volatility",
        f"{len(_series(run))} series",
        f"{m['model'].nunique()} models",
        f"horizon{'s' * (len(horizons) > 1)} {', '.join(map(str, horizons))}",
    ]
    if "test_size" in config and "refit_every" in config:
        parts.append(f"{config['test_size']} test origins, refit every {config['refit_every']}")
    parts.append(f"run {run.run.get('created_at', 'date unknown')}")
    return " · ".join(parts)


def _series(run: VolatilityRunFiles) -> list[str]:
    return list(dict.fromkeys(run.metrics["series"]))


def _version(run: VolatilityRunFiles) -> str:
    versions = run.run.get("versions")
    return str(versions.get("forecast", "?")) if isinstance(versions, dict) else "?"


def _inline(f: ReportFigure) -> dict[str, str]:
    return {"title": f.title, "caption": f.caption, "data": base64.b64encode(f.png).decode("ascii")}
