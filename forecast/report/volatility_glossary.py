"""The volatility section's glossary: every term it uses, in plain words."""

from __future__ import annotations

#: glossary entries of the section, in plain words; model entries only for models in the run
VOLATILITY_GLOSSARY = (
    (
        "realised variance (the target)",
        "What actually happened to volatility over the horizon: "
        "the sum of a daily variance proxy over the h days after the origin. Forecasts are the "
        "variance of the h-day log return.",
    ),
    (
        "variance proxy",
        "A day's variance cannot be seen, only estimated from that day's prices. "
        "Squared return: the squared close-to-close log return (noisy). Parkinson: from the "
        "high-low range. Garman-Klass: range plus open-to-close move. Yang-Zhang: overnight, "
        "open-to-close and range moves together, the least noisy; used whenever open, high and "
        "low exist. The range proxies here include the overnight move, so all measure the "
        "close-to-close variance.",
    ),
    (
        "QLIKE",
        "A loss for variance forecasts: rv/f - ln(rv/f) - 1 for a forecast f and a "
        "realised proxy rv. Zero when they agree; it punishes forecasts that are too low more "
        "than too high. With a noisy but unbiased proxy it still ranks forecasts as the true "
        "variance would (Patton 2011).",
    ),
    (
        "MSE (variance)",
        "Mean squared difference between forecast and realised variance; also "
        "robust to proxy noise, but dominated by the few most turbulent days.",
    ),
    (
        "rel QLIKE, rel MSE",
        "The model's loss divided by the naive model's on the same origins. "
        "Below 1: better than naive; 0.90 means 10% lower loss.",
    ),
    (
        "DM p (volatility)",
        "Diebold-Mariano test that the model and the naive model have the "
        "same expected loss (Newey-West variance, Harvey-Leybourne-Newbold correction); small: "
        "the difference is unlikely to be luck.",
    ),
    (
        "MCS (model confidence set)",
        "The models that cannot be told apart from the best by their "
        "QLIKE losses (Hansen, Lunde and Nason 2011): the set holds the best model with 90% "
        "probability. A model with MCS p above 10% is in it.",
    ),
    (
        "SPA p, StepM",
        "SPA: Hansen's test that no model beats the naive one; a small p says some "
        "model does. StepM: which models beat it, keeping the chance of any false claim among "
        "the models of a case at the level.",
    ),
    (
        "Value-at-Risk (VaR)",
        "The loss (of log return) that should be exceeded on only 1% or 5% "
        "of periods: the quantile of the forecast distribution, normal or Student-t (6 degrees "
        "of freedom, or GARCH's fitted ones).",
    ),
    (
        "VaR exception, hit rate",
        "A period whose return fell below -VaR; the hit rate is their "
        "share, which should be close to the level (1% or 5%).",
    ),
    (
        "Kupiec p",
        "Kupiec (1995) test that the exception rate equals the level; small: too many "
        "or too few exceptions.",
    ),
    (
        "Christoffersen p",
        "Christoffersen (1998) test that an exception is no more likely right "
        "after another: small means exceptions cluster, so the VaR reacts too slowly.",
    ),
)
MODEL_ENTRIES = {
    "naive": (
        "naive (volatility)",
        "The benchmark: tomorrow's variance is the mean proxy of "
        "the last 20 days, for every day of the horizon.",
    ),
    "ewma": (
        "ewma",
        "RiskMetrics' exponentially weighted average of squared returns (weight "
        "0.94 on yesterday's estimate).",
    ),
    "garch": (
        "garch",
        "GARCH(1,1) with Student-t errors (Bollerslev), fitted by arch: today's "
        "variance from yesterday's variance and squared return.",
    ),
    "gjr": (
        "gjr",
        "GJR-GARCH: GARCH in which a fall raises volatility more than a rise of the same size.",
    ),
    "har": (
        "har",
        "HAR (Corsi 2009): log realised variance regressed on its last day, week "
        "and month averages, one regression per step ahead.",
    ),
    "msrv": (
        "msrv",
        "A two-regime Markov-switching model of log realised variance (calm and "
        "turbulent regimes, forecast from the filtered regime probabilities).",
    ),
    "lstm": (
        "lstm, gru (volatility)",
        "Recurrent nets on windows of the log daily proxy, "
        "forecasting the next days' log variances.",
    ),
}
MODEL_ENTRIES["gru"] = MODEL_ENTRIES["lstm"]


def volatility_glossary(models: list[str]) -> tuple[tuple[str, str], ...]:
    """The section's terms, then one entry per model family of the run."""
    chosen = dict.fromkeys(MODEL_ENTRIES[m] for m in models if m in MODEL_ENTRIES)
    return VOLATILITY_GLOSSARY + tuple(chosen)
