"""``nn.RNN``, ``nn.GRU`` and ``nn.LSTM`` trained through written-out loops.

At this project's sizes (hidden 32, batches of 64 windows of 30 steps, one CPU thread) torch's
recurrent layers spend more time in per-operation overhead than in arithmetic: each time step
is several small operations, each recorded for autograd, and the backward pass walks them one
by one. Here one autograd node covers a layer's whole recurrence, its forward loop keeping
what the backward needs and its backward loop being backpropagation through time (Werbos
1990); the weights' gradients are one matrix product each over all steps. Two ways to run it:

- **the C loops** (``recurrence.c``, built once per machine by :mod:`~forecast.models.kernels`):
  each layer's forward pass is one C call, its backward pass another; the small matrix
  products of a step stay in registers and the gates are one fused pass
  (:class:`_CompiledLayer`). This is the default wherever a C compiler is found, for all three
  cells, in float32 and float64; a training step of the plain nets goes further and skips
  autograd altogether (:mod:`~forecast.models.compiled_step`).
- **torch operations** (without a compiler, or with ``FORECAST_KERNELS=0``): the RNN and GRU
  recurrences written out as :class:`torch.autograd.Function` loops (:class:`_TanhRecurrence`,
  :class:`_GRURecurrence`), the LSTM torch's own ``nn.LSTM`` (written out this way it was
  slower than torch's oneDNN kernel).

Both compute the same function as torch's layers: ``tests/test_recurrence.py`` compares the
outputs and every gradient in float64 (to 1e-12) and in float32 (to rounding), and checks
them by finite differences. ``benchmarks/recurrence_speed.py`` measures the speed.

The classes subclass torch's: the same parameters, names (``weight_ih_l0``, ...),
initialisation (the same seed draws the same weights) and ``state_dict``; model files are
interchangeable. ``forward`` takes batch-first inputs ``(batch, seq, input_size)`` with a
zero initial state and returns ``(output, None)``: the last layer's hidden states
``(batch, seq, hidden)``; the final states are not returned (the nets read
``output[:, -1]``). Without gradients (forecasts, validation losses) ``forward`` is torch's
own, already fast without autograd: for the same weights the forecasts are those of torch's
layers (the training forward differs from torch's in the last float32 bits).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from forecast.models import kernels


class _TanhRecurrence(torch.autograd.Function):
    """``h_t = tanh(p_t + W h_{t-1})``, ``h_0 = 0``; ``p`` ``(T, H, B)`` holds both biases.

    The loop runs on ``s_t = sigma(2 a_t)`` (``tanh(a) = 2 sigma(2a) - 1``; torch's sigmoid
    costs a third of its tanh here): ``s_t = sigma(2 p_t - 2 W 1 + 4 W s_{t-1})``, then
    ``h = 2 s - 1`` for all steps at once.
    """

    @staticmethod
    def forward(ctx, p: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        q = p * 2  # (T, H, B)
        q[1:] -= (2 * w.sum(1)).unsqueeze(1)
        out = torch.empty_like(q)
        qs, ss, w4 = q.unbind(0), out.unbind(0), w * 4
        torch.sigmoid(qs[0], out=ss[0])
        for t in range(1, len(ss)):
            torch.addmm(qs[t], w4, ss[t - 1], out=ss[t]).sigmoid_()
        out.mul_(2).sub_(1)  # h = 2 s - 1
        ctx.save_for_backward(out, w)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, w = ctx.saved_tensors
        # delta_t = (grad_t + W^T delta_{t+1}) * (1 - h_t^2), from the last step back
        slope = torch.addcmul(torch.ones_like(out), out, out, value=-1)  # 1 - h^2
        delta = torch.empty_like(out)
        ds, ss, gs, wt = delta.unbind(0), slope.unbind(0), grad.unbind(0), w.t()
        dense = _reads_every_step(grad)
        torch.mul(gs[-1], ss[-1], out=ds[-1])
        for t in range(len(ds) - 1, 0, -1):
            back = torch.mm(wt, ds[t])  # (H, B)
            if dense:
                back += gs[t - 1]
            torch.mul(back, ss[t - 1], out=ds[t - 1])
        return delta, _recurrent_weight_grad(delta, out)


class _GRURecurrence(torch.autograd.Function):
    """The GRU recurrence: ``p`` ``(T, 3H, B)`` holds ``W_ih x_t + b_ih`` (gates ``r, z,
    n``), ``w`` ``(3H, H)`` and ``b`` ``(3H,)`` are ``W_hh`` and ``b_hh``; returns the hidden
    states ``(T, H, B)``."""

    @staticmethod
    def forward(ctx, p: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        steps, gates, batch = p.shape
        h = gates // 3
        hidden = p.new_empty(steps, gates, batch)  # W_hh h_{t-1} + b_hh
        rz = p.new_empty(steps, 2 * h, batch)
        new = p.new_empty(steps, h, batch)
        out = p.new_empty(steps, h, batch)
        scratch = p.new_empty(h, batch)
        bias = b.unsqueeze(1)  # (3H, 1)
        p_rz, p_n = p[:, : 2 * h].unbind(0), p[:, 2 * h :].unbind(0)
        hh, hh_rz, hh_n = hidden.unbind(0), hidden[:, : 2 * h].unbind(0), hidden[:, 2 * h :]
        hh_n, rzs, ns, hs = hh_n.unbind(0), rz.unbind(0), new.unbind(0), out.unbind(0)
        r, z = rz[:, :h].unbind(0), rz[:, h:].unbind(0)
        for t in range(steps):
            if t:
                torch.addmm(bias, w, hs[t - 1], out=hh[t])
            else:
                hh[0].copy_(bias.expand(gates, batch))
            torch.add(p_rz[t], hh_rz[t], out=rzs[t]).sigmoid_()
            torch.addcmul(p_n[t], r[t], hh_n[t], out=ns[t]).tanh_()
            if t:  # h_t = n + z (h_{t-1} - n)
                torch.sub(hs[t - 1], ns[t], out=scratch)
                torch.addcmul(ns[t], z[t], scratch, out=hs[t])
            else:
                torch.addcmul(ns[0], z[0], ns[0], value=-1, out=hs[0])
        ctx.save_for_backward(out, w, hidden, rz, new)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out, w, hidden, rz, new = ctx.saved_tensors
        steps, gates, batch = hidden.shape
        h = gates // 3
        r, z = rz[:, :h], rz[:, h:]
        previous = torch.cat([out.new_zeros(1, h, batch), out[:-1]])  # h_{t-1}
        to_new = (1 - z) * (1 - new * new)  # dn_pre = dh (1 - z) tanh'
        # the gradient of W_hh h_{t-1} + b_hh is dh_t times these factors (r, z, n blocks)
        factor = torch.empty_like(hidden).view(steps, 3, h, batch)
        torch.mul(to_new * hidden[:, 2 * h :], r * (1 - r), out=factor[:, 0])
        torch.mul(previous - new, z * (1 - z), out=factor[:, 1])
        torch.mul(to_new, r, out=factor[:, 2])
        d_hidden = torch.empty_like(hidden)  # (T, 3H, B)
        d_out = torch.empty_like(out)  # dh_t, the total gradient of each h_t
        dhs, dhh, factors = d_out.unbind(0), d_hidden.unbind(0), factor.unbind(0)
        zs, gs, wt = z.unbind(0), grad.unbind(0), w.t()
        dense = _reads_every_step(grad)
        dhs[-1].copy_(gs[-1])
        for t in range(steps - 1, -1, -1):
            torch.mul(factors[t], dhs[t], out=dhh[t].view(3, h, batch))
            if t:  # dh_{t-1} = dh_t z_t + W_hh^T d_hidden_t (+ its own gradient)
                torch.addmm(dhs[t] * zs[t], wt, dhh[t], out=dhs[t - 1])
                if dense:
                    dhs[t - 1].add_(gs[t - 1])
        d_p = torch.cat([d_hidden[:, : 2 * h], d_out * to_new], dim=1)
        return d_p, _recurrent_weight_grad(d_hidden, out), d_hidden.sum((0, 2))


class _CompiledLayer(torch.autograd.Function):
    """One layer's recurrence through the C loops of ``recurrence.c``: ``x`` ``(T, B, I)``
    time-major to the hidden states ``(T, B, H)``, from a zero state. The input projection
    runs inside the loop; the weights' gradients are one matrix product each over all steps,
    the biases' are summed in C."""

    @staticmethod
    def forward(ctx, lib, mode: str, x, w_ih, w_hh, b_ih, b_hh):
        steps, batch, width = x.shape
        gates, h = w_hh.shape
        weights = (w_ih.contiguous(), w_hh.contiguous(), b_ih.contiguous(), b_hh.contiguous())
        with torch.no_grad():
            bias = b_ih + b_hh
        out, act, aux = (x.new_empty(steps, batch, n) for n in (h, gates, h))
        work = x.new_empty(work_size(batch, width, h, gates))
        run_forward(lib, mode, x, weights, bias, out, act, aux, work)
        ctx.lib, ctx.mode = lib, mode
        ctx.save_for_backward(x, weights[0], weights[1], out, act, aux)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, w_ih, w_hh, out, act, aux = ctx.saved_tensors
        steps, batch, h = out.shape
        gates = w_hh.shape[0]
        d_in = out.new_empty(steps, batch, gates)
        d_hid = torch.empty_like(d_in) if ctx.mode == "GRU" else d_in
        db_ih, db_hh = out.new_zeros(gates), out.new_zeros(gates)
        work = out.new_empty(work_size(batch, x.shape[2], h, gates))
        run_backward(
            ctx.lib, ctx.mode, grad.contiguous(), out, act, aux, w_hh, d_in, d_hid, db_ih, db_hh,
            work,
        )  # fmt: skip
        d_w_ih, d_w_hh = weight_grads(x, out, d_in, d_hid)
        d_x = torch.mm(d_in.view(-1, gates), w_ih).view_as(x) if ctx.needs_input_grad[2] else None
        return None, None, d_x, d_w_ih, d_w_hh, db_ih, db_hh


