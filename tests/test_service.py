"""The read-only HTTP service: each endpoint, each bad input, a missing/locked/broken store."""

from __future__ import annotations

import math
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import warnings

import pandas as pd
import pytest
from job_helpers import BASELINES, dump, job_config, sessions

from forecast.cli import main
from forecast.job.runner import run_job
from forecast.service import queries as service_queries
from forecast.service.app import create_app
from forecast.service.queries import StoreUnavailable, read_snapshot
from forecast.store.live import live_rows
from forecast.store.scorecard import scorecard

with warnings.catch_warnings():  # starlette 1.10 asks for httpx2; httpx still works
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

DAYS = sessions(4, end="2013-02-28")  # 2013-02-25 .. 2013-02-28
LATEST = DAYS[-1]


def _at(text: str):
    """A clock stuck at ``text`` New York time."""
    moment = pd.Timestamp(text, tz="America/New_York").to_pydatetime()
    return lambda: moment


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """AAPL and MSFT, naive/drift/ar, horizon 3, forecast on four sessions (some scored)."""
    config = job_config(tmp_path_factory.mktemp("service"), models=BASELINES)
    for day in DAYS:  # offline explicitly: a module fixture runs before the autouse one
        assert run_job(config, as_of=day, offline=True).exit_code == 0
    return config.store


@pytest.fixture(scope="module")
def client(store):
    with TestClient(create_app(store, now=_at("2013-03-01 18:00"))) as c:
        yield c


def _problem(response, status: int, parameter: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert [p["parameter"] for p in body["parameters"]] == [parameter]
    return body["parameters"][0]


# ---- endpoints ----------------------------------------------------------------------------
def test_health_reports_runs_and_staleness_in_exchange_sessions(store, client):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["store"] == str(store) and body["calendar"] == "XNYS"
    # the evening of Fri 2013-03-01: that session closed, forecasts are from Thursday's
    assert (body["last_closed_session"], body["latest_as_of"]) == ("2013-03-01", LATEST)
    assert (body["sessions_behind"], body["max_lag"], body["stale"]) == (1, 1, False)
    assert body["tickers"] == 2
    assert body["last_run"]["run_id"] == 4 and body["last_run"]["as_of"] == LATEST
    assert body["last_successful_run"]["status"] == "succeeded"
    assert body["last_run"]["tickers"] == {"stored": 2} and body["last_run"]["errors"] == []
    # Tuesday evening after a missed Monday run: 2 sessions behind (a weekend does not count)
    late = TestClient(create_app(store, now=_at("2013-03-05 18:00"))).get("/health").json()
    assert (late["sessions_behind"], late["stale"], late["status"]) == (3, True, "stale")
    # before Friday's close, Thursday's forecasts are current
    early = TestClient(create_app(store, now=_at("2013-03-01 12:00"))).get("/health").json()
    assert (early["last_closed_session"], early["sessions_behind"]) == (LATEST, 0)


def test_tickers_list_latest_as_of_and_models(client):
    body = client.get("/tickers").json()
    assert [t["ticker"] for t in body["tickers"]] == ["AAPL", "MSFT"]
    aapl = body["tickers"][0]
    assert (aapl["latest_as_of"], aapl["sessions_behind"]) == (LATEST, 1)
    assert aapl["models"] == [
        {"model": m, "latest_as_of": LATEST} for m in ("ar", "drift", "naive")
    ]


def test_latest_forecasts_match_the_store(store, client):
    r = client.get("/forecasts/aapl")  # case-insensitive, normalised
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert (body["ticker"], body["as_of"]) == ("AAPL", LATEST)
    stored = [row for row in dump(store) if row[0] == "AAPL" and row[2] == LATEST]
    got = [
        ("AAPL", f["model"], LATEST, f["horizon"], f["target_date"], f["forecast"], f["lower"],
         f["upper"], f["last_price"], f["data_hash"])
        for f in body["forecasts"]
    ]  # fmt: skip
    assert got == stored and len(got) == 3 * 3  # models x horizons, all from one session
    version = body["forecasts"][0]["version"]
    assert version["trained_through"] == DAYS[0]
    assert version["params"] == {"max_lags": 2, "covariates": False}  # the job reads none
    assert version["status"] == "active" and version["data_hash"].startswith("sha256:")
    assert all(f["actual"] is None for f in body["forecasts"])  # targets after the data


def test_forecast_filters_and_actuals_of_a_past_as_of(client):
    body = client.get(f"/forecasts/MSFT?as_of={DAYS[0]}&model=ar&horizon=1").json()
    (row,) = body["forecasts"]
    assert (body["as_of"], row["model"], row["horizon"], row["target_date"]) == (
        DAYS[0], "ar", 1, DAYS[1],
    )  # fmt: skip
    assert row["actual"] > 0  # scored by the next run
    three = client.get(f"/forecasts/MSFT?as_of={DAYS[0]}&model=naive").json()["forecasts"]
    assert [f["horizon"] for f in three] == [1, 2, 3]
    assert {f["forecast"] for f in three} == {three[0]["last_price"]}  # the random walk


def test_latest_is_per_selection_when_a_model_missed_the_last_session(tmp_path):
    config = job_config(tmp_path, models=BASELINES, tickers=["AAPL"])
    run_job(config, as_of=DAYS[0], offline=True)
    fewer = job_config(tmp_path, models={"naive": {}}, tickers=["AAPL"])
    run_job(fewer, as_of=DAYS[1], offline=True)
    c = TestClient(create_app(config.store))
    latest = c.get("/forecasts/AAPL").json()
    assert latest["as_of"] == DAYS[1] and {f["model"] for f in latest["forecasts"]} == {"naive"}
    assert c.get("/forecasts/AAPL?model=ar").json()["as_of"] == DAYS[0]
    models = c.get("/tickers").json()["tickers"][0]["models"]
    assert {m["model"]: m["latest_as_of"] for m in models}["ar"] == DAYS[0]


def test_scorecard_is_the_library_scorecard(store, client):
    body = client.get("/scorecard").json()
    expected = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()}
        for rec in scorecard(store).to_dict("records")
    ]
    accuracy = [{k: r[k] for k in expected[0]} for r in body["rows"]]
    assert accuracy == expected and len(expected) == 2 * 3 * 3
    assert body["rows"] == live_rows(store)[0] and body["stored_at"] is not None
    assert {r["n"] for r in body["rows"] if r["horizon"] == 1} == {3}
    naive = [r for r in body["rows"] if r["model"] == "naive"]
    assert all(r["rel_mae"] == 1.0 and r["hit_rate"] is None for r in naive)  # NaN -> null
    only = client.get("/scorecard?ticker=msft&model=ar").json()
    assert (only["ticker"], only["model"]) == ("MSFT", "ar")
    assert [(r["ticker"], r["model"]) for r in only["rows"]] == [("MSFT", "ar")] * 3


