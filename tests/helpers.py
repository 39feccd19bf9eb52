"""Test helpers: synthetic price series and tiny model settings."""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np
import pandas as pd

from forecast.models.base import BaseForecaster

#: settings that make any neural model tiny and quick; applied where a model has the parameter
TINY_PARAMS = {
    "epochs": 2,
    "hidden_size": 4,
    "window": 8,
    "batch_size": 32,
    "max_horizon": 3,
    "n_models": 1,
    "patience": None,
    "lookback": 60,  # momentum: 12-1 months would need more prices than the test series hold
    "skip": 5,
}


def tiny(model: BaseForecaster) -> BaseForecaster:
    """Shrink a model's expensive parameters (neural sizes, epochs) where it has them."""
    params = {k: v for k, v in TINY_PARAMS.items() if k in model.get_params()}
    return model.set_params(**params)


def price_series(
    n: int = 400,
    phi: float = 0.2,
    sigma: float = 0.01,
    mu: float = 0.0003,
    seed: int = 0,
    name: str = "SIM",
    start: str = "2010-01-04",
) -> pd.Series:
    """Prices whose log-returns follow an AR(1) with mean ``mu``, on business days."""
    rng = np.random.default_rng(seed)
    eps = rng.normal(0.0, sigma, n)
    r = np.empty(n)
    r[0] = mu + eps[0]
    for t in range(1, n):
        r[t] = mu + phi * (r[t - 1] - mu) + eps[t]
    prices = 100.0 * np.exp(np.cumsum(r))
    idx = pd.bdate_range(start, periods=n, name="date")
    return pd.Series(prices, index=idx, name=name)


def perturb_after(series: pd.Series, cutoff: int, seed: int = 1) -> pd.Series:
    """The same series with every price from position ``cutoff`` on changed."""
    rng = np.random.default_rng(seed)
    out = series.copy()
    factor = np.exp(rng.normal(0.0, 0.05, len(series) - cutoff))
    out.iloc[cutoff:] = out.iloc[cutoff:].to_numpy() * factor
    return out


class DataCells(HTMLParser):
    """The report's numeric cells: every ``<td data-metric>`` in a ``<tr>`` that carries the
    ``row_key`` attributes, as ``found[(row values..., metric)] = (data-value, text)``
    (``data-horizon`` as an int)."""

    def __init__(self, row_key: tuple[str, ...]):
        super().__init__()
        self.row_key = row_key
        self.row: dict[str, str] = {}
        self.cell: dict[str, str] | None = None
        self.text = ""
        self.found: dict[tuple, tuple[str, str]] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr":
            self.row = a
        elif tag == "td" and "data-metric" in a and all(k in self.row for k in self.row_key):
            self.cell, self.text = a, ""

    def handle_data(self, data):
        if self.cell is not None:
            self.text += data

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            key = [int(self.row[k]) if k == "data-horizon" else self.row[k] for k in self.row_key]
            self.found[(*key, self.cell["data-metric"])] = (self.cell["data-value"], self.text)
            self.cell = None
