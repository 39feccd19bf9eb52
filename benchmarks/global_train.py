"""One global net on 15 series against the 15 per-series nets it replaces, for the same epochs.

The target: training the global LSTM on the 15 series of the cross-sectional universe (the 14
shipped S&P 500 stocks and IBM) takes no longer than training the 15 per-series LSTMs, for
the same number of epochs. Both sides see the same windows (each stock's prices up to the
first origin of the default cross-sectional test: 3019 prices, 2984 windows of 30 + 5), the
same batch size, learning rate and seed, with early stopping off so that every window trains
in every epoch: the same gradient steps up to rounding (the per-series side rounds up per
stock). One torch thread, in this process, the two sides alternating ``--repeat`` times; the
ratio of each pair is printed (wall seconds and CPU seconds: on a shared machine the CPU time
is the steadier figure).

    python benchmarks/global_train.py [--epochs 3] [--repeat 3] [--covariates market,dow]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--covariates", default="", help="e.g. market,dow (default: none)")
    parser.add_argument("--cell", default="lstm", choices=["rnn", "lstm", "gru", "elman"])
    args = parser.parse_args()

    from forecast.models import get_model
    from forecast.walkforward.walk import walk_forward_origins
    from forecast.workflows.inputs import universe_inputs

    _, series, cov = universe_inputs(None, args.covariates)
    first = walk_forward_origins(len(series[0]), 250)[0]
    train = {s.name: s.iloc[: first + 1] for s in series}
    exog = None if cov is None else {n: c.iloc[: first + 1].to_numpy() for n, c in cov.items()}
    suffix = "+x" if exog is not None else ""
    params = {"epochs": args.epochs, "patience": None, "seed": 0}
    steps_global = -(-sum(len(s) - 35 for s in train.values()) // 64) * args.epochs
    steps_local = sum(-(-(len(s) - 35) // 64) for s in train.values()) * args.epochs
    load = os.getloadavg()
    print(f"{len(train)} series x {len(next(iter(train.values())))} prices, {args.cell}{suffix}, "
          f"{args.epochs} epochs; gradient steps: global {steps_global}, per-series "
          f"{steps_local}; load average before: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
          f"on {os.cpu_count()} cores")  # fmt: skip

    def fit_global() -> None:
        get_model(f"global_{args.cell}{suffix}", **params).fit(train, exog)

    def fit_local() -> None:
        for name, s in train.items():
            model = get_model(f"{args.cell}{suffix}", **params)
            model.fit(s, exog[name]) if exog is not None else model.fit(s)

    fit_local()  # warm-up: imports, first allocations
    rows = []
    for k in range(args.repeat):
        pair = {}
        for side, fn in (("global", fit_global), ("per-series", fit_local))[:: 1 - 2 * (k % 2)]:
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            pair[side] = (time.perf_counter() - w0, time.process_time() - c0)
        rows.append(pair)
        g, p = pair["global"], pair["per-series"]
        print(f"repeat {k + 1}: global {g[0]:6.1f} s wall {g[1]:6.1f} s CPU | 15 per-series "
              f"{p[0]:6.1f} s wall {p[1]:6.1f} s CPU | ratio global/per-series: wall "
              f"{g[0] / p[0]:.3f}, CPU {g[1] / p[1]:.3f}")  # fmt: skip
    wall = np.median([r["global"][0] / r["per-series"][0] for r in rows])
    cpu = np.median([r["global"][1] / r["per-series"][1] for r in rows])
    load = os.getloadavg()
    print(
        f"median ratio global/per-series: wall {wall:.3f}, CPU {cpu:.3f} (target: <= 1); "
        f"load average after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )


if __name__ == "__main__":
    main()
