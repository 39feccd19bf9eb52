"""Placebo markets and planted signals: how often does a verdict claim to beat the random walk?

Placebo (nothing is predictable by construction; the random walk is the best forecast):

- ``garch``: log returns drawn from a GARCH(1,1) with Student-t errors and zero mean, fitted
  with arch to the returns of the embedded GSPC series (volatility clusters as in real
  prices);
- ``bootstrap``: a stationary block bootstrap (arch) of GSPC's demeaned log returns, mean
  block length Politis-White's choice for the squared returns (keeps volatility clustering),
  each return given an independent random sign. Without the signs (``--keep-signs``) the
  blocks keep GSPC's own serial correlation (lag 1: -0.07, lag 2: -0.05, 1999-2018), a small
  real edge that ``ar`` and ``markov`` rightly find: not a placebo.

Both have mean zero: a drift is a predictable component, which the drift model would rightly
find. Half of the placebo series come from each.

Planted signals: AR(1) log returns ``r_t = phi r_{t-1} + e_t`` with phi 0.05 and 0.1, 250 and
1000 origins, noise ``e_t`` either Gaussian with GSPC's standard deviation or the fitted
GARCH-t (``--noise``).

Every series goes through ``forecast.backtest``, the code path of ``forecast compare`` (horizons
1 and 5, refit every 20, no intervals, no economics, seed 0): the five baselines (naive, drift,
ar, markov, msar) and, unless ``--no-net``, a small LSTM; the verdicts are the engine's own
(``result.verdicts``, ``result.pooled_verdict``, the merged ``result.metrics``: Clark-West,
R²_OS, MCS, SPA and StepM with 1000 bootstrap replications, alpha 5%). Printed, with binomial
standard errors:

- placebo: the share of series-horizons whose headline claims a model beats the random walk
  at 5%, under the old rule (any model's Diebold-Mariano test from ``forecast.evaluation.metrics``
  significant at 5% with the model better) and the new one (Clark-West, Holm over the models
  of the series-horizon, R²_OS > 0); also SPA p < 5%, and the pooled answer of runs of five
  series (the default compare's size);
- planted: the share of series where the AR model is found at h = 1, by each rule.

    python benchmarks/placebo.py --series 100 --planted 40 --jobs 2
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
from arch import arch_model
from arch.bootstrap import StationaryBootstrap, optimal_block_length
from arch.univariate import GARCH, StudentsT, ZeroMean

import forecast
from forecast.evaluation.metrics import VERDICT_METRIC_COLUMNS
from forecast.evaluation.verdicts import Verdicts, holm, pooled_verdict

ALPHA = 0.05
TRAIN = 1250  # prices before the first origin


def gspc_returns() -> np.ndarray:
    prices = forecast.load_prices(str(forecast.data.series.embedded_dir() / "GSPC.csv"))
    return np.diff(np.log(prices.to_numpy(float)))


def fit_garch(returns: np.ndarray) -> np.ndarray:
    """GARCH(1,1)-t parameters (omega, alpha, beta, nu) of 100 x returns, zero mean."""
    res = arch_model(100 * returns, mean="Zero", vol="GARCH", p=1, q=1, dist="t")
    return res.fit(disp="off").params.to_numpy()


def garch_noise(params: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    model = ZeroMean(volatility=GARCH(1, 0, 1), distribution=StudentsT(seed=rng))
    return model.simulate(params, n, burn=500)["data"].to_numpy() / 100


def bootstrap_returns(
    returns: np.ndarray, n: int, rng: np.random.Generator, keep_signs: bool = False
) -> np.ndarray:
    demeaned = returns - returns.mean()
    block = float(optimal_block_length(demeaned**2)["stationary"].iloc[0])
    bs = StationaryBootstrap(block, demeaned, seed=rng)
    sample = next(bs.bootstrap(1))[0][0][:n]
    return sample if keep_signs else sample * rng.choice([-1.0, 1.0], size=len(sample))


def to_prices(returns: np.ndarray, name: str) -> pd.Series:
    index = pd.bdate_range("2000-01-03", periods=len(returns) + 1)
    return pd.Series(100 * np.exp(np.concatenate([[0.0], np.cumsum(returns)])), index, name=name)


def placebo_series(count: int, n: int, seed: int, keep_signs: bool) -> dict[str, pd.Series]:
    r = gspc_returns()
    params = fit_garch(r)
    out = {}
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        kind = "garch" if i % 2 == 0 else "bootstrap"
        if kind == "garch":
            draw = garch_noise(params, n, rng)
        else:
            draw = bootstrap_returns(r, n, rng, keep_signs)
        out[f"{kind}{i:03d}"] = to_prices(draw, f"{kind}{i:03d}")
    return out


def planted_series(count: int, phi: float, n: int, noise: str, seed: int) -> dict[str, pd.Series]:
    r = gspc_returns()
    params = fit_garch(r) if noise == "garch" else None
    out = {}
    for i in range(count):
        rng = np.random.default_rng([seed, int(phi * 1000), n, i])
        e = garch_noise(params, n, rng) if noise == "garch" else rng.normal(0, r.std(), n)
        x = np.empty(n)
        x[0] = e[0]
        for t in range(1, n):
            x[t] = phi * x[t - 1] + e[t]
        out[f"ar{i:03d}"] = to_prices(x, f"ar{i:03d}")
    return out


def run(series: dict[str, pd.Series], models: list, test_size: int, jobs: int):
    """The compare's engine on the series; the verdicts are the run's own."""
    t0 = time.perf_counter()
    res = forecast.backtest(
        series,
        models,
        horizons=(1, 5),
        test_size=test_size,
        refit_every=20,
        intervals=None,
        jobs=jobs,
        seed=0,
        alpha=ALPHA,
        economics=False,
    )
    models_table = res.metrics[["series", "model", "horizon", *VERDICT_METRIC_COLUMNS]]
    verdicts = Verdicts(models_table, res.verdicts, res.pooled_verdict)
    stat_s = res.statistics["verdicts"]["seconds"]
    return res, verdicts, stat_s, time.perf_counter() - t0


def old_rule(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per (series, model, horizon): the per-model DM test says the model beats the RW at 5%."""
    m = metrics[metrics["model"] != "naive"].copy()
    m["dm_beats"] = (m["dm_pvalue"] < ALPHA) & (m["dm_stat"] < 0)
    return m[["series", "model", "horizon", "dm_beats"]]


