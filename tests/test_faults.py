"""Regression tests of the defects fault injection found (issue 13): the job and the store."""

from __future__ import annotations

import shutil
import sqlite3

from job_helpers import BASELINES, job_config, query, sessions

from forecast.job.runner import run_job
from forecast.store.database import open_store
from forecast.store.schema import MIGRATIONS


def test_a_failing_clean_up_of_old_versions_is_a_warning_and_the_run_goes_on(tmp_path, caplog):
    """An old version folder that is a symlink out of the models folder: deleting it is
    refused, after the ticker's commit; the run warns, stores every ticker and exits 0."""
    config = job_config(tmp_path, models=BASELINES, refit_every=1, keep_versions=1)
    d0, d1 = sessions(2, end="2013-02-28")
    assert run_job(config, as_of=d0).exit_code == 0
    models = config.store.parent / f"{config.store.name}.models"
    (rel,) = query(config.store, "SELECT file FROM model_versions WHERE ticker = 'AAPL' AND "
                                 "model = 'ar'")[0:1]  # fmt: skip
    outside = tmp_path / "elsewhere"
    shutil.move(models / rel[0], outside)
    (models / rel[0]).symlink_to(outside, target_is_directory=True)
    summary = run_job(config, as_of=d1)
    assert (summary.status, summary.exit_code) == ("succeeded", 0)
    assert [t["status"] for t in summary.tickers] == ["stored", "stored"]  # MSFT too
    assert "could not delete old model version" in caplog.text
    assert outside.is_dir()  # nothing outside the models folder was touched


def test_two_stores_in_one_folder_keep_their_own_model_files(tmp_path):
    a = job_config(tmp_path, models=BASELINES, tickers=["AAPL"], refit_every=1, keep_versions=1)
    b = a.__class__(**{**a.__dict__, "store": a.store.parent / "other.db"})
    d0, d1 = sessions(2, end="2013-02-28")
    assert run_job(b, as_of=d0).exit_code == 0
    files_b = {r[0] for r in query(b.store, "SELECT file FROM model_versions")}
    for day in (d0, d1):  # store a refits and prunes its own old versions
        assert run_job(a, as_of=day).exit_code == 0
    folder_b = b.store.parent / "other.db.models"
    assert all((folder_b / f).is_dir() for f in files_b)  # b's files survived a's clean-up
    assert (a.store.parent / "forecast.db.models").is_dir()
    assert not (a.store.parent / "models").exists()


def test_a_store_with_files_in_the_old_shared_folder_keeps_using_it(tmp_path):
    """Stores from before schema 4 keep their ``models`` folder (their rows point there)."""
    path = tmp_path / "forecast.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:3]:  # a store as schema version 3 made it
        for statement in step:
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    conn.execute(
        "INSERT INTO runs (started_at, config_hash, status, pid, host, version) "
        "VALUES ('2013-01-01', 'x', 'succeeded', 1, 'h', 'v')"
    )
    conn.execute(
        "INSERT INTO model_versions (ticker, model, spec_hash, params, trained_through, "
        "n_train, data_hash, file, sha256, fit_seconds, run_id, status) VALUES "
        "('AAPL', 'ar', 's', '{}', '2013-01-01', 10, 'd', 'T_AAPL/ar/x', 'h', 0.1, 1, 'active')"
    )
    conn.close()
    db = open_store(path)
    assert db.models_dir == tmp_path / "models"
    db.close()
    fresh = open_store(tmp_path / "new.db")
    assert fresh.models_dir == tmp_path / "new.db.models"
    fresh.close()


def test_schema_version_is_the_newest():
    conn = sqlite3.connect(":memory:")
    from forecast.store.database import migrate
    from forecast.store.schema import SCHEMA_VERSION

    migrate(conn)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION == len(MIGRATIONS) == 6


def test_a_full_disk_is_reported_as_such_not_as_cannot_rollback(tmp_path):
    """SQLite rolls back by itself on a full disk; the error raised must be the real one."""
    from forecast.store.database import connect, transaction

    conn = connect(tmp_path / "full.db")
    conn.execute("CREATE TABLE t (x BLOB)")
    conn.execute("PRAGMA max_page_count = 20")  # a disk that fills up
    try:
        with transaction(conn):
            for _ in range(100):
                conn.execute("INSERT INTO t VALUES (randomblob(4000))")
    except sqlite3.Error as exc:
        error = str(exc)
    assert "full" in error and "rollback" not in error
    assert not conn.in_transaction
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0  # nothing half-written


def test_an_error_after_sqlite_rolled_back_itself_is_raised_unchanged(tmp_path):
    from forecast.store.database import connect, transaction

    conn = connect(tmp_path / "s.db")
    try:
        with transaction(conn):
            conn.execute("ROLLBACK")  # what SQLite does on SQLITE_FULL or an I/O error
            raise sqlite3.OperationalError("database or disk is full")
    except sqlite3.OperationalError as exc:
        assert str(exc) == "database or disk is full"


