"""The evening job's volatility forecasts: stored, scored as they mature, model files,
retention, failures, idempotent reruns; the store migration that added them; the service."""

from __future__ import annotations

import json
import sqlite3
import warnings

import numpy as np
import pandas as pd
import pytest
from job_helpers import BASELINES, job_config, query, sessions

from forecast.data.ohlc import load_price_frame
from forecast.errors import ConfigError
from forecast.job.modelfiles import read_version
from forecast.job.runner import run_job
from forecast.models.volatility.files import volatility_model_from_files
from forecast.models.volatility.realized import daily_variance, log_ohlc
from forecast.service.app import create_app
from forecast.store import schema as st
from forecast.store.database import open_store, schema_version
from forecast.store.schema import MIGRATIONS

with warnings.catch_warnings():  # starlette 1.10 asks for httpx2; httpx still works
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

DAYS = sessions(4, end="2013-02-28")
VOLATILITY = {"horizon": 2, "models": {"ewma": {}, "har": {}}}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """AAPL and MSFT, naive/drift/ar and volatility naive/ewma/har, four sessions."""
    config = job_config(tmp_path_factory.mktemp("vjob"), models=BASELINES, volatility=VOLATILITY)
    for day in DAYS:  # offline explicitly: a module fixture runs before the autouse one
        summary = run_job(config, as_of=day, offline=True)
        assert summary.exit_code == 0, summary.message
    return config


def test_volatility_forecasts_are_stored_per_ticker_model_and_horizon(store):
    rows = query(
        store.store,
        "SELECT ticker, model, as_of, horizon, target_date, variance, "
        "proxy, var_1, var_5, var_1_t, var_5_t, t_dof FROM volatility_forecasts",
    )
    frame = pd.DataFrame(
        rows,
        columns=[
            "ticker",
            "model",
            "as_of",
            "horizon",
            "target_date",
            "variance",
            "proxy",
            "var_1",
            "var_5",
            "var_1_t",
            "var_5_t",
            "t_dof",
        ],
    )
    assert len(frame) == 2 * 3 * 2 * 4  # tickers x models (naive added) x horizons x days
    assert set(frame.model) == {"naive", "ewma", "har"} and (frame.proxy == "yang_zhang").all()
    assert (frame.var_1 > frame.var_5).all() and (frame.variance > 0).all()
    np.testing.assert_allclose(frame.var_5, 1.6448536 * np.sqrt(frame.variance), rtol=1e-6)
    day = frame[(frame.as_of == DAYS[0]) & (frame.ticker == "AAPL")]
    assert set(day.target_date) == {DAYS[1], DAYS[2]}  # the next two sessions
    # h=2's variance is the sum of the two daily forecasts: larger than h=1's
    wide = day.pivot(index="model", columns="horizon", values="variance")
    assert (wide[2] > wide[1]).all()


def test_stored_forecasts_equal_the_model_files_own(store):
    version = query(
        store.store,
        "SELECT file, sha256, trained_through, target FROM "
        "model_versions WHERE ticker = 'AAPL' AND model = 'har' AND target = "
        "'volatility' ORDER BY trained_through LIMIT 1",
    )[0]
    assert version[0].startswith("T_AAPL/volatility-har/") and version[3] == "volatility"
    folder = store.store.parent / f"{store.store.name}.models"  # the store's own models
    files = read_version(folder, version[0], version[1])
    assert json.loads(files["model.json"])["target"] == "volatility"
    model = volatility_model_from_files(files)
    for as_of in DAYS[:3]:  # loaded from this file, not refit, on the days after (refit 5)
        frame = load_price_frame("AAPL", end=as_of)
        daily = model.predict_variance(2, history=frame).to_numpy()
        stored = query(
            store.store,
            "SELECT variance FROM volatility_forecasts WHERE ticker = "
            "'AAPL' AND model = 'har' AND as_of = ? ORDER BY horizon",
            (as_of,),
        )
        np.testing.assert_array_equal([r[0] for r in stored], np.cumsum(daily))
    n = query(store.store, "SELECT COUNT(*) FROM model_versions WHERE target = 'volatility'")
    assert n[0][0] == 2 * 3  # one fit per ticker and model in four sessions


