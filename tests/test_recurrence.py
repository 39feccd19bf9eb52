"""The written-out recurrences (forecast.models.recurrence) against torch's own layers.

Known answers: torch's ``nn.RNN``, ``nn.GRU`` and ``nn.LSTM`` compute the same function;
their outputs and the gradients of every parameter and of the input must agree in float64 to
rounding, for one and two layers, when the loss reads every step or only the last one. Both
ways of training are checked: the compiled C loops (``recurrence.c``, skipped with the
reason when this machine cannot build them) and the torch operations used without them.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from forecast.models import kernels  # noqa: E402
from forecast.models.networks import NetConfig, RecurrentNet  # noqa: E402
from forecast.models.recurrence import LAYERS, FastGRU, FastLSTM, FastRNN  # noqa: E402

PAIRS = [(FastRNN, nn.RNN), (FastGRU, nn.GRU), (FastLSTM, nn.LSTM)]


@pytest.fixture(params=["compiled", "torch ops"])
def path(request, monkeypatch):
    """Train through the C loops, or without them (``FORECAST_KERNELS=0``)."""
    if request.param == "compiled":
        for precision in ("float32", "float64"):
            if kernels.library(precision) is None:
                pytest.skip(f"the C loops cannot be built here (compiler: {kernels.compiler()})")
    else:
        monkeypatch.setenv("FORECAST_KERNELS", "0")
    return request.param


def _pair(ours, theirs, layers, dtype=torch.float64):
    torch.manual_seed(3)
    a = ours(3, 8, layers).to(dtype)
    torch.manual_seed(3)
    b = theirs(3, 8, layers, batch_first=True).to(dtype)
    return a, b


@pytest.mark.parametrize("ours, theirs", PAIRS)
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("reads", ["every step", "last step"])
def test_outputs_and_every_gradient_match_torch_in_float64(ours, theirs, layers, reads, path):
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
def test_gradcheck(ours, theirs, path):
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
def test_float32_matches_torch_to_rounding(ours, theirs, path):
    """Outputs and gradients in float32 (the C loops' own exp: relative error ~2e-7)."""
    a, b = _pair(ours, theirs, 2, torch.float32)
    x = torch.randn(64, 30, 3, requires_grad=True)
    out_a, out_b = a(x)[0], b(x)[0]
    torch.testing.assert_close(out_a, out_b, rtol=1e-5, atol=2e-6)
    grads_a = torch.autograd.grad(out_a[:, -1].square().sum(), [x, *a.parameters()])
    grads_b = torch.autograd.grad(out_b[:, -1].square().sum(), [x, *b.parameters()])
    for ga, gb in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(ga, gb, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("ours, theirs", PAIRS)
def test_without_gradients_the_forward_is_torchs(ours, theirs, path):
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


@pytest.mark.parametrize("ours", [FastRNN, FastGRU, FastLSTM])
def test_dropout_between_layers_acts_in_training_only(ours, path):
    torch.manual_seed(0)
    layer = ours(1, 16, num_layers=2, dropout=0.5)
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


@pytest.mark.parametrize("ours", [FastRNN, FastGRU, FastLSTM])
def test_training_runs_the_compiled_loops_and_repeats_bit_for_bit(ours, path, monkeypatch):
    """With the C loops, a gradient goes through them (and not without); the same inputs give
    the same bits twice."""
    loaded = []
    real = kernels.library
    monkeypatch.setattr(kernels, "library", lambda p: loaded.append(real(p)) or loaded[-1])
    torch.manual_seed(0)
    layer = ours(2, 16, num_layers=2)
    x = torch.randn(64, 30, 2)
    grads = [torch.autograd.grad(layer(x)[0][:, -1].sum(), list(layer.parameters())) for _ in "ab"]
    for g1, g2 in zip(*grads, strict=True):
        assert torch.equal(g1, g2)
    assert len(loaded) == 2
    assert all((lib is not None) == (path == "compiled") for lib in loaded)


def test_the_loops_build_once_into_the_kernel_folder(tmp_path, monkeypatch):
    """A fresh folder gets both precisions, named by a hash of what they depend on; a second
    load reuses the files; the hash moves with the compiler flags."""
    cc = kernels.compiler()
    if cc is None:
        pytest.skip("no C compiler on this machine")
    monkeypatch.setenv("FORECAST_KERNEL_DIR", str(tmp_path))
    for precision in ("float32", "float64"):
        assert kernels._load(precision) is not None
    built = sorted(p.name for p in tmp_path.iterdir())
    assert len(built) == 2 and all(n.startswith("recurrence-float") for n in built)
    stamp = {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert kernels._load("float32") is not None
    assert {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == stamp  # not rebuilt
    key = kernels.build_key(cc, "float32")
    monkeypatch.setattr(kernels, "FLAGS", (*kernels.FLAGS, "-DFORECAST_TEST"))
    assert kernels.build_key(cc, "float32") != key


def test_a_failed_build_says_so_once_and_training_falls_back(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FORECAST_KERNEL_DIR", str(tmp_path))
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    assert kernels._load("float32") is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not be built" in err[0] and "FORECAST_KERNELS=0" in err[0]
    assert list(tmp_path.iterdir()) == []  # no half-written file left behind
    monkeypatch.setattr(kernels, "_loaded", {"float32": None})
    a, b = _pair(FastGRU, nn.GRU, 1, torch.float32)
    x = torch.randn(4, 6, 3)
    torch.testing.assert_close(a(x)[0], b(x)[0], rtol=1e-5, atol=2e-6)


def test_the_switch_turns_the_loops_off(monkeypatch):
    for value in ("0", "off", "false"):
        monkeypatch.setenv("FORECAST_KERNELS", value)
        assert kernels.library("float32") is None
    monkeypatch.delenv("FORECAST_KERNELS")
    assert kernels.library("float16") is None  # no loops for other precisions
