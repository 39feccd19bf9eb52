"""LSTM and GRU on windows of the log daily variance proxy (log range or log squared return).

The data flow of one fit, with ``W = window`` and ``H = max_horizon``::

    daily proxy RV (n-1,) -> x = log max(RV, floor_) -> z = (x - mean_) / scale_
        -> windows (n-W-H, W+H), a strided view of z: inputs z[i:i+W], targets z[i+W:i+W+H]
        -> the last 10% of windows (in time order) validate, the rest train
        -> RecurrentNet (forecast.models.networks): (batch, W) -> (batch, H)

The nets are trained on the mean squared error of the standardised logs, so they forecast
``E[log RV]``; the variance of step ``k`` is ``exp(mean_ + scale_ * zhat_k) * correction_k``,
with Duan's (1983) smearing factor ``correction_k = mean(RV_{t+k} / exp(xhat_{t,k}))`` over
every training window (see :mod:`~forecast.models.volatility.har`). Steps past ``H``
continue recursively from the nets' own outputs and reuse the last factor.

torch is imported only inside fit, forecast, save and load, like the price nets.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from forecast.errors import ModelFitError
from forecast.models.ensemble import NetEnsemble
from forecast.models.volatility.base import (
    FLOOR_FRACTION,
    BaseVolatilityModel,
    check_positive_int,
    floored_log,
)
from forecast.models.volatility.realized import LogOHLC, choose_proxy

if TYPE_CHECKING:
    from forecast.models.networks import NetConfig


class RecurrentVolatility(NetEnsemble, BaseVolatilityModel):
    """A recurrent net on windows of the log daily variance proxy (the shared code).

    Use :class:`LSTMVolatility` or :class:`GRUVolatility`.

    Parameters
    ----------
    window
        Past days the net reads (at least 2).
    hidden_size, num_layers, dropout
        The recurrent stack (``dropout`` in ``[0, 1)``, in training only).
    max_horizon
        Steps forecast directly; further steps recursively.
    epochs, batch_size, lr, patience, grad_clip
        Adam on the mean squared error; early stopping on the last 10% of the windows after
        ``patience`` epochs without improvement (``None``: off); gradient norm clipping
        (``None``: off).
    n_models
        Ensemble size: nets seeded ``seed .. seed + n_models - 1``, outputs averaged.
    proxy
        The daily proxy read (``"auto"``: Yang-Zhang with a range, squared returns
        otherwise).
    seed
        Seeds the initial weights, dropout masks and window order: the same seed gives
        bit-identical forecasts on the same machine and library versions.

    Notes
    -----
    Fitted: ``nets_`` (in the weights file), ``proxy_``, ``floor_``, ``mean_``, ``scale_``,
    ``correction_`` (per step), ``n_epochs_`` and ``val_loss_`` (per net).
    """

    name = "recurrent"
    cell: ClassVar[str] = "LSTM"

    def __init__(
        self,
        window: int = 22,
        hidden_size: int = 16,
        num_layers: int = 1,
        dropout: float = 0.0,
        max_horizon: int = 5,
        epochs: int = 30,
        batch_size: int = 64,
        lr: float = 1e-3,
        patience: int | None = 5,
        grad_clip: float | None = 1.0,
        n_models: int = 1,
        proxy: str = "auto",
        seed: int = 0,
    ):
        self.window = window
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.max_horizon = max_horizon
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.grad_clip = grad_clip
        self.n_models = n_models
        self.proxy = proxy
        self.seed = seed

    def _check_params(self) -> None:
        for name, minimum in (
            ("window", 2),
            ("hidden_size", 1),
            ("num_layers", 1),
            ("max_horizon", 1),
            ("epochs", 1),
            ("batch_size", 1),
            ("n_models", 1),
            ("seed", 0),
        ):
            check_positive_int(getattr(self, name), name, minimum)
        if self.patience is not None:
            check_positive_int(self.patience, "patience")
        _check_number(self.dropout, "dropout", lambda v: 0 <= v < 1, "in [0, 1)")
        _check_number(self.lr, "lr", lambda v: v > 0, "> 0")
        if self.grad_clip is not None:
            _check_number(self.grad_clip, "grad_clip", lambda v: v > 0, "> 0 or None")

    def min_train_size(self) -> int:
        return self.window + self.max_horizon + 11  # at least 10 windows

    def min_history_size(self) -> int:
        return self.window + 1

    # ---- fitting ------------------------------------------------------------------------
    def _fit(self, data: LogOHLC) -> None:
        import torch

        from forecast.models.networks import make_windows

        self.proxy_ = choose_proxy(data, self.proxy)
        daily = self._daily(data)
        floor = FLOOR_FRACTION * float(np.mean(daily))
        x = floored_log(daily, floor)
        scale = float(np.std(x))
        if not floor > 0 or scale < 1e-10:
            raise ModelFitError(f"{self.name}: the training {self.proxy_} proxy is constant")
        mean = float(np.mean(x))
        z = torch.from_numpy(((x - mean) / scale).astype(np.float32))  # (n-1,)
        windows = make_windows(z, self.window + self.max_horizon)  # a view of z
        nets, epochs, losses = self._train_nets(windows)
        self.nets_ = nets
        self.floor_, self.mean_, self.scale_ = floor, mean, scale
        self.n_epochs_, self.val_loss_ = epochs, losses
        # smearing: the proxy over the exp of the fitted log, per step, on every window
        inputs = windows[:, : self.window].numpy()
        fitted = self._log_forecasts(inputs, self.max_horizon)  # (n_windows, H)
        targets = np.lib.stride_tricks.sliding_window_view(daily, self.max_horizon)
        targets = targets[self.window : self.window + len(inputs)]
        self.correction_ = np.mean(targets / np.exp(fitted), axis=0)

    # ---- forecasting --------------------------------------------------------------------
    def _variances(self, data: LogOHLC, ends: np.ndarray, horizon: int) -> np.ndarray:
        x = floored_log(self._daily(data), self.floor_)
        z = ((x - self.mean_) / self.scale_).astype(np.float32)
        # y[:end] holds proxies x[:end-1]; the origin's window is x[end-1-window : end-1]
        view = np.lib.stride_tricks.sliding_window_view(z, self.window)
        logs = self._log_forecasts(np.ascontiguousarray(view[ends - 1 - self.window]), horizon)
        steps = np.minimum(np.arange(horizon), self.max_horizon - 1)
        return np.exp(logs) * np.asarray(self.correction_)[steps][None, :]

    def _log_forecasts(self, windows: np.ndarray, horizon: int) -> np.ndarray:
        """Forecast ``log RV`` of steps ``1..horizon`` from standardised windows."""
        import torch

        from forecast.models.networks import roll_forecast

        out = roll_forecast(self.nets_, torch.from_numpy(windows), horizon, self.window)
        z = out.numpy().astype(np.float64)
        return self.mean_ + self.scale_ * z

    def _net_config(self) -> NetConfig:
        from forecast.models.networks import NetConfig

        return NetConfig(
            self.cell, self.hidden_size, self.num_layers, float(self.dropout), self.max_horizon
        )


class LSTMVolatility(RecurrentVolatility):
    """LSTM on the log daily variance proxy; parameters as :class:`RecurrentVolatility`."""

    name = "lstm"
    cell = "LSTM"


class GRUVolatility(RecurrentVolatility):
    """GRU on the log daily variance proxy; parameters as :class:`RecurrentVolatility`."""

    name = "gru"
    cell = "GRU"


def _check_number(value: object, name: str, ok: Callable[[float], bool], rule: str) -> None:
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (real and np.isfinite(value) and ok(float(value))):
        raise ValueError(f"{name} must be a number {rule}; got {value!r}")
