"""The lecture's RNN cell (i2h / i2o) and its two forecasters, lecture_rnn and its direction.

The registry-wide contract (shapes, refits, clones, seeds, batched origins, the leakage
canary) and the model-file round trip run over both models in test_models_contract.py and
test_model_io.py; here: the cell's equations by hand, its relation to the Elman recurrence,
the classifier, and what each forecaster learns on a process with a known answer.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import price_series

from forecast.evaluation.metrics import direction_scores
from forecast.models import get_model
from forecast.models.elman import ElmanRNN
from forecast.models.lecture import LectureDirectionForecaster, LectureRNNForecaster
from forecast.models.networks import (
    NO_MOVE,
    LectureConfig,
    LectureNet,
    LectureRNNCell,
    NetConfig,
    RecurrentNet,
    direction_nll,
)

SMALL = {"window": 6, "hidden_size": 4, "epochs": 2, "max_horizon": 3, "batch_size": 32}


@pytest.fixture(scope="module")
def series():
    return price_series(300, phi=0.2, seed=5)


def set_weights(linear: torch.nn.Linear, weight, bias) -> None:
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(weight, dtype=linear.weight.dtype))
        linear.bias.copy_(torch.tensor(bias, dtype=linear.bias.dtype))


def hand_cell(hidden_activation=None) -> LectureRNNCell:
    """2 inputs, 2 hidden units, 2 outputs, float64, weights chosen for hand arithmetic."""
    cell = LectureRNNCell(2, 2, 2, hidden_activation).double()
    # columns: x_1, x_2, h_1, h_2 (combined = cat(x_t, h_{t-1}))
    set_weights(cell.i2h, [[0.5, -1.0, 0.25, 0.0], [1.0, 0.0, -0.5, 2.0]], [0.1, -0.2])
    set_weights(cell.i2o, [[1.0, 1.0, 1.0, 1.0], [0.0, 2.0, -1.0, 0.5]], [0.0, 1.0])
    return cell


X1, X2 = [[1.0, 2.0]], [[-1.0, 0.5]]


# ---- the cell, by hand ------------------------------------------------------------------
def test_the_cell_computes_the_lecture_equations_by_hand():
    cell = hand_cell()
    h0 = cell.init_hidden(1)
    assert h0.tolist() == [[0.0, 0.0]] and h0.dtype == torch.float64
    y1, h1 = cell(torch.tensor(X1, dtype=torch.float64), h0)
    # combined = [1, 2, 0, 0]
    # h1 = [0.5 - 2 + 0.1, 1 - 0.2] (no nonlinearity); y1 = [1 + 2, 4 + 1]
    torch.testing.assert_close(h1, torch.tensor([[-1.4, 0.8]], dtype=torch.float64))
    torch.testing.assert_close(y1, torch.tensor([[3.0, 5.0]], dtype=torch.float64))
    y2, h2 = cell(torch.tensor(X2, dtype=torch.float64), h1)
    # combined = [-1, 0.5, -1.4, 0.8]
    # h2 = [-0.5 - 0.5 - 0.35 + 0 + 0.1, -1 + 0.7 + 1.6 - 0.2] = [-1.25, 1.1]
    # y2 = [-1 + 0.5 - 1.4 + 0.8, 1 + 1.4 + 0.4 + 1] = [-1.1, 3.8]: read from h1, not h2
    torch.testing.assert_close(h2, torch.tensor([[-1.25, 1.1]], dtype=torch.float64))
    torch.testing.assert_close(y2, torch.tensor([[-1.1, 3.8]], dtype=torch.float64))


def test_the_tanh_option_squashes_the_hidden_update_only():
    cell = hand_cell("tanh")
    y1, h1 = cell(torch.tensor(X1, dtype=torch.float64), cell.init_hidden(1))
    t1, t2 = math.tanh(-1.4), math.tanh(0.8)
    torch.testing.assert_close(h1, torch.tensor([[t1, t2]], dtype=torch.float64))
    torch.testing.assert_close(y1, torch.tensor([[3.0, 5.0]], dtype=torch.float64))  # no tanh
    y2, _ = cell(torch.tensor(X2, dtype=torch.float64), h1)
    expected = [[-1.0 + 0.5 + t1 + t2, 1.0 - t1 + 0.5 * t2 + 1.0]]
    torch.testing.assert_close(y2, torch.tensor(expected, dtype=torch.float64))
    with pytest.raises(ValueError, match="hidden_activation must be None or 'tanh'; got 'relu'"):
        LectureRNNCell(1, 2, 1, "relu")


def test_the_net_forecasts_from_the_last_steps_output():
    """Window [1, 4], one hidden unit: h1 = 2 * 1 + 0.1; y2 = -1 * 4 + 3 * h1 + 0.2 = 2.5."""
    net = LectureNet(LectureConfig(1, 1, None, "regression")).double()
    set_weights(net.cell.i2h, [[2.0, 0.5]], [0.1])
    set_weights(net.cell.i2o, [[-1.0, 3.0]], [0.2])
    out = net(torch.tensor([[1.0, 4.0]], dtype=torch.float64))
    torch.testing.assert_close(out, torch.tensor([[2.5]], dtype=torch.float64))


# ---- against the Elman recurrence ---------------------------------------------------------
def test_with_tanh_and_the_output_read_from_h_t_it_is_the_elman_recurrence():
    """h_t = tanh(i2h(cat(x_t, h_{t-1}))) is Elman's h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1}
    + b_hh) with [W_ih | W_hh] = i2h.weight, b_ih = i2h.bias, b_hh = 0; a linear head on the
    last h_t is then RecurrentNet("elman"). The lecture's own output differs: it reads
    h_{T-1}, and without tanh the hidden states differ too."""
    torch.manual_seed(0)
    lecture = LectureNet(LectureConfig(5, 3, "tanh", "regression")).double()
    elman = RecurrentNet(NetConfig("elman", 5, 1, 0.0, 3)).double()
    i2h = lecture.cell.i2h
    elman.rnn.load_state_dict(
        {
            "weight_ih_l0": i2h.weight[:, :1],
            "weight_hh_l0": i2h.weight[:, 1:],
            "bias_ih_l0": i2h.bias,
            "bias_hh_l0": torch.zeros(5, dtype=torch.float64),
        }
    )
    x = torch.randn(4, 9, dtype=torch.float64)  # (batch, window)
    hidden, states = lecture.cell.init_hidden(4), []
    for t in range(9):
        _, hidden = lecture.cell(x[:, t : t + 1], hidden)
        states.append(hidden)
    states = torch.stack(states, dim=1)  # (batch, window, hidden)
    out, _ = elman.rnn(x.unsqueeze(-1))
    torch.testing.assert_close(states, out, atol=1e-12, rtol=0)
    torch.testing.assert_close(elman.head(states[:, -1]), elman(x), atol=1e-12, rtol=0)
    # the lecture reads i2o(cat(x_T, h_{T-1})) instead
    combined = torch.cat([x[:, -1:], states[:, -2]], dim=1)
    torch.testing.assert_close(lecture(x), lecture.cell.i2o(combined), atol=1e-12, rtol=0)
    # as written (no tanh) the hidden update is linear: other states, same weights
    linear = LectureNet(LectureConfig(5, 3, None, "regression")).double()
    linear.load_state_dict(lecture.state_dict())
    _, h1 = linear.cell(x[:, :1], linear.cell.init_hidden(4))
    torch.testing.assert_close(torch.tanh(h1), states[:, 0], atol=1e-12, rtol=0)
    assert not torch.allclose(h1, states[:, 0])


def test_the_cell_with_tanh_matches_elman_on_two_inputs():
    torch.manual_seed(1)
    cell = LectureRNNCell(2, 3, 1, "tanh").double()
    elman = ElmanRNN(2, 3).double()
    w = cell.i2h.weight.detach()
    elman.load_state_dict(
        {
            "weight_ih_l0": w[:, :2],
            "weight_hh_l0": w[:, 2:],
            "bias_ih_l0": cell.i2h.bias.detach(),
            "bias_hh_l0": torch.zeros(3, dtype=torch.float64),
        }
    )
    x = torch.randn(2, 5, 2, dtype=torch.float64)
    hidden = cell.init_hidden(2)
    for t in range(5):
        _, hidden = cell(x[:, t], hidden)
    torch.testing.assert_close(hidden, elman(x)[1][0], atol=1e-12, rtol=0)


# ---- the classifier ---------------------------------------------------------------------
def test_direction_head_gives_log_probabilities_per_horizon():
    torch.manual_seed(2)
    net = LectureNet(LectureConfig(4, 3, None, "direction"))
    log_probs = net(torch.randn(5, 7))
    assert log_probs.shape == (5, 3, 2)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(5, 3))
    # the log-softmax of i2o's logits, two per horizon, (down, up) in turn
    hidden = net.cell.init_hidden(5)
    x = torch.randn(5, 7)
    for t in range(7):
        logits, hidden = net.cell(x[:, t : t + 1], hidden)
    torch.testing.assert_close(net(x), torch.log_softmax(logits.view(5, 3, 2), dim=-1))


def test_direction_loss_is_the_nll_of_the_moves_and_leaves_out_no_moves():
    log_probs = torch.log(torch.tensor([[[0.2, 0.8], [0.6, 0.4]], [[0.5, 0.5], [0.9, 0.1]]]))
    labels = torch.tensor([[1.0, 0.0], [NO_MOVE, 1.0]])
    expected = -(math.log(0.8) + math.log(0.6) + math.log(0.1)) / 3
    assert direction_nll(log_probs, labels).item() == pytest.approx(expected, rel=1e-6)
    # a batch of no moves at all: zero, and a zero gradient (nll_loss's mean would be NaN)
    logits = torch.zeros(2, 2, 2, requires_grad=True)
    loss = direction_nll(torch.log_softmax(logits, -1), torch.full((2, 2), float(NO_MOVE)))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(logits.grad, torch.zeros(2, 2, 2))


def test_labels_are_the_signs_of_the_moves_from_each_windows_origin():
    prices = pd.Series([100.0, 101, 101, 100, 102, 103, 103, 99])
    y = np.log(prices.to_numpy())
    model = LectureDirectionForecaster(window=2, max_horizon=2)
    z = torch.from_numpy(np.diff(y).astype(np.float32))
    windows = model._training_windows(y, z)
    assert windows.shape == (4, 4)
    torch.testing.assert_close(windows[:, :2], torch.stack([z[i : i + 2] for i in range(4)]))
    # origins 101, 100, 102, 103; moves to the next two prices
    assert windows[:, 2:].tolist() == [[0, 1], [1, 1], [1, 1], [NO_MOVE, 0]]


# ---- the forecasters ------------------------------------------------------------------------
def test_direction_forecast_moves_the_expected_amount_the_classifier_calls(series):
    model = get_model("lecture_rnn_direction", **SMALL).fit(series.iloc[:250])
    r = np.diff(np.log(series.iloc[:250].to_numpy()))
    moves = np.array([[r[i + 6 : i + 6 + k].sum() for k in (1, 2, 3)] for i in range(250 - 9)])
    np.testing.assert_allclose(model.mean_abs_move_, np.abs(moves).mean(0), rtol=1e-12)
    y = np.log(series.to_numpy())
    ends = np.arange(250, 300)
    up = model._up_probabilities(model._input_windows(y, ends))  # (origins, 3)
    moved = model.forecast_log_paths(y, ends, 3) - y[ends - 1][:, None]
    np.testing.assert_allclose(moved, (2 * up - 1) * model.mean_abs_move_, rtol=0, atol=1e-14)
    assert np.array_equal(np.sign(moved), np.sign(up - 0.5))  # the classifier's call
    proba = model.predict_proba(history=series.iloc[:260])
    assert list(proba.columns) == ["down", "up"] and list(proba.index) == [1, 2, 3]
    np.testing.assert_allclose(proba.up, up[10], rtol=1e-12)
    price_moves = model.predict(3, history=series.iloc[:260]) - series.iloc[259]
    assert np.array_equal(np.sign(price_moves.to_numpy()), np.sign(up[10] - 0.5))
    # beyond max_horizon: recursive, the first steps unchanged
    longer = model.forecast_log_paths(y, ends, 8)
    np.testing.assert_array_equal(longer[:, :3], moved + y[ends - 1][:, None])
    assert np.all(np.isfinite(longer))


def test_direction_model_learns_a_strong_direction_signal():
    """AR(1) returns with phi = 0.6: the sign of the last return calls the next one right
    with probability 1/2 + arcsin(0.6) / pi = 0.70. Held-out hit rate and PT, one step."""
    prices = price_series(2000, phi=0.6, sigma=0.01, mu=0.0, seed=3)
    y = np.log(prices.to_numpy())
    model = get_model(
        "lecture_rnn_direction", window=5, hidden_size=4, epochs=4, lr=1e-2, max_horizon=1
    ).fit(prices.iloc[:1500])
    ends = np.arange(1500, 2000)
    forecast = np.exp(model.forecast_log_paths(y, ends, 1)[:, 0])
    origin = np.exp(y[ends - 1])
    hit, pvalue = direction_scores(np.exp(y[ends]), forecast, origin)
    assert hit > 0.64 and pvalue < 1e-6, (hit, pvalue)


def test_regression_model_recovers_an_ar1_like_the_ar_model():
    """Without tanh the net is a linear autoregression: its one-step error on AR(1) returns
    (phi = 0.3) must close most of the gap between the random walk and the oracle."""
    phi, mu = 0.3, 0.0003
    prices = price_series(2500, phi=phi, sigma=0.01, mu=mu, seed=0)
    y = np.log(prices.to_numpy())
    r = np.diff(y)
    ends = np.arange(2000, 2500)
    actual = r[ends - 1]
    oracle = np.mean((mu + phi * (r[ends - 2] - mu) - actual) ** 2)
    naive = np.mean(actual**2)
    model = get_model("lecture_rnn", window=5, hidden_size=4, epochs=5, lr=1e-2)
    model.fit(prices.iloc[:2000])
    mse = np.mean((model.forecast_log_paths(y, ends, 1)[:, 0] - y[ends - 1] - actual) ** 2)
    assert mse <= 1.10 * oracle and mse - oracle < 0.5 * (naive - oracle), mse / oracle


# ---- parameters, warm starts, the registry ------------------------------------------------
def test_hidden_activation_is_checked_and_changes_the_forecast(series):
    with pytest.raises(ValueError, match="hidden_activation must be None or 'tanh'; got 'relu'"):
        get_model("lecture_rnn", **SMALL, hidden_activation="relu").fit(series)
    linear = get_model("lecture_rnn", **SMALL).fit(series).predict(3)
    tanh = get_model("lecture_rnn", **SMALL, hidden_activation="tanh").fit(series).predict(3)
    assert not np.array_equal(linear.to_numpy(), tanh.to_numpy())


def test_warm_start_continues_and_a_changed_cell_starts_afresh(series):
    model = get_model("lecture_rnn_direction", **SMALL, warm_start=True).fit(series.iloc[:250])
    assert model.fit(series).warm_started_
    model.set_params(hidden_activation="tanh").fit(series)
    assert not model.warm_started_ and model.nets_[0].config.hidden_activation == "tanh"


def test_registry_names_and_defaults():
    for name, cls in (
        ("lecture_rnn", LectureRNNForecaster),
        ("lecture_rnn_direction", LectureDirectionForecaster),
    ):
        model = get_model(name)
        assert type(model) is cls and model.name == name
        assert model.get_params() == {
            "window": 30,
            "hidden_size": 32,
            "hidden_activation": None,
            "max_horizon": 5,
            "epochs": 50,
            "batch_size": 64,
            "lr": 1e-3,
            "patience": 5,
            "grad_clip": 1.0,
            "n_models": 1,
            "warm_start": False,
            "seed": 0,
        }
