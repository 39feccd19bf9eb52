"""Store: the embedded SQLite database the job writes and the service reads.

Owns connecting, transactions and the writer (:mod:`~forecast.store.database`), the schema
and its migrations (:mod:`~forecast.store.schema`), the rows one ticker writes
(:mod:`~forecast.store.rows`), the live scorecard computed from the stored forecasts
(:mod:`~forecast.store.scorecard`) and, with its anytime-valid confidence sequences, stored by
the job and read back (:mod:`~forecast.store.live_compute`, :mod:`~forecast.store.live`,
:mod:`~forecast.store.live_table`), and the volatility tables' writer and the job's reads of
them (:mod:`~forecast.store.volatility`).

May import: ``forecast.evaluation`` and the bottom modules. Nothing here imports a model,
the engine, the data sources or torch.
"""
