"""The recurrent forecasters: the hand-written RNN, windows, training, seeds, accuracy.

Tiny networks throughout (hidden 4-8, window 5-8, a few epochs); the registry-wide contract
(shapes, refits, clones, seeds, batched origins, the leakage canary) lives in
test_models_contract.py and covers every neural model too.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import price_series
from torch import nn

from forecast.cli import main
from forecast.data.series import embedded_dir
from forecast.errors import DataError, ModelFitError
from forecast.models import get_model
from forecast.models.compiled_step import CompiledStep
from forecast.models.elman import ElmanRNN
from forecast.models.networks import NetConfig, RecurrentNet, TrainConfig, make_windows, train_net
from forecast.models.neural import GRUForecaster, LSTMForecaster, RecurrentForecaster

NEURAL = ["elman", "rnn", "lstm", "gru"]
SMALL = {"window": 6, "hidden_size": 4, "epochs": 2, "max_horizon": 3, "batch_size": 32}


@pytest.fixture(scope="module")
def series():
    return price_series(300, phi=0.2, seed=5)


def small(name, **params):
    return get_model(name, **{**SMALL, **params})


# ---- the hand-written RNN ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("dtype", "tol"),
    [(torch.float32, 1e-6), (torch.float64, 1e-12)],  # float32: to its rounding; float64: exact
)
def test_elman_matches_nn_rnn_outputs_and_gradients(dtype, tol):
    torch.manual_seed(0)
    reference = nn.RNN(2, 5, num_layers=2, batch_first=True).to(dtype)
    elman = ElmanRNN(2, 5, num_layers=2).to(dtype)
    elman.load_state_dict(reference.state_dict())  # same names and shapes as nn.RNN's
    x = torch.randn(3, 7, 2, dtype=dtype)  # (batch, seq, input)
    x_ref, x_elman = x.clone().requires_grad_(), x.clone().requires_grad_()

    out_ref, h_ref = reference(x_ref)
    out_elman, h_elman = elman(x_elman)
    torch.testing.assert_close(out_elman, out_ref, atol=tol, rtol=0)
    torch.testing.assert_close(h_elman, h_ref, atol=tol, rtol=0)

    # backpropagation through time: a loss on every step and on the final states; the
    # gradients reach ~10, so float32 agrees to 1e-6 relative
    weights = torch.randn_like(out_ref)
    ((out_ref * weights).sum() + h_ref.pow(2).sum()).backward()
    ((out_elman * weights).sum() + h_elman.pow(2).sum()).backward()
    pairs = [*zip(reference.parameters(), elman.parameters(), strict=True), (x_ref, x_elman)]
    for p_ref, p_elman in pairs:
        torch.testing.assert_close(p_elman.grad, p_ref.grad, atol=tol, rtol=tol)


def test_elman_draws_nn_rnn_initial_weights():
    torch.manual_seed(3)
    reference = nn.RNN(1, 4, num_layers=2)
    torch.manual_seed(3)
    elman = ElmanRNN(1, 4, num_layers=2)
    for (name, a), b in zip(reference.named_parameters(), elman.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0, msg=name)


# ---- windows and training -------------------------------------------------------------
def test_windows_are_a_view_not_a_copy():
    z = torch.arange(1000, dtype=torch.float32)
    windows = make_windows(z, 35)
    assert windows.shape == (966, 35)
    assert windows.untyped_storage().data_ptr() == z.untyped_storage().data_ptr()
    torch.testing.assert_close(windows[123], z[123:158])


def spy_rows(net, rows, monkeypatch):
    """Record which windows the net sees in training and in evaluation mode (training steps
    through autograd call the net; compiled ones go through CompiledStep.step)."""
    forward, step = net.forward, CompiledStep.step

    def ids(x):
        return (x[:, 0] * 200).round().long().tolist()  # window i starts with i / 200

    def recording(x):
        rows["train" if net.training else "eval"].update(ids(x))
        return forward(x)

    def recording_step(self, batch):
        rows["train"].update(ids(batch))
        return step(self, batch)

    net.forward = recording
    monkeypatch.setattr(CompiledStep, "step", recording_step)


@pytest.mark.parametrize("kernels", ["1", "0"])  # compiled training steps, then autograd
def test_validation_windows_never_train_and_the_best_weights_return(kernels, monkeypatch):
    monkeypatch.setenv("FORECAST_KERNELS", kernels)
    z = torch.arange(200, dtype=torch.float32) / 200  # window i starts with i / 200
    windows = make_windows(z, 6 + 2)
    n_val = 19
    torch.manual_seed(0)
    net = RecurrentNet(NetConfig("GRU", 4, 1, 0.0, 2))
    rows = {"train": set(), "eval": set()}
    spy_rows(net, rows, monkeypatch)
    config = TrainConfig(epochs=3, batch_size=16, lr=1e-3, patience=2, grad_clip=1.0)
    epochs, best = train_net(net, windows, n_val, config, torch.Generator().manual_seed(0))
    n_train = len(windows) - n_val
    assert rows["train"] == set(range(n_train))  # every training window, no validation one
    assert rows["eval"] == set(range(n_train, len(windows)))
    assert 1 <= epochs <= 3
    val = windows[n_train:]
    with torch.no_grad():
        restored = nn.functional.mse_loss(net(val[:, :6]), val[:, 6:]).item()
    assert restored == best  # the weights in the net are those of the best epoch


def test_early_stopping_stops_and_none_turns_it_off(series):
    stopped = small("gru", epochs=40, patience=1, lr=0.05).fit(series)
    assert stopped.n_epochs_[0] < 40 and stopped.val_loss_[0] is not None
    off = small("gru", epochs=3, patience=None).fit(series)
    assert off.n_epochs_ == [3] and off.val_loss_ == [None]


def test_standardised_with_training_data_only(series):
    model = small("rnn").fit(series.iloc[:200])
    r = np.diff(np.log(series.iloc[:200].to_numpy()))
    assert model.mean_ == np.mean(r) and model.scale_ == np.std(r)


# ---- forecasting ------------------------------------------------------------------------
def test_recursive_beyond_max_horizon_extends_the_direct_forecast(series):
    model = small("lstm", max_horizon=3).fit(series)
    direct = model.predict(3).to_numpy()
    longer = model.predict(11).to_numpy()
    assert len(longer) == 11 and np.all(np.isfinite(longer))
    np.testing.assert_array_equal(longer[:3], direct)


def test_each_origin_reads_only_its_own_prefix(series):
    model = small("gru").fit(series.iloc[:200])
    y = np.log(series.to_numpy())
    ends = np.array([210, 240, 280])
    paths = model.forecast_log_paths(y, ends, 4)
    changed = y.copy()
    changed[211:] += np.random.default_rng(0).normal(0, 0.1, len(y) - 211)
    again = model.forecast_log_paths(changed, ends, 4)
    np.testing.assert_array_equal(paths[0], again[0])
    assert not np.array_equal(paths[1:], again[1:])


def test_no_origins_give_no_rows(series):
    model = small("rnn").fit(series)
    assert model.forecast_log_paths(np.log(series.to_numpy()), np.array([], int), 3).shape == (
        0,
        3,
    )


def test_origin_without_a_full_window_is_refused(series):
    model = small("rnn", window=6).fit(series)
    with pytest.raises(DataError, match=r"ends must lie in \[7, 300\].*window=6; got 6\.\.6"):
        model.forecast_log_paths(np.log(series.to_numpy()), np.array([6]), 1)
    with pytest.raises(DataError, match="history must hold at least 7 prices"):
        model.predict(1, history=series.iloc[:6])


# ---- seeds, ensembles, warm starts --------------------------------------------------------
def test_seed_wired_and_global_state_left_alone(series):
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = small("lstm", seed=0).fit(series).predict(3).to_numpy()
    assert torch.equal(torch.rand(3), expected)  # the caller's RNG stream did not move
    assert torch.get_num_threads() == threads
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.utils.deterministic.fill_uninitialized_memory
    b = small("lstm", seed=1).fit(series).predict(3).to_numpy()
    assert not np.array_equal(a, b)


def test_ensemble_averages_nets_seeded_in_sequence(series):
    pair = small("gru", n_models=2, seed=7).fit(series)
    first = small("gru", seed=7).fit(series)
    second = small("gru", seed=8).fit(series)
    for net, single in zip(pair.nets_, (first.nets_[0], second.nets_[0]), strict=True):
        for a, b in zip(net.state_dict().values(), single.state_dict().values(), strict=True):
            assert torch.equal(a, b)
    mean = (np.log(first.predict(3)) + np.log(second.predict(3))) / 2
    np.testing.assert_allclose(np.log(pair.predict(3)), mean, rtol=0, atol=1e-9)


def test_warm_start_continues_from_the_previous_weights(series):
    warm = small("lstm", warm_start=True, epochs=1, patience=None)
    warm.fit(series.iloc[:250])
    assert not warm.warm_started_
    before = [t.clone() for t in warm.nets_[0].state_dict().values()]
    warm.fit(series)
    assert warm.warm_started_
    cold = small("lstm", epochs=1, patience=None).fit(series)
    after = list(warm.nets_[0].state_dict().values())
    # one epoch moves the weights a little from where they were, not back to a fresh start
    drift = max((a - b).abs().max().item() for a, b in zip(after, before, strict=True))
    assert 0 < drift < 0.05
    assert not np.array_equal(warm.predict(3).to_numpy(), cold.predict(3).to_numpy())
    # a changed architecture cannot continue: the next fit starts afresh
    warm.set_params(hidden_size=5).fit(series)
    assert not warm.warm_started_ and warm.nets_[0].config.hidden_size == 5


# ---- parameters and the registry ----------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"window": 1}, ValueError, "window must be an integer >= 2; got 1"),
        ({"window": 2.5}, TypeError, "window must be an integer >= 2; got 2.5"),
        ({"hidden_size": 0}, ValueError, "hidden_size must be an integer >= 1; got 0"),
        ({"epochs": 0}, ValueError, "epochs must be an integer >= 1; got 0"),
        ({"patience": 0}, ValueError, "patience must be an integer >= 1; got 0"),
        ({"n_models": True}, TypeError, "n_models must be an integer >= 1; got True"),
        ({"seed": -1}, ValueError, "seed must be an integer >= 0; got -1"),
        ({"dropout": 1.0}, ValueError, r"dropout must be a number in \[0, 1\); got 1.0"),
        ({"lr": 0}, ValueError, "lr must be a finite number > 0; got 0"),
        ({"grad_clip": float("nan")}, ValueError, "grad_clip must be a finite number > 0 or None"),
        ({"warm_start": "yes"}, TypeError, "warm_start must be True or False; got 'yes'"),
    ],
)
def test_bad_parameters_are_named(series, params, error, message):
    with pytest.raises(error, match=message):
        small("gru", **params).fit(series)


def test_constant_returns_refused():
    flat = pd.Series(100.0 * 1.001 ** np.arange(100))
    with pytest.raises(ModelFitError, match="rnn: training log-returns are constant"):
        small("rnn").fit(flat)


def test_registry_names_and_defaults():
    model = get_model("lstm")
    assert isinstance(model, LSTMForecaster) and model.cell == "LSTM"
    assert model.get_params() == {
        "window": 30,
        "hidden_size": 32,
        "num_layers": 1,
        "dropout": 0.0,
        "max_horizon": 5,
        "epochs": 50,
        "batch_size": 64,
        "lr": 1e-3,
        "patience": 5,
        "grad_clip": 1.0,
        "n_models": 1,
        "warm_start": False,
        "seed": 0,
        "covariates": False,
    }
    assert all(issubclass(type(get_model(n)), RecurrentForecaster) for n in NEURAL)


def test_importing_forecast_does_not_import_torch():
    code = (
        "import sys, forecast; forecast.get_model('naive'); names = forecast.available_models(); "
        "local = [n for n in names if not n.startswith('global_')]; "
        "assert local[-4:] == ['elman', 'rnn', 'lstm', 'gru'], names; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", NEURAL)
def test_deeper_nets_with_dropout_fit(series, name):
    model = small(name, num_layers=2, dropout=0.2).fit(series)
    assert np.all(np.isfinite(model.predict(4)))


# ---- accuracy on a process with a known answer -------------------------------------------
def test_ar1_one_step_error_close_to_the_oracle():
    """AR(1) log-returns (coefficient 0.3, 3000 steps): fit on 2500, forecast the last 500.

    The oracle is the true conditional mean. The random walk's error is ~1.1 times the
    oracle's here, so the 10% bound alone would not show that a net learned anything: each
    must also close most of the gap between the random walk and the oracle.
    """
    phi, mu = 0.3, 0.0003
    prices = price_series(3000, phi=phi, sigma=0.01, mu=mu, seed=0)
    y = np.log(prices.to_numpy())
    r = np.diff(y)
    ends = np.arange(2500, 3000)  # origins 2499..2998, targets r[2499..2998]
    actual = r[ends - 1]
    oracle = np.mean((mu + phi * (r[ends - 2] - mu) - actual) ** 2)
    naive = np.mean(actual**2)
    fast = {"window": 5, "hidden_size": 8, "epochs": 6, "lr": 1e-2}
    for name, params, bound in (("ar", {}, 1.03), ("lstm", fast, 1.10), ("gru", fast, 1.10)):
        model = get_model(name, **params).fit(prices.iloc[:2500])
        forecast = model.forecast_log_paths(y, ends, 1)[:, 0] - y[ends - 1]
        mse = np.mean((forecast - actual) ** 2)
        assert mse <= bound * oracle, f"{name}: {mse / oracle:.3f} x the oracle's error"
        assert mse - oracle < 0.5 * (naive - oracle), f"{name} learned too little"


def test_gru_class_is_registered_as_gru():
    assert GRUForecaster.name == "gru" and type(get_model("gru")) is GRUForecaster


def test_cli_flags_reach_the_neural_models(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["backtest", "--csv", str(embedded_dir() / "IBM.csv"), "--models", "lstm,gru"]
    args += ["--test-size", "20", "--refit-every", "10", "--epochs", "1", "--window", "5"]
    args += ["--hidden-size", "4", "--n-models", "2", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["failures"] == []
    forecasts = pd.read_csv(out / "forecasts.csv")
    assert set(forecasts.model) == {"naive", "lstm", "gru"}
    assert "lstm" in capsys.readouterr().out


@pytest.mark.parametrize("foreach", [None, True])
def test_hand_written_adam_and_clipping_are_bit_identical_to_torch(foreach):
    """networks.Adam replaces torch.optim.Adam (whose first use imports torch._dynamo) and
    networks.clip_grad_norm nn.utils.clip_grad_norm_: the same updates, bit for bit, over
    many steps, against torch's single-tensor default and its multi-tensor path."""
    from forecast.models.networks import Adam, clip_grad_norm

    def train(make_optimizer, clip):
        torch.manual_seed(0)
        net = nn.LSTM(1, 8, batch_first=True)
        head = nn.Linear(8, 2)
        params = [*net.parameters(), *head.parameters()]
        opt = make_optimizer(params)
        gen = torch.Generator().manual_seed(1)
        for _ in range(60):
            x = torch.randn(16, 10, 1, generator=gen)
            loss = ((head(net(x)[0][:, -1]) - x[:, -2:, 0]) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            clip(params, 1.0)
            opt.step()
        return [p.detach().clone() for p in params]

    ours = train(lambda p: Adam(p, lr=1e-2), clip_grad_norm)
    torch_adam = lambda p: torch.optim.Adam(p, lr=1e-2, foreach=foreach)  # noqa: E731
    theirs = train(torch_adam, nn.utils.clip_grad_norm_)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))
    assert not torch.equal(ours[0], train(lambda p: Adam(p, lr=2e-2), clip_grad_norm)[0])


def test_adam_leaves_a_parameter_without_gradient_alone():
    from forecast.models.networks import Adam

    a, b = nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(2))
    opt = Adam([a, b], lr=0.1)
    (a * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    opt.step()
    assert torch.equal(b.detach(), torch.ones(2)) and b.grad is None
    assert torch.all(a.detach() < 1)


def test_fitting_a_net_does_not_import_torch_dynamo():
    code = (
        "import sys, numpy as np, pandas as pd\n"
        "from forecast.models import get_model\n"
        "s = pd.Series(np.exp(np.cumsum(np.random.default_rng(0).normal(0, .01, 200))),\n"
        "              index=pd.bdate_range('2020-01-01', periods=200))\n"
        "get_model('gru', epochs=2, window=10, hidden_size=4).fit(s).predict(2)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
