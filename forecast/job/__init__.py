"""Job: the scheduled evening forecast behind ``forecast run``.

Owns the driver (:mod:`~forecast.job.runner`: ``run_job``), its config
(:mod:`~forecast.job.config`), one ticker's pure work (:mod:`~forecast.job.ticker`), its
prediction intervals from past errors (:mod:`~forecast.job.intervals`), the run lock
(:mod:`~forecast.job.lock`), the run summary and exit codes (:mod:`~forecast.job.summary`) and
the versioned model files (:mod:`~forecast.job.modelfiles`), and the volatility forecasts
(:mod:`~forecast.job.volatility`, :mod:`~forecast.job.volatility_settings`).

May import: ``forecast.store``, ``forecast.walkforward``, ``forecast.models``,
``forecast.evaluation``, ``forecast.execution``, ``forecast.data`` and the bottom modules.
Not the service, the report or the command line.
"""
