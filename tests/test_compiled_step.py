"""The training step without autograd (forecast.models.compiled_step) against the autograd
path it replaces: the same net, the same batches, the same clipping and Adam steps must give
the same weights to float32 rounding; the cases it does not cover must keep autograd."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from forecast.models import kernels  # noqa: E402
from forecast.models.compiled_step import CompiledStep  # noqa: E402
from forecast.models.networks import (  # noqa: E402
    Adam,
    NetConfig,
    RecurrentNet,
    TrainConfig,
    clip_grad_norm,
    make_windows,
    train_net,
)


@pytest.fixture(autouse=True)
def _needs_the_loops():
    if kernels.library("float32") is None:
        pytest.skip(f"the C loops cannot be built here (compiler: {kernels.compiler()})")


def _nets(cell, layers, seed=0):
    config = NetConfig(cell, 16, layers, 0.0, 3)
    torch.manual_seed(seed)
    a = RecurrentNet(config)
    b = RecurrentNet(config)
    b.load_state_dict(a.state_dict())
    return a, b


def _autograd_step(net, optimizer, batch, window, clip):
    loss = F.mse_loss(net(batch[:, :window]), batch[:, window:])
    optimizer.zero_grad()
    loss.backward()
    if clip is not None:
        clip_grad_norm(list(net.parameters()), clip)
    optimizer.step()


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("clip", [None, 1.0, 1e-3])  # 1e-3: clipping acts at every step
def test_steps_match_the_autograd_path(cell, layers, clip):
    a, b = _nets(cell, layers)
    gen = torch.Generator().manual_seed(1)
    windows = make_windows(torch.randn(400, generator=gen), 12 + 3)  # (386, 15)
    step = CompiledStep.for_net(a, windows, F.mse_loss, None, 1e-2, clip)
    assert step is not None
    optimizer = Adam(list(b.parameters()), lr=1e-2)
    for idx in torch.randperm(len(windows), generator=gen).split(64):  # a last, short batch
        step.step(windows[idx])
        _autograd_step(b, optimizer, windows[idx], 12, clip)
    step.release()
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=2e-5, msg=name)
    assert not torch.equal(a.head.weight, _nets(cell, layers)[0].head.weight)  # it learned


def test_train_net_takes_the_compiled_step_and_repeats_bit_for_bit(monkeypatch):
    used = []
    real = CompiledStep.step
    monkeypatch.setattr(CompiledStep, "step", lambda self, b: used.append(1) or real(self, b))
    windows = make_windows(torch.randn(300, generator=torch.Generator().manual_seed(2)), 20)
    config = TrainConfig(epochs=3, batch_size=32, lr=1e-3, patience=2, grad_clip=1.0)
    states = []
    for _ in range(2):
        net, _ = _nets("GRU", 1)
        train_net(net, windows, 28, config, torch.Generator().manual_seed(0))
        states.append(net.state_dict())
        # the parameters own their storage again after training
        assert len({p.untyped_storage().data_ptr() for p in net.parameters()}) == 6
    assert used
    for key, value in states[0].items():
        assert torch.equal(value, states[1][key]), key


def test_adam_step_matches_torch_adam():
    """The C optimiser step (with clipping) against torch.optim.Adam after
    nn.utils.clip_grad_norm_, over several steps."""
    gen = torch.Generator().manual_seed(3)
    ours = torch.randn(1000, generator=gen)
    theirs = nn.Parameter(ours.clone())
    optimizer = torch.optim.Adam([theirs], lr=1e-2)
    avg, avg_sq = torch.zeros_like(ours), torch.zeros_like(ours)
    lib = kernels.library("float32")
    for t in range(1, 6):
        grad = torch.randn(1000, generator=gen) * t
        theirs.grad = grad.clone()
        nn.utils.clip_grad_norm_([theirs], 5.0)
        optimizer.step()
        ptrs = [v.data_ptr() for v in (ours, grad, avg, avg_sq)]
        lib.adam_step(
            *ptrs, 1000, 1e-2 / (1 - 0.9**t), (1 - 0.999**t) ** 0.5, 0.9, 0.999, 1e-8, 5.0
        )
        torch.testing.assert_close(ours, theirs.detach(), rtol=1e-5, atol=1e-6)


def _windows():
    return make_windows(torch.randn(100), 15)


@pytest.mark.parametrize(
    "change",
    ["dropout", "embedding", "loss", "split", "float64", "covariates", "elman", "switched off"],
)
def test_other_cases_keep_autograd(change, monkeypatch):
    config = NetConfig(
        "elman" if change == "elman" else "GRU",
        8,
        1,
        0.2 if change == "dropout" else 0.0,
        3,
        input_size=2 if change == "covariates" else 1,
        n_series=3 if change == "embedding" else 0,
        embedding_dim=2 if change == "embedding" else 0,
    )
    net = RecurrentNet(config)
    windows = _windows().double() if change == "float64" else _windows()
    loss = F.l1_loss if change == "loss" else F.mse_loss
    split = (lambda b: ((b[:, :12],), b[:, 12:])) if change == "split" else None
    if change == "switched off":
        monkeypatch.setenv("FORECAST_KERNELS", "0")
    assert CompiledStep.for_net(net, windows, loss, split, 1e-3, 1.0) is None
    plain = RecurrentNet(NetConfig("GRU", 8, 1, 0.0, 3))
    monkeypatch.delenv("FORECAST_KERNELS", raising=False)
    assert CompiledStep.for_net(plain, _windows(), F.mse_loss, None, 1e-3, 1.0) is not None