def rate(hits: pd.Series) -> str:
    n, p = len(hits), float(np.mean(hits)) if len(hits) else float("nan")
    se = math.sqrt(p * (1 - p) / n) if n else float("nan")
    return f"{100 * p:5.1f}% +- {100 * se:4.1f}  ({int(np.sum(hits))}/{n})"


def placebo_report(res, v, group: int) -> None:
    dm = old_rule(res.metrics).groupby(["series", "horizon"])["dm_beats"].any()
    verdicts = v.verdicts.set_index(["series", "horizon"])
    print("placebo: share of series-horizons claiming a model beats the random walk at 5%")
    print(f"  old rule (per-model DM, any model)       {rate(dm.reindex(verdicts.index))}")
    print(f"  new rule (Clark-West, Holm, R2_OS > 0)   {rate(verdicts['claim'])}")
    print(f"  SPA p < 5% (lower expected loss)         {rate(verdicts['spa_pvalue'] < ALPHA)}")
    cw = v.models[v.models["model"] != "naive"]
    print(f"  per model: CW p < 5%, no adjustment      {rate(cw['cw_pvalue'] < ALPHA)}")
    kind = verdicts.index.get_level_values(0).str.extract(r"^([a-z]+)")[0].to_numpy()
    for k in ("garch", "bootstrap"):
        pick = kind == k
        print(f"    new rule, {k:9} series              {rate(verdicts['claim'][pick])}")
        print(f"    old rule, {k:9} series              {rate(dm.reindex(verdicts.index)[pick])}")
    names = list(dict.fromkeys(v.verdicts["series"]))
    runs = [names[i : i + group] for i in range(0, len(names) - group + 1, group)]
    pooled, pooled_dm = [], []
    for members in runs:
        pick_m = v.models["series"].isin(members)
        pick_v = v.verdicts["series"].isin(members)
        pooled.append(
            bool(pooled_verdict(v.models[pick_m], v.verdicts[pick_v], ALPHA).loc[0, "claim"])
        )
        pooled_dm.append(bool(dm[dm.index.get_level_values(0).isin(members)].any()))
    print(f"runs of {group} series ({len(runs)} runs): share of runs whose headline claims a win")
    print(f"  old rule (any DM win in the run)         {rate(pd.Series(pooled_dm))}")
    print(f"  new pooled (Holm over the whole run)     {rate(pd.Series(pooled))}")


