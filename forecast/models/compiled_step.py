"""A :class:`~forecast.models.networks.RecurrentNet`'s training step without autograd: the C
loops of ``recurrence.c`` for the recurrence and the optimiser, a few matrix products for
the rest.

:func:`~forecast.models.networks.train_net` runs its batches through a :class:`CompiledStep`
when the net is the plain case, which is every per-series RNN, LSTM and GRU forecaster with
the defaults: a ``RecurrentNet`` whose layer has compiled loops (:data:`LAYERS`), no
dropout, no series embedding, one input channel, the mean squared error. Anything else
(dropout, covariates, global nets, the lecture's cell, other losses) trains through autograd
as before.

One step is what the autograd path computes, in the same order: the layers' forward loops;
the linear head on the last hidden state; the mean squared error's gradient; the head's and
each layer's gradients (backpropagation through time in C, the weight gradients as one matrix
product each over all steps); the joint gradient norm clipped as
``nn.utils.clip_grad_norm_`` does; one Adam step as ``torch.optim.Adam``. The results agree
with the autograd path to float32 rounding (``tests/test_compiled_step.py``); the same seed
gives the same bits. What it saves is per-operation overhead: at this project's sizes the
autograd engine, the modules' calls, the optimiser's list handling and a dozen fresh
buffers a step cost more than the arithmetic. The buffers here are allocated once per batch
size and reused.

During training the parameters are views into one flat tensor (so that clipping and Adam
are one pass over it); :meth:`CompiledStep.release` gives each its own storage back.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from forecast.models.recurrence import (
    LAYERS,
    WEIGHT_NAMES,
    compiled_loops,
    run_backward,
    run_forward,
    weight_grads,
    work_size,
)


class CompiledStep:
    """The training step of one net (see the module); build it with :meth:`for_net`."""

    @classmethod
    def for_net(
        cls,
        net: nn.Module,
        windows: object,
        loss: Callable,
        split: object,
        lr: float,
        grad_clip: float | None,
    ) -> CompiledStep | None:
        """The compiled step of ``net`` (a ``RecurrentNet``), or ``None`` when it does not apply
        (see the module)."""
        if not (
            type(net.rnn) in LAYERS.values()
            and loss is F.mse_loss
            and split is None
            and isinstance(windows, torch.Tensor)
            and windows.dim() == 2
            and windows.dtype == net.head.weight.dtype == torch.float32
            and net.embedding is None
            and net.config.dropout == 0
            and net.config.input_size == 1
        ):
            return None
        lib = compiled_loops(windows)
        return None if lib is None else cls(net, lib, lr, grad_clip)

    def __init__(self, net: nn.Module, lib: ctypes.CDLL, lr: float, grad_clip: float | None):
        self.lib, self.lr = lib, lr
        self.max_norm = 0.0 if grad_clip is None else float(grad_clip)
        named = dict(net.named_parameters())
        self.params = list(named.values())
        # the parameters become views into one flat tensor; their gradients likewise
        self.flat = torch.cat([p.detach().reshape(-1) for p in self.params])
        self.grad = torch.zeros_like(self.flat)
        self.avg, self.avg_sq = torch.zeros_like(self.flat), torch.zeros_like(self.flat)
        self.steps = 0
        views, grads, start = {}, {}, 0
        for name, p in named.items():
            size = p.numel()
            p.data = self.flat[start : start + size].view_as(p)
            views[name], grads[name] = p, self.grad[start : start + size].view_as(p)
            start += size
        rnn = net.rnn
        self.mode = rnn.mode
        self.layers = [  # each layer's W_ih, W_hh, b_ih, b_hh, then their gradients
            tuple(views[f"rnn.{w}_l{k}"] for w in WEIGHT_NAMES)
            + tuple(grads[f"rnn.{w}_l{k}"] for w in WEIGHT_NAMES)
            for k in range(rnn.num_layers)
        ]
        self.head = (views["head.weight"], views["head.bias"])
        self.head_grad = (grads["head.weight"], grads["head.bias"])
        self.bias = [torch.empty_like(layer[2]) for layer in self.layers]  # b_ih + b_hh
        self.buffers: dict[int, dict[str, list[torch.Tensor]]] = {}

    def release(self) -> None:
        """Give every parameter its own storage again (after training)."""
        for p in self.params:
            p.data = p.data.clone()

    def _buffers(self, steps: int, batch: int) -> dict[str, list[torch.Tensor]]:
        """Every array a step of this batch size writes, allocated once."""
        if batch not in self.buffers:
            g, h = self.layers[0][1].shape  # W_hh: (gates x hidden, hidden)

            def each(*shape: int) -> list[torch.Tensor]:
                return [torch.zeros(*shape) for _ in self.layers]

            self.buffers[batch] = {
                "x": [torch.zeros(steps, batch, 1)],
                "out": each(steps, batch, h),
                "act": each(steps, batch, g),
                "aux": each(steps, batch, h),
                "d_in": each(steps, batch, g),
                "grad": each(steps, batch, h),  # by each layer's states; the top's: last step
                "work": each(work_size(batch, h, h, g)),
            }
            # the hidden side's pre-activation gradients: their own only for the GRU
            bufs = self.buffers[batch]
            bufs["d_hid"] = each(steps, batch, g) if self.mode == "GRU" else bufs["d_in"]
        return self.buffers[batch]

    @torch.no_grad()
    def step(self, batch: torch.Tensor) -> None:
        """One training step on ``batch`` ``(b, window + max_horizon)``: inputs, then targets."""
        w_head, b_head = self.head
        steps = batch.shape[1] - w_head.shape[0]
        buf = self._buffers(steps, batch.shape[0])
        buf["x"][0].copy_(batch[:, :steps].t().unsqueeze(-1))  # (T, B, 1)
        inputs = [buf["x"][0], *buf["out"][:-1]]  # each layer's input
        for k, layer in enumerate(self.layers):
            torch.add(layer[2], layer[3], out=self.bias[k])
            arrays = (buf[key][k] for key in ("out", "act", "aux", "work"))
            run_forward(self.lib, self.mode, inputs[k], layer[:4], self.bias[k], *arrays)
        last = buf["out"][-1][-1]  # (B, H): the top layer's last state
        y = torch.addmm(b_head, last, w_head.t())
        dy = y.sub_(batch[:, steps:]).mul_(2.0 / y.numel())  # d mean((y - target)^2) / dy
        self.grad.zero_()
        torch.mm(dy.t(), last, out=self.head_grad[0])
        torch.sum(dy, 0, out=self.head_grad[1])
        torch.mm(dy, w_head, out=buf["grad"][-1][-1])
        for k in range(len(self.layers) - 1, -1, -1):
            w_ih, w_hh, _, _, g_w_ih, g_w_hh, g_b_ih, g_b_hh = self.layers[k]
            out, d_in, d_hid = buf["out"][k], buf["d_in"][k], buf["d_hid"][k]
            run_backward(
                self.lib, self.mode, buf["grad"][k], out, buf["act"][k], buf["aux"][k], w_hh,
                d_in, d_hid, g_b_ih, g_b_hh, buf["work"][k],
            )  # fmt: skip
            weight_grads(inputs[k], out, d_in, d_hid, g_w_ih, g_w_hh)
            if k:  # the gradient by the layer below's states
                below = buf["grad"][k - 1]
                torch.mm(d_in.view(-1, d_in.shape[2]), w_ih, out=below.view(-1, below.shape[2]))
        self.steps += 1
        beta1, beta2 = 0.9, 0.999
        self.lib.adam_step(
            self.flat.data_ptr(), self.grad.data_ptr(), self.avg.data_ptr(),
            self.avg_sq.data_ptr(), self.flat.numel(), self.lr / (1 - beta1**self.steps),
            (1 - beta2**self.steps) ** 0.5, beta1, beta2, 1e-8, self.max_norm,
        )  # fmt: skip
