"""Service: the read-only HTTP API over the store (``forecast serve``).

Owns the application and its routes (:mod:`~forecast.service.app`), the API's request and
response schemas (:mod:`~forecast.service.schemas`) and the read-only store queries
(:mod:`~forecast.service.queries`); ``GET /volatility/{ticker}``'s queries and schemas
(:mod:`~forecast.service.volatility`, :mod:`~forecast.service.volatility_schemas`).

May import: ``forecast.store``, ``forecast.evaluation``, ``forecast.data`` (ticker rules and
the calendar) and the bottom modules. Never torch, the models or the engine: the service
starts fast and reads only.
"""