def test_matured_forecasts_are_scored_by_hand(store):
    rows = query(
        store.store,
        "SELECT f.as_of, f.target_date, f.variance, f.var_5, s.realized, "
        "s.log_return, s.qlike, s.squared_error, s.hit_5 FROM volatility_forecasts AS "
        "f JOIN volatility_scores AS s USING (vforecast_id) WHERE f.ticker = 'MSFT' "
        "AND f.model = 'ewma' ORDER BY f.as_of, f.horizon",
    )
    # targets at or before the last as-of: 3 at h=1, 2 at h=2
    assert len(rows) == 5
    frame = load_price_frame("MSFT", end=DAYS[-1])
    data = log_ohlc(frame)
    daily = daily_variance(data, "yang_zhang")
    pos = {d.strftime("%Y-%m-%d"): i for i, d in enumerate(frame.index)}
    for as_of, target, variance, var_5, realized, ret, qlike, se, hit in rows:
        i, j = pos[as_of], pos[target]
        assert realized == pytest.approx(daily[i:j].sum())
        assert ret == pytest.approx(data.close[j] - data.close[i])
        assert qlike == pytest.approx(realized / variance - np.log(realized / variance) - 1)
        assert se == pytest.approx((realized - variance) ** 2) and hit == int(ret < -var_5)
    pending = query(
        store.store,
        "SELECT COUNT(*) FROM volatility_forecasts AS f LEFT JOIN "
        "volatility_scores AS s USING (vforecast_id) WHERE s.vforecast_id IS NULL",
    )
    assert pending[0][0] == 2 * 3 * 3  # the last day's two horizons and h=2 of the day before


def test_a_rerun_is_a_no_op_and_reports_volatility(store):
    before = query(store.store, "SELECT COUNT(*) FROM volatility_forecasts")
    summary = run_job(store, as_of=DAYS[-1], offline=True)
    assert summary.exit_code == 0 and summary.status == "nothing_to_do"
    assert query(store.store, "SELECT COUNT(*) FROM volatility_forecasts") == before
    assert summary.tickers[0]["volatility"] == {
        "forecasts": 0,
        "scores": 0,
        "refit": [],
        "loaded": [],
    }


def test_retention_keeps_price_and_volatility_versions_apart(tmp_path):
    config = job_config(
        tmp_path,
        models={"naive": {}},
        refit_every=1,
        keep_versions=1,
        tickers=["AAPL"],
        volatility={"models": {"naive": {}}},
    )
    for day in DAYS[:3]:
        assert run_job(config, as_of=day, offline=True).exit_code == 0
    active = query(
        config.store,
        "SELECT model, target, trained_through FROM model_versions "
        "WHERE status = 'active' ORDER BY target",
    )
    assert active == [("naive", "price", DAYS[2]), ("naive", "volatility", DAYS[2])]
    pruned = query(
        config.store,
        "SELECT target, COUNT(*) FROM model_versions WHERE status = "
        "'pruned' GROUP BY target ORDER BY target",
    )
    assert pruned == [("price", 2), ("volatility", 2)]


def test_a_failing_volatility_model_costs_only_itself(tmp_path):
    volatility = {"models": {"ewma": {}, "garch": {}}}  # garch needs 101 prices: 60 are given
    config = job_config(
        tmp_path, models={"naive": {}}, train_size=60, tickers=["AAPL"], volatility=volatility
    )
    summary = run_job(config, as_of=DAYS[0], offline=True)
    assert summary.exit_code == 3 and summary.tickers[0]["status"] == "partial"
    assert "garch: needs at least 101" in summary.tickers[0]["failed"]["volatility:garch"]
    models = query(config.store, "SELECT DISTINCT model FROM volatility_forecasts ORDER BY 1")
    assert models == [("ewma",), ("naive",)]
    assert query(config.store, "SELECT COUNT(*) FROM forecasts")[0][0] == 3  # prices stored


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"models": {"ar": {}}}, "volatility.models.ar: unknown volatility model 'ar'"),
        ({"models": {"har": {}}, "horizon": 0}, "volatility.horizon must be an integer"),
        ({"models": {"har": {}}, "lag": 1}, "unknown key 'lag'"),
        ({"models": {"har": {}}, "proxy": "hl"}, "volatility.proxy must be one of"),
    ],
)
def test_config_errors_name_the_key(tmp_path, table, message):
    with pytest.raises(ConfigError, match=message):
        job_config(tmp_path, volatility=table)


def test_the_shipped_daily_config_forecasts_the_econometric_models():
    from forecast.job.config import load_config

    config = load_config()
    names = [m.name for m in config.volatility.models]
    assert names == ["naive", "ewma", "garch", "gjr", "har", "msrv"]
    assert config.volatility.horizon == config.horizon


