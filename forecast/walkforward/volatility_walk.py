"""One walk of volatility models through the origins of one price frame.

:func:`run_volatility_series` is the unit of work the volatility engine
(:mod:`forecast.walkforward.volatility`) hands to an executor: for each model it refits at the
first origin and every ``refit_every`` origins after, on the prices up to that origin (the
last ``train_size`` of them if set), and forecasts every origin of the fold in one batched
call on the data up to the fold's last origin (nothing later exists for the model; inside the
call each origin reads its own prefix, which the models' leakage tests enforce). The semantics
of origins, refits and train size are the price engine's (:mod:`forecast.walkforward.engine`).

Each origin ``o`` and horizon ``h`` (kept when ``o + h`` is inside the data) gives one row: the
``h``-day variance forecast (the sum of the daily ones), the realised proxy of days
``o+1 .. o+h`` (the target), the ``h``-day log return, and Value-at-Risk at 1% and 5% from the
forecast (normal and Student-t quantiles; see
:mod:`forecast.models.volatility.value_at_risk`). The target's proxy is chosen once per
series (``"auto"``: Yang-Zhang with open, high and low, squared returns with the close only)
and models whose own ``proxy`` parameter is ``"auto"`` model the same one, so that every model
and the naive benchmark are compared on one target.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone

from forecast.checks import check_int, check_number
from forecast.models.volatility.base import BaseVolatilityModel
from forecast.models.volatility.realized import (
    PROXIES,
    LogOHLC,
    choose_proxy,
    daily_variance,
    horizon_returns,
    log_ohlc,
    realized_variance,
)
from forecast.models.volatility.value_at_risk import VAR_LEVELS, value_at_risk
from forecast.walkforward.config import check_walk
from forecast.walkforward.walk import SeriesPart, empty_table, walk_forward_origins

#: columns of the volatility forecasts table, in order
VOLATILITY_COLUMNS = [
    "series",
    "model",
    "origin",
    "horizon",
    "target_date",
    "variance_forecast",
    "realized",
    "proxy",
    "return",
    "var_1",
    "var_5",
    "var_1_t",
    "var_5_t",
    "t_dof",
]
#: the proxies the walk accepts (``auto``: the best the data allow)
PROXY_CHOICES = ("auto", *PROXIES)


@dataclass(frozen=True)
class VolatilityConfig:
    """Settings of a volatility backtest (validated on construction).

    ``horizons``, ``test_size``, ``refit_every``, ``train_size`` and ``seed`` as the price
    engine's; ``proxy`` the target's variance proxy (:data:`PROXY_CHOICES`); ``alpha``,
    ``mcs_size`` and ``reps`` the StepM level, the model confidence set's size and the
    bootstrap replications of :mod:`forecast.evaluation.volatility_verdicts`.
    """

    horizons: tuple[int, ...] = (1, 5)
    test_size: int = 250
    refit_every: int = 20
    train_size: int | None = None
    proxy: str = "auto"
    seed: int | None = None
    alpha: float = 0.05
    mcs_size: float = 0.10
    reps: int = 1000

    def __post_init__(self) -> None:
        check_walk(self)
        if self.proxy not in PROXY_CHOICES:
            raise ValueError(f"proxy must be one of {', '.join(PROXY_CHOICES)}; got {self.proxy!r}")
        check_number(self.alpha, "alpha", 0, 1)
        check_number(self.mcs_size, "mcs_size", 0, 1)
        check_int(self.reps, "reps", 1)


def run_volatility_series(
    name: str,
    frame: pd.DataFrame | pd.Series,
    templates: Mapping[str, BaseVolatilityModel],
    config: VolatilityConfig,
    bar: object | None = None,
) -> SeriesPart:
    """Backtest every volatility model on one price frame (a task of the engine)."""
    data = log_ohlc(frame, name)
    origins = walk_forward_origins(len(data), config.test_size)
    target = choose_proxy(data, config.proxy)
    targets = _Targets(data, target, config.horizons)
    frames, failures, timings = [], [], []
    for model_name, template in templates.items():
        model = clone(template)
        if model.get_params().get("proxy") == "auto":
            model.set_params(proxy=target)
        walked = _walk(model, model_name, name, frame, data, targets, origins, config, bar)
        frames += walked["frames"]
        failures += walked["failures"]
        timings.append({"series": name, "model": model_name, **walked["timing"]})
    table = pd.concat(frames, ignore_index=True) if frames else empty_table(VOLATILITY_COLUMNS)
    return SeriesPart(
        table[VOLATILITY_COLUMNS], failures, timings, series_facts(name, frame, config)
    )


class _Targets:
    """What every model's rows share: the realised proxy and returns of each horizon."""

    def __init__(self, data: LogOHLC, proxy: str, horizons: tuple[int, ...]):
        daily = daily_variance(data, proxy)
        self.proxy = proxy
        self.realized = {h: realized_variance(daily, h) for h in horizons}
        self.returns = {h: horizon_returns(data.close, h) for h in horizons}


