"""The stored live scorecard: the job's table equals the library's sequences, the migration,
staleness, ``forecast scorecard`` (table, --json, --alerts and its exit codes), the service's
``/scorecard``, and no look-ahead in the stored statuses."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from job_helpers import job_config, sessions

from forecast.cli import main
from forecast.evaluation.monitoring import matured_from_scored, sequential_table
from forecast.job.runner import run_job
from forecast.service.app import create_app
from forecast.store import schema as st
from forecast.store.database import open_reader, open_store, schema_version, transaction
from forecast.store.live import ACCURACY_COLUMNS, STORED_COLUMNS, live_rows, read_live
from forecast.store.live_compute import RENAMED, refresh_live_scorecard
from forecast.store.scorecard import SCORECARD_COLUMNS, compute_scorecard, load_forecasts

with warnings.catch_warnings():  # starlette asks for httpx2; httpx still works
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

DAYS = sessions(23, end="2013-02-28")
CUT = DAYS[-4]  # the store as the job left it on this evening, for the look-ahead check
SEQ = ["n_diff", "mean_diff", "diff_lower", "diff_upper", "status", "decided_on", "n_hits",
       "cs_coverage", "coverage_lower", "coverage_upper", "coverage_status",
       "coverage_decided_on"]  # fmt: skip


@pytest.fixture(scope="module")
def job_store(tmp_path_factory):
    """AAPL, naive and drift, horizon 3, 23 evenings; a copy of the store after ``CUT``."""
    tmp = tmp_path_factory.mktemp("live")
    config = job_config(tmp, models={"naive": {}, "drift": {}}, tickers=["AAPL"])
    summaries = []
    for day in DAYS:
        summaries.append(run_job(config, as_of=day, offline=True))
        assert summaries[-1].exit_code == 0
        if day == CUT:
            shutil.copy(config.store, tmp / "at_cut.db")
    return config.store, tmp / "at_cut.db", summaries


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=STORED_COLUMNS)


def _expected(path) -> pd.DataFrame:
    conn = open_reader(path)
    try:
        forecasts = load_forecasts(conn)
    finally:
        conn.close()
    return forecasts


def test_the_job_stores_the_library_scorecard_and_sequences(job_store):
    path, _, summaries = job_store
    rows, state = live_rows(path)
    assert state is not None and state["run_id"] == len(DAYS)  # stored by the last run
    got = _frame(rows)
    forecasts = _expected(path)
    seq = sequential_table(matured_from_scored(forecasts)).rename(columns=RENAMED)
    accuracy = compute_scorecard(forecasts)
    assert len(got) == len(seq) == len(accuracy) == 2 * 3
    pd.testing.assert_frame_equal(
        got[SCORECARD_COLUMNS], accuracy, check_dtype=False, check_exact=False, rtol=1e-12
    )
    for col in SEQ:
        a, b = got[col].to_numpy(), seq[col].to_numpy()
        if col in ("status", "decided_on", "coverage_status", "coverage_decided_on"):
            assert [x if isinstance(x, str) else None for x in a] == [
                x if isinstance(x, str) else None for x in b
            ], col
        else:
            np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=1e-12, err_msg=col)
    # the h=1 sequence has >= 20 values: bounds; the naive model is the random walk exactly
    naive1 = got[(got.model == "naive") & (got.horizon == 1)].iloc[0]
    assert naive1["n_diff"] == len(DAYS) - 1 and naive1["mean_diff"] == 0
    assert naive1["status"] == "undecided"
    assert got["diff_lower"].notna().sum() == 2  # h=2, 3: every h-th, fewer than 20 values
    assert ACCURACY_COLUMNS == SCORECARD_COLUMNS
    assert summaries[0].scorecard == {"rows": 6, "changes": 6, "seconds": pytest.approx(0, abs=30)}


def test_a_rerun_that_stores_nothing_keeps_the_table(job_store, tmp_path):
    path, _, _ = job_store
    copy = tmp_path / "forecast.db"
    shutil.copy(path, copy)
    config = job_config(tmp_path, models={"naive": {}, "drift": {}}, tickers=["AAPL"])
    config = type(config)(**{**config.__dict__, "store": copy})
    before = read_live(open_reader(copy))
    summary = run_job(config, as_of=DAYS[-1], offline=True)
    assert summary.exit_code == 0 and summary.scorecard is None  # nothing new: kept
    after = read_live(open_reader(copy))
    assert after == before


def test_stored_statuses_depend_only_on_forecasts_matured_by_then(job_store):
    path, at_cut, _ = job_store
    then, state = live_rows(at_cut)
    assert state is not None
    # the final store's matured forecasts up to the cut evening give the same sequences
    forecasts = _expected(path)
    early = forecasts[forecasts["target_date"] <= CUT]
    seq = sequential_table(matured_from_scored(early)).rename(columns=RENAMED)
    got = _frame(then)
    assert max(got["last_target"]) == CUT
    for col in ("n_diff", "mean_diff", "diff_lower", "diff_upper", "n_hits", "cs_coverage"):
        np.testing.assert_allclose(
            got[col].to_numpy(float), seq[col].to_numpy(float), rtol=1e-12, err_msg=col
        )
    assert list(got["status"]) == list(seq["status"])


def test_a_stale_table_is_computed_afresh(job_store, tmp_path):
    path, _, _ = job_store
    copy = tmp_path / "forecast.db"
    shutil.copy(path, copy)
    stored, _ = live_rows(copy)
    conn = sqlite3.connect(copy, isolation_level=None)
    conn.execute("DELETE FROM scores WHERE forecast_id = (SELECT MAX(forecast_id) FROM scores)")
    conn.close()
    rows, state = live_rows(copy)
    assert state is None  # the store changed since the table was stored
    fresh = _frame(rows)
    assert fresh["previous_status"].isna().all()
    assert sum(fresh["n"]) == sum(_frame(stored)["n"]) - 1


# ---- a store with a model that is clearly worse and an interval that never covers ----------
def _synthetic(path, n: int = 60, bad: float = 1.03) -> None:
    """AAPL: ``naive`` (the random walk, 80% intervals that always cover) and ``bad``
    (3% too high every day, intervals that never cover), horizon 1, ``n`` matured days."""
    rng = np.random.default_rng(0)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n + 1)))
    days = pd.bdate_range("2020-01-01", periods=n + 1).strftime("%Y-%m-%d")
    store = open_store(path)
    _append(store.conn, prices, days, range(n), bad)
    store.close()


def _append(conn, prices, days, positions, bad: float) -> None:
    with transaction(conn) as c:
        run = c.execute(
            "INSERT INTO runs (started_at, as_of, config_hash, status) VALUES ('t', NULL, 'h', "
            "'succeeded')"
        ).lastrowid
        version = {}
        for model in ("naive", "bad"):
            c.execute(
                "INSERT OR IGNORE INTO model_versions (ticker, model, spec_hash, params, "
                "trained_through, n_train, data_hash, file, sha256, fit_seconds, run_id) VALUES "
                "('AAPL', ?, 's', '{}', '2019-12-31', 1, 'd', 'f', 's', 0, ?)",
                (model, run),
            )
            version[model] = c.execute(
                "SELECT version_id FROM model_versions WHERE model = ?", (model,)
            ).fetchone()[0]
        for i in positions:
            last, actual = float(prices[i]), float(prices[i + 1])
            for model, fc, lo, hi in (
                ("naive", last, last * 0.5, last * 1.5),
                ("bad", last * bad, actual * 2, actual * 3),
            ):
                fid = c.execute(
                    "INSERT INTO forecasts (ticker, model, version_id, as_of, horizon, "
                    "target_date, forecast, lower, upper, interval_method, interval_level, "
                    "last_price, data_hash, run_id) VALUES ('AAPL', ?, ?, ?, 1, ?, ?, ?, ?, "
                    "'aci', 0.8, ?, 'd', ?)",
                    (model, version[model], days[i], days[i + 1], fc, lo, hi, last, run),
                ).lastrowid
                c.execute(
                    "INSERT INTO scores (forecast_id, actual, error, naive_error, run_id) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (fid, actual, fc - actual, last - actual, run),
                )


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = main(["scorecard", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_table_json_and_alert_exit_codes(tmp_path, capsys):
    path = tmp_path / "forecast.db"
    _synthetic(path)
    store = open_store(path)
    # before the job has stored it: computed, with a note; alerts by the newest target date
    code, out, err = _cli(capsys, "--store", str(path))
    assert code == 0 and "computed from the forecasts" in err and "computed now" in out
    assert refresh_live_scorecard(store.conn)["rows"] == 2
    code, out, err = _cli(capsys, "--store", str(path))
    assert code == 0 and err == "" and "Confidence sequences (95%, anytime-valid; stored" in out
    lines = out.splitlines()
    seq_header = next(i for i, line in enumerate(lines) if "mean_diff" in line)
    bad = lines[seq_header + 1].split()
    assert bad[:3] == ["AAPL", "bad", "1"] and "worse" in bad and "below" in bad

    code, out, _ = _cli(capsys, "--store", str(path), "--json")
    records = {r["model"]: r for r in json.loads(out)}
    assert code == 0 and set(records["bad"]) == set(STORED_COLUMNS)
    assert records["bad"]["status"] == "worse" and records["bad"]["coverage_status"] == "below"
    assert records["bad"]["decided_on"] <= records["bad"]["last_target"]
    assert records["naive"]["status"] == "undecided" and records["naive"]["mean_diff"] == 0
    assert records["naive"]["coverage_status"] == "above"  # always covers at 80%
    assert records["bad"]["previous_status"] is None  # new rows: everything is new

    # the first stored table: every alerting status is new -> exit 3, one line each
    code, out, err = _cli(capsys, "--store", str(path), "--alerts")
    assert code == 3 and err == ""
    assert (
        out.splitlines() == [line for line in out.splitlines() if line.startswith("AAPL ")]
        and len(out.splitlines()) == 3
    )  # bad: worse, coverage below; naive: coverage above
    assert "AAPL bad h=1: worse than the random walk since" in out
    code, out, _ = _cli(capsys, "--store", str(path), "--alerts", "--json")
    assert code == 3 and {a["kind"] for a in json.loads(out)} == {"worse", "coverage below",
                                                                  "coverage above"}  # fmt: skip

    # the next evening adds a matured day; nothing changes status: silent, exit 0
    rng = np.random.default_rng(0)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 62)))
    days = pd.bdate_range("2020-01-01", periods=62).strftime("%Y-%m-%d")
    _append(store.conn, prices, days, [60], 1.03)
    assert refresh_live_scorecard(store.conn)["changes"] == 0
    assert _cli(capsys, "--store", str(path), "--alerts") == (0, "", "")
    # --since: every alerting status that began on or after the date
    code, out, _ = _cli(capsys, "--store", str(path), "--alerts", "--since", "2019-12-01")
    assert code == 3 and len(out.splitlines()) == 3
    assert _cli(capsys, "--store", str(path), "--alerts", "--since", "2030-01-01")[0] == 0
    store.close()


def test_cli_bad_arguments_are_one_line(tmp_path, capsys):
    path = tmp_path / "forecast.db"
    _synthetic(path, n=5)
    code, _, err = _cli(capsys, "--store", str(path), "--since", "2020-01-01")
    assert code == 2 and "--since is used with --alerts only" in err
    with pytest.raises(SystemExit) as exc:
        main(["scorecard", "--store", str(path), "--alerts", "--since", "yesterday"])
    assert exc.value.code == 2 and "--since" in capsys.readouterr().err
    code, _, err = _cli(capsys, "--store", str(tmp_path / "none.db"))
    assert code == 1 and "no store at" in err


def test_service_scorecard_has_the_sequences(tmp_path, capsys):
    path = tmp_path / "forecast.db"
    _synthetic(path)
    client = TestClient(create_app(path))
    computed = client.get("/scorecard").json()
    assert computed["stored_at"] is None  # not stored yet: computed for the request
    store = open_store(path)
    refresh_live_scorecard(store.conn)
    store.close()
    body = client.get("/scorecard").json()
    assert body["stored_at"] is not None
    rows = {r["model"]: r for r in body["rows"]}
    assert rows["bad"]["status"] == "worse" and rows["bad"]["coverage_status"] == "below"
    assert rows["bad"]["diff_lower"] > 0 and rows["bad"]["coverage_upper"] < 0.8
    cli = {r["model"]: r for r in json.loads(_cli(capsys, "--store", str(path), "--json")[1])}
    assert rows == cli  # the same rows as `forecast scorecard --json`
    strip = ("previous_status", "previous_coverage_status")
    assert [{k: v for k, v in r.items() if k not in strip} for r in computed["rows"]] == [
        {k: v for k, v in r.items() if k not in strip} for r in body["rows"]
    ]
    only = client.get("/scorecard?model=bad").json()["rows"]
    assert [r["model"] for r in only] == ["bad"]


def _v3_store(path) -> int:
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in (*st.MIGRATIONS[0], *st.MIGRATIONS[1], *st.MIGRATIONS[2]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    conn.close()
    store_rows = 30
    # rows written as a version-3 store would have them (the v4 tables do not exist yet)
    rng = np.random.default_rng(1)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, store_rows + 1)))
    days = pd.bdate_range("2020-01-01", periods=store_rows + 1).strftime("%Y-%m-%d")
    conn = sqlite3.connect(path, isolation_level=None)
    _append(conn, prices, days, range(store_rows), 1.0)
    n = conn.execute("SELECT COUNT(*) FROM forecasts").fetchone()[0]
    conn.close()
    return n


def test_a_version_3_store_migrates_keeping_its_rows(tmp_path):
    path = tmp_path / "forecast.db"
    n = _v3_store(path)
    before = sqlite3.connect(path).execute("SELECT * FROM scored_forecasts").fetchall()
    store = open_store(path)
    assert schema_version(store.conn) == st.SCHEMA_VERSION
    assert [tuple(r) for r in store.conn.execute("SELECT * FROM scored_forecasts")] == before
    assert len(before) == n == 60
    assert store.conn.execute("SELECT COUNT(*) FROM live_scorecard").fetchone()[0] == 0
    assert read_live(store.conn) is None  # until the next run stores it
    assert refresh_live_scorecard(store.conn)["rows"] == 2
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        store.conn.execute("UPDATE live_scorecard SET status = 'great'")
    store.close()
    rows, state = live_rows(path)
    assert state is not None and len(rows) == 2


def test_the_scorecard_command_never_imports_torch_or_the_engine(tmp_path):
    path = tmp_path / "forecast.db"
    _synthetic(path, n=25)
    store = open_store(path)
    refresh_live_scorecard(store.conn)
    store.close()
    code = (
        "import sys\n"
        "from forecast.cli import main\n"
        f"assert main(['scorecard', '--store', {str(path)!r}]) == 0\n"
        "heavy = [m for m in ('torch', 'pandas', 'sklearn', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Confidence sequences" in done.stdout


def test_a_failing_refresh_leaves_the_previous_table(tmp_path, monkeypatch):
    path = tmp_path / "forecast.db"
    _synthetic(path)
    store = open_store(path)
    refresh_live_scorecard(store.conn)
    before = read_live(store.conn)
    rng = np.random.default_rng(0)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 62)))
    days = pd.bdate_range("2020-01-01", periods=62).strftime("%Y-%m-%d")
    _append(store.conn, prices, days, [60], 1.03)

    def broken(frame):
        raise RuntimeError("disk gone")

    monkeypatch.setattr("forecast.store.live_compute.records", broken)
    with pytest.raises(RuntimeError, match="disk gone"):
        refresh_live_scorecard(store.conn)  # fails inside its transaction: rolled back
    assert not store.conn.in_transaction
    rows = store.conn.execute("SELECT * FROM live_scorecard ORDER BY model").fetchall()
    assert [tuple(r) for r in rows] == [
        tuple(r[c] for c in STORED_COLUMNS) for r in sorted(before[0], key=lambda r: r["model"])
    ]
    assert read_live(store.conn) is None  # stale now: readers compute it afresh
    store.close()


def test_the_job_records_a_failing_refresh_and_keeps_its_forecasts(tmp_path, monkeypatch):
    config = job_config(tmp_path, models={"naive": {}}, tickers=["AAPL"])

    def broken(*args):
        raise RuntimeError("no memory")

    monkeypatch.setattr("forecast.job.runner.refresh_live_scorecard", broken)
    summary = run_job(config, as_of=DAYS[0], offline=True)
    assert summary.exit_code == 0 and summary.scorecard is None
    conn = open_reader(config.store)
    errors = json.loads(conn.execute("SELECT errors FROM runs").fetchone()[0])
    assert errors == [
        {"ticker": None, "model": None, "stage": "scorecard", "error": "RuntimeError: no memory"}
    ]
    assert conn.execute("SELECT COUNT(*) FROM forecasts").fetchone()[0] == 3
    conn.close()
    rows, state = live_rows(config.store)  # computed from the forecasts instead
    assert state is None and [r["n"] for r in rows] == [0, 0, 0]