def work_size(batch: int, width: int, hidden: int, gates: int) -> int:
    """Elements of the scratch array the C loops of a layer need (forward or backward)."""
    return (width + hidden) * gates + 2 * batch * gates + 3 * batch * hidden


def run_forward(
    lib: ctypes.CDLL,
    mode: str,
    x: torch.Tensor,
    weights: tuple[torch.Tensor, ...],
    bias: torch.Tensor,
    out: torch.Tensor,
    act: torch.Tensor,
    aux: torch.Tensor,
    work: torch.Tensor,
) -> None:
    """A layer's forward loop in C: ``x`` ``(T, B, I)``, ``weights`` ``W_ih, W_hh, b_ih,
    b_hh`` (contiguous), ``bias`` their two biases' sum; writes the states ``out`` ``(T, B,
    H)`` and what the backward loop reads, ``act`` ``(T, B, G)`` and ``aux`` ``(T, B, H)``."""
    w_ih, w_hh, b_ih, b_hh = weights
    if mode == "GRU":
        function, arrays = lib.gru_forward, (x, w_ih, w_hh, b_ih, b_hh, out, act, aux, work)
    elif mode == "LSTM":
        function, arrays = lib.lstm_forward, (x, w_ih, w_hh, bias, out, act, aux, work)
    else:  # "RNN_TANH"
        function, arrays = lib.rnn_forward, (x, w_ih, w_hh, bias, out, work)
    function(*[a.data_ptr() for a in arrays], *x.shape, out.shape[2])


