"""Read-only queries of the forecast store for the HTTP service (:mod:`forecast.service`).

Each request reads through :func:`read_snapshot`: a ``mode=ro`` connection inside one read
transaction, so every query of a request sees the same committed state. Each worker thread
keeps its own connection (SQLite connections are not shared between threads) and reuses it
from request to request: its page cache saves about 0.4 ms a request, nearly half the
reading. It is reopened when the store file is replaced (another inode) and dropped after
any error, so a restored backup or a recovered store is read afresh. The job commits a ticker's
versions, forecasts, scores and ``run_tickers`` row in one transaction
(:meth:`forecast.store.database.Store.write_ticker`), so whatever a reader sees is complete per
ticker and as-of: all of a ticker's new forecasts or none of them, never half a run's writes.

The store uses the rollback journal (see :mod:`forecast.store`): while the job commits, a
reader gets ``SQLITE_BUSY`` for the few milliseconds of the commit. The reader's busy timeout
makes it wait that out; only a lock held longer than the timeout becomes
:class:`StoreUnavailable`, as do a missing file, an unfinished write left by a killed job (a
hot journal, which a read-only connection may not roll back), a file that is not a store
and a store of another schema version.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

from forecast.errors import ForecastError
from forecast.store.database import StoreError, connect, schema_version
from forecast.store.live import read_live
from forecast.store.live_compute import compute_live, records
from forecast.store.schema import SCHEMA_VERSION
from forecast.store.scorecard import load_forecasts

#: a reader waits this long for a writer's commit before answering 503
READ_BUSY_TIMEOUT_SECONDS = 5.0
#: run statuses that count as a successful run (``nothing_to_do``: everything was stored)
SUCCESS_STATUSES = ("succeeded", "nothing_to_do")


class StoreUnavailable(ForecastError):
    """The store cannot be read now (HTTP 503); ``retry_after`` in seconds when transient."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@contextlib.contextmanager
def read_snapshot(
    path: Path, busy_timeout: float = READ_BUSY_TIMEOUT_SECONDS
) -> Iterator[sqlite3.Connection]:
    """This thread's read-only connection to ``path`` inside one read transaction.

    Never creates the file (``mode=ro``). Raises :class:`StoreUnavailable` with a message for
    an operator when the store cannot be read, whether on opening or during the queries.
    """
    conn = _reader(Path(path))
    try:
        # connect's 30 s are for the job; a reader answers sooner
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("BEGIN")
        version = schema_version(conn)
        if version != SCHEMA_VERSION:
            raise StoreUnavailable(
                f"store {path} has schema version {version}; this service reads version "
                f"{SCHEMA_VERSION} (run `forecast run` to migrate an older store, or upgrade "
                f"forecast for a newer one)"
            )
        yield conn
    except sqlite3.DatabaseError as exc:
        _forget(Path(path))
        raise _unavailable(exc, Path(path), busy_timeout) from None
    finally:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")  # ends the read transaction: nothing to commit
        except sqlite3.Error:
            _forget(Path(path))


_local = threading.local()
#: stores one thread keeps connections to (a server reads one; tests open several)
_MAX_READERS = 4


def _reader(path: Path) -> sqlite3.Connection:
    """This thread's connection to ``path``, (re)opened when missing or the file was replaced."""
    readers: dict = _local.__dict__.setdefault("readers", {})
    try:
        st = path.stat()
        conn, file_id = readers.get(path, (None, None))
        if conn is not None and file_id == (st.st_dev, st.st_ino):
            return conn
        _forget(path)
        conn = connect(path, readonly=True)
    except (OSError, StoreError):  # no file (connect never creates one: mode=ro)
        _forget(path)
        raise StoreUnavailable(f"no store at {path}; run `forecast run` first", 30) from None
    except sqlite3.DatabaseError as exc:
        raise StoreUnavailable(f"store {path} cannot be opened: {exc}") from None
    if len(readers) >= _MAX_READERS:
        for other in list(readers):
            _forget(other)
    readers[path] = (conn, (st.st_dev, st.st_ino))
    return conn


def _forget(path: Path) -> None:
    """Close and drop this thread's connection to ``path``, if any."""
    cached = _local.__dict__.get("readers", {}).pop(path, None)
    if cached is not None:
        cached[0].close()


def _unavailable(exc: sqlite3.DatabaseError, path: Path, busy_timeout: float) -> StoreUnavailable:
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED"):
        return StoreUnavailable(
            f"store {path} is locked by a writer for more than {busy_timeout:g} s; retry later",
            retry_after=1,
        )
    if name == "SQLITE_READONLY_ROLLBACK":
        return StoreUnavailable(
            f"store {path} holds an unfinished write of an interrupted job run (a hot journal, "
            f"{path.name}-journal) that a read-only reader may not roll back; the next "
            f"`forecast run` recovers it",
            retry_after=60,
        )
    if name in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
        return StoreUnavailable(f"store {path} is not a readable forecast store ({exc})")
    return StoreUnavailable(f"store {path} cannot be read: {exc} ({name or 'sqlite error'})")