def _walk(model, model_name, name, frame, data, targets, origins, config, bar) -> dict:
    """Fit and forecast one model over ``origins`` in folds of ``refit_every``."""
    n, h_max = len(data), max(config.horizons)
    out = {"frames": [], "failures": []}
    fit_s = predict_s = 0.0
    n_fits = n_failed = 0
    for start in range(0, len(origins), config.refit_every):
        fold = origins[start : start + config.refit_every]
        if bar is not None:
            bar.set_description(f"{name} {model_name} fold {start // config.refit_every + 1}")
        first = int(fold[0])
        lo = 0 if config.train_size is None else max(0, first + 1 - config.train_size)
        stage = "fit"
        try:
            t0 = time.perf_counter()
            model.fit(frame.iloc[lo : first + 1])
            fit_s += time.perf_counter() - t0
            n_fits += 1
            stage, t0 = "predict", time.perf_counter()
            var = model.forecast_variances(data.head(int(fold[-1]) + 1), fold + 1, h_max)
            _check_variances(var, len(fold), h_max)
            dof = float(model.t_dof())
            predict_s += time.perf_counter() - t0
        except Exception as exc:  # a failing fold never stops the walk or the other models
            n_failed += 1
            out["failures"].append(
                {
                    "series": name,
                    "model": model_name,
                    "origin": _date(frame.index[first]),
                    "stage": stage,
                    "error": f"{type(exc).__name__}: {exc}",
                }
            )
        else:
            out["frames"] += _rows(name, model_name, frame.index, n, fold, var, dof, targets)
        if bar is not None:
            bar.update(1)
    out["timing"] = {
        "fit_seconds": fit_s,
        "predict_seconds": predict_s,
        "n_fits": n_fits,
        "n_failed": n_failed,
    }
    return out


def _rows(name, model_name, dates, n, fold, var, dof, targets) -> list[pd.DataFrame]:
    summed = np.cumsum(var, axis=1)
    parts = []
    for h in sorted(targets.realized):
        keep = fold + h <= n - 1
        o, f = fold[keep], summed[keep, h - 1]
        if not len(o):
            continue
        part = {
            "series": name,
            "model": model_name,
            "origin": dates[o],
            "horizon": h,
            "target_date": dates[o + h],
            "variance_forecast": f,
            "realized": targets.realized[h][o],
            "proxy": targets.proxy,
            "return": targets.returns[h][o],
        }
        for alpha in VAR_LEVELS:
            col = f"var_{round(alpha * 100)}"
            part[col] = value_at_risk(f, alpha)
            part[f"{col}_t"] = value_at_risk(f, alpha, "t", dof)
        part["t_dof"] = dof
        parts.append(pd.DataFrame(part))
    return parts


def _check_variances(var: np.ndarray, n_origins: int, horizon: int) -> None:
    var = np.asarray(var)
    if var.shape != (n_origins, horizon):
        raise ValueError(
            f"forecast_variances returned shape {var.shape}; expected {(n_origins, horizon)}"
        )
    bad = ~(np.isfinite(var) & (var > 0))
    if bad.any():
        raise FloatingPointError(f"{int(bad.sum())} variance forecasts are not positive finite")


def series_facts(name: str, frame: pd.DataFrame | pd.Series, config: VolatilityConfig) -> dict:
    """One row of the run's series table: dates, rows, hash, source, proxy and range."""
    data = log_ohlc(frame, name)
    origins = walk_forward_origins(len(data), config.test_size)
    attrs = frame.attrs
    return {
        "series": name,
        "first_date": _date(frame.index[0]),
        "last_date": _date(frame.index[-1]),
        "n": len(frame),
        "content_hash": attrs.get("content_hash") or _hash(frame),
        "source": attrs.get("source", "memory"),
        "test_start": _date(frame.index[origins[0] + 1]),
        "proxy": choose_proxy(data, config.proxy),
        "range": data.has_range,
        "range_note": "" if data.has_range else attrs.get("range_note") or "close prices only",
    }


def _hash(frame: pd.DataFrame | pd.Series) -> str:
    from forecast.data.ohlc import frame_hash

    return frame_hash(frame.to_frame() if isinstance(frame, pd.Series) else frame)


def _date(value: object) -> str:
    return value.strftime("%Y-%m-%d") if hasattr(value, "strftime") else str(value)
