"""Would it make money? The economic value of a run's forecasts after costs and selection.

From the long forecasts table of a run (no refit), every configuration, a (series, model,
horizon, rule) at a cost level, is traded as :mod:`forecast.evaluation.trading` describes
(positions decided at the origin's close, staggered books for h > 1, costs on turnover,
buy-and-hold on the same days as the reference), and scored:

- per configuration (:data:`ECONOMIC_COLUMNS`, the rows of ``economics.csv``): annualised
  return and volatility (252 days), net Sharpe ratio, turnover, maximum drawdown, hit rate,
  the difference to buy-and-hold, the PSR against zero and the deflated Sharpe ratio;
- per cost level (:data:`SUMMARY_COLUMNS`): the best configuration, its DSR, and the
  run's probability of backtest overfitting (PBO) by CSCV.

**Trials.** The DSR deflates by every configuration tried in the run (``trials="run"``, the
default, as issue 18 asks): every series, model, horizon and rule **at every cost level**, so
``N`` is the same for every row, and the variance of the trials' Sharpe ratios is the sample
variance of all of them (per day, ``ddof=1``). The cost levels count as trials because the
report shows every one of them: a reader who sees three cost levels sees three times as many
Sharpe ratios to pick from. This is the conservative reading: a cost level is a fact of the
market rather than a choice (the 0 bp twin of a configuration always has the higher Sharpe
ratio), and counting its twins raises ``N`` and adds the cost drag to the variance, both of
which raise ``SR0``. ``trials="cost"`` counts per cost level instead (the configurations at
that cost only). Configurations that never hold a position (a zero-variance return, such as
the random walk's zero forecast) have no Sharpe ratio and are left out. Trials that are alike
(the same model at h = 1 and 5, long/flat and long/short) are counted fully, which also makes
the DSR conservative. The PSR behind the DSR assumes independent days; at h > 1 the staggered
books' daily returns are autocorrelated, so there the DSR is an approximation.

**The PBO** is computed per cost level whatever ``trials`` says: CSCV measures whether the
configuration picked on half of the days holds up on the other half, and a configuration's
costlier twins, always below it, would pad its out-of-sample rank and bias the PBO down.

**The PBO matrix** at a cost level has one column per trial and one row per day: within a
series, the days every configuration of the series holds (the intersection of the windows
of its horizons); across series, the k-th of those days counted back from the last (series
may cover different calendar years: the embedded S&P 500 ends in 2018, the stocks in 2013),
truncated to the shortest series. CSCV splits the rows into ``n_blocks`` (16 by default)
blocks of consecutive days, the oldest ``T mod n_blocks`` days dropped.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.errors import ConfigError
from forecast.evaluation.overfitting import (
    expected_max_sharpe,
    pbo,
    probabilistic_sharpe,
    sharpe_moments,
)
from forecast.evaluation.trading import (
    BUY_AND_HOLD,
    RULES,
    TRADING_DAYS,
    Book,
    Panel,
    book_positions,
    build_panels,
    buy_and_hold,
    check_costs,
    returns_table,
    run_books,
)

DEFAULT_COSTS_BPS = (0.0, 5.0, 10.0)
ECONOMIC_COLUMNS = [
    "series", "model", "horizon", "rule", "cost_bps",
    "n_days", "ann_return", "ann_vol", "sharpe", "turnover", "max_drawdown", "hit_rate",
    "exposure", "bh_return", "bh_sharpe", "excess_return", "excess_sharpe",
    "skew", "kurtosis", "psr", "n_trials", "dsr",
]  # fmt: skip
SUMMARY_COLUMNS = [
    "cost_bps", "n_configs", "n_trials", "sharpe_variance", "expected_max_sharpe",
    "best_series", "best_model", "best_horizon", "best_rule", "best_sharpe", "best_bh_sharpe",
    "best_dsr", "n_beat_bh", "pbo", "pbo_configs", "pbo_days", "pbo_combinations",
]  # fmt: skip
EQUITY_COLUMNS = ["series", "model", "horizon", "rule", "cost_bps", "end", "equity"]
#: plain names of the rules, for a report
RULE_LABELS = {"long_flat": "long/flat", "long_short": "long/short",
               "vol_target": "volatility-targeted", BUY_AND_HOLD: "buy-and-hold"}  # fmt: skip
#: what the DSR's N counts: every configuration of the run at every cost, or per cost level
TRIALS = ("run", "cost")
#: the DSR at or above which the paper reads a Sharpe ratio as evidence of skill
DSR_EVIDENCE = 0.95
_KEYS = ["series", "model", "horizon", "rule", "cost_bps"]


@dataclass(frozen=True)
class EconomicSettings:
    """How the forecasts are traded and judged.

    Parameters
    ----------
    costs_bps
        Cost levels, basis points per unit of turnover.
    rules
        Rules to trade (:data:`forecast.evaluation.trading.RULES`); ``vol_target`` is
        skipped when the table has no ``sigma_column``.
    sigma_column
        Column of the forecast std of the h-day log return (``None``: no volatility rule).
    target_vol, max_leverage
        Annual volatility target and leverage cap of ``vol_target``.
    n_blocks
        CSCV blocks ``S`` of the PBO (even, >= 2).
    trials
        What the DSR's ``N`` counts: ``"run"`` every configuration at every cost level (the
        default), ``"cost"`` the configurations at the row's cost level.
    """

    costs_bps: tuple[float, ...] = DEFAULT_COSTS_BPS
    rules: tuple[str, ...] = RULES
    sigma_column: str | None = "sigma"
    target_vol: float = 0.10
    max_leverage: float = 2.0
    n_blocks: int = 16
    trials: str = "run"

    def __post_init__(self) -> None:
        if not len(self.costs_bps):
            raise ConfigError("costs_bps must list at least one cost; got none")
        object.__setattr__(self, "costs_bps", check_costs(self.costs_bps))
        repeated = sorted({c for c in self.costs_bps if self.costs_bps.count(c) > 1})
        if repeated:
            raise ConfigError(f"costs_bps must not repeat a cost; got {repeated[0]:g} twice")
        object.__setattr__(self, "rules", tuple(self.rules))
        unknown = [r for r in self.rules if r not in RULES]
        if unknown or not len(self.rules):
            raise ConfigError(f"rules must be some of {', '.join(RULES)}; got {self.rules!r}")
        for name in ("target_vol", "max_leverage"):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Real) and np.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a number > 0; got {value!r}")
        if isinstance(self.n_blocks, bool) or not isinstance(self.n_blocks, int):
            raise ConfigError(f"n_blocks must be an even integer >= 2; got {self.n_blocks!r}")
        if self.n_blocks < 2 or self.n_blocks % 2:
            raise ConfigError(f"n_blocks must be an even integer >= 2; got {self.n_blocks}")
        if self.trials not in TRIALS:
            raise ConfigError(f"trials must be one of {', '.join(TRIALS)}; got {self.trials!r}")


@dataclass(frozen=True)
class Economics:
    """The economic evaluation of a run."""

    table: pd.DataFrame  # ECONOMIC_COLUMNS: one row per configuration (economics.csv)
    returns: pd.DataFrame  # RETURN_COLUMNS: daily, every configuration and buy-and-hold
    summary: pd.DataFrame  # SUMMARY_COLUMNS: one row per cost level


def evaluate_economics(
    forecasts: pd.DataFrame, settings: EconomicSettings | None = None
) -> Economics:
    """Trade every configuration of a run, score it, and judge the selection.

    Parameters
    ----------
    forecasts
        The long forecasts table (``series, model, origin, horizon, target_date, forecast,
        actual, origin_price``, optionally ``settings.sigma_column``).
    settings
        Costs, rules and the PBO's blocks; the defaults when ``None``.

    Returns
    -------
    Economics
        The table, the daily returns behind it (for :func:`equity_curves`) and the summary
        (for :func:`economic_verdict`).
    """
    settings = settings or EconomicSettings()
    books, scores = [], []
    for panel in build_panels(forecasts, settings.sigma_column):
        rules = [r for r in settings.rules if r != "vol_target" or panel.sigma is not None]
        for cost in settings.costs_bps:
            bh = Book(panel, BUY_AND_HOLD, cost, *buy_and_hold(panel, cost))
            books.append(bh)
            for rule in rules:
                positions = book_positions(
                    rule, panel, cost, settings.target_vol, settings.max_leverage
                )
                book = Book(panel, rule, cost, *run_books(positions, panel, cost))
                books.append(book)
                scores.append(_scores(book, positions, bh))
    table = _add_deflated_sharpe(_concat_scores(scores), settings.trials)
    table = table.sort_values(_KEYS, ignore_index=True)[ECONOMIC_COLUMNS]
    returns = returns_table(books)
    summary = economic_summary(table, returns, settings.n_blocks, settings.trials)
    return Economics(table, returns, summary)


def economic_table(
    forecasts: pd.DataFrame, settings: EconomicSettings | None = None
) -> pd.DataFrame:
    """The rows of ``economics.csv`` (:data:`ECONOMIC_COLUMNS`); see :func:`evaluate_economics`."""
    return evaluate_economics(forecasts, settings).table


def _metrics(book: Book) -> dict[str, np.ndarray]:
    """Annualised scores of each column (model) of a book's (T, M) daily arrays."""
    net = book.net
    sr, skew, kurt = sharpe_moments(net)
    equity = np.cumprod(1.0 + net, axis=0)
    peak = np.maximum.accumulate(np.maximum(equity, 1.0), axis=0)  # from a start at 1
    ann = np.sqrt(TRADING_DAYS)
    return {
        "n_days": np.full(net.shape[1], len(net)),
        "ann_return": TRADING_DAYS * net.mean(axis=0),
        "ann_vol": ann * (net.std(axis=0, ddof=1) if len(net) > 1 else np.nan),
        "sharpe": ann * sr,
        "turnover": TRADING_DAYS * book.turnover.mean(axis=0),
        "max_drawdown": np.max(1.0 - equity / peak, axis=0),
        "exposure": np.abs(book.held).mean(axis=0),
        "skew": skew,
        "kurtosis": kurt,
    }


