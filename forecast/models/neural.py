"""RNN, LSTM and GRU forecasters on sliding windows of log-returns.

The data flow of one fit, with ``W = window`` and ``H = max_horizon``::

    log prices y (n,) -> returns r (n-1,) -> standardised z = (r - mean_) / scale_
        -> windows (n-W-H, W+H), a strided *view* of z: inputs z[i:i+W], targets z[i+W:i+W+H]
        -> the last 10% of windows (in time order) validate, the rest train
        -> RecurrentNet: (batch, W) -> rnn -> last hidden state -> linear head -> (batch, H)

A forecast from an origin feeds the last ``W`` standardised returns to the nets, averages
the ensemble, and un-standardises: the first ``H`` steps come out directly, further steps
recursively from the forecasts themselves. The log-price path is the last log price plus
the cumulative forecast returns, so no level can drift away from the data.

**Covariates** (``covariates=True``, registry names ``rnn+x``, ``lstm+x``...): each step of a
window carries, besides the return into session ``t``, the covariates of session ``t``
(:mod:`forecast.data.covariates`), each standardised by its own training mean and standard
deviation (the model's own series, past only: ``exog_mean_``, ``exog_scale_``). The windows
are then ``(n, 1 + k, W + H)``, still a strided view of one ``(n, 1 + k)`` array. A recursive
step beyond ``max_horizon`` has no covariates to read (they are not known at the origin), so
it feeds them at their training mean (0 once standardised).

Only :mod:`~forecast.models.networks` and :mod:`~forecast.models.elman` import torch at
their top, and this module imports them (and torch) only when a model fits, forecasts, saves
or loads: building a model costs no torch import, so a driver process that only builds the
models and sends them to worker processes never pays the ~3 s of CPU of importing torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from forecast.checks import check_int, check_number
from forecast.errors import DataError, ModelFitError
from forecast.models.base import BaseForecaster, returns_of
from forecast.models.ensemble import NetEnsemble

if TYPE_CHECKING:
    import torch
    from torch import nn

    from forecast.models.networks import NetConfig


class RecurrentForecaster(NetEnsemble, BaseForecaster):
    """A recurrent network on windows of past log-returns (the shared implementation).

    Use a registered subclass: :class:`RNNForecaster`, :class:`LSTMForecaster`,
    :class:`GRUForecaster` or :class:`ElmanForecaster` (and the lecture's cell in
    :mod:`~forecast.models.lecture`, which replaces the net, the targets and the loss through
    the hooks ``_new_net``, ``_training_windows`` and ``_loss``).

    Parameters
    ----------
    window
        Past log-returns the network reads (at least 2).
    hidden_size, num_layers
        Units per recurrent layer and stacked layers.
    dropout
        In ``[0, 1)``: between stacked layers and before the linear head, in training only.
    max_horizon
        Steps the network forecasts directly (multi-output); longer horizons continue
        recursively from its own forecasts.
    epochs, batch_size, lr
        Adam on the mean squared error of standardised returns.
    patience
        Early stopping: stop after this many epochs without improvement on the last 10% of
        the training windows, and restore the best weights. ``None`` turns it off (and every
        window trains).
    grad_clip
        Largest gradient norm (``None``: no clipping).
    n_models
        Ensemble size: nets with seeds ``seed .. seed + n_models - 1``, forecasts averaged.
    warm_start
        At a refit, start from the previous weights (when the architecture is unchanged).
    seed
        Seeds the initial weights, the dropout masks and the order of the windows. The same
        seed gives bit-identical forecasts on the same machine and library versions.
    covariates
        Read past covariates as extra input channels (see the module docstring).

    Fitted attributes: ``nets_`` (the trained :class:`RecurrentNet` list), ``mean_`` and
    ``scale_`` (of the training log-returns), ``n_epochs_`` and ``val_loss_`` (per net),
    ``warm_started_``; with covariates ``exog_mean_`` and ``exog_scale_``.
    """

    name = "recurrent"
    #: the recurrent layer: a ``torch.nn`` class name, or ``"elman"``
    cell: ClassVar[str] = "LSTM"

    def __init__(
        self,
        window: int = 30,
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.0,
        max_horizon: int = 5,
        epochs: int = 50,
        batch_size: int = 64,
        lr: float = 1e-3,
        patience: int | None = 5,
        grad_clip: float | None = 1.0,
        n_models: int = 1,
        warm_start: bool = False,
        seed: int = 0,
        covariates: bool = False,
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
        self.warm_start = warm_start
        self.seed = seed
        self.covariates = covariates

    # ---- the protocol -------------------------------------------------------------------
    def fit(self, series: pd.Series, exog: ArrayLike | None = None) -> RecurrentForecaster:
        """Fit on a price series (oldest first), with its past covariates ``exog`` when the
        model reads them; see :class:`RecurrentForecaster`."""
        self._check_params()
        return super().fit(series, exog)

    def min_train_size(self) -> int:
        # at least 10 windows, so that the validation tail holds one
        return self.window + self.max_horizon + 10

    def min_history_size(self) -> int:
        return self.window + 1

    def _fit(self, y: np.ndarray) -> None:
        import torch

        r = returns_of(y)
        mean, scale = _return_scaling(r, self.name)
        z = torch.from_numpy(((r - mean) / scale).astype(np.float32))  # (n-1,)
        self._train(self._training_windows(y, z), None)  # (n-W-H, W+H)
        self.mean_, self.scale_ = mean, scale

    def _fit_exog(self, y: np.ndarray, exog: np.ndarray) -> None:
        import torch

        from forecast.models.networks import make_windows

        r = returns_of(y)
        mean, scale = _return_scaling(r, self.name)
        x = exog[1:]  # row t's covariates go with the return into t: (n-1, k)
        self.exog_mean_, self.exog_scale_ = _exog_scaling(x)
        features = np.column_stack([(r - mean) / scale, (x - self.exog_mean_) / self.exog_scale_])
        f = torch.from_numpy(features.astype(np.float32))  # (n-1, 1+k)
        windows = make_windows(f, self.window + self.max_horizon)  # (n-W-H, 1+k, W+H), a view
        self._train(windows, channel_split(self.window))
        self.mean_, self.scale_ = mean, scale

    def _train(self, windows: object, split: Callable | None, n_val: int | None = None) -> None:
        """Train the ensemble on ``windows``, the last ``n_val`` validating (default: the
        last 10%, none without early stopping); sets ``nets_``."""
        previous = self._warm_nets()
        nets, epochs, losses = self._train_nets(windows, split, n_val, previous, self._loss())
        self.nets_ = nets
        self.n_epochs_, self.val_loss_ = epochs, losses
        self.warm_started_ = bool(previous)

    def forecast_log_paths(
        self, y: np.ndarray, ends: np.ndarray, horizon: int, exog: np.ndarray | None = None
    ) -> np.ndarray:
        """All origins in one forward pass; row ``i`` reads ``y[ends[i]-window-1:ends[i]]``
        (and the covariates ``exog[ends[i]-window:ends[i]]``)."""
        self._check_fitted()
        ends = np.asarray(ends, dtype=np.int64)
        if not len(ends):
            return np.empty((0, horizon))
        windows = self._input_windows(y, ends)
        if self.uses_exog:
            windows = self._with_covariates(windows, ends, exog)
        steps = self._forecast_standardised(windows, horizon)
        returns = steps.astype(np.float64) * self.scale_ + self.mean_
        return y[ends - 1][:, None] + np.cumsum(returns, axis=1)

    def _with_covariates(self, windows: np.ndarray, ends: np.ndarray, exog: object) -> np.ndarray:
        """``(origins, window, 1 + k)``: the returns' windows and the covariates of the same
        sessions (rows ``end-window .. end-1``), standardised as in training."""
        x = self._check_exog(exog, -1, "forecast exog")
        if len(x) < ends.max():
            raise DataError(
                f"exog must cover every origin: {len(x)} rows, origins up to {ends.max()}"
            )
        lo = int(ends.min()) - self.window
        xs = ((x[lo : ends.max()] - self.exog_mean_) / self.exog_scale_).astype(np.float32)
        xw = np.lib.stride_tricks.sliding_window_view(xs, self.window, axis=0)  # (m, k, W)
        xw = xw[ends - self.window - lo].transpose(0, 2, 1)  # (origins, W, k)
        return np.concatenate([windows[:, :, None], xw], axis=2)

    def _forecast(self, y: np.ndarray, horizon: int) -> np.ndarray:
        return self.forecast_log_paths(y, np.array([len(y)]), horizon)[0]

    def _input_windows(self, y: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """The standardised windows ``(origins, window)`` the nets read, from non-empty ``ends``."""
        if ends.min() < self.window + 1 or ends.max() > len(y):
            raise DataError(
                f"ends must lie in [{self.window + 1}, {len(y)}] for {self.name} with "
                f"window={self.window}; got {ends.min()}..{ends.max()}"
            )
        # y[:end] holds the returns r[:end-1], whose last window starts at end-1-window; the
        # earliest of those starts, lo, is where the reading begins
        lo = int(ends.min()) - 1 - self.window
        z = ((returns_of(y[lo : ends.max()]) - self.mean_) / self.scale_).astype(np.float32)
        return np.lib.stride_tricks.sliding_window_view(z, self.window)[ends - 1 - self.window - lo]

    def _forecast_standardised(
        self, windows: np.ndarray, horizon: int, series: int | None = None
    ) -> np.ndarray:
        """Standardised returns ``(batch, horizon)`` from windows ``(batch, window)`` or
        ``(batch, window, channels)``; ``series``: the series index of a global net."""
        import torch

        from forecast.models.networks import roll_forecast

        x = torch.from_numpy(np.ascontiguousarray(windows))
        args = () if series is None else (torch.full((len(x),), series, dtype=torch.int64),)
        return roll_forecast(self.nets_, x, horizon, self.window, *args).numpy()

    # ---- hooks for the variants (the lecture's cell, its direction head) ---------------
    def _training_windows(self, y: np.ndarray, z: torch.Tensor) -> torch.Tensor:
        """``(n, window + max_horizon)``: inputs, then the targets the loss compares with.

        Here the next ``max_horizon`` standardised returns: a strided view of ``z``, the
        standardised returns of the log prices ``y``.
        """
        from forecast.models.networks import make_windows

        return make_windows(z, self.window + self.max_horizon)

    def _loss(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """The training loss ``loss(net(inputs), targets)``: the mean squared error."""
        from torch.nn import functional as F

        return F.mse_loss

    # ---- helpers ------------------------------------------------------------------------
    def _net_config(self) -> NetConfig:
        from forecast.models.networks import NetConfig

        return NetConfig(
            self.cell, self.hidden_size, self.num_layers, float(self.dropout), self.max_horizon,
            self._input_size(),
        )  # fmt: skip

    def _input_size(self) -> int:
        """Channels per step: the return and, with covariates, each covariate."""
        return 1 + (len(self.exog_mean_) if self.uses_exog else 0)

    def _warm_nets(self) -> list[nn.Module] | None:
        """The previous nets when ``warm_start`` can continue from them, else ``None``."""
        nets = getattr(self, "nets_", None) if self.warm_start else None
        config = self._net_config()
        if nets and len(nets) == self.n_models and all(n.config == config for n in nets):
            return nets
        return None

    def _check_params(self) -> None:
        check_int(self.num_layers, "num_layers", 1, type_error=True)
        check_number(self.dropout, "dropout", 0, 1, include_low=True)
        self._check_training_params()

    def _check_training_params(self) -> None:
        """The parameters every variant has: sizes, training, ensemble, warm start, seed."""
        for name, minimum in (
            ("window", 2),
            ("hidden_size", 1),
            ("max_horizon", 1),
            ("epochs", 1),
            ("batch_size", 1),
            ("n_models", 1),
            ("seed", 0),
        ):
            check_int(getattr(self, name), name, minimum, type_error=True)
        if self.patience is not None:
            check_int(self.patience, "patience", 1, type_error=True)
        check_number(self.lr, "lr", 0)
        check_number(self.grad_clip, "grad_clip", 0, optional=True)
        for flag in ("warm_start", "covariates"):
            value = getattr(self, flag, False)
            if not isinstance(value, bool | np.bool_):
                raise TypeError(f"{flag} must be True or False; got {value!r}")


class RNNForecaster(RecurrentForecaster):
    """Vanilla tanh RNN (``torch.nn.RNN``); parameters as :class:`RecurrentForecaster`."""

    name = "rnn"
    cell = "RNN"


class LSTMForecaster(RecurrentForecaster):
    """LSTM (``torch.nn.LSTM``); parameters as :class:`RecurrentForecaster`."""

    name = "lstm"
    cell = "LSTM"


class GRUForecaster(RecurrentForecaster):
    """GRU (``torch.nn.GRU``); parameters as :class:`RecurrentForecaster`."""

    name = "gru"
    cell = "GRU"


class ElmanForecaster(RecurrentForecaster):
    """The vanilla RNN written out step by step (:class:`~forecast.models.elman.ElmanRNN`).

    Same model as :class:`RNNForecaster` (and the same initial weights for the same seed),
    slower: it exists to show what ``nn.RNN`` computes. Parameters as
    :class:`RecurrentForecaster`.
    """

    name = "elman"
    cell = "elman"


def channel_split(window: int) -> Callable:
    """The split of ``(batch, channels, window + H)`` windows: inputs ``(batch, window,
    channels)``, targets ``(batch, H)`` (the return channel after the window)."""

    def split(batch):
        return (batch[:, :, :window].transpose(1, 2),), batch[:, 0, window:]

    return split


def _return_scaling(r: np.ndarray, name: str) -> tuple[float, float]:
    """Mean and standard deviation of training returns; constant returns cannot be fitted."""
    scale = float(np.std(r))
    if scale < 1e-10:  # nothing to standardise by, nothing to learn
        raise ModelFitError(
            f"{name}: training log-returns are constant (std {scale:.1e}); nothing to fit"
        )
    return float(np.mean(r)), scale


def _exog_scaling(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column training mean and standard deviation (1 for a constant column)."""
    mean, scale = x.mean(axis=0), x.std(axis=0)
    return mean, np.where(scale > 1e-12, scale, 1.0)