def test_scorecard_is_recomputed_only_after_the_job_commits(tmp_path, monkeypatch):
    """While the job has not stored the live scorecard (here: its state rows removed), the
    service computes it, once per commit of the job."""
    config = job_config(tmp_path, models={"naive": {}}, tickers=["AAPL"])
    run_job(config, as_of=DAYS[0], offline=True)
    run_job(config, as_of=DAYS[1], offline=True)
    monkeypatch.setattr("forecast.job.runner.refresh_live_scorecard", lambda *a: None)
    conn = sqlite3.connect(config.store, isolation_level=None)
    conn.execute("DELETE FROM live_scorecard_state")
    conn.close()
    computed = []
    real = service_queries.scorecard_rows
    monkeypatch.setattr(
        service_queries, "scorecard_rows", lambda *a: computed.append(a[1:]) or real(*a)
    )
    c = TestClient(create_app(config.store))
    first = c.get("/scorecard").json()["rows"]
    assert c.get("/scorecard").json()["rows"] == first and len(computed) == 1  # cached
    assert c.get("/scorecard?ticker=AAPL").status_code == 200 and len(computed) == 2
    run_job(config, as_of=DAYS[2], offline=True)
    after = c.get("/scorecard").json()["rows"]
    assert len(computed) == 3 and after[0]["n"] == first[0]["n"] + 1


def test_runs_newest_first_with_a_limit(client):
    body = client.get("/runs?limit=2").json()
    assert [r["run_id"] for r in body["runs"]] == [4, 3]
    run = body["runs"][1]
    assert run["status"] == "succeeded" and run["requested_as_of"] == run["as_of"] == DAYS[2]
    assert run["tickers"] == {"stored": 2} and run["version"].startswith("0.")
    assert len(client.get("/runs").json()["runs"]) == 4  # default limit 20


