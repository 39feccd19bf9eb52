"""``nn.RNN`` and ``nn.GRU`` with their backward pass written out.

At this project's sizes (hidden 32, batches of 64 windows of 30 steps, one CPU thread) torch's
recurrent layers spend more time in per-operation dispatch and autograd bookkeeping than in
arithmetic: each time step records several autograd nodes, and the backward pass walks them
one by one (``nn.GRU``'s backward took about 8 ms a batch, more than half of its training
time). Here one autograd node covers a layer's whole recurrence: the forward loop keeps what
the backward needs, the backward loop is backpropagation through time (Werbos 1990) with the
gates' derivatives precomputed for all steps at once, and the recurrent weights' gradient is
one matrix product over all steps. A training step is 1.6-1.75x faster, a whole fit about 1.5x
(``benchmarks/recurrence_speed.py``); the function is the same, to float32 rounding
(``tests/test_recurrence.py`` compares the outputs and every gradient with torch's layers in
float64).

The LSTM stays torch's ``nn.LSTM``: written out the same way it measured slower than torch's
(its backward needs a dozen whole-sequence passes over four gates, and memory traffic, not
dispatch, dominated them on this machine).

The classes subclass torch's: the same parameters, names (``weight_ih_l0``, ...),
initialisation (the same seed draws the same weights) and ``state_dict``; model files are
interchangeable. ``forward`` takes batch-first inputs ``(batch, seq, input_size)`` with a
zero initial state and returns ``(output, None)``: the last layer's hidden states
``(batch, seq, hidden)``; the final states are not returned (the nets read
``output[:, -1]``). Without gradients (forecasts, validation losses) ``forward`` is torch's
own, already fast without autograd: for the same weights the forecasts are those of torch's
layers, as before this module (the written-out forward differs from torch's in the last
float32 bits, and by how many origins share a batch).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


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
_WEIGHT_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class _Layers:
    """The forward pass the classes share: with gradients, the input projections of all
    steps at once, the recurrence of each layer, dropout between layers (in training mode);
    without, torch's forward."""

    num_layers: int
    dropout: float
    training: bool

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
        states = x.permute(1, 2, 0)  # (T, input, B)
        for k in range(self.num_layers):
            if k and self.dropout and self.training:
                states = F.dropout(states, self.dropout, True)
            states = self._layer(states, k)  # (T, H, B)
        return states.permute(2, 0, 1), None  # (B, T, H), a view

    def _weights(self, k: int) -> tuple[torch.Tensor, ...]:
        """Layer ``k``'s ``W_ih, W_hh, b_ih, b_hh``."""
        return tuple(getattr(self, f"{name}_l{k}") for name in _WEIGHT_NAMES)

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
    :class:`_TanhRecurrence`; see the module."""

    def _layer(self, states: torch.Tensor, k: int) -> torch.Tensor:
        w_ih, w_hh, b_ih, b_hh = self._weights(k)
        return _TanhRecurrence.apply(_project(w_ih, states, b_ih + b_hh), w_hh)


class FastGRU(_Layers, nn.GRU):
    """``nn.GRU`` (batch first, no bidirectional variant) trained through
    :class:`_GRURecurrence`; see the module."""

    def _layer(self, states: torch.Tensor, k: int) -> torch.Tensor:
        w_ih, w_hh, b_ih, b_hh = self._weights(k)
        return _GRURecurrence.apply(_project(w_ih, states, b_ih), w_hh, b_hh)


#: the written-out layer of each ``NetConfig.cell`` that has one (``LSTM`` is torch's own: see
#: the module)
LAYERS = {"RNN": FastRNN, "GRU": FastGRU}
