"""The schema of the forecast store, as migrations: the one place tables are defined.

Schema (version :data:`SCHEMA_VERSION`, kept in ``PRAGMA user_version``; dates are
``YYYY-MM-DD`` text, times UTC ISO-8601 text used for bookkeeping only):

``runs``
    One row per ``forecast run``: ``started_at``, ``finished_at``, ``as_of`` (the requested
    session; NULL means "each ticker's latest price"), ``config_hash``, ``status``
    (running, succeeded, partial, failed, nothing_to_do, aborted), ``errors`` (a JSON list of
    ``{ticker, model, stage, error}``), ``pid``, ``host``, ``version``.
``run_tickers``
    One row per (run, ticker): the session forecast from, status (stored, partial, failed,
    up_to_date), counts, price source and data hash, message.
``model_versions``
    One row per fitted model: ticker, model, ``spec_hash`` (model name + parameters),
    ``params`` (JSON), ``trained_through`` (last training date), ``n_train``, ``data_hash``,
    ``file`` (the version's folder relative to the models folder, e.g.
    ``T_AAPL/lstm/2013-03-01-<spec>``, holding ``model.json`` and for the neural models
    ``model.pt``), ``sha256`` (of the folder: ``sha256sum * | sha256sum`` inside it),
    ``fit_seconds``, ``run_id``, ``status`` (active, pruned = files removed by retention,
    rejected = files failed their check or could not be loaded).
``forecasts``
    One row per (ticker, model, as_of, horizon), the natural key that makes a rerun for the
    same as-of idempotent: ``version_id``, ``target_date`` (the horizon-th session after ``as_of``),
    ``forecast`` (median price), ``lower``/``upper`` (the central prediction interval, holding
    ``forecast``; NULL: none, because intervals were off or fewer than
    :data:`forecast.evaluation.conformal.MIN_ERRORS` past errors were known, or the row predates
    schema 2), ``interval_method`` (how that interval was made: ``aci``, ``conformal`` or ``model``;
    NULL when intervals were off) and ``interval_level`` (its nominal coverage), ``last_price`` (the
    price at ``as_of``: the random-walk forecast), ``data_hash``, ``run_id``.
``scores``
    One row per matured forecast: ``actual``, ``error`` (forecast - actual),
    ``naive_error`` (last_price - actual), ``direction_hit`` (NULL when the price did not
    move), ``restated`` (1 when the price history changed since the forecast and ``actual``
    was rescaled to the forecast's price basis), ``run_id``.
``calibration_errors``
    The bootstrap of a (ticker, model, spec_hash) for the conformal intervals: the log errors
    ``log(actual / forecast)`` of an honest walk-forward over the sessions just before
    ``as_of`` (one fit, prices up to ``as_of`` only), one row per (horizon, origin) with its
    ``target_date`` (at or before ``as_of``), ``run_id``. Written once, in the ticker's
    transaction, when a model has neither calibration nor enough live errors; a run at an
    as-of uses the newest bootstrap computed at or before it (see :mod:`forecast.job.intervals`).
``interval_state``
    The conformal interval of a (ticker, model, spec_hash, horizon) as the job left it at
    ``as_of``, so that the next evening updates it with the errors that matured since
    instead of replaying every past error: ``method`` (``aci`` or ``conformal``), ``scale``
    (``ewma``, ``garch`` or NULL: unscaled), ``level``, ``gamma`` and ``window_size`` (the
    settings it belongs to: a run with other settings starts afresh), ``alpha`` (adaptive
    conformal's working miscoverage), ``scores`` (JSON list of the last ``window_size`` scores,
    oldest first: signed log errors, or absolute log errors over their origin's ``sigma``),
    ``last_origin`` (the newest forecast as-of whose error is in ``scores``), ``run_id``.
    The newest few per key are kept (see :data:`STATE_KEEP`); a run at an as-of uses the
    newest state at or before it, never a later one.
``events``
    Things an operator should know about (``kind``): ``bad_model_file`` (refit instead),
    ``pruned``, ``restated`` (prices changed since a forecast), ``stale_prices``,
    ``calibration_failed`` (no bootstrap: that model's conformal intervals wait for live
    errors), ``interval_failed`` (a forecast stored without its interval), ``scale_failed``
    (no volatility forecast at the as-of: no scaled interval, sigma or regime that evening).
``settings`` (since 4)
    Store-wide ``key``/``value`` pairs: ``models_dir``, the name of the models folder beside
    the store (absent: ``<store file name>.models``, so two stores in one folder never share
    model files; a store that had model files before version 4 keeps the shared ``models``).
``live_scorecard`` (since 6)
    The scorecard as the job left it after its last run (:mod:`forecast.store.live`), one
    row per (ticker, model, horizon): the columns of
    :data:`forecast.store.scorecard.SCORECARD_COLUMNS`, the confidence sequence of the mean
    loss difference against the random walk (``n_diff``, ``mean_diff``, ``diff_lower``,
    ``diff_upper``, ``status`` better / worse / undecided, ``decided_on``) and of the interval
    hit rate (``n_hits``, ``cs_coverage``, ``coverage_lower``, ``coverage_upper``,
    ``coverage_status`` in band / below / above, ``coverage_decided_on``), and the statuses the
    previous computation had (``previous_status``, ``previous_coverage_status``; NULL: the row
    is new), from which ``forecast scorecard --alerts`` tells what changed. Replaced as a whole
    in one transaction.
``live_scorecard_state``
    One row per computation of ``live_scorecard``: ``run_id``, ``computed_at``, and the
    store's ``max_forecast_id`` and ``n_scores`` then (forecasts and scores are append-only,
    so a reader that finds other values knows the table is stale and computes afresh),
    ``n_rows``, ``seconds``.
``scored_forecasts`` (view)
    Forecasts joined with their scores, for readers (with the interval columns since 2, the
    scale, sigma and regime since 3).

``volatility_forecasts``
    One row per (ticker, model, as_of, horizon) of a volatility model
    (:mod:`forecast.models.volatility`; its version has ``target = 'volatility'``):
    ``variance`` (the forecast variance of the ``horizon``-day log return from ``as_of`` to
    ``target_date``), ``proxy`` (the realised-variance proxy it will be scored against:
    ``yang_zhang`` with open/high/low, ``squared_returns`` for a close-only series), the
    Value-at-Risk of that return at 1% and 5% from the normal (``var_1``, ``var_5``) and the
    unit-variance Student-t quantile with ``t_dof`` degrees of freedom (``var_1_t``,
    ``var_5_t``), as positive losses of log return, ``last_price``, ``data_hash``, ``run_id``.
``volatility_scores``
    One row per matured volatility forecast: ``realized`` (the proxy summed over the sessions
    after ``as_of`` up to ``target_date``), ``log_return`` (close to close, adjusted prices as
    known when scored), ``qlike`` (``realized/variance - ln(realized/variance) - 1``; NULL when
    ``realized`` is 0), ``squared_error``, ``hit_1`` .. ``hit_5_t`` (1 when the return fell
    below minus that VaR: an exception), ``run_id``.

``model_versions.target`` (since 5) says which registry a version's model comes from:
``price`` (every older row) or ``volatility`` (``naive``, ``lstm`` and ``gru`` exist in both).

Since version 3, ``forecasts`` also holds ``interval_scale`` (``ewma`` or ``garch``: the
volatility scale of a conformal interval; NULL: unscaled, or no interval), ``sigma`` (the
scaling model's forecast standard deviation of the ``horizon``-day log return, made at
``as_of`` from the prices up to it; NULL when scaling is off) and ``vol_regime``
(``calm`` or ``turbulent``: the 1-day volatility forecast at ``as_of`` is at most, or
above, the median of the same forecast over the 250 sessions before, see
:func:`forecast.walkforward.scales.volatility_at`;
NULL before version 3), and ``calibration_errors`` holds ``sigma`` (the bootstrap origin's
forecast standard deviation of the horizon's log return, by the scale of ``scale``).

History: version 1 created the tables; version 2 added ``interval_method``,
``interval_level``, ``calibration_errors`` and the interval columns of the view; version 3
added the volatility scale (``interval_scale``, ``sigma``, ``vol_regime``; ``sigma`` and
``scale`` of ``calibration_errors``) and ``interval_state``, keeping every row (the new
columns of old rows are NULL); version 4 added ``settings``; version 5 added
``model_versions.target``, ``volatility_forecasts`` and ``volatility_scores``; version 6 added
``live_scorecard`` and ``live_scorecard_state`` (empty until the next run computes them). A
store of an older version is migrated when the job opens it; readers refuse it until then.

Readers (the scorecard, a later read-only HTTP service opening the file with ``mode=ro``)
rely on these names; change them only through a new migration.
"""