def run_backward(
    lib: ctypes.CDLL,
    mode: str,
    grad: torch.Tensor,
    out: torch.Tensor,
    act: torch.Tensor,
    aux: torch.Tensor,
    w_hh: torch.Tensor,
    d_in: torch.Tensor,
    d_hid: torch.Tensor,
    db_ih: torch.Tensor,
    db_hh: torch.Tensor,
    work: torch.Tensor,
) -> None:
    """A layer's backward loop in C, from ``grad`` ``(T, B, H)`` (the loss's gradient by each
    state, contiguous): writes the gradients by the input side's and the hidden side's
    pre-activations, ``d_in`` and ``d_hid`` ``(T, B, G)`` (the same array but for the GRU),
    and adds the biases' gradients to ``db_ih`` and ``db_hh``."""
    if mode == "GRU":
        arrays = (grad, out, act, aux, w_hh, d_in, d_hid, db_ih, db_hh, work)
        lib.gru_backward(*[a.data_ptr() for a in arrays], *out.shape)
        return
    if mode == "LSTM":
        function, arrays = lib.lstm_backward, (grad, act, aux, w_hh, d_in, db_ih, work)
    else:
        function, arrays = lib.rnn_backward, (grad, out, w_hh, d_in, db_ih, work)
    function(*[a.data_ptr() for a in arrays], *out.shape)
    db_hh.add_(db_ih)  # one bias sum feeds both


