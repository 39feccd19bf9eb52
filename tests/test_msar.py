"""MSARForecaster: statsmodels' filter, a hand-computed forecast, failures, warm start, batches."""

from __future__ import annotations

import copy
import itertools
import json

import numpy as np
import pandas as pd
import pytest
from helpers import perturb_after
from statsmodels.tsa.regime_switching.markov_autoregression import MarkovAutoregression

from forecast.errors import DataError, ModelFitError
from forecast.models.msar import MSARForecaster

# a calm regime and a turbulent one; T[i, j] = P(S_t = i | S_{t-1} = j) as in statsmodels
TRUE_T = np.array([[0.98, 0.05], [0.02, 0.95]])
TRUE_MU = np.array([0.0008, -0.002])
TRUE_PHI = np.array([0.05, -0.15])
TRUE_SIGMA = np.array([0.007, 0.02])


def msar_prices(n: int = 800, seed: int = 0) -> pd.Series:
    """Prices whose log-returns follow the two-regime MS-AR(1) above."""
    rng = np.random.default_rng(seed)
    s, z = 0, 0.0
    r = np.empty(n)
    for t in range(n):
        s = int(rng.random() >= TRUE_T[0, s])  # regime 0 with probability T[0, s]
        z = TRUE_PHI[s] * z + rng.normal(0.0, TRUE_SIGMA[s])
        r[t] = TRUE_MU[s] + z
    idx = pd.bdate_range("2010-01-04", periods=n + 1, name="date")
    return pd.Series(100.0 * np.exp(np.concatenate([[0.0], np.cumsum(r)])), index=idx)


@pytest.fixture(scope="module")
def series() -> pd.Series:
    return msar_prices()


@pytest.fixture(scope="module")
def fitted(series) -> MSARForecaster:
    return MSARForecaster().fit(series.iloc[:700])


def test_fit_matches_statsmodels_and_its_filtered_probabilities(series, fitted):
    r = np.diff(np.log(series.iloc[:700].to_numpy())) * 100.0
    model = MarkovAutoregression(r, k_regimes=2, order=1, switching_variance=True)
    res = model.fit(maxiter=200, cov_type="none", disp=0)
    np.testing.assert_allclose(fitted.params_, res.params, rtol=1e-10)
    assert fitted.param_names_ == model.param_names
    np.testing.assert_allclose(
        fitted._filtered_probs(fitted.train_log_prices_).T,
        res.filtered_marginal_probabilities,  # (nobs, k_regimes) in the results object
        rtol=1e-10,
        atol=1e-14,
    )
    # our attributes are statsmodels' parameters, transposed to [from, to] and unscaled
    named = dict(zip(model.param_names, res.params, strict=True))
    np.testing.assert_allclose(
        fitted.transition_matrix_[:, 0], [named["p[0->0]"], named["p[1->0]"]]
    )
    np.testing.assert_allclose(fitted.transition_matrix_.sum(axis=1), 1.0)
    np.testing.assert_allclose(fitted.regime_means_ * 100, [named["const[0]"], named["const[1]"]])
    np.testing.assert_allclose(fitted.ar_coef_, [named["ar.L1[0]"], named["ar.L1[1]"]])
    np.testing.assert_allclose(
        fitted.regime_variances_ * 1e4, [named["sigma2[0]"], named["sigma2[1]"]]
    )
    # and it found the simulated regimes (calm one first: statsmodels starts it smaller)
    np.testing.assert_allclose(np.sqrt(fitted.regime_variances_), TRUE_SIGMA, rtol=0.25)
    np.testing.assert_allclose(fitted.transition_matrix_, TRUE_T.T, atol=0.05)


def hand_model() -> MSARForecaster:
    """A model with parameters set by hand (statsmodels' order, on returns * 100)."""
    p00, p10, c0, c1, s0, s1, a0, a1 = 0.9, 0.3, 0.1, -0.5, 1.0, 4.0, 0.2, -0.4
    model = MSARForecaster()
    model.params_ = np.array([p00, p10, c0, c1, s0, s1, a0, a1])
    model.param_names_ = ["p[0->0]", "p[1->0]", "const[0]", "const[1]"]
    model.param_names_ += ["sigma2[0]", "sigma2[1]", "ar.L1[0]", "ar.L1[1]"]
    model.transition_matrix_ = np.array([[p00, 1 - p00], [p10, 1 - p10]])
    model.regime_means_ = np.array([c0, c1]) / 100
    model.ar_coef_ = np.array([a0, a1])
    model.regime_variances_ = np.array([s0, s1]) / 1e4
    model.scale_ = 100.0
    model.train_log_prices_ = np.zeros(3)  # marks the model as fitted
    return model


def hamilton_filter(r, t_to_from, mu, phi, sigma2):
    """P(S_t | r_0..r_t) for t >= 1, written out for order 1 from the steady state."""
    k = len(mu)
    eigvals, eigvecs = np.linalg.eig(t_to_from)
    q = np.real(eigvecs[:, np.argmin(np.abs(eigvals - 1))])
    q = q / q.sum()  # P(S_0), the steady state: statsmodels' default initialisation
    out = []
    for t in range(1, len(r)):
        joint = np.zeros((k, k))  # [S_t = i, S_{t-1} = j]
        for i, j in itertools.product(range(k), range(k)):
            mean = mu[i] + phi[i] * (r[t - 1] - mu[j])
            dens = np.exp(-0.5 * (r[t] - mean) ** 2 / sigma2[i]) / np.sqrt(2 * np.pi * sigma2[i])
            joint[i, j] = dens * t_to_from[i, j] * q[j]
        q = joint.sum(axis=1) / joint.sum()
        out.append(q)
    return np.array(out)


