"""Comparison reports: ``report.html`` and ``report.md`` from a run folder alone.

The report answers "does any model beat the random walk, by how much, and is it
significant?" at a glance, then shows the evidence: leaderboards, ranks across series, how
well the prediction intervals cover (per variant, horizon and volatility regime), failures,
figures and the run's facts. It reads only the run folder's files
(:func:`forecast.walkforward.runfiles.read_run`), so it can be rebuilt at any time::

    from forecast.report import write_report
    paths = write_report("runs/20250101T000000Z")
    paths.html, paths.markdown, paths.figures

Modules: :mod:`~forecast.report.tables` (the numbers and verdicts, pure functions of the run files),
:mod:`~forecast.report.cross_section_display` (the ``does_it_help`` page of runs with covariates,
global nets or a cross-section), :mod:`~forecast.report.intervals` (coverage per interval variant,
horizon and volatility regime, from ``forecasts.csv``), :mod:`~forecast.report.volatility_tables`,
:mod:`~forecast.report.volatility_display`, :mod:`~forecast.report.volatility_figures`,
:mod:`~forecast.report.volatility_glossary` and :mod:`~forecast.report.volatility_pages` (the
volatility section, from a volatility run folder or the ``volatility/`` folder of a compare run),
:mod:`~forecast.report.display` and :mod:`~forecast.report.interval_display` (formatted cells shared
by both pages), :mod:`~forecast.report.interval_text` (the interval section's sentences),
:mod:`~forecast.report.glossary`, :mod:`~forecast.report.figures`,
:mod:`~forecast.report.interval_figures`, :mod:`~forecast.report.html`,
:mod:`~forecast.report.markdown`; the answer on the verdict statistics
(:mod:`~forecast.report.verdicts_display`) and the "Economic value" section
(:mod:`~forecast.report.economics_display`, :mod:`~forecast.report.economics_figures`).

May import: ``forecast.walkforward`` (the run files), ``forecast.evaluation`` and the bottom
modules; never torch, a model, the store or the command line.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from forecast.checks import check_number
from forecast.errors import DataError
from forecast.report import display, tables
from forecast.report.display import ReportContent
from forecast.report.economics_display import (
    ECONOMIC_GLOSSARY,
    economic_section,
    economics_off_sentence,
)
from forecast.report.economics_figures import equity_figure
from forecast.report.figures import make_figures
from forecast.report.glossary import GLOSSARY, interval_glossary, model_glossary
from forecast.report.html import render_html
from forecast.report.interval_display import interval_section
from forecast.report.interval_figures import interval_figures
from forecast.report.intervals import (
    coverage_numbers,
    has_interval_scores,
    intervals_off_sentence,
)
from forecast.report.markdown import render_markdown
from forecast.report.tables import ALPHA
from forecast.report.verdicts_display import VERDICT_GLOSSARY, verdict_answer
from forecast.walkforward.runfiles import RunFiles, read_run

FIGURE_DIR = "figures"


@dataclass(frozen=True)
class ReportPaths:
    """The files :func:`write_report` wrote."""

    html: Path
    markdown: Path
    figures: tuple[Path, ...]


def check_alpha(alpha: object) -> float:
    """Return ``alpha`` as a float in ``(0, 1)`` or raise a ``ValueError`` naming it."""
    return check_number(alpha, "alpha", 0, 1)


def build_content(run: RunFiles, alpha: float = ALPHA) -> ReportContent:
    """Every table and sentence of the report, formatted (see :class:`ReportContent`)."""
    alpha = check_alpha(alpha)
    metrics = run.metrics
    series = list(dict.fromkeys(metrics["series"]))
    horizons = sorted({int(h) for h in metrics["horizon"]})
    across = tuple(
        (h, display.across_table(tables.across_series(metrics, h, alpha), len(series)))
        for h in horizons
    )
    numbers = coverage_numbers(run)
    level = numbers.settings.level if numbers is not None else _level(run)
    boards = []
    for h in horizons:
        per_series = []
        for s in series:
            board = tables.leaderboard(run, s, h)
            per_series.append(
                display.leaderboard_table(board, tables.best_rows(board), s, h, alpha, level)
            )
        boards.append((h, tuple(per_series)))
    models = tables.models_of(run.metrics)
    glossary = GLOSSARY + model_glossary(models)
    intervals, off = None, intervals_off_sentence(run)
    if numbers is not None:
        models = tables.models_of(metrics)
        intervals = interval_section(numbers, len(series), models)
        glossary += interval_glossary(run.run["config"], numbers.settings.level)
        off = ""
    answer = verdict_answer(run, alpha)
    economics = economic_section(run)
    if answer is not None:
        glossary += VERDICT_GLOSSARY
    if economics is not None:
        glossary += ECONOMIC_GLOSSARY
    r = run.run
    arguments = r.get("arguments") if isinstance(r.get("arguments"), dict) else {}
    versions = r.get("versions") if isinstance(r.get("versions"), dict) else {}
    series_labels = {
        "first_date": "first date",
        "last_date": "last date",
        "n": "prices",
        "test_start": "test from",
        "content_hash": "content hash",
    }
    return ReportContent(
        title=f"Forecast comparison: {', '.join(series) or 'no series'}",
        subtitle=_subtitle(run, series, horizons),
        alpha=alpha,
        summary=answer.summary,
        answer_class=answer.answer_class,
        verdict_table=answer.table,
        verdict_note=answer.note,
        across=across,
        leaderboards=tuple(boards),
        failures=display.failures_table(tables.failures(run)),
        series_table=display.text_table(tables.series_facts(run), series_labels),
        facts_table=display.pairs_table(tables.run_facts(run)),
        arguments_table=display.pairs_table(
            {k: tables.plain(v) for k, v in arguments.items() if k != "command"}, "argument"
        ),
        timings_table=display.timings_table(tables.timings(run)),
        versions_table=display.pairs_table(
            {k: tables.plain(v) for k, v in versions.items()}, "package", "version"
        ),
        n_series=len(series),
        version=str(versions.get("forecast", "?")),
        glossary=glossary,
        intervals=intervals,
        intervals_off=off,
        interval_legend=_interval_legend(run, level),
        economics=economics,
        economics_off="" if economics is not None else economics_off_sentence(run),
    )


def _interval_legend(run: RunFiles, level: float | None) -> str:
    """What the leaderboards' interval columns show; empty when they have none."""
    if not has_interval_scores(run.metrics):
        return ""
    settings = run.run["config"].get("intervals")
    method = settings.get("method", "?") if isinstance(settings, dict) else "?"
    text = f"Coverage, width and Winkler score: the run's chosen intervals ({method}"
    if level is not None:
        text += (
            f", nominal {tables.percent(level)}); {display.BELOW} a coverage below the band of "
            f"{display.band_text(level)}, {display.ABOVE} above it"
        )
    else:
        text += ")"
    return text + "; bold Winkler: the lowest."