def weight_grads(
    x: torch.Tensor,
    out: torch.Tensor,
    d_in: torch.Tensor,
    d_hid: torch.Tensor,
    out_ih: torch.Tensor | None = None,
    out_hh: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``W_ih``'s and ``W_hh``'s gradients over all steps, one matrix product each:
    ``sum_t d_in_t^T x_t`` and ``sum_t d_hid_t^T h_{t-1}`` (``h_0 = 0``), into ``out_ih`` and
    ``out_hh`` when given."""
    gates, h = d_in.shape[2], out.shape[2]
    d_w_ih = torch.mm(d_in.view(-1, gates).t(), x.view(-1, x.shape[2]), out=out_ih)
    d_w_hh = torch.mm(d_hid[1:].view(-1, gates).t(), out[:-1].view(-1, h), out=out_hh)
    return d_w_ih, d_w_hh


def _reads_every_step(grad: torch.Tensor) -> bool:
    """Whether the loss reads hidden states before the last (a lower layer's, or a net that
    reads every step); when only the last is read, the backward loop skips the additions."""
    return len(grad) > 1 and bool(grad[:-1].any())


def _recurrent_weight_grad(delta: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``sum_t delta_t h_{t-1}^T`` over all steps (``h_0 = 0``): ``(G, H)`` from ``delta``
    ``(T, G, B)`` and the states ``out`` ``(T, H, B)``, one matrix product."""
    g, h = delta.shape[1], out.shape[1]
    d = delta[1:].permute(1, 0, 2).reshape(g, -1)  # (G, (T-1) B)
    states = out[:-1].permute(1, 0, 2).reshape(h, -1)  # (H, (T-1) B)
    return torch.mm(d, states.t())


#: torch's names of a layer's weights (``weight_ih_l0``, ...)
WEIGHT_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class _Layers:
    """The forward pass the classes share: with gradients, each layer's recurrence (the C
    loops, else torch operations) with dropout between layers in training mode; without,
    torch's forward."""

    num_layers: int
    dropout: float
    training: bool
    mode: str  # torch's name of the cell: "RNN_TANH", "GRU", "LSTM"

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0
    ):
        super().__init__(  # torch's layer, batch first: its parameters and initialisation
            input_size, hidden_size, num_layers=num_layers, batch_first=True, dropout=dropout
        )

    def forward(self, x: torch.Tensor, hx: None = None) -> tuple[torch.Tensor, None]:
        """``x`` ``(batch, seq, input_size)`` to the last layer's states ``(batch, seq,
        hidden)``, from a zero initial state; ``(output, None)`` (see the module)."""
        if hx is not None:
            raise ValueError(f"{type(self).__name__} starts from a zero state; got hx")
        if not torch.is_grad_enabled():  # forecasts, validation: torch's own forward
            return super().forward(x)[0], None  # type: ignore[misc]
        lib = compiled_loops(x)
        if lib is None:
            return self._torch_forward(x), None

        def layer(states: torch.Tensor, k: int) -> torch.Tensor:
            return _CompiledLayer.apply(lib, self.mode, states, *self._weights(k))

        states = self._stack(x.transpose(0, 1).contiguous(), layer)  # (T, B, I) -> (T, B, H)
        return states.transpose(0, 1), None  # (B, T, H), a view

    def _torch_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Without the C loops: each layer's recurrence written out in torch operations."""
        return self._stack(x.permute(1, 2, 0), self._layer).permute(2, 0, 1)  # (T, ., B) inside

    def _stack(self, states: torch.Tensor, layer: Callable) -> torch.Tensor:
        """``layer(states, k)`` for each layer in turn, dropout between them in training."""
        for k in range(self.num_layers):
            if k and self.dropout and self.training:
                states = F.dropout(states, self.dropout, True)
            states = layer(states, k)
        return states

    def _weights(self, k: int) -> tuple[torch.Tensor, ...]:
        """Layer ``k``'s ``W_ih, W_hh, b_ih, b_hh``."""
        return tuple(getattr(self, f"{name}_l{k}") for name in WEIGHT_NAMES)

    def _layer(self, states: torch.Tensor, k: int) -> torch.Tensor:
        raise NotImplementedError


