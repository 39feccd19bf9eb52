"""Training speed of the written-out recurrences (``forecast.models.recurrence``) against
torch's own ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``, side by side.

Two measurements per cell, alternating the two implementations so that a busy neighbour
slows both alike, and quoting the median of each and their ratio:

- one training step (forward, mean squared error of a linear head, backward) on a batch
  of 64 windows of 30 steps, hidden 32, one thread;
- one whole fit of the forecaster (``rnn``, ``lstm``, ``gru``) as the issue 13 run makes
  it: the last 1500 days of the embedded S&P 500 series less the 100 test days, window 30,
  hidden 32, 10 epochs (early stopping as by default), one thread.

    python benchmarks/recurrence_speed.py [--repeat 5] [--cells RNN,GRU]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from forecast.models import networks
from forecast.models.recurrence import LAYERS
from forecast.models.registry import MODELS

ROOT = Path(__file__).resolve().parent.parent


def torch_layer(cell: str):
    """torch's own layer class, built as :data:`LAYERS` builds ours."""
    base = getattr(nn, cell)

    def build(input_size, hidden_size, num_layers=1, dropout=0.0):
        return base(input_size, hidden_size, num_layers, batch_first=True, dropout=dropout)

    return build


def step_seconds(layer, n: int) -> float:
    """Median seconds of one training step of ``layer`` with a linear head."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 30, 1, generator=gen), torch.randn(64, 5, generator=gen)
    head = nn.Linear(32, 5)
    times = []
    for k in range(n + 5):
        t0 = time.perf_counter()
        out, _ = layer(x)
        ((head(out[:, -1]) - y) ** 2).mean().backward()
        if k >= 5:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fit_seconds(model: str, series: pd.Series, layers: dict) -> float:
    """Seconds of one fit of ``model`` with the layer classes ``layers``."""
    saved = dict(networks.LAYERS)
    networks.LAYERS.update(layers)
    try:
        forecaster = MODELS[model](epochs=10, window=30, hidden_size=32)
        t0 = time.perf_counter()
        forecaster.fit(series)
        return time.perf_counter() - t0
    finally:
        networks.LAYERS.clear()
        networks.LAYERS.update(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cells", default="RNN,GRU")
    args = parser.parse_args()
    torch.set_num_threads(1)
    prices = pd.read_csv(ROOT / "data" / "prices" / "GSPC.csv", index_col=0, parse_dates=True)
    series = prices["Adj Close"].iloc[-1500:-100]
    print(f"torch {torch.__version__}, one thread; medians of {args.repeat} alternating runs")
    print(f"{'cell':<5} {'step torch':>11} {'step ours':>10} {'ratio':>6} "
          f"{'fit torch':>10} {'fit ours':>9} {'ratio':>6}")  # fmt: skip
    for cell in args.cells.split(","):
        torch.manual_seed(0)
        ours, theirs = LAYERS[cell](1, 32), torch_layer(cell)(1, 32)
        steps = {"torch": [], "ours": []}
        fits = {"torch": [], "ours": []}
        for _ in range(args.repeat):
            steps["torch"].append(step_seconds(theirs, 40))
            steps["ours"].append(step_seconds(ours, 40))
            fits["torch"].append(fit_seconds(cell.lower(), series, {cell: torch_layer(cell)}))
            fits["ours"].append(fit_seconds(cell.lower(), series, {}))
        s = {k: statistics.median(v) for k, v in steps.items()}
        f = {k: statistics.median(v) for k, v in fits.items()}
        print(f"{cell:<5} {s['torch'] * 1e3:9.2f}ms {s['ours'] * 1e3:8.2f}ms "
              f"{s['torch'] / s['ours']:5.2f}x {f['torch']:9.2f}s {f['ours']:8.2f}s "
              f"{f['torch'] / f['ours']:5.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
