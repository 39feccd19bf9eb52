"""A vanilla (Elman) recurrent network written out step by step.

``nn.RNN(nonlinearity="tanh")`` runs this recurrence in one fused call; here it is spelled
out so that a reader sees what it computes. For each layer ``k`` and time step ``t``::

    h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),    h_0 = 0

where ``x_t`` is the input (layer 0) or the previous layer's ``h_t``. The parameters carry
``nn.RNN``'s names and shapes (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``,
``bias_hh_l0``, then ``..._l1``), so a ``state_dict`` copies across in either direction and
the test suite checks that both give the same outputs and gradients.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class ElmanRNN(nn.Module):
    """Stacked tanh RNN, batch first, computed one time step at a time.

    Parameters
    ----------
    input_size
        Features per time step.
    hidden_size
        Units of each layer.
    num_layers
        Stacked layers; layer ``k + 1`` reads the hidden states of layer ``k``.
    dropout
        Dropout on the outputs of every layer but the last, in training mode (as ``nn.RNN``).
    """

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0
    ):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.dropout = num_layers, dropout
        for k in range(num_layers):
            width = input_size if k == 0 else hidden_size
            # registered in nn.RNN's order, so the same seed draws the same initial weights
            self.register_parameter(
                f"weight_ih_l{k}", nn.Parameter(torch.empty(hidden_size, width))
            )
            self.register_parameter(
                f"weight_hh_l{k}", nn.Parameter(torch.empty(hidden_size, hidden_size))
            )
            self.register_parameter(f"bias_ih_l{k}", nn.Parameter(torch.empty(hidden_size)))
            self.register_parameter(f"bias_hh_l{k}", nn.Parameter(torch.empty(hidden_size)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.RNN``'s initialisation: every weight uniform on ``(-1/sqrt(H), 1/sqrt(H))``."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the recurrence over the sequence.

        Parameters
        ----------
        x
            Inputs, shape ``(batch, seq, input_size)``.

        Returns
        -------
        output, h_n
            The last layer's hidden state at every step, ``(batch, seq, hidden_size)``, and
            every layer's final hidden state, ``(num_layers, batch, hidden_size)``: what
            ``nn.RNN(..., batch_first=True)`` returns.
        """
        batch, seq, _ = x.shape
        layer_input = x  # (batch, seq, width)
        finals = []
        for k in range(self.num_layers):
            w_ih, w_hh = getattr(self, f"weight_ih_l{k}"), getattr(self, f"weight_hh_l{k}")
            b_ih, b_hh = getattr(self, f"bias_ih_l{k}"), getattr(self, f"bias_hh_l{k}")
            h = x.new_zeros(batch, self.hidden_size)  # (batch, hidden)
            steps = []
            for t in range(seq):
                h = torch.tanh(layer_input[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh)
                steps.append(h)
            finals.append(h)
            layer_input = torch.stack(steps, dim=1)  # (batch, seq, hidden)
            if k < self.num_layers - 1 and self.dropout > 0:
                layer_input = F.dropout(layer_input, self.dropout, self.training)
        return layer_input, torch.stack(finals)  # (batch, seq, hidden), (layers, batch, hidden)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"dropout={self.dropout}"
        )