def _level(run: RunFiles) -> float | None:
    """The nominal level in run.json, if any (for a leaderboard's coverage column)."""
    settings = run.run["config"].get("intervals")
    level = settings.get("level") if isinstance(settings, dict) else None
    return float(level) if isinstance(level, int | float) and 0 < level < 1 else None


def write_report(
    run_dir: str | os.PathLike | RunFiles, *, alpha: float = ALPHA, figures: bool = True
) -> ReportPaths:
    """Write ``report.html``, ``report.md`` and ``figures/*.png`` into a run folder.

    Parameters
    ----------
    run_dir
        A folder written by :func:`forecast.walkforward.runfiles.write_run`, or the run it
        holds, already in memory (what :func:`~forecast.walkforward.runfiles.write_run_files`
        returns): the report is the same either way.
    alpha
        Significance level of the verdicts and counts (default 5%).
    figures
        Draw the figures (the slow part: about half a second each).

    Returns
    -------
    ReportPaths

    Raises
    ------
    forecast.errors.DataError
        When a run file is missing or malformed; the message names the file.
    """
    alpha = check_alpha(alpha)
    # imported here: the volatility engine's statistics (arch) load only for a report
    from forecast.report.volatility_pages import volatility_markdown, volatility_part
    from forecast.walkforward.volatility_files import run_target

    if not isinstance(run_dir, RunFiles) and run_target(run_dir) == "volatility":
        return _write_volatility_report(Path(run_dir), alpha, figures)
    run = run_dir if isinstance(run_dir, RunFiles) else read_run(run_dir)
    content = build_content(run, alpha)
    part = volatility_part(run.path, alpha, figures)  # compare's volatility/ folder, if any
    if part is not None:
        content = replace(
            content, volatility=part.section, glossary=content.glossary + part.section.glossary
        )
    drawn = []
    if figures:
        drawn = make_figures(run, tables.timings(run))
        series = list(dict.fromkeys(run.metrics["series"]))
        models = tables.models_of(run.metrics)
        drawn += interval_figures(run.forecasts, coverage_numbers(run), series, models)
        section = economic_section(run)
        if section is not None and run.equity_curves is not None:
            equity = equity_figure(run.equity_curves, section.cost, series, models)
            drawn += [equity] if equity is not None else []
        drawn += list(part.figures) if part is not None else []
    written = _write_figures(run.path / FIGURE_DIR, drawn)
    html = _atomic_write(run.path / "report.html", render_html(content, drawn).encode("utf-8"))
    extra = () if part is None else volatility_markdown(part.section, drawn, FIGURE_DIR, alpha)
    md = render_markdown(content, drawn, FIGURE_DIR, extra)
    markdown = _atomic_write(run.path / "report.md", md.encode("utf-8"))
    return ReportPaths(html, markdown, tuple(written))