def test_openapi_schema_documents_every_endpoint_and_error(client):
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) == {
        "/health",
        "/tickers",
        "/forecasts/{ticker}",
        "/scorecard",
        "/runs",
        "/volatility/{ticker}",
    }
    for item in spec["paths"].values():
        assert set(item) == {"get"}  # read-only
        responses = item["get"]["responses"]
        for code in ("404", "422", "503"):
            ref = responses[code]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorResponse")
    forecast = spec["components"]["schemas"]["Forecast"]["properties"]
    assert {"forecast", "lower", "upper", "data_hash", "version"} <= set(forecast)
    assert client.get("/docs").status_code == 200 and client.get("/redoc").status_code == 200


# ---- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "parameter", "words"),
    [
        ("/forecasts/A$B", "ticker", "bad characters: '$'"),
        ("/forecasts/ABCDEFGHIJKLMNOP", "ticker", "at most 15 characters"),
        ("/forecasts/US0378331005", "ticker", "ISIN"),
        ("/forecasts/...", "ticker", "letter or digit"),
        ("/forecasts/%3Cscript%3E", "ticker", "'<script>'"),
        ("/forecasts/AAPL?model=AR", "model", "lower-case"),
        ("/forecasts/AAPL?model=a%20r", "model", "got 'a r'"),
        ("/forecasts/AAPL?as_of=2013-3-1", "as_of", "YYYY-MM-DD"),
        ("/forecasts/AAPL?as_of=2013-02-30", "as_of", "a real day; got '2013-02-30'"),
        ("/forecasts/AAPL?as_of=2013-03-01T00:00:00", "as_of", "YYYY-MM-DD"),
        ("/forecasts/AAPL?as_of=%D9%A2%D9%A0%D9%A1%D9%A3-03-01", "as_of", "YYYY-MM-DD"),
        ("/forecasts/AAPL?horizon=0", "horizon", "from 1 to 250; got '0'"),
        ("/forecasts/AAPL?horizon=251", "horizon", "from 1 to 250"),
        ("/forecasts/AAPL?horizon=1.5", "horizon", "got '1.5'"),
        ("/forecasts/AAPL?horizn=1", "horizn", "unknown query parameter"),
        ("/scorecard?ticker=A/B", "ticker", "bad characters: '/'"),
        ("/scorecard?ticker=", "ticker", "empty"),
        ("/runs?limit=0", "limit", "from 1 to 1000; got '0'"),
        ("/runs?limit=1001", "limit", "from 1 to 1000; got '1001'"),
        ("/runs?limit=ten", "limit", "got 'ten'"),
        ("/health?verbose=1", "verbose", "takes none"),
    ],
)
def test_bad_parameters_get_422_naming_parameter_rule_and_value(client, url, parameter, words):
    problem = _problem(client.get(url), 422, parameter)
    assert words in problem["message"]


@pytest.mark.parametrize(
    ("url", "parameter", "words"),
    [
        ("/forecasts/ZZZ", "ticker", "no forecasts stored for ticker 'ZZZ'"),
        (
            "/forecasts/AAPL?model=lstm",
            "model",
            "has no forecasts of model 'lstm'; models: ar, drift, naive",
        ),
        ("/forecasts/AAPL?as_of=2013-02-23", "as_of", "before none, after 2013-02-25"),
        ("/forecasts/AAPL?as_of=2014-01-02", "as_of", f"before {LATEST}, after none"),
        ("/forecasts/AAPL?horizon=9", "horizon", "stored horizons: 1, 2, 3"),
        ("/scorecard?ticker=ZZZ", "ticker", "no forecasts stored for ticker 'ZZZ'"),
        ("/scorecard?model=lstm", "model", "the store has no forecasts of model 'lstm'"),
    ],
)
def test_unknown_ticker_or_a_filter_selecting_nothing_gets_404(client, url, parameter, words):
    problem = _problem(client.get(url), 404, parameter)
    assert words in problem["message"]


def test_responses_are_json_and_never_html(client):
    for url in ("/forecasts/%3Cb%3E", "/%3Cscript%3Ealert(1)%3C/script%3E", "/runs?limit=%3Ci%3E"):
        r = client.get(url)
        assert r.status_code in (404, 422) and r.headers["content-type"] == "application/json"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert r.json()["message"]
    r = client.post("/runs")
    assert (r.status_code, r.headers["allow"], r.json()["error"]) == (
        405,
        "GET",
        "method_not_allowed",
    )


