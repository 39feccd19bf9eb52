"""The report's glossary: every term its tables and sentences use, in plain words."""

from __future__ import annotations

from forecast.report.display import LABELS, band_text
from forecast.report.intervals import TOLERANCE, VOL_WINDOW
from forecast.report.tables import percent

GLOSSARY = (
    (
        "random walk (naive)",
        "Forecasts the last observed price for every horizon: the benchmark every other "
        "model is measured against. Beating it on stock prices is hard.",
    ),
    (
        "horizon h",
        "A forecast made at an origin (a trading day) for the price h trading days later.",
    ),
    (
        "walk-forward",
        "Each forecast uses only prices up to its origin; models are refit on the past every "
        "'refit_every' origins (a fold) and forecast from each origin in between.",
    ),
    ("rel MAE", LABELS["rel_mae"][1] + ". Below 1: the model's errors are smaller."),
    ("rel RMSE", LABELS["rel_rmse"][1] + ". Below 1: the model's errors are smaller."),
    (
        "MASE",
        "Mean absolute error divided by the mean absolute one-step price change over the "
        "training data of the first origin (scale-free; the random walk at horizon 1 is near 1).",
    ),
    (
        "hit rate",
        "Share of forecasts that moved the same way as the price from the origin (moves of "
        "exactly zero left out); undefined for a model that never forecasts a change.",
    ),
    (
        "PT p",
        "Pesaran-Timmermann test that the forecast direction is independent of the actual "
        "one; a small p-value with a hit rate above 50% means direction skill.",
    ),
    (
        "DM stat, DM p",
        "Diebold-Mariano test of equal squared errors against the random walk on the same "
        "points (Harvey-Leybourne-Newbold small-sample correction, two-sided). A negative "
        "statistic means smaller squared errors than the random walk.",
    ),
)


#: one paragraph per model family whose name needs one: the recurrent nets, hand-written and
#: built in, side by side (shown for the models a run has)
MODEL_GLOSSARY = {
    "lecture_rnn": (
        "lecture_rnn (the lecture's hand-written cell)",
        "The first RNN of the lecture this project grew from, written as the lecture writes "
        "it. At each step the current return and the previous hidden state are concatenated; "
        "one linear layer (i2h) gives the new hidden state, with no squashing nonlinearity "
        "unless hidden_activation='tanh', and another (i2o) gives the output from the same "
        "concatenation, so the output reads the previous hidden state, not the new one. "
        "Without tanh the network is linear in its window: a linear autoregression on the last "
        "'window' returns, its coefficients tied through a small state-space model and fitted "
        "by Adam with early stopping. It forecasts the next returns directly, like the other "
        "nets.",
    ),
    "lecture_rnn_direction": (
        "lecture_rnn_direction (the lecture's classifier)",
        "The same cell with the lecture's classification head: for each horizon, two outputs "
        "and a log-softmax give the probabilities that the price ends below or above the "
        "origin price, trained by negative log-likelihood (moves of exactly zero left out). "
        "Its price forecast moves by (2 P(up) - 1) times the mean absolute move at that "
        "horizon in the training data, so it points up exactly when the classifier says up "
        "is more likely: its hit rate and PT p are the classifier's own, comparable with "
        "every other model's. Its price errors stay near the random walk's by construction: "
        "judge it on the direction columns, not on rel MAE or DM.",
    ),
    "elman": (
        "elman (the hand-written Elman RNN)",
        "The vanilla RNN written out step by step: h_t = tanh(W_ih x_t + b_ih + W_hh h_(t-1) "
        "+ b_hh), the forecast a linear layer on the last hidden state. The same model as rnn "
        "(same initial weights and forecasts for the same seed; the tests match its outputs "
        "and gradients to nn.RNN's), slower: it shows what nn.RNN computes and how it differs "
        "from the lecture's cell (tanh on the update; output from the new state, not the "
        "previous one).",
    ),
    "rnn": (
        "rnn, lstm, gru (PyTorch's built-in layers)",
        "PyTorch's fused recurrent layers on the window of standardised log returns, with a "
        "linear layer on the last hidden state forecasting the next returns. rnn is the Elman "
        "recurrence above; lstm adds a cell state guarded by input, forget and output gates, "
        "so information can persist across a long window; gru merges these into update and "
        "reset gates with fewer weights.",
    ),
}
MODEL_GLOSSARY["lstm"] = MODEL_GLOSSARY["gru"] = MODEL_GLOSSARY["rnn"]


def model_glossary(models: list[str]) -> tuple[tuple[str, str], ...]:
    """The model paragraphs for the models of a run, once each, in :data:`MODEL_GLOSSARY`
    order."""
    chosen = {MODEL_GLOSSARY[m] for m in models if m in MODEL_GLOSSARY}
    return tuple(dict.fromkeys(e for e in MODEL_GLOSSARY.values() if e in chosen))