def _project(w_ih: torch.Tensor, states: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``W_ih x_t + bias`` for every step, one matrix product: a ``(T, G, B)`` view from the
    states ``(T, I, B)``."""
    steps, width, batch = states.shape
    flat = states.transpose(0, 1).reshape(width, steps * batch)  # (I, T B)
    return torch.addmm(bias.unsqueeze(1), w_ih, flat).view(-1, steps, batch).transpose(0, 1)


class FastRNN(_Layers, nn.RNN):
    """``nn.RNN`` (tanh, batch first, no bias-free or bidirectional variant) trained through
    the C loops, else :class:`_TanhRecurrence`; see the module."""

    def _layer(self, states: torch.Tensor, k: int) -> torch.Tensor:
        w_ih, w_hh, b_ih, b_hh = self._weights(k)
        return _TanhRecurrence.apply(_project(w_ih, states, b_ih + b_hh), w_hh)


class FastGRU(_Layers, nn.GRU):
    """``nn.GRU`` (batch first, no bidirectional variant) trained through the C loops, else
    :class:`_GRURecurrence`; see the module."""

    def _layer(self, states: torch.Tensor, k: int) -> torch.Tensor:
        w_ih, w_hh, b_ih, b_hh = self._weights(k)
        return _GRURecurrence.apply(_project(w_ih, states, b_ih), w_hh, b_hh)


class FastLSTM(_Layers, nn.LSTM):
    """``nn.LSTM`` (batch first, no projection or bidirectional variant) trained through the C
    loops; without them, torch's own ``nn.LSTM`` (see the module)."""

    def _torch_forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.LSTM.forward(self, x)[0]


def compiled_loops(x: torch.Tensor) -> ctypes.CDLL | None:
    """The C loops for ``x``'s precision (CPU, float32 or float64), if they can be used."""
    precision = {torch.float32: "float32", torch.float64: "float64"}.get(x.dtype)
    if precision is None or x.device.type != "cpu":
        return None
    return kernels.library(precision)


#: the written-out layer of each ``NetConfig.cell`` that has one
LAYERS = {"RNN": FastRNN, "GRU": FastGRU, "LSTM": FastLSTM}
