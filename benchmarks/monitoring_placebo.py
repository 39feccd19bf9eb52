"""Monitoring placebo: how often a scorecard checked every evening flags a model that is no
better (and no worse) than the random walk, against a Diebold-Mariano test repeated daily.

Markets: log returns ``r_t = mu + s_{t-1} + sigma_t z_t`` with GARCH(1,1) volatility and
standardised Student-t ``z``, the parameters fitted by ``arch`` to the embedded GSPC returns
(variance-targeted: the fit is nearly integrated, so ``omega`` is set to give the sample
variance as the unconditional one). ``s`` is zero ("plain" markets) or a signal known the
evening before, ``s_o = c sigma_{o+1} x_o`` with ``x`` standard normal ("signal" markets).
Each stream is one (ticker, model, horizon): a forecast of the ``h``-day log return made
every evening, checked every evening for ``--days`` sessions (two years) once its target
matures. Losses are squared log errors; the random walk forecasts a zero log return.

Null models, whose expected loss equals the random walk's at every origin (so the
loss difference has conditional mean exactly 0; "equal but different" forecasts):

``overshoot``  (plain) forecasts ``2 h mu``: it overshoots the drift by what the random walk
               misses;
``noisy``      (plain) forecasts ``h mu + eta``, ``eta ~ N(0, (h mu)^2)``: the right drift plus
               as much noise as the random walk's bias;
``signal``     (signal) forecasts ``h mu + s_o + eta``, ``eta ~ N(0, (h mu + s_o)^2)``: knows
               the signal but adds as much noise as it removes.

Planted models: ``edge`` (signal) forecasts ``h mu + s_o``, the true conditional mean;
``worse`` (plain) forecasts ``h mu + eta`` with ``Var eta = (h mu)^2 + k^2 V_o``, ``V_o`` the
conditional variance of the ``h``-day return: its expected squared error exceeds the random
walk's by ``k^2`` of that variance.

Intervals: on the ``overshoot`` streams, calibrated 80% intervals ``h mu +- q_h sqrt(V_o)``
(``q_1`` the Student-t quantile: exact conditional coverage; ``q_h`` for ``h > 1`` the
quantile of the standardised ``h``-day return in a separate simulation: calibrated on
average); on the ``worse`` streams the same intervals 20% too narrow.

Every stream goes through :func:`forecast.evaluation.monitoring.sequential_rows`, the code the
scorecard's table uses (spot-checked against ``sequential_table`` on truncated frames). The
naive rule: on every evening from the 20th matured forecast on, the Diebold-Mariano test of
the whole history so far (statsmodels' definition: Newey-West with ``max(h - 1,
ceil(n^(1/3)))`` lags, Harvey-Leybourne-Newbold correction, t(n - 1); checked against
statsmodels), acting on the first two-sided p < 0.05; for coverage, a binomial z-test.

    python benchmarks/monitoring_placebo.py [--tickers 300] [--days 504] [--seed 1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from arch import arch_model
from scipy import stats
from statsmodels.tsa.stattools import diebold_mariano_test

from forecast.evaluation.monitoring import sequential_rows, sequential_table
from forecast.evaluation.sequential import MIN_N, T_OPT

GSPC = Path(__file__).resolve().parents[1] / "data" / "prices" / "GSPC.csv"
BURN = 250
NULLS = ("overshoot", "noisy", "signal")
PLANTED = ("edge", "worse")


def fit_garch(csv: Path) -> dict[str, float]:
    """GARCH(1,1)-t of GSPC's daily log returns (in percent), variance-targeted."""
    close = pd.read_csv(csv, index_col=0)["Close"]
    r = 100 * np.log(close).diff().dropna()
    fit = arch_model(r, mean="Constant", vol="GARCH", p=1, q=1, dist="t").fit(disp="off")
    p = fit.params
    a, b = float(p["alpha[1]"]), float(p["beta[1]"])
    var = float(r.var())
    return {"mu": float(p["mu"]), "alpha": a, "beta": b, "nu": float(p["nu"]), "var": var,
            "omega": var * (1 - a - b), "omega_fit": float(p["omega"])}  # fmt: skip


