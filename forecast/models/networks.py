"""The recurrent networks and their training loop: plain PyTorch, no forecasting protocol.

:class:`RecurrentNet` maps windows of standardised returns ``(batch, window)`` to the next
``max_horizon`` returns ``(batch, max_horizon)``: a recurrent layer stack (``nn.RNN``,
``nn.LSTM``, ``nn.GRU`` or the hand-written :class:`~forecast.models.elman.ElmanRNN`), its
last hidden state, a linear head. :class:`LectureNet` runs the lecture's own cell
(:class:`LectureRNNCell`, ``i2h`` / ``i2o`` on the concatenated input and hidden state) over
the window, with a regression or a direction (log-softmax) output. :func:`train_net` is the
whole training loop: Adam on the mean squared error (or another loss, such as
:func:`direction_nll`), gradient clipping, early stopping on the most recent windows.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from forecast.errors import ModelFileError
from forecast.models.compiled_step import CompiledStep
from forecast.models.elman import ElmanRNN
from forecast.models.recurrence import LAYERS


@dataclass(frozen=True)
class NetConfig:
    """Shape of a :class:`RecurrentNet`; the forecaster builds it from its parameters."""

    cell: str  # "RNN", "LSTM", "GRU" (torch.nn) or "elman" (the hand-written ElmanRNN)
    hidden_size: int
    num_layers: int
    dropout: float
    max_horizon: int  # outputs: the next max_horizon standardised returns
    input_size: int = 1  # channels per step: the return, then the covariates
    n_series: int = 0  # series a global net knows (rows of its embedding table)
    embedding_dim: int = 0  # width of the learned series embedding (0: none)


class RecurrentNet(nn.Module):
    """A recurrent layer stack over the input channels, and a linear head on its last state.

    ``dropout`` acts between stacked layers (as in ``nn.RNN``) and on the last hidden state
    before the head, so that it also regularises a one-layer network. With an embedding
    (global nets), each step's input also carries the series' learned vector.
    """

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        between = config.dropout if config.num_layers > 1 else 0.0  # torch warns otherwise
        width = config.input_size + config.embedding_dim
        if config.cell == "elman":
            self.rnn = ElmanRNN(width, config.hidden_size, config.num_layers, between)
        elif config.cell in LAYERS:  # the written-out backward pass (RNN, GRU)
            self.rnn = LAYERS[config.cell](width, config.hidden_size, config.num_layers, between)
        else:
            rnn_class = getattr(nn, config.cell)
            self.rnn = rnn_class(
                width, config.hidden_size, config.num_layers, batch_first=True, dropout=between
            )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.max_horizon)
        # drawn after the layers above, so that they start from the same weights with or
        # without an embedding
        self.embedding = (
            nn.Embedding(config.n_series, config.embedding_dim) if config.embedding_dim else None
        )

    def forward(self, x: torch.Tensor, series: torch.Tensor | None = None) -> torch.Tensor:
        """Map windows to the next returns ``(batch, max_horizon)``.

        ``x``: ``(batch, window)`` (returns only) or ``(batch, window, input_size)``;
        ``series``: ``(batch,)`` series indices, for a net with an embedding.
        """
        if x.dim() == 2:
            x = x.unsqueeze(-1)  # (batch, window, 1)
        if self.embedding is not None:
            e = self.embedding(series)  # (batch, embedding_dim)
            x = torch.cat([x, e.unsqueeze(1).expand(-1, x.shape[1], -1)], dim=-1)
        out, _ = self.rnn(x)  # (batch, window, hidden)
        return self.head(self.drop(out[:, -1]))  # (batch, max_horizon)


#: the label of a window whose price did not move: left out of the direction loss (as the
#: hit rate leaves out the points with no actual change)
NO_MOVE = -100


@dataclass(frozen=True)
class LectureConfig:
    """Shape of a :class:`LectureNet`; the lecture forecasters build it from their parameters."""

    hidden_size: int
    max_horizon: int
    hidden_activation: str | None  # None (the lecture's linear update) or "tanh"
    head: str  # "regression" (next returns) or "direction" (log P(down), log P(up))
    input_size: int = 1  # channels per step: the return, then the covariates
    n_series: int = 0  # series a global net knows (rows of its embedding table)
    embedding_dim: int = 0  # width of the learned series embedding (0: none)


class LectureRNNCell(nn.Module):
    """The lecture's hand-written RNN cell, as the lecture writes it.

    One time step::

        combined = cat(x_t, h_{t-1})
        h_t = i2h(combined)          # Linear(input + hidden -> hidden); no nonlinearity
        y_t = i2o(combined)          # Linear(input + hidden -> output)

    The hidden update is linear (a linear state-space model) unless ``hidden_activation``
    is ``"tanh"``: then ``h_t = tanh(i2h(combined))``, the Elman recurrence with
    ``W_ih, W_hh = i2h.weight`` split by columns and a single bias. The output reads the
    *previous* hidden state and the current input, not ``h_t``; and ``h_t`` of the last
    step is computed but never read. The lecture puts a ``LogSoftmax`` after ``i2o`` to
    classify; :class:`LectureNet` adds it for its direction head.

    Parameters
    ----------
    input_size, hidden_size, output_size
        Widths of ``x_t``, ``h_t`` and ``y_t``.
    hidden_activation
        ``None`` (as written) or ``"tanh"``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        hidden_activation: str | None = None,
    ):
        super().__init__()
        if hidden_activation not in (None, "tanh"):
            raise ValueError(f"hidden_activation must be None or 'tanh'; got {hidden_activation!r}")
        self.hidden_size, self.hidden_activation = hidden_size, hidden_activation
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(input_size + hidden_size, output_size)

    def forward(self, x_t: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: ``(batch, input)`` and ``h_{t-1}`` ``(batch, hidden)`` to ``y_t, h_t``."""
        combined = torch.cat((x_t, hidden), 1)  # (batch, input + hidden)
        hidden = self.i2h(combined)  # (batch, hidden)
        if self.hidden_activation == "tanh":
            hidden = torch.tanh(hidden)
        output = self.i2o(combined)  # (batch, output): from h_{t-1}, not the new hidden
        return output, hidden

    def init_hidden(self, batch: int) -> torch.Tensor:
        """``h_0 = 0``, shape ``(batch, hidden)``, of the weights' dtype."""
        return self.i2h.weight.new_zeros(batch, self.hidden_size)


class LectureNet(nn.Module):
    """The lecture's cell over a window of returns; the last step's output is the forecast.

    ``head="regression"``: the next ``max_horizon`` standardised returns
    ``(batch, max_horizon)``. ``head="direction"``: log-probabilities ``(batch, max_horizon,
    2)`` of (down, up) for the cumulative move to each horizon: ``i2o`` gives two logits per
    horizon and a ``LogSoftmax`` over each pair, the lecture's classifier.
    """

    def __init__(self, config: LectureConfig):
        super().__init__()
        if config.head not in ("regression", "direction"):
            raise ValueError(f"head must be 'regression' or 'direction'; got {config.head!r}")
        self.config = config
        outputs = config.max_horizon * (2 if config.head == "direction" else 1)
        width = config.input_size + config.embedding_dim
        self.cell = LectureRNNCell(width, config.hidden_size, outputs, config.hidden_activation)
        self.embedding = (
            nn.Embedding(config.n_series, config.embedding_dim) if config.embedding_dim else None
        )

    def forward(self, x: torch.Tensor, series: torch.Tensor | None = None) -> torch.Tensor:
        """Map windows ``(batch, window)`` (or ``(batch, window, input_size)``, with the
        series indices ``(batch,)`` of a global net's embedding) to the forecast of the last
        step (see the class)."""
        if x.dim() == 2:
            x = x.unsqueeze(-1)  # (batch, window, 1)
        if self.embedding is not None:
            e = self.embedding(series)  # (batch, embedding_dim)
            x = torch.cat([x, e.unsqueeze(1).expand(-1, x.shape[1], -1)], dim=-1)
        hidden = self.cell.init_hidden(x.shape[0])  # (batch, hidden)
        for t in range(x.shape[1]):
            output, hidden = self.cell(x[:, t], hidden)  # (batch, outputs)
        if self.config.head == "regression":
            return output  # (batch, max_horizon)
        logits = output.view(-1, self.config.max_horizon, 2)  # (batch, max_horizon, 2)
        return F.log_softmax(logits, dim=-1)


def direction_nll(log_probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of the labels: the lecture's ``NLLLoss``.

    ``log_probs`` ``(batch, max_horizon, 2)``; ``labels`` ``(batch, max_horizon)`` holds 0
    (down), 1 (up) or :data:`NO_MOVE` (left out), as floats. A batch with no label left
    gives 0, not NaN (``nll_loss`` would divide by zero).
    """
    labels = labels.reshape(-1).long()  # (batch * max_horizon,)
    keep = labels != NO_MOVE
    total = F.nll_loss(log_probs.reshape(-1, 2)[keep], labels[keep], reduction="sum")
    return total / keep.sum().clamp(min=1)


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


#: splits a batch of windows into the net's arguments and the targets
Split = Callable[[object], tuple[tuple[torch.Tensor, ...], torch.Tensor]]


def split_columns(width: int) -> Split:
    """The split of ``(batch, width + targets)`` windows: ``(inputs,), targets``."""

    def split(batch: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        return (batch[:, :width],), batch[:, width:]

    return split


class PanelWindows:
    """The training windows of a global net: views into one panel of features.

    ``features`` ``(N, C)`` holds every series' standardised features end to end; window
    ``i`` is the ``window + horizon`` rows from ``starts[i]`` (never crossing into another
    series), of series ``series[i]``. ``unfold`` makes all windows one strided view, so
    ``windows[idx]`` copies only that batch: ``(inputs (b, window, C), series (b,),
    targets (b, horizon))``, the targets being the return channel after the window.
    """

    def __init__(
        self,
        features: torch.Tensor,
        starts: torch.Tensor,
        series: torch.Tensor,
        window: int,
        horizon: int,
    ):
        self.view = features.unfold(0, window + horizon, 1)  # (N-W-H+1, C, W+H), a view
        self.starts, self.series, self.window = starts, series, window

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, idx: torch.Tensor | slice) -> tuple[torch.Tensor, ...]:
        batch = self.view[self.starts[idx]]  # (b, C, W+H): this batch's copy
        inputs = batch[:, :, : self.window].transpose(1, 2)  # (b, W, C)
        return inputs, self.series[idx], batch[:, 0, self.window :]

    @staticmethod
    def split(batch: tuple[torch.Tensor, ...]) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """``((inputs, series), targets)``: the net's arguments and the targets."""
        return (batch[0], batch[1]), batch[2]


def train_net(
    net: RecurrentNet | LectureNet,
    windows: torch.Tensor,
    n_val: int,
    config: TrainConfig,
    generator: torch.Generator,
    evaluate_start: bool = False,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.mse_loss,
    split: Split | None = None,
) -> tuple[int, float | None]:
    """Train ``net`` in place: Adam on ``loss``, clipping, early stopping.

    A plain ``RecurrentNet`` (see :mod:`~forecast.models.compiled_step`) takes each training
    step without autograd, through the C loops; every other net through autograd. The
    batches, the validation and the early stopping are the same either way.

    Parameters
    ----------
    net
        The network to train (in place).
    windows
        ``(n, window + max_horizon)``, oldest first: inputs, then targets (standardised
        returns, or the direction labels of :func:`direction_nll`). Or any sequence of
        ``n`` windows that ``windows[index_tensor]`` and ``windows[a:b]`` batch, with a
        ``split`` for its batches (covariate channels, the global nets' panels).
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
    loss
        ``loss(net(inputs), targets)``, a scalar; the mean squared error by default. Early
        stopping watches the same loss on the validation windows.
    split
        ``split(batch) -> (net arguments, targets)``; default: the last ``max_horizon``
        columns are the targets, the others the input (:func:`split_columns`).

    Returns
    -------
    epochs, val_loss
        Epochs run and the best validation loss (``None`` without validation); the weights
        of the best epoch are restored.
    """
    compiled = None
    if type(net) is RecurrentNet:
        compiled = CompiledStep.for_net(net, windows, loss, split, config.lr, config.grad_clip)
    if split is None:
        split = split_columns(windows.shape[1] - net.config.max_horizon)
    n_train = len(windows) - n_val
    val = windows[n_train:]  # (n_val, window + max_horizon)
    params = list(net.parameters())
    optimizer = Adam(params, lr=config.lr)
    best_loss, best_state, stale = math.inf, None, 0
    if n_val and evaluate_start:
        best_loss, best_state = _val_loss(net, val, split, loss), _copy_state(net)
    epoch = 0
    for epoch in range(1, config.epochs + 1):  # noqa: B007 (the count is returned)
        net.train()
        for idx in torch.randperm(n_train, generator=generator).split(config.batch_size):
            if compiled is not None:  # the same step without autograd (see compiled_step)
                compiled.step(windows[idx])
                continue
            inputs, target = split(windows[idx])  # a copy of this batch only
            batch_loss = loss(net(*inputs), target)
            optimizer.zero_grad(set_to_none=True)
            batch_loss.backward()
            if config.grad_clip is not None:
                clip_grad_norm(params, config.grad_clip)
            optimizer.step()
        if not n_val:
            continue
        val_loss = _val_loss(net, val, split, loss)
        if val_loss < best_loss:
            best_loss, best_state, stale = val_loss, _copy_state(net), 0
        else:
            stale += 1
            if config.patience is not None and stale >= config.patience:
                break
    if compiled is not None:
        compiled.release()
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return epoch, (best_loss if n_val else None)


class Adam:
    """Adam (Kingma and Ba, 2015, Algorithm 1) exactly as ``torch.optim.Adam`` computes it on
    the CPU with its defaults (no weight decay, no AMSGrad), op for op, so that the weights
    are bit-identical (``tests/test_neural.py`` checks): torch's multi-tensor path, one
    ``torch._foreach_*`` call per operation for all parameters at once, which torch's
    single-tensor default matches bit for bit.

    Written out because the first ``torch.optim`` optimizer of a process imports
    ``torch._dynamo`` (about 3 s on a quiet machine, far more on a busy one): a fixed cost
    that dominated short backtests. The foreach calls also spare the per-parameter loop:
    seven calls per step instead of five per parameter.
    """

    def __init__(
        self,
        params: list[nn.Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in params]
        self.steps = 0

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop the gradients (``set_to_none`` is always true here)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        beta1, beta2 = self.betas
        self.steps += 1
        step = float(self.steps)  # torch keeps the count in a float32 tensor and reads .item()
        # a parameter the loss did not reach (no gradient) stays as it is
        keep = [k for k, p in enumerate(self.params) if p.grad is not None]
        if not keep:
            return
        params = [self.params[k] for k in keep]
        avg, avg_sq = [self.exp_avg[k] for k in keep], [self.exp_avg_sq[k] for k in keep]
        grads = [p.grad for p in params]
        torch._foreach_lerp_(avg, grads, 1 - beta1)
        torch._foreach_mul_(avg_sq, beta2)
        torch._foreach_addcmul_(avg_sq, grads, grads, 1 - beta2)
        step_size = (self.lr / (1 - beta1**step)) * -1
        denom = torch._foreach_sqrt(avg_sq)
        torch._foreach_div_(denom, (1 - beta2**step) ** 0.5)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(params, avg, denom, step_size)


def clip_grad_norm(params: list[nn.Parameter], max_norm: float) -> None:
    """Scale the gradients so that their joint 2-norm is at most ``max_norm``: what
    ``nn.utils.clip_grad_norm_`` computes for CPU tensors, op for op (the same gradients,
    bit for bit), without its per-call grouping of the parameters by device and type."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    torch._foreach_mul_(grads, coef)


def _val_loss(net: nn.Module, windows: object, split: Split, loss: Callable) -> float:
    net.eval()
    inputs, target = split(windows)
    with torch.no_grad():
        return loss(net(*inputs), target).item()


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
    _set_deterministic(True)
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = fill
        _set_deterministic(enabled, warn_only=warn_only)
        torch.set_num_threads(threads)


# ---- what every net forecaster shares: rolling forecasts and weights files -------------
def roll_forecast(
    nets: list[nn.Module], x: torch.Tensor, horizon: int, window: int, *args: torch.Tensor
) -> torch.Tensor:
    """``(batch, horizon)`` outputs of an ensemble from windows ``x``: ``(batch, window)``, or
    ``(batch, window, channels)`` with the return first and covariates after it.

    Direct for the nets' own horizon, then recursive: the ensemble's mean output is appended
    to the window and read again until ``horizon`` steps are covered (covariates after the
    origin are unknown: their training mean, 0 once standardised). ``args``: further inputs
    of every net (a global net's series index).
    """
    blocks, done = [], 0
    with torch_settings(), torch.inference_mode():
        while done < horizon:
            out = torch.stack([net(x, *args) for net in nets]).mean(0)  # (batch, H)
            blocks.append(out)
            done += out.shape[1]
            if x.dim() == 3:
                pad = out.new_zeros(out.shape[0], out.shape[1], x.shape[2] - 1)
                out = torch.cat([out.unsqueeze(-1), pad], dim=2)  # (batch, H, 1 + k)
            x = torch.cat([x, out], dim=1)[:, -window:]
    return torch.cat(blocks, dim=1)[:, :horizon]


def nets_state_bytes(nets: list[nn.Module]) -> bytes:
    """The ensemble's ``state_dict`` as the bytes of a weights file."""
    buffer = io.BytesIO()
    torch.save(nn.ModuleList(nets).state_dict(), buffer)
    return buffer.getvalue()


def load_nets_state(
    data: bytes, source: str, new_net: Callable[[], nn.Module], n_models: int, shape: str
) -> list[nn.Module]:
    """Nets built by ``new_net`` holding the weights in ``data``; ``ModelFileError`` naming
    ``source`` when the file is not a state_dict of tensors or does not fit ``shape``."""
    try:
        # the restricted unpickler builds tensors and plain containers only: a pickle that
        # would run code is refused, not executed
        state = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as exc:
        raise ModelFileError(
            f"{source}: not a valid weights file; torch.load(weights_only=True) refused it: "
            f"{first_line(exc)}"
        ) from exc
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ModelFileError(
            f"{source}: expected a state_dict of named tensors; got {type(state).__name__}"
        )
    with torch.random.fork_rng(devices=[]):  # the initial values are overwritten
        nets = nn.ModuleList(new_net() for _ in range(n_models))
    try:
        nets.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelFileError(
            f"{source}: the weights do not fit {shape}: {first_line(exc, 3)}"
        ) from exc
    nets.eval()
    return list(nets)


def first_line(exc: BaseException, lines: int = 1) -> str:
    """The first ``lines`` lines of an exception's message (torch's run long)."""
    text = str(exc).strip().splitlines() or [type(exc).__name__]
    return " ".join(line.strip() for line in text[:lines])


def _set_deterministic(mode: bool, warn_only: bool = False) -> None:
    """``torch.use_deterministic_algorithms`` without its first line, which imports
    ``torch._inductor`` and with it ``torch._dynamo`` (seconds at every start) only to set
    the compiler's flag; nothing here is compiled. The public function when torch lacks the
    switch this calls."""
    switch = getattr(torch._C, "_set_deterministic_algorithms", None)
    if switch is None:  # pragma: no cover (another torch)
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        switch(mode, warn_only=warn_only)