def interval_glossary(config: dict, level: float) -> tuple[tuple[str, str], ...]:
    """Glossary entries for the interval terms, with this run's settings where it has them."""
    settings = config.get("intervals") if isinstance(config.get("intervals"), dict) else {}
    window = settings.get("window", "?")
    calibration = settings.get("calibration_size", "?")
    gamma = settings.get("gamma", "?")
    return (
        (
            "prediction interval, nominal level",
            "A range [lower, upper] for the price at the target that should hold the actual "
            f"price with a stated probability, the nominal level ({percent(level)} here).",
        ),
        (
            "coverage",
            "Share of the actual prices inside their interval (ends included). Near the "
            "nominal level is right; below it the intervals are too narrow (overconfident), "
            "above it too wide.",
        ),
        (
            "tolerance band",
            f"The nominal level ± {100 * TOLERANCE:g} points ({band_text(level)} here). For "
            "scale: a coverage on n independent points has the binomial standard error "
            "sqrt(p(1 - p) / n), 2.5 points at p = 80% and n = 250.",
        ),
        (
            "width",
            "Mean of (upper - lower) / forecast: the interval's width as a share of the "
            "forecast price. Narrower is better only at the same coverage.",
        ),
        (
            "Winkler score",
            "Mean interval score in price units: the width upper - lower plus 2 / (1 - level) "
            "times the distance by which the actual falls outside (0 inside). Lower is better; "
            "it rewards narrow intervals and punishes misses, and compares models on the same "
            "series and horizon only.",
        ),
        (
            "model dist. (the model's own distribution)",
            "The central interval of the model's predictive distribution of the log price "
            "(Gaussian for naive, drift, AR and the Markov chain; a mixture over regime paths "
            "for msar). The neural nets have none.",
        ),
        (
            "conformal (plain split conformal)",
            "The empirical quantiles of the model's own past walk-forward log errors "
            "log(actual / forecast) at the same horizon, using only errors whose targets were "
            f"known at the origin (the last {window} at most, none before 20; "
            f"{calibration} calibration origins are walked before the test period).",
        ),
        (
            "ACI (adaptive conformal inference)",
            "The same quantiles at a working level that moves with the record: wider after "
            f"each observed miss, narrower after each hit (step gamma = {gamma}; Gibbs and "
            "Candès, 2021). Its coverage recovers after a change of volatility, with a lag.",
        ),
        (
            "scaled conformal, ACI EWMA, ACI GARCH",
            "Conformal intervals whose scores are the absolute past log errors divided by a "
            "volatility forecast made at each error's origin, sigma(origin, h): the forecast "
            "standard deviation of the h-day log return, from EWMA (RiskMetrics, lambda 0.94) "
            "or GARCH(1,1) with Student-t errors (arch; refit with the price models, on the "
            "prices up to the origin only). The band is the forecast times exp(± q sigma), q "
            "the conformal quantile of the scores (adaptive for ACI), so it widens the day "
            f"volatility rises rather than after the misses. This run's scale: "
            f"{settings.get('scale', 'none')}.",
        ),
        (
            "Kupiec p",
            "Kupiec's (1995) likelihood-ratio test that the intervals miss at the rate 1 - "
            "level (unconditional coverage), chi-squared with 1 degree of freedom. Small: the "
            "miss rate is wrong.",
        ),
        (
            "ind. p (Christoffersen independence)",
            "Christoffersen's (1998) test that a miss is as likely after a miss as after a "
            "hit (first-order Markov alternative), chi-squared with 1 degree of freedom. "
            "Small: misses cluster, the intervals fail exactly when markets move.",
        ),
        (
            "cc p (conditional coverage)",
            "Christoffersen's joint test of the miss rate and independence (the sum of both "
            "statistics, chi-squared with 2 degrees of freedom). For horizons above 1 all "
            "three tests use every h-th origin only: consecutive h-day targets overlap, so "
            "their misses cluster even for correct intervals.",
        ),
        (
            "calibrated in both halves",
            "The pooled coverage of the calm half and of the turbulent half are both inside "
            "the tolerance band at every horizon: right on average and right when markets "
            "move.",
        ),
        (
            "calm and turbulent halves",
            "Per series, the target dates ranked by realised volatility (root mean square of "
            f"the {VOL_WINDOW} one-step log returns of the actual price centred on the date, "
            "from forecasts.csv): the lower half is calm, the upper half turbulent. A forecast "
            "belongs to the half of its target date. Decided after the fact, for evaluation.",
        ),
    )