def simulate(g: dict, n: int, length: int, c: float, rng: np.random.Generator) -> dict:
    """Paths (n, length) of returns r, conditional variances sig2 of r, and signals s.

    Index t: ``sig2[:, t]`` is known at t - 1; ``s[:, t]`` is known at t and moves r[:, t+1].
    In log-return units (not percent).
    """
    nu = g["nu"]
    z = rng.standard_t(nu, size=(n, length)) * np.sqrt((nu - 2) / nu)
    x = rng.standard_normal((n, length))
    sig2 = np.empty((n, length))
    s2 = np.full(n, g["var"])
    for t in range(length):
        sig2[:, t] = s2
        s2 = g["omega"] + g["alpha"] * s2 * z[:, t] ** 2 + g["beta"] * s2
    sig = np.sqrt(sig2) / 100
    s = np.zeros((n, length))
    s[:, :-1] = c * sig[:, 1:] * x[:, :-1]
    r = g["mu"] / 100 + sig * z
    r[:, 1:] += s[:, :-1]
    return {"r": r, "sig2": sig2 / 1e4, "s": s}


def horizon_view(paths: dict, g: dict, h: int, days: int) -> dict:
    """Per stream and monitoring day (targets BURN .. BURN + days - 1): the h-day return R,
    its conditional variance V and the signal s at the origin."""
    r, sig2 = paths["r"], paths["sig2"]
    origin = np.arange(BURN, BURN + days) - h
    csum = np.cumsum(r, axis=1)
    big_r = csum[:, origin + h] - csum[:, origin]
    persist = g["alpha"] + g["beta"]
    var = g["var"] / 1e4
    nxt = sig2[:, origin + 1]  # known at the origin
    v = sum(var + persist**j * (nxt - var) for j in range(h))
    return {"R": big_r, "V": v, "s": paths["s"][:, origin]}


def forecasts(kind: str, view: dict, mu: float, h: int, k2: float, rng) -> np.ndarray:
    """The model's h-day log-return forecast per stream and day."""
    shape = view["R"].shape
    eta = rng.standard_normal(shape)
    if kind == "overshoot":
        return np.full(shape, 2 * h * mu)
    if kind == "noisy":
        return h * mu + abs(h * mu) * eta
    if kind == "signal":
        return h * mu + view["s"] + np.abs(h * mu + view["s"]) * eta
    if kind == "edge":
        return h * mu + view["s"]
    if kind == "worse":
        return h * mu + np.sqrt((h * mu) ** 2 + k2 * view["V"]) * eta
    raise ValueError(f"unknown model kind {kind!r}")


def interval_quantile(g: dict, h: int, rng) -> float:
    """q_h: |h-day return - h mu| / sqrt(V) is below q_h with probability 0.8."""
    if h == 1:
        nu = g["nu"]
        return float(stats.t.ppf(0.9, nu) * np.sqrt((nu - 2) / nu))
    paths = simulate(g, 2000, BURN + 300, 0.0, rng)
    v = horizon_view(paths, g, h, 300)
    return float(np.quantile(np.abs(v["R"] - h * g["mu"] / 100) / np.sqrt(v["V"]), 0.8))


