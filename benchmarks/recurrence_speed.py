"""Training speed of the recurrent nets three ways, side by side: torch's own ``nn.RNN`` /
``nn.LSTM`` / ``nn.GRU`` with autograd (how the project trained before issue 13), the
written-out recurrences in torch operations (``FORECAST_KERNELS=0``: what a machine without
a C compiler runs), and the compiled C loops with the training step without autograd (the
default; ``forecast.models.recurrence``, ``forecast.models.compiled_step``).

Two measurements per cell, alternating the three ways so that a busy neighbour slows all
alike, quoting the median of each and the ratios to torch's:

- one training step (forward, mean squared error of the linear head, backward, clipping,
  Adam) as ``train_net`` runs it: an epoch over 1400 windows of 30 steps in batches of 64,
  hidden 32, one thread, divided by its 22 batches;
- one whole fit of the forecaster (``rnn``, ``lstm``, ``gru``) as the issue 13 run makes
  it: the last 1500 days of the embedded S&P 500 series less the 100 test days, window 30,
  hidden 32, 10 epochs (early stopping as by default), one thread.

    python benchmarks/recurrence_speed.py [--repeat 5] [--cells RNN,LSTM,GRU]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from forecast.models import kernels, networks
from forecast.models.registry import MODELS

ROOT = Path(__file__).resolve().parent.parent
WAYS = ("torch layers", "torch ops", "compiled")


def torch_layer(cell: str):
    """torch's own layer class, built as :data:`LAYERS` builds ours."""
    base = getattr(nn, cell)

    def build(input_size, hidden_size, num_layers=1, dropout=0.0):
        return base(input_size, hidden_size, num_layers, batch_first=True, dropout=dropout)

    return build


@contextlib.contextmanager
def way(name: str, cell: str) -> Iterator[None]:
    """Train ``cell`` nets the way ``name`` for the duration."""
    saved, switch = dict(networks.LAYERS), os.environ.get("FORECAST_KERNELS")
    if name == "torch layers":
        networks.LAYERS[cell] = torch_layer(cell)
    if name != "compiled":
        os.environ["FORECAST_KERNELS"] = "0"
    try:
        yield
    finally:
        networks.LAYERS.clear()
        networks.LAYERS.update(saved)
        if switch is None:
            os.environ.pop("FORECAST_KERNELS", None)
        else:
            os.environ["FORECAST_KERNELS"] = switch


def step_seconds(cell: str) -> float:
    """Seconds per training step of one epoch of ``train_net`` (see the module)."""
    gen = torch.Generator().manual_seed(0)
    windows = networks.make_windows(torch.randn(1434, generator=gen), 35)  # (1400, 35)
    torch.manual_seed(0)
    net = networks.RecurrentNet(networks.NetConfig(cell, 32, 1, 0.0, 5))
    config = networks.TrainConfig(epochs=1, batch_size=64, lr=1e-3, patience=None, grad_clip=1.0)
    with networks.torch_settings():
        t0 = time.perf_counter()
        networks.train_net(net, windows, 0, config, gen)
        return (time.perf_counter() - t0) / 22


def fit_seconds(model: str, series: pd.Series) -> float:
    """Seconds of one fit of ``model`` (see the module)."""
    forecaster = MODELS[model](epochs=10, window=30, hidden_size=32)
    t0 = time.perf_counter()
    forecaster.fit(series)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cells", default="RNN,LSTM,GRU")
    args = parser.parse_args()
    if kernels.library("float32") is None:
        raise SystemExit("the C loops cannot be built here: nothing to compare")
    torch.set_num_threads(1)
    prices = pd.read_csv(ROOT / "data" / "prices" / "GSPC.csv", index_col=0, parse_dates=True)
    series = prices["Adj Close"].iloc[-1500:-100]
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores at the start")
    for cell in args.cells.split(","):
        for label, measure in (
            ("training step", lambda cell=cell: step_seconds(cell)),
            ("whole fit", lambda cell=cell: fit_seconds(cell.lower(), series)),
        ):
            times: dict[str, list[float]] = {w: [] for w in WAYS}
            for _ in range(args.repeat + 1):  # the first round warms up and is dropped
                for name in WAYS:
                    with way(name, cell):
                        times[name].append(measure())
            med = {w: statistics.median(t[1:]) for w, t in times.items()}
            unit, scale = ("ms", 1e3) if label == "training step" else ("s", 1.0)
            cells = ", ".join(f"{w} {med[w] * scale:.2f} {unit}" for w in WAYS)
            ratios = ", ".join(f"{med['torch layers'] / med[w]:.2f}x" for w in WAYS[1:])
            print(f"{cell} {label}: {cells} (faster than torch layers: {ratios})")


if __name__ == "__main__":
    main()