def _write_volatility_report(path: Path, alpha: float, figures: bool) -> ReportPaths:
    """The report of a volatility run folder (``forecast backtest --target volatility``)."""
    from forecast.report.volatility_pages import (
        render_volatility_html,
        render_volatility_markdown,
        subtitle,
        volatility_part,
    )

    part = volatility_part(path, alpha, figures)
    if part is None:  # run_target said volatility: read it to name what is wrong
        raise DataError(f"{path}: not a volatility run folder")
    written = _write_figures(path / FIGURE_DIR, list(part.figures))
    title = subtitle(part.run)
    html = render_volatility_html(part, title, alpha)
    md = render_volatility_markdown(part, title, alpha)
    return ReportPaths(
        _atomic_write(path / "report.html", html.encode("utf-8")),
        _atomic_write(path / "report.md", md.encode("utf-8")),
        tuple(written),
    )


def _write_figures(folder: Path, drawn: list) -> list[Path]:
    """Each figure as ``folder/<name>.png``; figures of an earlier report are removed."""
    written = []
    if drawn:
        folder.mkdir(exist_ok=True)
        for fig in drawn:
            written.append(_atomic_write(folder / f"{fig.name}.png", fig.png))
    if folder.is_dir():  # figures of an earlier report that this one no longer has
        for stale in set(folder.glob("*.png")) - set(written):
            stale.unlink()
    return written


def _subtitle(run: RunFiles, series: list[str], horizons: list[int]) -> str:
    r, config = run.run, run.run["config"]
    models = list(dict.fromkeys(run.metrics["model"]))
    parts = [
        f"forecast {r.get('command', '?')}",
        f"{len(series)} series",
        f"{len(models)} models",
        f"horizon{'s' if len(horizons) > 1 else ''} {', '.join(map(str, horizons))}",
    ]
    if "test_size" in config and "refit_every" in config:
        parts.append(f"{config['test_size']} test origins, refit every {config['refit_every']}")
    parts.append(f"run {r.get('created_at', 'date unknown')}")
    return " · ".join(parts)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, data: bytes) -> Path:
    """Write via a temporary file and a rename, so a reader never sees half a report."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a report is for sharing
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


__all__ = ["ALPHA", "ReportContent", "ReportPaths", "build_content", "write_report"]