def _v2_store(path) -> None:
    """A store as schema version 2 made it: a run, a version, a forecast with its score."""
    conn = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:2]:
        for statement in step:
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    conn.execute(
        "INSERT INTO runs (run_id, started_at, config_hash, status) VALUES "
        "(1, 't', 'h', 'succeeded')"
    )
    conn.execute(
        "INSERT INTO model_versions (version_id, ticker, model, spec_hash, params, "
        "trained_through, n_train, data_hash, file, sha256, fit_seconds, run_id) VALUES "
        "(1, 'AAPL', 'naive', 'sha256:abc', '{}', '2013-02-27', 100, 'd', 'f', 's', 0.1, 1)"
    )
    conn.execute(
        "INSERT INTO forecasts (forecast_id, ticker, model, version_id, as_of, horizon, "
        "target_date, forecast, lower, upper, interval_method, interval_level, last_price, "
        "data_hash, run_id) VALUES (1, 'AAPL', 'naive', 1, '2013-02-27', 1, '2013-02-28', "
        "10.0, 9.0, 11.0, 'aci', 0.8, 10.0, 'd', 1)"
    )
    conn.execute("INSERT INTO scores VALUES (1, 11.0, -1.0, -1.0, NULL, 0, 1)")
    conn.execute(
        "INSERT INTO calibration_errors VALUES ('AAPL', 'naive', 'sha256:abc', "
        "'2013-02-27', 1, '2013-02-26', '2013-02-27', 0.01, 1)"
    )
    conn.close()


def test_the_migration_keeps_every_row(tmp_path):
    path = tmp_path / "forecast.db"
    _v2_store(path)
    tables = ["runs", "model_versions", "forecasts", "scores", "calibration_errors"]
    conn = sqlite3.connect(path)
    before = {t: conn.execute(f"SELECT * FROM {t}").fetchall() for t in tables}
    view = conn.execute("SELECT * FROM scored_forecasts").fetchall()
    conn.close()
    store = open_store(path)
    assert schema_version(store.conn) == st.SCHEMA_VERSION
    for t in tables:
        after = [tuple(r) for r in store.conn.execute(f"SELECT * FROM {t}")]
        width = len(before[t][0])  # later migrations add columns, NULL in old rows
        assert [r[:width] for r in after] == before[t], t
        if t == "model_versions":  # the target column, 'price' for every old row
            assert {r[-1] for r in after} == {"price"}
        else:
            assert {v for r in after for v in r[width:]} <= {None}, t
    rows = store.conn.execute("SELECT * FROM scored_forecasts").fetchall()
    assert [tuple(r)[: len(view[0])] for r in rows] == view
    assert store.conn.execute("SELECT COUNT(*) FROM volatility_forecasts").fetchone()[0] == 0
    assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []
    store.close()


@pytest.fixture(scope="module")
def client(store):
    moment = pd.Timestamp("2013-03-01 18:00", tz="America/New_York").to_pydatetime()
    with TestClient(create_app(store.store, now=lambda: moment)) as c:
        yield c


def test_service_serves_the_volatility_forecasts_with_scores(client):
    r = client.get("/volatility/aapl")
    assert r.status_code == 200
    body = r.json()
    assert body["ticker"] == "AAPL" and body["as_of"] == DAYS[-1]
    assert {f["model"] for f in body["forecasts"]} == {"naive", "ewma", "har"}
    f = body["forecasts"][0]
    assert f["volatility"] == pytest.approx(np.sqrt(f["variance"])) and f["score"] is None
    assert f["version"]["params"] and f["proxy"] == "yang_zhang"
    old = client.get(f"/volatility/AAPL?as_of={DAYS[0]}&model=har&horizon=1").json()
    [row] = old["forecasts"]
    assert row["score"]["qlike"] >= 0 and isinstance(row["score"]["hit_1"], bool)
    card = {(c["model"], c["horizon"]): c for c in body["scorecard"]}
    assert card[("naive", 1)]["rel_qlike"] == pytest.approx(1.0)
    assert card[("har", 1)]["n"] == 3 and card[("har", 2)]["pending"] == 2
    only = client.get("/volatility/AAPL?model=ewma").json()
    assert {c["model"] for c in only["scorecard"]} == {"ewma"}


@pytest.mark.parametrize(
    ("url", "status", "parameter"),
    [
        ("/volatility/IBM", 404, "ticker"),
        ("/volatility/AAPL?model=garch", 404, "model"),
        ("/volatility/AAPL?horizon=3", 404, "horizon"),
        ("/volatility/AAPL?as_of=2013-01-02", 404, "as_of"),
        ("/volatility/AAPL?as_of=2013-02-30", 422, "as_of"),
        ("/volatility/AAPL?horizon=0", 422, "horizon"),
        ("/volatility/AAPL?modle=har", 422, "modle"),
        ("/volatility/A$B", 422, "ticker"),
    ],
)
def test_service_volatility_errors_name_the_parameter(client, url, status, parameter):
    r = client.get(url)
    assert r.status_code == status, r.text
    assert [p["parameter"] for p in r.json()["parameters"]] == [parameter]