# ---- tickers and models -------------------------------------------------------------------
def latest_by_model(conn: sqlite3.Connection, ticker: str | None = None) -> list[dict]:
    """``{ticker, model, latest_as_of}`` for every (ticker, model) with stored forecasts.

    The pairs come from the small ``model_versions`` table; each newest as-of is one lookup
    in the ``(ticker, model, as_of, horizon)`` index, not a scan of the forecasts.
    """
    pairs = "SELECT DISTINCT ticker, model FROM model_versions"
    if ticker is not None:
        pairs, params = pairs + " WHERE ticker = ?", (ticker,)
    else:
        params = ()
    rows = conn.execute(
        "SELECT p.ticker, p.model, (SELECT MAX(f.as_of) FROM forecasts AS f "  # noqa: S608 (no user text)
        "WHERE f.ticker = p.ticker AND f.model = p.model) AS latest_as_of "
        "FROM (" + pairs + ") AS p ORDER BY p.ticker, p.model",
        params,
    ).fetchall()
    return [dict(r) for r in rows if r["latest_as_of"] is not None]


def forecast_rows(
    conn: sqlite3.Connection, ticker: str, models: list[str], as_of: str, horizon: int | None
) -> list[dict]:
    """The forecasts of ``ticker`` by ``models`` from ``as_of``, with version and actual."""
    sql = (
        "SELECT f.model, f.horizon, f.target_date, f.forecast, f.lower, f.upper, "
        "f.interval_method, f.interval_level, f.interval_scale, f.sigma, f.vol_regime, "
        "f.last_price, f.data_hash, f.run_id, s.actual, "
        "v.version_id, v.trained_through, v.spec_hash, v.params, v.n_train, "
        "v.data_hash AS train_data_hash, v.status "
        "FROM forecasts AS f JOIN model_versions AS v USING (version_id) "
        "LEFT JOIN scores AS s USING (forecast_id) "
        "WHERE f.ticker = ? AND f.model IN (" + _marks(models) + ") AND f.as_of = ?"
    )
    params: list = [ticker, *models, as_of]
    if horizon is not None:
        sql += " AND f.horizon = ?"
        params.append(horizon)
    rows = conn.execute(sql + " ORDER BY f.model, f.horizon", params).fetchall()
    out = []
    for r in rows:
        row = dict(r)
        row["version"] = pop_version(row)
        out.append(row)
    return out


def pop_version(row: dict) -> dict:
    """The model version of a forecast row (joined from ``model_versions``), taken out of
    ``row`` as the nested ``version`` object the responses carry."""
    return {
        "version_id": row.pop("version_id"),
        "trained_through": row.pop("trained_through"),
        "spec_hash": row.pop("spec_hash"),
        "params": json.loads(row.pop("params")),
        "n_train": row.pop("n_train"),
        "data_hash": row.pop("train_data_hash"),
        "status": row.pop("status"),
    }


def stored_horizons(conn: sqlite3.Connection, ticker: str, models: list[str], as_of: str) -> list:
    """The horizons stored for ``ticker`` by ``models`` at ``as_of`` (for error messages)."""
    rows = conn.execute(
        "SELECT DISTINCT horizon FROM forecasts WHERE ticker = ? AND model IN ("  # noqa: S608 (no user text)
        + _marks(models)
        + ") AND as_of = ? ORDER BY horizon",
        (ticker, *models, as_of),
    )
    return [r[0] for r in rows]


def nearest_as_of(conn: sqlite3.Connection, ticker: str, models: list[str], day: str) -> dict:
    """The stored as-of dates of ``ticker`` just before and after ``day`` (or ``None``)."""
    where = " FROM forecasts WHERE ticker = ? AND model IN (" + _marks(models) + ") AND as_of "
    args = (ticker, *models, day)
    return {
        "before": conn.execute("SELECT MAX(as_of)" + where + "< ?", args).fetchone()[0],
        "after": conn.execute("SELECT MIN(as_of)" + where + "> ?", args).fetchone()[0],
    }


def _marks(values: list) -> str:
    """``?, ?, ?``: one placeholder per value (values are always bound, never interpolated)."""
    return ", ".join("?" * len(values))


