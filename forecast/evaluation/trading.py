"""Trading on the forecasts: positions, staggered books and daily net returns after costs.

Input is the long forecasts table of a run (``series, model, origin, horizon, target_date,
forecast, actual, origin_price``; one row per series, model, origin and horizon; origins
are consecutive trading days), optionally with a volatility forecast per row.

**Timing.** A position is decided at the close of its origin from the forecast made there
(and the volatility forecast, if any) and nothing else; it earns the price return from that
close to the next. The day grid of a series is every date seen in the table (origins and
targets) with its price (``origin_price`` at an origin, ``actual`` at a target; both must
agree where a date is both); a date missing from the table joins its neighbours into one
longer day.

**Rules** (``f = log(forecast / origin_price)``, the forecast h-day log return, ``c`` the
cost per unit of turnover):

- ``long_flat``: 1 when ``f > 2c`` (the forecast return beats the round-trip cost), else 0.
- ``long_short``: ``sign(f)`` (0 when the forecast is no change).
- ``vol_target``: ``sign(f) * min(L, target_vol / (sigma * sqrt(252 / h)))``, where
  ``sigma`` is the forecast standard deviation of the h-day log return made at the origin
  (so ``sigma * sqrt(252 / h)`` is the forecast annual volatility) and ``L`` the leverage
  cap; 0 where sigma is missing or not positive. Skipped when the table has no sigma.

**Overlapping horizons: staggered books.** At h = 1 the book rebalances every day. At
h > 1 the capital is split into h books; book k trades at the origins ``k, k + h, ...``
and holds each position for its h days, so the position held from day j to j + 1 is the
average of the positions decided at the last h origins ``j - h + 1 .. j`` (Jegadeesh and
Titman's overlapping portfolios). A missing forecast (a failed fold) means that book holds
cash for those h days. The evaluation window is the days on which all h books are live:
from ``first origin + h - 1`` to the last origin, ``n_origins - h + 1`` days.

**Costs.** ``cost_bps`` basis points per unit of turnover, turnover being the change of the
averaged position ``|W_j - W_{j-1}|``: with staggered books only one book trades on a day
and this is exactly its trade. The window starts from cash (the first day pays for the
whole position ``|W|``) and ends marked to market (no exit charged), for every rule and
for buy-and-hold alike. Positions are fractions of capital held constant from day to day
(the drift of a book's exposure within its h days is ignored); no financing or borrowing
cost, no risk-free rate.

**Buy-and-hold** is position 1 on the same days, paying the same entry cost.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from forecast.errors import ConfigError, DataError

RULES = ("long_flat", "long_short", "vol_target")
BUY_AND_HOLD = "buy_and_hold"
TRADING_DAYS = 252
REQUIRED_COLUMNS = ["series", "model", "origin", "horizon", "target_date", "forecast",
                    "actual", "origin_price"]  # fmt: skip
RETURN_COLUMNS = ["series", "model", "horizon", "rule", "cost_bps", "start", "end", "position",
                  "turnover", "asset_return", "net_return"]  # fmt: skip


@dataclass
class Panel:
    """One series and horizon: its day grid and every model's signals at each grid day."""

    series: str
    horizon: int
    models: list[str]
    dates: np.ndarray  # (D,) the series' day grid
    prices: np.ndarray  # (D,)
    signal: np.ndarray  # (D, M) forecast log return at each origin; NaN elsewhere
    sigma: np.ndarray | None  # (D, M) forecast std of the h-day log return, or None
    first: int  # grid position of the first origin
    last: int  # last day a position is held from (the last origin, within the prices)

    @property
    def window(self) -> slice:
        """Grid positions of the days held from: every book live."""
        return slice(self.first + self.horizon - 1, self.last + 1)

    def asset_returns(self) -> np.ndarray:
        """Simple price return from each window day to the next, shape (T,)."""
        w = self.window
        return self.prices[w.start + 1 : w.stop + 1] / self.prices[w] - 1.0

    def realised(self) -> np.ndarray:
        """Simple h-day return from each grid day, NaN where the target is beyond the grid."""
        out = np.full(len(self.prices), np.nan)
        h = self.horizon
        out[: len(self.prices) - h] = self.prices[h:] / self.prices[:-h] - 1.0
        return out