from __future__ import annotations

#: the farthest horizon (sessions ahead) a forecast row may have: the job's limit, the API's
MAX_HORIZON = 250
SCHEMA_VERSION = 6
#: interval states kept per (ticker, model, spec_hash, horizon): the newest few as-ofs
STATE_KEEP = 5

#: ``MIGRATIONS[i]`` takes a store from schema version ``i`` to ``i + 1``
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            run_id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            as_of TEXT,
            config_hash TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN
                ('running', 'succeeded', 'partial', 'failed', 'nothing_to_do', 'aborted')),
            errors TEXT NOT NULL DEFAULT '[]',
            pid INTEGER,
            host TEXT,
            version TEXT
        ) STRICT""",
        """CREATE TABLE run_tickers (
            run_id INTEGER NOT NULL REFERENCES runs (run_id),
            ticker TEXT NOT NULL,
            as_of TEXT,
            status TEXT NOT NULL CHECK (status IN ('stored', 'partial', 'failed', 'up_to_date')),
            n_forecasts INTEGER NOT NULL DEFAULT 0,
            n_scores INTEGER NOT NULL DEFAULT 0,
            source TEXT,
            data_hash TEXT,
            message TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (run_id, ticker)
        ) STRICT""",
        """CREATE TABLE model_versions (
            version_id INTEGER PRIMARY KEY,
            ticker TEXT NOT NULL,
            model TEXT NOT NULL,
            spec_hash TEXT NOT NULL,
            params TEXT NOT NULL,
            trained_through TEXT NOT NULL,
            n_train INTEGER NOT NULL,
            data_hash TEXT NOT NULL,
            file TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            fit_seconds REAL NOT NULL,
            run_id INTEGER NOT NULL REFERENCES runs (run_id),
            status TEXT NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'pruned', 'rejected')),
            UNIQUE (ticker, model, spec_hash, trained_through)
        ) STRICT""",
        """CREATE TABLE forecasts (
            forecast_id INTEGER PRIMARY KEY,
            ticker TEXT NOT NULL,
            model TEXT NOT NULL,
            version_id INTEGER NOT NULL REFERENCES model_versions (version_id),
            as_of TEXT NOT NULL,
            horizon INTEGER NOT NULL CHECK (horizon >= 1),
            target_date TEXT NOT NULL,
            forecast REAL NOT NULL,
            lower REAL,
            upper REAL,
            last_price REAL NOT NULL,
            data_hash TEXT NOT NULL,
            run_id INTEGER NOT NULL REFERENCES runs (run_id),
            UNIQUE (ticker, model, as_of, horizon)
        ) STRICT""",
        "CREATE INDEX forecasts_by_target ON forecasts (ticker, target_date)",
        """CREATE TABLE scores (
            forecast_id INTEGER PRIMARY KEY REFERENCES forecasts (forecast_id),
            actual REAL NOT NULL,
            error REAL NOT NULL,
            naive_error REAL NOT NULL,
            direction_hit INTEGER CHECK (direction_hit IN (0, 1)),
            restated INTEGER NOT NULL DEFAULT 0 CHECK (restated IN (0, 1)),
            run_id INTEGER NOT NULL REFERENCES runs (run_id)
        ) STRICT""",
        """CREATE TABLE events (
            event_id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs (run_id),
            ticker TEXT,
            model TEXT,
            kind TEXT NOT NULL,
            message TEXT NOT NULL
        ) STRICT""",
        """CREATE VIEW scored_forecasts AS
            SELECT f.ticker, f.model, f.version_id, f.as_of, f.horizon, f.target_date,
                   f.forecast, f.last_price, s.actual, s.error, s.naive_error,
                   s.direction_hit, s.restated
            FROM forecasts AS f JOIN scores AS s USING (forecast_id)""",
    ),
    (  # 1 -> 2: prediction intervals
        "ALTER TABLE forecasts ADD COLUMN interval_method TEXT "
        "CHECK (interval_method IN ('aci', 'conformal', 'model'))",
        "ALTER TABLE forecasts ADD COLUMN interval_level REAL "
        "CHECK (interval_level > 0 AND interval_level < 1)",
        """CREATE TABLE calibration_errors (
            ticker TEXT NOT NULL,
            model TEXT NOT NULL,
            spec_hash TEXT NOT NULL,
            as_of TEXT NOT NULL,
            horizon INTEGER NOT NULL CHECK (horizon >= 1),
            origin TEXT NOT NULL,
            target_date TEXT NOT NULL CHECK (target_date <= as_of),
            log_error REAL NOT NULL,
            run_id INTEGER NOT NULL REFERENCES runs (run_id),
            PRIMARY KEY (ticker, model, spec_hash, as_of, horizon, origin)
        ) STRICT""",
        "DROP VIEW scored_forecasts",
        """CREATE VIEW scored_forecasts AS
            SELECT f.ticker, f.model, f.version_id, f.as_of, f.horizon, f.target_date,
                   f.forecast, f.last_price, s.actual, s.error, s.naive_error,
                   s.direction_hit, s.restated, f.lower, f.upper, f.interval_method,
                   f.interval_level
            FROM forecasts AS f JOIN scores AS s USING (forecast_id)""",
    ),
    (  # 2 -> 3: volatility-scaled intervals, their sigma and regime, the interval state
        "ALTER TABLE forecasts ADD COLUMN interval_scale TEXT "
        "CHECK (interval_scale IN ('ewma', 'garch'))",
        "ALTER TABLE forecasts ADD COLUMN sigma REAL CHECK (sigma > 0)",
        "ALTER TABLE forecasts ADD COLUMN vol_regime TEXT "
        "CHECK (vol_regime IN ('calm', 'turbulent'))",
        "ALTER TABLE calibration_errors ADD COLUMN scale TEXT CHECK (scale IN ('ewma', 'garch'))",
        "ALTER TABLE calibration_errors ADD COLUMN sigma REAL CHECK (sigma > 0)",
        """CREATE TABLE interval_state (
            ticker TEXT NOT NULL,
            model TEXT NOT NULL,
            spec_hash TEXT NOT NULL,
            horizon INTEGER NOT NULL CHECK (horizon >= 1),
            as_of TEXT NOT NULL,
            method TEXT NOT NULL CHECK (method IN ('aci', 'conformal')),
            scale TEXT CHECK (scale IN ('ewma', 'garch')),
            level REAL NOT NULL CHECK (level > 0 AND level < 1),
            gamma REAL NOT NULL,
            window_size INTEGER NOT NULL CHECK (window_size >= 1),
            alpha REAL NOT NULL,
            scores TEXT NOT NULL,
            last_origin TEXT,
            run_id INTEGER NOT NULL REFERENCES runs (run_id),
            PRIMARY KEY (ticker, model, spec_hash, horizon, as_of)
        ) STRICT""",
        "DROP VIEW scored_forecasts",
        """CREATE VIEW scored_forecasts AS
            SELECT f.ticker, f.model, f.version_id, f.as_of, f.horizon, f.target_date,
                   f.forecast, f.last_price, s.actual, s.error, s.naive_error,
                   s.direction_hit, s.restated, f.lower, f.upper, f.interval_method,
                   f.interval_level, f.interval_scale, f.sigma, f.vol_regime
            FROM forecasts AS f JOIN scores AS s USING (forecast_id)""",
    ),
    (  # 3 -> 4: each store its own models folder; a store that has model files keeps its own
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT",
        "INSERT INTO settings (key, value) SELECT 'models_dir', 'models' "
        "WHERE EXISTS (SELECT 1 FROM model_versions)",
    ),
    (  # 4 -> 5: volatility and Value-at-Risk forecasts (every existing row kept)
        "ALTER TABLE model_versions ADD COLUMN target TEXT NOT NULL DEFAULT 'price' "
        "CHECK (target IN ('price', 'volatility'))",
        """CREATE TABLE volatility_forecasts (
            vforecast_id INTEGER PRIMARY KEY,
            ticker TEXT NOT NULL,
            model TEXT NOT NULL,
            version_id INTEGER NOT NULL REFERENCES model_versions (version_id),
            as_of TEXT NOT NULL,
            horizon INTEGER NOT NULL CHECK (horizon >= 1),
            target_date TEXT NOT NULL,
            variance REAL NOT NULL CHECK (variance > 0),
            proxy TEXT NOT NULL,
            var_1 REAL NOT NULL,
            var_5 REAL NOT NULL,
            var_1_t REAL NOT NULL,
            var_5_t REAL NOT NULL,
            t_dof REAL NOT NULL,
            last_price REAL NOT NULL,
            data_hash TEXT NOT NULL,
            run_id INTEGER NOT NULL REFERENCES runs (run_id),
            UNIQUE (ticker, model, as_of, horizon)
        ) STRICT""",
        "CREATE INDEX volatility_by_target ON volatility_forecasts (ticker, target_date)",
        """CREATE TABLE volatility_scores (
            vforecast_id INTEGER PRIMARY KEY REFERENCES volatility_forecasts (vforecast_id),
            realized REAL NOT NULL CHECK (realized >= 0),
            log_return REAL NOT NULL,
            qlike REAL,
            squared_error REAL NOT NULL,
            hit_1 INTEGER NOT NULL CHECK (hit_1 IN (0, 1)),
            hit_5 INTEGER NOT NULL CHECK (hit_5 IN (0, 1)),
            hit_1_t INTEGER NOT NULL CHECK (hit_1_t IN (0, 1)),
            hit_5_t INTEGER NOT NULL CHECK (hit_5_t IN (0, 1)),
            run_id INTEGER NOT NULL REFERENCES runs (run_id)
        ) STRICT""",
    ),
    (  # 5 -> 6: the live scorecard and its confidence sequences, stored by the job
        """CREATE TABLE live_scorecard (
            ticker TEXT NOT NULL,
            model TEXT NOT NULL,
            horizon INTEGER NOT NULL CHECK (horizon >= 1),
            n INTEGER NOT NULL,
            pending INTEGER NOT NULL,
            mae REAL,
            rmse REAL,
            rel_mae REAL,
            hit_rate REAL,
            n_intervals INTEGER NOT NULL,
            level REAL,
            coverage REAL,
            width REAL,
            n_calm INTEGER NOT NULL,
            coverage_calm REAL,
            n_turbulent INTEGER NOT NULL,
            coverage_turbulent REAL,
            first_target TEXT,
            last_target TEXT,
            next_target TEXT,
            n_diff INTEGER NOT NULL,
            mean_diff REAL,
            diff_lower REAL,
            diff_upper REAL,
            status TEXT NOT NULL CHECK (status IN ('better', 'worse', 'undecided')),
            decided_on TEXT,
            n_hits INTEGER NOT NULL,
            cs_coverage REAL,
            coverage_lower REAL,
            coverage_upper REAL,
            coverage_status TEXT NOT NULL CHECK (coverage_status IN ('in band', 'below', 'above')),
            coverage_decided_on TEXT,
            previous_status TEXT,
            previous_coverage_status TEXT,
            PRIMARY KEY (ticker, model, horizon)
        ) STRICT""",
        """CREATE TABLE live_scorecard_state (
            computed_id INTEGER PRIMARY KEY,
            run_id INTEGER REFERENCES runs (run_id),
            computed_at TEXT NOT NULL,
            max_forecast_id INTEGER NOT NULL,
            n_scores INTEGER NOT NULL,
            n_rows INTEGER NOT NULL,
            seconds REAL NOT NULL
        ) STRICT""",
    ),
)
assert len(MIGRATIONS) == SCHEMA_VERSION