def test_cors_is_off_unless_origins_are_given(store, client):
    origin = {"Origin": "http://dash.example"}
    assert "access-control-allow-origin" not in client.get("/health", headers=origin).headers
    allowed = TestClient(create_app(store, cors_origins=("http://dash.example",)))
    assert allowed.get("/health", headers=origin).headers["access-control-allow-origin"] == (
        "http://dash.example"
    )


def test_no_docs_keeps_the_schema(store):
    c = TestClient(create_app(store, docs=False))
    assert c.get("/docs").status_code == 404 and c.get("/redoc").status_code == 404
    assert c.get("/openapi.json").status_code == 200


def test_an_internal_error_is_json_without_a_traceback(store, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("secret detail")

    monkeypatch.setattr("forecast.service.app.recent_runs", boom)
    r = TestClient(create_app(store), raise_server_exceptions=False).get("/runs")
    assert r.status_code == 500 and r.json()["error"] == "internal_error"
    assert "secret" not in r.text and "Traceback" not in r.text


# ---- the store: read-only, missing, locked, broken ----------------------------------------
def test_requests_never_write_the_store(store, client):
    before = (store.read_bytes(), store.stat().st_mtime_ns, sorted(store.parent.iterdir()))
    for url in ("/health", "/tickers", "/forecasts/AAPL", "/scorecard", "/runs"):
        assert client.get(url).status_code == 200
    assert (store.read_bytes(), store.stat().st_mtime_ns, sorted(store.parent.iterdir())) == before


def test_a_thread_reuses_its_connection_until_the_file_is_replaced(store, tmp_path):
    path = tmp_path / "forecast.db"
    shutil.copy(store, path)
    with read_snapshot(path) as first:
        assert first.execute("SELECT version FROM runs WHERE run_id = 4").fetchone()[0] != "x"
    with read_snapshot(path) as again:
        assert again is first
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    with pytest.raises(StoreUnavailable, match="locked"), read_snapshot(path, 0.05):
        pass
    writer.execute("ROLLBACK")
    writer.close()
    with read_snapshot(path) as after_error:
        assert after_error is not first  # dropped after the error
        first = after_error
    restored = tmp_path / "restored.db"
    shutil.copy(store, restored)
    with sqlite3.connect(restored) as conn:
        conn.execute("UPDATE runs SET version = 'x' WHERE run_id = 4")
    os.replace(restored, path)  # a backup moved into place: another inode
    with read_snapshot(path) as fresh:
        assert fresh is not first
        assert fresh.execute("SELECT version FROM runs WHERE run_id = 4").fetchone()[0] == "x"
    path.unlink()
    with pytest.raises(StoreUnavailable, match="no store at"), read_snapshot(path):
        pass


def test_missing_store_is_503_and_is_not_created(tmp_path):
    path = tmp_path / "none" / "forecast.db"
    c = TestClient(create_app(path))
    for url in ("/health", "/forecasts/AAPL", "/runs"):
        r = c.get(url)
        assert r.status_code == 503 and r.json()["error"] == "store_unavailable"
        assert f"no store at {path}" in r.json()["message"] and r.headers["retry-after"]
    assert not path.exists() and not path.parent.exists()


def test_a_file_that_is_not_a_store_is_503(tmp_path):
    junk = tmp_path / "forecast.db"
    junk.write_bytes(b"not a database " * 100)
    r = TestClient(create_app(junk)).get("/health")
    assert r.status_code == 503 and "is not a readable forecast store" in r.json()["message"]
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    r = TestClient(create_app(other)).get("/tickers")
    assert r.status_code == 503 and "schema version 0" in r.json()["message"]


def test_a_lock_held_beyond_the_busy_timeout_is_503(store):
    writer = sqlite3.connect(store, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.perf_counter()
        r = TestClient(create_app(store, busy_timeout=0.2)).get("/forecasts/AAPL")
        assert time.perf_counter() - t0 >= 0.2
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert "locked by a writer for more than 0.2 s" in r.json()["message"]


def test_a_reader_waits_out_a_short_commit(store):
    writer = sqlite3.connect(store, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN EXCLUSIVE")  # what the job holds while it commits
    release = threading.Timer(0.3, lambda: writer.execute("ROLLBACK"))
    release.start()
    try:
        t0 = time.perf_counter()
        r = TestClient(create_app(store, busy_timeout=5)).get("/forecasts/AAPL")
        waited = time.perf_counter() - t0
    finally:
        release.join()
        writer.close()
    assert r.status_code == 200 and waited >= 0.25


def test_an_unfinished_write_of_a_killed_job_is_503(store, tmp_path):
    copy = tmp_path / "forecast.db"
    shutil.copy(store, copy)
    killed = (
        "import os, signal, sqlite3\n"
        f"c = sqlite3.connect({str(copy)!r}, isolation_level=None)\n"
        "c.execute('PRAGMA cache_size = 1')\n"
        "c.execute('BEGIN IMMEDIATE')\n"
        "c.execute('UPDATE forecasts SET forecast = forecast + 1')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", killed], timeout=30, check=False)
    assert (tmp_path / "forecast.db-journal").exists()
    r = TestClient(create_app(copy)).get("/health")
    assert r.status_code == 503 and "unfinished write of an interrupted job run" in r.text
    assert (tmp_path / "forecast.db-journal").exists()  # left for the job to recover


# ---- the command --------------------------------------------------------------------------
def test_serve_command_wires_options_into_uvicorn(tmp_path, monkeypatch, capsys):
    seen = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: seen.update(app=app, **kw))
    path = tmp_path / "forecast.db"
    args = ["serve", "--store", str(path), "--host", "0.0.0.0", "--port", "0", "--no-docs",
            "--cors-origin", "http://a.example", "--max-lag", "2", "--no-access-log"]  # fmt: skip
    assert main(args) == 0
    assert (seen["host"], seen["port"], seen["access_log"]) == ("0.0.0.0", 0, False)
    service = seen["app"].state.service
    assert (service.store, service.max_lag, service.calendar.name) == (path, 2, "XNYS")
    err = capsys.readouterr().err
    assert f"no store at {path} yet" in err and "has no authentication" in err
    assert not path.exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--port", "70000"], "--port: must be an integer 0 to 65535; got 70000"),
        (["--max-lag", "-1"], "--max-lag: must be an integer >= 0; got -1"),
    ],
)
def test_serve_command_bad_arguments_exit_2(tmp_path, capsys, args, words):
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--store", str(tmp_path / "f.db"), *args])
    assert exit_info.value.code == 2 and words in capsys.readouterr().err