def planted_report(res, v, label: str, family_size: int) -> None:
    dm = old_rule(res.metrics).set_index(["series", "model", "horizon"])["dm_beats"]
    m = v.models.set_index(["series", "model", "horizon"])
    ver = v.verdicts.set_index(["series", "horizon"])
    series = list(dict.fromkeys(v.verdicts["series"]))
    h1 = [(s, 1) for s in series]
    ar_h1 = [(s, "ar", 1) for s in series]
    found_new = pd.Series(["ar" in ver.loc[k, "claim_models"].split(",") for k in h1])
    found_any = pd.Series(
        ["ar" in ",".join(ver.loc[[(s, 1), (s, 5)], "claim_models"]).split(",") for s in series]
    )
    stepm = pd.Series(["ar" in ver.loc[k, "stepm_models"].split(",") for k in h1])
    cw = m.loc[ar_h1, "cw_pvalue"].to_numpy()
    r2 = m.loc[ar_h1, "r2_os"].to_numpy()
    family8 = pd.Series(np.minimum(1, 8 * cw) <= ALPHA) & pd.Series(r2 > 0)
    holm_only = pd.Series([ar_holm_pvalue(v.models, s) <= ALPHA for s in series])
    print(label)
    print("  share of series where the AR model is found (h=1 unless said)")
    print(
        f"    old rule (DM, AR better at 5%)         {rate(dm.loc[ar_h1].reset_index(drop=True))}"
    )
    print(f"    new rule (CW Holm over {family_size}, R2 > 0)     {rate(found_new)}")
    print(f"    new rule, h=1 or h=5                   {rate(found_any)}")
    print(f"    new rule if the family had 8 rivals    {rate(family8)}")
    print(f"    CW Holm alone (no R2_OS > 0 condition) {rate(holm_only)}")
    print(f"    StepM (lower expected loss)            {rate(stepm)}")
    print(f"    Clark-West alone, one-sided 5%         {rate(pd.Series(cw < ALPHA))}")
    print(f"    median R2_OS of ar at h=1: {np.nanmedian(r2):+.4f}")


def save(folder: str, res, v) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    res.metrics.to_csv(out / "metrics.csv", index=False)
    v.models.to_csv(out / "models.csv", index=False)
    v.verdicts.to_csv(out / "verdicts.csv", index=False)


def ar_holm_pvalue(models: pd.DataFrame, series: str) -> float:
    """The AR model's Clark-West p-value at h=1, Holm-adjusted over its series' models."""
    pick = (models["series"] == series) & (models["horizon"] == 1) & (models["model"] != "naive")
    family = models[pick]
    return float(holm(family["cw_pvalue"].to_numpy())[list(family["model"]).index("ar")])


def model_list(args) -> list:
    models = ["naive", "drift", "ar", "markov"] + ([] if args.no_msar else ["msar"])
    if not args.no_net:
        models.append(forecast.get_model("lstm", epochs=3, hidden_size=8, window=20))
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100, help="placebo series")
    parser.add_argument("--planted", type=int, default=50, help="series per planted setting")
    parser.add_argument("--prices", type=int, default=1500, help="prices per placebo series")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--noise", choices=["normal", "garch"], default="normal")
    parser.add_argument("--no-net", action="store_true", help="leave out the small LSTM")
    parser.add_argument("--no-msar", action="store_true", help="leave out msar (the slow one)")
    parser.add_argument("--skip-placebo", action="store_true")
    parser.add_argument("--skip-planted", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--origins", type=int, nargs="+", default=[250, 1000])
    parser.add_argument("--phis", type=float, nargs="+", default=[0.05, 0.1])
    parser.add_argument("--keep-signs", action="store_true", help="bootstrap keeps signs")
    parser.add_argument("--save", help="folder for the placebo's metrics, models, verdicts CSVs")
    args = parser.parse_args()
    models = model_list(args)
    names = [m if isinstance(m, str) else m.name for m in models]
    print(f"models {', '.join(names)}; bootstrap reps 1000 (the engine's); jobs {args.jobs}")
    start = time.perf_counter()
    if not args.skip_placebo:
        series = placebo_series(args.series, args.prices - 1, args.seed, args.keep_signs)
        res, v, stat_s, total_s = run(series, models, 250, args.jobs)
        print(
            f"\n{args.series} placebo series x 2 horizons, 250 origins "
            f"({total_s:.0f} s, of which verdict statistics {stat_s:.1f} s)"
        )
        placebo_report(res, v, group=5)
        if args.save:
            save(args.save, res, v)
    if not args.skip_planted:
        for origins in args.origins:
            for phi in args.phis:
                series = planted_series(
                    args.planted, phi, TRAIN + origins - 1, args.noise, args.seed
                )
                res, v, stat_s, total_s = run(series, models, origins, args.jobs)
                label = (
                    f"\nAR(1) phi={phi}, {origins} origins, {args.noise} noise, "
                    f"{args.planted} series ({total_s:.0f} s, of which verdict statistics "
                    f"{stat_s:.1f} s)"
                )
                planted_report(res, v, label, len(names) - 1)
    print(f"\nelapsed {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
