"""MarkovChainForecaster: known transition matrices, a hand-computed forecast, bins, edge cases."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import perturb_after, price_series

from forecast.errors import DataError, ModelFitError
from forecast.models.markov import MarkovChainForecaster, quantile_edges


def prices_from_returns(r: np.ndarray) -> pd.Series:
    idx = pd.bdate_range("2010-01-04", periods=len(r) + 1, name="date")
    return pd.Series(100.0 * np.exp(np.concatenate([[0.0], np.cumsum(r)])), index=idx)


def simulate_chain(p: np.ndarray, n: int, seed: int) -> np.ndarray:
    """States 0..k-1 of a Markov chain with transition matrix ``p[from, to]``."""
    rng = np.random.default_rng(seed)
    cum = np.cumsum(p, axis=1)
    u = rng.random(n)
    states = np.empty(n, dtype=int)
    states[0] = 0
    for t in range(1, n):
        states[t] = min(np.searchsorted(cum[states[t - 1]], u[t], side="right"), len(p) - 1)
    return states


def test_recovers_transition_matrix_from_disjoint_return_ranges():
    # doubly stochastic, so the stationary distribution is uniform and the 1/3, 2/3 quantile
    # edges fall (nearly) in the gaps between the three return ranges
    p_true = np.array([[0.8, 0.1, 0.1], [0.1, 0.7, 0.2], [0.1, 0.2, 0.7]])
    n = 30_000
    states = simulate_chain(p_true, n, seed=1)
    rng = np.random.default_rng(2)
    r = np.array([-0.02, 0.0, 0.02])[states] + rng.uniform(-0.005, 0.005, n)
    model = MarkovChainForecaster(n_states=3, alpha=1.0).fit(prices_from_returns(r))

    # a state's share wanders from 1/3 by ~sqrt(4 * n * 2/9) ~ 160 returns (the factor 4 is
    # the chain's persistence), so up to ~1% of returns land in a neighbouring bin
    assert np.mean(model.states_of(r) != states) < 0.02
    # each row holds ~10_000 transitions: standard error <= sqrt(0.25 / 10_000) = 0.005;
    # 0.03 covers 4 standard errors plus the misbinning (max error 0.019 over 5 seeds)
    np.testing.assert_allclose(model.transition_matrix_, p_true, atol=0.03)
    np.testing.assert_allclose(model.transition_matrix_.sum(axis=1), 1.0)
    np.testing.assert_allclose(model.state_means_, [-0.02, 0.0, 0.02], atol=0.001)


def test_tied_returns_recover_states_and_counts_exactly():
    # each state emits one value: with exactly n_states distinct returns the edges must fall
    # between them, however unequal the state frequencies (quantiles alone would not)
    p_true = np.array([[0.9, 0.05, 0.05], [0.3, 0.6, 0.1], [0.5, 0.0, 0.5]])
    states = simulate_chain(p_true, 20_000, seed=3)
    # dyadic levels make the cumulative sum and its differences exact, so the returns tie
    # exactly (prices through exp and log would not); hence _fit on log prices directly
    levels = np.array([-3, 1, 4]) / 2.0**8
    y = np.concatenate([[0.0], np.cumsum(levels[states])])
    model = MarkovChainForecaster(n_states=3, alpha=0.0)
    model._fit(y)

    np.testing.assert_array_equal(model.states_of(np.diff(y)), states)
    np.testing.assert_array_equal(model.state_means_, levels)
    expected_counts = np.zeros((3, 3), dtype=int)
    np.add.at(expected_counts, (states[:-1], states[1:]), 1)
    np.testing.assert_array_equal(model.transition_counts_, expected_counts)
    # alpha=0: the maximum-likelihood estimate; rows hold >= 2_000 transitions, standard
    # error <= sqrt(0.25 / 2_000) ~ 0.011, so 0.05 is more than 4 standard errors
    np.testing.assert_allclose(model.transition_matrix_, p_true, atol=0.05)


def test_forecast_matches_hand_computation():
    # returns alternate in sign: the median edge is 0, states are [1, 0, 1, 0, 1, 0]
    r = np.array([0.01, -0.02, 0.03, -0.01, 0.02, -0.03])
    series = prices_from_returns(r)
    model = MarkovChainForecaster(n_states=2, alpha=1.0).fit(series)

    np.testing.assert_allclose(model.bin_edges_, [0.0], atol=1e-12)
    np.testing.assert_array_equal(model.state_counts_, [3, 3])
    # transitions 1->0 three times, 0->1 twice; +1 smoothing: [[1, 3] / 4, [4, 1] / 5]
    np.testing.assert_array_equal(model.transition_counts_, [[0, 2], [3, 0]])
    np.testing.assert_allclose(model.transition_matrix_, [[0.25, 0.75], [0.8, 0.2]])
    np.testing.assert_allclose(model.state_means_, [-0.02, 0.02], atol=1e-12)

    # last return -0.03 is in state 0: pi_1 = [0.25, 0.75], E r_1 = -0.005 + 0.015 = 0.01;
    # pi_2 = pi_1 P = [0.6625, 0.3375], E r_2 = -0.01325 + 0.00675 = -0.0065
    last = np.log(series.iloc[-1])
    y = np.log(series.to_numpy())
    np.testing.assert_allclose(model._forecast(y, 2), [last + 0.01, last + 0.0035], atol=1e-12)
    np.testing.assert_allclose(
        model.predict(2).to_numpy(), series.iloc[-1] * np.exp([0.01, 0.0035]), rtol=1e-12
    )


def test_bins_use_training_data_only():
    series = price_series(400, seed=5)
    train = series.iloc[:300]
    model = MarkovChainForecaster(n_states=4).fit(train)
    r_train = np.diff(np.log(train.to_numpy()))
    np.testing.assert_array_equal(model.bin_edges_, quantile_edges(r_train, 4))
    assert model.state_counts_.sum() == len(r_train)

    # a later return far outside the training range falls in an end bin; the edges stay
    table = model._cumulative_means(3)
    edges = model.bin_edges_.copy()
    for jump, state in ((1.5, 3), (0.5, 0)):
        history = pd.concat([series.iloc[:320], series.iloc[[319]] * jump])
        history.index = series.index[:321]
        assert model.states_of(np.array([np.log(jump)]))[0] == state
        expected = history.iloc[-1] * np.exp(table[state])
        np.testing.assert_allclose(model.predict(3, history=history), expected, rtol=1e-12)
    np.testing.assert_array_equal(model.bin_edges_, edges)


def test_batched_paths_equal_single_forecasts_and_do_not_leak():
    series = price_series(300, seed=7)
    model = MarkovChainForecaster().fit(series.iloc[:200])
    y = np.log(series.to_numpy())
    ends = np.arange(200, 301, 10)
    batch = model.forecast_log_paths(y, ends, 5)
    for row, end in zip(batch, ends, strict=True):
        np.testing.assert_array_equal(row, model._forecast(y[:end], 5))

    changed = np.log(perturb_after(series, 250).to_numpy())
    again = model.forecast_log_paths(changed, ends, 5)
    early = ends <= 250
    np.testing.assert_array_equal(again[early], batch[early])
    assert not np.array_equal(again[~early], batch[~early])
    with pytest.raises(DataError, match="ends must all be >= 2"):
        model.forecast_log_paths(y, np.array([1, 10]), 5)


def test_many_ties_still_give_n_nonempty_bins():
    # 90% zero returns (a thinly traded stock): plain quantile edges would all be 0
    rng = np.random.default_rng(0)
    r = np.where(rng.random(500) < 0.9, 0.0, rng.normal(0, 0.01, 500))
    model = MarkovChainForecaster(n_states=5).fit(prices_from_returns(r))
    assert len(model.bin_edges_) == 4 and np.all(np.diff(model.bin_edges_) > 0)
    assert np.all(model.state_counts_ > 0)
    # all the zeros share one bin
    assert len(np.unique(model.states_of(np.zeros(3)))) == 1


def test_too_few_distinct_returns_raise_with_the_numbers():
    # prices alternate between two levels: exactly two distinct returns
    two_levels = pd.Series(np.tile([100.0, 101.0], 30))
    with pytest.raises(
        ModelFitError,
        match="n_states=5 bins need at least 5 distinct training log-returns; "
        "got 2 distinct among 59",
    ):
        MarkovChainForecaster(n_states=5).fit(two_levels)
    with pytest.raises(ModelFitError, match="log-returns are constant"):
        MarkovChainForecaster().fit(prices_from_returns(np.full(50, 0.001)))


def test_alpha_zero_with_a_state_never_left_raises():
    # states [1, 0, 1, 0, 1, 2]: the largest return comes last and its state is never left
    r = np.array([0.0, -0.01, 0.0, -0.01, 0.0, 0.05])
    with pytest.raises(ModelFitError, match=r"alpha=0, states \[2\] are never left"):
        MarkovChainForecaster(n_states=3, alpha=0.0).fit(prices_from_returns(r))
    model = MarkovChainForecaster(n_states=3, alpha=0.5).fit(prices_from_returns(r))
    np.testing.assert_allclose(model.transition_matrix_[2], [1 / 3, 1 / 3, 1 / 3])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_states": 1}, "n_states must be an integer >= 2; got 1"),
        ({"n_states": 2.5}, "n_states must be an integer >= 2; got 2.5"),
        ({"alpha": -1.0}, "alpha must be a finite number >= 0; got -1.0"),
        ({"alpha": float("nan")}, "alpha must be a finite number >= 0; got nan"),
    ],
)
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        MarkovChainForecaster(**params).fit(price_series(100))


def test_fitted_attributes_are_json_able():
    model = MarkovChainForecaster().fit(price_series(200))
    fitted = {k: v for k, v in vars(model).items() if k.endswith("_")}
    assert {"bin_edges_", "transition_matrix_", "state_means_", "state_counts_"} <= set(fitted)
    json.dumps({k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in fitted.items()})