def book_positions(
    rule: str,
    panel: Panel,
    cost_bps: float,
    target_vol: float = 0.10,
    max_leverage: float = 2.0,
) -> np.ndarray:
    """Position decided at each grid day (an origin) by each model, shape (D, M).

    0 where there is no forecast. See the module docstring for the rules.
    """
    f = panel.signal
    has = np.isfinite(f)
    if rule == "long_flat":
        return np.where(has & (f > 2.0 * cost_bps / 1e4), 1.0, 0.0)
    direction = np.where(has, np.sign(np.where(has, f, 0.0)), 0.0)
    if rule == "long_short":
        return direction
    if rule == "vol_target":
        if panel.sigma is None:
            raise ConfigError("rule 'vol_target' needs a volatility forecast; the table has none")
        s = panel.sigma * np.sqrt(TRADING_DAYS / panel.horizon)
        ok = np.isfinite(s) & (s > 0)
        size = np.minimum(max_leverage, target_vol / np.where(ok, s, 1.0))
        return np.where(ok, direction * size, 0.0)
    raise ConfigError(f"rule must be one of {', '.join(RULES)}; got {rule!r}")


def run_books(
    positions: np.ndarray, panel: Panel, cost_bps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Held position, turnover and net return on each window day, each shape (T, M).

    ``W_j = mean(w_{j-h+1} .. w_j)`` (h staggered books), turnover ``|W_j - W_{j-1}|`` from
    cash on the first day, net return ``W_j R_j - c * turnover_j`` with ``R_j`` the simple
    price return from day j to j + 1 and ``c = cost_bps / 10^4``.
    """
    h, w = panel.horizon, panel.window
    cum = np.vstack([np.zeros((1, positions.shape[1])), np.cumsum(positions, axis=0)])
    held = (cum[w.start + 1 : w.stop + 1] - cum[w.start + 1 - h : w.stop + 1 - h]) / h
    turnover = np.abs(np.diff(held, axis=0, prepend=0.0))
    net = held * panel.asset_returns()[:, None] - cost_bps / 1e4 * turnover
    return held, turnover, net


def buy_and_hold(panel: Panel, cost_bps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Held position, turnover and net return of buy-and-hold on the window, each (T, 1)."""
    r = panel.asset_returns()[:, None]
    held = np.ones_like(r)
    turnover = np.zeros_like(r)
    turnover[0] = 1.0
    return held, turnover, r - cost_bps / 1e4 * turnover


def build_panels(forecasts: pd.DataFrame, sigma_column: str | None = "sigma") -> list[Panel]:
    """One :class:`Panel` per series and horizon of the forecasts table.

    The volatility forecast is read from ``sigma_column`` when the table has it.
    """
    fc = _validated(forecasts)
    use_sigma = sigma_column is not None and sigma_column in fc.columns
    panels = []
    for series, part in fc.groupby("series", sort=True):
        dates, prices = _day_grid(str(series), part)
        index = pd.Index(dates)
        for h, rows in part.groupby("horizon", sort=True):
            pos = index.get_indexer(rows["origin"])
            models = sorted(rows["model"].unique())
            col = pd.Index(models).get_indexer(rows["model"])
            signal = np.full((len(dates), len(models)), np.nan)
            signal[pos, col] = np.log(
                rows["forecast"].to_numpy(float) / rows["origin_price"].to_numpy(float)
            )
            sigma = None
            if use_sigma:
                sigma = np.full_like(signal, np.nan)
                sigma[pos, col] = pd.to_numeric(rows[sigma_column], errors="coerce")
            first, last = int(pos.min()), min(int(pos.max()), len(dates) - 2)
            if last - (first + int(h) - 1) + 1 < 1:
                continue  # fewer origins than the horizon: no day with every book live
            panels.append(Panel(str(series), int(h), models, dates, prices, signal, sigma,
                                first, last))  # fmt: skip
    return panels


def trading_returns(
    forecasts: pd.DataFrame,
    rule: str,
    cost_bps: float,
    sigma_column: str | None = "sigma",
    target_vol: float = 0.10,
    max_leverage: float = 2.0,
) -> pd.DataFrame:
    """Daily positions and net returns of one rule at one cost, per series, model and horizon.

    Parameters
    ----------
    forecasts
        The long forecasts table of a run (see the module docstring).
    rule
        ``long_flat``, ``long_short``, ``vol_target`` or ``buy_and_hold`` (one row set per
        series and horizon, model ``buy_and_hold``).
    cost_bps
        Cost in basis points per unit of turnover (>= 0).
    sigma_column
        Column of the volatility forecast (the ``vol_target`` rule needs it).
    target_vol, max_leverage
        Annual volatility target and leverage cap of ``vol_target``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RETURN_COLUMNS`: the position held from ``start`` (decided at its
        close) to ``end``, the turnover paid at ``start``, the asset's simple return and
        the strategy's net simple return over that day.
    """
    (cost_bps,) = check_costs([cost_bps])
    books = []
    for panel in build_panels(forecasts, sigma_column):
        if rule == BUY_AND_HOLD:
            arrays = buy_and_hold(panel, cost_bps)
        else:
            positions = book_positions(rule, panel, cost_bps, target_vol, max_leverage)
            arrays = run_books(positions, panel, cost_bps)
        books.append(Book(panel, rule, cost_bps, *arrays))
    return returns_table(books)


@dataclass
class Book:
    """The daily (T, M) arrays of one panel traded by one rule at one cost."""

    panel: Panel
    rule: str
    cost_bps: float
    held: np.ndarray
    turnover: np.ndarray
    net: np.ndarray

    @property
    def models(self) -> list[str]:
        return [BUY_AND_HOLD] if self.rule == BUY_AND_HOLD else self.panel.models

    @property
    def ends(self) -> np.ndarray:
        """The date each window day ends on (its return is earned by then), shape (T,)."""
        w = self.panel.window
        return self.panel.dates[w.start + 1 : w.stop + 1]


def returns_table(books: list[Book]) -> pd.DataFrame:
    """The long :data:`RETURN_COLUMNS` rows of some books, model by model, in one frame.

    ``series``, ``model`` and ``rule`` are categoricals (a few labels over many rows).
    """
    if not books:
        return pd.DataFrame({c: [] for c in RETURN_COLUMNS})
    labels = {
        "series": sorted({b.panel.series for b in books}),
        "model": sorted({m for b in books for m in b.models}),
        "rule": sorted({b.rule for b in books}),
    }
    codes = {k: {v: i for i, v in enumerate(vs)} for k, vs in labels.items()}
    cols: dict[str, list] = {c: [] for c in RETURN_COLUMNS}
    for b in books:
        t, m = b.net.shape
        p = b.panel
        cols["series"].append(np.full(t * m, codes["series"][p.series]))
        cols["model"].append(np.repeat([codes["model"][x] for x in b.models], t))
        cols["horizon"].append(np.full(t * m, p.horizon))
        cols["rule"].append(np.full(t * m, codes["rule"][b.rule]))
        cols["cost_bps"].append(np.full(t * m, b.cost_bps))
        cols["start"].append(np.tile(p.dates[p.window], m))
        cols["end"].append(np.tile(b.ends, m))
        cols["position"].append(b.held.T.ravel())
        cols["turnover"].append(b.turnover.T.ravel())
        cols["asset_return"].append(np.tile(p.asset_returns(), m))
        cols["net_return"].append(b.net.T.ravel())
    out = {c: np.concatenate(v) for c, v in cols.items()}
    for k, vs in labels.items():
        out[k] = pd.Categorical.from_codes(out[k], categories=vs)
    return pd.DataFrame(out)


def sigma_from_interval(
    forecasts: pd.DataFrame, level: float, lower: str = "lower", upper: str = "upper"
) -> pd.Series:
    """Forecast std of the h-day log return implied by a central prediction interval.

    ``sigma = (log(upper) - log(lower)) / (2 z)`` with ``z = Phi^-1((1 + level) / 2)``: the
    normal reading of the interval, which the run calibrated on past errors only, so it is
    known at the origin. NaN where a bound is missing or not positive.
    """
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1); got {level}")
    missing = [c for c in (lower, upper) if c not in forecasts.columns]
    if missing:
        raise DataError(f"forecasts has no interval columns {missing}")
    lo = pd.to_numeric(forecasts[lower], errors="coerce").to_numpy(float)
    hi = pd.to_numeric(forecasts[upper], errors="coerce").to_numpy(float)
    ok = (lo > 0) & (hi >= lo)
    z = stats.norm.ppf((1 + level) / 2)
    width = np.log(np.where(ok, hi, 1.0)) - np.log(np.where(ok, lo, 1.0))
    return pd.Series(np.where(ok, width / (2 * z), np.nan), index=forecasts.index, name="sigma")


