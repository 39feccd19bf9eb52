"""The forecast store: one SQLite file holding runs, model versions, forecasts and scores.

The tables are defined and documented in :mod:`forecast.store.schema`.

Every write is ``BEGIN IMMEDIATE`` on a connection in autocommit mode (``isolation_level=None``;
Python 3.11 has no ``autocommit=``), so a writer takes the write lock before reading and never
hits the deferred-upgrade deadlock. The journal is the rollback journal (``DELETE``), not WAL:
the SQLite linked into Python 3.11 here (3.40) has the WAL-reset corruption bug, fixed in 3.51.3.
A ticker's forecasts (with their intervals), versions, scores, calibration errors and
interval states are committed together, so a reader sees all of a ticker's results for an
as-of or none.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from forecast.errors import ForecastError
from forecast.store.rows import TickerResult
from forecast.store.schema import MIGRATIONS, SCHEMA_VERSION, STATE_KEEP
from forecast.store.volatility import write_volatility

BUSY_TIMEOUT_SECONDS = 30.0

log = logging.getLogger(__name__)


class StoreError(ForecastError):
    """The store cannot be used: missing or read-only folder, corrupt file, newer schema."""


# ---- opening ----------------------------------------------------------------------------
def check_store_folder(path: Path) -> Path:
    """Return ``path`` resolved, or raise ``StoreError`` if its folder is missing or read-only.

    Writability is probed by creating a file: permission bits alone miss read-only mounts,
    and SQLite needs to create its journal next to the database.
    """
    path = Path(path).expanduser().resolve()  # a symlinked store: its real folder and models
    folder = path.parent
    if not folder.is_dir():
        raise StoreError(
            f"store folder does not exist: {folder} (store {path}); create it or pass --store"
        )
    if path.exists() and not path.is_file():
        raise StoreError(f"store path is not a file: {path}")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".forecast-probe-")
    except OSError as exc:
        raise StoreError(
            f"store folder is not writable: {folder} ({exc.strerror}); the job writes the "
            f"database, its journal, the lock file and the models folder there"
        ) from None
    os.close(fd)
    os.unlink(probe)
    return path


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection with the store's settings (autocommit, busy timeout, rollback journal).

    ``readonly`` opens with ``mode=ro`` (readers: the scorecard, a later HTTP service); such
    a connection cannot roll back a crashed writer's journal, so run the job first after a
    crash.
    """
    if readonly:
        if not Path(path).is_file():
            raise StoreError(f"no store at {path}; run `forecast run` first")
        uri = f"file:{quote(str(Path(path).absolute()))}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    else:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    if not readonly:
        # FULL: a committed day of forecasts survives a power cut; the cost is one fsync
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = FULL")
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` if the block (or the commit) raises.

    SQLite rolls a transaction back by itself on some errors (a full disk, I/O errors); then
    no ``ROLLBACK`` is sent, so that the error the caller sees is the real one, not "cannot
    rollback - no transaction is active".
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error as exc:  # the error being raised says more than this one
                log.warning("rollback failed after an error: %s", exc)
        raise


def schema_version(conn: sqlite3.Connection) -> int:
    """The store's ``PRAGMA user_version``."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to :data:`SCHEMA_VERSION`, one transaction per step; return it."""
    with transaction(conn):  # the check and the upgrade under the write lock
        current = schema_version(conn)
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"store schema version {current} is newer than this forecast supports "
                f"({SCHEMA_VERSION}); upgrade forecast"
            )
        for step in range(current, SCHEMA_VERSION):
            for statement in MIGRATIONS[step]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {step + 1}")
    return SCHEMA_VERSION


def quick_check(conn: sqlite3.Connection, path: Path, *, full: bool = False) -> None:
    """Run ``PRAGMA quick_check`` (or ``integrity_check``); raise ``StoreError`` if not ok."""
    pragma = "integrity_check" if full else "quick_check"
    try:
        rows = [r[0] for r in conn.execute(f"PRAGMA {pragma}").fetchall()]
    except sqlite3.DatabaseError as exc:
        rows = [str(exc)]
    if rows != ["ok"]:
        lines = [line for row in rows for line in str(row).splitlines()]
        shown = "; ".join(lines[:3]) + (f" (+{len(lines) - 3} more)" if len(lines) > 3 else "")
        raise StoreError(
            f"store {path} failed PRAGMA {pragma}: {shown}. Nothing was written; "
            f'restore a backup (take backups with `sqlite3 {path.name} ".backup copy.db"`, not '
            f"by copying the file during a run) or move the file aside to start a new store"
        )


def open_store(path: Path) -> Store:
    """Open (creating if needed) the store for writing: folder check, quick_check, migrate."""
    path = check_store_folder(path)
    try:
        conn = connect(path)
        quick_check(conn, path)
        migrate(conn)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"store {path} cannot be opened: {exc}") from None
    return Store(conn, path)


def open_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection to an existing store, schema version checked."""
    path = Path(path).expanduser()
    try:
        conn = connect(path, readonly=True)
        version = schema_version(conn)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"store {path} cannot be read: {exc}") from None
    if version != SCHEMA_VERSION:
        raise StoreError(
            f"store {path} has schema version {version}; this forecast reads version "
            f"{SCHEMA_VERSION} (run `forecast run` to migrate an older store)"
        )
    return conn


def models_folder_name(conn: sqlite3.Connection, path: Path) -> str:
    """The name of the store's models folder, beside it: ``<store file name>.models``
    (``forecast.db.models``), so that two stores in one folder never share model files; a
    store that already had files in the older shared ``models`` folder keeps it (its
    ``settings`` row, written by the migration to schema 4)."""
    row = conn.execute("SELECT value FROM settings WHERE key = 'models_dir'").fetchone()
    return row[0] if row else f"{path.name}.models"


class Store:
    """The job's write connection and its queries. Create with :func:`open_store`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn, self.path = conn, path
        self.models_dir = path.parent / models_folder_name(conn, path)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    # ---- runs -----------------------------------------------------------------------------
    def begin_run(
        self, *, as_of: str | None, config_hash: str, started_at: str, pid: int, host: str,
        version: str,
    ) -> int:  # fmt: skip
        """Insert a ``running`` run row and return its id.

        Earlier ``running`` rows become ``aborted``: the caller holds the job lock, so they
        belong to runs that were killed before they finished.
        """
        with transaction(self.conn):
            self.conn.execute("UPDATE runs SET status = 'aborted' WHERE status = 'running'")
            cur = self.conn.execute(
                "INSERT INTO runs (started_at, as_of, config_hash, status, pid, host, version) "
                "VALUES (?, ?, ?, 'running', ?, ?, ?)",
                (started_at, as_of, config_hash, pid, host, version),
            )
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, *, status: str, errors: list[dict], finished_at: str) -> None:
        """Record the run's outcome."""
        with transaction(self.conn):
            self.conn.execute(
                "UPDATE runs SET status = ?, errors = ?, finished_at = ? WHERE run_id = ?",
                (status, json.dumps(errors), finished_at, run_id),
            )

    # ---- reads for planning a ticker ------------------------------------------------------
    def stored_models(self, ticker: str, as_of: str) -> set[str]:
        """Models that already have forecasts for ``ticker`` at ``as_of``."""
        rows = self.conn.execute(
            "SELECT DISTINCT model FROM forecasts WHERE ticker = ? AND as_of = ?", (ticker, as_of)
        )
        return {r[0] for r in rows}

    def latest_version(
        self, ticker: str, model: str, spec_hash: str, as_of: str
    ) -> sqlite3.Row | None:
        """The newest active version trained through ``as_of`` or earlier.

        Never a later one: a replay of a past date must not use a model that saw its future.
        """
        return self.conn.execute(
            "SELECT * FROM model_versions WHERE ticker = ? AND model = ? AND spec_hash = ? "
            "AND trained_through <= ? AND status = 'active' "
            "ORDER BY trained_through DESC LIMIT 1",
            (ticker, model, spec_hash, as_of),
        ).fetchone()

    def unscored(self, ticker: str, as_of: str) -> list[sqlite3.Row]:
        """Stored forecasts of ``ticker`` whose target date is at or before ``as_of``."""
        return self.conn.execute(
            "SELECT f.forecast_id, f.as_of, f.target_date, f.forecast, f.last_price "
            "FROM forecasts AS f LEFT JOIN scores AS s USING (forecast_id) "
            "WHERE f.ticker = ? AND f.target_date <= ? AND s.forecast_id IS NULL "
            "ORDER BY f.forecast_id",
            (ticker, as_of),
        ).fetchall()

    def price_basis(self, ticker: str, as_of: str) -> dict[str, float]:
        """The last price each stored forecast of ``ticker`` saw, by its as-of date (up to
        ``as_of``): the history as it was, to tell an adjustment from a correction."""
        rows = self.conn.execute(
            "SELECT as_of, max(last_price) FROM forecasts WHERE ticker = ? AND as_of <= ? "
            "GROUP BY as_of",
            (ticker, as_of),
        ).fetchall()
        return {str(d): float(v) for d, v in rows}

    def past_forecasts(
        self, ticker: str, as_of: str, model: str | None = None, since: str | None = None
    ) -> list[sqlite3.Row]:
        """Forecasts of ``ticker`` whose target date is at or before ``as_of`` (so known then).

        With the spec hash of their model version, the actual (NULL until scored), their
        stored interval (bounds, method, scale, level) and ``sigma``, in (model, horizon,
        as-of) order: the live errors of the conformal intervals. ``model``: only its
        forecasts; ``since``: only those made after that as-of (what a stored interval
        state has not seen yet).
        """
        sql = (
            "SELECT f.forecast_id, f.model, v.spec_hash, f.horizon, f.as_of, f.target_date, "
            "f.forecast, s.actual, f.lower, f.upper, f.interval_method, f.interval_scale, "
            "f.interval_level, f.sigma FROM forecasts AS f JOIN model_versions AS v "
            "USING (version_id) LEFT JOIN scores AS s USING (forecast_id) "
            "WHERE f.ticker = ? AND f.target_date <= ?"
        )
        params: list[str] = [ticker, as_of]
        if model is not None:
            sql += " AND f.model = ?"
            params.append(model)
        if since is not None:
            sql += " AND f.as_of > ?"
            params.append(since)
        return self.conn.execute(sql + " ORDER BY f.model, f.horizon, f.as_of", params).fetchall()

    def calibration(self, ticker: str, model: str, spec_hash: str, as_of: str) -> list[tuple]:
        """``(horizon, origin, target_date, log_error, scale, sigma)`` of the newest bootstrap
        at or before ``as_of``: never a later one, whose errors a replay of ``as_of`` could
        not know."""
        rows = self.conn.execute(
            "SELECT horizon, origin, target_date, log_error, scale, sigma FROM "
            "calibration_errors WHERE ticker = ?1 AND model = ?2 AND spec_hash = ?3 AND as_of = ("
            "SELECT MAX(as_of) FROM calibration_errors WHERE ticker = ?1 AND model = ?2 "
            "AND spec_hash = ?3 AND as_of <= ?4) ORDER BY horizon, origin",
            (ticker, model, spec_hash, as_of),
        )
        return [tuple(r) for r in rows]

    def interval_states(
        self, ticker: str, model: str, spec_hash: str, as_of: str
    ) -> dict[int, dict]:
        """Per horizon, the newest stored interval state at or before ``as_of`` (never a
        later one), as a dict of its columns."""
        rows = self.conn.execute(
            "SELECT s.* FROM interval_state AS s WHERE s.ticker = ?1 AND s.model = ?2 "
            "AND s.spec_hash = ?3 AND s.as_of = (SELECT MAX(t.as_of) FROM interval_state AS t "
            "WHERE t.ticker = ?1 AND t.model = ?2 AND t.spec_hash = ?3 "
            "AND t.horizon = s.horizon AND t.as_of <= ?4)",
            (ticker, model, spec_hash, as_of),
        ).fetchall()
        return {int(r["horizon"]): dict(r) for r in rows}

    # ---- writing a ticker -----------------------------------------------------------------
    def write_ticker(self, run_id: int, result: TickerResult) -> None:
        """Commit one ticker's versions, forecasts, scores, calibration errors, events and
        status atomically."""
        r = result
        with transaction(self.conn) as c:
            for version_id in r.rejected:
                c.execute(
                    "UPDATE model_versions SET status = 'rejected' WHERE version_id = ?",
                    (version_id,),
                )
            for v in r.versions:
                c.execute(
                    "INSERT INTO model_versions (ticker, model, spec_hash, params, "
                    "trained_through, n_train, data_hash, file, sha256, fit_seconds, run_id, "
                    "target) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (ticker, model, spec_hash, trained_through) DO UPDATE SET "
                    "file = excluded.file, sha256 = excluded.sha256, status = 'active', "
                    "fit_seconds = excluded.fit_seconds, run_id = excluded.run_id",
                    (r.ticker, v.model, v.spec_hash, v.params, v.trained_through, v.n_train,
                     v.data_hash, v.file, v.sha256, v.fit_seconds, run_id, v.target),
                )  # fmt: skip
            for f in r.forecasts:
                version_id = c.execute(
                    "SELECT version_id FROM model_versions WHERE ticker = ? AND model = ? "
                    "AND spec_hash = ? AND trained_through = ?",
                    (r.ticker, f.model, f.spec_hash, f.trained_through),
                ).fetchone()[0]
                # DO NOTHING: a stored forecast is never rewritten (append-only history)
                c.execute(
                    "INSERT INTO forecasts (ticker, model, version_id, as_of, horizon, "
                    "target_date, forecast, lower, upper, interval_method, interval_level, "
                    "interval_scale, sigma, vol_regime, last_price, data_hash, run_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (ticker, model, as_of, horizon) DO NOTHING",
                    (r.ticker, f.model, version_id, r.as_of, f.horizon, f.target_date,
                     f.forecast, f.lower, f.upper, f.interval_method, f.interval_level,
                     f.interval_scale, f.sigma, f.vol_regime, r.last_price, r.data_hash,
                     run_id),
                )  # fmt: skip
            c.executemany(
                "INSERT INTO calibration_errors (ticker, model, spec_hash, as_of, horizon, "
                "origin, target_date, log_error, scale, sigma, run_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(r.ticker, e.model, e.spec_hash, r.as_of, e.horizon, e.origin, e.target_date,
                  e.log_error, e.scale, e.sigma, run_id) for e in r.calibration],
            )  # fmt: skip
            self._states(c, run_id, r)
            c.executemany(
                "INSERT INTO scores (forecast_id, actual, error, naive_error, direction_hit, "
                "restated, run_id) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (forecast_id) DO NOTHING",
                [(s.forecast_id, s.actual, s.error, s.naive_error, s.direction_hit,
                  s.restated, run_id) for s in r.scores],
            )  # fmt: skip
            c.executemany(
                "INSERT INTO events (run_id, ticker, model, kind, message) VALUES (?, ?, ?, ?, ?)",
                [(run_id, r.ticker, model, kind, msg) for model, kind, msg in r.events],
            )
            write_volatility(c, run_id, r)
            self._ticker_row(c, run_id, r)

    @staticmethod
    def _states(c: sqlite3.Connection, run_id: int, r: TickerResult) -> None:
        """The interval states of this as-of, and only the newest :data:`STATE_KEEP` kept
        per key (an older replay rebuilds its state from the stored errors)."""
        c.executemany(
            "INSERT INTO interval_state (ticker, model, spec_hash, horizon, as_of, method, "
            "scale, level, gamma, window_size, alpha, scores, last_origin, run_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(r.ticker, s.model, s.spec_hash, s.horizon, r.as_of, s.method, s.scale, s.level,
              s.gamma, s.window_size, s.alpha, s.scores, s.last_origin, run_id)
             for s in r.states],
        )  # fmt: skip
        for s in r.states:
            c.execute(
                "DELETE FROM interval_state WHERE ticker = ?1 AND model = ?2 AND spec_hash = ?3 "
                "AND horizon = ?4 AND as_of < (SELECT as_of FROM interval_state WHERE "
                "ticker = ?1 AND model = ?2 AND spec_hash = ?3 AND horizon = ?4 "
                "ORDER BY as_of DESC LIMIT 1 OFFSET ?5)",
                (r.ticker, s.model, s.spec_hash, s.horizon, STATE_KEEP - 1),
            )

    @staticmethod
    def _ticker_row(c: sqlite3.Connection, run_id: int, r: TickerResult) -> None:
        c.execute(
            "INSERT OR REPLACE INTO run_tickers (run_id, ticker, as_of, status, n_forecasts, "
            "n_scores, source, data_hash, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, r.ticker, r.as_of, r.status, len(r.forecasts), len(r.scores), r.source,
             r.data_hash, r.message),
        )  # fmt: skip

    # ---- model file retention -------------------------------------------------------------
    def versions_beyond(
        self, ticker: str, model: str, keep: int, target: str = "price"
    ) -> list[sqlite3.Row]:
        """Active versions of (ticker, model) of ``target``'s registry older than the newest
        ``keep``."""
        return self.conn.execute(
            "SELECT version_id, file FROM model_versions WHERE ticker = ? AND model = ? "
            "AND target = ? AND status = 'active' ORDER BY trained_through DESC, "
            "version_id DESC LIMIT -1 OFFSET ?",
            (ticker, model, target, keep),
        ).fetchall()

    def mark_pruned(self, run_id: int, ticker: str, model: str, versions: list) -> None:
        """Mark versions whose files retention removes (before the files go)."""
        with transaction(self.conn) as c:
            for v in versions:
                c.execute(
                    "UPDATE model_versions SET status = 'pruned' WHERE version_id = ?",
                    (v["version_id"],),
                )
                c.execute(
                    "INSERT INTO events (run_id, ticker, model, kind, message) "
                    "VALUES (?, ?, ?, 'pruned', ?)",
                    (run_id, ticker, model, f"removed {v['file']}"),
                )

    def active_files(self) -> set[str]:
        """Model files that active versions point to (relative to the models folder)."""
        return {r[0] for r in self.conn.execute(
            "SELECT file FROM model_versions WHERE status = 'active'")}  # fmt: skip