def test_forecast_matches_hand_computation():
    model = hand_model()
    r = np.array([0.3, -1.2, 2.5, -0.4, 0.8]) / 100  # log-returns; the model works on r * 100
    y = np.log(100.0) + np.concatenate([[0.0], np.cumsum(r)])
    t_to_from = model.transition_matrix_.T
    mu, phi, sigma2 = model.regime_means_, model.ar_coef_, model.regime_variances_

    q = hamilton_filter(r, t_to_from, mu, phi, sigma2)
    np.testing.assert_allclose(model._filtered_probs(y).T, q, rtol=1e-9)

    # enumerate regime paths: E[r_{t+1}] = sum_{i,j} T[i,j] q_j (mu_i + phi_i (r_t - mu_j)),
    # E[r_{t+2}] = sum_{i2,i1,j} T[i2,i1] T[i1,j] q_j (mu_i2 + phi_i2 phi_i1 (r_t - mu_j))
    qt, rt = q[-1], r[-1]
    e1 = sum(
        t_to_from[i, j] * qt[j] * (mu[i] + phi[i] * (rt - mu[j]))
        for i, j in itertools.product(range(2), range(2))
    )
    e2 = sum(
        t_to_from[i2, i1] * t_to_from[i1, j] * qt[j] * (mu[i2] + phi[i2] * phi[i1] * (rt - mu[j]))
        for i2, i1, j in itertools.product(range(2), range(2), range(2))
    )
    np.testing.assert_allclose(model._forecast(y, 2), y[-1] + np.array([e1, e1 + e2]), rtol=1e-12)


def test_batched_paths_equal_single_forecasts_and_do_not_leak(series, fitted):
    y = np.log(series.to_numpy())
    ends = np.arange(700, 802, 5)  # 21 origins
    batch = fitted.forecast_log_paths(y, ends, 5)
    assert batch.shape == (len(ends), 5)
    for row, end in zip(batch, ends, strict=True):
        np.testing.assert_array_equal(row, fitted._forecast(y[:end], 5))

    changed = np.log(perturb_after(series, 750).to_numpy())
    again = fitted.forecast_log_paths(changed, ends, 5)
    early = ends <= 750
    np.testing.assert_array_equal(again[early], batch[early])
    assert not np.array_equal(again[~early], batch[~early])
    with pytest.raises(DataError, match="ends must all be >= 3"):
        fitted.forecast_log_paths(y, np.array([2, 10]), 5)


def test_constant_returns_raise():
    flat = pd.Series(100.0 * np.exp(0.001 * np.arange(200)))
    with pytest.raises(ModelFitError, match="msar: the 199 training log-returns are constant"):
        MSARForecaster().fit(flat)


def test_no_convergence_raises_with_the_reason(series):
    with pytest.raises(
        ModelFitError,
        match="msar: BFGS from the default start did not converge within maxiter=1: "
        "the maximum number of iterations was reached",
    ):
        MSARForecaster(maxiter=1).fit(series.iloc[:300])


def test_statsmodels_errors_become_model_fit_errors(series, monkeypatch):
    def broken(self, **kwargs):
        raise np.linalg.LinAlgError("singular matrix")

    monkeypatch.setattr(MarkovAutoregression, "fit", broken)
    with pytest.raises(
        ModelFitError, match="statsmodels fit from the default start failed: LinAlgError"
    ):
        MSARForecaster().fit(series.iloc[:300])


def test_warm_start_refit_and_fallback(series, fitted, monkeypatch):
    model = copy.deepcopy(fitted).set_params(warm_start=True)
    model.fit(series)
    assert model.warm_started_
    cold = MSARForecaster().fit(series)
    # the same optimum, reached from another start: equal to BFGS's tolerance
    assert model.loglike_ == pytest.approx(cold.loglike_, abs=1e-4)
    np.testing.assert_allclose(model.predict(3), cold.predict(3), rtol=1e-4)

    # a warm start that fails is retried from the default start, once
    original = MSARForecaster._fit_once
    calls = []

    def fail_when_warm(self, sm_model, start, maxiter):
        calls.append(start is not None)
        if start is not None:
            raise ModelFitError("msar: pretend the warm start diverged")
        return original(self, sm_model, start, maxiter)

    monkeypatch.setattr(MSARForecaster, "_fit_once", fail_when_warm)
    model.fit(series)
    assert calls == [True, False] and not model.warm_started_
    assert model.loglike_ == cold.loglike_


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"order": 2}, ValueError, "order must be 1 .*; got 2"),
        ({"k_regimes": 1}, ValueError, "k_regimes must be an integer >= 2; got 1"),
        ({"scale": 0.0}, ValueError, "scale must be a finite number > 0; got 0.0"),
        ({"maxiter": 0}, ValueError, "maxiter must be an integer >= 1; got 0"),
        ({"switching_variance": "yes"}, TypeError, "switching_variance must be a bool"),
    ],
)
def test_bad_parameters_are_named(series, params, error, message):
    with pytest.raises(error, match=message):
        MSARForecaster(**params).fit(series.iloc[:300])


def test_fitted_attributes_are_json_able(fitted):
    attrs = {k: v for k, v in vars(fitted).items() if k.endswith("_")}
    json.dumps({k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in attrs.items()})