def check_costs(costs_bps: object) -> tuple[float, ...]:
    """The costs as floats; each must be a finite number >= 0."""
    out = []
    for c in costs_bps:  # type: ignore[attr-defined]
        if isinstance(c, bool) or not isinstance(c, numbers.Real) or not np.isfinite(c) or c < 0:
            raise ConfigError(f"cost_bps must be finite numbers >= 0; got {c!r}")
        out.append(float(c))
    return tuple(out)


def _validated(forecasts: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in forecasts.columns]
    if missing:
        raise DataError(f"forecasts is missing columns {missing}; required: {REQUIRED_COLUMNS}")
    fc = forecasts.copy()
    fc["origin"] = pd.to_datetime(fc["origin"])
    fc["target_date"] = pd.to_datetime(fc["target_date"])
    fc["horizon"] = fc["horizon"].astype(int)
    if (fc["horizon"] < 1).any():
        raise DataError(f"horizon must be >= 1; got {int(fc['horizon'].min())}")
    dup = fc.duplicated(["series", "model", "origin", "horizon"])
    if dup.any():
        row = fc[dup].iloc[0]
        raise DataError(
            f"forecasts must have one row per series, model, origin and horizon; "
            f"{int(dup.sum())} duplicates, e.g. {row['series']} {row['model']} "
            f"{row['origin']:%Y-%m-%d} h={row['horizon']}"
        )
    for col in ("forecast", "origin_price"):
        bad = ~(pd.to_numeric(fc[col], errors="coerce") > 0)
        if bad.any():
            raise DataError(
                f"{col} must be a positive price; got {int(bad.sum())} rows that are not"
            )
    return fc


def _day_grid(series: str, part: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The series' dates (origins and targets with a price) and their prices."""
    dates = np.concatenate([part["origin"].to_numpy(), part["target_date"].to_numpy()])
    prices = np.concatenate([part["origin_price"].to_numpy(float), part["actual"].to_numpy(float)])
    known = np.isfinite(prices)
    grid, inverse = np.unique(dates[known], return_inverse=True)
    low, high = np.full(len(grid), np.inf), np.full(len(grid), -np.inf)
    np.minimum.at(low, inverse, prices[known])
    np.maximum.at(high, inverse, prices[known])
    bad = np.flatnonzero(high - low > 1e-9 * np.abs(high))
    if len(bad):
        day = pd.Timestamp(grid[bad[0]])
        raise DataError(
            f"prices of {series} disagree on {day:%Y-%m-%d}: {low[bad[0]]} and "
            f"{high[bad[0]]} (origin_price and actual)"
        )
    if (low <= 0).any():
        raise DataError(f"actual prices of {series} must be positive")
    return grid, high
