"""Helpers shared by the tests of the scheduled job: a small config, store dumps, sessions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
from helpers import TINY_PARAMS

from forecast.data.loading import load_prices
from forecast.job.config import JobConfig, config_from_dict
from forecast.models.registry import get_model

#: baselines plus one tiny neural model: every code path, a fraction of a second per fit
MODELS = {
    "naive": {},
    "drift": {},
    "ar": {"max_lags": 2},
    "gru": {k: v for k, v in TINY_PARAMS.items() if k in get_model("gru").get_params()},
}
BASELINES = {k: v for k, v in MODELS.items() if k != "gru"}


def job_config(tmp_path: Path, models: dict | None = None, **overrides) -> JobConfig:
    """A job config over AAPL and MSFT writing to ``tmp_path/store/forecast.db``."""
    (tmp_path / "store").mkdir(exist_ok=True)
    raw = {
        "tickers": ["AAPL", "MSFT"],
        "horizon": 3,
        "store": str(tmp_path / "store" / "forecast.db"),
        "refit_every": 5,
        "keep_versions": 3,
        "train_size": 300,
        "models": MODELS if models is None else models,
        **overrides,
    }
    return config_from_dict(raw, source="test-config")


def sessions(n: int, end: str = "2013-03-01", ticker: str = "AAPL") -> list[str]:
    """The last ``n`` sessions of the embedded series up to ``end``, oldest first."""
    prices = load_prices(ticker, offline=True)  # also called at collection, before conftest
    days = prices.index[prices.index <= pd.Timestamp(end)][-n:]
    return [d.strftime("%Y-%m-%d") for d in days]


def dump(store: Path, table: str = "forecasts") -> list[tuple]:
    """A canonical dump of a table's content, without surrogate ids and run bookkeeping."""
    queries = {
        "forecasts": "SELECT ticker, model, as_of, horizon, target_date, forecast, lower, upper, "
        "last_price, data_hash FROM forecasts ORDER BY ticker, model, as_of, horizon",
        "model_versions": "SELECT ticker, model, spec_hash, trained_through, n_train, data_hash, "
        "file, sha256, status FROM model_versions ORDER BY ticker, model, trained_through",
        "scores": "SELECT f.ticker, f.model, f.as_of, f.horizon, s.actual, s.error, "
        "s.naive_error, s.direction_hit, s.restated FROM scores AS s JOIN forecasts AS f "
        "USING (forecast_id) ORDER BY 1, 2, 3, 4",
        "intervals": "SELECT ticker, model, as_of, horizon, lower, upper, interval_method, "
        "interval_level FROM forecasts ORDER BY ticker, model, as_of, horizon",
        "calibration": "SELECT ticker, model, spec_hash, as_of, horizon, origin, target_date, "
        "log_error FROM calibration_errors ORDER BY 1, 2, 3, 4, 5, 6",
    }
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in conn.execute(queries[table])]
    finally:
        conn.close()


def query(store: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of a read-only query."""
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()
