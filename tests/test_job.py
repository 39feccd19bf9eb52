"""The scheduled job: as-of honesty, idempotent reruns, refit policy, model files, failures."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest
from fake_yahoo import FakeYahoo, after_close, embedded_frame
from job_helpers import BASELINES, dump, job_config, query, sessions

from forecast.data.loading import load_prices
from forecast.data.sources import resolve_prices
from forecast.data.yahoo import RetryPolicy, YahooClient
from forecast.job.lock import JobLock, JobLocked
from forecast.job.runner import run_job
from forecast.models import get_model
from forecast.store.database import StoreError


@pytest.fixture
def config(tmp_path):
    return job_config(tmp_path)


def test_first_run_stores_every_ticker_model_and_horizon(config):
    summary = run_job(config, as_of="2013-02-28")
    assert (summary.status, summary.exit_code) == ("succeeded", 0)
    assert [t["status"] for t in summary.tickers] == ["stored", "stored"]
    assert summary.tickers[0]["refit"] == ["naive", "drift", "ar", "gru"]
    rows = dump(config.store)
    assert len(rows) == 2 * 4 * 3  # tickers x models x horizons
    assert {r[4] for r in rows} == {"2013-03-01", "2013-03-04", "2013-03-05"}
    # an 80% adaptive conformal interval around every forecast (details: test_jobintervals)
    assert all(r[6] < r[5] < r[7] for r in rows)
    assert {r[6:] for r in dump(config.store, "intervals")} == {("aci", 0.8)}
    assert summary.tickers[0]["calibrated"] == ["naive", "drift", "ar", "gru"]
    assert query(config.store, "SELECT status FROM runs") == [("succeeded",)]


def test_rerun_for_the_same_as_of_is_idempotent(config):
    run_job(config, as_of="2013-02-28")
    tables = ("forecasts", "intervals", "calibration", "model_versions", "scores")
    before = {t: dump(config.store, t) for t in tables}
    assert len(before["calibration"]) == 2 * 4 * (100 + 99 + 98)  # tickers x models x horizons
    files = sorted(p.relative_to(config.store.parent) for p in config.store.parent.rglob("*.*"))
    again = run_job(config, as_of="2013-02-28")
    assert (again.status, again.exit_code) == ("nothing_to_do", 0)
    assert "no new session: forecasts as of 2013-02-28 already stored" in again.message
    assert {t: dump(config.store, t) for t in before} == before
    assert sorted(p.relative_to(config.store.parent) for p in config.store.parent.rglob("*.*")) == (
        files
    )


def test_as_of_run_uses_no_later_price(config):
    """A replayed date forecasts what a fresh fit on the prices up to it forecasts."""
    run_job(config, as_of="2013-01-15")
    prices = load_prices("AAPL").loc[:"2013-01-15"].iloc[-config.train_size :]
    expected = get_model("ar", max_lags=2).fit(prices).predict(3).to_numpy()
    got = query(
        config.store,
        "SELECT forecast FROM forecasts WHERE ticker = 'AAPL' AND model = 'ar' ORDER BY horizon",
    )
    np.testing.assert_allclose([g[0] for g in got], expected, rtol=1e-12)
    last = query(config.store, "SELECT DISTINCT last_price FROM forecasts WHERE ticker = 'AAPL'")
    assert last == [(float(prices.iloc[-1]),)]


def test_target_dates_follow_the_exchange_calendar(tmp_path):
    # NYSE closed on 29-30 Oct 2012 (Hurricane Sandy) and on 22 Nov 2012 (Thanksgiving)
    config = job_config(tmp_path, models=BASELINES, horizon=4, tickers=["AAPL"])
    run_job(config, as_of="2012-10-26")
    run_job(config, as_of="2012-11-20")
    targets = [r[0] for r in query(config.store, "SELECT DISTINCT target_date FROM forecasts")]
    assert targets == [
        "2012-10-31", "2012-11-01", "2012-11-02", "2012-11-05",
        "2012-11-21", "2012-11-23", "2012-11-26", "2012-11-27",
    ]  # fmt: skip


def test_a_day_without_a_session_does_nothing(config):
    summary = run_job(config, as_of=date(2013, 2, 18))  # Presidents' Day
    assert (summary.status, summary.exit_code) == ("nothing_to_do", 0)
    assert "2013-02-18 is not a trading session on XNYS" in summary.message
    assert not config.store.exists()


def test_as_of_after_the_last_closed_session_is_refused(config):
    now = pd.Timestamp("2013-03-01 15:00", tz="America/New_York").to_pydatetime()
    with pytest.raises(
        ValueError, match=r"2013-03-01 is after the last closed XNYS session 2013-02-28"
    ):
        run_job(config, as_of="2013-03-01", now=lambda: now)


def test_refit_policy_counts_sessions(tmp_path):
    config = job_config(tmp_path, models=BASELINES, tickers=["AAPL"], refit_every=3)
    days = sessions(7, end="2013-02-28")
    refits = [run_job(config, as_of=d).tickers[0]["refit"] for d in days]
    assert [bool(r) for r in refits] == [True, False, False, True, False, False, True]
    versions = query(config.store, "SELECT DISTINCT trained_through FROM model_versions")
    assert [v[0] for v in versions] == [days[0], days[3], days[6]]
    # forecasts from a loaded model come from the version trained 1-2 sessions earlier
    used = query(
        config.store,
        "SELECT f.as_of, v.trained_through FROM forecasts f JOIN model_versions v "
        "USING (version_id) WHERE f.model = 'ar' AND f.horizon = 1 ORDER BY f.as_of",
    )
    assert [u[1] for u in used] == [days[0]] * 3 + [days[3]] * 3 + [days[6]]


def test_loaded_model_forecasts_like_the_refit_one(tmp_path):
    """Reloading a model file gives the forecasts the in-memory model would have given."""
    config = job_config(tmp_path, tickers=["AAPL"])
    d0, d1 = sessions(2, end="2013-02-28")
    run_job(config, as_of=d0)
    run_job(config, as_of=d1)  # loads every model
    prices = load_prices("AAPL").loc[:d0].iloc[-config.train_size :]
    history = load_prices("AAPL").loc[:d1]
    ar = get_model("ar", max_lags=2).fit(prices)
    sql = "SELECT forecast FROM forecasts WHERE model = 'ar' AND as_of = ?"
    got = query(config.store, sql, (d1,))
    np.testing.assert_allclose([g[0] for g in got], ar.predict(3, history=history), rtol=1e-12)


def _version_folder(config, model: str):
    (rel,) = query(
        config.store,
        "SELECT file FROM model_versions WHERE ticker = 'AAPL' AND model = ? AND status = 'active'",
        (model,),
    )[0:1]
    return config.store.parent / "forecast.db.models" / rel[0]


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "planted_pickle", "valid_but_wrong"])
def test_tampered_or_corrupt_model_file_is_refit_not_loaded(tmp_path, damage):
    config = job_config(tmp_path, tickers=["AAPL"])
    d0, d1 = sessions(2, end="2013-02-28")
    run_job(config, as_of=d0)
    folder = _version_folder(config, "gru")
    marker = tmp_path / "pwned"
    if damage == "flip_byte":
        data = bytearray((folder / "model.pt").read_bytes())
        data[len(data) // 2] ^= 0x01
        (folder / "model.pt").write_bytes(bytes(data))
    elif damage == "truncate":
        (folder / "model.json").write_bytes((folder / "model.json").read_bytes()[:100])
    elif damage == "planted_pickle":  # unpickling would create the marker file

        class Evil:
            def __reduce__(self):
                return (open, (str(marker), "w"))

        (folder / "model.pt").write_bytes(pickle.dumps(Evil()))
    elif damage == "valid_but_wrong":
        # the sha256 in the store is updated too: only deserialising can catch this one
        manifest = json.loads((folder / "model.json").read_text())
        manifest["format_version"] = 999
        (folder / "model.json").write_text(json.dumps(manifest))
        from forecast.job.modelfiles import digest

        files = {p.name: p.read_bytes() for p in folder.iterdir()}
        import sqlite3

        conn = sqlite3.connect(config.store)
        conn.execute("UPDATE model_versions SET sha256 = ? WHERE model = 'gru'", (digest(files),))
        conn.commit()
        conn.close()
    summary = run_job(config, as_of=d1)
    (ticker,) = summary.tickers
    assert summary.exit_code == 0 and ticker["status"] == "stored"
    assert "gru" in ticker["refit"] and "ar" in ticker["loaded"]
    assert [e["kind"] for e in ticker["events"]] == ["bad_model_file"]
    assert not marker.exists()
    assert query(config.store, "SELECT kind, model FROM events WHERE kind = 'bad_model_file'") == [
        ("bad_model_file", "gru")
    ]
    statuses = query(
        config.store,
        "SELECT trained_through, status FROM model_versions WHERE model = 'gru' ORDER BY 1",
    )
    assert statuses == [(d0, "rejected"), (d1, "active")]
    assert len(query(config.store, "SELECT * FROM forecasts WHERE as_of = ?", (d1,))) == 4 * 3


def test_old_versions_are_pruned_to_keep_versions(tmp_path):
    config = job_config(
        tmp_path, models=BASELINES, tickers=["AAPL"], refit_every=1, keep_versions=2
    )
    days = sessions(4, end="2013-02-28")
    for d in days:
        run_job(config, as_of=d)
    rows = query(
        config.store, "SELECT trained_through, status, file FROM model_versions WHERE model = 'ar'"
    )
    assert [(r[0], r[1]) for r in rows] == [
        (days[0], "pruned"), (days[1], "pruned"), (days[2], "active"), (days[3], "active")
    ]  # fmt: skip
    models = config.store.parent / "forecast.db.models"
    assert [(models / r[2]).is_dir() for r in rows] == [False, False, True, True]
    assert len(query(config.store, "SELECT * FROM events WHERE kind = 'pruned'")) == 2 * 3


def test_a_failing_model_is_partial_and_the_rest_is_stored(tmp_path):
    # ar with 100 lags needs 212 training prices; train_size 150 gives it too few
    models = {**BASELINES, "ar": {"max_lags": 100}}
    config = job_config(tmp_path, models=models, train_size=150)
    summary = run_job(config, as_of="2013-02-28")
    assert (summary.status, summary.exit_code) == ("partial", 3)
    assert all(t["status"] == "partial" for t in summary.tickers)
    assert "needs at least 212 training prices" in summary.tickers[0]["failed"]["ar"]
    assert {r[0] for r in query(config.store, "SELECT DISTINCT model FROM forecasts")} == {
        "naive",
        "drift",
    }
    (errors,) = query(config.store, "SELECT errors FROM runs")[0]
    assert [e["model"] for e in json.loads(errors)] == ["ar", "ar"]
    # a rerun retries only the failed model
    assert run_job(config, as_of="2013-02-28").tickers[0]["refit"] == []


def test_ticker_failures_and_exit_codes(tmp_path):
    # GSPC has prices on 2015-06-01; AAPL's embedded series ends in 2013
    config = job_config(tmp_path, models=BASELINES, tickers=["AAPL", "GSPC"])
    summary = run_job(config, as_of="2015-06-01")
    assert (summary.status, summary.exit_code) == ("partial", 3)
    aapl = summary.tickers[0]
    assert aapl["status"] == "failed"
    assert (
        "no price for the as-of session 2015-06-01 (latest on or before it: 2013-03-01"
        in (aapl["message"])
    )
    nothing = job_config(tmp_path, models=BASELINES, tickers=["AAPL", "MSFT"])
    summary = run_job(nothing, as_of="2015-06-01")
    assert (summary.status, summary.exit_code) == ("failed", 1)


def test_offline_latest_run_uses_each_tickers_last_price(tmp_path):
    config = job_config(tmp_path, models=BASELINES, tickers=["AAPL", "GSPC"])
    summary = run_job(config)  # offline in tests: embedded data
    assert [t["as_of"] for t in summary.tickers] == ["2013-03-01", "2018-12-31"]
    assert [t["source"] for t in summary.tickers] == ["embedded", "embedded"]
    assert query(config.store, "SELECT as_of FROM runs") == [(None,)]


def test_network_down_uses_the_cache(tmp_path):
    config = job_config(tmp_path, models=BASELINES)
    fake = FakeYahoo({t: embedded_frame(t).loc["2012":"2013-02-28"] for t in ("AAPL", "MSFT")})

    def client(day):
        return YahooClient(
            download=fake.download,
            now=lambda: after_close(day),
            sleep=lambda s: None,
            policy=RetryPolicy(jitter=0.0),
        )

    for t in ("AAPL", "MSFT"):  # yesterday's run filled the cache
        resolve_prices(t, offline=False, client=client("2013-02-28"))
    fake.fail("outage")
    summary = run_job(config, as_of="2013-02-28", offline=False, client=client("2013-03-01"))
    assert summary.exit_code == 0
    assert [t["source"] for t in summary.tickers] == ["cache", "cache"]
    # the next session is not in the cache: the ticker fails and says why
    later = run_job(config, as_of="2013-03-01", offline=False, client=client("2013-03-01"))
    assert later.exit_code == 1
    assert "latest on or before it: 2013-02-28, from cache data" in later.tickers[0]["message"]
    assert "Yahoo Finance unreachable" in later.tickers[0]["message"]
    # without --as-of: forecast from the cached prices, but say they are stale (exit 4)
    now = after_close("2013-03-01")
    latest = run_job(config, offline=False, client=client("2013-03-01"), now=lambda: now)
    assert (latest.status, latest.exit_code) == ("partial", 4)
    assert latest.message.endswith("from stale prices (Yahoo Finance could not be reached): "
                                   "AAPL, MSFT")  # fmt: skip
    aapl = latest.tickers[0]
    assert aapl["status"] == "up_to_date" and aapl["stale"] and aapl["as_of"] == "2013-02-28"
    assert aapl["message"].startswith(
        "stale: prices end 2013-02-28, 1 session before the last closed session 2013-03-01"
    )
    assert query(config.store, "SELECT COUNT(*) FROM events WHERE kind = 'stale_prices'") == [(2,)]


def test_online_default_as_of_is_the_last_closed_session(tmp_path):
    config = job_config(tmp_path, models=BASELINES, tickers=["AAPL"])
    fake = FakeYahoo({"AAPL": embedded_frame("AAPL").loc["2012":]})
    now = after_close("2013-03-01")
    client = YahooClient(download=fake.download, now=lambda: now, policy=RetryPolicy(jitter=0.0))
    summary = run_job(config, offline=False, client=client, now=lambda: now)
    assert summary.as_of == "2013-03-01" and summary.exit_code == 0
    assert summary.tickers[0]["source"] == "yahoo"
    # the weekend: no new session, nothing to do
    weekend = pd.Timestamp("2013-03-02 18:00", tz="UTC").to_pydatetime()
    again = run_job(config, offline=False, client=client, now=lambda: weekend)
    assert (again.status, again.exit_code, again.as_of) == ("nothing_to_do", 0, "2013-03-01")


def test_store_errors_and_lock(tmp_path, config):
    with pytest.raises(StoreError, match=r"store folder does not exist: .*missing"):
        run_job(replace(config, store=tmp_path / "missing" / "f.db"), as_of="2013-02-28")
    holder = JobLock(config.store)
    holder.acquire(info={"started_at": "earlier", "as_of": "2013-02-27"})
    try:
        with pytest.raises(JobLocked, match=r"another forecast run holds .*as-of 2013-02-27"):
            run_job(config, as_of="2013-02-28")
    finally:
        holder.release()


@pytest.mark.parametrize("day", ["2013-03-02", "2013-03-29"])  # a Saturday, Good Friday
def test_a_future_day_without_a_session_is_an_error_too(config, day):
    now = pd.Timestamp("2013-03-01 18:00", tz="America/New_York").to_pydatetime()
    with pytest.raises(ValueError, match=rf"{day} is after the last closed XNYS session"):
        run_job(config, as_of=day, now=lambda: now)


def test_the_command_refuses_a_future_as_of_before_loading_anything(capsys):
    from forecast.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["run", "--as-of", "2999-12-25"])
    assert exit_.value.code == 2
    assert "--as-of must be a session that has closed; 2999-12-25 is in the future" in (
        capsys.readouterr().err
    )
