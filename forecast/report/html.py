"""``report.html``: one self-contained page (inline CSS, inline PNG figures, no script).

Rendered by Jinja2 with autoescape on for every value: series, model and column names,
error messages and paths all come from the user or the data, and each is escaped as text. The
template marks nothing safe; the only non-text payload, the figures, is base64 (an alphabet
with nothing to escape).
"""

from __future__ import annotations

import base64
from dataclasses import fields
from functools import cache

import jinja2

from forecast.report.display import ReportContent
from forecast.report.economics_figures import ECONOMICS_SECTION
from forecast.report.figures import ReportFigure, by_section
from forecast.report.interval_figures import INTERVAL_SECTION
from forecast.report.tables import percent
from forecast.report.volatility_figures import VOLATILITY_SECTION

TEMPLATE = "report.html.j2"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("forecast.report", "templates"),
        autoescape=True,  # every value, whatever the template's file name
        undefined=jinja2.StrictUndefined,  # a missing value is a bug, not an empty string
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(content: ReportContent, figures: list[ReportFigure]) -> str:
    """The report page as a string.

    Parameters
    ----------
    content
        The formatted tables and sentences (see :func:`forecast.report.build_content`).
    figures
        Rendered figures; inlined as base64 PNG data URIs.

    Returns
    -------
    str
        A complete HTML document that loads no external resource.
    """
    context = {f.name: getattr(content, f.name) for f in fields(content)}
    context["level"] = percent(content.alpha)
    context["figures"] = [
        (heading, [_inline(f) for f in group]) for heading, group in by_section(figures)
    ]
    # shown beside the interval tables, not among the other figures
    context["interval_figures"] = [_inline(f) for f in figures if f.section == INTERVAL_SECTION]
    context["volatility_figures"] = [_inline(f) for f in figures if f.section == VOLATILITY_SECTION]
    context["economics_figures"] = [_inline(f) for f in figures if f.section == ECONOMICS_SECTION]
    return _environment().get_template(TEMPLATE).render(**context)


def _inline(f: ReportFigure) -> dict[str, str]:
    return {"title": f.title, "caption": f.caption, "data": base64.b64encode(f.png).decode("ascii")}
