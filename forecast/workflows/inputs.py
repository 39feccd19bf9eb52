"""What a run with covariates or a universe loads besides the prices.

:func:`covariate_models` decides which models a ``--covariates`` run has;
:func:`series_covariates` builds each loaded series' covariates from the bars of the very
file (or cache entry) its prices came from, and checks that they match;
:func:`universe_inputs` loads a universe on one calendar with its covariates.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from forecast.data.covariates import DEFAULT_MARKET, build_covariates, parse_covariates
from forecast.data.frames import read_price_frame
from forecast.data.series import embedded_dir
from forecast.data.sources import resolve_prices
from forecast.data.universe import Universe, load_frame, load_universe
from forecast.errors import DataError
from forecast.models.registry import COVARIATE_SUFFIX, split_model_name, takes_covariates


def covariate_models(names: Sequence[str], groups: Sequence[str]) -> tuple[str, ...]:
    """The models of a run: with covariates and no ``+x`` model named, every named model that
    can read covariates runs twice, without and with them (``ar`` then ``ar+x``), so that the
    report can say whether they help. Without covariates, the names unchanged."""
    names = tuple(dict.fromkeys(names))
    if not parse_covariates(groups) or any(split_model_name(n)[1] for n in names):
        return names
    out: list[str] = []
    for name in names:
        out.append(name)
        if takes_covariates(name):
            out.append(name + COVARIATE_SUFFIX)
    return tuple(out)


def load_market(name: str = DEFAULT_MARKET) -> pd.Series:
    """The market index's prices (an embedded name such as ``GSPC``, a CSV or a ticker)."""
    ticker, frame, column, _ = load_frame(name)
    return frame[column].rename(ticker)


def series_covariates(
    series: Sequence[pd.Series],
    sources: Sequence[str | os.PathLike],
    groups: Sequence[str],
    market: str = DEFAULT_MARKET,
) -> dict[str, pd.DataFrame]:
    """Covariates of loaded price series, from the bars of the source each came from.

    ``sources`` are what each series was loaded from (a ticker or a CSV path), in order. The
    bars are re-read from that source (the embedded file, the CSV, or the cache entry the
    prices just came from) and must agree with the prices on every date.
    """
    groups = parse_covariates(groups)
    index = load_market(market) if "market" in groups else None
    out = {}
    for s, source in zip(series, sources, strict=True):
        frame = _frame_of(s, source)
        out[str(s.name)] = build_covariates(frame, groups, market=index, name=str(s.name))
    return out


def universe_inputs(
    tickers: Sequence[str | os.PathLike] | None,
    groups: Sequence[str] = (),
    *,
    market: str = DEFAULT_MARKET,
    column: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> tuple[Universe, list[pd.Series], dict[str, pd.DataFrame] | None]:
    """A universe on one calendar (common range), its series and their covariates."""
    universe = load_universe(tickers, column=column, start=start, end=end)
    series = universe.series()
    groups = parse_covariates(groups)
    if not groups:
        return universe, series, None
    index = load_market(market) if "market" in groups else None
    cov = {n: build_covariates(f, groups, market=index, name=n) for n, f in universe.frames.items()}
    return universe, series, cov


def _frame_of(series: pd.Series, source: str | os.PathLike) -> pd.DataFrame:
    text = str(source)
    if series.attrs.get("source") == "embedded":
        frame = read_price_frame(embedded_dir() / f"{series.name}.csv")
    elif isinstance(source, os.PathLike) or text.lower().endswith((".csv", ".gz")) or "/" in text:
        frame = read_price_frame(Path(source))
    else:  # the cache entry the prices were just read from (no second network call)
        frame = resolve_prices(text, offline=True).frame
    frame = frame.reindex(series.index)
    column = series.attrs.get("column")
    if column in frame and not (frame[column] - series).abs().le(1e-9 * series).all():
        raise DataError(
            f"{series.name}: the bars re-read for its covariates differ from its prices"
        )
    return frame
