"""Data: where prices come from, and the one shape they leave in.

Owns loading (:mod:`~forecast.data.loading`: ``load_prices``), validated series and the
embedded data (:mod:`~forecast.data.series`), ticker symbols (:mod:`~forecast.data.tickers`),
where a ticker's prices come from (:mod:`~forecast.data.sources`: the cache, Yahoo Finance,
the embedded series), the price cache (:mod:`~forecast.data.cache`), the Yahoo client
(:mod:`~forecast.data.yahoo`, the only module that imports yfinance), normalising raw frames
(:mod:`~forecast.data.frames`), the exchange calendar (:mod:`~forecast.data.calendar`),
open/high/low/close frames for the volatility models (:mod:`~forecast.data.ohlc`:
``load_price_frame``), a universe of stocks aligned on that calendar
(:mod:`~forecast.data.universe`) and the past covariates built from a series' bars and the
market index (:mod:`~forecast.data.covariates`).

May import: ``forecast.errors``, ``forecast.checks``, ``forecast.version``. Nothing here
knows about models, backtests or the store.
"""