# ---- scorecard ----------------------------------------------------------------------------
def scorecard_rows(conn: sqlite3.Connection, ticker: str | None, model: str | None) -> list[dict]:
    """The live scorecard with its sequences computed from the forecasts
    (:func:`forecast.store.live_compute.compute_live`), NaN as ``None``; previous statuses
    unknown (``None``)."""
    table = compute_live(load_forecasts(conn, ticker, model))
    return [{**r, "previous_status": None, "previous_coverage_status": None}
            for r in records(table)]  # fmt: skip


class ScorecardCache:
    """The live scorecard: the table the job stored, else computed and cached.

    The job stores the scorecard with its confidence sequences after each run
    (:mod:`forecast.store.live`): while that table describes the store, a request reads its
    rows (milliseconds). When it does not (a store the job has not refreshed yet, a run
    killed before its last step), the scorecard is computed from every matching forecast
    (seconds for a year of 50 tickers) and cached until the job commits more: each commit
    adds that ticker's ``run_tickers`` row with its forecasts and scores, and nothing else
    changes them, so the newest run's id and its count of ticker rows, with the store
    file's identity, tell whether a cached scorecard is still the one a fresh computation
    would give.
    """

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._entries: OrderedDict[tuple, tuple[tuple, list[dict]]] = OrderedDict()
        self._lock = threading.Lock()

    def rows(
        self, conn: sqlite3.Connection, path: Path, ticker: str | None, model: str | None
    ) -> tuple[list[dict], dict | None]:
        """The rows and the stored table's state (``None``: computed, not stored)."""
        stored = read_live(conn, ticker, model)
        if stored is not None:
            return stored
        st = path.stat()
        newest = conn.execute(
            "SELECT run_id, (SELECT COUNT(*) FROM run_tickers AS t WHERE t.run_id = r.run_id) "
            "FROM runs AS r ORDER BY run_id DESC LIMIT 1"
        ).fetchone()
        token = (st.st_dev, st.st_ino, *(tuple(newest) if newest else ()))
        key = (str(path), ticker, model)
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None and cached[0] == token:
                self._entries.move_to_end(key)
                return cached[1], None
        rows = scorecard_rows(conn, ticker, model)
        with self._lock:
            self._entries[key] = (token, rows)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return rows, None


# ---- runs ---------------------------------------------------------------------------------
_RUNS = "SELECT run_id, status, started_at, finished_at, as_of, errors, version FROM runs "


def recent_runs(conn: sqlite3.Connection, limit: int) -> list[dict]:
    """The ``limit`` newest runs, newest first, with their tickers counted by status."""
    rows = conn.execute(_RUNS + "ORDER BY run_id DESC LIMIT ?", (limit,)).fetchall()
    return _with_tickers(conn, rows)


def last_run(conn: sqlite3.Connection, successful: bool = False) -> dict | None:
    """The newest run, or the newest whose status is in :data:`SUCCESS_STATUSES`."""
    where, params = ("WHERE status IN (?, ?) ", SUCCESS_STATUSES) if successful else ("", ())
    rows = conn.execute(_RUNS + where + "ORDER BY run_id DESC LIMIT 1", params).fetchall()
    runs = _with_tickers(conn, rows)
    return runs[0] if runs else None


def stale_price_tickers(conn: sqlite3.Connection, run_id: int) -> list[str]:
    """Tickers run ``run_id`` forecast from stale prices (Yahoo unreachable: cached or
    embedded prices older than the last closed session)."""
    rows = conn.execute(
        "SELECT DISTINCT ticker FROM events WHERE run_id = ? AND kind = 'stale_prices' "
        "AND ticker IS NOT NULL ORDER BY ticker",
        (run_id,),
    ).fetchall()
    return [r[0] for r in rows]


def _with_tickers(conn: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[dict]:
    runs = {r["run_id"]: dict(r) for r in rows}
    for run in runs.values():
        run["requested_as_of"] = run.pop("as_of")
        run["as_of"] = run["requested_as_of"]
        run["tickers"] = {}
        try:
            errors = json.loads(run["errors"])
        except ValueError:  # written by the job as JSON; never let one bad row fail a request
            errors = [{"ticker": None, "model": None, "stage": "run", "error": run["errors"]}]
        run["errors"] = [e for e in errors if isinstance(e, dict)]
    if not runs:
        return []
    counts = conn.execute(
        "SELECT run_id, status, COUNT(*) AS n, MAX(as_of) AS as_of FROM run_tickers "  # noqa: S608 (no user text)
        "WHERE run_id IN (" + _marks(list(runs)) + ") GROUP BY run_id, status",
        tuple(runs),
    )
    for c in counts:
        run = runs[c["run_id"]]
        run["tickers"][c["status"]] = c["n"]
        if run["requested_as_of"] is None and c["status"] != "failed" and c["as_of"]:
            run["as_of"] = max(run["as_of"] or "", c["as_of"])
    return list(runs.values())
