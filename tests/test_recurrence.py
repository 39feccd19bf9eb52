"""The written-out recurrences (forecast.models.recurrence) against torch's own layers.

Known answers: torch's ``nn.RNN`` and ``nn.GRU`` compute the same function; their outputs
and the gradients of every parameter and of the input must agree in float64 to rounding, for
one and two layers, when the loss reads every step or only the last one.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from forecast.models.networks import NetConfig, RecurrentNet  # noqa: E402
from forecast.models.recurrence import LAYERS, FastGRU, FastRNN  # noqa: E402

PAIRS = [(FastRNN, nn.RNN), (FastGRU, nn.GRU)]


def _pair(ours, theirs, layers, dtype=torch.float64):
    torch.manual_seed(3)
    a = ours(3, 8, layers).to(dtype)
    torch.manual_seed(3)
    b = theirs(3, 8, layers, batch_first=True).to(dtype)
    return a, b


@pytest.mark.parametrize("ours, theirs", PAIRS)
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("reads", ["every step", "last step"])
def test_outputs_and_every_gradient_match_torch_in_float64(ours, theirs, layers, reads):
    a, b = _pair(ours, theirs, layers)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(5, 7, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(5, 7, 8, generator=gen, dtype=torch.float64)
    if reads == "last step":
        weights[:, :-1] = 0
    out_a, state = a(x)
    out_b, _ = b(x)
    assert state is None
    assert out_a.shape == out_b.shape == (5, 7, 8)
    torch.testing.assert_close(out_a, out_b, rtol=0, atol=1e-13)
    grads_a = torch.autograd.grad((out_a * weights).sum(), [x, *a.parameters()])
    grads_b = torch.autograd.grad((out_b * weights).sum(), [x, *b.parameters()])
    for (name, _), ga, gb in zip(a.named_parameters(), grads_a[1:], grads_b[1:], strict=True):
        torch.testing.assert_close(ga, gb, rtol=0, atol=1e-12, msg=name)
    torch.testing.assert_close(grads_a[0], grads_b[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("ours, theirs", PAIRS)
def test_gradcheck(ours, theirs):
    """Finite differences agree with the written-out backward pass."""
    a, _ = _pair(ours, theirs, 2)
    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: a(v)[0], (x,))


@pytest.mark.parametrize("ours, theirs", PAIRS)
def test_same_weights_names_and_files_as_torch(ours, theirs):
    a, b = _pair(ours, theirs, 2, torch.float32)
    assert list(a.state_dict()) == list(b.state_dict())
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    b.load_state_dict(a.state_dict())  # interchangeable both ways
    a.load_state_dict(b.state_dict())


@pytest.mark.parametrize("ours, theirs", PAIRS)
def test_float32_matches_torch_to_rounding(ours, theirs):
    a, b = _pair(ours, theirs, 1, torch.float32)
    x = torch.randn(64, 30, 3)
    torch.testing.assert_close(a(x)[0], b(x)[0], rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("ours, theirs", PAIRS)
def test_without_gradients_the_forward_is_torchs(ours, theirs):
    """Forecasts run torch's forward: bit-identical to torch's layer, and close to the
    training forward."""
    a, b = _pair(ours, theirs, 1, torch.float32)
    x = torch.randn(4, 6, 3)
    trained = a(x)[0].detach()
    with torch.no_grad():
        assert torch.equal(a(x)[0], b(x)[0])
    with torch.inference_mode():
        assert torch.equal(a(x)[0], b(x)[0])
    torch.testing.assert_close(trained, b(x)[0].detach(), rtol=1e-5, atol=2e-6)


def test_dropout_between_layers_acts_in_training_only():
    torch.manual_seed(0)
    layer = FastRNN(1, 16, num_layers=2, dropout=0.5)
    x = torch.randn(4, 5, 1)
    layer.eval()
    assert torch.equal(layer(x)[0], layer(x)[0])
    layer.train()
    assert not torch.equal(layer(x)[0], layer(x)[0])


def test_an_initial_state_is_refused():
    layer = FastRNN(1, 4)
    with pytest.raises(ValueError, match="zero state"):
        layer(torch.randn(2, 3, 1), torch.zeros(1, 2, 4))


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
def test_recurrent_net_uses_the_written_out_layer_where_there_is_one(cell):
    net = RecurrentNet(NetConfig(cell, 8, 1, 0.0, 5))
    expected = LAYERS.get(cell, getattr(nn, cell))
    assert type(net.rnn) is expected
    assert net(torch.randn(3, 10)).shape == (3, 5)