def test_serve_command_bad_calendar_exits_2(tmp_path, capsys):
    assert main(["serve", "--store", str(tmp_path / "f.db"), "--calendar", "NOPE"]) == 2
    assert "calendar must be an exchange_calendars code" in capsys.readouterr().err


def test_create_app_checks_its_arguments(store):
    with pytest.raises(ValueError, match="max_lag must be an integer >= 0; got -1"):
        create_app(store, max_lag=-1)
    with pytest.raises(ValueError, match="busy_timeout must be > 0 seconds; got 0"):
        create_app(store, busy_timeout=0)


# ---- issue 13: large inputs are not echoed three times; repeated parameters are refused --
@pytest.mark.parametrize(
    "url",
    [
        "/forecasts/AAPL?model=" + "x" * 30_000,
        "/forecasts/AAPL?as_of=" + "9" * 30_000,
        "/runs?limit=" + "1" * 30_000,
        "/forecasts/" + "A" * 5_000,
        "/forecasts/AAPL?" + "y" * 30_000 + "=1",
    ],
)
def test_a_large_bad_input_is_not_repeated_in_the_answer(client, url):
    response = client.get(url)
    assert response.status_code == 422
    assert len(response.content) < 2_000  # the input was 5-30 kB
    assert "characters)" in response.text  # the value is cut, and says how long it was


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/forecasts/AAPL?model=ar&model=naive", "model"),
        ("/runs?limit=1&limit=2", "limit"),
        ("/scorecard?ticker=AAPL&ticker=AAPL", "ticker"),
    ],
)
def test_a_repeated_query_parameter_is_refused(client, url, parameter):
    problem = _problem(client.get(url), 422, parameter)
    assert "given 2 times; give it once" in problem["message"]


# ---- issue 13: the docs pages work offline ------------------------------------------------
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_reference_no_external_url_and_their_assets_are_served(client, page):
    import re

    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.I), html
    assets = re.findall(r"""(?:src|href)=["'](/[^"']+)["']""", html)
    assert any(a.endswith(".js") for a in assets)
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200 and len(served.content) > 1000, asset
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "http" not in policy  # the browser fetches
    # nothing from elsewhere, whatever the scripts would try


def test_swagger_ui_does_not_send_the_schema_to_its_online_validator(client):
    assert '"validatorUrl": null' in client.get("/docs").text