def test_the_job_lock_locks_the_store_a_symlink_points_to(tmp_path):
    from forecast.job.lock import JobLock, JobLocked

    real = tmp_path / "real" / "forecast.db"
    real.parent.mkdir()
    real.touch()
    link = tmp_path / "link.db"
    link.symlink_to(real)
    via_folder = tmp_path / "folder-link"
    via_folder.symlink_to(real.parent, target_is_directory=True)
    held = JobLock(real)
    held.acquire()
    with held:
        for other in (link, via_folder / "forecast.db"):
            try:
                JobLock(other).acquire()
            except JobLocked:
                continue
            raise AssertionError(f"{other} took the lock of {real} a second time")


def test_a_one_day_correction_is_not_a_proportional_adjustment():
    """The source corrected the as-of day's price only: the actual stands as it is. A split
    (every earlier price scaled by one ratio) is still rescaled to the forecast's basis."""
    import pandas as pd
    import pytest

    from forecast.job.ticker import score_forecasts

    days = pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"])
    forecast = ((7, "2020-01-02", "2020-01-03", 104.0, 100.0),)
    # what the store saw: 99 on 01-01, 100 on 01-02 (the forecast's last price)
    basis = {"2020-01-01": 99.0, "2020-01-02": 100.0}
    corrected = pd.Series([99.0, 101.0, 102.0], index=days)  # only 01-02 changed
    (score,) = score_forecasts(corrected, forecast, basis)
    assert score.restated == 0 and score.actual == 102.0
    split = pd.Series([49.5, 50.0, 51.0], index=days)  # every price halved
    (score,) = score_forecasts(split, forecast, basis)
    assert score.restated == 1 and score.actual == pytest.approx(102.0)
    # a correction of an earlier day only does not touch this forecast's basis
    (score,) = score_forecasts(pd.Series([98.0, 100.0, 103.0], index=days), forecast, basis)
    assert score.restated == 0 and score.actual == 103.0


def test_the_store_gives_the_price_basis_of_each_as_of(tmp_path):
    config = job_config(tmp_path, models={"naive": {}}, tickers=["AAPL"], horizon=1)
    d0, d1, d2 = sessions(3, end="2013-02-28")
    for day in (d0, d1):
        assert run_job(config, as_of=day).exit_code == 0
    db = open_store(config.store)
    basis = db.price_basis("AAPL", d2)
    db.close()
    assert sorted(basis) == [d0, d1]


def test_embedded_prices_used_because_yahoo_is_down_are_stale_with_their_own_exit_code(
    tmp_path,
):
    """Online, Yahoo unreachable, no cache: the embedded series are used, but the run says
    so: exit 4, the stale tickers named, and /health lists them."""
    from fake_yahoo import FakeYahoo, after_close

    from forecast.data.yahoo import RetryPolicy, YahooClient
    from forecast.job.summary import EXIT_STALE

    config = job_config(tmp_path, models=BASELINES)
    fake = FakeYahoo()
    fake.fail("outage")
    now = after_close("2013-03-05")
    client = YahooClient(download=fake.download, now=lambda: now, sleep=lambda s: None,
                         policy=RetryPolicy(jitter=0.0))  # fmt: skip
    summary = run_job(config, offline=False, client=client, now=lambda: now)
    assert summary.exit_code == EXIT_STALE == 4
    assert summary.message.endswith("(Yahoo Finance could not be reached): AAPL, MSFT")
    assert all(t["stale"] and t["source"] == "embedded" for t in summary.tickers)
    # offline, the same embedded series are what was asked for: not stale
    assert run_job(config, offline=True).exit_code == 0
    try:
        from fastapi.testclient import TestClient
    except ImportError:  # the serve extra: its own tests skip too
        return
    from forecast.service.app import create_app

    run_job(config, offline=False, client=client, now=lambda: now)
    with TestClient(create_app(config.store, now=lambda: now)) as web:
        health = web.get("/health").json()
    assert health["stale_prices"] == ["AAPL", "MSFT"] and health["status"] == "stale"


def test_a_csv_whose_dates_have_another_name_loads_with_date_column(tmp_path, capsys):
    from forecast.cli import main
    from forecast.data.loading import load_prices

    path = tmp_path / "px.csv"
    rows = "\n".join(f"2020-01-{d:02d},{100 + d}" for d in range(1, 31))
    path.write_text("Datum,Close\n" + rows + "\n")
    series = load_prices(path, date_column="Datum")
    assert len(series) == 30 and series.iloc[0] == 101.0
    import pytest

    from forecast.errors import DataError

    with pytest.raises(DataError, match="name the dates' column with --date-column"):
        load_prices(path)
    out = str(tmp_path / "r")
    argv = ["backtest", "--csv", str(path), "--models", "naive", "--test-size", "5",
            "--horizons", "1", "--no-report", "--jobs", "1", "--out", out]  # fmt: skip
    assert main([*argv, "--date-column", "Datum"]) == 0
    assert main(argv) != 0
    assert "--date-column" in capsys.readouterr().err


def test_a_semicolon_separated_file_gets_a_hint_about_the_delimiter(tmp_path):
    import pytest

    from forecast.data.loading import load_prices
    from forecast.errors import DataError

    path = tmp_path / "px.csv"
    path.write_text("Date;Close\n" + "\n".join(f"2020-01-{d:02d};{d}" for d in range(1, 9)))
    with pytest.raises(DataError, match="separated by semicolons, not commas"):
        load_prices(path)
