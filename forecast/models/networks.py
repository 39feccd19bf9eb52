"""The recurrent network and its training loop: plain PyTorch, no forecasting protocol.

:class:`RecurrentNet` maps windows of standardised returns ``(batch, window)`` to the next
``max_horizon`` returns ``(batch, max_horizon)``: a recurrent layer stack (``nn.RNN``,
``nn.LSTM``, ``nn.GRU`` or the hand-written :class:`~forecast.models.elman.ElmanRNN`), its
last hidden state, a linear head. :func:`train_net` is the whole training loop: Adam on the
mean squared error, gradient clipping, early stopping on the most recent windows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from forecast.models.elman import ElmanRNN


@dataclass(frozen=True)
class NetConfig:
    """Shape of a :class:`RecurrentNet`; the forecaster builds it from its parameters."""

    cell: str  # "RNN", "LSTM", "GRU" (torch.nn) or "elman" (the hand-written ElmanRNN)
    hidden_size: int
    num_layers: int
    dropout: float
    max_horizon: int  # outputs: the next max_horizon standardised returns


class RecurrentNet(nn.Module):
    """A recurrent layer stack over one input feature, and a linear head on its last state.

    ``dropout`` acts between stacked layers (as in ``nn.RNN``) and on the last hidden state
    before the head, so that it also regularises a one-layer network.
    """

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        between = config.dropout if config.num_layers > 1 else 0.0  # torch warns otherwise
        if config.cell == "elman":
            self.rnn = ElmanRNN(1, config.hidden_size, config.num_layers, between)
        else:
            rnn_class = getattr(nn, config.cell)
            self.rnn = rnn_class(
                1, config.hidden_size, config.num_layers, batch_first=True, dropout=between
            )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.max_horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map windows ``(batch, window)`` to the next returns ``(batch, max_horizon)``."""
        out, _ = self.rnn(x.unsqueeze(-1))  # (batch, window, hidden)
        return self.head(self.drop(out[:, -1]))  # (batch, max_horizon)


@dataclass(frozen=True)
class TrainConfig:
    """How :func:`train_net` trains: see :class:`RecurrentForecaster` for each field."""

    epochs: int
    batch_size: int
    lr: float
    patience: int | None
    grad_clip: float | None


def make_windows(z: torch.Tensor, width: int) -> torch.Tensor:
    """Every run of ``width`` consecutive values of ``z``, oldest first.

    A strided view that shares ``z``'s memory: shape ``(len(z) - width + 1, width)`` costs
    nothing beyond ``z`` itself. Indexing it with a batch of rows copies that batch only.
    """
    return z.unfold(0, width, 1)


def train_net(
    net: RecurrentNet,
    windows: torch.Tensor,
    n_val: int,
    config: TrainConfig,
    generator: torch.Generator,
    evaluate_start: bool = False,
) -> tuple[int, float | None]:
    """Train ``net`` in place: Adam on the mean squared error, clipping, early stopping.

    Parameters
    ----------
    net
        The network to train (in place).
    windows
        ``(n, window + max_horizon)``, oldest first: inputs, then targets, standardised.
    n_val
        The last ``n_val`` windows validate (0: no early stopping, all windows train). They
        are never shuffled into the training batches.
    config
        Epochs, batch size, learning rate, patience and clipping.
    generator
        Draws the order of the training windows in each epoch.
    evaluate_start
        Count the starting weights as a candidate for the best (a warm start). A random
        initialisation is no sensible forecaster and is not one.

    Returns
    -------
    epochs, val_loss
        Epochs run and the best validation loss (``None`` without validation); the weights
        of the best epoch are restored.
    """
    width = windows.shape[1] - net.config.max_horizon
    n_train = len(windows) - n_val
    val = windows[n_train:]  # (n_val, window + max_horizon)
    params = list(net.parameters())
    optimizer = torch.optim.Adam(params, lr=config.lr)
    best_loss, best_state, stale = math.inf, None, 0
    if n_val and evaluate_start:
        best_loss, best_state = _mse(net, val, width), _copy_state(net)
    epoch = 0
    for epoch in range(1, config.epochs + 1):  # noqa: B007 (the count is returned)
        net.train()
        for idx in torch.randperm(n_train, generator=generator).split(config.batch_size):
            batch = windows[idx]  # (batch, window + max_horizon)
            loss = F.mse_loss(net(batch[:, :width]), batch[:, width:])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None:
                nn.utils.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()
        if not n_val:
            continue
        val_loss = _mse(net, val, width)
        if val_loss < best_loss:
            best_loss, best_state, stale = val_loss, _copy_state(net), 0
        else:
            stale += 1
            if config.patience is not None and stale >= config.patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return epoch, (best_loss if n_val else None)


def _mse(net: RecurrentNet, windows: torch.Tensor, width: int) -> float:
    net.eval()
    with torch.no_grad():
        return F.mse_loss(net(windows[:, :width]), windows[:, width:]).item()


def _copy_state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


@contextmanager
def torch_settings() -> Iterator[None]:
    """One intra-op thread and deterministic kernels for the duration, then the caller's.

    These networks are small (a few thousand weights, batches of 64): every op is too short
    to pay for a thread hand-off. Measured on 2 cores, one thread trains 2 to 10 times
    faster than two (and far faster when another process holds the second core), and never
    more threads than cores are spawned. Deterministic mode also fills every new tensor
    with NaN, a check for reads of uninitialised memory that no op here makes; it cost 7%
    of the training time, so it is off. The switches cost microseconds.
    """
    fill = torch.utils.deterministic.fill_uninitialized_memory
    threads = torch.get_num_threads()
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = fill
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
        torch.set_num_threads(threads)