def naive_dm(d: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Statsmodels' DM statistic and p-value on the first n values, for every n (n, 2-D)."""
    n_streams, n_days = d.shape
    n = np.arange(1, n_days + 1, dtype=float)
    s1 = np.cumsum(d, axis=1)
    mean = s1 / n
    lags = np.maximum(h - 1, np.ceil(n ** (1 / 3))).astype(int)
    lrv = np.cumsum(d * d, axis=1) / n - mean**2
    for k in range(1, int(lags.max()) + 1):
        prod = np.cumsum(np.c_[np.zeros((n_streams, k)), d[:, k:] * d[:, :-k]], axis=1)
        head = np.c_[np.zeros((n_streams, k)), s1[:, :-k]]  # sum of d_1..d_{n-k}
        tail = s1 - s1[:, [k - 1]]  # sum of d_{k+1}..d_n
        gamma = (prod - mean * (tail + head) + (n - k).clip(0) * mean**2) / n
        w = np.where(k <= lags, 1 - k / (lags + 1), 0.0)
        lrv = lrv + 2 * w * np.where(n > k, gamma, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = mean / np.sqrt(lrv / n)  # OLS with HAC covariance of the constant
        stat *= np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
        p = 2 * stats.t.cdf(-np.abs(stat), df=np.maximum(n - 1, 1))
    return stat, p


def check_naive_dm(view, f, h, stat, p, rng) -> None:
    """The vectorised DM equals statsmodels' on a few (stream, day) pairs."""
    for _ in range(4):
        i, n = rng.integers(len(f)), int(rng.integers(20, f.shape[1]))
        y = view["R"][i, :n]
        res = diebold_mariano_test(y, f[i, :n], np.zeros(n), harvey_adj=True, horizon=h)
        assert np.isclose(res.statistic, stat[i, n - 1], rtol=1e-6), (res, stat[i, n - 1])
        assert np.isclose(res.pvalue, p[i, n - 1], rtol=1e-6, atol=1e-12)


def first_flag(flag: np.ndarray) -> np.ndarray:
    """Index of the first True per row, -1 when none."""
    return np.where(flag.any(axis=1), flag.argmax(axis=1), -1)


def long_frame(streams: dict, days: int) -> pd.DataFrame:
    """The matured-forecasts table of every stream (one 'ticker' per stream and kind)."""
    dates = pd.bdate_range("2020-01-02", periods=days).strftime("%Y-%m-%d").to_numpy()
    parts = []
    for (kind, h), (big_r, f, hit) in streams.items():
        n = big_r.shape[0]
        parts.append(
            pd.DataFrame(
                {
                    "ticker": np.repeat([f"{kind}{i:04d}" for i in range(n)], days),
                    "model": kind,
                    "horizon": h,
                    "target_date": np.tile(dates, n),
                    "loss_model": ((big_r - f) ** 2).ravel(),
                    "loss_rw": (big_r**2).ravel(),
                    "hit": hit.ravel(),
                    "level": 0.8,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def spot_check_table(frame: pd.DataFrame, rows: pd.DataFrame, rng, args) -> None:
    """The table of the frame cut at a day equals the per-row replay at that day."""
    dates = np.sort(frame["target_date"].unique())
    cols = ["status", "decided_on", "coverage_status", "n_diff", "n_hits"]
    keys = ["ticker", "model", "horizon"]
    for day in rng.choice(dates[30:], 2, replace=False):
        cut = frame[frame["target_date"] <= day]
        table = sequential_table(cut, t_opt=args.t_opt, min_n=args.min_n)
        table = table.set_index(keys)[cols]
        at = rows[rows["target_date"] == day].set_index(keys)[cols]
        pd.testing.assert_frame_equal(table.sort_index(), at.sort_index(), check_dtype=False)


def share(x: np.ndarray) -> str:
    p = float(np.mean(x))
    return f"{p:6.1%} (se {np.sqrt(p * (1 - p) / len(x)):.1%})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickers", type=int, default=300, help="streams per model kind")
    ap.add_argument("--days", type=int, default=504, help="evenings of checks (2 years)")
    ap.add_argument("--horizons", default="1,5")
    ap.add_argument("--c2", type=float, default=0.1, help="signal: s^2 / sigma^2 (edge)")
    ap.add_argument("--k2", type=float, default=0.1, help="worse: excess MSE / variance")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--t-opt", type=float, default=T_OPT, help="loss CS tightest here")
    ap.add_argument("--min-n", type=int, default=MIN_N, help="loss CS bounds from here")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    g = fit_garch(GSPC)
    print(
        f"GARCH(1,1)-t on GSPC (percent): mu {g['mu']:.4f}, alpha {g['alpha']:.4f}, beta "
        f"{g['beta']:.4f}, nu {g['nu']:.2f}; omega {g['omega']:.5f} (variance-targeted to "
        f"{g['var']:.3f}; fitted {g['omega_fit']:.5f})"
    )
    horizons = [int(h) for h in args.horizons.split(",")]
    length = BURN + args.days + 1
    plain = simulate(g, args.tickers, length, 0.0, rng)
    signal = simulate(g, args.tickers, length, np.sqrt(args.c2), rng)
    mu = g["mu"] / 100
    streams, dm = {}, {}
    for h in horizons:
        q = interval_quantile(g, h, rng)
        views = {"plain": horizon_view(plain, g, h, args.days)}
        views["signal"] = horizon_view(signal, g, h, args.days)
        for kind in (*NULLS, *PLANTED):
            view = views["signal" if kind in ("signal", "edge") else "plain"]
            f = forecasts(kind, view, mu, h, args.k2, rng)
            hit = np.full(f.shape, np.nan)
            if kind in ("overshoot", "worse"):
                width = q * np.sqrt(view["V"]) * (0.8 if kind == "worse" else 1.0)
                hit = (np.abs(view["R"] - h * mu) <= width).astype(float)
            streams[(kind, h)] = (view["R"], f, hit)
            stat, p = naive_dm((view["R"] - f) ** 2 - view["R"] ** 2, h)
            check_naive_dm(view, f, h, stat, p, rng)
            dm[(kind, h)] = (stat, p)
    t_sim = time.perf_counter() - t0
    frame = long_frame(streams, args.days)
    t1 = time.perf_counter()
    rows = sequential_rows(frame, t_opt=args.t_opt, min_n=args.min_n)
    t_rows = time.perf_counter() - t1
    spot_check_table(frame, rows, rng, args)
    report(rows, dm, streams, horizons, args)
    print(
        f"\n{len(frame):,} matured forecasts; sequential_rows {t_rows:.2f} s; "
        f"simulation {t_sim:.1f} s; total {time.perf_counter() - t0:.1f} s"
    )


def report(rows, dm, streams, horizons, args) -> None:
    n_days = args.days
    print(
        f"\n{args.tickers} streams per model and horizon, {n_days} evenings each; 95% "
        f"sequences (t_opt {args.t_opt:g}, min_n {args.min_n}); naive rule: daily DM from "
        f"the 20th forecast, first p < 0.05"
    )
    print("\nNull models: share of streams ever flagged better or worse")
    print(f"{'model':<10} {'h':>2}  {'confidence sequence':<22} {'daily DM':<22}")
    pooled = {h: ([], []) for h in horizons}
    for kind in NULLS:
        for h in horizons:
            codes = _status_matrix(rows, kind, h, "status", n_days)
            cs_flag = (codes != "undecided").any(axis=1)
            stat, p = dm[(kind, h)]
            dm_flag = (p[:, 19:] < 0.05).any(axis=1)
            pooled[h][0].append(cs_flag)
            pooled[h][1].append(dm_flag)
            print(f"{kind:<10} {h:>2}  {share(cs_flag):<22} {share(dm_flag):<22}")
    for h in horizons:
        cs_all, dm_all = np.concatenate(pooled[h][0]), np.concatenate(pooled[h][1])
        print(f"{'pooled':<10} {h:>2}  {share(cs_all):<22} {share(dm_all):<22}")
    print("\nPlanted: share detected (right direction) and median evenings to detection")
    for kind, want, sign in (("edge", "better", -1), ("worse", "worse", 1)):
        for h in horizons:
            codes = _status_matrix(rows, kind, h, "status", n_days)
            cs_first = first_flag(codes == want)
            stat, p = dm[(kind, h)]
            hit = (p < 0.05) & (np.sign(stat) == sign)
            hit[:, :19] = False
            dm_first = first_flag(hit)
            print(f"{kind:<6} h={h}: CS {_detect(cs_first)}; daily DM {_detect(dm_first)}")
    print("\nIntervals: share of streams ever flagged off their 80% level")
    for kind, label in (("overshoot", "calibrated"), ("worse", "20% too narrow")):
        for h in horizons:
            codes = _status_matrix(rows, kind, h, "coverage_status", n_days)
            off = codes != "in band"
            hits = streams[(kind, h)][2]
            n = np.arange(1, n_days + 1)
            z = (np.cumsum(hits, axis=1) - 0.8 * n) / np.sqrt(n * 0.16)
            naive = np.abs(z[:, 19:]) > 1.96
            print(
                f"{label:<15} h={h}: CS ever off {share(off.any(axis=1))}, first at "
                f"{_median_first(off)}; daily z-test {share(naive.any(axis=1))}"
            )


def _status_matrix(rows, kind, h, col, n_days) -> np.ndarray:
    sel = rows[(rows["model"] == kind) & (rows["horizon"] == h)]
    return sel[col].to_numpy(object).reshape(-1, n_days)


def _detect(first: np.ndarray) -> str:
    found = first >= 0
    med = f"{np.median(first[found]) + 1:.0f}" if found.any() else "-"
    return f"{found.mean():6.1%} detected, median {med:>3} evenings"


def _median_first(flag: np.ndarray) -> str:
    first = first_flag(flag)
    return f"median evening {np.median(first[first >= 0]) + 1:.0f}" if (first >= 0).any() else "-"


if __name__ == "__main__":
    main()
