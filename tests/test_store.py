"""The SQLite store: settings, migrations, one transaction per ticker, idempotent keys."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from forecast.store import database as st
from forecast.store.database import StoreError, open_reader, open_store
from forecast.store.rows import (
    CalibrationRow,
    ForecastRow,
    IntervalStateRow,
    NewVersion,
    ScoreRow,
    TickerResult,
)
from forecast.store.schema import MIGRATIONS


def _version(model: str = "naive", through: str = "2013-02-28") -> NewVersion:
    return NewVersion(
        model=model,
        spec_hash="sha256:abc",
        params="{}",
        trained_through=through,
        n_train=100,
        data_hash="sha256:data",
        file=f"T_AAPL/{model}/{through}-abc",
        sha256="0" * 64,
        fit_seconds=0.01,
    )


def _result(ticker: str = "AAPL", as_of: str = "2013-02-28", value: float = 10.0) -> TickerResult:
    forecasts = [
        ForecastRow("naive", "sha256:abc", as_of, h, f"2013-03-0{h}", value + h) for h in (1, 2)
    ]
    return TickerResult(
        ticker=ticker,
        as_of=as_of,
        status="stored",
        source="embedded",
        data_hash="sha256:data",
        last_price=value,
        forecasts=forecasts,
        versions=[_version(through=as_of)],
        events=[("naive", "note", "hello")],
    )


@pytest.fixture
def db(tmp_path):
    store = open_store(tmp_path / "forecast.db")
    yield store
    store.close()


def _run(db) -> int:
    return db.begin_run(as_of=None, config_hash="h", started_at="t", pid=1, host="h", version="v")


def test_fresh_store_has_schema_and_settings(db):
    conn = db.conn
    assert st.schema_version(conn) == st.SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "runs", "run_tickers", "model_versions", "forecasts", "scores", "events",
        "calibration_errors",
    } <= tables  # fmt: skip
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not WAL on 3.40
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
    assert conn.isolation_level is None  # autocommit: every write is an explicit BEGIN IMMEDIATE
    assert db.models_dir == db.path.parent / f"{db.path.name}.models"


def test_reopening_migrates_nothing_and_newer_schema_is_refused(tmp_path):
    path = tmp_path / "forecast.db"
    open_store(path).close()
    open_store(path).close()  # a second open is a no-op
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {st.SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    newer = st.SCHEMA_VERSION + 1
    with pytest.raises(StoreError, match=rf"schema version {newer} is newer .* upgrade forecast"):
        open_store(path)


def _v1_store(path: Path) -> None:
    """A store as schema version 1 made it: its tables, a run, a version, a scored forecast."""
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO runs (run_id, started_at, config_hash, status) VALUES (1, 't', 'h', "
        "'succeeded')"
    )
    conn.execute(
        "INSERT INTO model_versions (version_id, ticker, model, spec_hash, params, "
        "trained_through, n_train, data_hash, file, sha256, fit_seconds, run_id) VALUES "
        "(1, 'AAPL', 'naive', 'sha256:abc', '{}', '2013-02-27', 100, 'd', 'f', 's', 0.1, 1)"
    )
    conn.execute(
        "INSERT INTO forecasts (forecast_id, ticker, model, version_id, as_of, horizon, "
        "target_date, forecast, last_price, data_hash, run_id) VALUES "
        "(1, 'AAPL', 'naive', 1, '2013-02-27', 1, '2013-02-28', 10.0, 10.0, 'd', 1)"
    )
    conn.execute("INSERT INTO scores VALUES (1, 11.0, -1.0, -1.0, NULL, 0, 1)")
    conn.close()


def test_a_version_1_store_is_migrated_with_its_data_kept(tmp_path):
    path = tmp_path / "forecast.db"
    _v1_store(path)
    before = sqlite3.connect(path).execute("SELECT * FROM scored_forecasts").fetchall()
    with pytest.raises(
        StoreError, match=rf"schema version 1; this forecast reads version {st.SCHEMA_VERSION}"
    ):
        open_reader(path)  # readers wait for the job to migrate it
    store = open_store(path)
    assert st.schema_version(store.conn) == st.SCHEMA_VERSION
    view = store.conn.execute("SELECT * FROM scored_forecasts").fetchall()
    # the old columns and values as they were; the interval and scale columns NULL
    assert [tuple(r)[: len(before[0])] for r in view] == before
    assert tuple(view[0])[len(before[0]) :] == (None,) * 7
    assert [tuple(r) for r in store.past_forecasts("AAPL", "2013-02-28")] == [
        (1, "naive", "sha256:abc", 1, "2013-02-27", "2013-02-28", 10.0, 11.0) + (None,) * 6
    ]
    # the new rows go in next to the old ones
    store.write_ticker(_run(store), _result(as_of="2013-02-28"))
    assert store.conn.execute("SELECT COUNT(*) FROM forecasts").fetchone()[0] == 3
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []
    store.close()
    open_store(path).close()  # migrated once


def _v2_store(path: Path) -> dict[str, list[tuple]]:
    """A store as schema version 2 made it, with a row in every table; returns the rows."""
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in (*MIGRATIONS[0], *MIGRATIONS[1]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    statements = [
        "INSERT INTO runs (run_id, started_at, config_hash, status) VALUES (1, 't', 'h', "
        "'succeeded')",
        "INSERT INTO run_tickers (run_id, ticker, as_of, status) VALUES (1, 'AAPL', "
        "'2013-02-27', 'stored')",
        "INSERT INTO model_versions (version_id, ticker, model, spec_hash, params, "
        "trained_through, n_train, data_hash, file, sha256, fit_seconds, run_id) VALUES "
        "(1, 'AAPL', 'naive', 'sha256:abc', '{}', '2013-02-27', 100, 'd', 'f', 's', 0.1, 1)",
        "INSERT INTO forecasts (forecast_id, ticker, model, version_id, as_of, horizon, "
        "target_date, forecast, lower, upper, interval_method, interval_level, last_price, "
        "data_hash, run_id) VALUES (1, 'AAPL', 'naive', 1, '2013-02-27', 1, '2013-02-28', "
        "10.0, 9.5, 10.5, 'aci', 0.8, 10.0, 'd', 1)",
        "INSERT INTO scores VALUES (1, 11.0, -1.0, -1.0, NULL, 0, 1)",
        "INSERT INTO calibration_errors VALUES ('AAPL', 'naive', 'sha256:abc', '2013-02-27', 1, "
        "'2013-02-20', '2013-02-21', 0.01, 1)",
        "INSERT INTO events (run_id, ticker, model, kind, message) VALUES (1, 'AAPL', NULL, "
        "'stale_prices', 'x')",
    ]
    for statement in statements:
        conn.execute(statement)
    tables = ("runs", "run_tickers", "model_versions", "forecasts", "scores",
              "calibration_errors", "events", "scored_forecasts")  # fmt: skip
    rows = {t: conn.execute(f"SELECT * FROM {t}").fetchall() for t in tables}
    conn.close()
    return rows


def test_a_version_2_store_is_migrated_with_every_row_kept(tmp_path):
    path = tmp_path / "forecast.db"
    before = _v2_store(path)
    with pytest.raises(
        StoreError, match=rf"schema version 2; this forecast reads version {st.SCHEMA_VERSION}"
    ):
        open_reader(path)
    store = open_store(path)
    assert st.schema_version(store.conn) == st.SCHEMA_VERSION
    for table, rows in before.items():
        after = store.conn.execute(f"SELECT * FROM {table}").fetchall()
        assert len(after) == len(rows) == 1, table
        # the old columns as they were, the new ones (scale, sigma, regime) NULL
        old = tuple(after[0])[: len(rows[0])]
        assert old == rows[0], table
        # (model_versions.target of a later migration: 'price' for every old row)
        assert set(tuple(after[0])[len(rows[0]) :]) <= {None, "price"}, table
    columns = [r[1] for r in store.conn.execute("PRAGMA table_info(forecasts)")]
    assert columns[-3:] == ["interval_scale", "sigma", "vol_regime"]
    assert store.conn.execute("SELECT COUNT(*) FROM interval_state").fetchone()[0] == 0
    # the old calibration error is read with a NULL scale and sigma
    assert store.calibration("AAPL", "naive", "sha256:abc", "2013-02-28") == [
        (1, "2013-02-20", "2013-02-21", 0.01, None, None)
    ]
    # new rows, scaled and with a state, go in next to the old ones; CHECKs hold
    r = _result(as_of="2013-02-28")
    r.forecasts = [
        ForecastRow("naive", "sha256:abc", "2013-02-28", 1, "2013-03-01", 11.0, 10.0, 12.0,
                    "aci", 0.8, "garch", 0.012, "turbulent")
    ]  # fmt: skip
    r.states = [_state("2013-02-27")]
    store.write_ticker(_run(store), r)
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        store.conn.execute("UPDATE forecasts SET interval_scale = 'vix' WHERE forecast_id = 1")
    store.close()
    assert st.schema_version(open_reader(path)) == st.SCHEMA_VERSION


def _state(last_origin: str | None, horizon: int = 1, alpha: float = 0.2) -> IntervalStateRow:
    return IntervalStateRow("naive", "sha256:abc", horizon, "aci", "garch", 0.8, 0.02, 250,
                            alpha, "[0.5, 1.25]", last_origin)  # fmt: skip


def test_interval_states_are_read_as_of_and_the_newest_few_kept(db):
    run = _run(db)
    days = [f"2013-02-{d:02d}" for d in range(11, 19)]
    for i, day in enumerate(days):
        r = _result(as_of=day)
        r.states = [_state(days[i - 1] if i else None, h, 0.1 * i) for h in (1, 2)]
        db.write_ticker(run, r)
    kept = db.conn.execute("SELECT DISTINCT as_of FROM interval_state ORDER BY 1").fetchall()
    assert [k[0] for k in kept] == days[-st.STATE_KEEP :]
    newest = db.interval_states("AAPL", "naive", "sha256:abc", "2013-02-16")
    assert set(newest) == {1, 2}
    assert newest[1]["as_of"] == "2013-02-16" and newest[1]["alpha"] == pytest.approx(0.5)
    assert newest[2]["scores"] == "[0.5, 1.25]" and newest[2]["last_origin"] == "2013-02-15"
    # never a later state; none before the oldest kept
    assert db.interval_states("AAPL", "naive", "sha256:abc", "2013-02-15")[1]["as_of"] == (
        "2013-02-15"
    )
    assert db.interval_states("AAPL", "naive", "sha256:abc", "2013-02-13") == {}
    assert db.interval_states("AAPL", "naive", "sha256:other", "2013-03-01") == {}


def test_calibration_rows_are_written_with_the_ticker_and_read_as_of(db):
    run = _run(db)
    for as_of in ("2013-02-20", "2013-02-27"):
        r = _result(as_of=as_of)
        r.calibration = [
            CalibrationRow("naive", "sha256:abc", 1, f"2013-02-{d:02d}", as_of, 0.01 * d)
            for d in (11, 12)
        ]
        db.write_ticker(run, r)
        db.write_ticker(run, r)  # a rerun adds nothing
    assert db.conn.execute("SELECT COUNT(*) FROM calibration_errors").fetchone()[0] == 4
    # the newest bootstrap at or before the as-of, never a later one
    assert db.calibration("AAPL", "naive", "sha256:abc", "2013-02-26") == [
        (1, "2013-02-11", "2013-02-20", 0.11, None, None),
        (1, "2013-02-12", "2013-02-20", 0.12, None, None),
    ]
    assert {r[2] for r in db.calibration("AAPL", "naive", "sha256:abc", "2013-03-01")} == {
        "2013-02-27"
    }
    assert db.calibration("AAPL", "naive", "sha256:abc", "2013-02-19") == []
    assert db.calibration("AAPL", "naive", "sha256:other", "2013-03-01") == []


def test_missing_folder_is_a_clear_error(tmp_path):
    missing = tmp_path / "nope" / "forecast.db"
    with pytest.raises(StoreError, match=r"store folder does not exist: .*nope"):
        open_store(missing)
    assert not missing.parent.exists()  # a typo never creates a folder tree


def _read_only_folder(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    if Path("/sys").is_dir() and _unwritable("/sys"):
        return Path("/sys")  # root ignores permission bits; /sys is read-only even for root
    pytest.skip("running as root with no read-only folder to test against")


def _unwritable(folder: str) -> bool:
    try:
        Path(folder, ".forecast-write-test").touch()
    except OSError:
        return True
    Path(folder, ".forecast-write-test").unlink()
    return False


def test_read_only_folder_is_a_clear_error(tmp_path):
    folder = _read_only_folder(tmp_path)
    try:
        with pytest.raises(StoreError, match=r"store folder is not writable: .*journal"):
            open_store(folder / "forecast.db")
    finally:
        if folder != Path("/sys"):
            folder.chmod(0o755)


def test_write_ticker_commits_everything_and_rerun_adds_nothing(db):
    run = _run(db)
    db.write_ticker(run, _result())
    db.write_ticker(run, _result(value=99.0))  # same key: the first forecasts stay
    rows = db.conn.execute("SELECT horizon, forecast FROM forecasts ORDER BY horizon").fetchall()
    assert [tuple(r) for r in rows] == [(1, 11.0), (2, 12.0)]
    assert db.conn.execute("SELECT COUNT(*) FROM model_versions").fetchone()[0] == 1
    assert db.stored_models("AAPL", "2013-02-28") == {"naive"}
    status = db.conn.execute("SELECT status, n_forecasts FROM run_tickers").fetchone()
    assert tuple(status) == ("stored", 2)


def test_a_failing_write_leaves_nothing_of_the_ticker(db):
    run = _run(db)
    bad = _result()
    # the second forecast names a version that does not exist: the insert fails midway
    bad.forecasts.append(ForecastRow("naive", "sha256:zzz", "2013-02-28", 3, "2013-03-05", 1.0))
    with pytest.raises(TypeError):
        db.write_ticker(run, bad)
    late = _result()  # fails after its forecasts and calibration errors are inserted
    late.calibration = [CalibrationRow("naive", "sha256:abc", 1, "2013-02-01", "2013-02-04", 0.1)]
    late.events = [("naive", None, "an event without a kind breaks NOT NULL")]
    with pytest.raises(sqlite3.IntegrityError):
        db.write_ticker(run, late)
    for table in ("forecasts", "model_versions", "events", "run_tickers", "calibration_errors"):
        assert db.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table
    assert not db.conn.in_transaction


def test_sql_looking_ticker_round_trips_verbatim(db):
    ticker = "AAPL'; DROP TABLE forecasts;--\""
    run = _run(db)
    db.write_ticker(run, _result(ticker=ticker))
    assert db.stored_models(ticker, "2013-02-28") == {"naive"}
    got = db.conn.execute("SELECT DISTINCT ticker FROM forecasts").fetchone()[0]
    assert got == ticker


def test_latest_version_never_comes_from_the_future(db):
    run = _run(db)
    for day in ("2013-02-20", "2013-02-27"):
        r = _result(as_of=day)
        db.write_ticker(run, r)
    assert db.latest_version("AAPL", "naive", "sha256:abc", "2013-02-26")["trained_through"] == (
        "2013-02-20"
    )
    assert db.latest_version("AAPL", "naive", "sha256:abc", "2013-02-27")["trained_through"] == (
        "2013-02-27"
    )
    assert db.latest_version("AAPL", "naive", "sha256:abc", "2013-02-19") is None
    assert db.latest_version("AAPL", "naive", "sha256:other", "2013-02-27") is None


def test_scores_and_unscored(db):
    run = _run(db)
    db.write_ticker(run, _result())
    pending = db.unscored("AAPL", "2013-03-01")
    assert [r["target_date"] for r in pending] == ["2013-03-01"]
    fid = pending[0]["forecast_id"]
    r = TickerResult("AAPL", "2013-03-01", "up_to_date")
    r.scores = [ScoreRow(fid, 12.0, -1.0, -2.0, 0, 0)]
    db.write_ticker(run, r)
    db.write_ticker(run, r)  # scoring twice keeps one score
    assert db.conn.execute("SELECT COUNT(*) FROM scores").fetchone()[0] == 1
    assert db.unscored("AAPL", "2013-03-01") == []


def test_begin_run_marks_killed_runs_aborted(db):
    first = _run(db)
    second = _run(db)
    statuses = dict(db.conn.execute("SELECT run_id, status FROM runs").fetchall())
    assert statuses == {first: "aborted", second: "running"}
    db.finish_run(second, status="succeeded", errors=[{"x": 1}], finished_at="t2")
    row = db.conn.execute("SELECT status, errors FROM runs WHERE run_id = ?", (second,)).fetchone()
    assert tuple(row) == ("succeeded", '[{"x": 1}]')


def test_retention_queries(db):
    run = _run(db)
    for day in ("2013-02-20", "2013-02-21", "2013-02-22"):
        db.write_ticker(run, _result(as_of=day))
    old = db.versions_beyond("AAPL", "naive", keep=2)
    assert [v["file"] for v in old] == ["T_AAPL/naive/2013-02-20-abc"]
    db.mark_pruned(run, "AAPL", "naive", old)
    assert db.versions_beyond("AAPL", "naive", keep=2) == []
    assert "T_AAPL/naive/2013-02-20-abc" not in db.active_files()


def test_writer_waits_for_another_writer(db):
    other = sqlite3.connect(db.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    t0 = time.perf_counter()
    run = _run(db)  # blocks on the lock, then goes through: no "database is locked"
    assert time.perf_counter() - t0 >= 0.4
    assert run >= 1
    release.join()
    other.close()


def test_corrupt_store_is_refused_with_a_restore_hint(tmp_path):
    path = tmp_path / "forecast.db"
    store = open_store(path)
    store.write_ticker(_run(store), _result())
    store.close()
    data = bytearray(path.read_bytes())
    data[:16] = b"garbage garbage!"  # the header: no longer an SQLite file
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"forecast.db"):
        open_store(path)


def test_damaged_page_fails_quick_check(tmp_path):
    path = tmp_path / "forecast.db"
    store = open_store(path)
    run = _run(store)
    for i in range(40):
        store.write_ticker(run, _result(ticker=f"T{i}"))
    store.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(2 * page + 8, 3 * page, 7):  # scribble over a b-tree page
        data[offset] = 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"(quick_check|cannot be opened).*"):
        open_store(path)


def test_reader_is_read_only_and_checks_existence(tmp_path, db):
    with pytest.raises(StoreError, match=r"no store at .*run `forecast run` first"):
        open_reader(tmp_path / "missing.db")
    conn = open_reader(db.path)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM runs")
    conn.close()
