"""Global RNN, LSTM, GRU and Elman nets: one network trained on the windows of many series.

The per-series nets of :mod:`~forecast.models.neural` learn from one stock's own past; a
global net (``global_rnn``, ``global_lstm``, ``global_gru``, ``global_elman``, and the
lecture's own cell as ``global_lecture_rnn``) learns one set
of weights from every series of a run at once, as Darts, neuralforecast and skforecast do,
and forecasts each series from its own recent window. What it shares with the per-series
nets: the network (:class:`~forecast.models.networks.RecurrentNet`), the training loop
(Adam, MSE, clipping, early stopping on the most recent 10% of windows), seeds, ensembles,
warm starts, model files, covariate channels (``covariates=True``, ``global_lstm+x``) and
the forecast's data flow. What differs (:mod:`~forecast.models.panel`):

- each series is standardised by its own training mean and scale (and each of its
  covariates by its own), fitted on the past only;
- the windows of all series are views into one panel of features, shuffled together;
- an optional learned **series embedding** (``embedding_dim > 0``): a vector per series
  appended to every step's input, so the net can tell the series apart. Without it the
  net cannot: it forecasts every series by one rule of their standardised pasts. A warm
  start keeps the embedding only when the fit has the same series in the same order.

Trained on 15 series for the same epochs, it does the same number of gradient steps as the
15 per-series nets together (the windows are the same), in one loop instead of 15
(``benchmarks/global_train.py`` measures the ratio).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from forecast.checks import check_int
from forecast.errors import ModelFitError
from forecast.models.ensemble import VALIDATION_FRACTION
from forecast.models.lecture import LectureRNNForecaster
from forecast.models.neural import RecurrentForecaster
from forecast.models.panel import GlobalForecaster, build_panel, standardise

if TYPE_CHECKING:
    from forecast.models.networks import NetConfig


class GlobalRecurrentForecaster(GlobalForecaster, RecurrentForecaster):
    """A recurrent net fitted on many series (see the module docstring).

    Parameters
    ----------
    window, hidden_size, num_layers, dropout, max_horizon, epochs, batch_size, lr, patience,
    grad_clip, n_models, warm_start, seed, covariates
        As :class:`~forecast.models.neural.RecurrentForecaster`; early stopping holds out the
        most recent 10% of each series' windows.
    embedding_dim
        Width of the learned series embedding; 0 (the default): none.

    Fitted attributes: ``nets_``, ``series_``, ``mean_``, ``scale_`` (per series), with
    covariates ``exog_mean_`` and ``exog_scale_`` (per series and covariate), ``n_inputs_``,
    ``n_epochs_``, ``val_loss_``, ``warm_started_``, ``skipped_``.
    """

    name = "global_recurrent"
    _shape_params = ("hidden_size", "num_layers", "max_horizon", "n_models", "embedding_dim")

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
        embedding_dim: int = 0,
    ):
        super().__init__(
            window, hidden_size, num_layers, dropout, max_horizon, epochs, batch_size, lr,
            patience, grad_clip, n_models, warm_start, seed, covariates,
        )  # fmt: skip
        self.embedding_dim = embedding_dim

    def _fit_panel(self, names: list[str], data: list[tuple], scalings: list[tuple]) -> None:
        import torch

        from forecast.models.networks import PanelWindows

        self._same_series = getattr(self, "series_", None) == names
        features = [standardise(y, x, sc) for (y, x), sc in zip(data, scalings, strict=True)]
        fraction = 0.0 if self.patience is None else VALIDATION_FRACTION
        panel = build_panel(features, self.window + self.max_horizon, fraction)
        if len(panel.starts) < self.min_windows():
            raise ModelFitError(f"{self.name}: {len(panel.starts)} training windows; need 10")
        self.n_inputs_ = int(features[0].shape[1])
        self.series_ = names
        windows = PanelWindows(
            torch.from_numpy(panel.features), torch.from_numpy(panel.starts),
            torch.from_numpy(panel.series), self.window, self.max_horizon,
        )  # fmt: skip
        self._train(windows, PanelWindows.split, panel.n_val)

    def _forecast_scaled(self, windows: np.ndarray, k: int, horizon: int) -> np.ndarray:
        return self._forecast_standardised(windows, horizon, series=k)

    def _net_config(self) -> NetConfig:
        from forecast.models.networks import NetConfig

        n_series = len(self.series_) if self.embedding_dim else 0
        return NetConfig(
            self.cell, self.hidden_size, self.num_layers, float(self.dropout), self.max_horizon,
            self.n_inputs_, n_series, int(self.embedding_dim),
        )  # fmt: skip

    def _warm_nets(self) -> list | None:
        nets = super()._warm_nets()
        if nets and self.embedding_dim and not getattr(self, "_same_series", False):
            return None  # the embedding's rows belong to other series
        return nets

    def _check_params(self) -> None:
        super()._check_params()
        check_int(self.embedding_dim, "embedding_dim", 0, type_error=True)


class GlobalLectureRNNForecaster(GlobalRecurrentForecaster):
    """The lecture's own cell (:class:`~forecast.models.lecture.LectureRNNForecaster`) as a
    global net: next returns, one layer, no dropout; see :class:`GlobalRecurrentForecaster`.

    Parameters as :class:`~forecast.models.lecture.LectureRNNForecaster`, plus
    ``covariates`` and ``embedding_dim``.
    """

    name = "global_lecture_rnn"
    _shape_params = ("hidden_size", "max_horizon", "n_models", "embedding_dim")

    def __init__(
        self,
        window: int = 30,
        hidden_size: int = 32,
        hidden_activation: str | None = None,
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
        embedding_dim: int = 0,
    ):
        LectureRNNForecaster.__init__(
            self, window, hidden_size, hidden_activation, max_horizon, epochs, batch_size, lr,
            patience, grad_clip, n_models, warm_start, seed,
        )  # fmt: skip
        self.covariates = covariates
        self.embedding_dim = embedding_dim

    _new_net = LectureRNNForecaster._new_net

    def _net_config(self):
        from forecast.models.networks import LectureConfig

        n_series = len(self.series_) if self.embedding_dim else 0
        return LectureConfig(
            self.hidden_size, self.max_horizon, self.hidden_activation, "regression",
            self.n_inputs_, n_series, int(self.embedding_dim),
        )  # fmt: skip

    def _check_params(self) -> None:
        LectureRNNForecaster._check_params(self)
        check_int(self.embedding_dim, "embedding_dim", 0, type_error=True)


class GlobalRNNForecaster(GlobalRecurrentForecaster):
    """Global vanilla tanh RNN (``torch.nn.RNN``); see :class:`GlobalRecurrentForecaster`."""

    name = "global_rnn"
    cell = "RNN"


class GlobalLSTMForecaster(GlobalRecurrentForecaster):
    """Global LSTM (``torch.nn.LSTM``); see :class:`GlobalRecurrentForecaster`."""

    name = "global_lstm"
    cell = "LSTM"


class GlobalGRUForecaster(GlobalRecurrentForecaster):
    """Global GRU (``torch.nn.GRU``); see :class:`GlobalRecurrentForecaster`."""

    name = "global_gru"
    cell = "GRU"


class GlobalElmanForecaster(GlobalRecurrentForecaster):
    """Global hand-written Elman RNN; see :class:`GlobalRecurrentForecaster`."""

    name = "global_elman"
    cell = "elman"
