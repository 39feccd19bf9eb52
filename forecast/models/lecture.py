"""The lecture's own RNN cell as two forecasters: the next returns, and the direction.

The lecture this project grew from writes its first RNN by hand, and its cell is not the
``nn.RNN`` recurrence (:mod:`~forecast.models.elman`). One step of
:class:`~forecast.models.networks.LectureRNNCell`::

    combined = cat(x_t, h_{t-1})
    h_t = i2h(combined)          # Linear(input + hidden -> hidden), no nonlinearity
    y_t = i2o(combined)          # Linear(input + hidden -> output), from h_{t-1}
    y_t = LogSoftmax(y_t)        # the lecture classifies

Three differences from the Elman recurrence ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} +
b_hh)`` with a linear head on ``h_t``: the hidden update is linear unless
``hidden_activation="tanh"``; the output reads the previous hidden state and the current
input, not the new state; and the output is a classifier. With ``tanh`` on and the output
read from ``h_t`` it *is* the Elman recurrence (``tests/test_lecture.py`` checks this).

Without ``tanh``, the map from the window to the output is linear: ``h_{t-1}`` is a linear
filter of the past inputs, so :class:`LectureRNNForecaster` is a linear autoregression on the
last ``window`` returns, its coefficients parametrised as a state-space impulse response of
order ``hidden_size`` and fitted by Adam with early stopping rather than least squares.

Both forecasters share the recurrent forecasters' data flow, training loop, seeds, ensembles,
warm starts and model files (:class:`~forecast.models.neural.RecurrentForecaster`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd

from forecast.models.neural import RecurrentForecaster

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch

    from forecast.models.networks import LectureConfig, LectureNet

#: the hidden updates :class:`LectureRNNForecaster` offers: the lecture's linear one, or tanh
HIDDEN_ACTIVATIONS = (None, "tanh")


class LectureRNNForecaster(RecurrentForecaster):
    """The lecture's hand-written RNN cell, forecasting the next log-returns.

    Direct multi-output to ``max_horizon`` and recursive beyond, median price forecasts:
    the same data flow as :class:`~forecast.models.neural.RecurrentForecaster`, with the
    lecture's cell (see the module docstring) in place of a recurrent layer and head.

    Parameters
    ----------
    window
        Past log-returns the cell reads, one per step (at least 2).
    hidden_size
        Width of the hidden state ``h_t``.
    hidden_activation
        ``None``: ``h_t = i2h(combined)``, linear, as the lecture writes it. ``"tanh"``:
        ``h_t = tanh(i2h(combined))``.
    max_horizon, epochs, batch_size, lr, patience, grad_clip, n_models, warm_start, seed
        As :class:`~forecast.models.neural.RecurrentForecaster`. One layer, no dropout: the
        lecture's cell has neither.

    Fitted attributes: ``nets_`` (the trained :class:`~forecast.models.networks.LectureNet`
    list), ``mean_`` and ``scale_``, ``n_epochs_``, ``val_loss_``, ``warm_started_``.
    """

    name = "lecture_rnn"
    _shape_params = ("hidden_size", "max_horizon", "n_models")
    #: the :class:`~forecast.models.networks.LectureNet` head
    _head: ClassVar[str] = "regression"

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
    ):
        self.window = window
        self.hidden_size = hidden_size
        self.hidden_activation = hidden_activation
        self.max_horizon = max_horizon
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.grad_clip = grad_clip
        self.n_models = n_models
        self.warm_start = warm_start
        self.seed = seed

    def _new_net(self) -> LectureNet:
        from forecast.models.networks import LectureNet

        return LectureNet(self._net_config())

    def _net_config(self) -> LectureConfig:
        from forecast.models.networks import LectureConfig

        return LectureConfig(self.hidden_size, self.max_horizon, self.hidden_activation, self._head)

    def _check_params(self) -> None:
        if self.hidden_activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(
                f"hidden_activation must be None or 'tanh'; got {self.hidden_activation!r}"
            )
        self._check_training_params()


class LectureDirectionForecaster(LectureRNNForecaster):
    """The lecture's cell with its classifier: will the price be up or down at each horizon?

    ``i2o`` gives two logits per horizon ``k = 1..max_horizon``, a ``LogSoftmax`` turns them
    into ``log P(down), log P(up)`` of the cumulative move ``log p_{t+k} - log p_t`` from the
    origin, and the loss is the negative log-likelihood (the lecture's ``NLLLoss``). Windows
    whose price did not move at ``k`` are left out of the loss, as the hit rate leaves them
    out. :meth:`predict_proba` gives the probabilities.

    **The price forecast** from an origin is ``origin price * exp(m_k)`` with
    ``m_k = (2 P(up) - 1) a_k = P(up) a_k - P(down) a_k``, where ``a_k`` is the mean
    absolute ``k``-step log move of the training windows (``mean_abs_move_``): the expected
    move if up and down moves have the same mean size. So the sign of ``forecast - origin
    price`` is exactly the classifier's call, ``P(up) > 1/2``, and the engine's hit rate and
    Pesaran-Timmermann test, computed from that sign by the same code as for every other
    model, measure the classifier's calls and nothing else. With separate mean sizes of up
    and down moves (``P(up) u_k - P(down) d_k``) the call would flip at ``P(up) = d_k /
    (u_k + d_k)`` instead: the hit rate would mix the classifier with the asymmetry of the
    training data's moves (a classifier stuck at the base rate would call whichever side
    has the larger mean move). The full-size move of the predicted direction (``+-a_k``)
    would give the same signs and much larger price errors for a 51% call. The magnitude
    shrinks to zero as the classifier is unsure, so its price errors stay near the random
    walk's; its skill is in the direction columns.

    Beyond ``max_horizon`` the forecast continues recursively, as the other nets do: the
    expected one-step moves ``m_k - m_{k-1}`` are fed back as returns and the next block's
    moves add to ``m_{max_horizon}``.

    Parameters as :class:`LectureRNNForecaster`. Fitted attributes as it, plus
    ``mean_abs_move_`` (``a_k``, shape ``(max_horizon,)``).
    """

    name = "lecture_rnn_direction"
    _head = "direction"

    def predict_proba(self, history: pd.Series | None = None) -> pd.DataFrame:
        """``P(down)`` and ``P(up)`` of the move from the last price to each horizon.

        From the end of the training data, or of ``history`` (the prices up to a later
        origin); rows ``1..max_horizon`` (index ``horizon``), columns ``down, up``; the
        ensemble's mean probabilities.
        """
        y, _ = self._history(history)
        x = self._input_windows(y, np.array([len(y)]))
        up = self._up_probabilities(x)[0]
        index = pd.RangeIndex(1, self.max_horizon + 1, name="horizon")
        return pd.DataFrame({"down": 1.0 - up, "up": up}, index=index)

    def forecast_log_paths(self, y: np.ndarray, ends: np.ndarray, horizon: int) -> np.ndarray:
        """All origins at once: ``log p`` at the origin plus the expected moves ``m_k``."""
        self._check_fitted()
        ends = np.asarray(ends, dtype=np.int64)
        if not len(ends):
            return np.empty((0, horizon))
        moves = self._expected_moves(self._input_windows(y, ends), horizon)
        return y[ends - 1][:, None] + moves

    def _fit(self, y: np.ndarray) -> None:
        super()._fit(y)
        self.mean_abs_move_ = np.mean(np.abs(_moves_ahead(y, self.window, self.max_horizon)), 0)

    def _training_windows(self, y: np.ndarray, z: torch.Tensor) -> torch.Tensor:
        """Inputs ``(n, window)``, then the labels ``(n, max_horizon)``: 1 up, 0 down."""
        import torch

        from forecast.models.networks import NO_MOVE, make_windows

        moves = _moves_ahead(y, self.window, self.max_horizon)  # (n, max_horizon)
        labels = np.where(moves > 0, 1.0, np.where(moves < 0, 0.0, NO_MOVE))
        inputs = make_windows(z, self.window)[: len(moves)]  # (n, window)
        return torch.cat([inputs, torch.from_numpy(labels.astype(np.float32))], dim=1)

    def _loss(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        from forecast.models.networks import direction_nll

        return direction_nll

    def _up_probabilities(self, windows: np.ndarray | torch.Tensor) -> np.ndarray:
        """``P(up)`` ``(batch, max_horizon)`` from windows ``(batch, window)``, ensemble mean."""
        import torch

        from forecast.models.networks import torch_settings

        x = torch.as_tensor(windows)
        with torch_settings(), torch.inference_mode():
            log_probs = torch.stack([net(x) for net in self.nets_])  # (nets, batch, H, 2)
            return log_probs.exp().mean(0)[..., 1].numpy().astype(np.float64)

    def _expected_moves(self, windows: np.ndarray, horizon: int) -> np.ndarray:
        """Cumulative expected log moves ``(batch, horizon)`` from the origins."""
        import torch

        x, blocks = torch.from_numpy(windows), []
        offset = np.zeros(len(windows))  # the move already forecast, at the block's start
        while len(blocks) * self.max_horizon < horizon:
            up = self._up_probabilities(x)  # (batch, H)
            moves = offset[:, None] + (2.0 * up - 1.0) * self.mean_abs_move_  # (batch, H)
            blocks.append(moves)
            steps = np.diff(moves, axis=1, prepend=offset[:, None])  # one-step moves
            z = ((steps - self.mean_) / self.scale_).astype(np.float32)
            x = torch.cat([x, torch.from_numpy(z)], dim=1)[:, -self.window :]
            offset = moves[:, -1]
        return np.concatenate(blocks, axis=1)[:, :horizon]


def _moves_ahead(y: np.ndarray, window: int, max_horizon: int) -> np.ndarray:
    """``(n, max_horizon)``: row ``i`` holds ``y[i+window+k] - y[i+window]``, ``k = 1..H``.

    The log moves from the origin of training window ``i`` (whose inputs are the returns
    ``r[i:i+window]``, ending at the log price ``y[i+window]``); ``n = len(y) - window - H``.
    """
    ahead = np.lib.stride_tricks.sliding_window_view(y[window:], max_horizon + 1)
    return ahead[:, 1:] - ahead[:, :1]