def _scores(book: Book, positions: np.ndarray, bh: Book) -> dict[str, np.ndarray]:
    """The table's columns (but the DSR's) for each model of one book."""
    m = len(book.models)
    out: dict[str, np.ndarray] = {
        "series": np.full(m, book.panel.series, dtype=object),
        "model": np.array(book.models, dtype=object),
        "horizon": np.full(m, book.panel.horizon),
        "rule": np.full(m, book.rule, dtype=object),
        "cost_bps": np.full(m, book.cost_bps),
    }
    out |= _metrics(book)
    ref = _metrics(bh)
    out["hit_rate"] = _hit_rate(positions, book.panel)
    out["bh_return"] = np.full(m, ref["ann_return"][0])
    out["bh_sharpe"] = np.full(m, ref["sharpe"][0])
    out["excess_return"] = out["ann_return"] - out["bh_return"]
    out["excess_sharpe"] = out["sharpe"] - out["bh_sharpe"]
    return out


def _concat_scores(scores: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    if not scores:
        return _empty([c for c in ECONOMIC_COLUMNS if c not in ("psr", "n_trials", "dsr")])
    return pd.DataFrame({k: np.concatenate([s[k] for s in scores]) for k in scores[0]})


def _hit_rate(positions: np.ndarray, panel: Panel) -> np.ndarray:
    """Share of the positions taken (w != 0) whose h-day price move had the position's sign."""
    span = slice(panel.first, panel.last + 1)
    w, move = positions[span], panel.realised()[span, None]
    taken = (w != 0) & np.isfinite(move)
    hits = (taken & (w * np.nan_to_num(move) > 0)).sum(axis=0)
    n = taken.sum(axis=0)
    return np.where(n > 0, hits / np.maximum(n, 1), np.nan)


def trial_statistics(sharpe: pd.Series | np.ndarray) -> tuple[int, float, float]:
    """``N``, the variance of the trials' daily Sharpe ratios and ``SR0`` (daily), from the
    annualised Sharpe ratios of one cost level's configurations (NaN ones left out)."""
    sr = np.asarray(sharpe, dtype=float) / np.sqrt(TRADING_DAYS)
    sr = sr[np.isfinite(sr)]
    n = len(sr)
    if n == 0:
        return 0, float("nan"), float("nan")
    var = float(np.var(sr, ddof=1)) if n > 1 else float("nan")
    return n, var, expected_max_sharpe(n, var if n > 1 else 0.0)


def _trial_groups(table: pd.DataFrame, trials: str) -> list[pd.Index]:
    """The rows deflated together: the whole table, or each cost level's rows."""
    if trials == "run":
        return [table.index]
    return list(table.groupby("cost_bps").groups.values())


def _add_deflated_sharpe(table: pd.DataFrame, trials: str = "run") -> pd.DataFrame:
    """``psr`` (against 0), ``n_trials`` and ``dsr`` (against SR0 of the row's trials)."""
    table = table.copy()
    table["psr"] = np.nan
    table["n_trials"] = 0
    table["dsr"] = np.nan
    for idx in _trial_groups(table, trials) if len(table) else []:
        part = table.loc[idx]
        n, _, sr0 = trial_statistics(part["sharpe"])
        table.loc[idx, "n_trials"] = n
        ok = part.index[np.isfinite(part["sharpe"]) & (part["n_days"] >= 2)]
        if not len(ok):
            continue
        args = (
            table.loc[ok, "sharpe"].to_numpy(float) / np.sqrt(TRADING_DAYS),
            table.loc[ok, "n_days"].to_numpy(float),
            table.loc[ok, "skew"].to_numpy(float),
            table.loc[ok, "kurtosis"].to_numpy(float),
        )
        table.loc[ok, "psr"] = probabilistic_sharpe(*args)
        table.loc[ok, "dsr"] = probabilistic_sharpe(*args, benchmark=sr0)
    return table


def pbo_matrix(returns: pd.DataFrame, cost_bps: float) -> pd.DataFrame:
    """The CSCV matrix at one cost level: days (rows) by trials (columns).

    Columns are a MultiIndex (series, model, horizon, rule) over the configurations whose
    return varies; rows are the days every configuration of a series holds, aligned across
    series from the last day back and truncated to the shortest series (see the module
    docstring). ``returns`` is :attr:`Economics.returns`.
    """
    keep = (returns["cost_bps"].to_numpy(float) == float(cost_bps)) & (
        returns["rule"] != BUY_AND_HOLD
    ).to_numpy()
    r = returns.loc[keep, ["series", "model", "horizon", "rule", "end", "net_return"]]
    parts = []
    for series, part in r.groupby("series", sort=True, observed=True):
        configs = part.groupby(["model", "horizon", "rule"], sort=True, observed=True)
        row, _ = pd.factorize(part["end"], sort=True)
        grid = np.full((row.max() + 1, configs.ngroups), np.nan)
        grid[row, configs.ngroup().to_numpy()] = part["net_return"].to_numpy(float)
        grid = grid[np.isfinite(grid).all(axis=1)]  # the days every configuration holds
        if len(grid) < 3:
            continue
        varies = np.isfinite(sharpe_moments(grid)[0])
        labels = [(series, *key) for key, v in zip(configs.groups, varies, strict=True) if v]
        if labels:
            parts.append((grid[:, varies], labels))
    if not parts:
        return pd.DataFrame()
    n = min(len(g) for g, _ in parts)
    names = ["series", "model", "horizon", "rule"]
    return pd.DataFrame(
        np.hstack([g[len(g) - n :] for g, _ in parts]),
        columns=pd.MultiIndex.from_tuples([lab for _, ls in parts for lab in ls], names=names),
    )


def economic_summary(
    table: pd.DataFrame, returns: pd.DataFrame, n_blocks: int = 16, trials: str = "run"
) -> pd.DataFrame:
    """One row per cost level (:data:`SUMMARY_COLUMNS`): trials, the best one, DSR and PBO.

    ``n_configs`` counts the configurations with a Sharpe ratio at that cost, ``n_trials``
    the DSR's ``N`` (see ``trials`` in :class:`EconomicSettings`); ``sharpe_variance`` and
    ``expected_max_sharpe`` (SR0) are the DSR's inputs, annualised like ``sharpe`` (times 252
    and sqrt(252)); ``pbo`` is NaN when the matrix has fewer than 2 trials or fewer than
    ``n_blocks`` days.
    """
    rows = []
    finite = table[np.isfinite(table["sharpe"].astype(float))]
    for cost in sorted(table["cost_bps"].unique()):
        part = finite[finite["cost_bps"] == cost]
        n, var, sr0 = trial_statistics((finite if trials == "run" else part)["sharpe"])
        row = dict.fromkeys(SUMMARY_COLUMNS, np.nan) | {
            "cost_bps": cost,
            "n_configs": len(part),
            "n_trials": n,
        }
        if len(part):
            best = part.loc[part["sharpe"].idxmax()]
            row |= {
                "sharpe_variance": var * TRADING_DAYS,
                "expected_max_sharpe": sr0 * np.sqrt(TRADING_DAYS),
                "best_series": best["series"],
                "best_model": best["model"],
                "best_horizon": best["horizon"],
                "best_rule": best["rule"],
                "best_sharpe": best["sharpe"],
                "best_bh_sharpe": best["bh_sharpe"],
                "best_dsr": best["dsr"],
                "n_beat_bh": int((part["excess_sharpe"] > 0).sum()),
            }
        matrix = pbo_matrix(returns, cost)
        row |= {"pbo_configs": matrix.shape[1], "pbo_days": len(matrix)}
        if matrix.shape[1] >= 2 and len(matrix) >= max(n_blocks, 4):
            res = pbo(matrix.to_numpy(), n_blocks)
            row |= {"pbo": res.pbo, "pbo_days": res.n_obs, "pbo_combinations": res.n_combinations}
        rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def equity_curves(returns: pd.DataFrame) -> pd.DataFrame:
    """Cumulative net log return of every configuration and of buy-and-hold, day by day.

    ``equity = sum(log(1 + net_return))`` up to and including ``end`` (0 before the first
    day); buy-and-hold has model and rule ``buy_and_hold``. Columns :data:`EQUITY_COLUMNS`.
    """
    out = returns.sort_values([*_KEYS, "end"], ignore_index=True)
    logs = np.log1p(out["net_return"].astype(float))
    out["equity"] = logs.groupby([out[k] for k in _KEYS], sort=False, observed=True).cumsum()
    return out[EQUITY_COLUMNS]


def economic_verdict(summary: pd.DataFrame) -> str:
    """The summary in plain words: per cost level the best configuration, DSR and PBO, then a
    verdict (evidence of skill needs DSR >= 0.95 and PBO < 0.5 at a cost above zero)."""
    return " ".join(economic_sentences(summary))


def economic_sentences(summary: pd.DataFrame) -> list[str]:
    """:func:`economic_verdict` in parts: one paragraph per cost level, the verdict last."""
    parts = [_cost_sentence(row) for row in summary.to_dict("records")]
    paid = summary[summary["cost_bps"] > 0]
    judged = paid if len(paid) else summary
    good = judged[(judged["best_dsr"] >= DSR_EVIDENCE) & (judged["pbo"] < 0.5)]
    if len(good):
        row = good.iloc[0]
        beats = "above" if row["best_sharpe"] > row["best_bh_sharpe"] else "below"
        parts.append(
            f"Verdict: evidence that trading on the forecasts makes money at {row['cost_bps']:g}"
            f" bp (DSR {row['best_dsr']:.2f}, PBO {row['pbo']:.2f}), with a Sharpe ratio "
            f"{beats} buy-and-hold's."
        )
    else:
        parts.append(
            "Verdict: no evidence that trading on the forecasts makes money after costs, once "
            "the number of configurations tried is accounted for."
        )
    return parts


def _cost_sentence(row: dict) -> str:
    cost, n, trials = row["cost_bps"], int(row["n_configs"]), int(row["n_trials"])
    if n == 0:
        return f"At {cost:g} bp per unit traded no configuration ever held a position."
    text = (
        f"At {cost:g} bp per unit traded, the best of {n} configurations is {row['best_model']} "
        f"{RULE_LABELS[row['best_rule']]} on {row['best_series']} h={int(row['best_horizon'])}"
        f": net Sharpe ratio {row['best_sharpe']:.2f}, buy-and-hold {row['best_bh_sharpe']:.2f};"
        f" {int(row['n_beat_bh'])} of {n} beat buy-and-hold. The best of {trials} skill-less "
        f"trials would reach about {row['expected_max_sharpe']:.2f} by luck; its "
        f"deflated Sharpe ratio is {row['best_dsr']:.2f} ({DSR_EVIDENCE} or more is evidence "
        "of skill)."
    )
    if np.isfinite(row["pbo"]):
        text += (
            f" Probability of backtest overfitting {row['pbo']:.2f}: the configuration best on"
            " half of the days ranks at or below the median on the other half in "
            f"{row['pbo']:.0%} of the splits."
        )
    else:
        text += (
            " The probability of backtest overfitting could not be computed (fewer than 2"
            " configurations or too few days)."
        )
    return text


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
